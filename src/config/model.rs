//! The typed configuration the master and workers read: one field per option (or per
//! family of options), filled by the option rows of `options` in the order written, and
//! grouped by the subsystem that reads it: each subsystem is handed its group(s), the
//! master (the composition root) the whole `Config`.
//!
//! Owns: the shape of `Config` and its groups. Must not: hold defaults (each is in its
//! option's row; `Config::default()` applies them) or parse values (`apply` and `values` do).

use std::path::PathBuf;
use std::time::Duration;

use crate::log::RequestLogger;
use crate::net::{Protocol, SocketSpec};
use crate::sys::cron::CronJob;

/// The whole configuration, one group per subsystem.
#[derive(Debug, Clone)]
pub struct Config {
    pub app: AppConfig,
    pub workers: WorkersConfig,
    pub request: RequestConfig,
    pub statics: StaticsConfig,
    pub logging: LoggingConfig,
    pub listen: ListenConfig,
    pub privileges: PrivilegesConfig,
    pub titles: TitlesConfig,
    pub master: MasterConfig,
    pub children: ChildrenConfig,
    pub alarms: AlarmsConfig,
    /// `spooler` and its companions.
    pub spooler: SpoolerConfig,
    /// `mule`, `mules`, `farm`.
    pub mules: crate::config::mules::MuleConfig,
    /// The `hook-*` options, by phase.
    pub hooks: crate::hooks::Hooks,
    pub api: ApiConfig,
}

impl Config {
    /// Every field empty, zero or false: not a usable configuration until the option
    /// table's defaults are applied (see `Config::default`).
    pub(super) fn blank() -> Config {
        Config {
            app: AppConfig::blank(),
            workers: WorkersConfig::blank(),
            request: RequestConfig::blank(),
            statics: StaticsConfig::blank(),
            logging: LoggingConfig::blank(),
            listen: ListenConfig::blank(),
            privileges: PrivilegesConfig::blank(),
            titles: TitlesConfig::blank(),
            master: MasterConfig::blank(),
            children: ChildrenConfig::blank(),
            alarms: AlarmsConfig::blank(),
            spooler: SpoolerConfig::default(),
            mules: Default::default(),
            hooks: Default::default(),
            api: ApiConfig::blank(),
        }
    }
}

