//! Recycling, reloads, killed workers and harakiri under load from several keep-alive
//! clients: no request may fail. These check behaviour, not speed.

mod common;

use std::collections::BTreeSet;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// What the load clients saw.
#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    /// Sent on a connection that died before any response byte; retried once on a new
    /// connection, as HTTP clients do for idempotent requests (RFC 9110 §9.2.2).
    retried: u64,
    failed: u64,
    /// (seconds since start, body) of each response.
    answers: Vec<(f64, String)>,
}

struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Tally>>,
}

impl Load {
    /// `clients` keep-alive connections, each sending `path` back to back.
    fn start(addr: SocketAddr, clients: usize, path: &'static str, began: Instant) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || client_loop(addr, path, &stop, began))
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for thread in self.threads {
            let tally = thread.join().unwrap();
            total.ok += tally.ok;
            total.retried += tally.retried;
            total.failed += tally.failed;
            total.answers.extend(tally.answers);
        }
        total.answers.sort_by(|a, b| a.0.total_cmp(&b.0));
        total
    }
}

fn client_loop(addr: SocketAddr, path: &str, stop: &AtomicBool, began: Instant) -> Tally {
    let mut tally = Tally::default();
    let raw = format!("GET {path} HTTP/1.1\r\nHost: load\r\n\r\n");
    let mut connection: Option<BufReader<std::net::TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reader = connection.get_or_insert_with(|| BufReader::new(connect(addr)));
            let sent = reader.get_mut().write_all(raw.as_bytes()).is_ok();
            let response = if sent {
                read_response(reader, false)
            } else {
                None
            };
            match response {
                Some(response) if response.status == 200 => {
                    tally.ok += 1;
                    tally
                        .answers
                        .push((began.elapsed().as_secs_f64(), response.text()));
                    if response.header("connection") == Some("close") {
                        connection = None;
                    }
                    break;
                }
                Some(response) => {
                    tally.failed += 1;
                    eprintln!("load client: status {}", response.status);
                    connection = None;
                    break;
                }
                None => {
                    connection = None;
                    if attempts == 1 {
                        tally.retried += 1;
                        continue;
                    }
                    tally.failed += 1;
                    break;
                }
            }
        }
    }
    tally
}

fn pep3333(extra: &[&str], workers: usize) -> Server {
    pep3333_builder()
        .args(["--disable-logging"])
        .args(extra)
        .workers(workers)
        .http()
        .start()
}

