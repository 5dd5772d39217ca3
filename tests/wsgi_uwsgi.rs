//! The uwsgi protocol on a unix socket, as nginx's uwsgi_pass sends it.

mod common;

use std::io::BufReader;
use std::time::{Duration, Instant};

use common::*;

fn uwsgi_server(extra: &[&str]) -> Server {
    pep3333_builder().args(extra).uwsgi().http().start()
}

#[test]
fn nginx_style_request_gets_a_raw_http_response() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let mut vars = nginx_vars("GET", "/env?a=b", "");
    vars.push(("HTTP_X_FORWARDED_FOR", "192.0.2.1"));
    vars.push(("UWSGI_FILE", "exec://touch /tmp/pwned"));
    vars.push(("HTTP_CONTENT_TYPE", "text/evil"));
    let response = uwsgi_request(&socket, &vars, b"");
    assert_eq!(response.status, 200, "{}", server.log());
    let env = parse_flat_json(&response.text());
    assert_eq!(env["PATH_INFO"], "/env");
    assert_eq!(env["QUERY_STRING"], "a=b");
    assert_eq!(env["REMOTE_ADDR"], "10.1.2.3");
    assert_eq!(env["SERVER_NAME"], "example.org");
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "192.0.2.1");
    assert_eq!(env["SCRIPT_NAME"], "");
    assert_eq!(
        env["CONTENT_TYPE"], "",
        "the CGI CONTENT_TYPE nginx sent, not its HTTP_ duplicate"
    );
    assert!(
        !env.contains_key("CONTENT_LENGTH"),
        "empty CONTENT_LENGTH from uwsgi_params means no body"
    );
    assert!(
        !env.contains_key("UWSGI_FILE"),
        "magic vars never reach the app"
    );
    assert!(!env.contains_key("HTTP_CONTENT_LENGTH"));
    assert!(!env.contains_key("HTTP_CONTENT_TYPE"));
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[test]
fn content_length_zero_is_kept() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/env", "0"), b"");
    assert_eq!(response.status, 200, "{}", server.log());
    let env = parse_flat_json(&response.text());
    assert_eq!(env.get("CONTENT_LENGTH").map(String::as_str), Some("0"));
}

#[test]
fn body_follows_the_vars_block() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let length = body.len().to_string();
    let response = uwsgi_request(&socket, &nginx_vars("POST", "/echo", &length), &body);
    assert_eq!(response.status, 200);
    assert!(response.body == body, "3 MiB body echoed intact");
}

#[test]
fn modifier1_30_strips_script_name() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let mut vars = nginx_vars("GET", "/app/env", "");
    vars.retain(|(k, _)| *k != "PATH_INFO");
    vars.push(("PATH_INFO", "/app/env"));
    vars.push(("SCRIPT_NAME", "/app"));
    let mut bytes = uwsgi_packet(&vars, 30);
    bytes.extend_from_slice(b"");
    let raw = uwsgi_raw(&socket, &bytes);
    let response = read_response(&mut BufReader::new(&raw[..]), false).unwrap();
    let env = parse_flat_json(&response.text());
    assert_eq!(env["SCRIPT_NAME"], "/app");
    assert_eq!(env["PATH_INFO"], "/env");
}

#[test]
fn malformed_packets_are_logged_and_the_worker_lives() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    // An HTTP client on the uwsgi socket.
    let answer = uwsgi_raw(&socket, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.is_empty());
    server.wait_for_log(
        "this is a uwsgi socket; HTTP request received",
        Duration::from_secs(5),
    );
    // An unsupported modifier1.
    uwsgi_raw(&socket, &uwsgi_packet(&[("A", "b")], 5));
    server.wait_for_log("unsupported uwsgi modifier1 5", Duration::from_secs(5));
    // A zero-length key.
    uwsgi_raw(&socket, &[0, 4, 0, 0, 0, 0, 1, 0]);
    server.wait_for_log("empty key", Duration::from_secs(5));
    // A var that overruns the block.
    uwsgi_raw(&socket, &[0, 4, 0, 0, 1, 0, b'k', 9]);
    server.wait_for_log("overruns", Duration::from_secs(5));
    // A block larger than buffer-size (default 8192).
    let big = "v".repeat(9000);
    uwsgi_raw(&socket, &uwsgi_packet(&[("K", big.as_str())], 0));
    server.wait_for_log("exceeds buffer-size 8192", Duration::from_secs(5));
    // Still serving.
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/ok", ""), b"");
    assert_eq!(response.status, 200);
    assert_eq!(server.get("/ok").status, 200);
}

#[test]
fn buffer_size_raises_the_vars_limit() {
    let server = uwsgi_server(&["--buffer-size", "32768"]);
    let socket = server.uwsgi.clone().unwrap();
    let cookie = "c".repeat(20000);
    let mut vars = nginx_vars("GET", "/env", "");
    vars.push(("HTTP_COOKIE", cookie.as_str()));
    let response = uwsgi_request(&socket, &vars, b"");
    assert_eq!(response.status, 200);
    assert_eq!(
        parse_flat_json(&response.text())["HTTP_COOKIE"].len(),
        20000
    );
}

#[test]
fn app_errors_over_uwsgi_are_500() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let response = uwsgi_request(&socket, &nginx_vars("GET", "/error", ""), b"");
    assert_eq!(response.status, 500);
    server.wait_for_log("RuntimeError: deliberate failure", Duration::from_secs(5));
    let generator = uwsgi_request(&socket, &nginx_vars("GET", "/generator", ""), b"");
    assert!(
        !generator.chunked,
        "no chunked framing towards nginx's uwsgi module"
    );
    assert_eq!(generator.text(), "chunk0\nchunk1\nchunk2\n");
}

