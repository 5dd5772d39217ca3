//! Logging: plain lines on stderr (one write(2) each, so lines from several processes never
//! interleave), or journal entries with a priority and fields when stderr is the journal.
//!
//! Owns: the process label (master or worker N), levels, the request record and its
//! `log-format` rendering. Must not: buffer (a killed worker must not lose lines).

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use journal::Journal;

pub mod journal;

/// Where `req-logger` (and a named `logger`) sends lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestLogger {
    File(PathBuf),
    Stdio,
    Syslog(String),
}

impl RequestLogger {
    /// `file:PATH`, `stdio` or `syslog[:TAG]`, as `logger` and `req-logger` take them.
    pub fn parse(value: &str) -> Result<RequestLogger, &'static str> {
        match value.split_once(':').map_or((value, ""), |(k, v)| (k, v)) {
            ("file", path) if !path.is_empty() => Ok(RequestLogger::File(PathBuf::from(path))),
            ("stdio", _) => Ok(RequestLogger::Stdio),
            ("syslog", tag) => Ok(RequestLogger::Syslog(if tag.is_empty() {
                "rwsgi".to_string()
            } else {
                tag.to_string()
            })),
            _ => Err("expected file:PATH, stdio or syslog[:TAG]"),
        }
    }
}

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

enum RequestSink {
    File(std::fs::File),
    Stdio,
    Syslog(std::os::unix::net::UnixDatagram, String),
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

fn open_sink(destination: RequestLogger, what: &str) -> Option<RequestSink> {
    match destination {
        RequestLogger::Stdio => Some(RequestSink::Stdio),
        RequestLogger::Syslog(tag) => {
            syslog_socket().map(|socket| RequestSink::Syslog(socket, tag))
        }
        RequestLogger::File(path) => match open_log_file(&path) {
            Ok(file) => Some(RequestSink::File(file)),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "rwsgi: error: {what} {}: {e}",
                    path.display()
                );
                std::process::exit(2);
            }
        },
    }
}

fn syslog_socket() -> Option<std::os::unix::net::UnixDatagram> {
    let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
    socket.connect("/dev/log").ok()?;
    Some(socket)
}

/// Chooses where logs go; call once at start-up, after `logto` redirected stderr.
pub fn init(settings: Settings) {
    let syslog = settings
        .syslog
        .and_then(|tag| Some((syslog_socket()?, tag)));
    let request_sink = settings
        .request_logger
        .and_then(|destination| open_sink(destination, "req-logger"));
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
        .filter_map(|(pattern, destination)| Some((pattern, open_sink(destination, "logger")?)))
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

/// `logfile-chmod`, `log-maxsize`, `log-backupname`: set before any log file is opened.
struct FileOptions {
    mode: Option<u32>,
    max_size: u64,
    backup_name: Option<PathBuf>,
}

static FILE_OPTIONS: OnceLock<FileOptions> = OnceLock::new();
/// The `logto` file stderr points at, so it can be rotated and reopened.
static LOG_PATH: OnceLock<PathBuf> = OnceLock::new();

pub fn set_file_options(mode: Option<u32>, max_size: u64, backup_name: Option<PathBuf>) {
    let _ = FILE_OPTIONS.set(FileOptions {
        mode,
        max_size,
        backup_name,
    });
}

fn open_log_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = FILE_OPTIONS.get().and_then(|o| o.mode);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode.unwrap_or(0o640))
        .open(path)?;
    if let Some(mode) = mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

thread_local! {
    /// `uwsgi.set_logvar` values of the request running on this thread (`%(name)`).
    static LOGVARS: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn set_logvar(key: &str, value: &str) {
    LOGVARS.with(|vars| {
        let mut vars = vars.borrow_mut();
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => vars.push((key.to_string(), value.to_string())),
        }
    });
}

