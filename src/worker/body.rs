//! Reading a whole request body before the application runs, so a slow upload holds a
//! buffer and a timer, never a worker blocked inside Python.
//!
//! Owns: Content-Length and chunked bodies off the socket, the `limit-post` check, spilling
//! large bodies to an unlinked temporary file. Must not: parse heads or call Python (a body
//! read into a `bytes` only asks `objects::BytesBuffer` for its memory).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::protocol::chunked::ChunkedDecoder;
use crate::wsgi::objects::{Body, BytesBuffer};

/// Bodies above this go to a temporary file instead of memory.
const SPILL_THRESHOLD: u64 = 1 << 20;
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum BodyError {
    /// The client sent something we must refuse with this status.
    Refuse(u16, &'static str),
    /// The client went away or stalled; nothing can be answered.
    Gone,
    Io(io::Error),
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> Self {
        BodyError::Io(e)
    }
}

/// Collects body bytes in memory, moving to a file past the threshold.
struct Sink {
    memory: Vec<u8>,
    file: Option<(File, u64)>,
}

impl Sink {
    fn new(expected: Option<u64>) -> io::Result<Self> {
        let mut sink = Sink {
            memory: Vec::new(),
            file: None,
        };
        match expected {
            Some(n) if n > SPILL_THRESHOLD => sink.file = Some((temporary_file()?, 0)),
            Some(n) => sink.memory.reserve_exact(n as usize),
            None => {}
        }
        Ok(sink)
    }

    fn len(&self) -> u64 {
        match &self.file {
            Some((_, n)) => *n,
            None => self.memory.len() as u64,
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.memory.len() as u64 + data.len() as u64 > SPILL_THRESHOLD {
            let mut file = temporary_file()?;
            file.write_all(&self.memory)?;
            self.file = Some((file, self.memory.len() as u64));
            self.memory = Vec::new();
        }
        match &mut self.file {
            Some((file, n)) => {
                file.write_all(data)?;
                *n += data.len() as u64;
            }
            None => self.memory.extend_from_slice(data),
        }
        Ok(())
    }

    fn finish(self) -> Body {
        match self.file {
            Some((file, len)) => Body::File { file, len },
            None => Body::Memory(self.memory),
        }
    }
}

fn temporary_file() -> io::Result<File> {
    let dir = std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into());
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    stall: Duration,
) -> Result<(), BodyError> {
    buf.reserve(READ_CHUNK);
    match tokio::time::timeout(stall, stream.read_buf(buf)).await {
        Ok(Ok(0)) | Err(_) => Err(BodyError::Gone),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(BodyError::Io(e)),
    }
}

/// `limit-post` (0: none) for a body whose length is declared: one larger is refused before
/// a byte of it is read.
pub fn check_limit(length: u64, limit: u64) -> Result<(), BodyError> {
    if limit > 0 && length > limit {
        return Err(BodyError::Refuse(413, "body larger than limit-post"));
    }
    Ok(())
}

/// A body of exactly `length` bytes. `pending` holds bytes already read after the head;
/// on return it holds whatever followed the body (a pipelined request).
pub async fn read_exact_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
    length: u64,
    stall: Duration,
) -> Result<Body, BodyError> {
    if length == 0 {
        return Ok(Body::Memory(Vec::new()));
    }
    if pending.len() as u64 >= length {
        let rest = pending.split_off(length as usize);
        let body = std::mem::replace(pending, rest);
        return Ok(Body::Memory(body));
    }
    if length <= SPILL_THRESHOLD {
        return read_into_bytes(stream, pending, length as usize, stall).await;
    }
    let mut sink = Sink::new(Some(length))?;
    sink.write(pending)?;
    pending.clear();
    while sink.len() < length {
        read_more(stream, pending, stall).await?;
        let take = ((length - sink.len()) as usize).min(pending.len());
        sink.write(&pending[..take])?;
        pending.drain(..take);
    }
    Ok(sink.finish())
}

/// A body that fits in memory, read from the socket straight into the `bytes` object the
/// application will get (after what already came with the head): one copy, the kernel's.
async fn read_into_bytes<S: AsyncRead + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
    length: usize,
    stall: Duration,
) -> Result<Body, BodyError> {
    let mut buffer = BytesBuffer::new(length)
        .map_err(|e| BodyError::Io(io::Error::other(format!("cannot allocate the body: {e}"))))?;
    buffer.unfilled()[..pending.len()].copy_from_slice(pending);
    buffer.advance(pending.len());
    pending.clear();
    while buffer.filled() < length {
        match tokio::time::timeout(stall, stream.read(buffer.unfilled())).await {
            Ok(Ok(0)) | Err(_) => return Err(BodyError::Gone),
            Ok(Ok(n)) => buffer.advance(n),
            Ok(Err(e)) => return Err(BodyError::Io(e)),
        }
    }
    Ok(Body::Bytes(buffer))
}

/// A chunked body, de-chunked; `limit` of 0 means none.
pub async fn read_chunked_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
    limit: u64,
    stall: Duration,
) -> Result<Body, BodyError> {
    let mut decoder = ChunkedDecoder::new();
    let mut sink = Sink::new(None)?;
    let mut decoded = Vec::new();
    loop {
        let used = decoder
            .decode(pending, &mut decoded)
            .map_err(|e| BodyError::Refuse(400, e.0))?;
        pending.drain(..used);
        sink.write(&decoded)?;
        decoded.clear();
        if limit > 0 && sink.len() > limit {
            return Err(BodyError::Refuse(
                413,
                "chunked body larger than limit-post",
            ));
        }
        if decoder.is_done() {
            return Ok(sink.finish());
        }
        read_more(stream, pending, stall).await?;
    }
}
