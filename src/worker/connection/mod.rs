//! One client connection: read a request (HTTP/1.1 with keep-alive and pipelining, or one
//! uwsgi packet), read its body, hand it to `respond`, repeat or close.
//!
//! Owns: read timeouts, the request-head size limit, refusing malformed requests with the
//! right status (the worker lives on), closing idle connections when the worker drains.
//! Must not: call Python (respond does) or parse bytes itself (protocol does).

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::body::{self, BodyError};
use super::client::ClientSocket;
use super::respond::{self, Exchange, RequestLog};
use super::{Shared, DRAIN_GRACE, FIRST_REQUEST_GRACE};
use crate::config::Protocol;
use crate::protocol::http::{self, BodyFraming, HttpError, RequestHead};
use crate::protocol::response;
use crate::protocol::uwsgi;
use crate::wsgi::environ::{self, Endpoint};
use crate::wsgi::objects::{Body, Input};

pub async fn serve(
    stream: ClientSocket,
    protocol: Protocol,
    endpoint: Endpoint,
    shared: Arc<Shared>,
) {
    match protocol {
        Protocol::Http => serve_http(stream, endpoint, shared).await,
        Protocol::Uwsgi => serve_uwsgi(stream, endpoint, shared).await,
    }
}

enum HeadRead {
    Head(RequestHead),
    Closed,
    Refuse(HttpError),
}

async fn serve_http(mut stream: ClientSocket, mut endpoint: Endpoint, shared: Arc<Shared>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut drain = shared.drain_signal();
    if shared.proxy_protocol {
        match read_proxy_header(&mut stream, &mut buf, shared.header_timeout).await {
            Ok(Some((address, port))) => {
                endpoint.remote_addr = address.to_string();
                endpoint.remote_port = port.to_string();
            }
            Ok(None) => {}
            Err(reason) => {
                crate::log::warn(&format!("{}: {reason}; connection closed", peer(&endpoint)));
                return;
            }
        }
    }
    let mut fresh = true;
    loop {
        let read = read_http_head(&mut stream, &mut buf, &shared, &mut drain, fresh).await;
        fresh = false;
        let head = match read {
            HeadRead::Head(head) => head,
            HeadRead::Closed => return,
            HeadRead::Refuse(e) => {
                return refuse(
                    &mut stream,
                    &shared,
                    &endpoint,
                    Protocol::Http,
                    e.status,
                    e.reason,
                )
                .await
            }
        };
        let mut pending = buf.split_off(head.len);
        if let BodyFraming::Length(n) = head.framing {
            if shared.limit_post > 0 && n > shared.limit_post {
                return refuse(
                    &mut stream,
                    &shared,
                    &endpoint,
                    Protocol::Http,
                    413,
                    "body larger than limit-post",
                )
                .await;
            }
        }
        if head.expect_continue
            && pending.is_empty()
            && stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let body = match head.framing {
            BodyFraming::None => Ok(Body::Memory(Vec::new())),
            BodyFraming::Length(n) => {
                body::read_exact_body(&mut stream, &mut pending, n, shared.io_timeout).await
            }
            BodyFraming::Chunked => {
                let limit = shared.limit_post;
                body::read_chunked_body(&mut stream, &mut pending, limit, shared.io_timeout).await
            }
        };
        let body = match body {
            Ok(body) => body,
            Err(BodyError::Refuse(status, reason)) => {
                return refuse(
                    &mut stream,
                    &shared,
                    &endpoint,
                    Protocol::Http,
                    status,
                    reason,
                )
                .await
            }
            Err(BodyError::Gone) => return,
            Err(BodyError::Io(e)) => {
                crate::log::warn(&format!("{}: reading request body: {e}", peer(&endpoint)));
                return;
            }
        };
        let method = &buf[head.method.clone()];
        let last = shared.begin_request(method, &buf[head.target.clone()]);
        let received = head.len as u64 + body.len();
        let exchange = Exchange {
            listener: endpoint.listener,
            received,
            protocol: Protocol::Http,
            chunked_allowed: head.minor_version == 1,
            head_request: method == b"HEAD",
            keep_alive: head.keep_alive && !last && !shared.draining(),
            log: shared.log_requests.then(|| {
                let header = |name: &[u8]| {
                    head.headers
                        .iter()
                        .find(|h| buf[h.name.clone()].eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(&buf[h.value.clone()]).into_owned())
                        .unwrap_or_default()
                };
                RequestLog {
                    method: String::from_utf8_lossy(method).into_owned(),
                    uri: String::from_utf8_lossy(&buf[head.target.clone()]).into_owned(),
                    proto: if head.minor_version == 1 {
                        "HTTP/1.1"
                    } else {
                        "HTTP/1.0"
                    }
                    .to_string(),
                    remote: match header(b"x-forwarded-for") {
                        forwarded if shared.log_x_forwarded_for && !forwarded.is_empty() => {
                            forwarded.split(',').next().unwrap_or("").trim().to_string()
                        }
                        _ => endpoint.remote_addr.clone(),
                    },
                    host: header(b"host"),
                    user_agent: header(b"user-agent"),
                    referer: header(b"referer"),
                }
            }),
        };
        let path = http::percent_decode(&buf[head.path.clone()]);
        let header = |name: &[u8]| {
            head.headers
                .iter()
                .find(|h| buf[h.name.clone()].eq_ignore_ascii_case(name))
                .map(|h| &buf[h.value.clone()])
        };
        let keep_going = match shared.static_file(method, &path, header(b"accept-encoding")) {
            Some(found) => {
                let (since, range) = (header(b"if-modified-since"), header(b"range"));
                respond::serve_static(&mut stream, &shared, exchange, found, since, range).await
            }
            None => {
                respond::respond(&mut stream, &shared, exchange, |py| {
                    environ::http_environ(
                        py,
                        &shared.template,
                        &buf,
                        &head,
                        &endpoint,
                        Input::new(body),
                    )
                })
                .await
            }
        };
        shared.end_request();
        if !keep_going {
            return;
        }
        buf.clear();
        buf.extend_from_slice(&pending);
        if !buf.is_empty() {
            // A pipelined request waits its turn behind the other connections ready now:
            // one request per connection per loop turn, however many a client sends at once.
            tokio::task::yield_now().await;
        }
    }
}