pub fn get_logvar(key: &str) -> Option<String> {
    LOGVARS.with(|vars| {
        vars.borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// A new request begins on this thread: the previous one's log variables are gone.
pub fn clear_logvars() {
    LOGVARS.with(|vars| {
        let mut vars = vars.borrow_mut();
        if !vars.is_empty() {
            vars.clear();
        }
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
    let labelled = |text: &str| {
        if bare {
            text.to_string()
        } else {
            format!("rwsgi {}: {text}", label())
        }
    };
    if let Some(journal) = SINK.get().and_then(|s| s.journal.as_ref()) {
        let worker = worker_id().to_string();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 1);
        if worker_id() != 0 {
            all.push(("WORKER_ID", worker.as_str()));
        }
        all.extend_from_slice(fields);
        if journal
            .send(
                priority,
                &if bare {
                    message.to_string()
                } else {
                    format!("{}: {message}", label())
                },
                &all,
            )
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
    let line = format!("{date}{}", labelled(&format!("{level}{message}")));
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

impl RequestSink {
    fn write_line(&self, line: &str) {
        match self {
            RequestSink::Syslog(socket, tag) => {
                let _ = socket.send(
                    format!("<{}>{tag}[{}]: {line}", 24 + INFO, std::process::id()).as_bytes(),
                );
            }
            _ => self.write_raw(&format!("{line}\n")),
        }
    }

    /// Exactly `text`, in one write, so lines from several processes never interleave.
    fn write_raw(&self, text: &str) {
        match self {
            RequestSink::File(file) => {
                let _ = (&*file).write_all(text.as_bytes());
            }
            RequestSink::Stdio => {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
            RequestSink::Syslog(..) => self.write_line(text.trim_end_matches('\n')),
        }
    }
}

/// uWSGI's log encoders (`log-encoder`, `log-req-encoder`): each turns a line into another,
/// in the order written. Applied to plain lines (stderr, logto), not to journal entries,
/// which carry their fields natively.
pub mod encoder {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Encoder {
        Prefix(String),
        Suffix(String),
        Newline,
        Format(String),
        Json(String),
    }

    pub fn parse(text: &str) -> Result<Encoder, String> {
        let text = text.trim_start();
        let (name, argument) = text.split_once(' ').unwrap_or((text.trim_end(), ""));
        // `name:logger` routes an encoder to one named logger in uWSGI; rwsgi applies it to all.
        let name = name.split(':').next().unwrap_or(name);
        Ok(match name {
            "prefix" => Encoder::Prefix(argument.to_string()),
            "suffix" => Encoder::Suffix(argument.to_string()),
            "nl" => Encoder::Newline,
            "format" => Encoder::Format(argument.to_string()),
            "json" => Encoder::Json(argument.to_string()),
            other => {
                return Err(format!(
                    "log encoder '{other}' is not provided (prefix, suffix, nl, format, json are)"
                ))
            }
        })
    }

    pub fn encode(chain: &[Encoder], line: &str) -> String {
        let mut text = line.to_string();
        for encoder in chain {
            text = match encoder {
                Encoder::Prefix(prefix) => format!("{prefix}{text}"),
                Encoder::Suffix(suffix) => format!("{text}{suffix}"),
                Encoder::Newline => format!("{text}\n"),
                Encoder::Format(template) => fill(template, &text, false),
                Encoder::Json(template) => fill(template, &text, true),
            };
        }
        text
    }

    /// `${msg}`, `${msgnl}`, `${unix}`, `${micros}`, `${millis}`, `${strftime:FORMAT}`.
    fn fill(template: &str, message: &str, json: bool) -> String {
        let now = crate::sys::time::unix_now();
        let message = message.trim_end_matches('\n');
        let escape = |text: &str| {
            if json {
                json_escape(text)
            } else {
                text.to_string()
            }
        };
        crate::sys::substitute::substitute(template, "${", '}', |name| match name {
            "msg" => Some(escape(message)),
            "msgnl" => Some(escape(&format!("{message}\n"))),
            "unix" => Some(now.as_secs().to_string()),
            "micros" => Some(now.as_micros().to_string()),
            "millis" => Some(now.as_millis().to_string()),
            _ => name
                .strip_prefix("strftime:")
                .map(|format| crate::sys::time::strftime_utc(format, now.as_secs())),
        })
    }

    /// `text` as the inside of a JSON string (the template writes the quotes).
    fn json_escape(text: &str) -> String {
        let quoted = serde_json::Value::from(text).to_string();
        quoted[1..quoted.len() - 1].to_string()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn chains() {
            let chain = [
                parse(r#"json {"unix":${unix},"msg":"${msg}"}"#).unwrap(),
                parse("nl").unwrap(),
            ];
            let out = encode(&chain, "say \"hi\"\tnow");
            assert!(out.starts_with("{\"unix\":"), "{out}");
            assert!(out.contains(r#""msg":"say \"hi\"\tnow"}"#), "{out}");
            assert!(out.ends_with("}\n"), "{out}");
            let framed = [parse("prefix [app]").unwrap(), parse("suffix !").unwrap()];
            assert_eq!(encode(&framed, "x"), "[app]x!");
            assert!(parse("msgpack").unwrap_err().contains("msgpack"));
        }
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

/// One served request, for the request log. The worker builds it when the request arrives
/// (its text borrowed from the request's buffer where that is valid UTF-8) and fills in the
/// outcome when the request is answered.
pub struct RequestRecord<'a> {
    pub method: Cow<'a, str>,
    pub uri: Cow<'a, str>,
    pub proto: Cow<'a, str>,
    pub remote: Cow<'a, str>,
    pub host: Cow<'a, str>,
    pub user_agent: Cow<'a, str>,
    pub referer: Cow<'a, str>,
    pub status: u16,
    pub bytes: u64,
    pub micros: u64,
    /// `memory-report`: the worker's resident size after the request.
    pub rss_mib: Option<u64>,
    /// `log-format = uwsgi`: what uWSGI's line adds.
    pub uwsgi: Option<UwsgiFields>,
}

/// The `log-format` value that selects uWSGI's default request line.
pub const UWSGI_FORMAT: &str = "uwsgi";

/// The counts uWSGI's default request line shows beyond the request itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct UwsgiFields {
    /// Request variables, keys and values counted apart (uWSGI's `var_cnt`).
    pub vars: usize,
    /// Their size as a uwsgi packet body (2-byte lengths included).
    pub vars_bytes: usize,
    pub headers: usize,
    /// The response head: status line, headers and blank line.
    pub header_bytes: usize,
    /// Requests this worker served, and all workers alive now served.
    pub worker_requests: u64,
    pub total_requests: u64,
    /// The worker thread that served the request (uWSGI's core).
    pub core: usize,
}

/// uWSGI's default request line, field for field:
/// `[pid: P|app: 0|req: a/b] ADDR () {N vars in B bytes} [ctime] METHOD URI => generated R
/// bytes in T msecs (PROTO STATUS) H headers in HB bytes (1 switches on core C)`.
fn uwsgi_line(record: &RequestRecord<'_>, fields: &UwsgiFields) -> String {
    let now = crate::sys::time::unix_now().as_micros() as u64;
    let began = (now.saturating_sub(record.micros) / 1_000_000) as i64;
    format!(
        "[pid: {}|app: 0|req: {}/{}] {} () {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {} msecs ({} {}) {} headers in {} bytes (1 switches on core {})",
        std::process::id(),
        fields.worker_requests,
        fields.total_requests,
        record.remote,
        fields.vars,
        fields.vars_bytes,
        crate::sys::time::ctime_local(began),
        record.method,
        record.uri,
        record.bytes,
        record.micros / 1000,
        record.proto,
        record.status,
        fields.headers,
        fields.header_bytes,
        fields.core
    )
}

pub fn request(record: &RequestRecord<'_>) {
    let sink = SINK.get();
    let message = match sink.and_then(|s| s.request_format.as_deref()) {
        Some(UWSGI_FORMAT) => uwsgi_line(record, &record.uwsgi.unwrap_or_default()),
        Some(format) if sink.is_some_and(|s| s.strftime) => {
            let now = crate::sys::time::unix_secs();
            crate::sys::time::strftime_utc(&render(format, record), now)
        }
        Some(format) => render(format, record),
        None if sink.is_some_and(|s| s.micros) => format!(
            "{} \"{} {}\" {} {} bytes in {} micros",
            record.remote, record.method, record.uri, record.status, record.bytes, record.micros
        ),
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
    if let Some(request_sink) = sink.and_then(|s| s.request_sink.as_ref()) {
        let line = match record.rss_mib {
            Some(rss) => format!("{message} (RSS {rss} MiB)"),
            None => message,
        };
        match sink.map(|s| &s.request_encoders[..]) {
            Some(chain) if !chain.is_empty() => {
                request_sink.write_raw(&encoder::encode(chain, &line))
            }
            _ => request_sink.write_line(&line),
        }
        return;
    }
    let message = match record.rss_mib {
        Some(rss) => format!("{message} (RSS {rss} MiB)"),
        None => message,
    };
    let status = record.status.to_string();
    let duration = record.micros.to_string();
    let bytes = record.bytes.to_string();
    let rss = record.rss_mib.map(|r| r.to_string()).unwrap_or_default();
    let priority = if record.status >= 500 { WARNING } else { INFO };
    emit_line(
        priority,
        &message,
        &[
            ("REQUEST_METHOD", record.method.as_ref()),
            ("REQUEST_URI", record.uri.as_ref()),
            ("STATUS", &status),
            ("DURATION_US", &duration),
            ("RESPONSE_BYTES", &bytes),
            ("REMOTE_ADDR", record.remote.as_ref()),
            ("RSS_MIB", &rss),
        ][..if record.rss_mib.is_some() { 7 } else { 6 }],
        true,
    );
}

/// uWSGI's `log-format`: `%(name)` variables; unknown ones are left as written.
fn render(format: &str, record: &RequestRecord<'_>) -> String {
    let now = crate::sys::time::unix_now();
    crate::sys::substitute::substitute(format, "%(", ')', |name| {
        Some(match name {
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
                String::from_utf8_lossy(&crate::sys::time::http_date(now.as_secs())).into_owned()
            }
            other => return get_logvar(other),
        })
    })
}

/// `logto FILE`: this process's stdout and stderr (and so every worker's, and the
/// application's prints) append to FILE.
pub fn redirect_to(path: &Path) -> std::io::Result<()> {
    let file = open_log_file(path)?;
    nix::unistd::dup2_stdout(&file)?;
    nix::unistd::dup2_stderr(&file)?;
    let _ = LOG_PATH.set(path.to_path_buf());
    Ok(())
}

/// `log-maxsize`, from the master once a second: past the size, the file is renamed to
/// its backup name and a new one opened. Workers follow with `reopen_if_moved`.
pub fn rotate_if_needed() {
    let (Some(path), Some(options)) = (LOG_PATH.get(), FILE_OPTIONS.get()) else {
        return;
    };
    if options.max_size == 0 {
        return;
    }
    let Ok(size) = nix::sys::stat::fstat(std::io::stderr()).map(|s| s.st_size as u64) else {
        return;
    };
    if size < options.max_size {
        return;
    }
    let backup = match &options.backup_name {
        Some(name) => name.clone(),
        None => {
            let now = crate::sys::time::unix_secs();
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".{now}"));
            PathBuf::from(name)
        }
    };
    if let Err(e) = std::fs::rename(path, &backup) {
        error(&format!(
            "log-maxsize: cannot rename {} to {}: {e}",
            path.display(),
            backup.display()
        ));
        return;
    }
    match redirect_to(path) {
        Ok(()) => info(&format!(
            "log rotated: {} bytes moved to {}",
            size,
            backup.display()
        )),
        Err(e) => error(&format!(
            "log-maxsize: cannot reopen {}: {e}",
            path.display()
        )),
    }
}

/// Whether this process writes to a `logto` file that may be renamed under it.
pub fn follows_log_file() -> bool {
    LOG_PATH.get().is_some()
}

/// When the `logto` file was renamed or removed (rotation by the master or logrotate),
/// opens the file by its name again, so lines go where the administrator looks.
pub fn reopen_if_moved() {
    let Some(path) = LOG_PATH.get() else {
        return;
    };
    let current = nix::sys::stat::fstat(std::io::stderr()).map(|s| (s.st_dev, s.st_ino));
    let named = nix::sys::stat::stat(path.as_path()).map(|s| (s.st_dev, s.st_ino));
    if current.is_ok() && current == named {
        return;
    }
    if let Err(e) = redirect_to(path) {
        error(&format!("cannot reopen log file {}: {e}", path.display()));
    }
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

    #[test]
    fn log_format_variables() {
        let record = RequestRecord {
            method: "GET".into(),
            uri: "/x?y".into(),
            proto: "HTTP/1.1".into(),
            remote: "10.0.0.1".into(),
            host: "example.org".into(),
            user_agent: "curl/8".into(),
            referer: "".into(),
            status: 404,
            bytes: 12,
            micros: 2500,
            rss_mib: None,
            uwsgi: None,
        };
        assert_eq!(
            render(
                "%(addr) %(method) %(uri) %(proto) %(status) %(size) %(msecs)ms %(uagent) %(nope)",
                &record
            ),
            "10.0.0.1 GET /x?y HTTP/1.1 404 12 2ms curl/8 %(nope)"
        );
    }

    #[test]
    fn uwsgi_request_line() {
        let fields = UwsgiFields {
            vars: 24,
            vars_bytes: 300,
            headers: 2,
            header_bytes: 79,
            worker_requests: 4,
            total_requests: 17,
            core: 0,
        };
        let record = RequestRecord {
            method: "GET".into(),
            uri: "/ping/".into(),
            proto: "HTTP/1.1".into(),
            remote: "127.0.0.1".into(),
            host: "".into(),
            user_agent: "".into(),
            referer: "".into(),
            status: 200,
            bytes: 2,
            micros: 6_400,
            rss_mib: None,
            uwsgi: Some(fields),
        };
        let line = uwsgi_line(&record, &fields);
        let pid = std::process::id();
        let (head, rest) = line.split_once(" [").unwrap().1.split_once("] ").unwrap();
        assert_eq!(
            line.split_once(" [").unwrap().0,
            format!("[pid: {pid}|app: 0|req: 4/17] 127.0.0.1 () {{24 vars in 300 bytes}}")
        );
        assert_eq!(head.len(), "Tue Dec  1 16:00:00 2026".len(), "{head}");
        assert_eq!(
            rest,
            "GET /ping/ => generated 2 bytes in 6 msecs (HTTP/1.1 200) 2 headers in 79 bytes (1 switches on core 0)"
        );
        let ctime = crate::sys::time::ctime_local;
        assert!(ctime(0).ends_with(" 1970") || ctime(0).ends_with(" 1969"));
    }
}