#[test]
fn recycling_every_200_requests_loses_nothing() {
    let server = pep3333(
        &[
            "--processes",
            "2",
            "--max-requests",
            "200",
            "--min-worker-lifetime",
            "0",
        ],
        2,
    );
    let began = Instant::now();
    let load = Load::start(server.addr(), 6, "/pid", began);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.log().matches("retired: exited").count() < 6 {
        assert!(
            Instant::now() < deadline,
            "workers did not recycle:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tally = load.finish();
    assert_eq!(tally.failed, 0, "{tally:?}");
    let pids: BTreeSet<&String> = tally.answers.iter().map(|(_, pid)| pid).collect();
    assert!(pids.len() >= 6, "several generations served: {pids:?}");
    eprintln!("recycling: {} ok, {} retried", tally.ok, tally.retried);
}

#[test]
fn max_requests_delta_staggers_workers() {
    let server = pep3333(
        &[
            "--processes",
            "2",
            "--max-requests",
            "20",
            "--max-requests-delta",
            "30",
            "--min-worker-lifetime",
            "0",
        ],
        2,
    );
    let load = Load::start(server.addr(), 4, "/pid", Instant::now());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .log()
        .contains("rwsgi worker 2: draining (max-requests reached) after 50 request(s)")
    {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let tally = load.finish();
    assert_eq!(tally.failed, 0);
    let log = server.log();
    assert!(
        log.contains("rwsgi worker 1: draining (max-requests reached) after 20 request(s)"),
        "{log}"
    );
}

#[test]
fn sighup_reload_loses_nothing_and_serves_new_code() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("versioned.py");
    let write_app = |version: &str| {
        std::fs::write(
            &app,
            format!(
                "import os\nVERSION = {version:?}\n\ndef application(environ, start_response):\n    body = ('%s %d' % (VERSION, os.getpid())).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n    return [body]\n"
            ),
        )
        .unwrap();
    };
    write_app("v1");
    let server = server()
        .args([
            "--chdir",
            dir.path().to_str().unwrap(),
            "--module",
            "versioned",
            "--processes",
            "2",
            "--disable-logging",
        ])
        .workers(2)
        .http()
        .start();
    let began = Instant::now();
    let load = Load::start(server.addr(), 6, "/", began);
    std::thread::sleep(Duration::from_millis(500));
    // Another length: a source rewritten within the second it was compiled, at the same
    // size, would pass the .pyc check (mtime in seconds and size) and v1 would be served.
    write_app("v2.0");
    let reload_at = began.elapsed().as_secs_f64();
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(20));
    let old_gone = server.wait_for_log("retired: exited", Duration::from_secs(20));
    // Wait until both old workers have exited.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.log().matches("retired: exited").count() < 2 {
        assert!(Instant::now() < deadline, "{old_gone}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let all_old_exited = began.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let tally = load.finish();
    assert_eq!(tally.failed, 0, "{tally:?}");
    let served_v1 = tally
        .answers
        .iter()
        .filter(|(_, b)| b.starts_with("v1"))
        .count();
    let served_v2 = tally
        .answers
        .iter()
        .filter(|(_, b)| b.starts_with("v2"))
        .count();
    assert!(
        served_v1 > 0 && served_v2 > 0,
        "v1 {served_v1}, v2 {served_v2}"
    );
    let late_v1 = tally
        .answers
        .iter()
        .filter(|(t, b)| *t > all_old_exited && b.starts_with("v1"))
        .count();
    assert_eq!(
        late_v1, 0,
        "an old worker served after the reload completed"
    );
    assert!(
        tally
            .answers
            .iter()
            .any(|(t, b)| *t > reload_at && b.starts_with("v1")),
        "old workers served during the reload"
    );
    assert_eq!(server.get("/").text().split(' ').next(), Some("v2.0"));
    let log = server.log();
    assert!(log.contains("SIGHUP: reloading"), "{log}");
    eprintln!("reload: {} ok, {} retried", tally.ok, tally.retried);
}

#[test]
fn a_killed_worker_loses_nothing() {
    let server = pep3333(&["--processes", "2"], 2);
    let load = Load::start(server.addr(), 6, "/pid", Instant::now());
    std::thread::sleep(Duration::from_millis(500));
    // Kill every worker in turn, so whichever holds the load's connections dies under it.
    let victims: Vec<String> = server
        .log()
        .lines()
        .filter_map(|l| l.split("started (pid ").nth(1))
        .map(|p| p.trim_end_matches(')').to_string())
        .collect();
    assert_eq!(victims.len(), 2);
    for victim in &victims {
        let _ = std::process::Command::new("kill")
            .args(["-9", victim])
            .status();
        server.wait_for_log(
            &format!("(pid {victim}) killed by SIGKILL"),
            Duration::from_secs(10),
        );
        std::thread::sleep(Duration::from_millis(1000));
    }
    let tally = load.finish();
    assert_eq!(tally.failed, 0, "{tally:?}");
    let served_by_victims = tally
        .answers
        .iter()
        .filter(|(_, pid)| victims.contains(pid))
        .count();
    assert!(served_by_victims > 0, "the load reached the killed workers");
    eprintln!("kill: {} ok, {} retried", tally.ok, tally.retried);
}

#[test]
fn harakiri_kills_a_stuck_request_and_the_worker_serves_again() {
    let server = pep3333_server(&["--harakiri", "2"]);
    let began = Instant::now();
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /sleep?20 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_response(&mut BufReader::new(stream), false);
    assert!(response.is_none(), "the stuck request gets no response");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "ended within a few seconds, not 20"
    );
    let log = server.wait_for_log("harakiri: worker 1", Duration::from_secs(5));
    assert!(log.contains("serving GET /sleep?20"), "{log}");
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn sigusr1_logs_what_each_worker_is_doing() {
    let server = pep3333_server(&[]);
    let slow = server.sleeping_in_background("2");
    server.signal(10);
    let log = server.wait_for_log("thread 0: GET /sleep?2 for", Duration::from_secs(5));
    assert!(log.contains("request(s)"), "{log}");
    assert_eq!(slow.join().unwrap().status, 200);
}

#[test]
fn max_worker_lifetime_and_reload_on_rss_recycle() {
    let server = pep3333_server(&["--max-worker-lifetime", "1"]);
    let first: i32 = server.get("/pid").text().parse().unwrap();
    server.wait_for_log("max-worker-lifetime reached", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/pid").text().parse::<i32>().unwrap() == first {
        assert!(Instant::now() < deadline);
    }
    // A worker above 1 MiB resident (all of them) drains after its first request.
    let server = pep3333_server(&["--reload-on-rss", "1", "--min-worker-lifetime", "0"]);
    let first: i32 = server.get("/pid").text().parse().unwrap();
    server.wait_for_log("draining (reload-on-rss:", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/pid").text().parse::<i32>().unwrap() == first {
        assert!(Instant::now() < deadline);
    }
}

#[test]
fn touch_reload_reloads_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let trigger = dir.path().join("reload.trigger");
    std::fs::write(&trigger, "1").unwrap();
    let server = pep3333_server(&["--touch-reload", trigger.to_str().unwrap()]);
    let before: i32 = server.get("/import-pid").text().parse().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&trigger, "2").unwrap();
    server.wait_for_log("touch-reload: reloading", Duration::from_secs(5));
    server.wait_for_log("reload complete", Duration::from_secs(10));
    // Same master pid (re-exec), the app imported again.
    assert_eq!(
        server.get("/import-pid").text().parse::<i32>().unwrap(),
        before
    );
    assert!(server.log().matches("application loaded").count() >= 2);
}