/// Reads until a complete head is in `buf`. An idle connection (nothing received yet) may
/// wait `keepalive_timeout`; from its first byte a head has `header_timeout` in total, so a
/// client trickling bytes cannot hold the connection longer than that.
/// Reads and removes the PROXY header that opens the connection; the client address it
/// carries, if any. Without a valid header the connection is refused: a server behind a
/// load balancer must not take a client's own claim for its address.
async fn read_proxy_header(
    stream: &mut ClientSocket,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Option<(std::net::IpAddr, u16)>, String> {
    use crate::protocol::proxy;
    let deadline = Instant::now() + timeout;
    loop {
        if !buf.is_empty() {
            match proxy::parse(buf) {
                Ok(Some(header)) => {
                    buf.drain(..header.len);
                    return Ok(header.source);
                }
                Ok(None) => {}
                Err(e) => return Err(e.0.to_string()),
            }
        }
        buf.reserve(512);
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err("closed before a PROXY header".into()),
            Ok(Ok(_)) => {}
            Err(_) => return Err("no PROXY header in time".into()),
        }
    }
}

async fn read_http_head(
    stream: &mut ClientSocket,
    buf: &mut Vec<u8>,
    shared: &Shared,
    drain: &mut watch::Receiver<bool>,
    fresh: bool,
) -> HeadRead {
    let mut deadline = Instant::now() + shared.keepalive_timeout;
    let mut receiving = false;
    let mut in_grace = false;
    loop {
        if !buf.is_empty() {
            match http::parse_request(buf, shared.max_headers) {
                Ok(Some(head)) if head.len > shared.buffer_size => {
                    return HeadRead::Refuse(http::head_too_large(&buf[..shared.buffer_size]))
                }
                Ok(Some(head)) => return HeadRead::Head(head),
                Ok(None) => {}
                Err(e) => return HeadRead::Refuse(e),
            }
            if buf.len() >= shared.buffer_size {
                return HeadRead::Refuse(http::head_too_large(buf));
            }
            if !receiving {
                receiving = true;
                deadline = Instant::now() + shared.header_timeout;
            }
        }
        let idle = buf.is_empty();
        if idle && shared.draining() && !in_grace {
            // One last request may already be on its way; it gets `Connection: close`. A
            // connection accepted and not yet served is owed its first request: its client
            // sent it or is about to, however loaded the machine, so it waits longer.
            in_grace = true;
            let grace = if fresh {
                FIRST_REQUEST_GRACE
            } else {
                DRAIN_GRACE
            };
            deadline = deadline.min(Instant::now() + grace);
        }
        buf.reserve(4096);
        let read = tokio::select! {
            read = tokio::time::timeout_at(deadline, stream.read_buf(buf)) => read,
            _ = drain.wait_for(|d| *d), if idle && !in_grace => continue,
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return HeadRead::Closed,
            Ok(Ok(_)) => {}
            Err(_) if idle => return HeadRead::Closed,
            Err(_) => {
                return HeadRead::Refuse(HttpError {
                    status: 408,
                    reason: "request head not received in time",
                })
            }
        }
    }
}

