//! rwsgi as a library: the binary in `main.rs` is a thin entry point over these modules, and
//! the fuzz targets in `fuzz/` reach the protocol parsers through it.
//!
//! Must not: hold process-wide state of its own; each module's header says what it owns.

pub mod alarms;
pub mod check;
pub mod child;
pub mod config;
pub mod entry;
pub mod hooks;
pub mod ipc;
pub mod log;
pub mod master;
pub mod net;
pub mod privileges;
pub mod protocol;
pub mod routing;
pub mod sys;
pub mod systemd;
pub mod uwsgi_api;
pub mod worker;
pub mod wsgi;
