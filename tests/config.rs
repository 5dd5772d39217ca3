//! Configuration as a uWSGI user writes it: command line, ini files, bad options, apps that
//! fail to load, virtualenvs. Every test runs the real binary.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn run_to_exit(args: &[&str]) -> (i32, String) {
    let output = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rwsgi");
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    (output.status.code().unwrap_or(-1), text)
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn help_lists_every_option_one_per_line() {
    let (status, text) = run_to_exit(&["--help"]);
    assert_eq!(status, 0);
    let options: Vec<&str> = text.lines().filter(|l| l.starts_with("--")).collect();
    for name in [
        "chdir",
        "module",
        "wsgi-file",
        "callable",
        "pythonpath",
        "home",
        "env",
        "processes",
        "threads",
        "master",
        "socket",
        "http-socket",
        "http",
        "listen",
        "buffer-size",
        "lazy-apps",
        "need-app",
        "max-requests",
        "vacuum",
        "pidfile",
        "chmod-socket",
        "disable-logging",
        "ini",
        "strict",
        "limit-post",
    ] {
        assert!(
            options
                .iter()
                .any(|l| l.starts_with(&format!("--{name} ")) || *l == format!("--{name}")),
            "--help lacks --{name}:\n{text}"
        );
    }
    assert!(options
        .iter()
        .any(|l| l.contains("--processes") && l.contains("[default: 1]")));
    let (status, text) = run_to_exit(&["--version"]);
    assert_eq!(status, 0);
    assert!(text.starts_with("rwsgi "), "{text}");
}

#[test]
fn an_existing_uwsgi_ini_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let apps = apps_dir();
    let socket = dir.path().join("app.sock");
    let pidfile = dir.path().join("app.pid");
    let base = write(
        dir.path(),
        "base.ini",
        "[uwsgi]\nmaster = true\nprocesses = 2\n",
    );
    let ini = write(
        dir.path(),
        "app.ini",
        &format!(
            "# a typical deployment file\n[uwsgi]\nproject = pep3333\nbase = {apps}\n\nini = {base}\nchdir = %(base)\nmodule = %(project):application\nplugins = python3\nsocket = {socket}\nhttp-socket = 127.0.0.1:0\nchmod-socket = 660\nvacuum = true\ndie-on-term = true\nenable-threads\nenv = GREETING=hello from %n\nenv = FROM_ENV=$(RWSGI_TEST_OUTER)\npidfile = {pidfile}\nvaccum = true\nmax-requests = 1000\nbuffer-size = 32768\nharakiri_typo = 3\n",
            apps = apps.display(),
            base = base.display(),
            socket = socket.display(),
            pidfile = pidfile.display(),
        ),
    );
    let mut server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .env("RWSGI_TEST_OUTER", "outer value")
        .workers(2)
        .start();
    let log = server.log();
    let addr = http_address_in(&log);
    let get = |path: &str| {
        request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(get("/osenv?GREETING").text(), "hello from app");
    assert_eq!(get("/osenv?FROM_ENV").text(), "outer value");
    // Unknown keys start the server but are named with file, line and a suggestion.
    assert!(
        log.contains("app.ini:19: unknown option 'vaccum' ignored; did you mean 'vacuum'?"),
        "{log}"
    );
    assert!(
        log.contains("unknown option 'harakiri_typo' ignored"),
        "{log}"
    );
    // Placeholder variables (`project`, `base`) are also unknown options to warn about, as
    // uWSGI keeps them; they must still expand.
    assert!(log.contains("unknown option 'project' ignored"), "{log}");
    let uwsgi = uwsgi_request(&socket, &nginx_vars("GET", "/ok", ""), b"");
    assert_eq!(uwsgi.status, 200);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o660
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, server.pid());
    assert!(server.stop().success());
    assert!(!socket.exists(), "vacuum removes the socket");
    assert!(!pidfile.exists(), "vacuum removes the pidfile");
}