#[test]
fn a_reload_with_a_broken_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nchdir = {}\nmodule = pep3333\nhttp-socket = 127.0.0.1:0\n",
            apps_dir().display()
        ),
    )
    .unwrap();
    let server = server().args(["--ini", ini.to_str().unwrap()]).start();
    let log = server.log();
    let addr = http_address_in(&log);
    std::fs::write(&ini, "[uwsgi]\nprocesses = many\n").unwrap();
    server.signal(1);
    server.wait_for_log(
        "reload refused, the configuration is invalid",
        Duration::from_secs(5),
    );
    let response = request(
        addr,
        "GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
}

#[test]
fn relative_paths_mean_the_same_after_a_reload() {
    // Started with `--ini` and `chdir` relative to the launch folder: the reloaded image
    // must find both again, although the master now runs in the app's folder.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(apps_dir(), dir.path().join("apps")).unwrap();
    std::fs::write(
        dir.path().join("app.ini"),
        "[uwsgi]\nchdir = apps\nmodule = pep3333\n",
    )
    .unwrap();
    let child = std::process::Command::new(bin())
        .current_dir(dir.path())
        .args(["--ini", "app.ini", "--http-socket", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server::adopt(child, 1);
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(10));
    assert_eq!(server.get("/ok").status, 200);
    assert!(!server.log().contains("error"), "{}", server.log());
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Every pid in `pids` is gone (stopped with its process group).
fn assert_none_outlived(pids: &[i32], server: &Server) {
    for pid in pids {
        assert!(
            !alive(*pid),
            "pid {pid} outlived the stop\n{}",
            server.log()
        );
    }
}

/// The pids the daemon script below recorded: its shell's, then its grandchild's.
fn recorded_pids(file: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn wait_for_pids(file: &std::path::Path, count: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids = recorded_pids(file);
        if pids.len() >= count {
            return pids;
        }
        assert!(Instant::now() < deadline, "only {pids:?} recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An attach-daemon started through a shell that starts a grandchild (as `./manage.py`
/// run by dash): stop and reload stop its whole process group, nothing is restarted while
/// the master stops it, and exactly one instance runs after a reload.
#[test]
fn attach_daemon_process_group_stops_whole_on_reload_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = dir.path().join("daemon.sh");
    std::fs::write(
        &script,
        format!(
            "echo $$ >> {pids}\nsleep 3600 &\necho $! >> {pids}\nwait\n",
            pids = pids.display()
        ),
    )
    .unwrap();
    let command = format!("sh {}", script.display());
    let mut server = pep3333(&["--attach-daemon", &command], 1);
    let first = wait_for_pids(&pids, 2);
    assert!(first.iter().all(|p| alive(*p)), "{first:?}");

    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(30));
    let all = wait_for_pids(&pids, 4);
    for pid in &first {
        assert!(
            !alive(*pid),
            "pid {pid} of the first daemon outlived the reload"
        );
    }
    let running: Vec<i32> = all.iter().copied().filter(|p| alive(*p)).collect();
    assert_eq!(
        running,
        all[2..4].to_vec(),
        "exactly one instance after the reload"
    );

    assert!(server.stop().success());
    let all = recorded_pids(&pids);
    assert_eq!(all.len(), 4, "no daemon started while stopping: {all:?}");
    assert_none_outlived(&all, &server);
    let log = server.log();
    let stop_at = log.find("graceful stop").expect("stop logged");
    assert!(
        !log[stop_at..].contains("restarting"),
        "a daemon the master stops is not restarted:\n{log}"
    );
}

/// attach-daemon2 (uWSGI's key=value form): its own process group too, stopped whole with
/// its `stopsignal`.
#[test]
fn attach_daemon2_stops_its_group_with_its_stop_signal() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let marks = dir.path().join("marks");
    let script = dir.path().join("daemon.sh");
    std::fs::write(
        &script,
        format!(
            "echo $$ >> {pids}\ntrap 'echo usr1 >> {marks}; exit 0' USR1\nsleep 3600 &\necho $! >> {pids}\nwait\n",
            pids = pids.display(),
            marks = marks.display()
        ),
    )
    .unwrap();
    let spec = format!("cmd=sh {},stopsignal=10", script.display());
    let mut server = pep3333(&["--attach-daemon2", &spec], 1);
    let started = wait_for_pids(&pids, 2);
    assert!(server.stop().success());
    assert_none_outlived(&started, &server);
    assert_eq!(
        std::fs::read_to_string(&marks).unwrap_or_default(),
        "usr1\n",
        "stopped by its stopsignal\n{}",
        server.log()
    );
}

/// A daemon group that ignores its stop signal is killed after the grace period, and the
/// master waits for it before it exits.
#[test]
fn a_daemon_group_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = dir.path().join("stubborn.sh");
    std::fs::write(
        &script,
        format!(
            "trap '' TERM\necho $$ >> {pids}\nsleep 3600 &\necho $! >> {pids}\nwait\n",
            pids = pids.display()
        ),
    )
    .unwrap();
    let command = format!("sh {}", script.display());
    let mut server = pep3333(&["--attach-daemon", &command], 1);
    let started = wait_for_pids(&pids, 2);
    assert!(server.stop().success());
    assert_none_outlived(&started, &server);
    assert!(
        server.log().contains("still running after 5 s: killing it"),
        "{}",
        server.log()
    );
}

/// A cron command still running when the server stops is stopped with its process group
/// (its shell and the shell's children). Cron fires at the next minute: up to 60 s.
#[test]
fn a_running_cron_command_is_stopped_with_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = dir.path().join("job.sh");
    std::fs::write(
        &script,
        format!(
            "echo $$ >> {pids}\nsleep 3600 &\necho $! >> {pids}\nwait\n",
            pids = pids.display()
        ),
    )
    .unwrap();
    let cron = format!("-1 -1 -1 -1 -1 sh {}", script.display());
    let mut server = pep3333(&["--unique-cron", &cron], 1);
    let deadline = Instant::now() + Duration::from_secs(75);
    let started = loop {
        let recorded = recorded_pids(&pids);
        if recorded.len() >= 2 {
            break recorded;
        }
        assert!(
            Instant::now() < deadline,
            "the cron job never ran\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(server.stop().success());
    assert_none_outlived(&started, &server);
}

/// Clients of nginx (on its unix socket), each request on a new connection as browsers
/// behind a proxy do: (status of each response or 0 for none, in order of arrival).
fn nginx_load(
    front: std::path::PathBuf,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<u16>>> {
    (0..clients)
        .map(|_| {
            let front = front.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&front) else {
                        statuses.push(0);
                        continue;
                    };
                    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    let sent = stream
                        .write_all(
                            b"GET /sleep?0.01 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                        )
                        .is_ok();
                    let response = sent
                        .then(|| read_response(&mut BufReader::new(stream), false))
                        .flatten();
                    statuses.push(response.map_or(0, |r| r.status));
                }
                statuses
            })
        })
        .collect()
}

