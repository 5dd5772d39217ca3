//! Answering one request through the application: run it (`app`), then send what it
//! returned (`send`), or answer for it: a route's or a missing application's answer, a 500
//! with the traceback logged when the application fails before its headers are out (and a
//! cut connection when it fails after, in `send`).
//!
//! Owns: what the connection knows about a request that decides how to answer
//! (`Exchange`), and the order "GIL for Python, no GIL for I/O". Must not: read requests,
//! or write a byte the application's headers did not allow (no response splitting, no
//! extra body).

use std::io;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::app::{start_app, Direct, Started, Stop};
use super::client::ClientSocket;
use super::request_log::{count_head, finish};
use super::send::{send, write_all};
use super::Shared;
use crate::config::Protocol;
use crate::log::RequestRecord;
use crate::protocol::response::{self, Framing, ResponseStart};
use crate::wsgi::block::Block;

/// What the connection knows about the request that decides how to answer.
pub struct Exchange<'a> {
    pub protocol: Protocol,
    /// The client speaks HTTP/1.1, so a body of unknown length can be chunked.
    pub chunked_allowed: bool,
    pub head_request: bool,
    /// The client and the worker's state allow another request on this connection.
    pub keep_alive: bool,
    /// The request's log record when request logging is on (`request_log::new_record`);
    /// its outcome is filled in when the request is answered.
    pub record: Option<RequestRecord<'a>>,
    /// Index of the listener the request came in on, and bytes of request received.
    pub listener: usize,
    pub received: u64,
}

impl Exchange<'_> {
    /// `METHOD URI: ` to open a message about this request (empty without a record).
    pub fn describe(&self) -> String {
        match &self.record {
            Some(record) => format!("{} {}: ", record.method, record.uri),
            None => String::new(),
        }
    }

    /// The client went away (or stalled past socket-timeout) while the response was being
    /// sent: one line with the request, as uWSGI's `Broken pipe` lines. The caller closes
    /// the application's iterable.
    pub fn client_gone(&self, shared: &Shared, sent: u64, error: &io::Error) {
        let client = match &self.record {
            Some(record) if !record.remote.is_empty() => format!(" ({})", record.remote),
            _ => String::new(),
        };
        crate::log::warn(&format!(
            "{}{client}: client gone after {sent} body bytes: {error}; response abandoned",
            shared.current_request()
        ));
    }
}

/// Calls the application and sends its response. Returns whether the connection may carry
/// another request.
pub async fn respond(
    stream: &mut ClientSocket,
    shared: &Shared,
    mut exchange: Exchange<'_>,
    environ: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
) -> bool {
    let began = Instant::now();
    let mut block = Block::default();
    let counts = exchange.line_counts();
    let started = Python::attach(|py| start_app(py, shared, environ, &mut block, counts));
    let raised = matches!(started, Started::Stopped(Stop::Failed(_)));
    let (status, sent, keep) = match started {
        Started::Stopped(Stop::Close) => (0, 0, false),
        Started::Stopped(Stop::Direct(answer)) => answer.send(stream, shared, &mut exchange).await,
        Started::Stopped(Stop::Failed(message)) => {
            let keep = answer_failure(stream, shared, &mut exchange, &message).await;
            (500, 0, keep)
        }
        Started::Running {
            response,
            start,
            ended,
        } => {
            let status = start.status;
            let response = (response, start);
            let (sent, keep) = send(stream, shared, &mut exchange, response, block, ended).await;
            (status, sent, keep)
        }
    };
    finish(shared, exchange, (status, sent), began.elapsed(), raised);
    keep
}

impl Direct {
    /// Sends the answer, a short text body; returns (status, bytes sent, connection
    /// reusable).
    async fn send(
        self,
        stream: &mut ClientSocket,
        shared: &Shared,
        exchange: &mut Exchange<'_>,
    ) -> (u16, u64, bool) {
        let status = self.status;
        let reason = crate::protocol::http::reason_phrase(status);
        let mut start =
            ResponseStart::new(&format!("{status} {reason}")).expect("a valid status line");
        if let Some(location) = &self.location {
            if start.add_header("Location", location).is_err() {
                crate::log::warn(&format!("route: invalid redirect target {location:?}"));
            }
        }
        let _ = start.add_header("Content-Type", "text/plain; charset=utf-8");
        for (name, value) in self.headers.iter().chain(&shared.extra_headers) {
            let _ = start.add_header(name, value);
        }
        let body = format!("{status} {reason}\n");
        let close = !exchange.keep_alive;
        let mut out = Vec::with_capacity(256);
        let framing = Framing::Length(body.len() as u64);
        exchange.write_head(shared, &mut out, &start, framing, close);
        if !exchange.head_request {
            out.extend_from_slice(body.as_bytes());
        }
        let ok = write_all(stream, shared.io_timeout, &[&out]).await.is_ok();
        (status, out.len() as u64, ok && !close)
    }
}

/// The application failed before its headers were out: the error (a traceback) is logged
/// with the request, and the client gets a 500. Returns whether the connection is reusable.
async fn answer_failure(
    stream: &mut ClientSocket,
    shared: &Shared,
    exchange: &mut Exchange<'_>,
    message: &str,
) -> bool {
    crate::log::error(&format!("{}{message}", exchange.describe()));
    let mut out = Vec::with_capacity(256);
    response::simple_response(
        &mut out,
        500,
        "Internal Server Error",
        "500 Internal Server Error\n",
        !exchange.keep_alive,
        &shared.own_headers(exchange.protocol),
    );
    count_head(exchange.line_counts(), &out);
    let ok = write_all(stream, shared.io_timeout, &[&out]).await.is_ok();
    ok && exchange.keep_alive
}