#[test]
fn without_vacuum_the_socket_stays() {
    let mut server = pep3333_builder().uwsgi().start();
    let socket = server.uwsgi.clone().unwrap();
    assert!(server.stop().success());
    assert!(socket.exists());
}

#[test]
fn strict_makes_unknown_options_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "strict.ini",
        "[uwsgi]\nstrict = true\nmodule = pep3333\nprocesess = 4\n",
    );
    let (status, text) = run_to_exit(&["--ini", ini.to_str().unwrap()]);
    assert_eq!(status, 2, "{text}");
    assert!(
        text.contains("strict.ini:4: unknown option 'procesess'"),
        "the option as written: {text}"
    );
    assert!(text.contains("did you mean 'processes'?"), "{text}");
}

#[test]
fn invalid_values_are_fatal_with_file_line_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "processes = many",
            "option 'processes' = 'many': expected a whole number",
        ),
        (
            "chmod-socket = rw",
            "option 'chmod-socket' = 'rw': expected three octal digits",
        ),
        ("master = perhaps", "expected true/false"),
        (
            "http-socket = 127.0.0.1:notaport",
            "'notaport' is not a port number",
        ),
        ("threads = 0", "must be at least 1"),
    ];
    for (line, message) in cases {
        let ini = write(
            dir.path(),
            "bad.ini",
            &format!("[uwsgi]\nmodule = pep3333\n{line}\n"),
        );
        let (status, text) = run_to_exit(&["--ini", ini.to_str().unwrap()]);
        assert_eq!(status, 2, "{line}: {text}");
        assert!(
            text.contains("bad.ini:3: ") && text.contains(message),
            "{line}: {text}"
        );
    }
    let (status, text) = run_to_exit(&["--procesess", "2"]);
    assert_eq!(status, 2);
    assert!(
        text.contains("unknown option '--procesess'; did you mean '--processes'?"),
        "{text}"
    );
    let (status, text) = run_to_exit(&["--ini", "/nonexistent/app.ini"]);
    assert_eq!(status, 2);
    assert!(
        text.contains("cannot read ini file '/nonexistent/app.ini'"),
        "{text}"
    );
    let (status, text) = run_to_exit(&["--http-socket", "127.0.0.1:0"]);
    assert_eq!(status, 2);
    assert!(text.contains("no application given"), "{text}");
}

#[test]
fn ini_sections_and_bare_ini_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write(
        dir.path(),
        "multi.ini",
        &format!(
            "[uwsgi]\nmodule = does_not_exist\n[staging]\nchdir = {}\nmodule = pep3333\nhttp-socket = 127.0.0.1:0\n",
            apps_dir().display()
        ),
    );
    let server = server()
        .args([format!("{}:staging", ini.display())])
        .start();
    let log = server.log();
    assert!(
        log.contains("application loaded: pep3333:application"),
        "{log}"
    );
}

#[test]
fn app_loading_errors_name_the_module_and_exception() {
    let broken = apps_dir().join("broken");
    let broken = broken.to_str().unwrap();
    // need-app: fatal with status 22.
    let (status, text) = run_to_exit(&[
        "--chdir",
        broken,
        "--module",
        "missing_module",
        "--http-socket",
        "127.0.0.1:0",
        "--need-app",
    ]);
    assert_eq!(status, 22, "{text}");
    assert!(
        text.contains("cannot import module 'missing_module'"),
        "{text}"
    );
    assert!(
        text.contains("ModuleNotFoundError: No module named 'missing_module'"),
        "{text}"
    );
    let (status, text) = run_to_exit(&[
        "--chdir",
        broken,
        "--module",
        "syntax_error",
        "--http-socket",
        "127.0.0.1:0",
        "--need-app",
    ]);
    assert_eq!(status, 22, "{text}");
    assert!(text.contains("SyntaxError"), "{text}");
    assert!(text.contains("syntax_error.py"), "{text}");
    let (status, text) = run_to_exit(&[
        "--chdir",
        broken,
        "--module",
        "import_error:application",
        "--http-socket",
        "127.0.0.1:0",
        "--need-app",
    ]);
    assert_eq!(status, 22);
    assert!(
        text.contains("No module named 'module_that_does_not_exist_anywhere'"),
        "{text}"
    );
    let (status, text) = run_to_exit(&[
        "--chdir",
        broken,
        "--module",
        "import_error:nothing",
        "--http-socket",
        "127.0.0.1:0",
        "--need-app",
    ]);
    assert_eq!(status, 22);
    assert!(
        text.contains("cannot import module 'import_error'"),
        "{text}"
    );
    // Without need-app the server runs and answers 500, as uWSGI 2.0 does.
    let server = server()
        .args(["--chdir", broken, "--module", "missing_module"])
        .http()
        .start();
    assert_eq!(server.get("/").status, 500);
    server.wait_for_log("no Python application found", Duration::from_secs(5));
}

