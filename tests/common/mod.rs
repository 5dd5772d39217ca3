//! Test harness: starts the real rwsgi binary with real Python apps and talks to it over
//! real sockets (loopback TCP and unix), with a minimal HTTP/1.1 and uwsgi client.
//!
//! Owns: process start/stop, log capture, clients. Must not: fake any part of the server.

#![allow(dead_code)]

pub mod nginx;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rwsgi under test: the binary cargo built, or the command named by RWSGI_TEST_BIN
/// (the `rwsgi` of a virtualenv the wheel was installed into, for the Python matrix).
pub fn bin() -> String {
    std::env::var("RWSGI_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rwsgi").to_string())
}
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

pub struct Server {
    pub child: Child,
    log: Arc<Mutex<String>>,
    pub http: Option<SocketAddr>,
    pub uwsgi: Option<PathBuf>,
    pub dir: tempfile::TempDir,
}

pub struct ServerBuilder {
    /// A command that runs rwsgi (systemd-socket-activate ...), with rwsgi's path appended.
    wrapper: Vec<String>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    env_remove: Vec<String>,
    http: bool,
    uwsgi: bool,
    workers_expected: usize,
    wait: bool,
    dir: tempfile::TempDir,
}

impl ServerBuilder {
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_string()));
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.into());
        self
    }
    /// Adds an HTTP listener on a free loopback port.
    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }
    /// Adds a uwsgi listener on a unix socket in the server's temporary folder.
    pub fn uwsgi(mut self) -> Self {
        self.uwsgi = true;
        self
    }
    pub fn wrapped<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, wrapper: I) -> Self {
        self.wrapper = wrapper
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect();
        self
    }
    pub fn workers(mut self, n: usize) -> Self {
        self.workers_expected = n;
        self
    }
    /// Do not wait for readiness (for servers expected to fail).
    pub fn no_wait(mut self) -> Self {
        self.wait = false;
        self
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn start(self) -> Server {
        let mut args = self.args.clone();
        let uwsgi = self.uwsgi.then(|| self.dir.path().join("uwsgi.sock"));
        if self.http {
            args.extend(["--http-socket".into(), "127.0.0.1:0".into()]);
        }
        if let Some(path) = &uwsgi {
            args.extend(["--socket".into(), path.display().to_string()]);
        }
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        for k in &self.env_remove {
            command.env_remove(k);
        }
        let child = command.spawn().expect("start rwsgi");
        let mut server = Server::adopt_unready(child, self.dir);
        server.uwsgi = uwsgi;
        if self.wait {
            server.wait_ready(self.workers_expected, self.http);
        }
        server
    }
}

