//! Running the application for one request and sending what it returns: framing
//! (Content-Length, chunked, or until close), HEAD and bodiless statuses, sendfile for
//! `wsgi.file_wrapper`, a 500 with the traceback logged when the application fails before
//! its headers are out, and a cut connection when it fails after.
//!
//! Owns: the order "GIL for Python, no GIL for I/O". Must not: read requests, or write a
//! byte the application's headers did not allow (no response splitting, no extra body).

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::io::AsyncWriteExt;

use super::client::ClientSocket;
use super::statics::{self, StaticFile};
use super::Shared;
use crate::config::Protocol;
use crate::protocol::response::{self, Framing, OwnHeaders, ResponseStart};
use crate::wsgi::block::Block;
use crate::wsgi::interpreter::format_exception;
use crate::wsgi::{call_app, AppResponse, FileBody};

/// The request's details for its log line, copied only when request logging is on.
pub struct RequestLog {
    pub method: String,
    pub uri: String,
    pub proto: String,
    pub remote: String,
    pub host: String,
    pub user_agent: String,
    pub referer: String,
}

/// What the connection knows about the request that decides how to answer.
pub struct Exchange {
    pub protocol: Protocol,
    /// The client speaks HTTP/1.1, so a body of unknown length can be chunked.
    pub chunked_allowed: bool,
    pub head_request: bool,
    /// The client and the worker's state allow another request on this connection.
    pub keep_alive: bool,
    pub log: Option<RequestLog>,
    /// Index of the listener the request came in on, and bytes of request received.
    pub listener: usize,
    pub received: u64,
}

/// What uWSGI's request line counts (`log-format = uwsgi`): request variables (keys and
/// values, as uWSGI counts them) with their uwsgi-packet size, and the response head.
#[derive(Debug, Default, Clone, Copy)]
pub struct LineStats {
    /// Only `log-format = uwsgi` with request logging on reads them: otherwise nothing
    /// is counted, so a request pays nothing for the figures.
    wanted: bool,
    vars: usize,
    vars_bytes: usize,
    headers: usize,
    header_bytes: usize,
}

impl LineStats {
    fn for_requests_of(shared: &Shared) -> LineStats {
        LineStats {
            wanted: shared.uwsgi_log_line && shared.log_requests,
            ..LineStats::default()
        }
    }

    /// Counts the header lines and bytes of a response head at the start of `out`.
    fn head(&mut self, out: &[u8]) {
        if !self.wanted {
            return;
        }
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(out.len(), |p| p + 4);
        self.header_bytes = end;
        self.headers = out[..end]
            .windows(2)
            .filter(|w| *w == b"\r\n")
            .count()
            .saturating_sub(2);
    }

    /// The CGI variables of the environ (string values, names without a dot).
    fn vars(&mut self, environ: &Bound<'_, PyDict>) {
        if !self.wanted {
            return;
        }
        for (key, value) in environ.iter() {
            let (Ok(key), Ok(value)) = (key.extract::<String>(), value.extract::<String>()) else {
                continue;
            };
            if !key.contains('.') {
                self.vars += 2;
                self.vars_bytes += 4 + key.len() + value.len();
            }
        }
    }
}

enum Started {
    Failed(String),
    /// Answered without the application: a routing rule, or no application for the path.
    Direct {
        status: u16,
        location: Option<String>,
        headers: Vec<(String, String)>,
    },
    /// A routing `break`: the request ends with no answer and the connection closes.
    Close,
    Running {
        response: AppResponse,
        start: ResponseStart,
        ended: bool,
    },
}

thread_local! {
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((0, [0; 29])) };
}

/// What the server adds to a response on a listener speaking `protocol`: over HTTP,
/// `Server` (unless `http-server-header = false`) and `Date`; over uwsgi nothing, so the
/// front end's own headers stand (as uWSGI).
impl Shared {
    pub fn own_headers(&self, protocol: Protocol) -> OwnHeaders {
        match protocol {
            Protocol::Http => OwnHeaders {
                server: self.server_header,
                date: Some(current_date()),
            },
            Protocol::Uwsgi => OwnHeaders::NONE,
        }
    }
}