fn inode(path: &std::path::Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

/// Behind a real nginx on the unix socket rwsgi created: workers recycled by max-requests
/// and a SIGHUP reload under continuous load give no 502 (nor any other failure), and the
/// socket nginx connects to is the same file (inode) after the reload.
#[test]
fn reload_and_recycling_behind_nginx_give_no_502() {
    let server = pep3333_builder()
        .args([
            "--processes",
            "2",
            "--max-requests",
            "25",
            "--min-worker-lifetime",
            "0",
            "--disable-logging",
        ])
        .workers(2)
        .uwsgi()
        .start();
    let socket = server.uwsgi.clone().unwrap();
    let before = inode(&socket);
    let nginx = common::nginx::Nginx::start(&socket);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = nginx_load(nginx.front.clone(), 4, stop.clone());
    // Recycling: several workers retire (max-requests) while the load runs.
    server.wait_for_count("retired: exited", 6, Duration::from_secs(60));
    // A reload: the new generation takes over the same socket. (The old workers may end
    // by max-requests before the new ones are ready: then no "reload complete" is logged.)
    let retired = server.log().matches("retired: exited").count();
    server.signal(1);
    server.wait_for_count("ready: ", 2, Duration::from_secs(30));
    // And the new generation serves (and recycles) under the load too.
    let log = server.wait_for_count("retired: exited", retired + 4, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed ({:?}); nginx:\n{}\nrwsgi:\n{log}",
        failed.len(),
        statuses.len(),
        failed.iter().collect::<BTreeSet<_>>(),
        nginx.error_log()
    );
    assert!(log.contains("SIGHUP: reloading"), "{log}");
    assert_eq!(inode(&socket), before, "the reload kept the socket file");
    eprintln!("behind nginx: {} requests, none failed", statuses.len());
}

/// A request that outlives worker-reload-mercy when its worker is retired by a reload is
/// cut: the old worker is killed, the new generation serves.
#[test]
fn worker_reload_mercy_kills_a_request_that_outlives_it() {
    let server = pep3333_server(&["--worker-reload-mercy", "2"]);
    let old: i32 = server.get("/pid").text().parse().unwrap();
    let addr = server.addr();
    let slow = std::thread::spawn(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /sleep?25 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut BufReader::new(stream), false)
    });
    server.wait_for_log("app: sleeping 25", Duration::from_secs(10));
    let began = Instant::now();
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(20));
    let log = server.wait_for_log(
        &format!("(pid {old}) still busy after worker-reload-mercy: killing it"),
        Duration::from_secs(15),
    );
    assert!(slow.join().unwrap().is_none(), "the request was cut");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "cut by the mercy, not finished by the app"
    );
    let new: i32 = server.get("/pid").text().parse().unwrap();
    assert_ne!(new, old, "{log}");
}

