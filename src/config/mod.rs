//! The typed configuration: what the master and workers read, built from the ordered entries
//! of `source` by the rules of the option table in `options`.
//!
//! Owns: value syntax (booleans, numbers, sizes, modes, addresses), unknown-key warnings and
//! `strict`, defaults. Must not: bind sockets, start Python, or print (it returns warnings).

pub mod caches;
pub mod manpage;
mod manpage_ops;
pub mod mules;
pub mod options;
pub mod source;

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use options::{OptionSpec, ValueKind};
use source::{Entry, Origin};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The binary uwsgi protocol (what nginx's `uwsgi_pass` speaks).
    Uwsgi,
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Uwsgi => "uwsgi",
            Protocol::Http => "http",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Unix(path) => write!(f, "{}", path.display()),
            ListenAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SocketSpec {
    pub address: ListenAddress,
    pub protocol: Protocol,
    /// Where the option was written (`file:line`, `command line`), for messages.
    pub origin: String,
    /// Written in an ini file (not on the command line): under socket activation a unix
    /// socket of such a line is skipped (see `net::listeners`).
    pub in_file: bool,
}

/// `static-map PREFIX=DIR` (or `static-map2`, which keeps the prefix in the file path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMap {
    pub prefix: String,
    pub root: PathBuf,
    pub keep_prefix: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub chdir: Option<PathBuf>,
    pub module: Option<String>,
    pub wsgi_file: Option<PathBuf>,
    pub callable: String,
    pub pythonpath: Vec<PathBuf>,
    pub home: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub lazy_apps: bool,
    pub need_app: bool,
    pub processes: usize,
    pub threads: usize,
    pub max_requests: u64,
    pub max_requests_delta: u64,
    pub reload_on_rss_mib: u64,
    pub min_worker_lifetime: Duration,
    pub max_worker_lifetime: Option<Duration>,
    pub harakiri: Option<Duration>,
    pub worker_reload_mercy: Duration,
    pub touch_reload: Vec<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub sockets: Vec<SocketSpec>,
    pub listen_backlog: i32,
    pub chmod_socket: Option<u32>,
    pub vacuum: bool,
    pub buffer_size: usize,
    pub limit_post: u64,
    pub disable_logging: bool,
    pub logto: Option<PathBuf>,
    pub log_format: Option<String>,
    /// Protocol of `socket` entries and of unnamed, unmatched systemd sockets.
    pub protocol: Protocol,
    /// Indexes into `sockets` of `socket` entries, whose protocol `protocol` decides.
    default_protocol_sockets: Vec<usize>,
    pub chown_socket: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// Where `uid`, `gid` and `chown-socket` were written (`file:line`), in that order of
    /// the options' appearance; the master names them when it cannot honour them.
    pub privilege_origins: Vec<(&'static str, String)>,
    pub capabilities: Vec<caps::Capability>,
    pub no_new_privileges: bool,
    pub file_wrapper: bool,
    pub static_maps: Vec<StaticMap>,
    pub check_static: Vec<PathBuf>,
    pub static_index: Vec<String>,
    /// (Content-Type without parameters, seconds) for Expires / Cache-Control.
    pub static_expires: Vec<(String, u64)>,
    pub add_headers: Vec<(String, String)>,
    /// `http-server-header`: HTTP responses carry `Server: rwsgi` unless the app set one.
    pub http_server_header: bool,
    pub daemonize: Option<PathBuf>,
    /// strftime-like format for a date in front of each plain log line.
    pub log_date: Option<String>,
    pub log_4xx: bool,
    pub log_5xx: bool,
    pub memory_report: bool,
    pub stats: Option<String>,
    /// `metrics = ADDR`: a Prometheus text endpoint of its own.
    pub metrics: Option<String>,
    pub master_fifo: Vec<PathBuf>,
    /// attach-daemon and attach-daemon2: (command, the signal that stops it).
    pub attach_daemons: Vec<(String, i32)>,
    /// Adaptive workers: the minimum running (0: off).
    pub cheaper: usize,
    pub cheaper_initial: Option<usize>,
    pub cheaper_step: usize,
    pub cheaper_overload: Duration,
    /// (mountpoint without a trailing slash, application spec).
    pub mounts: Vec<(String, String)>,
    pub manage_script_name: bool,
    pub py_autoreload: Option<Duration>,
    pub stats_http: bool,
    /// `logger = syslog:TAG`.
    pub syslog: Option<String>,
    pub log_x_forwarded_for: bool,
    pub auto_procname: bool,
    pub procname_prefix: String,
    pub so_keepalive: bool,
    pub log_slow_ms: u64,
    pub http_max_headers: usize,
    pub http_header_timeout: Duration,
    pub http_keepalive_timeout: Duration,
    pub socket_timeout: Duration,
    pub umask: Option<u32>,
    pub max_fd: u64,
    pub honour_stdin: bool,
    pub no_site: bool,
    pub pyargv: Option<String>,
    pub imports: Vec<String>,
    pub paste: Option<String>,
    pub chdir2: Option<PathBuf>,
    pub master_as_root: bool,
    pub procname: Option<String>,
    pub procname_master: Option<String>,
    pub reload_on_as_mib: u64,
    pub reload_on_exception: bool,
    pub harakiri_graceful_timeout: Option<Duration>,
    pub no_default_app: bool,
    pub static_safe: Vec<PathBuf>,
    pub mime_files: Vec<PathBuf>,
    /// (regular expression, seconds, matched against the URI rather than the file path).
    pub static_expires_patterns: Vec<(regex::Regex, u64, bool)>,
    pub static_gzip_all: bool,
    pub static_gzip_dirs: Vec<PathBuf>,
    pub proxy_protocol: bool,
    /// (option name, rule text) in the order written.
    pub routes: Vec<crate::routing::Rule>,
    /// (rule, unique): `MIN HOUR DAY MONTH WEEKDAY COMMAND`.
    pub crons: Vec<(crate::master::cron::CronJob, bool)>,
    /// (pidfile, command).
    pub smart_attach_daemons: Vec<(PathBuf, String)>,
    /// `spooler` and its companions.
    pub spooler: SpoolerConfig,
    pub mules: mules::MuleConfig,
    /// `logto2`: the log file is opened after privileges are dropped.
    pub logto_after_drop: bool,
    pub logfile_mode: Option<u32>,
    pub log_micros: bool,
    pub log_maxsize: u64,
    pub log_backupname: Option<PathBuf>,
    /// `req-logger`: (file path or None for stdio, syslog tag).
    pub req_logger: Option<RequestLogger>,
    pub logformat_strftime: bool,
    pub hooks: crate::hooks::Hooks,
    /// `cheaper-algo = busyness` (otherwise spare).
    pub cheaper_busyness: bool,
    /// Applications chosen by host among `mount = HOST=APP`.
    pub vhost: bool,
    pub vhost_host: bool,
    pub alarms: Vec<crate::alarms::AlarmSpec>,
    pub alarm_freq: Duration,
    /// (alarm names, pattern) for log lines.
    pub log_alarms: Vec<(Vec<String>, regex::Regex)>,
    pub alarm_segfault: Vec<String>,
    pub alarm_backlog: Vec<String>,
    pub busyness: Busyness,
    pub log_encoders: Vec<String>,
    pub log_req_encoders: Vec<String>,
    /// `logger = NAME DESTINATION`.
    pub named_loggers: Vec<(String, RequestLogger)>,
    /// `log-route = NAME REGEXP`.
    pub log_routes: Vec<(String, regex::Regex)>,
    /// `cache2` caches, in the order written (the first is the default one).
    pub caches: Vec<caches::CacheSpec>,
    /// Legacy `cache = N` (0: none) and its `cache-blocksize`.
    pub legacy_cache_items: u64,
    pub legacy_cache_blocksize: u64,
    /// `locks = N`: uwsgi.lock() numbers 0..=N.
    pub locks: usize,
}

/// The busyness cheaper algorithm's thresholds (uWSGI's defaults).
#[derive(Debug, Clone)]
pub struct Busyness {
    pub max_percent: u64,
    pub min_percent: u64,
    pub multiplier: u64,
    pub backlog_alert: u64,
    pub backlog_step: usize,
}

impl Default for Busyness {
    fn default() -> Self {
        Busyness {
            max_percent: 50,
            min_percent: 25,
            multiplier: 10,
            backlog_alert: 33,
            backlog_step: 1,
        }
    }
}

/// Where `req-logger` sends request lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestLogger {
    File(PathBuf),
    Stdio,
    Syslog(String),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chdir: None,
            module: None,
            wsgi_file: None,
            callable: "application".into(),
            pythonpath: Vec::new(),
            home: None,
            env: Vec::new(),
            lazy_apps: false,
            need_app: false,
            processes: 1,
            threads: 1,
            max_requests: 0,
            max_requests_delta: 0,
            reload_on_rss_mib: 0,
            min_worker_lifetime: Duration::from_secs(10),
            max_worker_lifetime: None,
            harakiri: None,
            worker_reload_mercy: Duration::from_secs(60),
            touch_reload: Vec::new(),
            pidfile: None,
            sockets: Vec::new(),
            listen_backlog: 100,
            chmod_socket: None,
            vacuum: false,
            buffer_size: 8192,
            limit_post: 0,
            disable_logging: false,
            logto: None,
            log_format: None,
            protocol: Protocol::Uwsgi,
            default_protocol_sockets: Vec::new(),
            chown_socket: None,
            uid: None,
            gid: None,
            privilege_origins: Vec::new(),
            capabilities: Vec::new(),
            no_new_privileges: false,
            file_wrapper: true,
            static_maps: Vec::new(),
            check_static: Vec::new(),
            static_index: Vec::new(),
            static_expires: Vec::new(),
            add_headers: Vec::new(),
            http_server_header: true,
            daemonize: None,
            log_date: None,
            log_4xx: false,
            log_5xx: false,
            memory_report: false,
            stats: None,
            metrics: None,
            master_fifo: Vec::new(),
            attach_daemons: Vec::new(),
            caches: Vec::new(),
            legacy_cache_items: 0,
            legacy_cache_blocksize: caches::DEFAULT_BLOCKSIZE,
            locks: 0,
            cheaper: 0,
            cheaper_initial: None,
            cheaper_step: 1,
            cheaper_overload: Duration::from_secs(3),
            mounts: Vec::new(),
            manage_script_name: false,
            py_autoreload: None,
            stats_http: false,
            syslog: None,
            log_x_forwarded_for: false,
            auto_procname: false,
            procname_prefix: String::new(),
            so_keepalive: false,
            log_slow_ms: 0,
            http_max_headers: 100,
            http_header_timeout: Duration::from_secs(30),
            http_keepalive_timeout: Duration::from_secs(30),
            socket_timeout: Duration::from_secs(60),
            umask: None,
            max_fd: 0,
            honour_stdin: false,
            no_site: false,
            pyargv: None,
            imports: Vec::new(),
            paste: None,
            chdir2: None,
            master_as_root: false,
            procname: None,
            procname_master: None,
            reload_on_as_mib: 0,
            reload_on_exception: false,
            harakiri_graceful_timeout: None,
            no_default_app: false,
            static_safe: Vec::new(),
            mime_files: Vec::new(),
            static_expires_patterns: Vec::new(),
            static_gzip_all: false,
            static_gzip_dirs: Vec::new(),
            proxy_protocol: false,
            routes: Vec::new(),
            crons: Vec::new(),
            smart_attach_daemons: Vec::new(),
            spooler: SpoolerConfig::default(),
            mules: Default::default(),
            logto_after_drop: false,
            logfile_mode: None,
            log_micros: false,
            log_maxsize: 0,
            log_backupname: None,
            req_logger: None,
            logformat_strftime: false,
            hooks: crate::hooks::Hooks::default(),
            cheaper_busyness: false,
            vhost: false,
            vhost_host: false,
            alarms: Vec::new(),
            alarm_freq: Duration::from_secs(3),
            log_alarms: Vec::new(),
            alarm_segfault: Vec::new(),
            alarm_backlog: Vec::new(),
            busyness: Busyness::default(),
            log_encoders: Vec::new(),
            log_req_encoders: Vec::new(),
            named_loggers: Vec::new(),
            log_routes: Vec::new(),
        }
    }
}

