//! What the master and its workers share, so that neither imports the other: the
//! scoreboard (shared memory), the notices a worker sends up the notify pipe, the
//! worker's identity handed over at fork, the signal set-up on both sides of fork, and
//! the hand-off a master image leaves to the next across a reload's exec.
//!
//! Owns: these data types and their encodings. Must not: import master, worker, config or
//! anything above them (only `sys`), nor decide policy (the master's arbiter does).

pub mod handoff;
pub mod notice;
pub mod scoreboard;
pub mod signals;

pub use notice::{Identity, Notice, EXIT_NO_APP};