/// Two workers of 4 threads, recycled after `max_requests` requests each, however young.
fn threaded_recycling(max_requests: &str) -> Server {
    let args = [
        "--processes",
        "2",
        "--threads",
        "4",
        "--max-requests",
        max_requests,
    ];
    pep3333(&[&args[..], &["--min-worker-lifetime", "0"]].concat(), 2)
}

/// Workers with several threads: recycling (max-requests) while every thread has a request
/// in flight loses nothing: each thread's request finishes before the worker goes. Each
/// request has its own connection (Connection: close), so no keep-alive race can excuse a
/// lost one: any request without a 200 is a failure.
#[test]
fn threaded_workers_recycle_without_losing_requests() {
    let server = threaded_recycling("40");
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let mut stream = connect(addr);
                    let outcome = match stream.write_all(
                        b"GET /sleep?0.02 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    ) {
                        Err(e) => Err(format!("write: {e}")),
                        Ok(()) => match read_response(&mut BufReader::new(stream), false) {
                            Some(r) if r.status == 200 => Ok(()),
                            Some(r) => Err(format!("status {}", r.status)),
                            None => Err("no response".to_string()),
                        },
                    };
                    outcomes
                        .push(outcome.map_err(|e| format!("{e} after {:?}", started.elapsed())));
                }
                outcomes
            })
        })
        .collect();
    server.wait_for_count("retired: exited", 6, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Result<(), String>> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let lost: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        lost.is_empty(),
        "{} of {} requests failed: {lost:?}; log:\n{}",
        lost.len(),
        outcomes.len(),
        server.log()
    );
    assert!(outcomes.len() >= 240, "six workers' worth of requests");
}

