//! The interpreter follows the application: the wheel (built by packaging/build-wheel.sh,
//! named by RWSGI_TEST_WHEEL) installed into real virtualenvs of other CPython versions
//! (this machine's pyenv builds), and the embedding binary given a virtualenv of another
//! Python. Each case runs the real server and asks the app which interpreter serves it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The wheel under test; tests/run builds it before the tests.
fn wheel() -> PathBuf {
    let path = std::env::var("RWSGI_TEST_WHEEL").unwrap_or_else(|_| {
        panic!(
            "RWSGI_TEST_WHEEL is not set: run tests/run, or packaging/build-wheel.sh and export it"
        )
    });
    PathBuf::from(path)
}

/// A CPython of this machine whose minor version is `minor` (pyenv's builds).
fn python(minor: u32) -> PathBuf {
    let root = std::env::var("PYENV_ROOT").unwrap_or_else(|_| "/root/.pyenv".to_string());
    let versions = Path::new(&root).join("versions");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&versions)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("3.{minor}."))
        })
        .map(|e| e.path().join("bin/python3"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        let system = PathBuf::from(format!("/usr/bin/python3.{minor}"));
        assert!(
            system.exists(),
            "no CPython 3.{minor} on this machine (looked in {} and /usr/bin)",
            versions.display()
        );
        system
    })
}

/// A fresh virtualenv of `python`, with the wheel installed when `with_rwsgi`.
fn venv(python: &Path, dir: &Path, with_rwsgi: bool) -> PathBuf {
    let venv = dir.join("venv");
    let status = Command::new(python)
        .args(["-m", "venv", venv.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "{} -m venv failed", python.display());
    if with_rwsgi {
        let output = pip_install(&venv);
        assert!(
            output.status.success(),
            "pip install of the wheel failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    venv
}

fn pip_install(venv: &Path) -> std::process::Output {
    Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(wheel())
        .output()
        .unwrap()
}

fn whoami_args(venv: &Path) -> Vec<String> {
    [
        "--chdir",
        apps_dir().to_str().unwrap(),
        "--module",
        "whoami",
        "--http-socket",
        "127.0.0.1:0",
        "--virtualenv",
        venv.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start(program: &Path, args: &[String]) -> Server {
    let child = Command::new(program)
        .args(args)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server::adopt(child, 1)
}

/// Runs a start that must be refused; one that serves instead is stopped after 30 s.
fn refused(program: &Path, args: &[String]) -> (i32, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn embedded_minor() -> u32 {
    let output = Command::new(env!("CARGO_BIN_EXE_rwsgi"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let python = text
        .split("Python 3.")
        .nth(1)
        .unwrap_or_else(|| panic!("--version names no Python: {text}"));
    python
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Another CPython than the one the binary embeds, newest first.
fn other_minor(not: u32) -> u32 {
    if not == 13 {
        12
    } else {
        13
    }
}

#[test]
fn the_wheel_serves_each_python_from_its_own_virtualenv() {
    for minor in [10, 12, 13] {
        let dir = tempfile::tempdir().unwrap();
        let venv = venv(&python(minor), dir.path(), true);
        let mut server = start(&venv.join("bin/rwsgi"), &whoami_args(&venv));
        let answer = server.get("/").text();
        let expected = format!("3.{minor} {}", venv.display());
        assert_eq!(answer, expected, "{}", server.log());
        let log = server.log();
        assert!(
            log.contains(&format!("Python 3.{minor}")),
            "the start-up log names the Python in use:\n{log}"
        );
        assert!(server.stop().success());
    }
}

#[test]
fn python_dash_m_rwsgi_runs_the_same_server() {
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(&python(12), dir.path(), true);
    let mut args = vec!["-m".to_string(), "rwsgi".to_string()];
    args.extend(whoami_args(&venv));
    let mut server = start(&venv.join("bin/python"), &args);
    assert_eq!(server.get("/").text(), format!("3.12 {}", venv.display()));
    assert!(server.stop().success());
}

#[test]
fn the_wheel_follows_a_virtualenv_of_another_python_across_reloads() {
    // rwsgi installed for 3.12; the application's virtualenv is 3.13 without rwsgi in it.
    let dir = tempfile::tempdir().unwrap();
    let host = venv(&python(12), &dir.path().join("host"), true);
    let app = venv(&python(13), &dir.path().join("app"), false);
    let mut server = start(&host.join("bin/rwsgi"), &whoami_args(&app));
    assert_eq!(server.get("/").text(), format!("3.13 {}", app.display()));
    let log = server.log();
    assert!(
        log.contains("is served by Python 3.13 (this process runs Python 3.12"),
        "the hand-over is logged:\n{log}"
    );
    server.signal(libc::SIGHUP);
    server.wait_for_log("reload", Duration::from_secs(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.log().matches("ready:").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/").text(), format!("3.13 {}", app.display()));
    assert!(server.stop().success());
}

#[test]
fn the_embedded_binary_hands_a_virtualenv_of_another_python_to_its_rwsgi() {
    let minor = other_minor(embedded_minor());
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(&python(minor), dir.path(), true);
    let mut server = start(Path::new(env!("CARGO_BIN_EXE_rwsgi")), &whoami_args(&venv));
    assert_eq!(
        server.get("/").text(),
        format!("3.{minor} {}", venv.display())
    );
    assert!(
        server.log().contains("handing over to its own rwsgi"),
        "{}",
        server.log()
    );
    assert!(server.stop().success());
}

#[test]
fn the_embedded_binary_refuses_a_virtualenv_of_another_python_without_rwsgi() {
    let ours = embedded_minor();
    let minor = other_minor(ours);
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(&python(minor), dir.path(), false);
    let (status, log) = refused(Path::new(env!("CARGO_BIN_EXE_rwsgi")), &whoami_args(&venv));
    assert_eq!(status, 2, "{log}");
    assert!(
        log.contains(&format!(
            "uses Python 3.{minor} but this rwsgi binary embeds Python 3.{ours}"
        )) && log.contains("/bin/pip install rwsgi"),
        "both versions and the fix:\n{log}"
    );
}

#[test]
fn a_bad_virtualenv_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-venv");
    for program in [
        PathBuf::from(env!("CARGO_BIN_EXE_rwsgi")),
        PathBuf::from(bin()),
    ] {
        let (status, log) = refused(&program, &whoami_args(&missing));
        assert_eq!(status, 2, "{log}");
        assert!(
            log.contains(&format!("'{}' does not exist", missing.display())),
            "{log}"
        );
    }
    // A pyvenv.cfg without its version line.
    let venv = venv(&python(11), dir.path(), false);
    let cfg = venv.join("pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("version")).collect();
    std::fs::write(&cfg, kept.join("\n")).unwrap();
    let (status, log) = refused(Path::new(env!("CARGO_BIN_EXE_rwsgi")), &whoami_args(&venv));
    assert_eq!(status, 2, "{log}");
    assert!(log.contains("names no Python version"), "{log}");
}

#[test]
fn pip_refuses_the_wheel_for_python_3_9() {
    let dir = tempfile::tempdir().unwrap();
    let venv = venv(&python(9), dir.path(), false);
    let output = pip_install(&venv);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("is not a supported wheel on this platform"),
        "{text}"
    );
    assert!(!venv.join("bin/rwsgi").exists());
}
