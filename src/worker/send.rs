//! Sending the application's response: choosing its framing (Content-Length, chunked, or
//! until close), then the body as the application yields it (writev of the head and each
//! block, chunk-framed where needed) or, for `wsgi.file_wrapper`, with sendfile(2).
//!
//! Owns: never writing a byte the application's headers did not allow (a body past its
//! Content-Length is cut, a short one closes the connection), closing the iterable on every
//! path, the order "GIL for Python, no GIL for I/O". Must not: read requests.

use std::io::{self, IoSlice};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::io::AsyncWriteExt;

use super::app::close_iterable;
use super::client::ClientSocket;
use super::respond::Exchange;
use super::Shared;
use crate::config::Protocol;
use crate::protocol::response::{Framing, ResponseStart};
use crate::wsgi::block::Block;
use crate::wsgi::interpreter::format_exception;
use crate::wsgi::{AppResponse, FileBody};

/// Sends head and body; returns (body bytes sent, connection reusable). `block` holds the
/// first block the application gave, all of its body when `ended`.
pub async fn send(
    stream: &mut ClientSocket,
    shared: &Shared,
    exchange: &mut Exchange<'_>,
    (mut response, start): (AppResponse, ResponseStart),
    block: Block,
    ended: bool,
) -> (u64, bool) {
    let file = response.file.take();
    let framing = choose_framing(&start, exchange, file.as_ref(), &block, ended);
    let no_body = exchange.head_request || framing == Framing::NoBody;
    // A HEAD answer carries no body, so it needs no chunked framing to stay reusable.
    let head_framing = if exchange.head_request && framing == Framing::Chunked {
        Framing::NoBody
    } else {
        framing
    };
    let close = !exchange.keep_alive
        || start.close_requested
        || (framing == Framing::UntilClose && !no_body);
    let mut head = Vec::with_capacity(128 + start.headers.len());
    exchange.write_head(shared, &mut head, &start, head_framing, close);
    let outgoing = Outgoing {
        stream,
        shared,
        exchange,
        response,
        head,
        framing,
        close,
    };
    if no_body {
        outgoing.head_only(ended).await
    } else if let Some(file) = file {
        outgoing.file(file).await
    } else {
        outgoing.iterable(block, ended).await
    }
}

/// How the body is delimited: what the application declared, else the length of a file or
/// of a body already whole, else chunked where the client can take it, else until close.
fn choose_framing(
    start: &ResponseStart,
    exchange: &Exchange<'_>,
    file: Option<&FileBody>,
    block: &Block,
    ended: bool,
) -> Framing {
    if start.forbids_body() {
        Framing::NoBody
    } else if let Some(n) = start.content_length {
        Framing::Length(n)
    } else if let Some(file) = file {
        Framing::Length(file.len)
    } else if ended {
        Framing::Length(block.len() as u64)
    } else if exchange.chunked_allowed && exchange.protocol == Protocol::Http {
        Framing::Chunked
    } else {
        Framing::UntilClose
    }
}

/// A response on its way out, once its head is written into `head`.
struct Outgoing<'s, 'r> {
    stream: &'s mut ClientSocket,
    shared: &'s Shared,
    exchange: &'s Exchange<'r>,
    response: AppResponse,
    head: Vec<u8>,
    framing: Framing,
    /// The connection closes after this response.
    close: bool,
}

impl Outgoing<'_, '_> {
    /// HEAD, or a status without a body: the head alone.
    async fn head_only(mut self, ended: bool) -> (u64, bool) {
        let written = write_all(self.stream, self.shared.io_timeout, &[&self.head]).await;
        if let Err(e) = &written {
            self.exchange.client_gone(self.shared, 0, e);
        }
        if !ended {
            Python::attach(|py| close_iterable(py, &mut self.response));
        }
        (0, written.is_ok() && !self.close)
    }

