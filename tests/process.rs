//! The master and its workers: recycling, respawning, graceful and immediate stops.

mod common;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use common::*;

fn pid_of(response: &Response) -> i32 {
    response.text().parse().unwrap()
}

#[test]
fn max_requests_recycles_the_worker_and_announces_close() {
    let server = pep3333_server(&["--max-requests", "5", "--min-worker-lifetime", "0"]);
    let mut stream = connect(server.addr());
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first_pid = 0;
    for n in 1..=5 {
        stream
            .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let response = read_response(&mut reader, false).unwrap();
        if n == 1 {
            first_pid = pid_of(&response);
        }
        assert_eq!(pid_of(&response), first_pid);
        let announced = response.header("connection") == Some("close");
        assert_eq!(
            announced,
            n == 5,
            "request {n}: Connection: close only on the last one"
        );
    }
    server.wait_for_log("worker 1 (pid", Duration::from_secs(10));
    let log = server.wait_for_log("worker 1 started (pid", Duration::from_secs(10));
    assert!(
        log.matches("worker 1 started").count() >= 2 || log.contains("respawning"),
        "{log}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = pid_of(&server.get("/pid"));
        if pid != first_pid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the recycled worker kept serving"
        );
    }
}

#[test]
fn min_worker_lifetime_holds_back_recycling() {
    // uWSGI's default: a worker younger than 10 s is not recycled by max-requests.
    let server = pep3333_server(&["--max-requests", "2"]);
    let pids: std::collections::BTreeSet<i32> =
        (0..6).map(|_| pid_of(&server.get("/pid"))).collect();
    assert_eq!(pids.len(), 1);
    assert!(!server.log().contains("draining"));
}

#[test]
fn dead_workers_are_logged_and_respawned() {
    let server = pep3333_server(&[]);
    let first = pid_of(&server.get("/pid"));
    let _ = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status();
    server.wait_for_log(
        &format!("worker 1 (pid {first}) killed by SIGKILL"),
        Duration::from_secs(10),
    );
    let second = pid_of(&server.get("/pid"));
    assert_ne!(first, second);
    // A worker that exits on its own (os._exit) is respawned too, with its status logged.
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /exit HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    server.wait_for_log(
        &format!("worker 1 (pid {second}) exited with status 3"),
        Duration::from_secs(10),
    );
    // A crash right after start backs off before respawning, so it comes back within ~1 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = connect(server.addr());
        stream
            .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        if let Some(response) = read_response(&mut BufReader::new(stream), false) {
            assert_ne!(pid_of(&response), second);
            break;
        }
        assert!(Instant::now() < deadline, "no worker came back");
    }
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_zero() {
    let mut server = pep3333_server(&[]);
    let addr = server.addr();
    let slow = server.sleeping_in_background("2");
    server.signal(15);
    let status = server.wait_exit(Duration::from_secs(20));
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "slept");
    assert!(status.success(), "{status:?}");
    let log = server.log();
    assert!(log.contains("graceful stop"), "{log}");
    assert!(log.contains("goodbye"), "{log}");
    // New connections are refused once the master is gone.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn sigterm_closes_idle_keep_alive_connections() {
    let mut server = pep3333_server(&[]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    let began = Instant::now();
    server.signal(15);
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success());
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "an idle client must not hold the stop for the mercy period"
    );
}

#[test]
fn sigint_stops_immediately() {
    let mut server = pep3333_server(&[]);
    let addr = server.addr();
    let slow = std::thread::spawn(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /sleep?30 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut BufReader::new(stream), false)
    });
    server.wait_for_log("app: sleeping 30", Duration::from_secs(10));
    server.signal(2);
    server.wait_exit(Duration::from_secs(10));
    assert!(
        slow.join().unwrap().is_none(),
        "the request in flight is cut"
    );
}

