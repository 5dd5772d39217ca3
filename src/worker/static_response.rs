//! Answering a request with a static file that `statics` found: 304 for If-Modified-Since,
//! 206/416 for a byte range, the file's headers (type, Last-Modified, encoding, expiry),
//! HEAD, and the body with sendfile(2).
//!
//! Owns: the static answer's status and headers. Must not: map paths to files (`statics`
//! does) or call Python.

use std::time::Instant;

use super::client::ClientSocket;
use super::request_log::finish;
use super::respond::Exchange;
use super::send::{send_file, write_all};
use super::statics::{self, StaticFile};
use super::Shared;
use crate::protocol::response::{Framing, ResponseStart};
use crate::wsgi::FileBody;

/// A single byte range asked for: `Ok((first, last))` when the file has it, `Err` when not.
type Range = Option<Result<(u64, u64), ()>>;

/// Answers a request with a static file. Returns whether the connection may carry another
/// request.
pub async fn serve_static(
    stream: &mut ClientSocket,
    shared: &Shared,
    mut exchange: Exchange<'_>,
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
    file_headers(&mut start, shared, &found);
    let (offset, length) = range_headers(&mut start, &found, range);
    let framing = if not_modified {
        Framing::NoBody
    } else {
        Framing::Length(length)
    };
    let close = !exchange.keep_alive;
    let mut head = Vec::with_capacity(256);
    exchange.write_head(shared, &mut head, &start, framing, close);
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
    finish(shared, exchange, (status, sent), began.elapsed(), false);
    ok && !close
}

/// What the file says of itself: Content-Type, Last-Modified, Accept-Ranges, the gzip
/// variant's Content-Encoding (and Vary where variants exist), expiry.
fn file_headers(start: &mut ResponseStart, shared: &Shared, found: &StaticFile) {
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
}

/// Content-Range for a range answer; the (offset, length) of the file to send.
fn range_headers(start: &mut ResponseStart, found: &StaticFile, range: Range) -> (u64, u64) {
    match range {
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
    }
}
