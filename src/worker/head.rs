//! Writing a response head, one way for every answer the worker gives (the application's,
//! a static file's, a route's): the server's own headers for the listener's protocol, the
//! cached Date, `Connection: close` where HTTP needs it, and uWSGI's line counts.
//!
//! Owns: what the server adds to a head. Must not: validate the application's headers
//! (`protocol::response` does) or write to the socket.

use std::cell::Cell;

use super::request_log::count_head;
use super::respond::Exchange;
use super::Shared;
use crate::config::Protocol;
use crate::protocol::response::{self, Framing, OwnHeaders, ResponseStart};

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

impl Exchange<'_> {
    /// Appends the head of this exchange's response to `out`: `start`'s status and headers,
    /// the server's own headers, `framing`'s length or chunked header, and, when the
    /// connection closes after it (`close`), `Connection: close` over HTTP (behind a uwsgi
    /// front end the front end speaks for the connection). Counted for uWSGI's line.
    pub fn write_head(
        &mut self,
        shared: &Shared,
        out: &mut Vec<u8>,
        start: &ResponseStart,
        framing: Framing,
        close: bool,
    ) {
        response::write_head(
            out,
            b"HTTP/1.1",
            start,
            framing,
            close && self.protocol == Protocol::Http,
            &shared.own_headers(self.protocol),
        );
        count_head(self.line_counts(), out);
    }

    /// uWSGI's request line counts, when `log-format = uwsgi` logs this request.
    pub fn line_counts(&mut self) -> Option<&mut crate::log::UwsgiFields> {
        self.record.as_mut()?.uwsgi.as_mut()
    }
}
