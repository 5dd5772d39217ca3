//! The stats server (`stats`, `stats-http`): on each connection the master writes uWSGI's
//! JSON document (master pid, sockets, and per worker requests, status, memory, bytes sent,
//! average response time...) and closes, so `uwsgitop` and monitoring scripts work.
//!
//! In HTTP mode (`stats-http`) it reads the request line first: `/metrics` gets the
//! Prometheus text (see `metrics`), `/` asked for as HTML (a browser's Accept) gets the
//! status page (see `page`), `/status.json` the page's data, anything else the JSON
//! document as before. A `metrics = ADDR` server is one of these answering metrics only.
//!
//! A reload passes the stats and metrics sockets on to the next master image (as the
//! listeners): a master that dropped privileges could neither unlink the socket file it
//! created as root nor bind a privileged port again.
//!
//! Owns: the stats socket (and handing it across a reload), request routing and the
//! document's shape. Must not: block the master for long (the socket is non-blocking; a client gets 100 ms to send its request
//! head and 200 ms to take the answer, one small write).

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use socket2::Socket;

use crate::config::ListenAddress;
use crate::ipc::handoff::{self, StatsHandoff};

/// What a stats socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// uWSGI's `stats`: the JSON document, no request read.
    Raw,
    /// `stats-http`: HTTP, routed by path and Accept.
    Http,
    /// `metrics`: HTTP, the Prometheus text at any path.
    Metrics,
}

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Json,
    Metrics,
    Html,
    PageData,
}

pub struct StatsServer {
    listener: Socket,
    mode: Mode,
    /// The socket file to remove at exit, if rwsgi created one.
    pub path: Option<std::path::PathBuf>,
}

/// One worker's line in the document.
pub struct WorkerStats {
    pub id: usize,
    pub pid: i32,
    pub requests: u64,
    pub exceptions: u64,
    pub harakiri_count: u64,
    pub respawn_count: u64,
    pub busy: Vec<bool>,
    pub tx: u64,
    pub busy_us: u64,
    pub last_spawn: u64,
}

pub struct SocketStats {
    pub name: String,
    pub proto: String,
    pub backlog: i32,
    /// Connections waiting in the accept queue now.
    pub queue: u32,
}

/// Why a `stats` or `metrics` socket cannot be had: `{what} {spec}: {cause}`.
#[derive(Debug)]
pub struct BindError {
    /// `stats` or `metrics`.
    pub what: &'static str,
    /// The address as written.
    pub spec: String,
    pub cause: BindCause,
}