    /// `wsgi.file_wrapper` over a file: the head, then sendfile(2) up to the framing's length.
    async fn file(mut self, file: FileBody) -> (u64, bool) {
        let limit = match self.framing {
            Framing::Length(n) => n.min(file.len),
            _ => file.len,
        };
        let timeout = self.shared.io_timeout;
        let result = match write_all(self.stream, timeout, &[&self.head]).await {
            Ok(()) => send_file(self.stream, timeout, &file, limit).await,
            Err(e) => Err(e),
        };
        Python::attach(|py| close_iterable(py, &mut self.response));
        if let Err(e) = &result {
            self.exchange.client_gone(self.shared, 0, e);
        }
        let sent = result.as_ref().map_or(0, |n| *n);
        let complete = matches!(self.framing, Framing::Length(n) if n == sent);
        (sent, result.is_ok() && complete && !self.close)
    }

    /// The iterable's blocks as the application yields them, the head with the first.
    async fn iterable(mut self, mut block: Block, mut ended: bool) -> (u64, bool) {
        let mut sent: u64 = 0;
        let mut first = true;
        loop {
            let mut pieces: Vec<&[u8]> = block.slices().collect();
            let mut piece_len = block.len();
            if self.cut_to_length(sent, &mut pieces, &mut piece_len) {
                self.close = true;
                ended = true;
            }
            let written = self.write_block(first, &pieces, piece_len, ended).await;
            drop(pieces);
            first = false;
            if let Err(e) = written {
                self.exchange.client_gone(self.shared, sent, &e);
                Python::attach(|py| {
                    block.clear(py);
                    close_iterable(py, &mut self.response)
                });
                return (sent, false);
            }
            sent += piece_len as u64;
            if ended {
                break;
            }
            match self.pull(&mut block) {
                Ok(done) => ended = done,
                Err(message) => {
                    crate::log::error(&format!(
                        "{}{message} (after the headers were sent; connection cut)",
                        self.exchange.describe()
                    ));
                    return (sent, false);
                }
            }
        }
        self.complete(sent)
    }

    /// Past the Content-Length the application declared: keeps only what it still allows
    /// of `pieces`; true when it had to cut (the response then ends, and the connection).
    fn cut_to_length(&self, sent: u64, pieces: &mut Vec<&[u8]>, piece_len: &mut usize) -> bool {
        let Framing::Length(n) = self.framing else {
            return false;
        };
        let room = n.saturating_sub(sent) as usize;
        if *piece_len <= room {
            return false;
        }
        crate::log::warn(&format!(
            "{}the application sent more than its Content-Length {n}; response cut",
            self.exchange.describe()
        ));
        truncate(pieces, room);
        *piece_len = room;
        true
    }

    /// Writes one block (after the head, for the first), chunk-framed when chunked, with
    /// the last chunk once the body `ended`.
    async fn write_block(
        &mut self,
        first: bool,
        pieces: &[&[u8]],
        piece_len: usize,
        ended: bool,
    ) -> io::Result<()> {
        let chunked = self.framing == Framing::Chunked && piece_len > 0;
        let chunk_header = if chunked {
            format!("{piece_len:x}\r\n")
        } else {
            String::new()
        };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(pieces.len() + 4);
        if first {
            parts.push(&self.head);
        }
        if chunked {
            parts.push(chunk_header.as_bytes());
        }
        parts.extend_from_slice(pieces);
        if chunked {
            parts.push(b"\r\n");
        }
        if ended && self.framing == Framing::Chunked {
            parts.push(b"0\r\n\r\n");
        }
        write_all(self.stream, self.shared.io_timeout, &parts).await
    }

    /// The iterable's next block into `block` (the one sent is released first): whether it
    /// was the last. The iterable is closed when it ends or raises.
    fn pull(&mut self, block: &mut Block) -> Result<bool, String> {
        Python::attach(|py| {
            block.clear(py);
            let result = self.response.pull(py, block);
            if !matches!(result, Ok(false)) {
                close_iterable(py, &mut self.response);
            }
            result.map_err(|e| format_exception(py, &e))
        })
    }

    /// The body is over: a body short of its Content-Length closes the connection.
    fn complete(&self, sent: u64) -> (u64, bool) {
        if let Framing::Length(n) = self.framing {
            if sent < n {
                crate::log::warn(&format!(
                    "{}the application sent {sent} of its Content-Length {n} bytes; connection closed",
                    self.exchange.describe()
                ));
                return (sent, false);
            }
        }
        (sent, !self.close)
    }
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
pub async fn write_all(
    stream: &mut ClientSocket,
    stall: Duration,
    parts: &[&[u8]],
) -> io::Result<()> {
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
pub async fn send_file(
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