/// Behind a front end the front end speaks for the server: over the uwsgi protocol rwsgi
/// adds neither `Server` nor `Date` (as uWSGI), so nginx's own `Server` shows. HTTP
/// listeners keep both, and `delheader:Server` or `http-server-header = false` remove
/// rwsgi's `Server`.
#[test]
fn only_http_listeners_add_server_and_date() {
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let direct = uwsgi_request(&socket, &nginx_vars("GET", "/echo", ""), b"");
    assert_eq!(direct.status, 200, "{}", server.log());
    assert_eq!(direct.header("Server"), None, "{:?}", direct.headers);
    assert_eq!(direct.header("Date"), None, "{:?}", direct.headers);

    let nginx = common::nginx::Nginx::start(&socket);
    let proxied =
        nginx.request(b"GET /echo HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n");
    assert_eq!(proxied.status, 200, "{}", nginx.error_log());
    let servers: Vec<&str> = proxied
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("server"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(servers.len(), 1, "{:?}", proxied.headers);
    assert!(servers[0].starts_with("nginx"), "{:?}", proxied.headers);

    let over_http = server.get("/echo");
    assert_eq!(over_http.header("Server"), Some("rwsgi"));
    assert!(over_http.header("Date").is_some());
    drop(nginx);
    drop(server);

    for extra in [
        &["--route", ".* delheader:Server"][..],
        &["--http-server-header=false"][..],
    ] {
        let server = uwsgi_server(extra);
        let response = server.get("/echo");
        assert_eq!(response.status, 200, "{extra:?}: {}", server.log());
        assert_eq!(
            response.header("Server"),
            None,
            "{extra:?}: {:?}",
            response.headers
        );
        assert!(response.header("Date").is_some(), "{extra:?}");
    }
}

#[test]
fn https_from_the_front_end_sets_the_url_scheme() {
    // nginx's uwsgi_params send HTTPS ($https: "on" or empty) and REQUEST_SCHEME; Django's
    // request.is_secure() reads wsgi.url_scheme.
    let server = uwsgi_server(&[]);
    let socket = server.uwsgi.clone().unwrap();
    let scheme = |extra: &[(&str, &str)], request_scheme: &str| -> String {
        let mut vars: Vec<(&str, &str)> = nginx_vars("GET", "/env", "")
            .into_iter()
            .map(|(k, v)| {
                if k == "REQUEST_SCHEME" {
                    (k, request_scheme)
                } else {
                    (k, v)
                }
            })
            .collect();
        vars.extend_from_slice(extra);
        let response = uwsgi_request(&socket, &vars, b"");
        parse_flat_json(&response.text())["wsgi.url_scheme"].clone()
    };
    assert_eq!(scheme(&[("HTTPS", "")], "http"), "http");
    assert_eq!(scheme(&[("HTTPS", "on")], "https"), "https");
    assert_eq!(scheme(&[("HTTPS", "on")], "http"), "https");
    assert_eq!(scheme(&[], "https"), "https");
    assert_eq!(scheme(&[], "http"), "http");
}

#[test]
fn limit_post_refuses_large_uwsgi_bodies_with_413() {
    let server = pep3333_builder()
        .args(["--limit-post", "1k"])
        .uwsgi()
        .start();
    let socket = server.uwsgi.clone().unwrap();
    // nginx sends the vars, then the body; the refusal comes before the body is read.
    let big = vec![b'a'; 2000];
    let response = uwsgi_request(&socket, &nginx_vars("POST", "/echo", "2000"), &big);
    assert_eq!(response.status, 413, "{}", server.log());
    let small = uwsgi_request(&socket, &nginx_vars("POST", "/echo", "3"), b"abc");
    assert_eq!(small.status, 200);
    assert_eq!(small.text(), "abc");
    let log = server.wait_for_log("413 body larger than limit-post", Duration::from_secs(5));
    assert!(!log.contains("worker 1 (pid"), "the worker lives: {log}");
}

/// A uwsgi client that trickles its vars block (a byte every 300 ms, so each read makes
/// progress) is cut once the head timeout has passed since its first byte, and holds no
/// worker meanwhile.
#[test]
fn a_trickled_uwsgi_head_is_cut_after_the_head_timeout() {
    use std::io::{Read, Write};
    let server = pep3333_builder()
        .args(["--http-header-timeout", "2"])
        .uwsgi()
        .start();
    let socket = server.uwsgi.clone().unwrap();
    let packet = uwsgi_packet(&nginx_vars("GET", "/trickled", ""), 0);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let began = Instant::now();
    let mut cut = None;
    let mut answer = Vec::new();
    for (sent, byte) in packet[..packet.len() - 1].iter().enumerate() {
        if stream.write_all(&[*byte]).is_err() {
            cut = Some(began.elapsed());
            break;
        }
        if sent == 10 {
            // Others are served meanwhile.
            let ok = uwsgi_request(&socket, &nginx_vars("GET", "/ok", ""), b"");
            assert_eq!(ok.status, 200);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => {
                cut = Some(began.elapsed());
                break;
            }
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                cut = Some(began.elapsed());
                break;
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "the trickling client was never cut ({sent} of {} bytes sent)",
            packet.len()
        );
    }
    let cut = cut.expect("cut before the packet was complete");
    assert!(
        cut >= Duration::from_millis(1500),
        "cut after {cut:?}, before the head timeout"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("X-Path"),
        "never reached the app"
    );
    assert_eq!(
        uwsgi_request(&socket, &nginx_vars("GET", "/ok", ""), b"").status,
        200
    );
}