/// The Date header value, formatted at most once a second per thread.
pub fn current_date() -> [u8; 29] {
    let now = crate::sys::time::unix_secs();
    DATE.with(|cache| {
        let (second, text) = cache.get();
        if second == now {
            return text;
        }
        let text = crate::sys::time::http_date(now);
        cache.set((now, text));
        text
    })
}

/// Calls the application and sends its response. Returns whether the connection may carry
/// another request.
pub async fn respond(
    stream: &mut ClientSocket,
    shared: &Shared,
    exchange: Exchange,
    environ: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
) -> bool {
    let began = Instant::now();
    let mut block = Block::default();
    let mut stats = LineStats::for_requests_of(shared);
    let started = Python::attach(|py| start_app(py, shared, environ, &mut block, &mut stats));
    let raised = matches!(started, Started::Failed(_));
    let (status, sent, keep) = match started {
        Started::Close => (0, 0, false),
        Started::Direct {
            status,
            location,
            headers,
        } => {
            let reason = crate::protocol::http::reason_phrase(status);
            let mut start =
                ResponseStart::new(&format!("{status} {reason}")).expect("a valid status line");
            if let Some(location) = &location {
                if start.add_header("Location", location).is_err() {
                    crate::log::warn(&format!("route: invalid redirect target {location:?}"));
                }
            }
            let _ = start.add_header("Content-Type", "text/plain; charset=utf-8");
            for (name, value) in headers.iter().chain(&shared.extra_headers) {
                let _ = start.add_header(name, value);
            }
            let body = format!("{status} {reason}\n");
            let close = !exchange.keep_alive;
            let mut out = Vec::with_capacity(256);
            response::write_head(
                &mut out,
                b"HTTP/1.1",
                &start,
                Framing::Length(body.len() as u64),
                close && exchange.protocol == Protocol::Http,
                &shared.own_headers(exchange.protocol),
            );
            stats.head(&out);
            if !exchange.head_request {
                out.extend_from_slice(body.as_bytes());
            }
            let ok = write_all(stream, shared.io_timeout, &[&out]).await.is_ok();
            (status, out.len() as u64, ok && !close)
        }
        Started::Failed(message) => {
            crate::log::error(&format!("{}{message}", describe(&exchange)));
            let mut out = Vec::with_capacity(256);
            response::simple_response(
                &mut out,
                500,
                "Internal Server Error",
                "500 Internal Server Error\n",
                !exchange.keep_alive,
                &shared.own_headers(exchange.protocol),
            );
            stats.head(&out);
            let ok = write_all(stream, shared.io_timeout, &[&out]).await.is_ok();
            (500, 0, ok && exchange.keep_alive)
        }
        Started::Running {
            response,
            start,
            ended,
        } => {
            let status = start.status;
            let (sent, keep) = send(
                stream,
                shared,
                &exchange,
                (response, start),
                block,
                ended,
                &mut stats,
            )
            .await;
            (status, sent, keep)
        }
    };
    let took = began.elapsed();
    shared.account(
        (exchange.listener, exchange.received, status, sent),
        took,
        raised,
    );
    log_request(shared, &exchange, (status, sent, took), &stats);
    keep
}

/// The client went away (or stalled past socket-timeout) while the response was being
/// sent: one line with the request, as uWSGI's `Broken pipe` lines. The caller closes the
/// application's iterable.
fn client_gone(shared: &Shared, exchange: &Exchange, sent: u64, error: &io::Error) {
    let client = match &exchange.log {
        Some(log) if !log.remote.is_empty() => format!(" ({})", log.remote),
        _ => String::new(),
    };
    crate::log::warn(&format!(
        "{}{client}: client gone after {sent} body bytes: {error}; response abandoned",
        shared.current_request()
    ));
}

fn describe(exchange: &Exchange) -> String {
    match &exchange.log {
        Some(log) => format!("{} {}: ", log.method, log.uri),
        None => String::new(),
    }
}

