//! A request's log record, from either protocol: what the request was (built once, the same
//! way for HTTP and uwsgi, its text borrowed from the request's buffer), what uWSGI's line
//! counts (`log-format = uwsgi`), and the outcome written when the request is answered.
//!
//! Owns: which request details are logged (`log-x-forwarded-for`), counting the request
//! variables and the response head for uWSGI's line, and the end of a request (accounting
//! and the log line, once). Must not: write to the socket or decide an answer.

use std::borrow::Cow;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::respond::Exchange;
use super::Shared;
use crate::log::{RequestRecord, UwsgiFields};

/// The request headers a log line shows, as HTTP names them and as a uwsgi packet carries
/// them.
#[derive(Debug, Clone, Copy)]
pub enum LoggedHeader {
    ForwardedFor,
    Host,
    UserAgent,
    Referer,
}

impl LoggedHeader {
    /// The HTTP field name, lowercase.
    pub fn http_name(self) -> &'static [u8] {
        match self {
            LoggedHeader::ForwardedFor => b"x-forwarded-for",
            LoggedHeader::Host => b"host",
            LoggedHeader::UserAgent => b"user-agent",
            LoggedHeader::Referer => b"referer",
        }
    }

    /// The CGI variable a uwsgi packet carries it in.
    pub fn uwsgi_var(self) -> &'static [u8] {
        match self {
            LoggedHeader::ForwardedFor => b"HTTP_X_FORWARDED_FOR",
            LoggedHeader::Host => b"HTTP_HOST",
            LoggedHeader::UserAgent => b"HTTP_USER_AGENT",
            LoggedHeader::Referer => b"HTTP_REFERER",
        }
    }
}

/// What a request log line needs of a request: its method, URI and protocol as sent.
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub proto: &'a [u8],
}

/// The log record of a request that has just arrived (its outcome comes with `finish`),
/// when the logging options may log it. `peer` is the client's address as the connection
/// knows it; with `log-x-forwarded-for` the first address of X-Forwarded-For stands
/// instead. `header` gives a header's value, empty when absent.
pub fn new_record<'a>(
    shared: &Shared,
    line: RequestLine<'a>,
    peer: &'a [u8],
    header: impl Fn(LoggedHeader) -> &'a [u8],
) -> Option<RequestRecord<'a>> {
    if !shared.log_requests {
        return None;
    }
    let forwarded = match shared.log_x_forwarded_for {
        true => String::from_utf8_lossy(header(LoggedHeader::ForwardedFor)),
        false => Cow::Borrowed(""),
    };
    Some(RequestRecord {
        method: String::from_utf8_lossy(line.method),
        uri: String::from_utf8_lossy(line.uri),
        proto: String::from_utf8_lossy(line.proto),
        remote: if forwarded.is_empty() {
            String::from_utf8_lossy(peer)
        } else {
            first_address(forwarded)
        },
        host: String::from_utf8_lossy(header(LoggedHeader::Host)),
        user_agent: String::from_utf8_lossy(header(LoggedHeader::UserAgent)),
        referer: String::from_utf8_lossy(header(LoggedHeader::Referer)),
        status: 0,
        bytes: 0,
        micros: 0,
        rss_mib: None,
        uwsgi: shared.uwsgi_log_line.then(UwsgiFields::default),
    })
}

/// The first address of an X-Forwarded-For list (the client, as the first proxy saw it).
fn first_address(list: Cow<'_, str>) -> Cow<'_, str> {
    fn first(list: &str) -> &str {
        list.split(',').next().unwrap_or("").trim()
    }
    match list {
        Cow::Borrowed(list) => Cow::Borrowed(first(list)),
        Cow::Owned(list) => Cow::Owned(first(&list).to_string()),
    }
}

/// The request is answered: the scoreboard, stats and metrics count it, and its log line is
/// written when the logging options want this one.
pub fn finish(
    shared: &Shared,
    exchange: Exchange<'_>,
    (status, sent): (u16, u64),
    took: Duration,
    raised: bool,
) {
    shared.account(
        (exchange.listener, exchange.received, status, sent),
        took,
        raised,
    );
    let Some(mut record) = exchange.record.filter(|_| shared.should_log(status, took)) else {
        return;
    };
    record.status = status;
    record.bytes = sent;
    record.micros = took.as_micros() as u64;
    record.rss_mib = shared
        .memory_report
        .then(|| super::resident_bytes().unwrap_or(0) >> 20);
    if let Some(fields) = &mut record.uwsgi {
        (fields.worker_requests, fields.total_requests, fields.core) = shared.counters();
    }
    crate::log::request(&record);
}

/// Counts the CGI variables of the environ (string values, names without a dot) as uWSGI's
/// request line does: keys and values apart, with their uwsgi-packet size.
pub fn count_vars(fields: Option<&mut UwsgiFields>, environ: &Bound<'_, PyDict>) {
    let Some(fields) = fields else {
        return;
    };
    for (key, value) in environ.iter() {
        let (Ok(key), Ok(value)) = (key.extract::<String>(), value.extract::<String>()) else {
            continue;
        };
        if !key.contains('.') {
            fields.vars += 2;
            fields.vars_bytes += 4 + key.len() + value.len();
        }
    }
}

/// Counts the header lines and bytes of a response head at the start of `out`.
pub fn count_head(fields: Option<&mut UwsgiFields>, out: &[u8]) {
    let Some(fields) = fields else {
        return;
    };
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |p| p + 4);
    fields.header_bytes = end;
    fields.headers = out[..end]
        .windows(2)
        .filter(|w| *w == b"\r\n")
        .count()
        .saturating_sub(2);
}