pub fn server() -> ServerBuilder {
    ServerBuilder {
        wrapper: Vec::new(),
        args: Vec::new(),
        envs: Vec::new(),
        env_remove: Vec::new(),
        http: false,
        uwsgi: false,
        workers_expected: 1,
        wait: true,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// The loopback HTTP address a server logged as "listening on 127.0.0.1:PORT (http)".
pub fn http_address_in(log: &str) -> SocketAddr {
    log.lines()
        .filter_map(|l| l.split("listening on 127.0.0.1:").nth(1))
        .filter(|rest| {
            rest.split(' ')
                .nth(1)
                .is_some_and(|p| p.starts_with("(http)"))
        })
        .find_map(|rest| {
            format!("127.0.0.1:{}", rest.split(' ').next()?)
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no HTTP listener on 127.0.0.1 in the log:\n{log}"))
}

/// The binary with the pep3333 app, for tests that run it without the harness.
pub fn pep3333_command() -> Command {
    let mut command = Command::new(bin());
    command.args([
        "--chdir",
        apps_dir().to_str().unwrap(),
        "--module",
        "pep3333",
    ]);
    command
}

/// A server for tests/apps/pep3333.py, to be given listeners and options.
pub fn pep3333_builder() -> ServerBuilder {
    server().args([
        "--chdir",
        apps_dir().to_str().unwrap(),
        "--module",
        "pep3333",
    ])
}

/// A server for the PEP 3333 app with an HTTP listener.
pub fn pep3333_server(extra: &[&str]) -> Server {
    pep3333_builder().args(extra).http().start()
}

impl Server {
    /// Takes over a started rwsgi whose stdout and stderr are piped, waits until
    /// `workers` workers started, and finds its HTTP listener in the log.
    pub fn adopt(child: Child, workers: usize) -> Server {
        let mut server = Server::adopt_unready(child, tempfile::tempdir().unwrap());
        server.wait_ready(workers, true);
        server
    }

    fn adopt_unready(mut child: Child, dir: tempfile::TempDir) -> Server {
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                let reader = BufReader::new(stream);
                for line in reader.lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("RWSGI_TEST_ECHO").is_some() {
                        eprintln!("[server] {line}");
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        Server {
            child,
            log,
            http: None,
            uwsgi: None,
            dir,
        }
    }

    /// Waits until the master says every worker is ready (it logs "ready:" when it tells
    /// systemd READY=1), not merely forked.
    pub fn wait_ready(&mut self, workers: usize, http: bool) {
        let log = self.wait_for_log(
            &format!("worker {workers} started"),
            Duration::from_secs(30),
        );
        if !log.contains("ready: ") {
            self.wait_for_log("ready: ", Duration::from_secs(30));
        }
        if http {
            self.http = Some(http_address_in(&self.log()));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until the log contains `needle`; panics with the log if it never does.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("log never contained {needle:?}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `needle` occurs at least `count` times in the log.
    pub fn wait_for_count(&self, needle: &str, count: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            if Instant::now() > deadline {
                panic!("log never contained {needle:?} {count} times; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /sleep?SECONDS` (tests/apps/pep3333.py) on its own connection in a thread,
    /// returned once the application is inside the request (it logs "app: sleeping").
    pub fn sleeping_in_background(&self, seconds: &str) -> std::thread::JoinHandle<Response> {
        let needle = format!("app: sleeping {seconds}\n");
        let before = self.log().matches(&needle).count();
        let handle = get_in_background(self.addr(), &format!("/sleep?{seconds}"));
        self.wait_for_count(&needle, before + 1, Duration::from_secs(20));
        handle
    }

    pub fn addr(&self) -> SocketAddr {
        self.http.expect("server has an HTTP listener")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY-free: kill(1) would do the same; libc is not a test dependency, so use the command.
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the server to exit and returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the log readers catch up with the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            if Instant::now() > deadline {
                panic!("server did not exit within {limit:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        self.signal(15);
        self.wait_exit(Duration::from_secs(30))
    }

    pub fn get(&self, path: &str) -> Response {
        request(
            self.addr(),
            &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-9", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body arrived with chunked framing.
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Sends one raw request on a fresh connection and reads one response.
/// `GET path` on its own connection in a thread, for requests that must be in flight
/// while the test does something else.
pub fn get_in_background(addr: SocketAddr, path: &str) -> std::thread::JoinHandle<Response> {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    std::thread::spawn(move || request(addr, &raw))
}

pub fn request(addr: SocketAddr, raw: &str) -> Response {
    request_bytes(addr, raw.as_bytes())
}

pub fn request_bytes(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap();
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, false).expect("a response")
}

/// Reads one response; `head_request` means no body follows whatever the headers say.
/// Returns None if the connection closed before a status line.
pub fn read_response<R: BufRead>(reader: &mut R, head_request: bool) -> Option<Response> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next()?.to_string();
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        reason,
        version,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    if status == 100 {
        return Some(response);
    }
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(response);
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.chunked = true;
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            if size == 0 {
                line.clear();
                reader.read_line(&mut line).ok()?;
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).ok()?;
            response.body.extend_from_slice(&chunk);
            line.clear();
            reader.read_line(&mut line).ok()?;
        }
    } else if let Some(length) = response.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        response.body = body;
    } else {
        reader.read_to_end(&mut response.body).ok()?;
    }
    Some(response)
}

/// Encodes a uwsgi packet (modifier1, vars) the way nginx does.
pub fn uwsgi_packet(vars: &[(&str, &str)], modifier1: u8) -> Vec<u8> {
    let mut block = Vec::new();
    for (key, value) in vars {
        block.extend_from_slice(&(key.len() as u16).to_le_bytes());
        block.extend_from_slice(key.as_bytes());
        block.extend_from_slice(&(value.len() as u16).to_le_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    let mut packet = vec![modifier1];
    packet.extend_from_slice(&(block.len() as u16).to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&block);
    packet
}

/// nginx's stock uwsgi_params for a request, plus the client's headers as HTTP_*.
pub fn nginx_vars<'a>(method: &'a str, uri: &'a str, body_len: &'a str) -> Vec<(&'a str, &'a str)> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    vec![
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", body_len),
        ("REQUEST_URI", uri),
        ("PATH_INFO", path),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("REMOTE_ADDR", "10.1.2.3"),
        ("REMOTE_PORT", "55555"),
        ("SERVER_PORT", "80"),
        ("SERVER_NAME", "example.org"),
        ("HTTP_HOST", "example.org"),
        ("HTTP_CONTENT_LENGTH", body_len),
    ]
}

/// Sends a uwsgi request over a unix socket and reads the raw answer until the server closes.
pub fn uwsgi_raw(path: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("connect to uwsgi socket");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

pub fn uwsgi_request(path: &Path, vars: &[(&str, &str)], body: &[u8]) -> Response {
    let mut bytes = uwsgi_packet(vars, 0);
    bytes.extend_from_slice(body);
    let raw = uwsgi_raw(path, &bytes);
    read_response(&mut BufReader::new(&raw[..]), false).expect("a uwsgi response")
}

/// The virtualenv with Django and Flask that tests/run builds from tests/requirements.txt.
pub fn test_venv() -> PathBuf {
    let venv = std::env::var_os("RWSGI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    assert!(
        venv.join("requirements.installed").exists(),
        "no test virtualenv at {}: run tests/run, which creates it",
        venv.display()
    );
    venv
}

/// A multipart/form-data body with one file field and one text field.
pub fn multipart(boundary: &str, file_name: &str, data: &[u8], note: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n{note}\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

pub fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().unwrap();
    let owned = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

/// The test app's flat `{"key": "value"}` JSON output.
pub fn parse_flat_json(text: &str) -> std::collections::BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not a flat JSON object ({e}): {text}"))
}

/// Lets an unprivileged user (a server started as root that drops to `nobody`) reach
/// pyenv's Python under /root while held: /root gets o+x, and its mode is restored when the
/// last holder in this test binary drops it (tests run in parallel, so one test's drop must
/// not take the access from another still running).
pub struct RootTraversable(());

/// Holders, and /root's mode before the first of them.
static ROOT_TRAVERSABLE: Mutex<(usize, u32)> = Mutex::new((0, 0));

impl RootTraversable {
    pub fn grant() -> RootTraversable {
        use std::os::unix::fs::PermissionsExt;
        let mut held = ROOT_TRAVERSABLE.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 == 0 {
            let mode = std::fs::metadata("/root").unwrap().permissions().mode();
            std::fs::set_permissions("/root", std::fs::Permissions::from_mode(mode | 0o001))
                .unwrap();
            held.1 = mode;
        }
        held.0 += 1;
        RootTraversable(())
    }
}

impl Drop for RootTraversable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let mut held = ROOT_TRAVERSABLE.lock().unwrap_or_else(|e| e.into_inner());
        held.0 -= 1;
        if held.0 == 0 {
            let _ = std::fs::set_permissions("/root", std::fs::Permissions::from_mode(held.1));
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on, for an address rwsgi binds itself
/// (`stats`, `metrics`, a configured `http-socket`). Taken below the kernel's ephemeral range
/// (`ip_local_port_range`, 32768 and up by default): a port the kernel hands out for
/// `bind(…:0)` or an outgoing connection of a test running alongside could otherwise be taken
/// between this check and rwsgi's own bind (seen in CI-like runs: "Address already in use").
/// Each test process walks its own stretch, so two of its threads never get the same one.
pub fn free_port() -> u16 {
    const STRETCH: u16 = 200;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let first = 10_000 + (std::process::id() % 100) as u16 * STRETCH;
    for _ in 0..STRETCH {
        let port = first + NEXT.fetch_add(1, Ordering::Relaxed) % STRETCH;
        if port >= ephemeral_low {
            break;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // An unusual ephemeral range: let the kernel choose (and accept the small race).
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until a unix stream socket at `path` listens. systemd-socket-activate creates the
/// file at bind(), before listen(): a connection in between is refused (seen under load).
/// Reads /proc/net/unix rather than connecting, because the first connection is what starts
/// the activated server.
pub fn wait_unix_listening(path: &Path, limit: Duration) {
    // __SO_ACCEPTCON in the Flags column.
    const LISTENING: u32 = 0x0001_0000;
    let wanted = path.display().to_string();
    let deadline = Instant::now() + limit;
    loop {
        let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
        let listening = table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() >= 8
                && fields[7] == wanted
                && u32::from_str_radix(fields[3], 16).is_ok_and(|flags| flags & LISTENING != 0)
        });
        if listening {
            return;
        }
        assert!(Instant::now() < deadline, "{wanted} never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}
