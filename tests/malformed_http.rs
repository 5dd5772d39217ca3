//! Malformed and smuggling-shaped requests, each with the status RFC 9112/9110 gives it.
//! None may reach the application, and the worker must keep serving.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

/// (description, raw request, expected status)
const CORPUS: &[(&str, &str, u16)] = &[
    ("CL and TE together", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE not ending in chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
    ("unknown transfer coding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("differing Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("Content-Length list that differs", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
    ("signed Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("huge Content-Length", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n", 400),
    ("obsolete line folding", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n", 400),
    ("bare CR in a value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400),
    ("NUL in a value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 400),
    ("whitespace before colon", "GET / HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n", 400),
    ("invalid name character", "GET / HTTP/1.1\r\nHost: t\r\nX@A: a\r\n\r\n", 400),
    ("missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nX-A: a\r\n\r\n", 400),
    ("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk size overflow", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400),
    ("LF in chunk extension", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\nb\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk data without CRLF", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
    ("TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("garbage version", "GET / FOO/1.1\r\nHost: t\r\n\r\n", 400),
    ("relative target", "GET foo HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("raw non-ASCII in the target", "GET /\u{e0}%20k HTTP/1.0\r\n\r\n", 400),
    ("raw non-ASCII in the query", "GET /env?q=\u{e9} HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n", 400),
    ("unsupported Expect", "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
];

#[test]
fn every_malformed_request_gets_its_status_and_never_reaches_the_app() {
    let server = pep3333_server(&["--disable-logging"]);
    for (description, raw, status) in CORPUS {
        let mut stream = connect(server.addr());
        stream.write_all(raw.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status} ")),
            "{description}: expected {status}, got {text:?}"
        );
        assert!(
            text.contains("Connection: close"),
            "{description}: must announce close"
        );
        assert!(
            !text.contains("hello") && !text.contains("X-Path"),
            "{description} reached the app: {text}"
        );
    }
    // The worker lived through all of it.
    assert_eq!(server.get("/ok").status, 200);
    assert!(!server.log().contains("exited"), "{}", server.log());
}

#[test]
fn oversized_heads_get_414_and_431() {
    let server = pep3333_server(&["--buffer-size", "2048"]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(4000));
    assert_eq!(request(server.addr(), &long_target).status, 414);
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-Header: value\r\n".repeat(200)
    );
    assert_eq!(request(server.addr(), &many_headers).status, 431);
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "v".repeat(3000)
    );
    assert_eq!(request(server.addr(), &big_header).status, 431);
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn limit_post_refuses_large_bodies_with_413() {
    let server = pep3333_server(&["--limit-post", "1k"]);
    let response = request(
        server.addr(),
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n",
    );
    assert_eq!(response.status, 413);
    let chunk = "a".repeat(1500);
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    assert_eq!(request(server.addr(), &chunked).status, 413);
    let small = request(
        server.addr(),
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert_eq!(small.text(), "abc");
}

#[test]
fn accepted_as_clients_send_them() {
    let server = pep3333_server(&[]);
    // Leading empty lines, OWS around values, a fragment, HTTP/1.0 without Host.
    let response = request(
        server.addr(),
        "\r\n\r\nGET /x#frag HTTP/1.1\r\nHost:   t   \r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-path"), Some("/x"));
    let response = request(server.addr(), "GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(response.header("x-path"), Some("/old"));
    // Identical Content-Length values collapse to one (RFC 9112 §6.3).
    let response = request(
        server.addr(),
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc",
    );
    assert_eq!(response.text(), "abc");
}

#[test]
fn a_partial_head_times_out_without_blocking_others() {
    let server = pep3333_server(&["--http-header-timeout", "2"]);
    // A client that sends half a head and stalls holds no worker: others are served
    // meanwhile, and the stalled one gets 408 and is closed once its head time is up.
    let mut stalled = connect(server.addr());
    let began = Instant::now();
    stalled.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    for _ in 0..20 {
        assert_eq!(server.get("/ok").status, 200);
    }
    let mut answer = Vec::new();
    stalled
        .read_to_end(&mut answer)
        .expect("the server closes the stalled connection before the client's read timeout");
    let waited = began.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(text.contains("Connection: close"), "{text:?}");
    // Not cut at once: the head had its time (2 s, less a margin for timer granularity).
    assert!(
        waited >= Duration::from_millis(1500),
        "cut after {waited:?}, before the head timeout"
    );
    assert_eq!(server.get("/ok").status, 200);
}
