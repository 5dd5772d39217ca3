//! The bottom layer: small, dependency-free services over the clock and the operating system
//! (time and dates, `sh -c`, /proc, the process title, `${name}`-style placeholders, shared
//! memory).
//!
//! Owns: the one copy of each of these helpers. Must not: import anything else of the crate
//! (every other module may stand on it; tests/layers.sh checks it stays the floor), keep
//! state, or log.

pub mod cron;
pub mod procfs;
pub mod shared_mem;
pub mod shell;
pub mod substitute;
pub mod time;
pub mod title;
