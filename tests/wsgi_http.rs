//! PEP 3333 over HTTP/1.1: the real binary serving tests/apps/pep3333.py on loopback.

mod common;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use common::*;

#[test]
fn environ_has_every_cgi_and_wsgi_key() {
    let server = pep3333_server(&[]);
    let response = request(
        server.addr(),
        "GET /env?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nX-Repeated: a\r\nX-Repeated: b\r\nCookie: a=1\r\nCookie: b=2\r\nContent-Type: text/x\r\nX_Sneaky: dropped\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200, "{}", server.log());
    let env = parse_flat_json(&response.text());
    let expect = |key: &str, value: &str| {
        assert_eq!(
            env.get(key).map(String::as_str),
            Some(value),
            "{key} in {env:?}"
        )
    };
    expect("REQUEST_METHOD", "GET");
    expect("SCRIPT_NAME", "");
    expect("PATH_INFO", "/env");
    expect("QUERY_STRING", "x=1&y=%20");
    expect("REQUEST_URI", "/env?x=1&y=%20");
    expect("SERVER_NAME", "example.com");
    expect("SERVER_PORT", "8080");
    expect("SERVER_PROTOCOL", "HTTP/1.1");
    expect("REMOTE_ADDR", "127.0.0.1");
    expect("HTTP_HOST", "example.com:8080");
    expect("HTTP_X_REPEATED", "a,b");
    expect("HTTP_COOKIE", "a=1; b=2");
    expect("CONTENT_TYPE", "text/x");
    expect("wsgi.url_scheme", "http");
    expect("wsgi.version", "'tuple':(1, 0)");
    expect("wsgi.multithread", "'bool':False");
    expect("wsgi.multiprocess", "'bool':False");
    expect("wsgi.run_once", "'bool':False");
    expect("wsgi.input_terminated", "'bool':True");
    assert!(env["REMOTE_PORT"].parse::<u16>().is_ok());
    assert!(
        env["wsgi.input"].starts_with("'Input'"),
        "{}",
        env["wsgi.input"]
    );
    assert!(
        env["wsgi.errors"].contains("TextIOWrapper"),
        "{}",
        env["wsgi.errors"]
    );
    assert!(env["wsgi.file_wrapper"].contains("FileWrapper"));
    assert!(
        !env.contains_key("CONTENT_LENGTH"),
        "no body, no CONTENT_LENGTH"
    );
    assert!(
        !env.keys().any(|k| k.contains("SNEAKY")),
        "underscore headers must not reach the app"
    );
}

#[test]
fn content_length_zero_is_kept() {
    let server = pep3333_server(&[]);
    let response = request(
        server.addr(),
        "GET /env HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200, "{}", server.log());
    let env = parse_flat_json(&response.text());
    assert_eq!(
        env.get("CONTENT_LENGTH").map(String::as_str),
        Some("0"),
        "the client sent Content-Length: 0"
    );
}

#[test]
fn path_info_is_percent_decoded_as_latin1() {
    let server = pep3333_server(&[]);
    let response = server.get("/env%20x%C3%A9");
    let env = parse_flat_json(&response.text());
    // UTF-8 bytes C3 A9 decoded as latin-1 are two characters, as PEP 3333 requires.
    assert_eq!(env["PATH_INFO"], "/env x\u{c3}\u{a9}");
    // Absolute-form target: PATH_INFO is the path only.
    let response = request(
        server.addr(),
        "GET http://example.com/env?q HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    let env = parse_flat_json(&response.text());
    assert_eq!(env["PATH_INFO"], "/env");
    assert_eq!(env["QUERY_STRING"], "q");
}

#[test]
fn input_read_readline_readlines_and_iteration() {
    let server = pep3333_server(&[]);
    let body = "line one\nline two\nthree\nfour";
    let post = |path: &str| {
        request(
            server.addr(),
            &format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()),
        )
    };
    let echo = post("/echo");
    assert_eq!(echo.text(), body);
    let sized = post("/read-sized");
    assert_eq!(sized.text(), "line on|e\nline |two\nthr|ee\nfour");
    let lines = post("/lines");
    assert_eq!(
        lines.text(),
        r#"["line one\n", "lin", ["e two\n", "three\n", "four"]]"#
    );
    let iterated = post("/iterate");
    assert_eq!(
        iterated.text(),
        r#"["line one\n", "line two\n", "three\n", "four"]"#
    );
}

#[test]
fn large_and_chunked_bodies_arrive_intact() {
    let server = pep3333_server(&[]);
    // 5 MiB: spilled to a temporary file on the way.
    let body: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let response = request_bytes(server.addr(), &raw);
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), body.len());
    assert!(response.body == body, "echoed body differs");

    let chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n";
    let response = request(server.addr(), chunked);
    assert_eq!(response.text(), "hello world");
    // The app sees the de-chunked length.
    let response = request(
        server.addr(),
        "POST /env HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let env = parse_flat_json(&response.text());
    assert_eq!(env["CONTENT_LENGTH"], "3");
    assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"));
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = pep3333_server(&[]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let interim = read_response(&mut reader, false).unwrap();
    assert_eq!(interim.status, 100);
    stream.write_all(b"data").unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "data");
}

#[test]
fn keep_alive_and_pipelining() {
    let server = pep3333_server(&[]);
    let mut stream = connect(server.addr());
    // Three pipelined requests in one write; the second has a body.
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response(&mut reader, false).unwrap();
    assert_eq!(first.header("x-path"), Some("/a"));
    assert_eq!(
        first.header("connection"),
        None,
        "keep-alive is the HTTP/1.1 default"
    );
    assert_eq!(read_response(&mut reader, false).unwrap().text(), "xyz");
    assert_eq!(
        read_response(&mut reader, false).unwrap().header("x-path"),
        Some("/c")
    );
    // The connection is still open for a fourth.
    stream
        .write_all(b"GET /d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_response(&mut reader, false).unwrap();
    assert_eq!(last.header("x-path"), Some("/d"));
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "server closes after Connection: close"
    );
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let server = pep3333_server(&[]);
    let response = request(server.addr(), "GET /generator HTTP/1.0\r\n\r\n");
    // No chunked encoding for HTTP/1.0: the body ends with the connection.
    assert!(!response.chunked);
    assert_eq!(response.text(), "chunk0\nchunk1\nchunk2\n");
    assert_eq!(response.header("connection"), Some("close"));

    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response(&mut reader, false).unwrap();
    assert_eq!(first.version, "HTTP/1.1");
    stream.write_all(b"GET /b HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        read_response(&mut reader, false).unwrap().header("x-path"),
        Some("/b")
    );
}

#[test]
fn response_framing() {
    let server = pep3333_server(&[]);
    let generator = server.get("/generator");
    assert!(generator.chunked, "unknown length on HTTP/1.1 is chunked");
    assert_eq!(generator.text(), "chunk0\nchunk1\nchunk2\n");
    let empty_first = server.get("/empty-then-data");
    assert_eq!(empty_first.text(), "data");
    let list = server.get("/write");
    assert_eq!(
        list.text(),
        "written-returned",
        "write() output precedes the iterable"
    );
    let big = server.get("/big?3000000");
    assert_eq!(big.body.len(), 3_000_000);
    assert_eq!(big.header("content-length"), Some("3000000"));
    for status in [204u16, 304] {
        let mut stream = connect(server.addr());
        stream
            .write_all(format!("GET /status/{status} HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let first = read_response(&mut reader, false).unwrap();
        assert_eq!(first.status, status);
        if status == 204 {
            assert_eq!(first.header("content-length"), None);
        }
        let after = read_response(&mut reader, false).unwrap();
        assert_eq!(
            after.header("x-path"),
            Some("/after"),
            "no stray body bytes after {status}"
        );
    }
}

#[test]
fn head_responses_have_headers_but_no_body() {
    let server = pep3333_server(&[]);
    for path in ["/big?1000", "/generator"] {
        let mut stream = connect(server.addr());
        stream
            .write_all(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_response(&mut reader, true).unwrap();
        assert_eq!(head.status, 200);
        if path.starts_with("/big") {
            assert_eq!(head.header("content-length"), Some("1000"));
        }
        let after = read_response(&mut reader, false).unwrap();
        assert_eq!(
            after.header("x-path"),
            Some("/after"),
            "HEAD {path} leaked a body"
        );
    }
}

#[test]
fn file_wrapper_sends_from_the_current_position() {
    let server = pep3333_server(&[]);
    let response = server.get("/file");
    let expected: String = "0123456789".repeat(1000)[5..].to_string();
    assert_eq!(response.header("content-length"), Some("9995"));
    assert_eq!(response.text(), expected);
    let filelike = server.get("/filelike");
    assert_eq!(filelike.text(), "from a BytesIO");
}

#[test]
fn app_exceptions_give_500_with_traceback_and_the_worker_lives() {
    let server = pep3333_server(&[]);
    let response = server.get("/error");
    assert_eq!(response.status, 500);
    assert!(
        !response.text().contains("deliberate"),
        "tracebacks stay in the log"
    );
    let log = server.wait_for_log(
        "RuntimeError: deliberate failure in the app",
        Duration::from_secs(5),
    );
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(log.contains("pep3333.py"), "{log}");
    // The same worker serves the next request.
    assert_eq!(server.get("/ok").status, 200);

    for (path, needle) in [
        ("/bad-header", "invalid value for header X-Injected"),
        ("/no-start", "without calling start_response"),
        ("/twice", "called a second time without exc_info"),
    ] {
        let response = server.get(path);
        assert_eq!(response.status, 500, "{path}");
        assert!(response.header("set-cookie").is_none());
        server.wait_for_log(needle, Duration::from_secs(5));
    }
    let replaced = server.get("/exc-info");
    assert_eq!(
        replaced.status, 503,
        "exc_info before headers replaces the status"
    );
    assert_eq!(replaced.text(), "replaced");
}

#[test]
fn failure_after_headers_cuts_the_connection_and_close_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let close_log = dir.path().join("closed.log");
    let server = pep3333_builder()
        .env("RWSGI_TEST_CLOSE_LOG", close_log.to_str().unwrap())
        .http()
        .start();
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /error-after HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("first"));
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a failed stream must not look complete: {text:?}"
    );
    server.wait_for_log("failure while streaming", Duration::from_secs(5));
    assert_eq!(server.get("/tracked").text(), "abc");
    let closes = std::fs::read_to_string(&close_log).unwrap_or_default();
    assert_eq!(
        closes.lines().count(),
        2,
        "close() once per request, on failure too"
    );
}

#[test]
fn content_length_mismatches_never_corrupt_the_connection() {
    let server = pep3333_server(&[]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /excess HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.ends_with("\r\n\r\nabc"),
        "only the declared 3 bytes are sent: {text:?}"
    );

    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /long-content-length HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    assert!(
        String::from_utf8_lossy(&raw).ends_with("short"),
        "connection closed after a short body"
    );
    server.wait_for_log("sent 5 of its Content-Length 10", Duration::from_secs(5));
}

#[test]
fn app_output_and_request_lines_reach_the_log() {
    let server = pep3333_builder()
        .env_remove("PYTHONUNBUFFERED")
        .http()
        .start();
    assert_eq!(server.get("/print").status, 200);
    // stdout and stderr are separate pipes: each line is awaited on its own.
    for needle in [
        "written to wsgi.errors",
        "printed to stdout by the app",
        "printed to stderr by the app",
        "\"GET /print\" 200 7 bytes",
    ] {
        server.wait_for_log(needle, Duration::from_secs(5));
    }

    let quiet = pep3333_server(&["--disable-logging"]);
    quiet.get("/quiet");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!quiet.log().contains("/quiet"));
}