/// A fatal configuration error: where, which option, what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl From<source::SourceError> for ConfigError {
    fn from(e: source::SourceError) -> Self {
        ConfigError {
            origin: e.origin,
            message: e.message,
        }
    }
}

/// The configuration plus the warnings the caller should log (unknown keys, no-ops).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    /// `print` texts and, with `show-config`, every entry: logged at start.
    pub messages: Vec<String>,
}

pub fn build(entries: &[Entry]) -> Result<Loaded, ConfigError> {
    let strict = entries
        .iter()
        .filter(|e| options::normalize(&e.key) == "strict")
        .try_fold(false, |_, e| parse_flag(e))?;
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let mut messages = Vec::new();
    for entry in entries {
        if key_is_conflict_marker(&entry.key, entry.value.as_deref()) {
            warnings.push(format!(
                "{}: git merge conflict marker ignored: the file has an unresolved conflict; the lines of both sides are read",
                entry.origin
            ));
            continue;
        }
        let Some(spec) = options::find(&entry.key) else {
            let hint = options::suggest(&entry.key)
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            if strict {
                return Err(ConfigError {
                    origin: entry.origin.clone(),
                    message: format!("unknown option '{}' (strict mode){hint}", entry.key),
                });
            }
            warnings.push(format!(
                "{}: unknown option '{}' ignored{hint}",
                entry.origin, entry.key
            ));
            continue;
        };
        if spec.support == options::Support::Unsupported {
            warnings.push(format!(
                "{}: option '{}' is {}",
                entry.origin, entry.key, spec.help
            ));
            continue;
        }
        if spec.name == "print" {
            messages.push(entry.value.clone().unwrap_or_default());
            continue;
        }
        if spec.name == "show-config" && parse_flag(entry)? {
            for e in entries {
                messages.push(format!(
                    "config: {} = {} ({})",
                    e.key,
                    e.value.as_deref().unwrap_or("true"),
                    e.origin
                ));
            }
            continue;
        }
        if matches!(spec.name, "module" | "callable" | "wsgi-file") {
            if let Some(value) = entry.value.as_deref() {
                let kept = without_inline_comment(value.trim());
                if kept != value.trim() {
                    // A Python module or callable name never contains a blank; uWSGI would
                    // read the comment as part of the name and fail to load the app.
                    warnings.push(format!(
                        "{}: inline comment after '{}' ignored (uWSGI would take it as part of the value)",
                        entry.origin, spec.name
                    ));
                    let mut trimmed = entry.clone();
                    trimmed.value = Some(kept.to_string());
                    apply(&mut config, spec, &trimmed)?;
                    continue;
                }
            }
        }
        if spec.name == "plugins" {
            warnings.extend(check_plugins(entry));
            continue;
        }
        if spec.name == "alarm" {
            match crate::alarms::parse_alarm(&non_empty(entry, spec)?) {
                Ok(alarm) => config.alarms.push(alarm),
                Err(message) => {
                    warnings.push(format!("{}: alarm not honoured: {message}", entry.origin))
                }
            }
            continue;
        }
        if spec.name == "cheaper-algo"
            && !["spare", "busyness"].contains(&non_empty(entry, spec)?.as_str())
        {
            warnings.push(format!(
                "{}: cheaper-algo '{}' is not provided; the spare algorithm is used",
                entry.origin,
                entry.value.as_deref().unwrap_or("").trim()
            ));
            continue;
        }
        apply(&mut config, spec, entry)?;
    }
    let referenced = config
        .log_alarms
        .iter()
        .flat_map(|(names, _)| names.iter())
        .chain(&config.alarm_segfault)
        .chain(&config.alarm_backlog);
    for name in referenced {
        if !config.alarms.iter().any(|a| &a.name == name) {
            warnings.push(format!(
                "alarm '{name}' is not defined (or not honoured); define it with 'alarm = {name} cmd:COMMAND'"
            ));
        }
    }
    for (mountpoint, _) in &config.mounts {
        if !mountpoint.starts_with('/') && !config.vhost {
            warnings.push(format!(
                "mount '{mountpoint}' names a host: it is chosen only with 'vhost = true'"
            ));
        }
    }
    for (name, _) in &config.log_routes {
        if !config.named_loggers.iter().any(|(n, _)| n == name) {
            warnings.push(format!(
                "log-route to an undefined logger '{name}' ignored; define it with 'logger = {name} file:PATH'"
            ));
        }
    }
    if config.cheaper >= config.processes {
        config.cheaper = 0;
    }
    for index in std::mem::take(&mut config.default_protocol_sockets) {
        config.sockets[index].protocol = config.protocol;
    }
    Ok(Loaded {
        config,
        warnings,
        messages,
    })
}

