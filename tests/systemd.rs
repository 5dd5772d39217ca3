//! systemd integration without systemd as PID 1: `systemd-socket-activate` passes real
//! sockets, the test reads a real NOTIFY_SOCKET, and a journal-protocol socket the test
//! creates receives rwsgi's journal entries. Privilege drop is read from /proc.

mod common;

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Collects every datagram sent to a socket the test owns (NOTIFY_SOCKET or the journal).
struct DatagramLog {
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    /// When each message was received, in the order of `messages`.
    received: Arc<Mutex<Vec<Instant>>>,
}

/// A server builder whose NOTIFY_SOCKET is a datagram socket the test reads.
fn with_notify_socket(dir: &Path, builder: ServerBuilder) -> (DatagramLog, ServerBuilder) {
    let path = dir.join("notify.sock");
    let notify = DatagramLog::bind(&path);
    (notify, builder.env("NOTIFY_SOCKET", path.to_str().unwrap()))
}

impl DatagramLog {
    fn bind(path: &Path) -> DatagramLog {
        let socket = UnixDatagram::bind(path).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        let times = received.clone();
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; 1 << 20];
            let mut fds = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let Ok(message) = nix::sys::socket::recvmsg::<()>(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                &mut iov,
                Some(&mut fds),
                nix::sys::socket::MsgFlags::empty(),
            ) else {
                return;
            };
            let mut payload = Vec::new();
            for cmsg in message.cmsgs().unwrap() {
                if let nix::sys::socket::ControlMessageOwned::ScmRights(received) = cmsg {
                    for fd in received {
                        // SAFETY: the kernel just gave this process the descriptor.
                        let mut file =
                            unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                        file.read_to_end(&mut payload).unwrap();
                    }
                }
            }
            let length = message.bytes;
            if payload.is_empty() {
                payload = buf[..length].to_vec();
            }
            let mut sink = sink.lock().unwrap();
            times.lock().unwrap().push(Instant::now());
            sink.push(payload);
        });
        DatagramLog { messages, received }
    }

    fn texts(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let texts = self.texts();
            if texts.iter().any(|t| t.contains(needle)) {
                return texts;
            }
            assert!(
                Instant::now() < deadline,
                "never received {needle:?}; got {texts:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn socket_activation_readiness_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let uwsgi_path = dir.path().join("app.sock");
    let own_path = dir.path().join("own.sock");
    let notify = DatagramLog::bind(&dir.path().join("notify.sock"));
    let (http_port, named_port) = (free_port(), free_port());
    let mut server = server()
        .wrapped([
            "systemd-socket-activate".to_string(),
            "-l".into(),
            uwsgi_path.display().to_string(),
            "-l".into(),
            format!("127.0.0.1:{http_port}"),
            "-l".into(),
            format!("127.0.0.1:{named_port}"),
            "--fdname=first:second:http".into(),
            "-E".into(),
            format!("NOTIFY_SOCKET={}", dir.path().join("notify.sock").display()),
        ])
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--vacuum",
        ])
        .args(["--socket", uwsgi_path.to_str().unwrap()])
        .args(["--http-socket", &format!("127.0.0.1:{http_port}")])
        .args(["--uwsgi-socket", own_path.to_str().unwrap()])
        .no_wait()
        .start();
    wait_unix_listening(&uwsgi_path, Duration::from_secs(10));
    let inode = std::fs::metadata(&uwsgi_path).unwrap().ino();
    // The first request starts the server, as under systemd.
    let response = uwsgi_request(
        &uwsgi_path,
        &nginx_vars("GET", "/osenv?LISTEN_FDS", ""),
        b"",
    );
    assert_eq!(response.status, 200, "{}", server.log());
    assert_eq!(
        response.text(),
        "<unset>",
        "LISTEN_FDS is cleared before the app runs"
    );
    let log = server.wait_for_log("ready:", Duration::from_secs(10));
    assert!(
        log.contains(&format!(
            "fd 3 {}: uwsgi, from systemd",
            uwsgi_path.display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("fd 4 127.0.0.1:{http_port}: http, from systemd")),
        "{log}"
    );
    assert!(
        log.contains(&format!("fd 5 127.0.0.1:{named_port}: http, from systemd")),
        "by name: {log}"
    );
    assert!(
        log.contains(&format!("listening on {} (uwsgi)", own_path.display())),
        "{log}"
    );
    assert_eq!(
        std::fs::metadata(&uwsgi_path).unwrap().ino(),
        inode,
        "the passed socket is not re-bound"
    );
    for port in [http_port, named_port] {
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let response = request(
            addr,
            "GET /osenv?NOTIFY_SOCKET HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(
            response.text(),
            "<unset>",
            "workers do not see NOTIFY_SOCKET"
        );
    }
    assert_eq!(
        uwsgi_request(&own_path, &nginx_vars("GET", "/x", ""), b"").status,
        200
    );

    let messages = notify.wait_for("READY=1");
    let ready = messages.iter().position(|m| m.contains("READY=1")).unwrap();
    assert!(
        messages[..ready]
            .iter()
            .any(|m| m.contains("STATUS=loading the application")),
        "{messages:#?}"
    );
    assert!(messages[ready].contains(&format!("MAINPID={}", server.pid())));
    assert_eq!(messages.iter().filter(|m| m.contains("READY=1")).count(), 1);
    // READY came after the workers were up: the log says so before the ready line.
    let log = server.log();
    assert!(log.find("worker 1 started").unwrap() < log.find("ready:").unwrap());

    server.signal(15);
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    notify.wait_for("STOPPING=1");
    assert!(
        uwsgi_path.exists(),
        "a socket systemd passed is never unlinked, even with vacuum"
    );
    assert!(
        !own_path.exists(),
        "vacuum removes the sockets rwsgi bound itself"
    );
}