#[test]
fn connection_close_from_the_app_is_honoured() {
    let server = pep3333_server(&[]);
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /connection-close HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
}

/// A client that leaves mid-response is logged with its request (as uWSGI's `Broken pipe`
/// lines), the application's iterable is still closed, and the worker serves on.
#[test]
fn a_client_leaving_mid_response_is_logged_and_close_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let close_log = dir.path().join("closed.log");
    for logging in [&[][..], &["--disable-logging"][..]] {
        let _ = std::fs::remove_file(&close_log);
        let server = pep3333_builder()
            .args(logging)
            .env("RWSGI_TEST_CLOSE_LOG", close_log.to_str().unwrap())
            .http()
            .start();
        let mut stream = connect(server.addr());
        stream
            .write_all(b"GET /stream?leaving HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 65536];
        let n = stream.read(&mut first).unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"));
        drop(stream);
        let log = server.wait_for_log("client gone after", Duration::from_secs(20));
        let line = log.lines().find(|l| l.contains("client gone")).unwrap();
        assert!(line.contains("GET /stream?leaving"), "{logging:?}: {line}");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&close_log).unwrap_or_default() != "closed\n" {
            assert!(std::time::Instant::now() < deadline, "close() not called");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.get("/tracked").text(), "abc", "the worker serves on");
        assert!(!server.log().contains("worker 1 (pid"), "{}", server.log());
    }
}