fn key_is_conflict_marker(key: &str, value: Option<&str>) -> bool {
    key.starts_with("<<<<<<<")
        || key.starts_with(">>>>>>>")
        || (key.is_empty() && value.is_some_and(|v| v.starts_with("======")))
}

/// Checks that need the whole configuration, run after `build` when the server is to start.
pub fn check_complete(config: &Config) -> Result<(), String> {
    if config.module.is_none()
        && config.wsgi_file.is_none()
        && config.paste.is_none()
        && config.mounts.is_empty()
    {
        return Err("no application given: set 'module', 'wsgi-file', 'paste' or 'mount'".into());
    }
    Ok(())
}

/// `attach-daemon2 = cmd=COMMAND,stopsignal=N,pidfile=PATH`: uWSGI's key=value list
/// (`\,` is a literal comma). Returns (command, stop signal, pidfile).
fn parse_attach_daemon2(value: &str) -> Result<(String, i32, Option<PathBuf>), String> {
    let mut items = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => items.last_mut().expect("one item").extend(chars.next()),
            ',' => items.push(String::new()),
            c => items.last_mut().expect("one item").push(c),
        }
    }
    let (mut command, mut stop_signal, mut pidfile) = (None, nix::libc::SIGTERM, None);
    for item in items.iter().filter(|i| !i.trim().is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got '{item}'"))?;
        match key.trim() {
            "cmd" | "command" | "exec" => command = Some(value.to_string()),
            "stopsignal" | "stop_signal" => {
                stop_signal = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| nix::sys::signal::Signal::try_from(*n).is_ok())
                    .ok_or_else(|| format!("stopsignal: '{value}' is not a signal number"))?
            }
            "pidfile" => pidfile = Some(PathBuf::from(value.trim())),
            other => {
                return Err(format!(
                    "key '{other}' is not provided (cmd, stopsignal and pidfile are)"
                ))
            }
        }
    }
    let command = command
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| "cmd=COMMAND is required".to_string())?;
    Ok((command, stop_signal, pidfile))
}

fn error(entry: &Entry, spec: &OptionSpec, message: impl fmt::Display) -> ConfigError {
    let value = entry.value.as_deref().unwrap_or("");
    ConfigError {
        origin: entry.origin.clone(),
        message: format!("option '{}' = '{value}': {message}", spec.name),
    }
}

