//! uWSGI options real deployments write, by behaviour: accepted no-ops start quietly, loop
//! engines are refused with a warning, and the honoured ones do what uWSGI does.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn write_ini(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("compat.ini");
    std::fs::write(
        &path,
        format!(
            "[uwsgi]\nchdir = {}\nmodule = pep3333\n{text}",
            apps_dir().display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn common_no_op_options_start_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write_ini(
        dir.path(),
        "master = true\nsingle-interpreter = true\nthunder-lock = true\npost-buffering = 8192\nharakiri-verbose = true\nignore-sigpipe = true\nignore-write-errors = true\ndisable-write-exception = true\nno-orphans = true\nreload-mercy = 8\noffload-threads = 2\nplugins = python3,logfile\nenable-threads = true\ndie-on-term = true\n",
    );
    let server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    assert_eq!(server.get("/ok").status, 200);
    let log = server.log();
    assert!(
        !log.contains("unknown option") && !log.contains("not honoured"),
        "{log}"
    );
}

#[test]
fn loop_engines_are_refused_with_a_reason_and_the_app_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write_ini(
        dir.path(),
        "plugins = python3,gevent\ngevent = 100\nemperor = /etc/uwsgi/vassals\n",
    );
    let server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    let log = server.log();
    assert!(
        log.contains(
            "compat.ini:5: option 'gevent' is not honoured: rwsgi has no loop engines; use threads"
        ),
        "{log}"
    );
    assert!(
        log.contains("compat.ini:4: plugin 'gevent' is not honoured"),
        "{log}"
    );
    assert!(
        log.contains("option 'emperor' is not honoured: use the template units"),
        "{log}"
    );
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn add_header_and_wsgi_disable_file_wrapper() {
    let server = pep3333_server(&[
        "--add-header",
        "X-Frame-Options: DENY",
        "--add-header",
        "X-Served-By: rwsgi",
        "--wsgi-disable-file-wrapper",
    ]);
    let response = server.get("/env");
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("x-served-by"), Some("rwsgi"));
    let env = parse_flat_json(&response.text());
    assert!(!env.contains_key("wsgi.file_wrapper"));
    let output = Command::new(BIN)
        .args(["--module", "pep3333", "--add-header", "Broken\r\nHeader: x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn disable_logging_with_log_5xx_and_log_slow_and_log_date() {
    let server = pep3333_server(&[
        "--disable-logging",
        "--log-5xx",
        "--log-slow",
        "200",
        "--log-date",
        "%Y-%m-%d",
    ]);
    server.get("/quick");
    server.get("/error");
    server.get("/sleep?0.4");
    server.wait_for_log("\"GET /error\" 500", Duration::from_secs(5));
    server.wait_for_log("\"GET /sleep?0.4\" 200", Duration::from_secs(5));
    let log = server.log();
    assert!(!log.contains("/quick"), "{log}");
    let year = log.lines().next().unwrap().get(..4).unwrap().to_string();
    assert!(
        year.starts_with("20") && year.parse::<u32>().is_ok(),
        "log-date prefix: {log}"
    );
}

#[test]
fn options_from_uwsgi_environment_variables() {
    let server = server()
        .env("UWSGI_CHDIR", apps_dir().to_str().unwrap())
        .env("UWSGI_MODULE", "pep3333")
        .env("UWSGI_PROCESSES", "2")
        .env("UWSGI_HTTP_SOCKET", "127.0.0.1:0")
        .env("UWSGI_RELOADS", "internal variables are ignored")
        .workers(2)
        .start();
    let log = server.log();
    assert!(log.contains("worker 2 started"), "{log}");
    assert!(log.contains("listening on 127.0.0.1:"), "{log}");
    // The command line wins over the environment.
    let overridden = crate::common::server()
        .env("UWSGI_CHDIR", apps_dir().to_str().unwrap())
        .env("UWSGI_MODULE", "pep3333")
        .env("UWSGI_PROCESSES", "3")
        .args(["--processes", "1"])
        .http()
        .start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!overridden.log().contains("worker 2 started"));
}

#[test]
fn a_config_block_switched_by_an_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write_ini(dir.path(), "if-env = RWSGI_COMPAT_PRODUCTION\nadd-header = X-Mode: %(_)\nendif\nif-not-env = RWSGI_COMPAT_PRODUCTION\nadd-header = X-Mode: development\nendif\nprint = configured from %n\n");
    let production = server()
        .args(["--ini", ini.to_str().unwrap()])
        .env("RWSGI_COMPAT_PRODUCTION", "production")
        .http()
        .start();
    assert_eq!(production.get("/").header("x-mode"), Some("production"));
    assert!(production.log().contains("configured from compat"));
    let development = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    assert_eq!(development.get("/").header("x-mode"), Some("development"));
}

#[test]
fn daemonize_detaches_and_is_refused_under_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("daemon.log");
    let pidfile = dir.path().join("daemon.pid");
    let output = Command::new(BIN)
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--http-socket",
            "127.0.0.1:0",
        ])
        .args(["--daemonize", logfile.to_str().unwrap()])
        .env("NOTIFY_SOCKET", "/run/systemd/notify")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("refused under systemd"));

    let status = Command::new(BIN)
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--http-socket",
            "127.0.0.1:0",
        ])
        .args([
            "--daemonize",
            logfile.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
        ])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("INVOCATION_ID")
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the launching process returns at once");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&logfile).unwrap_or_default();
        if text.contains("worker 1 started") {
            break text;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let addr: std::net::SocketAddr = text
        .lines()
        .find_map(|l| l.split("listening on ").nth(1))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        request(
            addr,
            "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .status,
        200
    );
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}