#[derive(Debug)]
pub enum BindCause {
    Address(crate::net::AddressError),
    Bind(std::io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: ", self.what, self.spec)?;
        match &self.cause {
            BindCause::Address(e) => e.fmt(f),
            BindCause::Bind(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            BindCause::Address(e) => Some(e),
            BindCause::Bind(e) => Some(e),
        }
    }
}

impl StatsServer {
    /// Adopts the socket the previous master image passed on for this address, or binds
    /// one.
    pub fn bind(spec: &str, mode: Mode) -> Result<StatsServer, BindError> {
        let failed = |cause| BindError {
            what: if mode == Mode::Metrics {
                "metrics"
            } else {
                "stats"
            },
            spec: spec.to_string(),
            cause,
        };
        let address =
            crate::config::parse_address(spec).map_err(|e| failed(BindCause::Address(e)))?;
        if let Some(server) = adopt(&place(&address), mode) {
            return Ok(server);
        }
        let (fd, _, created) = crate::net::bind_listener(&address, 16, None)
            .map_err(|e| failed(BindCause::Bind(e)))?;
        let listener = Socket::from(fd);
        let path = created.map(|(path, _)| path);
        Ok(StatsServer {
            listener,
            mode,
            path,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    pub fn local_address(&self) -> String {
        self.listener
            .local_addr()
            .ok()
            .and_then(|a| {
                a.as_socket()
                    .map(|s| s.to_string())
                    .or_else(|| a.as_pathname().map(|p| p.display().to_string()))
            })
            .unwrap_or_default()
    }

    /// Answers every waiting client; a document is built only when one asks for it.
    pub fn serve_pending(&self, document: impl Fn(Page) -> String) {
        while let Ok((client, _)) = self.listener.accept() {
            let _ = client.set_nonblocking(false);
            let _ = client.set_read_timeout(Some(std::time::Duration::from_millis(100)));
            let _ = client.set_write_timeout(Some(std::time::Duration::from_millis(200)));
            let mut client = std::fs::File::from(std::os::fd::OwnedFd::from(client));
            let page = match self.mode {
                Mode::Raw => {
                    let _ = client.write_all(document(Page::Json).as_bytes());
                    continue;
                }
                Mode::Metrics => Page::Metrics,
                Mode::Http => route(&read_head(&mut client)),
            };
            let body = document(page);
            let content_type = match page {
                Page::Json | Page::PageData => "application/json",
                Page::Metrics => super::metrics::CONTENT_TYPE,
                Page::Html => "text/html; charset=utf-8",
            };
            let payload = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(payload.as_bytes());
        }
    }
}

/// Sockets the previous master image passed on. A server adopts a copy; the originals stay
/// here until the new generation is assembled, for a held reload to serve on.
static HANDED: Mutex<Vec<Handed>> = Mutex::new(Vec::new());

struct Handed {
    socket: Socket,
    mode: Mode,
    place: String,
    path: Option<PathBuf>,
}

/// Where an address listens, as compared across a reload: a unix path made absolute (a
/// relative one means another file if `chdir` changed).
fn place(address: &ListenAddress) -> String {
    match address {
        ListenAddress::Tcp(addr) => addr.to_string(),
        ListenAddress::Unix(path) => std::env::current_dir()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string(),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Raw => "raw",
        Mode::Http => "http",
        Mode::Metrics => "metrics",
    }
}

/// Lets the servers' sockets survive the reload's exec and names them for the next image
/// (`ipc::handoff::STATS_VAR`).
pub fn export_for_reload<'a>(servers: impl IntoIterator<Item = &'a StatsServer>) {
    let mut handed = Vec::new();
    for server in servers {
        let Ok(local) = server.listener.local_addr() else {
            continue;
        };
        let place = match (local.as_socket(), local.as_pathname()) {
            (Some(addr), _) => addr.to_string(),
            (None, Some(path)) => path.display().to_string(),
            _ => continue,
        };
        let record = StatsHandoff {
            fd: server.listener.as_raw_fd(),
            mode: mode_name(server.mode).to_string(),
            place,
            path: server.path.clone(),
        };
        if record.fits() && server.listener.set_cloexec(false).is_ok() {
            handed.push(record);
        }
    }
    std::env::set_var(handoff::STATS_VAR, handoff::encode_stats(&handed));
}

/// Undoes `export_for_reload` when the exec did not happen.
pub fn keep_private<'a>(servers: impl IntoIterator<Item = &'a StatsServer>) {
    for server in servers {
        let _ = server.listener.set_cloexec(true);
    }
    std::env::remove_var(handoff::STATS_VAR);
}

/// At the start of a master image: takes the sockets the previous image passed on (close
/// on exec again, so no command rwsgi starts inherits them).
pub fn import_from_reload() {
    let Ok(text) = std::env::var(handoff::STATS_VAR) else {
        return;
    };
    std::env::remove_var(handoff::STATS_VAR);
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    for record in handoff::decode_stats(&text) {
        let mode = match record.mode.as_str() {
            "raw" => Mode::Raw,
            "http" => Mode::Http,
            "metrics" => Mode::Metrics,
            _ => continue,
        };
        // SAFETY: the previous image of this process left `fd` open across exec for us and
        // nothing in this image has claimed it; it is checked to be a listening socket below.
        let socket = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(record.fd) };
        if socket.set_cloexec(true).is_err() || !socket.is_listener().unwrap_or(false) {
            std::mem::forget(socket);
            continue;
        }
        handed.push(Handed {
            socket,
            mode,
            place: record.place,
            path: record.path,
        });
    }
}

/// A copy of the passed-on socket listening at `place` for the same kind of server.
fn adopt(place: &str, mode: Mode) -> Option<StatsServer> {
    let handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    let old = handed
        .iter()
        .find(|h| h.place == place && (h.mode == Mode::Metrics) == (mode == Mode::Metrics))?;
    let listener = old.socket.try_clone().ok()?;
    Some(StatsServer {
        listener,
        mode,
        path: old.path.clone(),
    })
}

/// For a held reload: the previous image's server of this kind, as it was.
pub fn take_handed(metrics: bool) -> Option<StatsServer> {
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    let index = handed
        .iter()
        .position(|h| (h.mode == Mode::Metrics) == metrics)?;
    let old = handed.remove(index);
    Some(StatsServer {
        listener: old.socket,
        mode: old.mode,
        path: old.path,
    })
}

/// The new generation is assembled: the originals are closed (the servers hold copies).
pub fn release_handed() {
    HANDED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// The request head, as much as arrives within the read timeout (at most 8 KiB).
fn read_head(client: &mut std::fs::File) -> String {
    use std::io::Read;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Which page an HTTP request head asks for: by path, and for `/` by Accept.
pub fn route(head: &str) -> Page {
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/");
    let wants_html = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("accept") && value.contains("text/html")
        })
    });
    match path {
        "/metrics" => Page::Metrics,
        "/status.json" => Page::PageData,
        "/" if wants_html => Page::Html,
        _ => Page::Json,
    }
}