/// The spooler options (see `uwsgi_api::spooler`).
#[derive(Debug, Clone)]
pub struct SpoolerConfig {
    /// Directories with spooler processes here.
    pub dirs: Vec<PathBuf>,
    /// Directories `uwsgi.spool(spooler=...)` may write to, served elsewhere.
    pub external: Vec<PathBuf>,
    pub processes: usize,
    pub frequency: Duration,
    pub max_tasks: u64,
    /// Seconds (0: none).
    pub harakiri: u32,
    pub ordered: bool,
    pub chdir: Option<PathBuf>,
    pub imports: Vec<String>,
}

impl Default for SpoolerConfig {
    fn default() -> Self {
        SpoolerConfig {
            dirs: Vec::new(),
            external: Vec::new(),
            processes: 1,
            frequency: Duration::from_secs(30),
            max_tasks: 0,
            harakiri: 0,
            ordered: false,
            chdir: None,
            imports: Vec::new(),
        }
    }
}

fn apply(config: &mut Config, spec: &OptionSpec, entry: &Entry) -> Result<(), ConfigError> {
    let text = || entry.value.clone().unwrap_or_default();
    let number = || parse_number(entry).map_err(|m| error(entry, spec, m));
    let flag = || parse_flag(entry);
    match spec.name {
        "chdir" => config.chdir = Some(PathBuf::from(non_empty(entry, spec)?)),
        "module" => {
            let value = non_empty(entry, spec)?;
            match value.split_once(':') {
                Some((module, callable)) => {
                    config.module = Some(module.to_string());
                    config.callable = callable.to_string();
                }
                None => config.module = Some(value),
            }
        }
        "wsgi-file" => config.wsgi_file = Some(PathBuf::from(non_empty(entry, spec)?)),
        "callable" => config.callable = non_empty(entry, spec)?,
        "pythonpath" => config
            .pythonpath
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "home" => config.home = Some(PathBuf::from(non_empty(entry, spec)?)),
        "env" => {
            let value = text();
            let (key, val) = value
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| error(entry, spec, "expected KEY=VALUE"))?;
            config.env.push((key.to_string(), val.to_string()));
        }
        "lazy-apps" => config.lazy_apps = flag()?,
        "need-app" => config.need_app = flag()?,
        "processes" => {
            config.processes = usize::try_from(number()?).unwrap_or(usize::MAX);
            if config.processes == 0 {
                return Err(error(entry, spec, "must be at least 1"));
            }
        }
        "threads" => {
            config.threads = usize::try_from(number()?).unwrap_or(usize::MAX);
            if config.threads == 0 {
                return Err(error(entry, spec, "must be at least 1"));
            }
        }
        "max-requests" => config.max_requests = number()?,
        "max-requests-delta" => config.max_requests_delta = number()?,
        "reload-on-rss" => config.reload_on_rss_mib = number()?,
        "min-worker-lifetime" => config.min_worker_lifetime = Duration::from_secs(number()?),
        "max-worker-lifetime" => {
            config.max_worker_lifetime = Some(number()?).filter(|n| *n > 0).map(Duration::from_secs)
        }
        "harakiri" => config.harakiri = Some(number()?).filter(|n| *n > 0).map(Duration::from_secs),
        "worker-reload-mercy" => config.worker_reload_mercy = seconds(number()?, entry, spec)?,
        "touch-reload" => config
            .touch_reload
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "pidfile" => config.pidfile = Some(PathBuf::from(non_empty(entry, spec)?)),
        "socket" | "uwsgi-socket" | "http-socket" | "http" => {
            let protocol = if spec.name == "http-socket" || spec.name == "http" {
                Protocol::Http
            } else {
                Protocol::Uwsgi
            };
            if spec.name == "socket" {
                config.default_protocol_sockets.push(config.sockets.len());
            }
            let address =
                parse_address(&non_empty(entry, spec)?).map_err(|m| error(entry, spec, m))?;
            config.sockets.push(SocketSpec {
                address,
                protocol,
                origin: entry.origin.to_string(),
                in_file: matches!(entry.origin, Origin::File { .. }),
            });
        }
        "listen" => {
            config.listen_backlog = i32::try_from(number()?)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| error(entry, spec, "must be between 1 and 2147483647"))?;
        }
        "chmod-socket" => {
            config.chmod_socket = Some(parse_mode(&text()).map_err(|m| error(entry, spec, m))?)
        }
        "vacuum" => config.vacuum = flag()?,
        "buffer-size" => {
            let size = parse_bytes(entry).map_err(|m| error(entry, spec, m))?;
            if !(1024..=1 << 20).contains(&size) {
                return Err(error(entry, spec, "must be between 1024 and 1048576 bytes"));
            }
            config.buffer_size = size as usize;
        }
        "limit-post" => {
            config.limit_post = parse_bytes(entry).map_err(|m| error(entry, spec, m))?
        }
        "disable-logging" => config.disable_logging = flag()?,
        "logto" => config.logto = Some(PathBuf::from(non_empty(entry, spec)?)),
        "log-format" => config.log_format = Some(non_empty(entry, spec)?),
        "protocol" => {
            config.protocol = match non_empty(entry, spec)?.as_str() {
                "uwsgi" => Protocol::Uwsgi,
                "http" => Protocol::Http,
                _ => return Err(error(entry, spec, "expected uwsgi or http")),
            }
        }
        "chown-socket" | "uid" | "gid" => {
            let value = non_empty(entry, spec)?;
            match spec.name {
                "chown-socket" => config.chown_socket = Some(value),
                "uid" => config.uid = Some(value),
                _ => config.gid = Some(value),
            }
            config
                .privilege_origins
                .retain(|(name, _)| *name != spec.name);
            config
                .privilege_origins
                .push((spec.name, entry.origin.to_string()));
        }
        "cap" => {
            for name in non_empty(entry, spec)?
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                let capability = crate::privileges::parse_capability(name)
                    .ok_or_else(|| error(entry, spec, format!("unknown capability '{name}'")))?;
                config.capabilities.push(capability);
            }
        }
        "no-new-privileges" => config.no_new_privileges = flag()?,
        "http-max-headers" => {
            config.http_max_headers = number()? as usize;
            if !(1..=crate::protocol::http::MAX_HEADERS).contains(&config.http_max_headers) {
                return Err(error(entry, spec, "must be between 1 and 256"));
            }
        }
        "http-header-timeout" => config.http_header_timeout = seconds(number()?, entry, spec)?,
        "http-keepalive-timeout" => {
            config.http_keepalive_timeout = seconds(number()?, entry, spec)?
        }
        "socket-timeout" => config.socket_timeout = seconds(number()?, entry, spec)?,
        "strict" | "master" | "enable-threads" | "die-on-term" => {
            flag()?;
        }
        "single-interpreter"
        | "thunder-lock"
        | "harakiri-verbose"
        | "ignore-sigpipe"
        | "ignore-write-errors"
        | "disable-write-exception"
        | "no-orphans" => {
            flag()?;
        }
        "post-buffering" => {
            parse_bytes(entry).map_err(|m| error(entry, spec, m))?;
        }
        "reload-mercy" | "offload-threads" => {
            number()?;
        }
        "wsgi-disable-file-wrapper" => config.file_wrapper = !flag()?,
        "static-map" | "static-map2" => {
            let value = non_empty(entry, spec)?;
            let (prefix, root) = value
                .split_once('=')
                .filter(|(p, r)| p.starts_with('/') && !r.is_empty())
                .ok_or_else(|| error(entry, spec, "expected /PREFIX=DIRECTORY"))?;
            config.static_maps.push(StaticMap {
                prefix: prefix.to_string(),
                root: PathBuf::from(root),
                keep_prefix: spec.name == "static-map2",
            });
        }
        "check-static" => config
            .check_static
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "static-index" => config.static_index.push(non_empty(entry, spec)?),
        "static-expires-type" => {
            let value = non_empty(entry, spec)?;
            let (mime, seconds) = value
                .split_once('=')
                .and_then(|(m, s)| Some((m.trim().to_string(), s.trim().parse::<u64>().ok()?)))
                .ok_or_else(|| error(entry, spec, "expected MIME=SECONDS"))?;
            config.static_expires.push((mime, seconds));
        }
        "add-header" => {
            let value = non_empty(entry, spec)?;
            let (name, header_value) = value
                .split_once(':')
                .ok_or_else(|| error(entry, spec, "expected 'Name: value'"))?;
            let mut check = crate::protocol::response::ResponseStart::default();
            check
                .add_header(name.trim(), header_value.trim())
                .map_err(|e| error(entry, spec, e))?;
            config
                .add_headers
                .push((name.trim().to_string(), header_value.trim().to_string()));
        }
        "http-server-header" => config.http_server_header = flag()?,
        "daemonize" => config.daemonize = Some(PathBuf::from(non_empty(entry, spec)?)),
        "log-date" => {
            config.log_date = match entry.value.as_deref().map(str::trim) {
                None | Some("") => Some(DEFAULT_LOG_DATE.to_string()),
                Some(v) if v.contains('%') => Some(v.to_string()),
                Some(_) => flag()?.then(|| DEFAULT_LOG_DATE.to_string()),
            }
        }
        "memory-report" => config.memory_report = flag()?,
        "stats" => config.stats = Some(non_empty(entry, spec)?),
        "metrics" => config.metrics = Some(non_empty(entry, spec)?),
        "cheaper" => config.cheaper = number()? as usize,
        "cheaper-initial" => config.cheaper_initial = Some(number()? as usize),
        "cheaper-step" => config.cheaper_step = (number()? as usize).max(1),
        "cheaper-algo" => config.cheaper_busyness = non_empty(entry, spec)? == "busyness",
        "alarm-freq" => config.alarm_freq = seconds(number()?, entry, spec)?,
        "alarm-log" => config.log_alarms.push(
            crate::alarms::parse_log_alarm(&non_empty(entry, spec)?)
                .map_err(|m| error(entry, spec, m))?,
        ),
        "alarm-segfault" => config.alarm_segfault.push(non_empty(entry, spec)?),
        "alarm-backlog" => config.alarm_backlog.push(non_empty(entry, spec)?),
        "alarm" => unreachable!("alarms are read in build"),
        "cheaper-busyness-max" => config.busyness.max_percent = number()?,
        "cheaper-busyness-min" => config.busyness.min_percent = number()?,
        "cheaper-busyness-multiplier" => config.busyness.multiplier = number()?.max(1),
        "cheaper-busyness-backlog-alert" => config.busyness.backlog_alert = number()?,
        "cheaper-busyness-backlog-step" => config.busyness.backlog_step = number()?.max(1) as usize,
        "cheaper-overload" => config.cheaper_overload = seconds(number()?, entry, spec)?,
        "spooler" => config
            .spooler
            .dirs
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "spooler-external" => config
            .spooler
            .external
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "spooler-processes" => config.spooler.processes = number()?.max(1) as usize,
        "spooler-frequency" => config.spooler.frequency = Duration::from_secs(number()?.max(1)),
        "spooler-max-tasks" => config.spooler.max_tasks = number()?,
        "spooler-harakiri" => config.spooler.harakiri = number()? as u32,
        "spooler-ordered" => config.spooler.ordered = flag()?,
        "spooler-chdir" => config.spooler.chdir = Some(PathBuf::from(non_empty(entry, spec)?)),
        "spooler-import" => config.spooler.imports.push(non_empty(entry, spec)?),
        "mule" => config
            .mules
            .programs
            .push(mules::parse_mule(entry.value.as_deref()).map_err(|m| error(entry, spec, m))?),
        "mules" => config.mules.programs.extend(std::iter::repeat_n(
            mules::MuleProgram::Loop,
            number()? as usize,
        )),
        "farm" => config
            .mules
            .farms
            .push(mules::parse_farm(&non_empty(entry, spec)?).map_err(|m| error(entry, spec, m))?),
        "attach-daemon" => config
            .attach_daemons
            .push((non_empty(entry, spec)?, nix::libc::SIGTERM)),
        "attach-daemon2" => {
            let value = non_empty(entry, spec)?;
            let (command, stop_signal, pidfile) =
                parse_attach_daemon2(&value).map_err(|m| error(entry, spec, m))?;
            match pidfile {
                Some(pidfile) => config.smart_attach_daemons.push((pidfile, command)),
                None => config.attach_daemons.push((command, stop_signal)),
            }
        }
        "cache2" => config.caches.push(
            caches::CacheSpec::parse(&non_empty(entry, spec)?)
                .map_err(|m| error(entry, spec, m))?,
        ),
        "cache" => config.legacy_cache_items = number()?,
        "locks" => config.locks = usize::try_from(number()?.min(4096)).unwrap_or(4096),
        "cache-blocksize" => {
            config.legacy_cache_blocksize = parse_bytes(entry)
                .map_err(|m| error(entry, spec, m))?
                .max(1)
        }
        "mount" => {
            let value = non_empty(entry, spec)?;
            let (mountpoint, app) = value
                .split_once('=')
                .filter(|(m, a)| !m.is_empty() && !a.is_empty())
                .ok_or_else(|| error(entry, spec, "expected /PREFIX=APP or HOST=APP"))?;
            let mountpoint = if mountpoint.starts_with('/') {
                mountpoint.trim_end_matches('/').to_string()
            } else {
                mountpoint.to_ascii_lowercase()
            };
            config.mounts.push((mountpoint, app.to_string()));
        }
        "manage-script-name" => config.manage_script_name = flag()?,
        "master-fifo" => config
            .master_fifo
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "py-autoreload" => {
            config.py_autoreload = Some(number()?).filter(|n| *n > 0).map(Duration::from_secs)
        }
        "stats-http" => config.stats_http = flag()?,
        "logger" => {
            let value = non_empty(entry, spec)?;
            // `logger = NAME file:/path`: a named logger, used only through log-route.
            let (name, destination) = match value.split_once(' ') {
                Some((name, rest)) if !name.contains(':') => (Some(name), rest.trim()),
                _ => (None, value.as_str()),
            };
            let destination = parse_destination(destination).map_err(|m| error(entry, spec, m))?;
            match (name, destination) {
                (Some(name), destination) => {
                    config.named_loggers.push((name.to_string(), destination))
                }
                (None, RequestLogger::File(path)) => config.logto = Some(path),
                (None, RequestLogger::Stdio) => {}
                (None, RequestLogger::Syslog(tag)) => config.syslog = Some(tag),
            }
        }
        "log-route" => {
            let value = non_empty(entry, spec)?;
            let (name, pattern) = value
                .split_once(' ')
                .ok_or_else(|| error(entry, spec, "expected NAME REGEXP"))?;
            let pattern = regex::Regex::new(pattern.trim()).map_err(|e| error(entry, spec, e))?;
            config.log_routes.push((name.to_string(), pattern));
        }
        "log-encoder" | "log-req-encoder" => {
            // Not trimmed at the end: `prefix [app] ` keeps its space.
            non_empty(entry, spec)?;
            let value = text().trim_start().to_string();
            crate::log::encoder::parse(&value).map_err(|m| error(entry, spec, m))?;
            if spec.name == "log-encoder" {
                config.log_encoders.push(value);
            } else {
                config.log_req_encoders.push(value);
            }
        }
        "log-master" | "http-auto-chunked" | "no-defer-accept" => {
            flag()?;
        }
        "http-keepalive" => {
            number()?;
        }
        "log-x-forwarded-for" => config.log_x_forwarded_for = flag()?,
        "auto-procname" => config.auto_procname |= flag()?,
        "procname-prefix" | "procname-prefix-spaced" => {
            config.procname_prefix = entry.value.clone().unwrap_or_default();
            if spec.name == "procname-prefix-spaced" {
                config.procname_prefix.push(' ');
            }
            config.auto_procname = true;
        }
        name if crate::hooks::Phase::of_option(name).is_some() => {
            let (phase, exec_form) = crate::hooks::Phase::of_option(name).expect("checked");
            let value = non_empty(entry, spec)?;
            let action = crate::hooks::Action::parse(&value, exec_form)
                .map_err(|m| error(entry, spec, m))?;
            config.hooks.add(
                phase,
                action,
                format!("{} = {value} ({})", entry.key, entry.origin),
            );
        }
        "so-keepalive" => config.so_keepalive = flag()?,
        "lazy" => config.lazy_apps |= flag()?,
        "log-4xx" => config.log_4xx = flag()?,
        "log-5xx" => config.log_5xx = flag()?,
        "log-slow" => config.log_slow_ms = number()?,
        "umask" => {
            let value = non_empty(entry, spec)?;
            config.umask = Some(
                u32::from_str_radix(&value, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| error(entry, spec, "expected an octal mode such as 022"))?,
            );
        }
        "max-fd" => config.max_fd = number()?,
        "honour-stdin" => config.honour_stdin = flag()?,
        "no-site" => config.no_site = flag()?,
        "pyargv" => config.pyargv = Some(text()),
        "import" => config.imports.push(non_empty(entry, spec)?),
        "paste" => config.paste = Some(non_empty(entry, spec)?),
        "chdir2" => config.chdir2 = Some(PathBuf::from(non_empty(entry, spec)?)),
        "master-as-root" => config.master_as_root = flag()?,
        "procname" => {
            config.procname = Some(non_empty(entry, spec)?);
            config.auto_procname = true;
        }
        "procname-master" => {
            config.procname_master = Some(non_empty(entry, spec)?);
            config.auto_procname = true;
        }
        "reload-on-as" => config.reload_on_as_mib = number()?,
        "reload-on-exception" => config.reload_on_exception = flag()?,
        "harakiri-graceful-timeout" => {
            config.harakiri_graceful_timeout =
                Some(number()?).filter(|n| *n > 0).map(Duration::from_secs)
        }
        "touch-chain-reload" => config
            .touch_reload
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "no-default-app" => config.no_default_app = flag()?,
        "static-safe" => config
            .static_safe
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "mime-file" => config
            .mime_files
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "static-expires" | "static-expires-uri" => {
            let value = non_empty(entry, spec)?;
            let (pattern, seconds) = value
                .rsplit_once(char::is_whitespace)
                .and_then(|(p, s)| Some((p.trim().to_string(), s.parse::<u64>().ok()?)))
                .ok_or_else(|| error(entry, spec, "expected REGEXP SECONDS"))?;
            let pattern = regex::Regex::new(&pattern).map_err(|e| error(entry, spec, e))?;
            config.static_expires_patterns.push((
                pattern,
                seconds,
                spec.name == "static-expires-uri",
            ));
        }
        "static-gzip-all" => config.static_gzip_all = flag()?,
        "static-gzip-dir" => config
            .static_gzip_dirs
            .push(PathBuf::from(non_empty(entry, spec)?)),
        "http-enable-proxy-protocol" => config.proxy_protocol = flag()?,
        "route" | "route-uri" | "route-host" | "route-user-agent" | "route-if" | "route-if-not" => {
            let rule = non_empty(entry, spec)?;
            config.routes.push(
                crate::routing::Rule::parse(spec.name, &rule).map_err(|m| error(entry, spec, m))?,
            );
        }
        "cron" | "unique-cron" => {
            let rule = non_empty(entry, spec)?;
            let job =
                crate::master::cron::CronJob::parse(&rule).map_err(|m| error(entry, spec, m))?;
            config.crons.push((job, spec.name == "unique-cron"));
        }
        "smart-attach-daemon" => {
            let value = non_empty(entry, spec)?;
            let (pidfile, command) = value
                .split_once(char::is_whitespace)
                .map(|(p, c)| (p, c.trim()))
                .filter(|(_, c)| !c.is_empty())
                .ok_or_else(|| error(entry, spec, "expected PIDFILE COMMAND"))?;
            config
                .smart_attach_daemons
                .push((PathBuf::from(pidfile), command.to_string()));
        }
        "logto2" => {
            config.logto = Some(PathBuf::from(non_empty(entry, spec)?));
            config.logto_after_drop = true;
        }
        "logfile-chmod" => {
            config.logfile_mode =
                Some(parse_mode(&non_empty(entry, spec)?).map_err(|m| error(entry, spec, m))?)
        }
        "log-micros" => config.log_micros = flag()?,
        "log-maxsize" => {
            config.log_maxsize = parse_bytes(entry).map_err(|m| error(entry, spec, m))?
        }
        "log-backupname" => config.log_backupname = Some(PathBuf::from(non_empty(entry, spec)?)),
        "req-logger" => {
            let value = non_empty(entry, spec)?;
            config.req_logger = Some(parse_destination(&value).map_err(|m| error(entry, spec, m))?);
        }
        "logformat-strftime" => config.logformat_strftime = flag()?,
        "log-reopen"
        | "reaper"
        | "py-call-uwsgi-fork-hooks"
        | "threaded-logger"
        | "log-sendfile" => {
            flag()?;
        }
        "vhost" => config.vhost = flag()?,
        "vhost-host" => config.vhost_host = flag()?,
        "plugin-dir" | "binary-path" => {}
        "ini" => unreachable!("ini entries are expanded while reading"),
        other => unreachable!("option '{other}' is in the table but not applied"),
    }
    if spec.kind == ValueKind::Ignored {
        debug_assert!(spec.support == options::Support::NoOp);
    }
    Ok(())
}

