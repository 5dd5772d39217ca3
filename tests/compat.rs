//! uWSGI options real deployments write, by behaviour: accepted no-ops start quietly, loop
//! engines are refused with a warning, and the honoured ones do what uWSGI does.

mod common;

use std::io::Write;
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
        "plugins = python3,gevent\ngevent = 100\nemperor = /etc/uwsgi/vassals\nplugins = sentry\npost-buffering = true\n",
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
    assert!(
        log.contains("compat.ini:7: plugin 'sentry' is not honoured"),
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
    let output = Command::new(bin())
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
    // Started means ready: every worker the master forked has loaded the app.
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
    let output = pep3333_command()
        .args(["--http-socket", "127.0.0.1:0"])
        .args(["--daemonize", logfile.to_str().unwrap()])
        .env("NOTIFY_SOCKET", "/run/systemd/notify")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("refused under systemd"));

    let status = pep3333_command()
        .args(["--http-socket", "127.0.0.1:0"])
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
    let addr = http_address_in(&text);
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

fn static_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("public/css")).unwrap();
    std::fs::create_dir_all(dir.path().join("public/docs")).unwrap();
    std::fs::write(
        dir.path().join("public/css/site.css"),
        "body { color: red }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("public/docs/index.html"), "<h1>docs</h1>").unwrap();
    std::fs::write(
        dir.path().join("public/data.bin"),
        (0..=255u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("secret.txt"),
        dir.path().join("public/link.txt"),
    )
    .unwrap();
    dir
}

#[test]
fn static_map_serves_files_safely_and_falls_through() {
    let tree = static_tree();
    let public = tree.path().join("public");
    let server = pep3333_server(&[
        "--static-map",
        &format!("/static={}", public.display()),
        "--static-index",
        "index.html",
        "--static-expires-type",
        "text/css=3600",
    ]);
    let css = server.get("/static/css/site.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.text(), "body { color: red }\n");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("max-age=3600"));
    assert!(css.header("expires").is_some());
    let modified = css.header("last-modified").unwrap().to_string();
    // Conditional GET.
    let conditional = request(
        server.addr(),
        &format!("GET /static/css/site.css HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {modified}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(conditional.status, 304);
    assert!(conditional.body.is_empty());
    // Ranges.
    let partial = request(server.addr(), "GET /static/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=10-19\r\nConnection: close\r\n\r\n");
    assert_eq!(partial.status, 206);
    assert_eq!(partial.body, (10..=19u8).collect::<Vec<u8>>());
    assert_eq!(partial.header("content-range"), Some("bytes 10-19/256"));
    let unsatisfiable = request(server.addr(), "GET /static/data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=900-\r\nConnection: close\r\n\r\n");
    assert_eq!(unsatisfiable.status, 416);
    // Directory index, HEAD.
    assert_eq!(server.get("/static/docs/").text(), "<h1>docs</h1>");
    let mut stream = connect(server.addr());
    use std::io::Write;
    stream
        .write_all(b"HEAD /static/data.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!(head.header("content-length"), Some("256"));
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest).unwrap();
    assert!(rest.is_empty(), "HEAD sends no body");
    // Never outside the folder: traversal (encoded too) and symlinks out reach the app instead.
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/css/..%2f..%2fsecret.txt",
        "/static/link.txt",
    ] {
        let response = server.get(path);
        assert!(
            !response.text().contains("do not serve"),
            "{path} leaked the secret"
        );
        assert!(
            response.header("x-path").is_some(),
            "{path} fell through to the app"
        );
    }
    // A file not found falls through to the application, as in uWSGI.
    assert_eq!(
        server.get("/static/missing.css").header("x-path"),
        Some("/static/missing.css")
    );
    // POST is never a static request.
    let post = request(server.addr(), "POST /static/css/site.css HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(post.header("x-path"), Some("/static/css/site.css"));
}

#[test]
fn static_map2_check_static_and_uwsgi_requests() {
    let tree = static_tree();
    let server = pep3333_builder()
        .args([
            "--static-map2",
            &format!("/public={}", tree.path().display()),
        ])
        .args([
            "--check-static",
            tree.path().join("public").to_str().unwrap(),
        ])
        .uwsgi()
        .http()
        .start();
    assert_eq!(
        server.get("/public/css/site.css").status,
        200,
        "static-map2 keeps the prefix"
    );
    assert_eq!(
        server.get("/css/site.css").text(),
        "body { color: red }\n",
        "check-static"
    );
    let socket = server.uwsgi.clone().unwrap();
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/css/site.css", ""), b"");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "body { color: red }\n");
    let mut vars = nginx_vars("GET", "/public/data.bin", "");
    vars.push(("HTTP_RANGE", "bytes=0-3"));
    let ranged = uwsgi_request(&socket, &vars, b"");
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, vec![0, 1, 2, 3]);
}

#[test]
fn memory_report_procnames_forwarded_for_and_logger_file() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("via-logger.log");
    let server = pep3333_server(&[
        "--memory-report",
        "--auto-procname",
        "--procname-prefix",
        "app-",
        "--log-x-forwarded-for",
        "--hook-master-start",
        "unix_signal:15 gracefully_kill_them_all",
    ]);
    let response = request(server.addr(), "GET /fwd HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nConnection: close\r\n\r\n");
    assert_eq!(response.status, 200);
    let log = server.wait_for_log("\"GET /fwd\"", Duration::from_secs(5));
    let line = log.lines().find(|l| l.contains("\"GET /fwd\"")).unwrap();
    assert!(line.contains("203.0.113.9 \"GET /fwd\""), "{line}");
    assert!(line.contains(" MiB)") && line.contains("(RSS "), "{line}");
    let master_comm = std::fs::read_to_string(format!("/proc/{}/comm", server.pid())).unwrap();
    assert_eq!(
        master_comm.trim(),
        "app-rwsgi maste",
        "15 bytes of 'app-rwsgi master'"
    );
    let worker: i32 = server.get("/pid").text().parse().unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{worker}/comm"))
            .unwrap()
            .trim(),
        "app-rwsgi worke"
    );
    // ps aux reads the command line: the whole title, as uWSGI's.
    let command_line = |pid: i32| {
        String::from_utf8(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    };
    assert_eq!(command_line(worker), "app-rwsgi worker 1");
    assert_eq!(command_line(server.pid()), "app-rwsgi master");

    let output = Command::new(bin())
        .args([
            "--module",
            "pep3333",
            "--hook-master-start",
            "call:my_c_function",
            "--http-socket",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "other hooks are refused clearly"
    );

    let logger_arg = format!("file:{}", logfile.display());
    let with_logger = FileLogged::start(&logfile, &["--logger", &logger_arg]);
    assert!(with_logger.log().contains("listening on"));
}

/// The server side of each established TCP connection on `port`, as `ss -o` shows it
/// (with its timer, e.g. `timer:(keepalive,119min,0)`).
fn server_side_connections(port: u16) -> Vec<String> {
    let output = Command::new("ss")
        .args(["-tnoH", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
        .expect("ss (iproute2): run tests/run, which installs it");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn so_keepalive_arms_tcp_keepalive_on_accepted_connections() {
    for (args, expected) in [(&["--so-keepalive"][..], true), (&[][..], false)] {
        let server = pep3333_server(args);
        let mut stream = connect(server.addr());
        stream
            .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
        // The connection is idle and kept alive: the kernel shows the socket's timer.
        let lines = server_side_connections(server.addr().port());
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert_eq!(
            lines[0].contains("timer:(keepalive,"),
            expected,
            "{args:?}: {lines:?}"
        );
    }
}

#[test]
fn http_keepalive_serves_several_requests_on_one_connection() {
    let server = pep3333_server(&["--http-keepalive", "1"]);
    let mut stream = connect(server.addr());
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut pids = Vec::new();
    for _ in 0..3 {
        stream
            .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let response = read_response(&mut reader, false).expect("answered on the same connection");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), None, "{response:?}");
        pids.push(response.text());
    }
    assert!(pids.windows(2).all(|w| w[0] == w[1]), "{pids:?}");
    assert_eq!(
        server_side_connections(server.addr().port()).len(),
        1,
        "one connection carried them all"
    );
}

/// uWSGI's log-master has the master write every line so that lines from several processes
/// never mix; rwsgi gets the same result by writing each line with one write. Long request
/// lines from two workers with four threads each, logged at the same time, arrive whole.
#[test]
fn log_master_lines_from_busy_workers_never_interleave() {
    let server = pep3333_builder()
        .args(["--log-master", "--processes", "2", "--threads", "4"])
        .workers(2)
        .http()
        .start();
    let addr = server.addr();
    let filler = "x".repeat(1500);
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let filler = filler.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let response = request(
                        addr,
                        &format!("GET /lm-{client}-{i}-{filler}-end HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                    );
                    assert_eq!(response.status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let log = server.wait_for_log(&format!("/lm-7-39-{filler}-end"), Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = log;
    while log.matches("-end\"").count() < 320 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        log = server.log();
    }
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("/lm-")).collect();
    assert_eq!(lines.len(), 320, "one line per request");
    for line in lines {
        assert_eq!(line.matches("/lm-").count(), 1, "mixed lines: {line}");
        let whole = (0..8).any(|client| {
            (0..40).any(|i| line.contains(&format!("\"GET /lm-{client}-{i}-{filler}-end\" 200")))
        });
        assert!(whole, "a broken line: {line}");
    }
}

/// chown-socket gives the unix socket rwsgi creates to the named user and group (nginx's
/// www-data in a real deployment), and it stays theirs across a reload, which keeps the
/// socket; the socket still serves.
#[test]
fn chown_socket_owns_the_created_socket() {
    use std::os::unix::fs::MetadataExt;
    let server = pep3333_builder()
        .args(["--chown-socket", "nobody:nogroup", "--chmod-socket", "660"])
        .uwsgi()
        .start();
    let socket = server.uwsgi.clone().unwrap();
    let owner = |path: &std::path::Path| {
        let meta = std::fs::metadata(path).unwrap();
        (meta.uid(), meta.gid(), meta.mode() & 0o777)
    };
    assert_eq!(owner(&socket), (65534, 65534, 0o660), "{}", server.log());
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(30));
    assert_eq!(owner(&socket), (65534, 65534, 0o660), "after a reload");
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/ok", ""), b"");
    assert_eq!(response.status, 200);
}

#[test]
fn lazy_is_lazy_apps() {
    let server = pep3333_server(&["--lazy"]);
    let imported: i32 = server.get("/import-pid").text().parse().unwrap();
    let worker: i32 = server.get("/pid").text().parse().unwrap();
    assert_eq!(imported, worker);
}

#[test]
fn stats_server_speaks_uwsgi_json_and_uwsgitop_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.sock");
    let server = pep3333_builder()
        .args(["--processes", "2"])
        .args(["--stats", stats_path.to_str().unwrap()])
        .workers(2)
        .http()
        .start();
    for _ in 0..10 {
        assert_eq!(server.get("/ok").status, 200);
    }
    server.get("/error");
    let read_stats = || {
        let mut stream = std::os::unix::net::UnixStream::connect(&stats_path).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    // A request is counted when it ends, just after its response is written: wait for the
    // last one (the client may read the response first).
    let counted = |stats: &serde_json::Value| -> u64 {
        stats["workers"]
            .as_array()
            .map(|w| w.iter().filter_map(|w| w["requests"].as_u64()).sum())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stats = read_stats();
    while counted(&stats) < 11 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        stats = read_stats();
    }
    assert_eq!(stats["pid"], server.pid());
    let workers = stats["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let requests: u64 = workers
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    let exceptions: u64 = workers
        .iter()
        .map(|w| w["exceptions"].as_u64().unwrap())
        .sum();
    let tx: u64 = workers.iter().map(|w| w["tx"].as_u64().unwrap()).sum();
    assert_eq!(requests, 11);
    assert_eq!(exceptions, 1);
    assert!(tx >= 50, "{tx}");
    for worker in workers {
        assert_eq!(worker["status"], "idle");
        assert!(worker["rss"].as_u64().unwrap() > 1 << 20);
        assert!(worker["pid"].as_i64().unwrap() > 0);
    }
    assert_eq!(stats["sockets"][0]["proto"], "http");

    // uwsgitop (from PyPI) draws its table from it. ncurses draws to a pipe as well as to a
    // terminal, so no pseudo-terminal is needed (some CI sandboxes have none); with stdin
    // at EOF it redraws continuously, so the screen is read until the table shows, then
    // uwsgitop is stopped.
    let venv = test_venv();
    let mut uwsgitop = Command::new(venv.join("bin/uwsgitop"))
        .args(["--frequency", "1"])
        .arg(&stats_path)
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let expected_master = format!("masterpid: {}", server.pid());
    let mut stdout = uwsgitop.stdout.take().unwrap();
    let screen_reader = std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            let text = String::from_utf8_lossy(&screen);
            if text.contains("WID") && text.contains("RPS") && text.contains(&expected_master) {
                return (true, text.into_owned());
            }
            match std::io::Read::read(&mut stdout, &mut chunk) {
                Ok(0) | Err(_) => return (false, text.into_owned()),
                Ok(n) if screen.len() < 1 << 20 => screen.extend_from_slice(&chunk[..n]),
                Ok(_) => {}
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !screen_reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    uwsgitop.kill().ok();
    let status = uwsgitop.wait().unwrap();
    let (table_drawn, screen) = screen_reader.join().unwrap();
    let mut errors = String::new();
    std::io::Read::read_to_string(&mut uwsgitop.stderr.take().unwrap(), &mut errors).ok();
    assert!(
        table_drawn,
        "uwsgitop ({status}) drew no table with {}\nscreen: {screen}\nstderr: {errors}",
        server.pid()
    );
}

#[test]
fn stats_http_over_tcp() {
    let port = common::free_port();
    let server = pep3333_server(&["--stats", &format!("127.0.0.1:{port}"), "--stats-http"]);
    let response = request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    let stats: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(stats["pid"], server.pid());
}

#[test]
fn master_fifo_commands() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("master.fifo");
    let mut server = pep3333_builder()
        .args(["--master-fifo", fifo.to_str().unwrap()])
        .http()
        .start();
    let send = |letters: &str| {
        let mut file = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::io::Write::write_all(&mut file, letters.as_bytes()).unwrap();
    };
    send("+");
    server.wait_for_log("adding worker 2", Duration::from_secs(5));
    server.wait_for_log("worker 2 started", Duration::from_secs(5));
    send("s");
    server.wait_for_log("request(s), idle", Duration::from_secs(5));
    send("r");
    server.wait_for_log("master-fifo: reloading", Duration::from_secs(5));
    server.wait_for_log("reload complete", Duration::from_secs(15));
    assert_eq!(server.get("/ok").status, 200);
    send("q");
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    assert!(server.log().contains("graceful stop"));
}

#[test]
fn py_autoreload_reloads_when_a_module_changes() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("autoapp.py");
    let write = |version: &str| {
        std::fs::write(
            &app,
            format!("def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'{version}']\n"),
        )
        .unwrap()
    };
    write("one");
    let server = server()
        .args([
            "--chdir",
            dir.path().to_str().unwrap(),
            "--module",
            "autoapp",
            "--py-autoreload",
            "1",
        ])
        .http()
        .start();
    assert_eq!(server.get("/").text(), "one");
    std::thread::sleep(Duration::from_millis(1100));
    write("two");
    server.wait_for_log("py-autoreload:", Duration::from_secs(10));
    server.wait_for_log("reload complete", Duration::from_secs(15));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/").text() != "two" {
        assert!(Instant::now() < deadline, "the new code was never served");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn mount_with_and_without_manage_script_name() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.py");
    std::fs::write(
        &other,
        "def application(environ, start_response):\n    body = ('other %s|%s' % (environ['SCRIPT_NAME'], environ['PATH_INFO'])).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n",
    )
    .unwrap();
    let mounts = [
        "--mount",
        &format!("/other={}", other.display()),
        "--mount",
        "/api/v1=pep3333:application",
    ];
    let managed = pep3333_builder()
        .args(mounts)
        .args(["--manage-script-name"])
        .http()
        .uwsgi()
        .start();
    assert_eq!(managed.get("/other/x/y").text(), "other /other|/x/y");
    let env = parse_flat_json(&managed.get("/api/v1/env").text());
    assert_eq!(env["SCRIPT_NAME"], "/api/v1");
    assert_eq!(env["PATH_INFO"], "/env");
    assert_eq!(
        managed.get("/otherwise").header("x-path"),
        Some("/otherwise"),
        "no prefix match: the default app"
    );
    // Without manage-script-name the web server's SCRIPT_NAME chooses (nginx uwsgi_param).
    let plain = pep3333_builder().args(mounts).uwsgi().start();
    let mut vars = nginx_vars("GET", "/other/z", "");
    vars.push(("SCRIPT_NAME", "/other"));
    vars.retain(|(k, _)| *k != "PATH_INFO");
    vars.push(("PATH_INFO", "/z"));
    let response = uwsgi_request(plain.uwsgi.as_ref().unwrap(), &vars, b"");
    assert_eq!(response.text(), "other /other|/z");
}

#[test]
fn cheaper_adds_workers_under_load_and_retires_idle_ones() {
    let server = pep3333_builder()
        .args([
            "--processes",
            "3",
            "--cheaper",
            "1",
            "--cheaper-overload",
            "1",
        ])
        .http()
        .start();
    // Ready once the workers it started serve: the minimum, one.
    let log = server.log();
    assert!(log.contains("ready: 1 worker(s)"), "{log}");
    assert!(!log.contains("worker 2 started"), "starts with the minimum");
    let addr = server.addr();
    let load: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(i * 200));
                request(
                    addr,
                    "GET /sleep?2.5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                )
            })
        })
        .collect();
    server.wait_for_log(
        "cheaper: all 1 worker(s) busy; starting 1 more",
        Duration::from_secs(5),
    );
    server.wait_for_log("worker 2 started", Duration::from_secs(5));
    for t in load {
        assert_eq!(t.join().unwrap().text(), "slept");
    }
    server.wait_for_log("cheaper: worker", Duration::from_secs(10));
    server.wait_for_log("idle; retiring it", Duration::from_secs(10));
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn attach_daemon_runs_restarts_and_stops_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let command = format!("echo run >> {} ; sleep 0.5", marker.display());
    let mut server = pep3333_builder()
        .args(["--attach-daemon", &command])
        .http()
        .start();
    server.wait_for_log("attach-daemon started", Duration::from_secs(5));
    server.wait_for_log("restarting in 1 s", Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the daemon was not restarted");
        std::thread::sleep(Duration::from_millis(50));
    }
    let long = pep3333_builder()
        .args(["--attach-daemon", "sleep 300"])
        .http();
    let mut long = long.start();
    long.wait_for_log("attach-daemon started", Duration::from_secs(5));
    let log = long.log();
    let pid = log
        .split("attach-daemon started (pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    assert!(long.stop().success());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .contains("zombie"),
        "the daemon stops with the server"
    );
    assert!(server.stop().success());
}

/// An attach-daemon that keeps failing is restarted after 1 s, then 2 s, then 4 s (the
/// master's one backoff), not at a fixed pace.
#[test]
fn a_failing_attach_daemon_is_restarted_with_a_doubling_backoff() {
    let mut server = pep3333_builder()
        .args(["--attach-daemon", "exit 3"])
        .http()
        .start();
    let log = server.wait_for_count("; restarting in ", 3, Duration::from_secs(15));
    let waits: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("attach-daemon (pid"))
        .map(|line| {
            assert!(line.contains("exited with status 3"), "{line}");
            line.split("; restarting in ")
                .nth(1)
                .unwrap()
                .split(':')
                .next()
                .unwrap()
        })
        .take(3)
        .collect();
    assert_eq!(waits, ["1 s", "2 s", "4 s"], "{log}");
    assert!(server.stop().success());
}