#[test]
fn lazy_apps_are_ready_only_when_every_worker_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let (notify, builder) = with_notify_socket(dir.path(), server());
    let mut server = builder
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "one_slow_import",
            "--lazy-apps",
            "--processes",
            "2",
        ])
        .env("RWSGI_TEST_MARKS", marks.path().to_str().unwrap())
        .http()
        .no_wait()
        .start();
    // One worker's import takes 2 s longer: READY=1 must come after it, not after the first.
    notify.wait_for("READY=1");
    assert!(
        marks.path().join("slow-loaded").exists(),
        "READY=1 came before the slow worker had loaded the application:\n{}",
        server.log()
    );
    server.wait_ready(2, true);
    // Reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 again from the same pid.
    server.signal(1);
    let messages = notify.wait_for("RELOADING=1");
    let reloading = messages.iter().find(|m| m.contains("RELOADING=1")).unwrap();
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while notify
        .texts()
        .iter()
        .filter(|m| m.contains("READY=1"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{:#?}", notify.texts());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn journal_entries_carry_priority_and_request_fields() {
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("journal.sock");
    let journal = DatagramLog::bind(&journal_path);
    let (reader, writer) = std::io::pipe().unwrap();
    let stat = nix::sys::stat::fstat(&writer).unwrap();
    let port = free_port();
    let mut child = pep3333_command()
        .args(["--http-socket", &format!("127.0.0.1:{port}")])
        .env("JOURNAL_STREAM", format!("{}:{}", stat.st_dev, stat.st_ino))
        .env("RWSGI_JOURNAL_SOCKET", &journal_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    drop(reader);
    journal.wait_for("worker 1 started");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            stream
                .write_all(b"GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            if let Some(response) = read_response(&mut BufReader::new(stream), false) {
                break response;
            }
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(response.status, 200);
    request(
        addr,
        "GET /error HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    journal.wait_for("REQUEST_URI=/error");
    let entries: Vec<BTreeMap<String, String>> = journal
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| parse_entry(m))
        .collect();
    let hello = entries
        .iter()
        .find(|e| e.get("REQUEST_URI").map(String::as_str) == Some("/hello?x=1"))
        .unwrap();
    assert_eq!(hello["REQUEST_METHOD"], "GET");
    assert_eq!(hello["STATUS"], "200");
    assert_eq!(hello["RESPONSE_BYTES"], "5");
    assert_eq!(hello["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(hello["WORKER_ID"], "1");
    assert_eq!(hello["PRIORITY"], "6");
    assert_eq!(hello["SYSLOG_IDENTIFIER"], "rwsgi");
    assert!(hello["DURATION_US"].parse::<u64>().is_ok());
    // The traceback is one entry, at error priority, lines and all.
    let traceback = entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m.contains("Traceback")))
        .expect("a traceback entry");
    assert_eq!(traceback["PRIORITY"], "3");
    assert!(traceback["MESSAGE"].contains("RuntimeError: deliberate failure in the app"));
    assert!(traceback["MESSAGE"].lines().count() > 3);
    let failed = entries
        .iter()
        .find(|e| e.get("REQUEST_URI").map(String::as_str) == Some("/error"))
        .unwrap();
    assert_eq!(failed["STATUS"], "500");
    let _ = child.kill();
    let _ = child.wait();
}

/// Decodes the journal native protocol (KEY=value lines and the binary form).
fn parse_entry(data: &[u8]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let line = &rest[..line_end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            rest = &rest[(line_end + 1).min(rest.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let after = &rest[line_end + 1..];
            let length = u64::from_le_bytes(after[..8].try_into().unwrap()) as usize;
            fields.insert(
                key,
                String::from_utf8_lossy(&after[8..8 + length]).into_owned(),
            );
            rest = &after[(8 + length + 1).min(after.len())..];
        }
    }
    fields
}

fn status_fields(pid: i32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn every_process_drops_to_uid_gid_and_keeps_only_the_named_capabilities() {
    let _traverse = RootTraversable::grant();
    for (caps, expected) in [
        (None, "0000000000000000"),
        (Some("net_bind_service"), "0000000000000400"),
    ] {
        let mut builder = pep3333_builder()
            .args(["--uid", "nobody", "--gid", "nogroup", "--processes", "2"])
            .workers(2)
            .http();
        if let Some(caps) = caps {
            builder = builder.args(["--cap", caps]);
        }
        let server = builder.start();
        assert_eq!(server.get("/ok").status, 200, "{}", server.log());
        let mut pids = vec![server.pid()];
        pids.extend(children(server.pid()));
        assert_eq!(pids.len(), 3, "master and two workers");
        for pid in pids {
            let status = status_fields(pid);
            assert_eq!(status["Uid"], "65534\t65534\t65534\t65534", "pid {pid}");
            assert_eq!(status["Gid"], "65534\t65534\t65534\t65534", "pid {pid}");
            assert_eq!(status["CapEff"], expected, "pid {pid}");
            assert_eq!(status["CapPrm"], expected, "pid {pid}");
            assert_eq!(status["Groups"], "65534", "pid {pid}");
        }
    }
}

#[test]
fn bad_user_names_and_root_warning() {
    let output = pep3333_command()
        .args(["--http-socket", "127.0.0.1:0"])
        .args(["--uid", "no-such-user-here"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("uid 'no-such-user-here': no such user")
    );
    let server = pep3333_server(&[]);
    assert!(server.log().contains("running as root: set 'uid'"));
}

#[test]
fn the_units_are_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("rwsgi@demo.service");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/rwsgi@.service"),
        &unit,
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .expect(&text);
    let score: f64 = line
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(score <= 4.0, "{line}");
    let socket = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/rwsgi@.socket"),
    )
    .unwrap();
    assert!(
        socket.contains("SocketUser=www-data")
            && socket.contains("ListenStream=/run/rwsgi/%i.sock")
    );
}

#[test]
fn the_watchdog_is_fed_at_half_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (notify, builder) = with_notify_socket(dir.path(), server());
    // A 2 s watchdog: WATCHDOG=1 is due every second.
    let server = builder
        .env("WATCHDOG_USEC", "2000000")
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
        ])
        .http()
        .start();
    notify.wait_for("READY=1");
    let fed_at = |notify: &DatagramLog| -> Vec<Instant> {
        let messages = notify.messages.lock().unwrap();
        let received = notify.received.lock().unwrap();
        messages
            .iter()
            .zip(received.iter())
            .filter(|(m, _)| String::from_utf8_lossy(m).contains("WATCHDOG=1"))
            .map(|(_, t)| *t)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while fed_at(&notify).len() < 6 {
        assert!(Instant::now() < deadline, "{:#?}", notify.texts());
        std::thread::sleep(Duration::from_millis(50));
    }
    let times = fed_at(&notify);
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    // Spacing, from the times of receipt: about half the interval (1 s). The bounds are
    // generous (scheduling on a busy machine), but exclude both the whole interval and a
    // quarter of it. The median ignores one late tick.
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= Duration::from_millis(700) && median <= Duration::from_millis(1400),
        "WATCHDOG=1 every {median:?} (gaps {gaps:?}) with a 2 s watchdog"
    );
    assert!(
        gaps[gaps.len() - 1] < Duration::from_millis(2000),
        "a gap as long as the watchdog itself: {gaps:?}"
    );
    assert_eq!(server.get("/osenv?WATCHDOG_USEC").text(), "<unset>");
}

#[test]
fn passed_sockets_survive_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    let server = server()
        .wrapped([
            "systemd-socket-activate".to_string(),
            "-l".into(),
            path.display().to_string(),
        ])
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--socket",
            path.to_str().unwrap(),
        ])
        .no_wait()
        .start();
    wait_unix_listening(&path, Duration::from_secs(10));
    let inode = std::fs::metadata(&path).unwrap().ino();
    let before: i32 = uwsgi_request(&path, &nginx_vars("GET", "/import-pid", ""), b"")
        .text()
        .parse()
        .unwrap();
    server.wait_for_log("ready:", Duration::from_secs(10));
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(15));
    let log = server.log();
    assert_eq!(
        log.matches("fd 3 ").count(),
        2,
        "adopted again after the re-exec: {log}"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "never re-bound"
    );
    let after: i32 = uwsgi_request(&path, &nginx_vars("GET", "/import-pid", ""), b"")
        .text()
        .parse()
        .unwrap();
    assert_eq!(before, after, "same master pid");
}