async fn serve_uwsgi(mut stream: ClientSocket, endpoint: Endpoint, shared: Arc<Shared>) {
    let max = shared.buffer_size.min(65535);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    // The whole vars block within http-header-timeout of the connection (nginx sends it at
    // once): a deadline, not a time per read, so a client trickling bytes cannot hold it.
    let deadline = Instant::now() + shared.header_timeout;
    let packet = loop {
        match uwsgi::parse_packet(&buf, max) {
            Ok(Some(packet)) => break packet,
            Ok(None) => {}
            Err(e) => {
                crate::log::warn(&format!("{}: {e}; connection closed", peer(&endpoint)));
                return;
            }
        }
        buf.reserve(4096);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return,
            Err(_) => {
                crate::log::warn(&format!(
                    "{}: uwsgi vars block not received in time; connection closed",
                    peer(&endpoint)
                ));
                return;
            }
        }
    };
    let content_length = match uwsgi::find_var(&buf, &packet, b"CONTENT_LENGTH") {
        None | Some(b"") => 0,
        Some(value) => match std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(n) => n,
            None => {
                crate::log::warn(&format!(
                    "{}: invalid CONTENT_LENGTH in uwsgi request",
                    peer(&endpoint)
                ));
                return refuse(
                    &mut stream,
                    &shared,
                    &endpoint,
                    Protocol::Uwsgi,
                    400,
                    "invalid CONTENT_LENGTH",
                )
                .await;
            }
        },
    };
    if shared.limit_post > 0 && content_length > shared.limit_post {
        return refuse(
            &mut stream,
            &shared,
            &endpoint,
            Protocol::Uwsgi,
            413,
            "body larger than limit-post",
        )
        .await;
    }
    let mut pending = buf.split_off(packet.len);
    let body =
        match body::read_exact_body(&mut stream, &mut pending, content_length, shared.io_timeout)
            .await
        {
            Ok(body) => body,
            Err(_) => return,
        };
    let var = |key: &[u8]| uwsgi::find_var(&buf, &packet, key).unwrap_or_default();
    shared.begin_request(var(b"REQUEST_METHOD"), var(b"REQUEST_URI"));
    let exchange = Exchange {
        listener: endpoint.listener,
        received: packet.len as u64 + content_length,
        protocol: Protocol::Uwsgi,
        chunked_allowed: false,
        head_request: var(b"REQUEST_METHOD") == b"HEAD",
        keep_alive: false,
        log: shared.log_requests.then(|| {
            let text = |key: &[u8]| String::from_utf8_lossy(var(key)).into_owned();
            RequestLog {
                method: text(b"REQUEST_METHOD"),
                uri: text(b"REQUEST_URI"),
                proto: text(b"SERVER_PROTOCOL"),
                remote: match text(b"HTTP_X_FORWARDED_FOR") {
                    forwarded if shared.log_x_forwarded_for && !forwarded.is_empty() => {
                        forwarded.split(',').next().unwrap_or("").trim().to_string()
                    }
                    _ => text(b"REMOTE_ADDR"),
                },
                host: text(b"HTTP_HOST"),
                user_agent: text(b"HTTP_USER_AGENT"),
                referer: text(b"HTTP_REFERER"),
            }
        }),
    };
    match shared.static_file(
        var(b"REQUEST_METHOD"),
        var(b"PATH_INFO"),
        uwsgi::find_var(&buf, &packet, b"HTTP_ACCEPT_ENCODING"),
    ) {
        Some(found) => {
            let (since, range) = (
                uwsgi::find_var(&buf, &packet, b"HTTP_IF_MODIFIED_SINCE"),
                uwsgi::find_var(&buf, &packet, b"HTTP_RANGE"),
            );
            respond::serve_static(&mut stream, &shared, exchange, found, since, range).await;
        }
        None => {
            respond::respond(&mut stream, &shared, exchange, |py| {
                environ::uwsgi_environ(py, &shared.template, &buf, &packet, Input::new(body))
            })
            .await;
        }
    }
    shared.end_request();
}

fn peer(endpoint: &Endpoint) -> String {
    if endpoint.remote_addr.is_empty() {
        "unix peer".to_string()
    } else {
        format!("{}:{}", endpoint.remote_addr, endpoint.remote_port)
    }
}

/// Answers a request that will not reach the application, then closes the connection
/// gently (shutdown, then drain briefly) so the client reads the answer instead of a reset.
async fn refuse(
    stream: &mut ClientSocket,
    shared: &Shared,
    endpoint: &Endpoint,
    protocol: Protocol,
    status: u16,
    reason: &str,
) {
    crate::log::warn(&format!("{}: {status} {reason}", peer(endpoint)));
    let phrase = http::reason_phrase(status);
    let mut out = Vec::with_capacity(256);
    response::simple_response(
        &mut out,
        status,
        phrase,
        &format!("{status} {phrase}: {reason}\n"),
        true,
        &shared.own_headers(protocol),
    );
    if tokio::time::timeout(shared.io_timeout, stream.write_all(&out))
        .await
        .is_err()
    {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = vec![0u8; 8192];
    let linger = async {
        let mut drained = 0usize;
        while drained < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), linger).await;
}
