//! A uwsgi-protocol connection: one packet of request variables, its body, one answer,
//! then the connection closes (as uWSGI: the front end opens one per request).
//!
//! Owns: the vars block's deadline and size limit, CONTENT_LENGTH and `limit-post`. Must
//! not: parse the packet itself (`protocol::uwsgi` does).

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::{peer, refuse};
use crate::config::Protocol;
use crate::protocol::uwsgi::{self, Packet};
use crate::worker::body::{self, BodyError};
use crate::worker::client::ClientSocket;
use crate::worker::request_log::{new_record, RequestLine};
use crate::worker::respond::{respond, Exchange};
use crate::worker::static_response::serve_static;
use crate::worker::Shared;
use crate::wsgi::environ::{self, Endpoint};
use crate::wsgi::objects::{Body, Input};

pub async fn serve_uwsgi(mut stream: ClientSocket, endpoint: Endpoint, shared: Arc<Shared>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let Some(packet) = read_packet(&mut stream, &mut buf, &shared, &endpoint).await else {
        return;
    };
    let content_length = content_length(&buf, &packet, &endpoint)
        .and_then(|n| body::check_limit(n, shared.limit_post).map(|()| n));
    let content_length = match content_length {
        Ok(n) => n,
        Err(BodyError::Refuse(status, reason)) => {
            let protocol = Protocol::Uwsgi;
            return refuse(&mut stream, &shared, &endpoint, protocol, status, reason).await;
        }
        Err(_) => return,
    };
    let mut pending = buf.split_off(packet.len);
    let stall = shared.io_timeout;
    let body = match body::read_exact_body(&mut stream, &mut pending, content_length, stall).await {
        Ok(body) => body,
        Err(_) => return,
    };
    let request = Request {
        buf: &buf,
        packet: &packet,
        received: packet.len as u64 + content_length,
    };
    request.answer(&mut stream, &shared, &endpoint, body).await;
}

/// Reads until the whole vars block is in `buf`: within http-header-timeout of the
/// connection (nginx sends it at once), a deadline rather than a time per read, so a
/// client trickling bytes cannot hold it. None: the connection is over (logged).
async fn read_packet(
    stream: &mut ClientSocket,
    buf: &mut Vec<u8>,
    shared: &Shared,
    endpoint: &Endpoint,
) -> Option<Packet> {
    let max = shared.buffer_size.min(65535);
    let deadline = Instant::now() + shared.header_timeout;
    loop {
        match uwsgi::parse_packet(buf, max) {
            Ok(Some(packet)) => return Some(packet),
            Ok(None) => {}
            Err(e) => {
                crate::log::warn(&format!("{}: {e}; connection closed", peer(endpoint)));
                return None;
            }
        }
        buf.reserve(4096);
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return None,
            Err(_) => {
                crate::log::warn(&format!(
                    "{}: uwsgi vars block not received in time; connection closed",
                    peer(endpoint)
                ));
                return None;
            }
        }
    }
}

/// The body's length from CONTENT_LENGTH (absent or empty: none); an invalid one is 400.
fn content_length(buf: &[u8], packet: &Packet, endpoint: &Endpoint) -> Result<u64, BodyError> {
    match uwsgi::find_var(buf, packet, b"CONTENT_LENGTH") {
        None | Some(b"") => Ok(0),
        Some(value) => match std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(n) => Ok(n),
            None => {
                crate::log::warn(&format!(
                    "{}: invalid CONTENT_LENGTH in uwsgi request",
                    peer(endpoint)
                ));
                Err(BodyError::Refuse(400, "invalid CONTENT_LENGTH"))
            }
        },
    }
}

/// A whole uwsgi request: its packet in `buf`, its body read.
struct Request<'a> {
    buf: &'a [u8],
    packet: &'a Packet,
    /// Bytes received: the packet and the body.
    received: u64,
}

impl Request<'_> {
    /// A request variable's value, empty when absent.
    fn var(&self, key: &[u8]) -> &[u8] {
        uwsgi::find_var(self.buf, self.packet, key).unwrap_or_default()
    }

    /// Runs the request: a static file or the application.
    async fn answer(
        &self,
        stream: &mut ClientSocket,
        shared: &Shared,
        endpoint: &Endpoint,
        body: Body,
    ) {
        let method = self.var(b"REQUEST_METHOD");
        shared.begin_request(method, self.var(b"REQUEST_URI"));
        let exchange = self.exchange(shared, endpoint);
        let found = shared.static_file(
            method,
            self.var(b"PATH_INFO"),
            uwsgi::find_var(self.buf, self.packet, b"HTTP_ACCEPT_ENCODING"),
        );
        match found {
            Some(found) => {
                let since = uwsgi::find_var(self.buf, self.packet, b"HTTP_IF_MODIFIED_SINCE");
                let range = uwsgi::find_var(self.buf, self.packet, b"HTTP_RANGE");
                serve_static(stream, shared, exchange, found, since, range).await;
            }
            None => {
                respond(stream, shared, exchange, |py| {
                    let input = Input::new(body);
                    environ::uwsgi_environ(py, &shared.template, self.buf, self.packet, input)
                })
                .await;
            }
        }
        shared.end_request();
    }

    /// What decides the answer: behind a front end, no chunking and no keep-alive.
    fn exchange(&self, shared: &Shared, endpoint: &Endpoint) -> Exchange<'_> {
        let line = RequestLine {
            method: self.var(b"REQUEST_METHOD"),
            uri: self.var(b"REQUEST_URI"),
            proto: self.var(b"SERVER_PROTOCOL"),
        };
        Exchange {
            listener: endpoint.listener,
            received: self.received,
            protocol: Protocol::Uwsgi,
            chunked_allowed: false,
            head_request: line.method == b"HEAD",
            keep_alive: false,
            record: new_record(shared, line, self.var(b"REMOTE_ADDR"), |header| {
                self.var(header.uwsgi_var())
            }),
        }
    }
}