/// Declares the groups of `Config` and, for each, `blank()`: every field empty or zero,
/// on which `Config::default()` applies the defaults of the option table. (No `Default`:
/// a group's defaults are the table's, not zeros.)
macro_rules! config_groups {
    ($($(#[$outer:meta])* pub struct $name:ident { $($(#[$meta:meta])* $vis:vis $field:ident: $ty:ty,)* })*) => {
        $(
            $(#[$outer])*
            pub struct $name { $($(#[$meta])* $vis $field: $ty,)* }

            impl $name {
                pub(super) fn blank() -> $name {
                    $name { $($field: Default::default(),)* }
                }
            }
        )*
    };
}

config_groups! {
/// What `wsgi::interpreter` needs to find and load the application, and whether it is
/// loaded in the master or after fork.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub chdir: Option<PathBuf>,
    pub module: Option<String>,
    pub wsgi_file: Option<PathBuf>,
    pub callable: String,
    pub pythonpath: Vec<PathBuf>,
    pub home: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub lazy_apps: bool,
    pub need_app: bool,
    /// (mountpoint without a trailing slash, application spec).
    pub mounts: Vec<(String, String)>,
    pub imports: Vec<String>,
    pub paste: Option<String>,
    pub no_site: bool,
    pub pyargv: Option<String>,
    pub chdir2: Option<PathBuf>,
}

/// How many workers, when one is recycled or killed, and the cheaper algorithms (the
/// master's slots, checks and cheaper; the worker's own limits).
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    pub processes: usize,
    pub threads: usize,
    pub max_requests: u64,
    pub max_requests_delta: u64,
    pub reload_on_rss_mib: u64,
    pub reload_on_as_mib: u64,
    pub reload_on_exception: bool,
    pub min_worker_lifetime: Duration,
    pub max_worker_lifetime: Option<Duration>,
    pub harakiri: Option<Duration>,
    pub harakiri_graceful_timeout: Option<Duration>,
    pub worker_reload_mercy: Duration,
    /// Adaptive workers: the minimum running (0: off).
    pub cheaper: usize,
    pub cheaper_initial: Option<usize>,
    pub cheaper_step: usize,
    pub cheaper_overload: Duration,
    /// `cheaper-algo = busyness` (otherwise spare).
    pub cheaper_busyness: bool,
    pub busyness: Busyness,
}

/// How a worker reads, dispatches and answers a request (both protocols).
#[derive(Debug, Clone)]
pub struct RequestConfig {
    pub buffer_size: usize,
    pub limit_post: u64,
    pub http_max_headers: usize,
    pub http_header_timeout: Duration,
    pub http_keepalive_timeout: Duration,
    pub socket_timeout: Duration,
    pub so_keepalive: bool,
    pub add_headers: Vec<(String, String)>,
    /// `http-server-header`: HTTP responses carry `Server: rwsgi` unless the app set one.
    pub http_server_header: bool,
    pub file_wrapper: bool,
    pub proxy_protocol: bool,
    /// (option name, rule text) in the order written.
    pub routes: Vec<crate::routing::Rule>,
    pub manage_script_name: bool,
    /// Applications chosen by host among `mount = HOST=APP`.
    pub vhost: bool,
    pub vhost_host: bool,
    pub no_default_app: bool,
}

/// Static files the worker serves itself (`worker::statics`).
#[derive(Debug, Clone)]
pub struct StaticsConfig {
    pub static_maps: Vec<StaticMap>,
    pub check_static: Vec<PathBuf>,
    pub static_index: Vec<String>,
    /// (Content-Type without parameters, seconds) for Expires / Cache-Control.
    pub static_expires: Vec<(String, u64)>,
    /// (regular expression, seconds, matched against the URI rather than the file path).
    pub static_expires_patterns: Vec<(regex::Regex, u64, bool)>,
    pub static_safe: Vec<PathBuf>,
    pub mime_files: Vec<PathBuf>,
    pub static_gzip_all: bool,
    pub static_gzip_dirs: Vec<PathBuf>,
}

/// The log: where it goes, its formats, encoders and routes (`log`), and which requests
/// the worker logs.
#[derive(Debug, Clone)]
pub struct LoggingConfig {
    pub disable_logging: bool,
    pub logto: Option<PathBuf>,
    /// `logto2`: the log file is opened after privileges are dropped.
    pub logto_after_drop: bool,
    pub log_format: Option<String>,
    /// strftime-like format for a date in front of each plain log line.
    pub log_date: Option<String>,
    pub log_4xx: bool,
    pub log_5xx: bool,
    pub log_slow_ms: u64,
    pub log_x_forwarded_for: bool,
    pub memory_report: bool,
    /// `logger = syslog:TAG`.
    pub syslog: Option<String>,
    pub logfile_mode: Option<u32>,
    pub log_micros: bool,
    pub log_maxsize: u64,
    pub log_backupname: Option<PathBuf>,
    /// `req-logger`: (file path or None for stdio, syslog tag).
    pub req_logger: Option<RequestLogger>,
    pub logformat_strftime: bool,
    pub log_encoders: Vec<String>,
    pub log_req_encoders: Vec<String>,
    /// `logger = NAME DESTINATION`.
    pub named_loggers: Vec<(String, RequestLogger)>,
    /// `log-route = NAME REGEXP`.
    pub log_routes: Vec<(String, regex::Regex)>,
}

/// The sockets to bind or adopt (`net`, through `ListenSettings`).
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub sockets: Vec<SocketSpec>,
    pub listen_backlog: i32,
    pub chmod_socket: Option<u32>,
    /// Protocol of `socket` entries and of unnamed, unmatched systemd sockets.
    pub protocol: Protocol,
    /// Indexes into `sockets` of `socket` entries, whose protocol `protocol` decides.
    pub(super) default_protocol_sockets: Vec<usize>,
}

/// The user, group and capabilities to run as (`privileges`, through `Wanted`), and
/// whether the master or each forked process drops to them.
#[derive(Debug, Clone)]
pub struct PrivilegesConfig {
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// Where `uid`, `gid` and `chown-socket` were written (`file:line`), in that order of
    /// the options' appearance; the master names them when it cannot honour them.
    pub privilege_origins: Vec<(&'static str, String)>,
    pub chown_socket: Option<String>,
    pub capabilities: Vec<caps::Capability>,
    pub no_new_privileges: bool,
    pub master_as_root: bool,
}

/// Process titles (`sys::title`) of the master and the processes it forks.
#[derive(Debug, Clone)]
pub struct TitlesConfig {
    pub auto_procname: bool,
    pub procname_prefix: String,
    pub procname: Option<String>,
    pub procname_master: Option<String>,
}

/// The master process itself: its environment, its files, its control and observation
/// endpoints.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub daemonize: Option<PathBuf>,
    pub umask: Option<u32>,
    pub max_fd: u64,
    pub honour_stdin: bool,
    pub pidfile: Option<PathBuf>,
    pub vacuum: bool,
    pub touch_reload: Vec<PathBuf>,
    pub py_autoreload: Option<Duration>,
    pub master_fifo: Vec<PathBuf>,
    pub stats: Option<String>,
    pub stats_http: bool,
    /// `metrics = ADDR`: a Prometheus text endpoint of its own.
    pub metrics: Option<String>,
}

/// Programs the master runs beside the workers (`master::jobs`, attach-daemons).
#[derive(Debug, Clone)]
pub struct ChildrenConfig {
    /// attach-daemon and attach-daemon2: (command, the signal that stops it).
    pub attach_daemons: Vec<(String, i32)>,
    /// (pidfile, command).
    pub smart_attach_daemons: Vec<(PathBuf, String)>,
    /// (rule, unique): `MIN HOUR DAY MONTH WEEKDAY COMMAND`.
    pub crons: Vec<(CronJob, bool)>,
}

/// Alarms and what raises them (`alarms`; segfaults and the backlog in the master).
#[derive(Debug, Clone)]
pub struct AlarmsConfig {
    pub alarms: Vec<crate::alarms::AlarmSpec>,
    pub alarm_freq: Duration,
    /// (alarm names, pattern) for log lines.
    pub log_alarms: Vec<(Vec<String>, regex::Regex)>,
    pub alarm_segfault: Vec<String>,
    pub alarm_backlog: Vec<String>,
}

/// What the `uwsgi` Python module shares between processes (`uwsgi_api`): caches and
/// locks.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `cache2` caches, in the order written (the first is the default one).
    pub caches: Vec<super::caches::CacheSpec>,
    /// Legacy `cache = N` (0: none) and its `cache-blocksize`.
    pub legacy_cache_items: u64,
    pub legacy_cache_blocksize: u64,
    /// `locks = N`: uwsgi.lock() numbers 0..=N.
    pub locks: usize,
}
}

/// `static-map PREFIX=DIR` (or `static-map2`, which keeps the prefix in the file path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMap {
    pub prefix: String,
    pub root: PathBuf,
    pub keep_prefix: bool,
}

/// The busyness cheaper algorithm's thresholds (uWSGI's defaults).
#[derive(Debug, Clone, Default)]
pub struct Busyness {
    pub max_percent: u64,
    pub min_percent: u64,
    pub multiplier: u64,
    pub backlog_alert: u64,
    pub backlog_step: usize,
}

/// The spooler options (see `uwsgi_api::spooler`).
#[derive(Debug, Clone, Default)]
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