#[test]
fn wsgi_file_callable_and_factories() {
    let dir = apps_dir().join("filebased");
    let file = dir.join("site.wsgi");
    let server = server()
        .args(["--wsgi-file", file.to_str().unwrap(), "--callable", "app"])
        .http()
        .start();
    assert!(server.get("/").text().starts_with("file app"));
    let server = crate::common::server()
        .args([
            "--wsgi-file",
            file.to_str().unwrap(),
            "--callable",
            "make_app()",
        ])
        .http()
        .start();
    assert!(server.get("/").text().starts_with("file app"));
    let (status, text) = run_to_exit(&[
        "--wsgi-file",
        file.to_str().unwrap(),
        "--callable",
        "nope",
        "--need-app",
        "--http-socket",
        "127.0.0.1:0",
    ]);
    assert_eq!(status, 22);
    assert!(text.contains("has no callable 'nope'"), "{text}");
}

#[test]
fn pythonpath_entries_are_importable() {
    let server = server()
        .args([
            "--pythonpath",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
        ])
        .http()
        .start();
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn a_virtualenv_sees_its_packages_and_not_the_systems() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip", venv.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::create_dir_all(site.join("venv_only_package")).unwrap();
    std::fs::write(
        site.join("venv_only_package/__init__.py"),
        "GREETING = 'from the venv'\n",
    )
    .unwrap();
    let apps = apps_dir().join("filebased");
    for key in ["--virtualenv", "--home", "--venv"] {
        let server = server()
            .args([
                "--chdir",
                apps.to_str().unwrap(),
                "--module",
                "venvcheck",
                key,
                venv.to_str().unwrap(),
            ])
            .http()
            .start();
        let report: serde_json::Value = serde_json::from_str(&server.get("/").text()).unwrap();
        assert_eq!(report["prefix"], venv.to_str().unwrap(), "{key}");
        assert_eq!(report["venv_package"], true);
        assert_eq!(report["venv_package_says"], "from the venv");
        assert_eq!(
            report["pip"], false,
            "the system's site-packages must not leak into the venv"
        );
    }
    // Without a venv the system's packages are there and ours is not.
    let server = server()
        .args(["--chdir", apps.to_str().unwrap(), "--module", "venvcheck"])
        .http()
        .start();
    let report: serde_json::Value = serde_json::from_str(&server.get("/").text()).unwrap();
    assert_eq!(report["venv_package"], false);
    assert_eq!(report["pip"], true);
}

