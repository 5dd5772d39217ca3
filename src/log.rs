//! Log lines on stderr, one write(2) each so lines from several processes never interleave.
//!
//! Owns: the line format and the process label (master or worker N). Must not: buffer (a
//! killed worker must not lose lines) or format request details (the worker does).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 0 in the master, N in worker N.
static WORKER_ID: AtomicUsize = AtomicUsize::new(0);

pub fn set_worker_id(id: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

pub fn worker_id() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

fn emit(level: &str, message: &str) {
    let id = worker_id();
    let mut line = String::with_capacity(message.len() + 32);
    if id == 0 {
        line.push_str("rwsgi master: ");
    } else {
        line.push_str(&format!("rwsgi worker {id}: "));
    }
    line.push_str(level);
    line.push_str(message);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub fn info(message: &str) {
    emit("", message);
}

pub fn warn(message: &str) {
    emit("warning: ", message);
}

pub fn error(message: &str) {
    emit("error: ", message);
}

/// A request line; kept apart from `info` so journald fields can be attached later.
pub fn request(line: &str) {
    emit("", line);
}
