//! The one table of every option rwsgi knows: name, aliases, value kind, default and help.
//!
//! The command line, the INI reader, `--help` and the man pages all read this table, so they
//! cannot disagree. It holds descriptions only: parsing values into a typed configuration
//! belongs to `config::build`, and nothing here touches the file system or the process.

/// How an option's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `true/false/yes/no/on/off/1/0`; no value means true (uWSGI's `uwsgi_opt_true`).
    Flag,
    /// A whole number; no value means 1, as in uWSGI.
    Number,
    /// A byte size: a number, optionally with a `k`/`m`/`g` suffix.
    Bytes,
    /// Free text; the last occurrence wins.
    Text,
    /// Free text; every occurrence is kept in order (sockets, env, pythonpath...).
    List,
    /// Accepted for compatibility and ignored (with the reason given in the help text).
    Ignored,
}

/// Whether rwsgi does what uWSGI does with the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Behaves as in uWSGI (differences are documented in the help text and man page).
    Honoured,
    /// Accepted so existing files run, but has no effect; the help text says why.
    NoOp,
    /// Accepted so existing files start, with a warning that says why it is not honoured
    /// and what to use instead.
    Unsupported,
}

#[derive(Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    /// Other long names and one-letter short forms (`-p`), all meaning the same option.
    pub aliases: &'static [&'static str],
    pub kind: ValueKind,
    /// The default as a user would write it; empty when there is none.
    pub default: &'static str,
    /// What the value looks like, for help and the man page (`N`, `PATH`, `ADDR`...).
    pub metavar: &'static str,
    pub support: Support,
    pub help: &'static str,
}

macro_rules! opt {
    ($name:literal, [$($alias:literal),*], $kind:ident, $default:literal, $metavar:literal, $support:ident, $help:literal) => {
        OptionSpec {
            name: $name,
            aliases: &[$($alias),*],
            kind: ValueKind::$kind,
            default: $default,
            metavar: $metavar,
            support: Support::$support,
            help: $help,
        }
    };
}