/// SIGQUIT, as uWSGI's "immediately kill the entire stack" and rwsgi(8)'s immediate stop:
/// the request in flight is cut (not finished), the master and every worker are gone
/// long before the app would have answered.
#[test]
fn sigquit_stops_immediately_and_takes_the_workers_along() {
    let mut server = pep3333_builder()
        .args(["--processes", "2"])
        .workers(2)
        .http()
        .start();
    let addr = server.addr();
    let workers: Vec<i32> = server
        .log()
        .lines()
        .filter_map(|l| l.split("started (pid ").nth(1))
        .filter_map(|p| p.trim_end_matches(')').parse().ok())
        .collect();
    assert_eq!(workers.len(), 2);
    let slow = std::thread::spawn(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /sleep?30 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_response(&mut BufReader::new(stream), false)
    });
    server.wait_for_log("app: sleeping 30", Duration::from_secs(10));
    let began = Instant::now();
    server.signal(3);
    server.wait_exit(Duration::from_secs(15));
    assert!(
        slow.join().unwrap().is_none(),
        "the request in flight is cut"
    );
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "not a graceful stop"
    );
    let log = server.log();
    assert!(log.contains("immediate stop"), "{log}");
    assert!(!log.contains("graceful stop"), "{log}");
    for pid in workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} outlived the master\n{log}"
        );
    }
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_failing_worker_backs_off_instead_of_fork_looping() {
    // A worker that dies at start (here its lazy import exits the process; a failing hook
    // would end the start instead) is respawned with backoff.
    let server = server()
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "exits_at_import",
            "--lazy-apps",
        ])
        .http()
        .no_wait()
        .start();
    server.wait_for_log("worker 1 started", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    let log = server.log();
    let forks = log.matches("worker 1 started").count();
    assert!(forks <= 3, "{forks} forks in 3 s:\n{log}");
    assert!(
        log.contains("respawning in 1 s") && log.contains("respawning in 2 s"),
        "{log}"
    );
}

#[test]
fn a_lazy_app_that_cannot_import_answers_500_unless_need_app() {
    // Without need-app the worker stays and answers 500, as without lazy-apps: no
    // respawn loop, and the server is ready (tests/systemd.rs checks READY=1).
    let broken = apps_dir().join("broken");
    let mut server = server()
        .args([
            "--chdir",
            broken.to_str().unwrap(),
            "--module",
            "missing_module",
            "--lazy-apps",
        ])
        .http()
        .no_wait()
        .start();
    server.wait_ready(1, true);
    assert_eq!(server.get("/").status, 500);
    std::thread::sleep(Duration::from_secs(2));
    let log = server.log();
    assert_eq!(log.matches("worker 1 started").count(), 1, "{log}");
    assert!(log.contains("serving 500 to every request"), "{log}");
    // With need-app the master gives up with status 22.
    let mut server = crate::common::server()
        .args([
            "--chdir",
            broken.to_str().unwrap(),
            "--module",
            "missing_module",
            "--lazy-apps",
            "--need-app",
        ])
        .http()
        .no_wait()
        .start();
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(22), "{}", server.log());
}

#[test]
fn ttin_and_ttou_change_the_number_of_workers() {
    let server = pep3333_server(&[]);
    server.signal(21); // SIGTTIN
    server.wait_for_log("worker 2 started", Duration::from_secs(10));
    server.signal(22); // SIGTTOU
    server.wait_for_log("retiring worker 2", Duration::from_secs(10));
    server.wait_for_log("worker 2 (pid", Duration::from_secs(10));
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn workers_die_with_the_master() {
    let server = pep3333_builder()
        .args(["--processes", "2"])
        .workers(2)
        .http()
        .start();
    let workers: Vec<String> = server
        .log()
        .lines()
        .filter_map(|l| l.split("started (pid ").nth(1))
        .map(|p| p.trim_end_matches(')').to_string())
        .collect();
    assert_eq!(workers.len(), 2);
    let _ = std::process::Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in &workers {
        while std::path::Path::new(&format!("/proc/{pid}/status")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .contains("zombie")
        {
            assert!(
                Instant::now() < deadline,
                "worker {pid} outlived its master"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