/// Threaded workers recycled every 4 requests: each fresh worker's first requests build their
/// environs on several threads at once. A thread that waited for the environ string cache's
/// lock while holding the GIL, as the holder waited for the GIL, hung the worker for good
/// (seen within a few thousand requests, every time, before the cache stopped waiting).
#[test]
fn threaded_workers_recycled_every_few_requests_never_hang() {
    let server = threaded_recycling("4");
    let addr = server.addr();
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let answered = answered.clone();
            std::thread::spawn(move || -> Result<(), String> {
                while answered.load(Ordering::Relaxed) < 4000 {
                    let started = Instant::now();
                    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    stream
                        .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .map_err(|e| e.to_string())?;
                    match read_response(&mut BufReader::new(stream), false) {
                        Some(r) if r.status == 200 => answered.fetch_add(1, Ordering::Relaxed),
                        other => {
                            return Err(format!(
                                "{:?} after {:?}",
                                other.map(|r| r.status),
                                started.elapsed()
                            ))
                        }
                    };
                }
                Ok(())
            })
        })
        .collect();
    let failures: Vec<String> = clients
        .into_iter()
        .filter_map(|c| c.join().unwrap().err())
        .collect();
    assert!(
        failures.is_empty(),
        "after {} answers: {failures:?} (None: no answer)",
        answered.load(Ordering::Relaxed)
    );
}

/// A connection the worker accepted before it began to drain is owed its first request,
/// however late the client sends it: only idle keep-alive connections are closed after the
/// drain's short grace (a loaded client lost requests to that grace during recycling).
#[test]
fn a_connection_accepted_before_the_drain_is_still_served() {
    let server = pep3333_server(&["--max-requests", "2", "--min-worker-lifetime", "0"]);
    let mut waiting = connect(server.addr());
    // Accepted at once by the idle worker; its request comes after the drain began.
    assert_eq!(server.get("/ok").status, 200);
    assert_eq!(server.get("/ok").status, 200);
    server.wait_for_log("draining (max-requests", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500)); // longer than the drain's grace
    waiting
        .write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_response(&mut BufReader::new(waiting), false)
        .expect("an answer, not a closed connection");
    assert_eq!(response.status, 200);
}

/// Harakiri in a worker with threads: the stuck request is cut within a few seconds and
/// a new worker serves; a request in another thread of that worker meanwhile was answered.
#[test]
fn harakiri_with_threads_replaces_the_worker() {
    let server = pep3333_server(&["--threads", "4", "--harakiri", "2"]);
    let old: i32 = server.get("/pid").text().parse().unwrap();
    let addr = server.addr();
    let began = Instant::now();
    let stuck = std::thread::spawn(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /sleep?25 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut BufReader::new(stream), false)
    });
    server.wait_for_log("app: sleeping 25", Duration::from_secs(10));
    // Another thread of the same worker answers while the first is stuck.
    assert_eq!(server.get("/pid").text(), old.to_string());
    assert!(stuck.join().unwrap().is_none(), "the stuck request is cut");
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "ended by harakiri, not by the app"
    );
    let log = server.wait_for_log("harakiri: worker 1", Duration::from_secs(5));
    assert!(log.contains("serving GET /sleep?25"), "{log}");
    let new: i32 = server.get("/pid").text().parse().unwrap();
    assert_ne!(new, old);
}

/// reload-on-as: a worker whose address space passes the limit after a request drains and
/// is replaced.
#[test]
fn reload_on_as_recycles_the_worker() {
    let server = pep3333_server(&["--reload-on-as", "8", "--min-worker-lifetime", "0"]);
    // A worker with an embedded CPython maps more than 8 MiB of address space (about 28).
    let first: i32 = server.get("/pid").text().parse().unwrap();
    let log = server.wait_for_log("draining (reload-on-as:", Duration::from_secs(10));
    assert!(log.contains("MiB address space"), "{log}");
    server.wait_for_log(&format!("(pid {first}) retired"), Duration::from_secs(10));
    let second: i32 = server.get("/pid").text().parse().unwrap();
    assert_ne!(first, second);
}