/// A server whose log goes to a file (logto, logger = file:): killed when dropped.
struct FileLogged {
    child: std::process::Child,
    logfile: std::path::PathBuf,
}

impl FileLogged {
    fn start(logfile: &std::path::Path, args: &[&str]) -> FileLogged {
        let child = pep3333_command()
            .args(["--http-socket", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = FileLogged {
            child,
            logfile: logfile.to_path_buf(),
        };
        server.wait_for("worker 1 started");
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.logfile).unwrap_or_default()
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{} never contained {needle:?}:\n{log}",
                self.logfile.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self, log: &str) -> std::net::SocketAddr {
        http_address_in(log)
    }
}

impl Drop for FileLogged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs rwsgi with an ini file that must not start: (exit status, stderr).
fn run_refused(ini: &std::path::Path) -> (Option<i32>, String) {
    let output = Command::new(bin())
        .args([
            "--ini",
            ini.to_str().unwrap(),
            "--http-socket",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn env_of(response: &Response) -> std::collections::BTreeMap<String, String> {
    parse_flat_json(&response.text())
}

#[test]
fn proxy_protocol_header_gives_remote_addr() {
    let server = pep3333_server(&["--http-enable-proxy-protocol"]);
    let v1 = request_bytes(
        server.addr(),
        b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\nGET /env HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(v1.status, 200);
    let environ = env_of(&v1);
    assert_eq!(environ["REMOTE_ADDR"], "203.0.113.7");
    assert_eq!(environ["REMOTE_PORT"], "51234");

    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x21, 0, 36]);
    let client: std::net::Ipv6Addr = "2001:db8::42".parse().unwrap();
    v2.extend_from_slice(&client.octets());
    v2.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v2.extend_from_slice(&4242u16.to_be_bytes());
    v2.extend_from_slice(&80u16.to_be_bytes());
    v2.extend_from_slice(b"GET /env HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let environ = env_of(&request_bytes(server.addr(), &v2));
    assert_eq!(environ["REMOTE_ADDR"], "2001:db8::42");
    assert_eq!(environ["REMOTE_PORT"], "4242");

    // Without the header the connection is closed unanswered; the worker serves on.
    let mut bare = connect(server.addr());
    bare.write_all(b"GET /env HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut bare, &mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    server.wait_for_log("does not start with a PROXY header", Duration::from_secs(5));
    let again = request(
        server.addr(),
        "PROXY UNKNOWN\r\nGET /env HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(env_of(&again)["REMOTE_ADDR"], "127.0.0.1");
}

#[test]
fn route_rules_redirect_add_headers_rewrite_break_and_return() {
    let dir = tempfile::tempdir().unwrap();
    let ini = write_ini(
        dir.path(),
        "route = ^/old/(.*)$ redirect-301:/new/$1\n\
         route = ^/api addheader:X-Api: v1\n\
         route = ^/api last\n\
         route = ^/admin return:403\n\
         route = ^/secret break\n\
         route = ^/blog/(\\d+)$ rewrite:/env?post=$1\n\
         route-if = equal:${REQUEST_METHOD};DELETE break:405\n\
         route-host = ^evil\\. return:421\n\
         route = .* delheader:X-Path\n",
    );
    let server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    let moved = server.get("/old/a/b?q");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/new/a/b"));
    let api = server.get("/api/users");
    assert_eq!(api.status, 200);
    assert_eq!(api.header("x-api"), Some("v1"));
    assert_eq!(
        api.header("x-path"),
        Some("/api/users"),
        "last stops before delheader"
    );
    assert_eq!(server.get("/plain").header("x-path"), None, "delheader");
    assert_eq!(server.get("/admin").status, 403);
    let rewritten = env_of(&server.get("/blog/42"));
    assert_eq!(rewritten["PATH_INFO"], "/env");
    assert_eq!(rewritten["QUERY_STRING"], "post=42");
    let delete = request(
        server.addr(),
        "DELETE /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(delete.status, 405);
    let evil = request(
        server.addr(),
        "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(evil.status, 421);
    let mut secret = connect(server.addr());
    secret
        .write_all(b"GET /secret HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut secret, &mut answer);
    assert!(answer.is_empty(), "break closes without an answer");
    assert_eq!(server.get("/after").status, 200);

    let bad = write_ini(dir.path(), "route = ^/x goto:label\n");
    let (status, stderr) = run_refused(&bad);
    assert_eq!(status, Some(2));
    assert!(
        stderr.contains("compat.ini:4: option 'route'") && stderr.contains("goto"),
        "{stderr}"
    );
}

#[test]
fn log_rotation_request_logger_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    let requests_log = dir.path().join("requests.log");
    let server = FileLogged::start(
        &logfile,
        &[
            "--logto",
            logfile.to_str().unwrap(),
            "--log-maxsize",
            "4096",
            "--logfile-chmod",
            "644",
            "--req-logger",
            &format!("file:{}", requests_log.display()),
            "--log-micros",
        ],
    );
    let addr = server.addr(&server.log());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&logfile).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Application output goes to the main log; request lines only to the request log.
    let mut rotated = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rotated.is_empty() {
        assert!(Instant::now() < deadline, "{}", server.log());
        assert_eq!(
            request(
                addr,
                "GET /print HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            .status,
            200
        );
        rotated = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("app.log."))
            .collect();
    }
    let backup = std::fs::read_to_string(dir.path().join(&rotated[0])).unwrap();
    assert!(backup.len() >= 4096 && backup.contains("worker 1 started"));
    // The worker follows the rename: its next lines land in the new file.
    let marker = Instant::now();
    loop {
        request(
            addr,
            "GET /print HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let current = server.log();
        if current.contains("log rotated") && current.contains("printed to stdout by the app") {
            break;
        }
        assert!(marker.elapsed() < Duration::from_secs(10), "{current}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let requests_text = std::fs::read_to_string(&requests_log).unwrap();
    assert!(
        requests_text.contains("\"GET /print\" 200") && requests_text.contains(" micros"),
        "{requests_text}"
    );
    assert!(!backup.contains("\"GET /print\""), "{backup}");

    // logformat-strftime: the request line's %Y becomes the year.
    let formatted_log = dir.path().join("formatted.log");
    let formatted = FileLogged::start(
        &formatted_log,
        &[
            "--logto",
            formatted_log.to_str().unwrap(),
            "--log-format",
            "[%Y] %(method) %(uri)",
            "--logformat-strftime",
        ],
    );
    let addr = formatted.addr(&formatted.log());
    request(
        addr,
        "GET /dated HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let log = formatted.wait_for("] GET /dated");
    let line = log.lines().find(|l| l.contains("] GET /dated")).unwrap();
    let year = &line[line.find("] GET /dated").unwrap() - 5..][..5];
    assert!(
        year.starts_with("[20") && year[1..].chars().all(|c| c.is_ascii_digit()),
        "{line}"
    );
}

#[test]
fn process_options_umask_argv_imports_stdin_and_chdir2() {
    let dir = tempfile::tempdir().unwrap();
    let stdin_file = dir.path().join("stdin.txt");
    std::fs::write(&stdin_file, "x").unwrap();
    let child = pep3333_command()
        .args(["--http-socket", "127.0.0.1:0"])
        .args(["--umask", "027", "--max-fd", "4000", "--no-site"])
        .args(["--pyargv", "one --two", "--import", "colorsys"])
        .args(["--chdir2", dir.path().to_str().unwrap()])
        .stdin(std::fs::File::open(&stdin_file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server::adopt(child, 1);
    let process = parse_json(&server.get("/process").text());
    assert_eq!(process["umask"], 0o027);
    assert_eq!(
        process["argv"],
        serde_json::json!(["rwsgi", "one", "--two"])
    );
    assert_eq!(process["nofile"], 4000);
    assert_eq!(
        process["stdin"], "/dev/null",
        "stdin is /dev/null as in uWSGI"
    );
    assert_eq!(process["site"], false);
    assert_eq!(process["colorsys"], true);
    assert_eq!(
        process["cwd"],
        dir.path().canonicalize().unwrap().to_str().unwrap()
    );

    let kept = pep3333_command()
        .args(["--http-socket", "127.0.0.1:0", "--honour-stdin"])
        .stdin(std::fs::File::open(&stdin_file).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let kept = Server::adopt(kept, 1);
    let process = parse_json(&kept.get("/process").text());
    assert_eq!(process["stdin"], stdin_file.to_str().unwrap());
    assert_eq!(process["site"], true);
}

fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn master_as_root_drops_privileges_only_in_workers() {
    let server = pep3333_server(&["--uid", "nobody", "--gid", "nogroup", "--master-as-root"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some("0"),
        "{uid_line}"
    );
    let process = parse_json(&server.get("/process").text());
    assert_eq!(process["uid"], 65534, "the worker runs as nobody");
    // The parent-death signal survives the change of user: no orphan outlives the master.
    let worker = server.get("/pid").text();
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{worker}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(
            Instant::now() < deadline,
            "worker {worker} outlived its master"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn static_gzip_variants_expiry_by_pattern_and_mime_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("assets");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("app.js"), "console.log('plain');".repeat(20)).unwrap();
    std::fs::write(root.join("app.js.gz"), b"\x1f\x8bpretend-gzip").unwrap();
    std::fs::write(root.join("data.blob"), "blob").unwrap();
    let mime_file = dir.path().join("mime.types");
    std::fs::write(&mime_file, "application/x-rwsgi-blob blob\n").unwrap();
    let map = format!("/assets={}", root.display());
    let server = pep3333_server(&[
        "--static-map",
        &map,
        "--static-gzip-all",
        "--static-expires",
        "/assets/.*\\.js$ 3600",
        "--mime-file",
        mime_file.to_str().unwrap(),
    ]);
    let gzipped = request(
        server.addr(),
        "GET /assets/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.header("vary"), Some("Accept-Encoding"));
    assert_eq!(gzipped.body, b"\x1f\x8bpretend-gzip");
    assert_eq!(gzipped.header("cache-control"), Some("max-age=3600"));
    let plain = server.get("/assets/app.js");
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.text().starts_with("console.log"));
    let blob = server.get("/assets/data.blob");
    assert_eq!(
        blob.header("content-type"),
        Some("application/x-rwsgi-blob")
    );
    assert_eq!(blob.header("cache-control"), None);
}

#[test]
fn harakiri_graceful_timeout_and_reload_on_exception() {
    let server = pep3333_server(&[
        "--harakiri",
        "1",
        "--harakiri-graceful-timeout",
        "2",
        "--reload-on-exception",
        "--min-worker-lifetime",
        "1",
    ]);
    let stuck = server.addr();
    let sleeper = get_in_background(stuck, "/sleep?30");
    let log = server.wait_for_log("killed after", Duration::from_secs(15));
    let term = log.find("sent SIGTERM after").expect("SIGTERM first");
    let kill = log.find("killed after").unwrap();
    assert!(term < kill, "{log}");
    let _ = sleeper.join();
    server.wait_for_log("worker 1 started (pid", Duration::from_secs(10));
    assert_eq!(server.get("/error").status, 500);
    server.wait_for_log("draining (reload-on-exception)", Duration::from_secs(10));
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn no_default_app_answers_404_outside_mounts() {
    let apps = apps_dir();
    let mount = "/hello=pep3333:application";
    let server = server()
        .args(["--chdir", apps.to_str().unwrap(), "--module", "pep3333"])
        .args(["--mount", mount, "--manage-script-name", "--no-default-app"])
        .http()
        .start();
    assert_eq!(server.get("/hello/x").status, 200);
    assert_eq!(server.get("/elsewhere").status, 404);
}

#[test]
fn values_from_files_and_commands_and_unprovided_features_warn() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let ini = write_ini(
        dir.path(),
        &format!(
            "env = SECRET=@({})\nenv = MADE=@(exec://echo made-by-sh)\ncheaper-algo = backlog\nhttp-websockets = true\n",
            secret.display()
        ),
    );
    let server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    assert_eq!(server.get("/osenv?SECRET").text(), "from-a-file");
    assert_eq!(server.get("/osenv?MADE").text(), "made-by-sh");
    let log = server.log();
    assert!(
        log.contains(
            "compat.ini:6: cheaper-algo 'backlog' is not provided; the spare algorithm is used"
        ),
        "{log}"
    );
    assert!(
        log.contains("compat.ini:7: option 'http-websockets' is not honoured"),
        "{log}"
    );

    let missing = write_ini(dir.path(), "env = SECRET=@(/nonexistent/secret)\n");
    let (status, stderr) = run_refused(&missing);
    assert_eq!(status, Some(2));
    assert!(
        stderr.contains("compat.ini:4") && stderr.contains("/nonexistent/secret"),
        "{stderr}"
    );
}

#[test]
fn smart_attach_daemon_and_cron() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("daemon.pid");
    let cron_out = dir.path().join("cron.out");
    let smart = format!(
        "{} sh -c 'sleep 300 & echo $! > {}'",
        pidfile.display(),
        pidfile.display()
    );
    let cron = format!("-1 -1 -1 -1 -1 date +%M >> {}", cron_out.display());
    let mut server = pep3333_server(&["--smart-attach-daemon", &smart, "--cron", &cron]);
    let read_pid = || -> Option<i32> {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(pid) = read_pid() {
            break pid;
        }
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    Command::new("kill")
        .arg(first.to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        match read_pid() {
            Some(pid) if pid != first && std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                break pid
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "not restarted:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // cron: every minute, so the first run comes at the next minute boundary.
    let deadline = Instant::now() + Duration::from_secs(75);
    while !cron_out.exists() {
        assert!(
            Instant::now() < deadline,
            "cron never ran:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server.wait_for_log("cron (pid", Duration::from_secs(10));
    server.signal(15);
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{second}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(Instant::now() < deadline, "smart daemon still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn hooks_run_at_their_phases_and_a_failing_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.txt");
    let t = trace.display();
    let ini = write_ini(
        dir.path(),
        &format!(
            "processes = 2\n\
             hook-asap = appendn:{t} asap\n\
             exec-as-root = echo as-root >> {t}\n\
             hook-pre-app = appendn:{t} pre-app\n\
             hook-post-app = appendn:{t} post-app\n\
             hook-master-start = unix_signal:15 gracefully_kill_them_all\n\
             hook-master-start = appendn:{t} master-start\n\
             hook-post-fork = exec:echo post-fork $$ >> {t}\n\
             hook-accepting1 = appendn:{t} accepting1\n\
             hook-as-user-atexit = appendn:{t} atexit\n\
             hook-pre-app = putenv:FROM_HOOK=yes\n"
        ),
    );
    let mut server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .workers(2)
        .http()
        .start();
    assert_eq!(server.get("/osenv?FROM_HOOK").text(), "yes");
    // "worker 2 started" is logged at fork: wait until both workers ran their post-fork
    // hook, or a stop would race the second one.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .matches("post-fork")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal(15);
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let position = |name: &str| {
        lines
            .iter()
            .position(|l| l == name)
            .unwrap_or_else(|| panic!("{name} missing: {lines:?}"))
    };
    assert!(position("asap") < position("as-root"));
    assert!(position("as-root") < position("pre-app"));
    assert!(position("pre-app") < position("post-app"));
    assert!(position("post-app") < position("post-fork"));
    assert_eq!(
        lines.iter().filter(|l| *l == "post-fork").count(),
        2,
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| *l == "accepting1").count(),
        1,
        "{lines:?}"
    );
    assert!(lines.contains(&"master-start".to_string()));
    assert_eq!(lines.last().map(String::as_str), Some("atexit"));

    let failing = write_ini(dir.path(), "exec-as-root = exit 3\n");
    let (status, stderr) = run_refused(&failing);
    assert_eq!(status, Some(1));
    assert!(
        stderr.contains("hook exec-as-root = exit 3 (") && stderr.contains("compat.ini:4"),
        "{stderr}"
    );
}

#[test]
fn log_encoders_and_routes_to_named_loggers() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("main.log");
    let errors = dir.path().join("errors.log");
    let errors_logger = format!("errors file:{}", errors.display());
    let server = FileLogged::start(
        &logfile,
        &[
            "--logto",
            logfile.to_str().unwrap(),
            "--log-encoder",
            r#"json {"time":${unix},"line":"${msg}"}"#,
            "--log-encoder",
            "nl",
            "--log-req-encoder",
            "prefix [req] ",
            "--log-req-encoder",
            "nl",
            "--logger",
            &errors_logger,
            "--log-route",
            "errors (error|Traceback)",
        ],
    );
    let log = server.log();
    let addr = server.addr(&log);
    assert_eq!(
        request(
            addr,
            "GET /error HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .status,
        500
    );
    request(
        addr,
        "GET /fine HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let log = server.wait_for("[req] rwsgi worker 1: 127.0.0.1 \"GET /fine\" 200");
    let started = log
        .lines()
        .find(|l| l.contains("worker 1 started"))
        .unwrap();
    let entry: serde_json::Value = serde_json::from_str(started).unwrap();
    assert!(entry["time"].as_u64().unwrap() > 1_700_000_000);
    assert!(entry["line"]
        .as_str()
        .unwrap()
        .starts_with("rwsgi master: worker 1 started"));
    let routed = std::fs::read_to_string(&errors).unwrap();
    assert!(
        routed.contains("GET /error") && routed.contains("Traceback"),
        "{routed}"
    );
    assert!(!routed.contains("GET /fine"), "{routed}");
}

#[test]
fn cheaper_busyness_follows_busy_time_and_the_listen_queue() {
    let server = pep3333_builder()
        .args([
            "--processes",
            "4",
            "--cheaper",
            "1",
            "--cheaper-algo",
            "busyness",
        ])
        .args(["--cheaper-overload", "1", "--cheaper-busyness-max", "40"])
        .args([
            "--cheaper-busyness-min",
            "10",
            "--cheaper-busyness-multiplier",
            "2",
        ])
        .args([
            "--cheaper-busyness-backlog-alert",
            "3",
            "--cheaper-busyness-backlog-step",
            "2",
        ])
        .http()
        .start();
    let addr = server.addr();
    // One client keeps worker 1 busy nearly all the time: busyness, not "all busy", adds one.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy_client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                request(
                    addr,
                    "GET /sleep?0.3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                );
            }
        })
    };
    server.wait_for_log("cheaper busyness: workers", Duration::from_secs(10));
    server.wait_for_log("worker 2 started", Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy_client.join().unwrap();
    server.wait_for_log("cycles; retiring worker", Duration::from_secs(15));

    // Connections piling up in the listen queue start workers at once.
    let waiting: Vec<_> = (0..12)
        .map(|_| get_in_background(addr, "/sleep?1.5"))
        .collect();
    server.wait_for_log("connections waiting; starting", Duration::from_secs(10));
    for client in waiting {
        assert_eq!(client.join().unwrap().text(), "slept");
    }
}

#[test]
fn alarms_for_log_lines_segfaults_and_full_listen_queues() {
    let dir = tempfile::tempdir().unwrap();
    let raised = dir.path().join("raised.txt");
    let alarm = format!("ops cmd:cat >> {}", raised.display());
    let server = pep3333_server(&[
        "--alarm",
        &alarm,
        "--alarm",
        "pager curl:http://pager.example/",
        "--alarm-log",
        "ops Traceback",
        "--alarm-segfault",
        "ops",
        "--alarm-backlog",
        "ops",
        "--alarm-freq",
        "1",
        "--listen",
        "2",
    ]);
    let log = server.log();
    assert!(
        log.contains("alarm not honoured: alarm type 'curl' is not provided"),
        "{log}"
    );
    let read = || std::fs::read_to_string(&raised).unwrap_or_default();
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !read().contains(needle) {
            assert!(Instant::now() < deadline, "no {needle:?} in {:?}", read());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(server.get("/error").status, 500);
    wait_for("Traceback");
    std::thread::sleep(Duration::from_millis(1100));
    let mut crashing = connect(server.addr());
    crashing
        .write_all(b"GET /segfault HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let _ = std::io::Read::read_to_end(&mut crashing, &mut Vec::new());
    wait_for("killed by SIGSEGV");
    server.wait_for_log("worker 1 started (pid", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1100));
    // One request holds the only worker; connections pile up in a backlog of 2.
    let addr = server.addr();
    let holder = server.sleeping_in_background("3");
    let waiting: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    wait_for("listen queue of 127.0.0.1:");
    drop(waiting);
    let _ = holder.join();
}

#[test]
fn vhost_chooses_the_application_by_host() {
    let apps = apps_dir();
    let site = apps.join("filebased/site.wsgi");
    let by_server_name = server()
        .args(["--chdir", apps.to_str().unwrap()])
        .args(["--mount", "shop.example=pep3333:application"])
        .args(["--wsgi-file", site.to_str().unwrap(), "--callable", "app"])
        .args(["--vhost"])
        .uwsgi()
        .start();
    let socket = by_server_name.uwsgi.clone().unwrap();
    let ask = |server_name: &str| {
        uwsgi_request(
            &socket,
            &[
                ("REQUEST_METHOD", "GET"),
                ("PATH_INFO", "/page"),
                ("SERVER_NAME", server_name),
                ("SERVER_PORT", "80"),
                ("SERVER_PROTOCOL", "HTTP/1.1"),
            ],
            b"",
        )
    };
    assert_eq!(ask("Shop.Example").header("x-path"), Some("/page"));
    assert!(ask("other.example").text().starts_with("file app"));

    let by_host_header = server()
        .args(["--chdir", apps.to_str().unwrap()])
        .args(["--mount", "shop.example=pep3333:application"])
        .args(["--wsgi-file", site.to_str().unwrap(), "--callable", "app"])
        .args(["--vhost", "--vhost-host"])
        .http()
        .start();
    let shop = request(
        by_host_header.addr(),
        "GET /page HTTP/1.1\r\nHost: shop.example:8080\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(shop.header("x-path"), Some("/page"));
    let other = request(
        by_host_header.addr(),
        "GET /page HTTP/1.1\r\nHost: elsewhere\r\nConnection: close\r\n\r\n",
    );
    assert!(other.text().starts_with("file app"));
}

/// Runs rwsgi on `ini` (plus an HTTP socket) and returns its exit status and stderr; fails
/// the test if it is still running after `limit` (a start that should have ended).
fn run_with_limit(ini: &std::path::Path, limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .args([
            "--ini",
            ini.to_str().unwrap(),
            "--http-socket",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
            panic!("still running after {limit:?}; the start should have ended:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
    (status.code(), stderr)
}

/// uWSGI: "FATAL hook failed, destroying instance". A failing hook in any start phase
/// (master, application loading, worker) ends the start with a non-zero status and one
/// message naming the hook, its file:line and the command's exit status; on a reload the
/// previous workers keep serving.
#[test]
fn a_failing_hook_in_any_phase_ends_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (line, lazy) in [
        ("hook-pre-app = exec:exit 4", ""),
        ("exec-post-app = exit 4", ""),
        ("hook-pre-app = exec:exit 4", "lazy-apps = true\n"),
        ("hook-post-fork = exec:exit 4", ""),
        ("hook-accepting = exec:exit 4", ""),
        ("hook-master-start = exec:exit 4", ""),
    ] {
        let ini = write_ini(dir.path(), &format!("{lazy}{line}\n"));
        let (status, stderr) = run_with_limit(&ini, Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s != 0),
            "{line}: {status:?}\n{stderr}"
        );
        let named: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(&format!("hook {line} (")))
            .collect();
        assert_eq!(named.len(), 1, "{line}: one message\n{stderr}");
        assert!(
            named[0].contains("compat.ini:") && named[0].contains("exit status: 4"),
            "{line}: {stderr}"
        );
        assert!(!stderr.contains("serving 500"), "{line}: {stderr}");
    }

    let broken = dir.path().join("broken");
    let ini = write_ini(
        dir.path(),
        &format!("hook-pre-app = exec:test ! -e {}\n", broken.display()),
    );
    let mut server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    assert_eq!(server.get("/pid").status, 200);
    std::fs::write(&broken, "").unwrap();
    server.signal(1);
    // The held reload's line: "reload failed: …; the previous generation (N worker(s)) keeps serving".
    server.wait_for_log("keeps serving", Duration::from_secs(20));
    for _ in 0..5 {
        assert_eq!(server.get("/pid").status, 200, "{}", server.log());
    }
    assert!(server.stop().success(), "{}", server.log());
}

/// With `virtualenv =`, everything rwsgi starts runs as if the venv were activated:
/// VIRTUAL_ENV is set and `<venv>/bin` comes first on PATH, so a `#!/usr/bin/env python`
/// script (as Django's manage.py) run by a hook or a daemon gets the venv's Python.
#[test]
fn the_virtualenv_is_active_for_the_app_hooks_and_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let created = Command::new("python3")
        .args(["-m", "venv", "--without-pip", venv.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(created.success());
    let script = dir.path().join("where.py");
    std::fs::write(
        &script,
        "#!/usr/bin/env python\nimport sys\nopen(sys.argv[1], 'a').write(sys.prefix + '\\n')\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let (hook_out, daemon_out) = (dir.path().join("hook.out"), dir.path().join("daemon.out"));
    let ini = write_ini(
        dir.path(),
        &format!(
            "virtualenv = {venv}\nexec-as-user = {script} {hook}\nattach-daemon = {script} {daemon} ; sleep 300\n",
            venv = venv.display(),
            script = script.display(),
            hook = hook_out.display(),
            daemon = daemon_out.display(),
        ),
    );
    let mut server = server()
        .args(["--ini", ini.to_str().unwrap()])
        .http()
        .start();
    let venv_text = venv.display().to_string();
    assert_eq!(server.get("/osenv?VIRTUAL_ENV").text(), venv_text);
    assert!(
        server
            .get("/osenv?PATH")
            .text()
            .starts_with(&format!("{venv_text}/bin:")),
        "{}",
        server.get("/osenv?PATH").text()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon_out.exists() {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    for out in [&hook_out, &daemon_out] {
        let text = std::fs::read_to_string(out).unwrap();
        assert_eq!(
            text.trim(),
            venv_text,
            "{}: {}",
            out.display(),
            server.log()
        );
    }
    let log = server.log();
    assert!(
        log.contains(&format!("; virtualenv {venv_text}\n")),
        "the start-up log names the virtualenv:\n{log}"
    );
    assert!(server.stop().success());
}

/// At start, a few lines say what runs: rwsgi's version, the Python version and executable
/// as the running interpreter reports them, the virtualenv, each listener, and the
/// process and thread counts.
#[test]
fn startup_log_names_versions_listeners_and_counts() {
    let mut server = pep3333_builder()
        .args(["--threads", "3", "--processes", "2"])
        .workers(2)
        .http()
        .uwsgi()
        .start();
    let log = server.log();
    let starting = format!(
        "rwsgi {} starting (master pid {})",
        env!("CARGO_PKG_VERSION"),
        server.pid()
    );
    assert!(log.contains(&starting), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains(": Python "))
        .unwrap_or_else(|| panic!("no Python line:\n{log}"));
    let executable = line
        .split(" at ")
        .nth(1)
        .and_then(|rest| rest.split("; virtualenv").next())
        .unwrap();
    // The line tells what that interpreter itself says (embedded or hosting rwsgi).
    let asked = Command::new(executable)
        .args([
            "-c",
            "import sys; print(sys.version.split()[0]); print(sys.prefix if sys.prefix != sys.base_prefix else 'none')",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{executable}: {e}: {line}"));
    let asked = String::from_utf8_lossy(&asked.stdout).into_owned();
    let (version, venv) = asked.trim().split_once('\n').unwrap();
    assert!(line.contains(&format!("Python {version} ")), "{line}");
    assert!(line.ends_with(&format!("; virtualenv {venv}")), "{line}");
    let http = format!("listening on {} (http)", server.addr());
    assert!(log.contains(&http), "{log}");
    let uwsgi = server.uwsgi.clone().unwrap();
    let uwsgi = format!("listening on {} (uwsgi)", uwsgi.display());
    assert!(log.contains(&uwsgi), "{log}");
    assert!(
        log.contains("forking 2 worker(s) of 3 thread(s) each"),
        "{log}"
    );
    assert!(server.stop().success());
}

/// `log-format = uwsgi`: uWSGI's default request line field for field, alone on its line
/// (no rwsgi label), so log parsers and fail2ban filters written for uWSGI match it.
#[test]
fn log_format_uwsgi_gives_uwsgis_default_request_line() {
    let server = pep3333_builder()
        .args(["--log-format", "uwsgi", "--threads", "2"])
        .http()
        .uwsgi()
        .start();
    assert_eq!(server.get("/ping/?x=1").status, 200);
    // The line is written after the response: wait for it, so the next request counts it.
    server.wait_for_log("GET /ping/?x=1 =>", Duration::from_secs(10));
    let socket = server.uwsgi.clone().unwrap();
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/status/404", ""), b"");
    assert_eq!(response.status, 404);
    let pattern = regex::Regex::new(
        r"(?m)^\[pid: (\d+)\|app: 0\|req: (\d+)/(\d+)\] (\S+) \(\) \{(\d+) vars in (\d+) bytes\} \[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4}\] (\S+) (\S+) => generated (\d+) bytes in (\d+) msecs \((HTTP/1\.[01]) (\d{3})\) (\d+) headers in (\d+) bytes \(1 switches on core ([01])\)$",
    )
    .unwrap();
    let log = server.wait_for_log("GET /status/404 =>", Duration::from_secs(10));
    let lines: Vec<_> = pattern.captures_iter(&log).collect();
    assert_eq!(lines.len(), 2, "{log}");
    let http = &lines[0];
    assert_ne!(
        &http[1],
        server.pid().to_string().as_str(),
        "a worker's pid"
    );
    assert_eq!((&http[2], &http[3]), ("1", "1"), "{log}");
    assert_eq!(&http[4], "127.0.0.1");
    assert!(http[5].parse::<usize>().unwrap() >= 20, "{log}");
    assert_eq!((&http[9], &http[10]), ("GET", "/ping/?x=1"));
    assert_eq!(&http[11], "5", "the body size");
    assert_eq!((&http[13], &http[14]), ("HTTP/1.1", "200"));
    // Server, Date, Content-Type, X-Path, Content-Length, Connection.
    assert_eq!(&http[15], "6", "{log}");
    let uwsgi = &lines[1];
    assert_eq!((&uwsgi[2], &uwsgi[3]), ("2", "2"), "{log}");
    assert_eq!(&uwsgi[4], "10.1.2.3");
    assert_eq!(&uwsgi[14], "404");
    assert!(
        !log.contains("rwsgi worker 1: [pid:"),
        "the line stands alone: {log}"
    );
}