/// uWSGI's stats document.
/// One spooler process: (directory, pid or 0 while it respawns, tasks waiting, respawns).
pub type SpoolerStats = (String, i32, usize, u64);

/// The document's shape, field for field in uWSGI's order (uwsgitop and monitoring
/// scripts read it); serialized by serde_json.
#[derive(Serialize)]
struct Document<'a> {
    version: &'static str,
    listen_queue: u32,
    listen_queue_errors: u32,
    signal_queue: u32,
    load: u32,
    pid: u32,
    uid: u32,
    gid: u32,
    cwd: String,
    locks: [u8; 0],
    sockets: Vec<SocketRow<'a>>,
    workers: Vec<WorkerRow>,
    spoolers: Vec<SpoolerRow<'a>>,
    /// An rwsgi addition (uwsgitop ignores it): uWSGI's document has no mules.
    mules: Vec<MuleRow>,
}

#[derive(Serialize)]
struct SocketRow<'a> {
    name: &'a str,
    proto: &'a str,
    queue: u32,
    max_queue: i32,
    shared: u8,
    can_offload: u8,
}

#[derive(Serialize)]
struct WorkerRow {
    id: usize,
    pid: i32,
    accepting: u8,
    requests: u64,
    delta_requests: u64,
    exceptions: u64,
    harakiri_count: u64,
    signals: u8,
    signal_queue: u8,
    status: &'static str,
    rss: u64,
    vsz: u64,
    running_time: u64,
    last_spawn: u64,
    respawn_count: u64,
    tx: u64,
    avg_rt: u64,
    apps: [u8; 0],
    cores: Vec<CoreRow>,
}

#[derive(Serialize)]
struct CoreRow {
    id: usize,
    requests: u8,
    in_request: u8,
}

#[derive(Serialize)]
struct SpoolerRow<'a> {
    dir: &'a str,
    pid: i32,
    tasks: usize,
    respawns: u64,
    running: u8,
}

#[derive(Serialize)]
struct MuleRow {
    id: usize,
    pid: i32,
    respawn_count: u64,
    running: u8,
}

impl WorkerRow {
    fn new(w: &WorkerStats) -> WorkerRow {
        let memory = crate::sys::procfs::memory(w.pid).unwrap_or_default();
        let cores = w
            .busy
            .iter()
            .enumerate()
            .map(|(id, busy)| CoreRow {
                id,
                requests: 0,
                in_request: u8::from(*busy),
            })
            .collect();
        WorkerRow {
            id: w.id,
            pid: w.pid,
            accepting: 1,
            requests: w.requests,
            delta_requests: w.requests,
            exceptions: w.exceptions,
            harakiri_count: w.harakiri_count,
            signals: 0,
            signal_queue: 0,
            status: if w.busy.iter().any(|b| *b) {
                "busy"
            } else {
                "idle"
            },
            rss: memory.resident_bytes,
            vsz: memory.virtual_bytes,
            running_time: w.busy_us,
            last_spawn: w.last_spawn,
            respawn_count: w.respawn_count,
            tx: w.tx,
            avg_rt: w.busy_us.checked_div(w.requests).unwrap_or(0),
            apps: [],
            cores,
        }
    }
}