/// An alarm command (run by the master for a worker's log line) whose shell starts a
/// grandchild: it runs in a process group of its own, a reload stops the whole group before
/// the next image starts, and a stop leaves none of its processes behind.
#[test]
fn alarm_commands_are_stopped_with_their_group_on_reload_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = dir.path().join("alarm.sh");
    std::fs::write(
        &script,
        format!(
            "echo $$ >> {pids}\nsleep 300 &\necho $! >> {pids}\nwait\n",
            pids = pids.display()
        ),
    )
    .unwrap();
    let alarm = format!("ops cmd:sh {}", script.display());
    let mut server = pep3333(&["--alarm", &alarm, "--alarm-log", "ops Traceback"], 1);
    assert_eq!(server.get("/error").status, 500);
    let first = wait_for_pids(&pids, 2);
    assert!(first.iter().all(|p| alive(*p)), "{first:?}");
    let group_of = |pid: i32| nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).ok();
    assert_eq!(group_of(first[0]), group_of(first[1]), "one group");
    assert_ne!(
        group_of(first[0]),
        group_of(server.pid()),
        "a group of its own, not the master's"
    );

    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(30));
    for pid in &first {
        assert!(
            !alive(*pid),
            "pid {pid} of the first alarm command outlived the reload\n{}",
            server.log()
        );
    }

    assert_eq!(server.get("/error").status, 500);
    let deadline = Instant::now() + Duration::from_secs(20);
    while recorded_pids(&pids).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the second alarm never ran: {:?}\n{}",
            recorded_pids(&pids),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let all = recorded_pids(&pids);
    let second = all[2..4].to_vec();
    assert!(second.iter().all(|p| alive(*p)), "{second:?}");
    assert!(server.stop().success());
    assert_none_outlived(&all, &server);
    let log = server.log();
    assert!(log.contains("alarm ops: process group"), "{log}");
    assert!(
        !log.contains("killing it"),
        "the stop signal (SIGTERM) stops the group, no SIGKILL needed:\n{log}"
    );
}

/// A worker of the previous generation finishing its request after a reload raises an
/// alarm: the new master image runs it (the alarm channel is passed across the exec).
#[test]
fn an_alarm_raised_by_a_worker_finishing_after_a_reload_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let alarm = format!("late cmd:echo ran >> {}", ran.display());
    // The old worker logs this line when the new generation sends it SIGTERM.
    let mut server = pep3333(
        &[
            "--alarm",
            &alarm,
            "--alarm-log",
            r"late draining \(SIGTERM\)",
        ],
        1,
    );
    let slow = server.sleeping_in_background("5");
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(30));
    assert!(
        !slow.is_finished(),
        "the request ended before the reload completed: nothing tested\n{}",
        server.log()
    );
    assert_eq!(slow.join().unwrap().status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ran.exists() {
        assert!(
            Instant::now() < deadline,
            "the old worker's alarm never ran\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.stop().success());
}

/// The worker pids in the stats document read from the unix socket `path`.
fn stats_worker_pids(path: &std::path::Path) -> Vec<i64> {
    use std::io::Read;
    let mut text = String::new();
    std::os::unix::net::UnixStream::connect(path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["pid"].as_i64())
        .collect()
}

/// The stats socket rwsgi bound as root, in a directory only root may write, before the
/// master dropped to `nobody`: the reloaded image (as `nobody`) can neither unlink nor bind
/// it again, so the socket is passed on across the reload like the listeners, and the new
/// generation answers on it.
#[test]
fn a_reload_keeps_the_stats_socket_of_a_master_that_dropped_privileges() {
    use std::os::unix::fs::PermissionsExt;
    let _traverse = RootTraversable::grant();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let stats = dir.path().join("stats.sock");
    let mut server = pep3333(
        &[
            "--uid",
            "nobody",
            "--gid",
            "nogroup",
            "--stats",
            stats.to_str().unwrap(),
        ],
        1,
    );
    let before = stats_worker_pids(&stats);
    assert_eq!(before.len(), 1, "{before:?}");
    server.signal(1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = server.log();
        if log.contains("reload complete") || log.contains("reload failed") {
            break log;
        }
        assert!(Instant::now() < deadline, "no reload outcome\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!log.contains("reload failed"), "{log}");
    assert!(!log.contains("Address already in use"), "{log}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = stats_worker_pids(&stats);
        if after.len() == 1 && after != before {
            break;
        }
        assert!(Instant::now() < deadline, "{before:?} then {after:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.stop().success());
}
