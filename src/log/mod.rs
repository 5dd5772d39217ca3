//! Logging: plain lines on stderr (one write(2) each, so lines from several processes never
//! interleave), or journal entries with a priority and fields when stderr is the journal.
//!
//! Owns: the process label (master or worker N), levels, where messages go (`init`) and
//! the plain line's form (date, label, encoders). The request log, the encoders, the
//! `logto` file and its rotation, the other destinations and the journal are its
//! submodules. Must not: buffer (a killed worker must not lose lines).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use destination::RequestSink;
use journal::Journal;

mod destination;
pub mod encoder;
mod file;
pub mod journal;
mod request;

pub use destination::RequestLogger;
pub use file::{
    follows_log_file, redirect_to, reopen_if_moved, rotate_if_needed, set_file_options,
};
pub use request::{
    clear_logvars, get_logvar, request, set_logvar, RequestRecord, UwsgiFields, UWSGI_FORMAT,
};

/// 0 in the master, N in worker N.
static WORKER_ID: AtomicUsize = AtomicUsize::new(0);
static SINK: OnceLock<Sink> = OnceLock::new();

struct Sink {
    journal: Option<Journal>,
    /// `logger = syslog:TAG`: (socket, tag).
    syslog: Option<(std::os::unix::net::UnixDatagram, String)>,
    request_format: Option<String>,
    /// `logformat-strftime`: the rendered request line goes through strftime.
    strftime: bool,
    /// `log-micros`: durations in the default request line in microseconds.
    micros: bool,
    /// `log-date`: a date in front of each plain line (the journal has its own).
    date_format: Option<String>,
    /// `req-logger`: request lines go here instead of with the other messages.
    request_sink: Option<RequestSink>,
    encoders: Vec<encoder::Encoder>,
    request_encoders: Vec<encoder::Encoder>,
    /// `log-route`: lines matching a pattern also go to a named logger.
    routes: Vec<(regex::Regex, RequestSink)>,
}

/// What `init` needs from the configuration.
pub struct Settings {
    pub request_format: Option<String>,
    pub strftime: bool,
    pub micros: bool,
    pub date_format: Option<String>,
    pub syslog: Option<String>,
    pub request_logger: Option<RequestLogger>,
    pub encoders: Vec<String>,
    pub request_encoders: Vec<String>,
    /// (pattern, destination) for `log-route` to named loggers.
    pub routes: Vec<(regex::Regex, RequestLogger)>,
}

/// Chooses where logs go; call once at start-up, after `logto` redirected stderr.
pub fn init(settings: Settings) {
    let syslog = settings
        .syslog
        .and_then(|tag| Some((destination::syslog_socket()?, tag)));
    let request_sink = settings
        .request_logger
        .and_then(|destination| destination::open_sink(destination, "req-logger"));
    // Checked when the configuration was read.
    let encoders = |texts: &[String]| -> Vec<encoder::Encoder> {
        texts
            .iter()
            .filter_map(|t| encoder::parse(t).ok())
            .collect()
    };
    let routes = settings
        .routes
        .into_iter()
        .filter_map(|(pattern, destination)| {
            Some((pattern, destination::open_sink(destination, "logger")?))
        })
        .collect();
    let _ = SINK.set(Sink {
        syslog,
        journal: Journal::detect(),
        request_format: settings.request_format,
        strftime: settings.strftime,
        micros: settings.micros,
        date_format: settings.date_format,
        request_sink,
        encoders: encoders(&settings.encoders),
        request_encoders: encoders(&settings.request_encoders),
        routes,
    });
}

pub fn set_worker_id(id: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

pub fn worker_id() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

/// Labels this process's lines "spooler N" (a spooler process).
pub fn set_spooler_id(id: usize) {
    SPOOLER_ID.store(id, Ordering::Relaxed);
}

static SPOOLER_ID: AtomicUsize = AtomicUsize::new(0);

/// Labels this process's lines "mule N".
pub fn set_mule_id(id: usize) {
    MULE_ID.store(id, Ordering::Relaxed);
}

static MULE_ID: AtomicUsize = AtomicUsize::new(0);

fn label() -> String {
    let spooler = SPOOLER_ID.load(Ordering::Relaxed);
    if spooler > 0 {
        return format!("spooler {spooler}");
    }
    let mule = MULE_ID.load(Ordering::Relaxed);
    if mule > 0 {
        return format!("mule {mule}");
    }
    match worker_id() {
        0 => "master".to_string(),
        id => format!("worker {id}"),
    }
}

/// The application's output (its `sys.stdout`/`sys.stderr` under the journal, see
/// `wsgi::journal_stream`): one entry per write that ends a line, so a traceback written by
/// `logging` stays one entry, at the level its first line names (`ERROR:`, `[WARNING]`,
/// `CRITICAL in app:`...), else at `default_priority`. Without the journal it goes to stderr.
pub fn app_output(default_priority: u8, text: &str) {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return;
    }
    let priority = level_of(text).unwrap_or(default_priority);
    if let Some(journal) = SINK.get().and_then(|s| s.journal.as_ref()) {
        let worker = worker_id().to_string();
        let fields: &[(&str, &str)] = if worker_id() != 0 {
            &[
                ("WORKER_ID", worker.as_str()),
                ("RWSGI_SOURCE", "application"),
            ]
        } else {
            &[("RWSGI_SOURCE", "application")]
        };
        if journal.send(priority, text, fields).is_ok() {
            return;
        }
    }
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{text}\n").as_bytes());
}