fn start_app<'py>(
    py: Python<'py>,
    shared: &Shared,
    environ: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
    block: &mut Block,
    stats: &mut LineStats,
) -> Started {
    let environ = match environ(py) {
        Ok(environ) => environ,
        Err(e) => {
            return Started::Failed(format!(
                "cannot build environ: {}",
                format_exception(py, &e)
            ))
        }
    };
    stats.vars(&environ);
    let mut routed = None;
    if !shared.routes.is_empty() {
        let outcome = crate::routing::evaluate(&shared.routes, &EnvironVariables(&environ));
        let applied = (|| -> PyResult<()> {
            if let Some(path) = &outcome.rewrite {
                environ.set_item("PATH_INFO", path)?;
            }
            for (key, value) in &outcome.set_vars {
                environ.set_item(key, value)?;
            }
            Ok(())
        })();
        if let Err(e) = applied {
            return Started::Failed(format_exception(py, &e));
        }
        if outcome.close {
            return Started::Close;
        }
        if let Some((status, location)) = outcome.answer {
            return Started::Direct {
                status,
                location,
                headers: outcome.add_headers,
            };
        }
        routed = Some(outcome);
    }
    let app = match select_app(shared, &environ) {
        Ok(Some(app)) => app,
        Ok(None) if shared.no_default_app => {
            return Started::Direct {
                status: 404,
                location: None,
                headers: Vec::new(),
            }
        }
        Ok(None) => {
            return Started::Failed(
                "no Python application found (see the errors logged at start-up)".into(),
            )
        }
        Err(e) => return Started::Failed(format_exception(py, &e)),
    };
    let mut response = match call_app(py, app, environ) {
        Ok(response) => response,
        Err(e) => return Started::Failed(format_exception(py, &e)),
    };
    let ended = if response.file.is_some() {
        false
    } else {
        match response.pull(py, block) {
            Ok(ended) => ended,
            Err(e) => {
                let message = format_exception(py, &e);
                close_iterable(py, &mut response);
                return Started::Failed(message);
            }
        }
    };
    let start = {
        let mut state = response.state();
        state.headers_sent = true;
        state.start.take()
    };
    let Some(mut start) = start else {
        close_iterable(py, &mut response);
        return Started::Failed("the application returned without calling start_response()".into());
    };
    for (name, value) in &shared.extra_headers {
        // Checked when the configuration was read.
        let _ = start.add_header(name, value);
    }
    if let Some(outcome) = routed {
        for name in &outcome.remove_headers {
            start.remove_header(name);
        }
        for (name, value) in &outcome.add_headers {
            if let Err(e) = start.add_header(name, value) {
                crate::log::warn(&format!("route addheader {name}: {e}"));
            }
        }
    }
    if ended {
        close_iterable(py, &mut response);
    }
    Started::Running {
        response,
        start,
        ended,
    }
}

/// The application for a request: with `mount`, the one whose prefix matches (with
/// `manage-script-name`, the longest prefix of PATH_INFO, moved to SCRIPT_NAME; without it,
/// the SCRIPT_NAME the web server sent); otherwise the default application.
fn select_app<'a>(
    shared: &'a Shared,
    environ: &Bound<'_, PyDict>,
) -> PyResult<Option<&'a Py<PyAny>>> {
    if shared.mounts.is_empty() {
        return Ok(shared.app.as_ref());
    }
    let text = |key: &str| -> PyResult<String> {
        Ok(match environ.get_item(key)? {
            Some(value) => value.extract()?,
            None => String::new(),
        })
    };
    if let Some(by_host_header) = shared.vhost {
        let host = if by_host_header {
            let host = text("HTTP_HOST")?;
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
                _ => host,
            }
        } else {
            text("SERVER_NAME")?
        }
        .to_ascii_lowercase();
        if let Some((_, app)) = shared.mounts.iter().find(|(m, _)| *m == host) {
            return Ok(Some(app));
        }
    }
    if shared.manage_script_name {
        let path = text("PATH_INFO")?;
        for (mountpoint, app) in shared.mounts.iter().filter(|(m, _)| m.starts_with('/')) {
            let rest = match path.strip_prefix(mountpoint.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => continue,
            };
            environ.set_item("SCRIPT_NAME", mountpoint)?;
            environ.set_item("PATH_INFO", rest)?;
            return Ok(Some(app));
        }
    } else {
        let script_name = text("SCRIPT_NAME")?;
        if let Some((_, app)) = shared
            .mounts
            .iter()
            .find(|(m, _)| m.starts_with('/') && *m == script_name)
        {
            return Ok(Some(app));
        }
    }
    if shared.no_default_app {
        return Ok(None);
    }
    Ok(shared
        .app
        .as_ref()
        .or_else(|| shared.mounts.last().map(|(_, app)| app)))
}