/// `file:PATH`, `stdio` or `syslog[:TAG]`, as `logger` and `req-logger` take them.
fn parse_destination(value: &str) -> Result<RequestLogger, String> {
    match value.split_once(':').map_or((value, ""), |(k, v)| (k, v)) {
        ("file", path) if !path.is_empty() => Ok(RequestLogger::File(PathBuf::from(path))),
        ("stdio", _) => Ok(RequestLogger::Stdio),
        ("syslog", tag) => Ok(RequestLogger::Syslog(if tag.is_empty() {
            "rwsgi".to_string()
        } else {
            tag.to_string()
        })),
        _ => Err("expected file:PATH, stdio or syslog[:TAG]".into()),
    }
}

fn seconds(n: u64, entry: &Entry, spec: &OptionSpec) -> Result<Duration, ConfigError> {
    if n == 0 || n > 86_400 {
        return Err(error(entry, spec, "must be between 1 and 86400 seconds"));
    }
    Ok(Duration::from_secs(n))
}

fn non_empty(entry: &Entry, spec: &OptionSpec) -> Result<String, ConfigError> {
    match entry.value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(error(entry, spec, "needs a value")),
    }
}

/// uWSGI reads any value other than false/off/no/0 as true; we accept the usual words and a
/// trailing comment (`True # ...` appears in real files) and refuse anything else.
fn parse_flag(entry: &Entry) -> Result<bool, ConfigError> {
    let Some(value) = entry.value.as_deref() else {
        return Ok(true);
    };
    let word = value
        .split_once([' ', '\t'])
        .filter(|(_, rest)| rest.trim_start().starts_with(['#', ';']))
        .map_or(value, |(word, _)| word)
        .trim()
        .to_ascii_lowercase();
    match word.as_str() {
        "" | "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(ConfigError {
            origin: entry.origin.clone(),
            message: format!(
                "option '{}' = '{value}': expected true/false, yes/no, on/off or 1/0",
                entry.key
            ),
        }),
    }
}

