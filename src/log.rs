//! Logging: plain lines on stderr (one write(2) each, so lines from several processes never
//! interleave), or journal entries with a priority and fields when stderr is the journal.
//!
//! Owns: the process label (master or worker N), levels, the request record and its
//! `log-format` rendering. Must not: buffer (a killed worker must not lose lines).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::systemd::journal::Journal;

/// 0 in the master, N in worker N.
static WORKER_ID: AtomicUsize = AtomicUsize::new(0);
static SINK: OnceLock<Sink> = OnceLock::new();

struct Sink {
    journal: Option<Journal>,
    /// `logger = syslog:TAG`: (socket, tag).
    syslog: Option<(std::os::unix::net::UnixDatagram, String)>,
    request_format: Option<String>,
    /// `log-date`: a date in front of each plain line (the journal has its own).
    date_format: Option<String>,
}

/// Chooses where logs go; call once at start-up, after `logto` redirected stderr.
pub fn init(request_format: Option<String>, date_format: Option<String>, syslog: Option<String>) {
    let syslog = syslog.and_then(|tag| {
        let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
        socket.connect("/dev/log").ok()?;
        Some((socket, tag))
    });
    let _ = SINK.set(Sink {
        syslog,
        journal: Journal::detect(),
        request_format,
        date_format,
    });
}

/// A small strftime over UTC: %Y %m %d %e %H %M %S %a %b %y %j %%.
fn format_date(format: &str, unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86400;
    let (year, month, day) = crate::protocol::response::civil_from_days(days as i64);
    let secs = unix % 86400;
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:2}")),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('a') => out.push_str(DAYS[(days % 7) as usize]),
            Some('b') => out.push_str(MONTHS[(month - 1) as usize]),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

pub fn set_worker_id(id: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

pub fn worker_id() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

fn label() -> String {
    match worker_id() {
        0 => "master".to_string(),
        id => format!("worker {id}"),
    }
}

/// Syslog priorities, as the journal reads them.
const ERROR: u8 = 3;
const WARNING: u8 = 4;
const INFO: u8 = 6;

fn emit(priority: u8, message: &str, fields: &[(&str, &str)]) {
    if let Some(journal) = SINK.get().and_then(|s| s.journal.as_ref()) {
        let worker = worker_id().to_string();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 1);
        if worker_id() != 0 {
            all.push(("WORKER_ID", worker.as_str()));
        }
        all.extend_from_slice(fields);
        if journal
            .send(priority, &format!("{}: {message}", label()), &all)
            .is_ok()
        {
            return;
        }
    }
    if let Some((socket, tag)) = SINK.get().and_then(|s| s.syslog.as_ref()) {
        // RFC 3164 as /dev/log takes it: <facility daemon (3) * 8 + priority>TAG[pid]: text
        let line = format!(
            "<{}>{tag}[{}]: {}: {message}",
            24 + priority,
            std::process::id(),
            label()
        );
        if socket.send(line.as_bytes()).is_ok() {
            return;
        }
    }
    let level = match priority {
        ERROR => "error: ",
        WARNING => "warning: ",
        _ => "",
    };
    let date = SINK
        .get()
        .and_then(|s| s.date_format.as_deref())
        .map(|format| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{} ", format_date(format, now))
        })
        .unwrap_or_default();
    let line = format!("{date}rwsgi {}: {level}{message}\n", label());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

/// One served request, for the request log.
pub struct RequestRecord<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub proto: &'a str,
    pub remote: &'a str,
    pub host: &'a str,
    pub user_agent: &'a str,
    pub referer: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub micros: u64,
    /// `memory-report`: the worker's resident size after the request.
    pub rss_mib: Option<u64>,
}

pub fn request(record: &RequestRecord<'_>) {
    let message = match SINK.get().and_then(|s| s.request_format.as_deref()) {
        Some(format) => render(format, record),
        None => format!(
            "{} \"{} {}\" {} {} bytes in {:.3} ms",
            record.remote,
            record.method,
            record.uri,
            record.status,
            record.bytes,
            record.micros as f64 / 1000.0
        ),
    };
    let message = match record.rss_mib {
        Some(rss) => format!("{message} (RSS {rss} MiB)"),
        None => message,
    };
    let status = record.status.to_string();
    let duration = record.micros.to_string();
    let bytes = record.bytes.to_string();
    let rss = record.rss_mib.map(|r| r.to_string()).unwrap_or_default();
    let priority = if record.status >= 500 { WARNING } else { INFO };
    emit(
        priority,
        &message,
        &[
            ("REQUEST_METHOD", record.method),
            ("REQUEST_URI", record.uri),
            ("STATUS", &status),
            ("DURATION_US", &duration),
            ("RESPONSE_BYTES", &bytes),
            ("REMOTE_ADDR", record.remote),
            ("RSS_MIB", &rss),
        ][..if record.rss_mib.is_some() { 7 } else { 6 }],
    );
}

/// uWSGI's `log-format`: `%(name)` variables; unknown ones are left as written.
fn render(format: &str, record: &RequestRecord<'_>) -> String {
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let value = match name {
            "method" => record.method.to_string(),
            "uri" => record.uri.to_string(),
            "proto" => record.proto.to_string(),
            "addr" => record.remote.to_string(),
            "host" => record.host.to_string(),
            "uagent" => record.user_agent.to_string(),
            "referer" => record.referer.to_string(),
            "status" => record.status.to_string(),
            "size" => record.bytes.to_string(),
            "micros" => record.micros.to_string(),
            "msecs" => (record.micros / 1000).to_string(),
            "secs" => format!("{:.6}", record.micros as f64 / 1e6),
            "pid" => std::process::id().to_string(),
            "wid" => worker_id().to_string(),
            "epoch" | "time" => now.as_secs().to_string(),
            "ltime" => {
                String::from_utf8_lossy(&crate::protocol::response::http_date(now.as_secs()))
                    .into_owned()
            }
            _ => format!("%({name})"),
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `logto FILE`: this process's stdout and stderr (and so every worker's, and the
/// application's prints) append to FILE.
pub fn redirect_to(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    nix::unistd::dup2_stdout(&file)?;
    nix::unistd::dup2_stderr(&file)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            format_date("%a %b %e %H:%M:%S %Y", 784_111_777),
            "Sun Nov  6 08:49:37 1994"
        );
        assert_eq!(format_date("%Y-%m-%d %%", 1_795_000_000), "2026-11-18 %");
    }

    #[test]
    fn log_format_variables() {
        let record = RequestRecord {
            method: "GET",
            uri: "/x?y",
            proto: "HTTP/1.1",
            remote: "10.0.0.1",
            host: "example.org",
            user_agent: "curl/8",
            referer: "",
            status: 404,
            bytes: 12,
            micros: 2500,
            rss_mib: None,
        };
        assert_eq!(
            render(
                "%(addr) %(method) %(uri) %(proto) %(status) %(size) %(msecs)ms %(uagent) %(nope)",
                &record
            ),
            "10.0.0.1 GET /x?y HTTP/1.1 404 12 2ms curl/8 %(nope)"
        );
    }
}
