//! A block of response body as the application produced it: the `bytes` objects it returned,
//! written to the socket from their own buffers (writev) while a reference keeps each alive,
//! and the bytes given to `write()`, gathered here. A 1 MiB body is never copied in user
//! space.
//!
//! Owns: the references and the raw views of their buffers. Must not: do I/O or call
//! Python beyond taking and dropping references.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Past this many referenced pieces, small ones are copied into one buffer instead, so a
/// body of many tiny items stays a few iovecs.
const MAX_REFERENCED: usize = 16;
/// Items at least this long are always referenced, never copied.
const ALWAYS_REFERENCE: usize = 16 * 1024;

enum Chunk {
    /// A `bytes` object and a view of its buffer. The buffer of a `bytes` is immutable and
    /// lives as long as the object, which `_object` keeps alive.
    Referenced {
        _object: Py<PyBytes>,
        ptr: *const u8,
        len: usize,
    },
    Owned(Vec<u8>),
}

impl Chunk {
    fn as_slice(&self) -> &[u8] {
        match self {
            // SAFETY: `ptr` and `len` were taken from `object`'s buffer (PyBytes::as_bytes);
            // a bytes object never changes or moves its contents, and `_object` holds a
            // strong reference for as long as this chunk (and so the returned slice) lives.
            Chunk::Referenced { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Chunk::Owned(bytes) => bytes,
        }
    }
}

#[derive(Default)]
pub struct Block {
    chunks: Vec<Chunk>,
    len: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The body bytes, in order.
    pub fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks.iter().map(Chunk::as_slice)
    }

    /// Appends a `bytes` the application produced: by reference when large (or while few
    /// pieces are held), else copied.
    pub fn push_bytes(&mut self, bytes: &Bound<'_, PyBytes>) {
        let data = bytes.as_bytes();
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if data.len() >= ALWAYS_REFERENCE || self.chunks.len() < MAX_REFERENCED {
            self.chunks.push(Chunk::Referenced {
                _object: bytes.clone().unbind(),
                ptr: data.as_ptr(),
                len: data.len(),
            });
            return;
        }
        self.owned_tail().extend_from_slice(data);
    }

    /// Appends bytes gathered elsewhere (the `write()` callable), taking them from `data`.
    pub fn push_owned(&mut self, data: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        match self.chunks.last_mut() {
            Some(Chunk::Owned(tail)) => tail.append(data),
            _ => self.chunks.push(Chunk::Owned(std::mem::take(data))),
        }
    }

    fn owned_tail(&mut self) -> &mut Vec<u8> {
        if !matches!(self.chunks.last(), Some(Chunk::Owned(_))) {
            self.chunks.push(Chunk::Owned(Vec::new()));
        }
        match self.chunks.last_mut() {
            Some(Chunk::Owned(tail)) => tail,
            _ => unreachable!("an owned chunk was just pushed"),
        }
    }

    /// Empties the block; `_py` proves the GIL is held, so the references are released now
    /// rather than queued for the next time Python runs.
    pub fn clear(&mut self, _py: Python<'_>) {
        self.chunks.clear();
        self.len = 0;
    }
}