/// Request variables for routing rules, read from the environ being built.
struct EnvironVariables<'a, 'py>(&'a Bound<'py, PyDict>);

impl crate::routing::Variables for EnvironVariables<'_, '_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get_item(name).ok()??.extract().ok()
    }
}

fn close_iterable(py: Python<'_>, response: &mut AppResponse) {
    if let Err(e) = response.close(py) {
        crate::log::error(&format!(
            "the response's close() failed: {}",
            format_exception(py, &e)
        ));
    }
}

/// Sends head and body; returns (body bytes sent, connection reusable).
async fn send(
    stream: &mut ClientSocket,
    shared: &Shared,
    exchange: &Exchange,
    (mut response, start): (AppResponse, ResponseStart),
    mut block: Block,
    mut ended: bool,
    stats: &mut LineStats,
) -> (u64, bool) {
    let file = response.file.take();
    let framing = if start.forbids_body() {
        Framing::NoBody
    } else if let Some(n) = start.content_length {
        Framing::Length(n)
    } else if let Some(file) = &file {
        Framing::Length(file.len)
    } else if ended {
        Framing::Length(block.len() as u64)
    } else if exchange.chunked_allowed && exchange.protocol == Protocol::Http {
        Framing::Chunked
    } else {
        Framing::UntilClose
    };
    let no_body = exchange.head_request || framing == Framing::NoBody;
    // A HEAD answer carries no body, so it needs no chunked framing to stay reusable.
    let head_framing = if exchange.head_request && framing == Framing::Chunked {
        Framing::NoBody
    } else {
        framing
    };
    let mut close = !exchange.keep_alive
        || start.close_requested
        || (framing == Framing::UntilClose && !no_body);
    let mut head = Vec::with_capacity(128 + start.headers.len());
    response::write_head(
        &mut head,
        b"HTTP/1.1",
        &start,
        head_framing,
        close && exchange.protocol == Protocol::Http,
        &shared.own_headers(exchange.protocol),
    );
    stats.head(&head);

    if no_body {
        let written = write_all(stream, shared.io_timeout, &[&head]).await;
        if let Err(e) = &written {
            client_gone(shared, exchange, 0, e);
        }
        if !ended {
            Python::attach(|py| close_iterable(py, &mut response));
        }
        return (0, written.is_ok() && !close);
    }

    if let Some(file) = file {
        let limit = match framing {
            Framing::Length(n) => n.min(file.len),
            _ => file.len,
        };
        let result = match write_all(stream, shared.io_timeout, &[&head]).await {
            Ok(()) => send_file(stream, shared.io_timeout, &file, limit).await,
            Err(e) => Err(e),
        };
        Python::attach(|py| close_iterable(py, &mut response));
        if let Err(e) = &result {
            client_gone(shared, exchange, 0, e);
        }
        let sent = result.as_ref().map_or(0, |n| *n);
        let complete = matches!(framing, Framing::Length(n) if n == sent);
        return (sent, result.is_ok() && complete && !close);
    }

    let mut sent: u64 = 0;
    let mut first = true;
    loop {
        let mut pieces: Vec<&[u8]> = block.slices().collect();
        let mut piece_len = block.len();
        if let Framing::Length(n) = framing {
            let room = n.saturating_sub(sent) as usize;
            if piece_len > room {
                crate::log::warn(&format!(
                    "{}the application sent more than its Content-Length {n}; response cut",
                    describe(exchange)
                ));
                truncate(&mut pieces, room);
                piece_len = room;
                close = true;
                ended = true;
            }
        }
        let chunked = framing == Framing::Chunked && piece_len > 0;
        let chunk_header = if chunked {
            format!("{piece_len:x}\r\n")
        } else {
            String::new()
        };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(pieces.len() + 4);
        if first {
            parts.push(&head);
        }
        if chunked {
            parts.push(chunk_header.as_bytes());
        }
        parts.extend_from_slice(&pieces);
        if chunked {
            parts.push(b"\r\n");
        }
        if ended && framing == Framing::Chunked {
            parts.push(b"0\r\n\r\n");
        }
        let written = write_all(stream, shared.io_timeout, &parts).await;
        drop(parts);
        drop(pieces);
        first = false;
        if let Err(e) = written {
            client_gone(shared, exchange, sent, &e);
            Python::attach(|py| {
                block.clear(py);
                close_iterable(py, &mut response)
            });
            return (sent, false);
        }
        sent += piece_len as u64;
        if ended {
            break;
        }
        let pulled = Python::attach(|py| {
            block.clear(py);
            let result = response.pull(py, &mut block);
            if !matches!(result, Ok(false)) {
                close_iterable(py, &mut response);
            }
            result.map_err(|e| format_exception(py, &e))
        });
        match pulled {
            Ok(done) => ended = done,
            Err(message) => {
                crate::log::error(&format!(
                    "{}{message} (after the headers were sent; connection cut)",
                    describe(exchange)
                ));
                return (sent, false);
            }
        }
    }
    if let Framing::Length(n) = framing {
        if sent < n {
            crate::log::warn(&format!(
                "{}the application sent {sent} of its Content-Length {n} bytes; connection closed",
                describe(exchange)
            ));
            return (sent, false);
        }
    }
    (sent, !close)
}

