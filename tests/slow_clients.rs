//! Slow and stalled clients cost a buffer and a timer, never a worker. These check behaviour
//! (who gets served, who gets cut off), not speed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_hundred_trickling_clients_do_not_delay_normal_requests() {
    let server = pep3333_builder()
        .args(["--processes", "2", "--disable-logging"])
        .workers(2)
        .http()
        .start();
    let addr = server.addr();
    let head = b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut slow: Vec<TcpStream> = (0..100).map(|_| connect(addr)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    // One byte per connection per round; the heads never complete while the test runs.
    let trickler = {
        let stop = stop.clone();
        let rounds = rounds.clone();
        let mut streams: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < head.len() - 4 {
                for stream in &mut streams {
                    stream
                        .write_all(&head[sent..sent + 1])
                        .expect("the server keeps slow clients open");
                }
                sent += 1;
                rounds.store(sent, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
            sent
        })
    };
    // Every slow client has begun its head before the fast requests start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rounds.load(Ordering::Relaxed) < 2 {
        assert!(Instant::now() < deadline, "the trickler never began");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..200 {
        assert_eq!(server.get("/fast").status, 200);
    }
    stop.store(true, Ordering::Relaxed);
    let bytes_trickled = trickler.join().unwrap();
    assert!(bytes_trickled > 0);
    // Every slow client is still connected and can still complete its request.
    for stream in &mut slow {
        stream.write_all(&head[bytes_trickled..]).unwrap();
    }
    for stream in slow {
        let response = read_response(&mut std::io::BufReader::new(stream), false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-path"), Some("/slow"));
    }
}

#[test]
fn a_head_that_takes_too_long_gets_408() {
    let server = pep3333_server(&["--http-header-timeout", "2"]);
    let mut stream = connect(server.addr());
    let began = Instant::now();
    // A byte every 300 ms: each read makes progress, but the whole head is too slow.
    let mut answer = Vec::new();
    for byte in b"GET /x HTTP/1.1\r\nHost: t\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if began.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_timeout() {
    let server = pep3333_server(&["--http-keepalive-timeout", "1"]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    let mut rest = Vec::new();
    // The server closes: read_to_end returns instead of hitting the client's 20 s timeout.
    reader
        .read_to_end(&mut rest)
        .expect("closed by the server before the client's read timeout");
    assert!(rest.is_empty());
}

#[test]
fn a_stalled_body_is_abandoned_and_the_worker_serves_on() {
    let server = pep3333_server(&["--socket-timeout", "1"]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        .unwrap();
    let mut answer = Vec::new();
    let began = Instant::now();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "an incomplete body never reaches the app"
    );
    assert!(began.elapsed() < IO_TIMEOUT);
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn header_count_limit() {
    let server = pep3333_server(&["--http-max-headers", "5"]);
    let five = "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nConnection: close\r\n\r\n";
    assert_eq!(request(server.addr(), five).status, 200);
    let six =
        "GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nConnection: close\r\n\r\n";
    assert_eq!(request(server.addr(), six).status, 431);
}