pub static OPTIONS: &[OptionSpec] = &[
    // Configuration files.
    opt!("ini", [], List, "", "FILE[:SECTION]", Honoured,
        "read options from the [uwsgi] section (or SECTION) of an INI file, in place"),
    opt!("strict", [], Flag, "false", "", Honoured,
        "make unknown options fatal instead of a warning"),
    // The application.
    opt!("chdir", [], Text, "", "DIR", Honoured,
        "change to DIR before loading the application"),
    opt!("module", ["wsgi", "w"], Text, "", "MOD[:CALLABLE]", Honoured,
        "import the WSGI application from a Python module (callable defaults to `callable`)"),
    opt!("wsgi-file", ["file"], Text, "", "PATH", Honoured,
        "load the WSGI application from a Python file"),
    opt!("callable", [], Text, "application", "NAME", Honoured,
        "name of the WSGI callable in the module or file"),
    opt!("pythonpath", ["python-path", "pp"], List, "", "DIR", Honoured,
        "add DIR to sys.path (repeatable)"),
    opt!("home", ["virtualenv", "venv", "pyhome", "H"], Text, "", "DIR", Honoured,
        "use the virtualenv (or Python home) at DIR"),
    opt!("env", [], List, "", "KEY=VALUE", Honoured,
        "set an environment variable before the application loads (repeatable)"),
    opt!("lazy-apps", [], Flag, "false", "", Honoured,
        "load the application in each worker after fork instead of once in the master"),
    opt!("need-app", [], Flag, "false", "", Honoured,
        "exit with status 22 when the application cannot be loaded"),
    // Processes.
    opt!("processes", ["workers", "p"], Number, "1", "N", Honoured,
        "number of worker processes"),
    opt!("threads", [], Number, "1", "N", Honoured,
        "Python threads per worker; 1 calls the application on the worker's event-loop thread"),
    opt!("master", ["M"], Flag, "true", "", NoOp,
        "accepted: rwsgi always runs a master process"),
    opt!("enable-threads", ["T"], Flag, "true", "", NoOp,
        "accepted: application threads always run (the GIL is released while serving I/O)"),
    opt!("max-requests", ["R"], Number, "0", "N", Honoured,
        "recycle a worker after it has served N requests (0: never)"),
    opt!("max-requests-delta", [], Number, "0", "N", Honoured,
        "worker N recycles after max-requests + (N-1) x this many requests, so workers never recycle together"),
    opt!("reload-on-rss", [], Number, "0", "MIB", Honoured,
        "recycle a worker after a request that leaves it above this resident size (0: never)"),
    opt!("min-worker-lifetime", [], Number, "10", "SECONDS", Honoured,
        "a worker younger than this is not recycled by max-requests or reload-on-rss"),
    opt!("max-worker-lifetime", [], Number, "0", "SECONDS", Honoured,
        "recycle a worker after it has lived this long (0: never)"),
    opt!("harakiri", ["t"], Number, "0", "SECONDS", Honoured,
        "kill and replace a worker whose request runs longer than this (0: never); timed per request"),
    opt!("worker-reload-mercy", [], Number, "60", "SECONDS", Honoured,
        "how long a stopping or recycled worker may take to finish its requests before SIGKILL"),
    opt!("touch-reload", [], List, "", "FILE", Honoured,
        "reload gracefully when FILE's modification time changes (repeatable)"),
    opt!("pidfile", ["safe-pidfile"], Text, "", "PATH", Honoured,
        "write the master's PID to PATH (atomically: a temporary file renamed into place, as safe-pidfile)"),
    // Sockets.
    opt!("socket", ["s"], List, "", "ADDR", Honoured,
        "listen on a unix path or HOST:PORT with the default protocol (see `protocol`: uwsgi unless set) (repeatable)"),
    opt!("uwsgi-socket", [], List, "", "ADDR", Honoured,
        "listen for the uwsgi protocol (nginx uwsgi_pass) on a unix path or HOST:PORT (repeatable)"),
    opt!("protocol", ["socket-protocol"], Text, "uwsgi", "uwsgi|http", Honoured,
        "protocol of `socket` listeners and of systemd sockets that match no option and have no name"),
    opt!("http-socket", ["http11-socket"], List, "", "ADDR", Honoured,
        "listen for HTTP/1.1 on a unix path or HOST:PORT (repeatable)"),
    opt!("http", [], List, "", "ADDR", Honoured,
        "listen for HTTP/1.1 on ADDR; workers serve it directly (uWSGI starts a router process)"),
    opt!("listen", ["l"], Number, "100", "N", Honoured,
        "listen(2) backlog of every socket rwsgi binds"),
    opt!("chmod-socket", ["chmod", "C"], Text, "", "MODE", Honoured,
        "mode of unix sockets rwsgi binds: three octal digits; no value means 666"),
    opt!("chown-socket", [], Text, "", "USER[:GROUP]", Honoured,
        "owner of unix sockets rwsgi binds (never of sockets systemd passes)"),
    opt!("vacuum", [], Flag, "false", "", Honoured,
        "on exit remove the unix sockets rwsgi bound and its pidfile"),
    opt!("buffer-size", ["b"], Bytes, "8192", "BYTES", Honoured,
        "largest request head (HTTP request line and headers, or uwsgi vars block); at most 65535 for uwsgi"),
    opt!("limit-post", [], Bytes, "0", "BYTES", Honoured,
        "largest request body accepted (0: no limit); larger gets 413"),
    opt!("http-max-headers", [], Number, "100", "N", Honoured,
        "most header fields in an HTTP request (at most 256); more get 431"),
    opt!("http-header-timeout", [], Number, "30", "SECONDS", Honoured,
        "time a client has, from its first byte, to send a complete request head; else 408"),
    opt!("http-keepalive-timeout", [], Number, "30", "SECONDS", Honoured,
        "an idle keep-alive HTTP connection is closed after this time"),
    opt!("socket-timeout", ["http-timeout"], Number, "60", "SECONDS", Honoured,
        "a request body read or response write that makes no progress for this long is abandoned (uWSGI's default is 4)"),
    // Privileges.
    opt!("uid", [], Text, "", "USER", Honoured,
        "drop to this user (name or number) after binding, before forking workers"),
    opt!("gid", [], Text, "", "GROUP", Honoured,
        "drop to this group (name or number); supplementary groups come from the user's"),
    opt!("cap", [], Text, "", "CAP[,CAP]", Honoured,
        "Linux capabilities to keep after dropping to uid (e.g. net_bind_service); none otherwise"),
    opt!("no-new-privileges", [], Flag, "false", "", Honoured,
        "set no_new_privs so no process can gain privileges through exec (setuid binaries)"),
    // Logging.
    opt!("disable-logging", ["L"], Flag, "false", "", Honoured,
        "do not log one line per request"),
    opt!("logto", [], Text, "", "FILE", Honoured,
        "append all output (logs, the app's stdout and stderr) to FILE instead of stderr"),
    opt!("log-format", ["logformat"], Text, "", "FORMAT", Honoured,
        "request log line: 'uwsgi' gives uWSGI's default line field for field ([pid: P|app: 0|req: a/b] ADDR () {N vars in B bytes} [ctime] METHOD URI => generated ...); otherwise a template with uWSGI variables: %(method) %(uri) %(status) %(msecs) %(micros) %(size) %(addr) %(pid) %(wid) %(proto) %(host) %(uagent) %(referer) %(epoch) %(ltime)"),
    // Accepted for compatibility.
    opt!("plugins", ["plugin"], Ignored, "", "LIST", NoOp,
        "accepted for the python3 plugins and the built-in http, logfile, syslog, router and cheaper_busyness ones; any other plugin (php, pypy, sentry, a .so) warns that it is not honoured"),
    opt!("die-on-term", [], Flag, "true", "", NoOp,
        "accepted: SIGTERM always means graceful stop in rwsgi"),
    opt!("single-interpreter", [], Flag, "true", "", NoOp,
        "accepted: each process runs exactly one interpreter"),
    opt!("thunder-lock", [], Flag, "false", "", NoOp,
        "accepted: workers accept with non-blocking accept4 from their event loops, one connection per turn; there is no blocking accept to serialize"),
    opt!("post-buffering", [], Bytes, "0", "BYTES", NoOp,
        "accepted: request bodies are always read completely before the application runs (spooled to a file above 1 MiB)"),
    opt!("harakiri-verbose", [], Flag, "true", "", NoOp,
        "accepted: harakiri always logs the request it ends"),
    opt!("ignore-sigpipe", [], Flag, "true", "", NoOp,
        "accepted: SIGPIPE is always ignored in workers"),
    opt!("ignore-write-errors", [], Flag, "true", "", NoOp,
        "accepted: a client that went away is never reported as an application error"),
    opt!("disable-write-exception", [], Flag, "true", "", NoOp,
        "accepted: writes to a client that went away never raise in the application"),
    opt!("no-orphans", [], Flag, "true", "", NoOp,
        "accepted: workers always die with the master (parent-death signal)"),
    opt!("reload-mercy", [], Number, "", "SECONDS", NoOp,
        "accepted: in uWSGI 2.0 it bounds only the Emperor; workers use worker-reload-mercy"),
    opt!("offload-threads", [], Number, "0", "N", NoOp,
        "accepted: files are sent with sendfile(2) from the worker's event loop"),
    opt!("wsgi-disable-file-wrapper", [], Flag, "false", "", Honoured,
        "do not offer wsgi.file_wrapper to the application"),
    opt!("add-header", [], List, "", "NAME: VALUE", Honoured,
        "add this header to every response the application produces (repeatable)"),
    opt!("http-server-header", [], Flag, "true", "", Honoured,
        "on HTTP listeners, send 'Server: rwsgi' when the application set no Server header (uwsgi-protocol listeners never add Server or Date: the front end speaks for the server)"),
    opt!("daemonize", [], Text, "", "FILE", Honoured,
        "detach from the terminal and append all output to FILE; refused under systemd, where it would break readiness"),
    opt!("log-date", ["logdate"], Text, "", "[FORMAT]", Honoured,
        "prefix log lines with the date (UTC); a value is a strftime format (%Y %m %d %e %H %M %S %a %b %y)"),
    opt!("log-4xx", [], Flag, "false", "", Honoured,
        "log requests answered 4xx even with disable-logging"),
    opt!("log-5xx", [], Flag, "false", "", Honoured,
        "log requests answered 5xx even with disable-logging"),
    opt!("log-slow", [], Number, "0", "MILLISECONDS", Honoured,
        "log requests slower than this even with disable-logging (0: off)"),
    opt!("print", [], List, "", "TEXT", Honoured,
        "log TEXT while the configuration is read"),
    opt!("show-config", [], Flag, "false", "", Honoured,
        "log every configuration entry with where it was written"),
    opt!("static-map", [], List, "", "PREFIX=DIR", Honoured,
        "serve files under DIR for request paths starting with PREFIX (the prefix removed); a missing file falls through to the application (repeatable)"),
    opt!("static-map2", [], List, "", "PREFIX=DIR", Honoured,
        "like static-map, but the whole request path (prefix included) is looked up under DIR (repeatable)"),
    opt!("check-static", [], List, "", "DIR", Honoured,
        "serve a file under DIR whose path is the request path, if there is one (repeatable)"),
    opt!("static-index", [], List, "", "NAME", Honoured,
        "file to serve when a static path is a directory, e.g. index.html (repeatable)"),
    opt!("static-expires-type", [], List, "", "MIME=SECONDS", Honoured,
        "Expires and Cache-Control max-age for static files of this Content-Type (repeatable)"),
    opt!("stats", ["stats-server"], Text, "", "ADDR", Honoured,
        "serve uWSGI's JSON statistics (for uwsgitop) on a unix path or HOST:PORT; the master answers each connection"),
    opt!("stats-http", [], Flag, "false", "", Honoured,
        "speak HTTP on the stats socket: JSON at any path (uwsgitop), Prometheus metrics at /metrics, a status page at / for browsers (Accept: text/html)"),
    opt!("metrics", [], Text, "", "ADDR", Honoured,
        "serve Prometheus/OpenMetrics text metrics over HTTP on a unix path or HOST:PORT (any path; also /metrics of stats-http); rwsgi's own, not a uWSGI option"),
    opt!("cheaper", [], Number, "0", "N", Honoured,
        "adaptive workers (uWSGI's spare algorithm): keep at least N running, add cheaper-step when all are busy, retire idle ones above N (0: off)"),
    opt!("cheaper-initial", [], Number, "", "N", Honoured,
        "workers started at first with cheaper (default: cheaper)"),
    opt!("cheaper-step", [], Number, "1", "N", Honoured,
        "workers added at once when all are busy"),
    opt!("cheaper-algo", [], Text, "spare", "spare|busyness", Honoured,
        "the cheaper algorithm: spare (add workers when all are busy) or busyness (by the share of time workers were busy each cheaper-overload seconds); another name warns and spare is used"),
    opt!("cheaper-busyness-max", [], Number, "50", "PERCENT", Honoured,
        "busyness: add cheaper-step workers when the average busyness of a cycle is above this"),
    opt!("cheaper-busyness-min", [], Number, "25", "PERCENT", Honoured,
        "busyness: below this average a cycle counts as idle"),
    opt!("cheaper-busyness-multiplier", [], Number, "10", "N", Honoured,
        "busyness: retire one worker after this many idle cycles in a row"),
    opt!("cheaper-busyness-backlog-alert", [], Number, "33", "N", Honoured,
        "busyness: add workers at once when more than N connections wait in the listen queues"),
    opt!("cheaper-busyness-backlog-step", [], Number, "1", "N", Honoured,
        "busyness: workers added when the backlog alert fires"),
    opt!("cheaper-overload", [], Number, "3", "SECONDS", Honoured,
        "a worker idle this long above the minimum is retired"),
    opt!("attach-daemon", [], List, "", "COMMAND", Honoured,
        "run COMMAND (with sh -c) beside the workers, restart it when it exits, stop it with the server (repeatable)"),
    opt!("mount", [], List, "", "/PREFIX=APP|HOST=APP", Honoured,
        "serve another application under PREFIX (or, with vhost, for HOST): APP is a file (.py, .wsgi) or module[:callable] (repeatable)"),
    opt!("manage-script-name", [], Flag, "false", "", Honoured,
        "choose the mounted application by the longest PREFIX of PATH_INFO and move that prefix to SCRIPT_NAME"),
    opt!("master-fifo", [], List, "", "PATH", Honoured,
        "a FIFO the master reads uWSGI's one-letter commands from: r or w reload, q graceful stop, Q immediate stop, s status, + add a worker, - remove one"),
    opt!("py-autoreload", ["python-autoreload"], Number, "0", "SECONDS", Honoured,
        "development: every SECONDS, reload when a Python module the master imported changed on disk (0: off)"),
    opt!("memory-report", [], Flag, "false", "", Honoured,
        "add the worker's resident size (RSS_MIB) to each request log entry"),
    opt!("logger", [], List, "", "[NAME] file:PATH|stdio|syslog[:TAG]", Honoured,
        "where logs go: file:PATH appends to PATH (like logto), stdio keeps stderr, syslog sends to /dev/log; with a NAME, a logger for log-route"),
    opt!("log-route", [], List, "", "NAME REGEXP", Honoured,
        "also send log lines matching REGEXP to the logger called NAME (repeatable)"),
    opt!("log-encoder", [], List, "", "ENCODER [ARGS]", Honoured,
        "transform each plain log line, in order: prefix TEXT, suffix TEXT, nl, format TEMPLATE, json TEMPLATE; templates use ${msg} ${msgnl} ${unix} ${micros} ${millis} ${strftime:FMT} (repeatable; not applied to journal entries)"),
    opt!("log-req-encoder", [], List, "", "ENCODER [ARGS]", Honoured,
        "as log-encoder, for request log lines (repeatable)"),
    opt!("log-master", [], Flag, "false", "", NoOp,
        "accepted: every process writes each log line with one write, so lines never interleave"),
    opt!("log-x-forwarded-for", [], Flag, "false", "", Honoured,
        "log the X-Forwarded-For address instead of the peer's"),
    opt!("auto-procname", [], Flag, "false", "", Honoured,
        "name processes 'rwsgi master' and 'rwsgi worker N': the command line ps aux shows (within the length of the original one) and the kernel's 15-character comm (ps -o comm, top)"),
    opt!("procname-prefix", [], Text, "", "PREFIX", Honoured,
        "put PREFIX in front of process names (implies auto-procname)"),
    opt!("procname-prefix-spaced", [], Text, "", "PREFIX", Honoured,
        "put PREFIX and a space in front of process names (implies auto-procname)"),
    opt!("hook-asap", [], List, "", "ACTION", Honoured,
        "run ACTION as soon as the configuration is read; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-as-root", ["hook-pre-jail", "hook-post-jail", "hook-in-jail"], List, "", "ACTION", Honoured,
        "run ACTION before privileges are dropped; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-as-user", [], List, "", "ACTION", Honoured,
        "run ACTION after privileges are dropped; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-pre-app", [], List, "", "ACTION", Honoured,
        "run ACTION before the application is loaded (in the master, or in each worker with lazy-apps); a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-post-app", [], List, "", "ACTION", Honoured,
        "run ACTION after the application is loaded; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-master-start", [], List, "", "ACTION", Honoured,
        "run ACTION when the master starts its loop; 'unix_signal:15 gracefully_kill_them_all' is accepted and is what SIGTERM already does; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-post-fork", [], List, "", "ACTION", Honoured,
        "run ACTION in each worker right after fork; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-accepting", [], List, "", "ACTION", Honoured,
        "run ACTION in each worker before it starts accepting; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-accepting1", [], List, "", "ACTION", Honoured,
        "run ACTION in worker 1 before it starts accepting; a failing one stops the start: exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("hook-as-user-atexit", [], List, "", "ACTION", Honoured,
        "run ACTION when the server stops (failures are only logged): exec:, mkdir:, chdir:, putenv:, unlink:, write:, append:, create:, print:, wait_for_file: (repeatable)"),
    opt!("exec-asap", [], List, "", "COMMAND", Honoured,
        "run COMMAND (sh -c) as soon as the configuration is read; as hook-asap = exec:COMMAND (repeatable)"),
    opt!("exec-as-root", [], List, "", "COMMAND", Honoured,
        "run COMMAND before privileges are dropped (repeatable)"),
    opt!("exec-as-user", [], List, "", "COMMAND", Honoured,
        "run COMMAND after privileges are dropped (repeatable)"),
    opt!("exec-pre-app", [], List, "", "COMMAND", Honoured,
        "run COMMAND before the application is loaded (repeatable)"),
    opt!("exec-post-app", [], List, "", "COMMAND", Honoured,
        "run COMMAND after the application is loaded (repeatable)"),
    opt!("exec-as-user-atexit", [], List, "", "COMMAND", Honoured,
        "run COMMAND when the server stops (repeatable)"),
    opt!("http-auto-chunked", [], Flag, "true", "", NoOp,
        "accepted: HTTP/1.1 responses of unknown length are always chunked"),
    opt!("http-keepalive", [], Number, "1", "N", NoOp,
        "accepted: HTTP/1.1 keep-alive is always on; see http-keepalive-timeout"),
    opt!("no-defer-accept", [], Flag, "true", "", NoOp,
        "accepted: rwsgi never sets TCP_DEFER_ACCEPT"),
    opt!("so-keepalive", [], Flag, "false", "", Honoured,
        "enable TCP keepalive probes on accepted TCP connections"),
    opt!("lazy", [], Flag, "false", "", Honoured,
        "the older name of lazy-apps: load the application in each worker"),
    opt!("umask", [], Text, "", "MODE", Honoured,
        "set the process umask (octal, e.g. 022) before anything is created"),
    opt!("max-fd", [], Number, "0", "N", Honoured,
        "raise the open-file limit (RLIMIT_NOFILE) to N at start (0: leave it)"),
    opt!("honour-stdin", [], Flag, "false", "", Honoured,
        "keep standard input as given; otherwise it is /dev/null, as in uWSGI"),
    opt!("no-site", [], Flag, "false", "", Honoured,
        "do not import Python's site module (no site-packages on sys.path)"),
    opt!("pyargv", [], Text, "", "ARGS", Honoured,
        "sys.argv of the application: rwsgi followed by ARGS split at spaces"),
    opt!("import", ["pyimport", "python-import"], List, "", "MODULE", Honoured,
        "import MODULE before the application (in the master, or in each worker with lazy-apps) (repeatable)"),
    opt!("paste", [], Text, "", "config:PATH", Honoured,
        "load the application from a PasteDeploy configuration (paste.deploy must be installed)"),
    opt!("chdir2", [], Text, "", "DIR", Honoured,
        "change to DIR after the application is loaded"),
    opt!("master-as-root", [], Flag, "false", "", Honoured,
        "keep the master as root: uid, gid and cap apply to each worker after fork"),
    opt!("procname", [], Text, "", "NAME", Honoured,
        "name every process NAME (command line and comm, as auto-procname)"),
    opt!("procname-master", [], Text, "", "NAME", Honoured,
        "name the master process NAME"),
    opt!("reload-on-as", [], Number, "0", "MIB", Honoured,
        "recycle a worker after a request that leaves its address space above this size (0: never)"),
    opt!("reload-on-exception", [], Flag, "false", "", Honoured,
        "recycle a worker after a request whose application raised"),
    opt!("harakiri-graceful-timeout", [], Number, "0", "SECONDS", Honoured,
        "on harakiri, send SIGTERM first and SIGKILL only after this many seconds (0: SIGKILL at once)"),
    opt!("touch-chain-reload", [], List, "", "FILE", Honoured,
        "reload when FILE's modification time changes; rwsgi's reload always replaces workers without a gap in capacity, which is what uWSGI's chain reload is for (repeatable)"),
    opt!("no-default-app", [], Flag, "false", "", Honoured,
        "with mount: a request under no mountpoint gets 404 instead of the default application"),
    opt!("static-safe", [], List, "", "DIR", Honoured,
        "static files may also resolve (through symlinks) to paths under DIR (repeatable)"),
    opt!("mime-file", [], List, "", "PATH", Honoured,
        "read more Content-Types for static files from a mime.types file (repeatable)"),
    opt!("static-expires", [], List, "", "REGEXP SECONDS", Honoured,
        "Expires and Cache-Control max-age for static files whose path matches REGEXP (repeatable)"),
    opt!("static-expires-uri", [], List, "", "REGEXP SECONDS", Honoured,
        "Expires and Cache-Control max-age for static files whose request path matches REGEXP (repeatable)"),
    opt!("static-gzip-all", [], Flag, "false", "", Honoured,
        "serve FILE.gz in place of FILE, with Content-Encoding: gzip, to clients that accept gzip"),
    opt!("static-gzip-dir", ["static-gzip-prefix"], List, "", "DIR", Honoured,
        "like static-gzip-all, for files under DIR only (repeatable)"),
    opt!("http-enable-proxy-protocol", [], Flag, "false", "", Honoured,
        "HTTP connections start with a PROXY protocol header (v1 or v2) from a load balancer; REMOTE_ADDR and REMOTE_PORT come from it, and a connection without one is refused"),
    opt!("route", [], List, "", "REGEXP ACTION", Honoured,
        "internal routing on PATH_INFO: actions addheader:H, delheader:NAME, redirect:URL, redirect-301:URL, return:STATUS, break[:STATUS], last, continue (repeatable)"),
    opt!("route-uri", [], List, "", "REGEXP ACTION", Honoured,
        "as route, matched against REQUEST_URI (repeatable)"),
    opt!("route-host", [], List, "", "REGEXP ACTION", Honoured,
        "as route, matched against the Host (repeatable)"),
    opt!("route-user-agent", [], List, "", "REGEXP ACTION", Honoured,
        "as route, matched against the User-Agent (repeatable)"),
    opt!("route-if", [], List, "", "COND:ARGS ACTION", Honoured,
        "as route, when a condition holds: equal:A;B, startswith:A;B, endswith:A;B, contains:A;B, regexp:A;RE, empty:A, and not- forms; A may use ${VAR} from the request (repeatable)"),
    opt!("route-if-not", [], List, "", "COND:ARGS ACTION", Honoured,
        "as route-if, when the condition does not hold (repeatable)"),
    opt!("cron", [], List, "", "MIN HOUR DAY MONTH WEEKDAY COMMAND", Honoured,
        "run COMMAND (with sh -c) from the master when the time matches; -1 is any, -N every N (repeatable)"),
    opt!("unique-cron", [], List, "", "MIN HOUR DAY MONTH WEEKDAY COMMAND", Honoured,
        "as cron, but not started again while the previous run is still going (repeatable)"),
    opt!("attach-daemon2", [], List, "", "cmd=COMMAND[,stopsignal=N][,pidfile=PATH]", Honoured,
        "attach-daemon with uWSGI's key=value form: stopsignal is the signal that stops it (default 15); with pidfile it is a smart-attach-daemon; other keys are refused (repeatable)"),
    opt!("spooler", ["Q"], List, "", "DIR", Honoured,
        "run a spooler process on DIR (created if missing; refused at start if not writable): tasks queued by uwsgi.spool() and @spool run there, one file per task, and survive a restart"),
    opt!("spooler-external", [], List, "", "DIR", Honoured,
        "a spool directory served by another instance: uwsgi.spool(spooler=DIR) may queue there, no spooler process runs here"),
    opt!("spooler-processes", [], Number, "1", "N", Honoured,
        "spooler processes per spooler directory (they share its tasks; a task runs in one at a time)"),
    opt!("spooler-frequency", [], Number, "30", "SECONDS", Honoured,
        "how often an idle spooler scans its directory for tasks"),
    opt!("spooler-max-tasks", [], Number, "0", "N", Honoured,
        "recycle a spooler process after N tasks (0: never)"),
    opt!("spooler-harakiri", [], Number, "0", "SECONDS", Honoured,
        "kill a spooler process whose task runs longer than this (the task is kept and run again)"),
    opt!("spooler-ordered", [], Flag, "false", "", Honoured,
        "run tasks in the order they were spooled (priority sub-directories lowest number first, then the directory's own tasks, each by age); unordered otherwise"),
    opt!("spooler-chdir", [], Text, "", "DIR", Honoured,
        "chdir to DIR before each spooler task"),
    opt!("spooler-import", ["spooler-python-import"], List, "", "MODULE", Honoured,
        "import MODULE in each spooler process (where its spooler functions are defined)"),
    opt!("mule", [], List, "", "[FILE.py|MODULE:CALLABLE]", Honoured,
        "add a mule, a process supervised by the master (respawned with backoff): FILE.py runs as __main__, MODULE:CALLABLE is called, none loads the application and runs uwsgi.mule_msg_hook (@mulefunc) for each message and uwsgi signals (repeatable)"),
    opt!("mules", [], Number, "0", "N", Honoured,
        "add N mules without a program (each as a bare mule option)"),
    opt!("farm", [], List, "", "NAME:ID[,ID...]", Honoured,
        "group mules into a farm: uwsgi.farm_msg(NAME, msg) and mule_msg(msg, NAME) reach one of them (repeatable)"),
    opt!("smart-attach-daemon", [], List, "", "PIDFILE COMMAND", Honoured,
        "run COMMAND, which daemonizes and writes PIDFILE; started again when that process is gone, sent SIGTERM when rwsgi stops (repeatable)"),
    opt!("logto2", [], Text, "", "FILE", Honoured,
        "as logto, but FILE is opened after privileges are dropped (so it belongs to uid)"),
    opt!("logfile-chmod", [], Text, "", "MODE", Honoured,
        "mode of the log file rwsgi opens (logto, logto2, req-logger), e.g. 644"),
    opt!("log-micros", [], Flag, "false", "", Honoured,
        "report request durations in microseconds in the default request log line"),
    opt!("log-maxsize", [], Bytes, "0", "BYTES", Honoured,
        "rotate the logto file when it grows past BYTES: rename it (see log-backupname) and open a new one (0: never)"),
    opt!("log-backupname", [], Text, "", "PATH", Honoured,
        "the name a rotated log takes; default FILE.<unix time>"),
    opt!("log-reopen", [], Flag, "false", "", NoOp,
        "accepted: a reload always reopens the log file, and every process reopens it within a second when it is renamed or deleted (logrotate)"),
    opt!("req-logger", ["logger-req"], Text, "", "file:PATH|stdio|syslog[:TAG]", Honoured,
        "where request log lines go, apart from other messages"),
    opt!("logformat-strftime", ["log-format-strftime"], Flag, "false", "", Honoured,
        "apply strftime (UTC) to the log-format line after its variables are filled in"),
    opt!("reaper", ["r"], Flag, "true", "", NoOp,
        "accepted: the master reaps every exited child at once"),
    opt!("cache2", [], List, "", "name=NAME,items=N,...", Honoured,
        "a shared cache for the uwsgi.cache_* functions: name=NAME,items=N[,blocksize=BYTES][,keysize=BYTES][,purge_lru=1][,store=FILE]; repeatable (the first is the default cache); as uWSGI, items=N holds N-1 keys"),
    opt!("cache", [], Number, "0", "N", Honoured,
        "legacy form: a cache named 'default' of N items (values up to cache-blocksize)"),
    opt!("locks", [], Number, "0", "N", Honoured,
        "shared locks for uwsgi.lock(n)/unlock(n)/is_locked(n): numbers 0 to N (lock 0 always exists); a worker that dies holding one releases it"),
    opt!("cache-blocksize", [], Bytes, "65536", "BYTES", Honoured,
        "the largest value the legacy 'cache' holds"),
    opt!("py-call-uwsgi-fork-hooks", ["py-call-osafterfork"], Flag, "true", "", NoOp,
        "accepted: rwsgi always calls CPython's fork hooks around fork"),
    opt!("plugin-dir", ["plugins-dir"], List, "", "DIR", NoOp,
        "accepted: there are no plugins to load; the Python and HTTP support is built in"),
    opt!("threaded-logger", [], Flag, "false", "", NoOp,
        "accepted: each log line is one write(2), so no logging thread is needed"),
    opt!("log-sendfile", [], Flag, "false", "", NoOp,
        "accepted: requests answered with sendfile are always in the request log"),
    opt!("binary-path", [], Text, "", "PATH", NoOp,
        "accepted: rwsgi re-executes /proc/self/exe on reload"),
    opt!("vhost", [], Flag, "false", "", Honoured,
        "virtual hosting: a request whose SERVER_NAME is a mountpoint (mount = HOST=APP) goes to that application; others fall back as usual. Dynamic applications named by nginx (UWSGI_SCRIPT, UWSGI_MODULE) are not loaded"),
    opt!("vhost-host", [], Flag, "false", "", Honoured,
        "with vhost, choose by the Host header (without port) instead of SERVER_NAME"),
    opt!("alarm", [], List, "", "NAME cmd:COMMAND", Honoured,
        "define an alarm: raising it runs COMMAND (sh -c) with the message on its standard input; other alarm types warn (repeatable)"),
    opt!("alarm-freq", [], Number, "3", "SECONDS", Honoured,
        "run each alarm's command at most once per this many seconds, whichever process raised it"),
    opt!("alarm-log", ["log-alarm"], List, "", "NAME[,NAME] REGEXP", Honoured,
        "raise the alarms when a log line matches REGEXP (repeatable)"),
    opt!("alarm-segfault", [], List, "", "NAME", Honoured,
        "raise the alarm when a worker dies of SIGSEGV (repeatable)"),
    opt!("alarm-backlog", ["alarm-listen-queue", "alarm-lq"], List, "", "NAME", Honoured,
        "raise the alarm when a listen queue is full (checked every second) (repeatable)"),
    opt!("gevent", [], Ignored, "", "N", Unsupported,
        "not honoured: rwsgi has no loop engines; use threads for concurrency in a worker"),
    opt!("async", [], Ignored, "", "N", Unsupported,
        "not honoured: rwsgi has no async cores; use threads"),
    opt!("ugreen", [], Ignored, "", "", Unsupported,
        "not honoured: rwsgi has no green threads; use threads"),
    opt!("emperor", [], Ignored, "", "DIR", Unsupported,
        "not honoured: use the template units, one rwsgi@NAME per /etc/rwsgi/NAME.ini (see rwsgi(8))"),
    opt!("gevent-monkey-patch", [], Ignored, "", "", Unsupported,
        "not honoured: rwsgi has no gevent loop engine; use threads"),
    opt!("gevent-early-monkey-patch", [], Ignored, "", "", Unsupported,
        "not honoured: rwsgi has no gevent loop engine; use threads"),
    opt!("vassals-set", [], Ignored, "", "", Unsupported,
        "not honoured: there is no emperor; use the template units"),
    opt!("http-websockets", [], Ignored, "", "", Unsupported,
        "not honoured: the uwsgi.websocket_* API is not provided; serve websockets with an ASGI server"),
    opt!("http-auto-gzip", [], Ignored, "", "", Unsupported,
        "not honoured: responses are not compressed; let nginx gzip them"),
    opt!("error-route-uri", [], Ignored, "", "", Unsupported,
        "not honoured: error routes are not provided; use route"),
];