#[test]
fn several_listeners_of_each_kind_unix_http_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let http_unix = dir.path().join("http.sock");
    // Some sandboxes have no IPv6 loopback at all; there the IPv6 listener cannot exist.
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ipv6 {
        eprintln!("no IPv6 loopback on this machine: the [::1] listener is not checked");
    }
    let mut builder = pep3333_builder().args(["--http-socket", http_unix.to_str().unwrap()]);
    if ipv6 {
        builder = builder.args(["--http", "[::1]:0"]);
    }
    let server = builder.http().uwsgi().start();
    assert_eq!(server.get("/a").header("x-path"), Some("/a"));
    let mut stream = std::os::unix::net::UnixStream::connect(&http_unix).unwrap();
    use std::io::Write;
    stream
        .write_all(b"GET /over-unix HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_response(&mut std::io::BufReader::new(stream), false).unwrap();
    assert_eq!(response.header("x-path"), Some("/over-unix"));
    if ipv6 {
        let log = server.log();
        let v6: std::net::SocketAddr = log
            .lines()
            .find_map(|l| l.split("listening on [::1]:").nth(1))
            .map(|rest| format!("[::1]:{}", rest.split(' ').next().unwrap()))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            request(
                v6,
                "GET /v6 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            .header("x-path"),
            Some("/v6")
        );
    }
    let uwsgi = uwsgi_request(
        server.uwsgi.as_ref().unwrap(),
        &nginx_vars("GET", "/u", ""),
        b"",
    );
    assert_eq!(uwsgi.header("x-path"), Some("/u"));
}

#[test]
fn preload_imports_in_the_master_lazy_apps_in_each_worker() {
    let preload = pep3333_server(&[]);
    let imported: i32 = preload.get("/import-pid").text().parse().unwrap();
    let worker: i32 = preload.get("/pid").text().parse().unwrap();
    assert_eq!(imported, preload.pid(), "preload imports in the master");
    assert_ne!(worker, preload.pid());
    let lazy = pep3333_server(&["--lazy-apps"]);
    let imported: i32 = lazy.get("/import-pid").text().parse().unwrap();
    let worker: i32 = lazy.get("/pid").text().parse().unwrap();
    assert_eq!(imported, worker, "lazy-apps imports in the worker");
}

#[test]
fn threads_serve_concurrently_within_one_worker() {
    let server = pep3333_server(&["--threads", "2"]);
    let env = parse_flat_json(&server.get("/env").text());
    assert_eq!(env["wsgi.multithread"], "'bool':True");
    // While one thread sleeps in the app, the other answers.
    let sleeper = server.sleeping_in_background("3");
    assert_eq!(server.get("/pid").status, 200);
    assert!(
        !sleeper.is_finished(),
        "the quick request was answered while the slow one still ran"
    );
    assert_eq!(sleeper.join().unwrap().text(), "slept");
}

#[test]
fn processes_share_the_load() {
    let server = pep3333_builder()
        .args(["--processes", "2"])
        .workers(2)
        .http()
        .start();
    let env = parse_flat_json(&server.get("/env").text());
    assert_eq!(env["wsgi.multiprocess"], "'bool':True");
    // While one worker sleeps in the app, the other serves every new request: no
    // head-of-line blocking across workers.
    let sleeper = server.sleeping_in_background("3");
    let pids: std::collections::BTreeSet<String> =
        (0..10).map(|_| server.get("/pid").text()).collect();
    assert!(
        !sleeper.is_finished(),
        "the quick requests were answered while the slow one still ran"
    );
    assert_eq!(pids.len(), 1, "only the free worker answered: {pids:?}");
    assert_eq!(sleeper.join().unwrap().text(), "slept");
}

#[test]
fn the_binary_serves_with_an_empty_environment() {
    // No LD_LIBRARY_PATH, no PATH, no PYTHONHOME: libpython comes from the rpath and the
    // standard library from the interpreter recorded at build time.
    let mut child = Command::new(bin())
        .env_clear()
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--http-socket",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut line = String::new();
    use std::io::BufRead;
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("listening on ").nth(1) {
            addr = Some(
                rest.split(' ')
                    .next()
                    .unwrap()
                    .parse::<std::net::SocketAddr>()
                    .unwrap(),
            );
        }
        if line.contains("worker 1 started") {
            break;
        }
        line.clear();
    }
    let response = request(
        addr.unwrap(),
        "GET /osenv?PATH HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "<unset>");
}