/// A whole number. As uWSGI (which reads numbers with strtol), a trailing comment is
/// tolerated (`max-requests = 1000 ; recycle`), and true/false words mean 1/0.
fn parse_number(entry: &Entry) -> Result<u64, String> {
    let value = match entry.value.as_deref().map(str::trim) {
        None | Some("") => return Ok(1),
        Some(v) => v,
    };
    let without_comment = without_inline_comment(value);
    if let Some(n) = boolean_as_number(without_comment) {
        return Ok(n);
    }
    without_comment
        .parse::<u64>()
        .map_err(|_| "expected a whole number".to_string())
}

/// A boolean word where a number or size is expected (`threads = true`,
/// `post-buffering = true` are in real files): 1 or 0.
fn boolean_as_number(value: &str) -> Option<u64> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(1),
        "false" | "no" | "off" => Some(0),
        _ => None,
    }
}

/// `32768  # bigger headers` -> `32768`: uWSGI reads numbers with strtol, which stops at
/// the first blank, so real files carry such comments on numbers and sizes.
fn without_inline_comment(value: &str) -> &str {
    value
        .split_once([' ', '\t'])
        .filter(|(_, rest)| rest.trim_start().starts_with(['#', ';']))
        .map_or(value, |(number, _)| number)
}

/// A size as `cache2` writes it inside its value: digits with an optional k/m/g.
pub fn parse_size_text(value: &str) -> Option<u64> {
    let value = value.trim().to_ascii_lowercase();
    let (digits, multiplier) = match value.chars().last() {
        Some('k') => (&value[..value.len() - 1], 1u64 << 10),
        Some('m') => (&value[..value.len() - 1], 1 << 20),
        Some('g') => (&value[..value.len() - 1], 1 << 30),
        _ => (value.as_str(), 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

fn parse_bytes(entry: &Entry) -> Result<u64, String> {
    let value =
        without_inline_comment(entry.value.as_deref().unwrap_or("").trim()).to_ascii_lowercase();
    if let Some(n) = boolean_as_number(&value) {
        return Ok(n);
    }
    let (digits, multiplier) = match value.chars().last() {
        Some('k') => (&value[..value.len() - 1], 1u64 << 10),
        Some('m') => (&value[..value.len() - 1], 1 << 20),
        Some('g') => (&value[..value.len() - 1], 1 << 30),
        _ => (value.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| "expected a size in bytes (optionally with k, m or g)".to_string())
}

fn parse_mode(value: &str) -> Result<u32, String> {
    let value = value.trim();
    if value.is_empty() || value == "1" {
        return Ok(0o666);
    }
    if value.len() == 3 && value.chars().all(|c| ('0'..='7').contains(&c)) {
        return Ok(u32::from_str_radix(value, 8).expect("checked octal digits"));
    }
    Err("expected three octal digits such as 660".into())
}

/// `host:port`, `:port` (all IPv4 interfaces), `[v6]:port`, or else a unix socket path.
pub fn parse_address(value: &str) -> Result<ListenAddress, String> {
    if value.starts_with('@') {
        return Err("abstract unix sockets are not supported".into());
    }
    if value.starts_with('/') || value.starts_with('.') || !value.contains(':') {
        return Ok(ListenAddress::Unix(PathBuf::from(value)));
    }
    let (host, port) = value.rsplit_once(':').expect("checked ':'");
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() || host == "*" {
        "0.0.0.0"
    } else {
        host
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?
        .next()
        .map(ListenAddress::Tcp)
        .ok_or_else(|| format!("'{host}' has no address"))
}

/// The uWSGI default `log-date` format (ctime's).
const DEFAULT_LOG_DATE: &str = "%a %b %e %H:%M:%S %Y";

/// Python's plugins and the built-in ones pass; loop engines and any other plugin warn that
/// they are not honoured (the server still starts, as uWSGI starts with unknown keys).
fn check_plugins(entry: &Entry) -> Vec<String> {
    let mut warnings = Vec::new();
    for plugin in entry.value.as_deref().unwrap_or("").split(',') {
        let plugin = plugin.trim();
        let is_python = plugin.is_empty()
            || plugin == "python"
            || plugin == "python3"
            || plugin.starts_with("python3")
                && plugin[7..].chars().all(|c| c.is_ascii_digit() || c == '_');
        let built_in = matches!(
            plugin,
            "http"
                | "logfile"
                | "syslog"
                | "router_static"
                | "router_redirect"
                | "router_rewrite"
                | "corerouter"
                | "cheaper_busyness"
        );
        let loop_engine = matches!(
            plugin,
            "gevent" | "ugreen" | "greenlet" | "asyncio" | "tornado"
        );
        if loop_engine {
            warnings.push(format!(
                "{}: plugin '{plugin}' is not honoured: rwsgi has no loop engines; use threads",
                entry.origin
            ));
        } else if !is_python && !built_in {
            warnings.push(format!(
                "{}: plugin '{plugin}' is not honoured: rwsgi serves Python 3 WSGI applications with its built-in features only",
                entry.origin
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: Option<&str>) -> Entry {
        Entry {
            key: key.into(),
            value: value.map(Into::into),
            origin: Origin::File {
                path: "app.ini".into(),
                line: 5,
            },
        }
    }

    #[test]
    fn typed_values() {
        let loaded = build(&[
            entry("workers", Some("4")),
            entry("module", Some("pkg.app:make")),
            entry("http-socket", Some(":8000")),
            entry("socket", Some("/run/app.sock")),
            entry("chmod-socket", None),
            entry("buffer-size", Some("32k")),
            entry("vacuum", Some("True # remove sockets")),
            entry("lazy_apps", Some("off")),
        ])
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.processes, 4);
        assert_eq!(c.module.as_deref(), Some("pkg.app"));
        assert_eq!(c.callable, "make");
        assert_eq!(
            c.sockets[0].address,
            ListenAddress::Tcp("0.0.0.0:8000".parse().unwrap())
        );
        assert_eq!(c.sockets[0].protocol, Protocol::Http);
        assert_eq!(
            c.sockets[1].address,
            ListenAddress::Unix("/run/app.sock".into())
        );
        assert_eq!(c.chmod_socket, Some(0o666));
        assert_eq!(c.buffer_size, 32768);
        assert!(c.vacuum);
        assert!(!c.lazy_apps);
    }

    #[test]
    fn unknown_keys_warn_or_fail_under_strict() {
        let loaded = build(&[entry("procesess", Some("2"))]).unwrap();
        assert_eq!(
            loaded.warnings,
            vec!["app.ini:5: unknown option 'procesess' ignored; did you mean 'processes'?"]
        );
        let err = build(&[entry("strict", None), entry("procesess", Some("2"))]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("app.ini:5: unknown option 'procesess'"),
            "{err}"
        );
    }

    #[test]
    fn real_file_quirks_start_with_warnings() {
        let loaded = build(&[
            entry("buffer-size", Some("32768  # bigger requests")),
            entry("module", Some("app:app ;the file, then the variable")),
            entry("<<<<<<< HEAD", None),
            entry("procname-prefix-spaced", Some("shop")),
        ])
        .unwrap();
        assert_eq!(loaded.config.buffer_size, 32768);
        assert_eq!(loaded.config.module.as_deref(), Some("app"));
        assert_eq!(loaded.config.callable, "app");
        assert_eq!(loaded.config.procname_prefix, "shop ");
        assert!(loaded.warnings[0].contains("inline comment after 'module' ignored"));
        assert!(loaded.warnings[1].contains("merge conflict marker"));
    }

    #[test]
    fn invalid_values_are_fatal_and_named() {
        let commented = build(&[
            entry("max-requests", Some("1000 ; recycle")),
            entry("threads", Some("true")),
        ])
        .unwrap();
        assert_eq!(commented.config.max_requests, 1000);
        assert_eq!(commented.config.threads, 1);
        let err = build(&[entry("processes", Some("many"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app.ini:5: option 'processes' = 'many': expected a whole number"
        );
        assert!(build(&[entry("chmod-socket", Some("rw-rw"))]).is_err());
        assert!(build(&[entry("master", Some("maybe"))]).is_err());
        assert!(build(&[entry("http-socket", Some("127.0.0.1:http"))]).is_err());
        assert_eq!(
            build(&[entry("plugins", Some("php"))])
                .unwrap()
                .warnings
                .len(),
            1
        );
        assert!(build(&[entry("plugins", Some("python311,logfile"))]).is_ok());
        let gevent = build(&[
            entry("plugins", Some("python3,gevent")),
            entry("gevent", Some("100")),
        ])
        .unwrap();
        assert_eq!(gevent.warnings.len(), 2, "{:?}", gevent.warnings);
        assert!(
            gevent.warnings[1].contains("is not honoured"),
            "{:?}",
            gevent.warnings
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("[::1]:9000").unwrap(),
            ListenAddress::Tcp("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            parse_address("127.0.0.1:0").unwrap(),
            ListenAddress::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_address("app.sock").unwrap(),
            ListenAddress::Unix("app.sock".into())
        );
    }
}