pub fn document(
    sockets: &[SocketStats],
    workers: &[WorkerStats],
    spoolers: &[SpoolerStats],
    mules: &[super::mules::MuleStats],
) -> String {
    let document = Document {
        version: concat!(env!("CARGO_PKG_VERSION"), "-rwsgi"),
        listen_queue: sockets.iter().map(|s| s.queue).sum(),
        listen_queue_errors: 0,
        signal_queue: 0,
        load: 0,
        pid: std::process::id(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        locks: [],
        sockets: sockets
            .iter()
            .map(|s| SocketRow {
                name: &s.name,
                proto: &s.proto,
                queue: s.queue,
                max_queue: s.backlog,
                shared: 0,
                can_offload: 0,
            })
            .collect(),
        workers: workers.iter().map(WorkerRow::new).collect(),
        spoolers: spoolers
            .iter()
            .map(|(dir, pid, tasks, respawns)| SpoolerRow {
                dir,
                pid: *pid,
                tasks: *tasks,
                respawns: *respawns,
                running: u8::from(*pid > 0),
            })
            .collect(),
        mules: mules
            .iter()
            .map(|(id, pid, respawns)| MuleRow {
                id: *id,
                pid: *pid,
                respawn_count: *respawns,
                running: u8::from(*pid > 0),
            })
            .collect(),
    };
    let mut text = serde_json::to_string(&document).expect("the stats document serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_keeps_uwsgis_fields_in_order_and_escapes_strings() {
        let sockets = [SocketStats {
            name: "/run/a \"b\".sock".into(),
            proto: "uwsgi".into(),
            backlog: 100,
            queue: 2,
        }];
        let workers = [WorkerStats {
            id: 1,
            pid: std::process::id() as i32,
            requests: 4,
            exceptions: 0,
            harakiri_count: 0,
            respawn_count: 1,
            busy: vec![false, true],
            tx: 10,
            busy_us: 400,
            last_spawn: 0,
        }];
        let text = document(
            &sockets,
            &workers,
            &[("/spool\n".into(), 0, 3, 1)],
            &[(1, 42, 2)],
        );
        assert!(text.ends_with("}\n"));
        assert!(text.starts_with("{\"version\":\""), "{text}");
        assert!(text.contains(
            "\"sockets\":[{\"name\":\"/run/a \\\"b\\\".sock\",\"proto\":\"uwsgi\",\"queue\":2,\"max_queue\":100,\"shared\":0,\"can_offload\":0}]"
        ), "{text}");
        assert!(text.contains("\"status\":\"busy\""), "{text}");
        assert!(text.contains("\"avg_rt\":100,\"apps\":[],\"cores\":[{\"id\":0,\"requests\":0,\"in_request\":0},{\"id\":1,\"requests\":0,\"in_request\":1}]"), "{text}");
        assert!(text.contains("\"spoolers\":[{\"dir\":\"/spool\\n\",\"pid\":0,\"tasks\":3,\"respawns\":1,\"running\":0}]"), "{text}");
        assert!(
            text.contains("\"mules\":[{\"id\":1,\"pid\":42,\"respawn_count\":2,\"running\":1}]"),
            "{text}"
        );
        let keys: Vec<&str> = text
            .split("\":")
            .map(|k| k.rsplit('"').next().unwrap())
            .collect();
        let top = [
            "version",
            "listen_queue",
            "listen_queue_errors",
            "signal_queue",
            "load",
            "pid",
            "uid",
            "gid",
            "cwd",
            "locks",
            "sockets",
        ];
        let positions: Vec<usize> = top
            .iter()
            .map(|k| keys.iter().position(|x| x == k).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn routes_by_path_and_accept() {
        assert_eq!(
            route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Page::Metrics
        );
        assert_eq!(
            route("GET / HTTP/1.1\r\nAccept: text/html,application/xhtml+xml\r\n\r\n"),
            Page::Html
        );
        assert_eq!(route("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), Page::Json);
        assert_eq!(route(""), Page::Json);
        assert_eq!(route("GET /status.json HTTP/1.1\r\n\r\n"), Page::PageData);
    }
}