/// The syslog priority a line of application output names in its first 120 bytes: a
/// Python logging level as a whole word (CRITICAL/FATAL 2, ERROR 3, WARNING/WARN 4, INFO 6,
/// DEBUG 7), or a traceback's first line (3).
pub fn level_of(text: &str) -> Option<u8> {
    let first = text.lines().next().unwrap_or("");
    if first.starts_with("Traceback (most recent call last)") {
        return Some(ERROR);
    }
    let head = &first.as_bytes()[..first.len().min(120)];
    let words = head
        .split(|b| !b.is_ascii_alphanumeric() && *b != b'_')
        .filter(|w| !w.is_empty());
    for word in words {
        let level = match word {
            b"CRITICAL" | b"FATAL" => 2,
            b"ERROR" => ERROR,
            b"WARNING" | b"WARN" => WARNING,
            b"INFO" => INFO,
            b"DEBUG" => 7,
            _ => continue,
        };
        return Some(level);
    }
    None
}

/// Syslog priorities, as the journal reads them.
const ERROR: u8 = 3;
const WARNING: u8 = 4;
const INFO: u8 = 6;

fn emit(priority: u8, message: &str, fields: &[(&str, &str)]) {
    emit_line(priority, message, fields, false);
}

/// One message (a request line when `request`): to the `log-route` loggers it matches,
/// then to the journal, else to syslog, else as a plain line on stderr.
fn emit_line(priority: u8, message: &str, fields: &[(&str, &str)], request: bool) {
    crate::alarms::check_log_line(message);
    let sink = SINK.get();
    if let Some(sink) = sink.filter(|s| !s.routes.is_empty()) {
        let text = format!("rwsgi {}: {message}", label());
        for (pattern, destination) in &sink.routes {
            if pattern.is_match(&text) {
                destination.write_line(&text);
            }
        }
    }
    // uWSGI's request line stands alone, as tools written for uWSGI expect it.
    let bare = request && sink.and_then(|s| s.request_format.as_deref()) == Some(UWSGI_FORMAT);
    if to_journal(priority, message, fields, bare) || to_syslog(priority, message) {
        return;
    }
    let line = plain_line(priority, message, bare);
    let chain = sink.map_or(&[][..], |s| {
        if request && !s.request_encoders.is_empty() {
            &s.request_encoders[..]
        } else {
            &s.encoders[..]
        }
    });
    let out = if chain.is_empty() {
        line + "\n"
    } else {
        encoder::encode(chain, &line)
    };
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// A journal entry with the worker's id and `fields`; false without the journal (or
/// when it refused the entry).
fn to_journal(priority: u8, message: &str, fields: &[(&str, &str)], bare: bool) -> bool {
    let Some(journal) = SINK.get().and_then(|s| s.journal.as_ref()) else {
        return false;
    };
    let worker = worker_id().to_string();
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 1);
    if worker_id() != 0 {
        all.push(("WORKER_ID", worker.as_str()));
    }
    all.extend_from_slice(fields);
    let text = if bare {
        message.to_string()
    } else {
        format!("{}: {message}", label())
    };
    journal.send(priority, &text, &all).is_ok()
}

/// `logger = syslog:TAG`: one datagram to /dev/log; false without it (or when refused).
fn to_syslog(priority: u8, message: &str) -> bool {
    let Some((socket, tag)) = SINK.get().and_then(|s| s.syslog.as_ref()) else {
        return false;
    };
    let line = destination::syslog_line(priority, tag, &format!("{}: {message}", label()));
    socket.send(line.as_bytes()).is_ok()
}

/// `[date ]rwsgi LABEL: [level: ]message`, or the message alone when `bare`.
fn plain_line(priority: u8, message: &str, bare: bool) -> String {
    let level = match priority {
        _ if bare => "",
        ERROR => "error: ",
        WARNING => "warning: ",
        _ => "",
    };
    let date = SINK
        .get()
        .and_then(|s| s.date_format.as_deref())
        .map(|format| {
            let now = crate::sys::time::unix_secs();
            format!("{} ", crate::sys::time::strftime_utc(format, now))
        })
        .unwrap_or_default();
    if bare {
        format!("{date}{level}{message}")
    } else {
        format!("{date}rwsgi {}: {level}{message}", label())
    }
}

pub fn info(message: &str) {
    emit(INFO, message, &[]);
}

pub fn warn(message: &str) {
    emit(WARNING, message, &[]);
}

pub fn error(message: &str) {
    emit(ERROR, message, &[]);
}

/// Whether entries go to the journal (stderr is the journal's stream).
pub fn journal_active() -> bool {
    SINK.get().is_some_and(|s| s.journal.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_application_lines() {
        assert_eq!(level_of("ERROR:app:boom\nTraceback ..."), Some(3));
        assert_eq!(level_of("CRITICAL:root:gone"), Some(2));
        assert_eq!(level_of("WARNING:py.warnings:careful"), Some(4));
        assert_eq!(
            level_of("[2026-12-01 10:00:00,123] ERROR in app: Exception on / [GET]"),
            Some(3)
        );
        assert_eq!(level_of("2026-12-01 10:00:00 [INFO] started"), Some(6));
        assert_eq!(
            level_of("Traceback (most recent call last):\n  File"),
            Some(3)
        );
        assert_eq!(level_of("ERRORS are words too"), None);
        assert_eq!(level_of("hello"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(
            crate::sys::time::strftime_utc("%a %b %e %H:%M:%S %Y", 784_111_777),
            "Sun Nov  6 08:49:37 1994"
        );
        assert_eq!(
            crate::sys::time::strftime_utc("%Y-%m-%d %%", 1_795_000_000),
            "2026-11-18 %"
        );
    }
}