/// Keeps the first `room` bytes of `pieces`.
fn truncate(pieces: &mut Vec<&[u8]>, mut room: usize) {
    let mut keep = 0;
    for piece in pieces.iter_mut() {
        if room == 0 {
            break;
        }
        if piece.len() > room {
            *piece = &piece[..room];
        }
        room -= piece.len();
        keep += 1;
    }
    pieces.truncate(keep);
}

/// At most this many buffers go to one writev (the kernel's limit is 1024).
const MAX_IOVECS: usize = 64;

/// Writes every part, with writev where the kernel takes them together.
async fn write_all(stream: &mut ClientSocket, stall: Duration, parts: &[&[u8]]) -> io::Result<()> {
    let write = async {
        let mut slices: Vec<IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut remaining: &mut [IoSlice<'_>] = &mut slices;
        while !remaining.is_empty() {
            let batch = remaining.len().min(MAX_IOVECS);
            let n = stream.write_vectored(&remaining[..batch]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut remaining, n);
        }
        Ok(())
    };
    tokio::time::timeout(stall, write)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// sendfile(2) from the file's position; returns the bytes sent.
async fn send_file(
    stream: &mut ClientSocket,
    stall: Duration,
    file: &FileBody,
    limit: u64,
) -> io::Result<u64> {
    let mut offset = file.offset as libc::off_t;
    let end = file.offset + limit;
    while (offset as u64) < end {
        let count = ((end - offset as u64) as usize).min(1 << 30);
        let sent = stream.write_with(|fd| {
            nix::sys::sendfile::sendfile(fd, &file.file, Some(&mut offset), count)
                .map_err(io::Error::from)
        });
        match tokio::time::timeout(stall, sent).await {
            Ok(Ok(0)) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
    Ok(offset as u64 - file.offset)
}

/// Answers a request with a static file (see `statics`). Returns whether the connection
/// may carry another request.
pub async fn serve_static(
    stream: &mut ClientSocket,
    shared: &Shared,
    exchange: Exchange,
    found: StaticFile,
    if_modified_since: Option<&[u8]>,
    range: Option<&[u8]>,
) -> bool {
    let began = Instant::now();
    let not_modified = if_modified_since
        .and_then(crate::sys::time::parse_http_date)
        .is_some_and(|since| found.modified <= since);
    let range = if not_modified {
        None
    } else {
        statics::parse_range(range, found.len)
    };
    let (status, text) = match (not_modified, &range) {
        (true, _) => (304, "304 Not Modified"),
        (_, Some(Ok(_))) => (206, "206 Partial Content"),
        (_, Some(Err(()))) => (416, "416 Range Not Satisfiable"),
        _ => (200, "200 OK"),
    };
    let mut start = ResponseStart::new(text).expect("a valid status line");
    let _ = start.add_header("Content-Type", found.content_type);
    let _ = start.add_header(
        "Last-Modified",
        &String::from_utf8_lossy(&crate::sys::time::http_date(found.modified)),
    );
    let _ = start.add_header("Accept-Ranges", "bytes");
    if found.gzip {
        let _ = start.add_header("Content-Encoding", "gzip");
    }
    if shared.statics.gzip_all || !shared.statics.gzip_dirs.is_empty() {
        let _ = start.add_header("Vary", "Accept-Encoding");
    }
    if let Some(seconds) = found.expires {
        let now = crate::sys::time::unix_secs();
        let _ = start.add_header(
            "Expires",
            &String::from_utf8_lossy(&crate::sys::time::http_date(now + seconds)),
        );
        let _ = start.add_header("Cache-Control", &format!("max-age={seconds}"));
    }
    let (offset, length) = match range {
        Some(Ok((first, last))) => {
            let _ = start.add_header(
                "Content-Range",
                &format!("bytes {first}-{last}/{}", found.len),
            );
            (first, last - first + 1)
        }
        Some(Err(())) => {
            let _ = start.add_header("Content-Range", &format!("bytes */{}", found.len));
            (0, 0)
        }
        None => (0, found.len),
    };
    let framing = if not_modified {
        Framing::NoBody
    } else {
        Framing::Length(length)
    };
    let close = !exchange.keep_alive;
    let mut head = Vec::with_capacity(256);
    response::write_head(
        &mut head,
        b"HTTP/1.1",
        &start,
        framing,
        close && exchange.protocol == Protocol::Http,
        &shared.own_headers(exchange.protocol),
    );
    let mut stats = LineStats::for_requests_of(shared);
    stats.head(&head);
    let mut ok = write_all(stream, shared.io_timeout, &[&head]).await.is_ok();
    let mut sent = 0;
    if ok && !exchange.head_request && framing != Framing::NoBody && length > 0 {
        let body = FileBody {
            file: found.file,
            offset,
            len: length,
        };
        match send_file(stream, shared.io_timeout, &body, length).await {
            Ok(n) => {
                sent = n;
                ok = n == length;
            }
            Err(_) => ok = false,
        }
    }
    let took = began.elapsed();
    shared.account(
        (exchange.listener, exchange.received, status, sent),
        took,
        false,
    );
    log_request(shared, &exchange, (status, sent, took), &stats);
    ok && !close
}

/// The request log line (and journal fields), when the logging options want this one.
fn log_request(
    shared: &Shared,
    exchange: &Exchange,
    (status, sent, took): (u16, u64, Duration),
    stats: &LineStats,
) {
    let Some(log) = exchange
        .log
        .as_ref()
        .filter(|_| shared.should_log(status, took))
    else {
        return;
    };
    crate::log::request(&crate::log::RequestRecord {
        method: &log.method,
        uri: &log.uri,
        proto: &log.proto,
        remote: &log.remote,
        host: &log.host,
        user_agent: &log.user_agent,
        referer: &log.referer,
        status,
        bytes: sent,
        micros: took.as_micros() as u64,
        rss_mib: shared
            .memory_report
            .then(|| super::resident_bytes().unwrap_or(0) >> 20),
        uwsgi: shared.uwsgi_log_line.then(|| {
            let (worker_requests, total_requests, core) = shared.counters();
            crate::log::UwsgiFields {
                vars: stats.vars,
                vars_bytes: stats.vars_bytes,
                headers: stats.headers,
                header_bytes: stats.header_bytes,
                worker_requests,
                total_requests,
                core,
            }
        }),
    });
}