#[test]
fn logto_and_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let logfile = dir.path().join("app.log");
    let port = free_port();
    let mut child = pep3333_command()
        .args([
            "--http-socket",
            &format!("127.0.0.1:{port}"),
            "--logto",
            logfile.to_str().unwrap(),
        ])
        .args([
            "--log-format",
            "REQ %(method) %(uri) -> %(status) (%(size) bytes) by worker %(wid)",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            stream
                .write_all(b"GET /print HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            if read_response(&mut BufReader::new(stream), false).is_some() {
                break;
            }
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&logfile).unwrap_or_default();
        if text.contains("REQ GET /print -> 200 (7 bytes) by worker 1")
            && text.contains("printed to stdout by the app")
        {
            assert!(text.contains("application loaded"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_slow_import_asks_systemd_for_more_time() {
    let dir = tempfile::tempdir().unwrap();
    let (notify, builder) = with_notify_socket(dir.path(), server());
    let server = builder
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "slow_import",
        ])
        .http()
        .no_wait()
        .start();
    let messages = notify.wait_for("EXTEND_TIMEOUT_USEC=");
    assert!(
        !messages.iter().any(|m| m.contains("READY=1")),
        "extension comes while importing"
    );
    notify.wait_for("READY=1");
    drop(server);
}

#[test]
fn vacuum_also_after_an_immediate_stop() {
    let mut server = pep3333_builder().args(["--vacuum"]).uwsgi().start();
    let socket = server.uwsgi.clone().unwrap();
    assert!(socket.exists());
    server.signal(2);
    server.wait_exit(Duration::from_secs(15));
    assert!(!socket.exists());
}

/// Waits for a file to exist and returns its text.
fn wait_for_file(path: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Worker pids from "worker N started (pid P)" lines.
fn started_workers(log: &str) -> Vec<i32> {
    log.lines()
        .filter_map(|l| {
            l.split_once("started (pid ")?
                .1
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn a_reload_that_cannot_start_keeps_the_running_generation() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    let ini = dir.path().join("app.ini");
    let good = format!(
        "[uwsgi]\nchdir = {}\nmodule = pep3333\nprocesses = 2\nhttp-socket = 127.0.0.1:0\n",
        apps_dir().display()
    );
    std::fs::write(&ini, &good).unwrap();
    let (notify, builder) = with_notify_socket(dir.path(), server());
    let server = builder
        .args(["--ini", ini.to_str().unwrap()])
        .env("RUNTIME_DIRECTORY", runtime.to_str().unwrap())
        .workers(2)
        .start();
    notify.wait_for("READY=1");
    let addr = http_address_in(&server.log());
    let workers = started_workers(&server.log());
    assert_eq!(workers.len(), 2);
    // A pidfile in a directory that does not exist: parsing passes, writing fails.
    let pidfile = dir.path().join("missing").join("app.pid");
    std::fs::write(&ini, format!("{good}pidfile = {}\n", pidfile.display())).unwrap();
    server.signal(1);
    let status = runtime.join("reload.status");
    let outcome = wait_for_file(&status, Duration::from_secs(15));
    assert!(
        outcome.starts_with(&format!(
            "failed: cannot write pidfile {}",
            pidfile.display()
        )),
        "{outcome}"
    );
    let messages = notify.wait_for("STATUS=reload failed: cannot write pidfile");
    let failed = messages
        .iter()
        .find(|m| m.contains("STATUS=reload failed"))
        .unwrap();
    assert!(failed.contains("READY=1"), "the reload is over: {failed}");
    for pid in &workers {
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), None).is_ok(),
            "worker {pid} of the running generation is gone: {}",
            server.log()
        );
    }
    for _ in 0..4 {
        let response = request(
            addr,
            "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(response.status, 200, "{}", server.log());
    }
    // Fixed, the next reload completes and replaces the workers.
    std::fs::remove_file(&status).unwrap();
    std::fs::write(&ini, &good).unwrap();
    server.signal(1);
    assert_eq!(wait_for_file(&status, Duration::from_secs(15)), "ok\n");
    server.wait_for_log("reload complete", Duration::from_secs(15));
    let response = request(
        addr,
        "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    // A step before the master runs (logto, in entry) is held the same way.
    std::fs::remove_file(&status).unwrap();
    let logto = dir.path().join("missing").join("app.log");
    std::fs::write(&ini, format!("{good}logto = {}\n", logto.display())).unwrap();
    server.signal(1);
    let outcome = wait_for_file(&status, Duration::from_secs(15));
    assert!(
        outcome.starts_with(&format!("failed: logto {}", logto.display())),
        "{outcome}"
    );
    let response = request(
        addr,
        "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200, "{}", server.log());
}

#[test]
fn an_app_that_cannot_import_is_ready_with_lazy_apps_unless_need_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.py"),
        "raise ImportError('cannot import on purpose')\n",
    )
    .unwrap();
    let app_dir = dir.path().to_str().unwrap().to_string();
    let (notify, builder) = with_notify_socket(dir.path(), server());
    let server = builder
        .args(["--chdir", &app_dir, "--module", "broken", "--lazy-apps"])
        .args(["--processes", "2"])
        .workers(2)
        .http()
        .start();
    let messages = notify.wait_for("READY=1");
    let ready = messages.iter().find(|m| m.contains("READY=1")).unwrap();
    assert!(
        ready.contains("STATUS=the application did not load"),
        "{ready}"
    );
    assert_eq!(server.get("/").status, 500);
    assert!(server.log().contains("cannot import on purpose"));
    assert!(!server.log().contains("respawning"), "{}", server.log());
    // With need-app the start fails at once.
    let started = Instant::now();
    let output = Command::new(bin())
        .args(["--chdir", &app_dir, "--module", "broken", "--lazy-apps"])
        .args(["--need-app", "--http-socket", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(22));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn ini_unix_socket_lines_are_skipped_under_socket_activation() {
    let dir = tempfile::tempdir().unwrap();
    let passed = dir.path().join("app.sock");
    let own = dir.path().join("own").join("legacy.sock");
    let ini = dir.path().join("legacy.ini");
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nchdir = {}\nsocket = {}\nmodule = pep3333\n",
            apps_dir().display(),
            own.display()
        ),
    )
    .unwrap();
    let server = server()
        .wrapped([
            "systemd-socket-activate".to_string(),
            "-l".into(),
            passed.display().to_string(),
        ])
        .args(["--ini", ini.to_str().unwrap()])
        .args(["--socket", passed.to_str().unwrap()])
        .no_wait()
        .start();
    wait_unix_listening(&passed, Duration::from_secs(10));
    let response = uwsgi_request(&passed, &nginx_vars("GET", "/ok", ""), b"");
    assert_eq!(response.status, 200, "{}", server.log());
    let log = server.wait_for_log("ready:", Duration::from_secs(10));
    assert!(
        log.contains(&format!(
            "{}:3: socket {} skipped: systemd passes this service its socket ({})",
            ini.display(),
            own.display(),
            passed.display()
        )),
        "{log}"
    );
    assert!(!own.exists());
}

#[test]
fn the_apps_output_keeps_its_level_and_the_instance_identifier() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logs.py"),
        r#"import logging
import sys

logging.basicConfig()


def application(environ, start_response):
    try:
        raise ValueError("logged on purpose")
    except ValueError:
        logging.getLogger("t").exception("the app failed")
    print("WARNING: careful", file=sys.stderr)
    print("plain output")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"#,
    )
    .unwrap();
    let journal_path = dir.path().join("journal.sock");
    let journal = DatagramLog::bind(&journal_path);
    let (reader, writer) = std::io::pipe().unwrap();
    let stat = nix::sys::stat::fstat(&writer).unwrap();
    let port = free_port();
    let mut child = Command::new(bin())
        .args(["--chdir", dir.path().to_str().unwrap(), "--module", "logs"])
        .args(["--http-socket", &format!("127.0.0.1:{port}")])
        .env("JOURNAL_STREAM", format!("{}:{}", stat.st_dev, stat.st_ino))
        .env("RWSGI_JOURNAL_SOCKET", &journal_path)
        .env("RWSGI_SYSLOG_IDENTIFIER", "rwsgi-demo")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    drop(reader);
    journal.wait_for("worker 1 started");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let response = request(
        addr,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    journal.wait_for("plain output");
    let entries: Vec<BTreeMap<String, String>> = journal
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| parse_entry(m))
        .collect();
    for entry in &entries {
        assert_eq!(entry["SYSLOG_IDENTIFIER"], "rwsgi-demo", "{entry:?}");
    }
    let message = |needle: &str| {
        entries
            .iter()
            .find(|e| e["MESSAGE"].contains(needle))
            .unwrap_or_else(|| panic!("no entry with {needle:?}: {entries:#?}"))
    };
    let failure = message("ERROR:t:the app failed");
    assert_eq!(failure["PRIORITY"], "3");
    assert!(failure["MESSAGE"].contains("Traceback (most recent call last)"));
    assert!(failure["MESSAGE"].contains("ValueError: logged on purpose"));
    assert_eq!(failure["WORKER_ID"], "1");
    assert_eq!(message("WARNING: careful")["PRIORITY"], "4");
    assert_eq!(message("plain output")["PRIORITY"], "6");
    let _ = child.kill();
    let _ = child.wait();
}
