//! An HTTP/1.x connection: an optional PROXY header, then requests one after another
//! (keep-alive, pipelining) until the client, the worker's drain or an error ends it.
//!
//! Owns: the head's timeouts and size limit, `Expect: 100-continue`, body framing and
//! `limit-post`, and closing idle connections when the worker drains. Must not: parse bytes
//! itself (`protocol::http` and `protocol::proxy` do).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{peer, refuse};
use crate::config::Protocol;
use crate::protocol::http::{self, BodyFraming, HttpError, RequestHead};
use crate::worker::body::{self, BodyError};
use crate::worker::client::ClientSocket;
use crate::worker::request_log::{new_record, RequestLine};
use crate::worker::respond::{respond, Exchange};
use crate::worker::static_response::serve_static;
use crate::worker::{Shared, DRAIN_GRACE, FIRST_REQUEST_GRACE};
use crate::wsgi::environ::{self, Endpoint};
use crate::wsgi::objects::{Body, Input};

/// How a connection ends instead of bringing another request.
enum End {
    /// Closed, by the client, a timeout while idle, the drain, or an error already logged.
    Closed,
    /// Refused with this status (the worker answers, then closes).
    Refuse(u16, &'static str),
}

impl From<HttpError> for End {
    fn from(e: HttpError) -> End {
        End::Refuse(e.status, e.reason)
    }
}

pub async fn serve_http(mut stream: ClientSocket, mut endpoint: Endpoint, shared: Arc<Shared>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut drain = shared.drain_signal();
    if shared.proxy_protocol {
        let timeout = shared.header_timeout;
        match read_proxy_header(&mut stream, &mut buf, timeout).await {
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
            Ok(head) => head,
            Err(end) => return close(&mut stream, &shared, &endpoint, end).await,
        };
        let mut pending = buf.split_off(head.len);
        let body = match read_body(&mut stream, &head, &mut pending, &shared, &endpoint).await {
            Ok(body) => body,
            Err(end) => return close(&mut stream, &shared, &endpoint, end).await,
        };
        let request = Request {
            buf: &buf,
            head: &head,
            endpoint: &endpoint,
        };
        if !request.answer(&mut stream, &shared, body).await {
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

/// Ends the connection: refused ones get their answer first.
async fn close(stream: &mut ClientSocket, shared: &Shared, endpoint: &Endpoint, end: End) {
    if let End::Refuse(status, reason) = end {
        refuse(stream, shared, endpoint, Protocol::Http, status, reason).await;
    }
}

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

/// Reads until a complete head is in `buf`. An idle connection (nothing received yet) may
/// wait `keepalive_timeout`; from its first byte a head has `header_timeout` in total, so a
/// client trickling bytes cannot hold the connection longer than that.
async fn read_http_head(
    stream: &mut ClientSocket,
    buf: &mut Vec<u8>,
    shared: &Shared,
    drain: &mut watch::Receiver<bool>,
    fresh: bool,
) -> Result<RequestHead, End> {
    let mut deadline = Instant::now() + shared.keepalive_timeout;
    let mut receiving = false;
    let mut in_grace = false;
    loop {
        if !buf.is_empty() {
            match http::parse_request(buf, shared.max_headers) {
                Ok(Some(head)) if head.len > shared.buffer_size => {
                    return Err(http::head_too_large(&buf[..shared.buffer_size]).into())
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => return Err(e.into()),
            }
            if buf.len() >= shared.buffer_size {
                return Err(http::head_too_large(buf).into());
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
            Ok(Ok(0)) | Ok(Err(_)) => return Err(End::Closed),
            Ok(Ok(_)) => {}
            Err(_) if idle => return Err(End::Closed),
            Err(_) => return Err(End::Refuse(408, "request head not received in time")),
        }
    }
}

/// The request's body as its head frames it (`pending` holds what came after the head),
/// after `limit-post` and, when the client waits for it, `100 Continue`.
async fn read_body(
    stream: &mut ClientSocket,
    head: &RequestHead,
    pending: &mut Vec<u8>,
    shared: &Shared,
    endpoint: &Endpoint,
) -> Result<Body, End> {
    if let BodyFraming::Length(n) = head.framing {
        body::check_limit(n, shared.limit_post).map_err(|e| body_failed(e, endpoint))?;
    }
    if head.expect_continue
        && pending.is_empty()
        && stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return Err(End::Closed);
    }
    let body = match head.framing {
        BodyFraming::None => Ok(Body::Memory(Vec::new())),
        BodyFraming::Length(n) => {
            body::read_exact_body(stream, pending, n, shared.io_timeout).await
        }
        BodyFraming::Chunked => {
            let limit = shared.limit_post;
            body::read_chunked_body(stream, pending, limit, shared.io_timeout).await
        }
    };
    body.map_err(|e| body_failed(e, endpoint))
}

/// How the connection ends when its body cannot be had: refused, or closed (an I/O error
/// logged).
fn body_failed(e: BodyError, endpoint: &Endpoint) -> End {
    match e {
        BodyError::Refuse(status, reason) => End::Refuse(status, reason),
        BodyError::Gone => End::Closed,
        BodyError::Io(e) => {
            crate::log::warn(&format!("{}: reading request body: {e}", peer(endpoint)));
            End::Closed
        }
    }
}

/// A whole HTTP request: its head in `buf`, its body read.
struct Request<'a> {
    buf: &'a [u8],
    head: &'a RequestHead,
    endpoint: &'a Endpoint,
}

impl Request<'_> {
    /// The first field of that name, as sent.
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head
            .headers
            .iter()
            .find(|h| self.buf[h.name.clone()].eq_ignore_ascii_case(name))
            .map(|h| &self.buf[h.value.clone()])
    }

    fn method(&self) -> &[u8] {
        &self.buf[self.head.method.clone()]
    }

    /// Runs the request: a static file or the application. Returns whether the connection
    /// may carry another request.
    async fn answer(&self, stream: &mut ClientSocket, shared: &Shared, body: Body) -> bool {
        let last = shared.begin_request(self.method(), &self.buf[self.head.target.clone()]);
        let exchange = self.exchange(shared, last, body.len());
        let path = http::percent_decode(&self.buf[self.head.path.clone()]);
        let keep_going =
            match shared.static_file(self.method(), &path, self.header(b"accept-encoding")) {
                Some(found) => {
                    let (since, range) = (self.header(b"if-modified-since"), self.header(b"range"));
                    serve_static(stream, shared, exchange, found, since, range).await
                }
                None => {
                    respond(stream, shared, exchange, |py| {
                        let (template, input) = (&shared.template, Input::new(body));
                        environ::http_environ(
                            py,
                            template,
                            self.buf,
                            self.head,
                            self.endpoint,
                            input,
                        )
                    })
                    .await
                }
            };
        shared.end_request();
        keep_going
    }

    /// What decides the answer; `last`: this worker retires after this request.
    fn exchange(&self, shared: &Shared, last: bool, body_len: u64) -> Exchange<'_> {
        let head = self.head;
        let line = RequestLine {
            method: self.method(),
            uri: &self.buf[head.target.clone()],
            proto: if head.minor_version == 1 {
                b"HTTP/1.1"
            } else {
                b"HTTP/1.0"
            },
        };
        let peer = self.endpoint.remote_addr.as_bytes();
        Exchange {
            listener: self.endpoint.listener,
            received: head.len as u64 + body_len,
            protocol: Protocol::Http,
            chunked_allowed: head.minor_version == 1,
            head_request: line.method == b"HEAD",
            keep_alive: head.keep_alive && !last && !shared.draining(),
            record: new_record(shared, line, peer, |header| {
                self.header(header.http_name()).unwrap_or_default()
            }),
        }
    }
}