/// Finds an option by its name or one of its aliases; `-` and `_` are interchangeable.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    // One-letter forms are case-sensitive, as in uWSGI: `-T` is enable-threads, `-t` harakiri.
    if name.len() == 1 {
        return OPTIONS.iter().find(|spec| spec.aliases.contains(&name));
    }
    let wanted = normalize(name);
    OPTIONS
        .iter()
        .find(|spec| spec.name == wanted || spec.aliases.iter().any(|alias| *alias == wanted))
}

pub fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The closest known name to a misspelt one, if it is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    let wanted = normalize(name);
    let mut best: Option<(usize, &'static str)> = None;
    for spec in OPTIONS {
        for candidate in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
            if candidate.len() < 3 {
                continue;
            }
            let distance = edit_distance(&wanted, candidate);
            let prefix_match = candidate.starts_with(&wanted) && wanted.len() >= 4;
            let limit = (candidate.len() / 3).max(1);
            if (distance <= limit || prefix_match) && best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, spec.name));
            }
        }
    }
    best.map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// `rwsgi --help`: one line per option, starting with `--name`.
pub fn help_text() -> String {
    let mut out = String::from(
        "usage: rwsgi [--ini FILE] [--OPTION VALUE]... [FILE.ini]\n\
         A uWSGI-compatible WSGI server. Options may also be written in an INI file's [uwsgi]\n\
         section; `-` and `_` are interchangeable in names.\n\n",
    );
    for spec in OPTIONS {
        let mut names = format!("--{}", spec.name);
        if !spec.metavar.is_empty() {
            names.push(' ');
            names.push_str(spec.metavar);
        }
        let mut line = format!("{names:<30} {}", spec.help);
        if !spec.default.is_empty() {
            line.push_str(&format!(" [default: {}]", spec.default));
        }
        let aliases: Vec<String> = spec
            .aliases
            .iter()
            .map(|a| {
                if a.len() == 1 {
                    format!("-{a}")
                } else {
                    format!("--{a}")
                }
            })
            .collect();
        if !aliases.is_empty() {
            line.push_str(&format!(" (also {})", aliases.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("{:<30} print this help and exit\n", "--help"));
    out.push_str(&format!("{:<30} print the version and exit\n", "--version"));
    out.push_str(&format!(
        "{:<30} check the configuration, sockets, users, directories and the application import, then exit (0 ok, 1 warnings with strict, 2 errors)\n",
        "--check"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for spec in OPTIONS {
            for name in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
                assert!(
                    seen.insert(*name),
                    "{name} appears twice in the option table"
                );
            }
        }
    }

    #[test]
    fn lookup_accepts_aliases_and_underscores() {
        assert_eq!(find("workers").unwrap().name, "processes");
        assert_eq!(find("lazy_apps").unwrap().name, "lazy-apps");
        assert_eq!(find("s").unwrap().name, "socket");
        assert_eq!(find("socket_protocol").unwrap().name, "protocol");
        assert!(find("procesess").is_none());
    }

    #[test]
    fn suggestions_catch_common_typos() {
        assert_eq!(suggest("procesess"), Some("processes"));
        assert_eq!(suggest("vaccum"), Some("vacuum"));
        assert_eq!(suggest("chmod-sock"), Some("chmod-socket"));
        assert_eq!(suggest("base"), None);
    }
}
