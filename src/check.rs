//! `rwsgi --check`, like `nginx -t`: reads the configuration exactly as a start would (files,
//! command line, `UWSGI_*` environment), reports every warning and error with where it was
//! written, checks what a start needs from the system (sockets bindable or already
//! listening, users and groups, directories and their permissions), then imports the
//! application in a throw-away child under the configured user and virtualenv.
//!
//! Exit status: 0 (one-line summary), 1 when `strict` is set and there are warnings, 2 on
//! any error. Owns: those checks and their report. Must not: leave anything behind (a probe
//! socket file it bound is removed), signal or change a running server, or start workers.

use std::fmt::Display;
use std::io::ErrorKind;
use std::path::Path;

use crate::config::source::{Entry, Origin};
use crate::config::{self, options, ListenAddress, Loaded};
use crate::wsgi::host::PythonHost;

/// How long the application import may take in the throw-away child.
const IMPORT_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Default)]
struct Report {
    errors: usize,
    warnings: usize,
}

impl Report {
    fn error(&mut self, at: impl Display, message: impl Display) {
        self.errors += 1;
        eprintln!("rwsgi --check: error: {at}: {message}");
    }

    fn warning(&mut self, at: impl Display, message: impl Display) {
        self.warnings += 1;
        eprintln!("rwsgi --check: warning: {at}: {message}");
    }

    fn note(&self, at: impl Display, message: impl Display) {
        eprintln!("rwsgi --check: note: {at}: {message}");
    }
}

/// Where the option `name` (canonical) was last set, for messages.
fn origin_of(entries: &[Entry], name: &str) -> String {
    entries
        .iter()
        .rev()
        .find(|e| options::find(&e.key).is_some_and(|spec| spec.name == name))
        .map_or_else(|| "configuration".to_string(), |e| e.origin.to_string())
}

fn strict(entries: &[Entry]) -> bool {
    entries
        .iter()
        .rev()
        .find(|e| options::normalize(&e.key) == "strict")
        .is_some_and(|e| {
            matches!(
                e.value
                    .as_deref()
                    .map(|v| v.trim().to_ascii_lowercase())
                    .as_deref(),
                None | Some("") | Some("true") | Some("1") | Some("yes") | Some("on")
            )
        })
}

/// Builds the configuration, finding every entry that fails rather than only the first:
/// each failing entry is left out and the rest built again. Returns the configuration of
/// the entries that could be read (None if even that fails) and the errors.
fn build_all(entries: &[Entry]) -> (Option<Loaded>, Vec<config::ConfigError>) {
    let mut kept: Vec<Entry> = entries.to_vec();
    let mut errors = Vec::new();
    loop {
        match config::build(&kept) {
            Ok(loaded) => return (Some(loaded), errors),
            Err(e) => {
                let position = kept.iter().position(|entry| entry.origin == e.origin);
                errors.push(e);
                match position {
                    Some(position) => {
                        kept.remove(position);
                    }
                    // An error no single entry carries: nothing more to learn.
                    None => return (None, errors),
                }
            }
        }
    }
}

/// Runs the check; returns the exit status.
pub fn run(args: &[String], entries: Vec<Entry>, host: &PythonHost) -> i32 {
    let mut report = Report::default();
    let (loaded, errors) = build_all(&entries);
    // As a start: a virtualenv of another Python means checking under that Python (which
    // runs this check again, so nothing is reported before).
    if let (Some(loaded), true) = (&loaded, errors.is_empty()) {
        let config = &loaded.config;
        match crate::wsgi::host::follow_virtualenv(
            config.app.home.as_deref(),
            host,
            config.app.no_site,
        ) {
            Ok(crate::wsgi::host::Follow::Here) => {}
            Ok(crate::wsgi::host::Follow::Exec(command)) => {
                report.note(origin_of(&entries, "home"), command.describe());
                let error = command.exec(args);
                report.error(origin_of(&entries, "home"), error);
                return summary(&report, &entries, Some(config));
            }
            Err(e) => report.error(origin_of(&entries, "home"), e),
        }
    }
    for e in &errors {
        report.error(&e.origin, e.message());
    }
    let Some(loaded) = loaded else {
        return summary(&report, &entries, None);
    };
    for warning in &loaded.warnings {
        report.warnings += 1;
        eprintln!("rwsgi --check: warning: {warning}");
    }
    // With errors above, the rest is checked on what could be read; the import is not.
    let config = &loaded.config;
    if let Err(message) = config::check_complete(config) {
        report.error("configuration", message);
    }
    let target = match crate::privileges::resolve(&config.privileges) {
        Ok(target) => Some(target),
        Err(e) => {
            report.error(origin_of(&entries, e.option()), e);
            None
        }
    };
    for (key, value) in &config.app.env {
        std::env::set_var(key, value);
    }
    if let Some(dir) = &config.app.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            report.error(
                origin_of(&entries, "chdir"),
                format!("chdir {}: {e}", dir.display()),
            );
        }
    }
    check_sockets(config, &entries, &mut report);
    check_paths_as_root(config, &entries, &mut report);
    if report.errors == 0 {
        if let Some(target) = target {
            import_in_child(config, &entries, &target, host, &mut report);
        }
    }
    summary(&report, &entries, Some(config))
}

fn summary(report: &Report, entries: &[Entry], config: Option<&config::Config>) -> i32 {
    let files: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.origin {
            Origin::File { path, .. } => Some(path.to_string()),
            _ => None,
        })
        .fold(Vec::new(), |mut files, path| {
            if !files.contains(&path) {
                files.push(path);
            }
            files
        });
    let source = if files.is_empty() {
        "command line".to_string()
    } else {
        files.join(", ")
    };
    let what = config.map_or(String::new(), |c| {
        format!(
            " ({} socket(s), {} worker(s))",
            c.listen.sockets.len(),
            c.workers.processes
        )
    });
    let status = if report.errors > 0 {
        eprintln!(
            "rwsgi --check: {source}: configuration has {} error(s) and {} warning(s)",
            report.errors, report.warnings
        );
        2
    } else if report.warnings > 0 && strict(entries) {
        eprintln!(
            "rwsgi --check: {source}: {} warning(s), which strict makes fatal",
            report.warnings
        );
        1
    } else {
        println!(
            "rwsgi --check: {source}: configuration ok{what}, application imported; {} warning(s)",
            report.warnings
        );
        0
    };
    status
}

/// Every socket can be bound, or is listening already (the running server's, or a systemd
/// socket unit's, which a reload keeps).
fn check_sockets(config: &config::Config, entries: &[Entry], report: &mut Report) {
    if config.listen.sockets.is_empty() && std::env::var_os("LISTEN_FDS").is_none() {
        report.error(
            "configuration",
            "no socket to serve: set 'http-socket', 'http' or 'socket'",
        );
    }
    for spec in &config.listen.sockets {
        let at = entries
            .iter()
            .rev()
            .find(|e| {
                e.value
                    .as_deref()
                    .and_then(|v| config::parse_address(v).ok())
                    .is_some_and(|a| a == spec.address)
            })
            .map_or_else(|| "configuration".to_string(), |e| e.origin.to_string());
        match probe_bind(&spec.address) {
            Ok(Probe::Free) => {}
            Ok(Probe::Listening) => report.note(
                &at,
                format!(
                    "{} is listening already (a running rwsgi or a systemd socket; a reload keeps it)",
                    spec.address
                ),
            ),
            Err(e) => report.error(&at, format!("cannot listen on {}: {e}", spec.address)),
        }
    }
    for (option, spec) in [
        ("stats", &config.master.stats),
        ("metrics", &config.master.metrics),
    ] {
        let Some(spec) = spec else { continue };
        let at = origin_of(entries, option);
        match config::parse_address(spec) {
            Err(e) => report.error(&at, format!("{option} {spec}: {e}")),
            Ok(address) => match probe_bind(&address) {
                Ok(Probe::Free) => {}
                Ok(Probe::Listening) => report.note(&at, format!("{spec} is listening already")),
                Err(e) => report.error(&at, format!("{option} {spec}: {e}")),
            },
        }
    }
}

enum Probe {
    Free,
    Listening,
}

fn probe_bind(address: &ListenAddress) -> std::io::Result<Probe> {
    use socket2::{Domain, SockAddr, Socket, Type};
    match address {
        ListenAddress::Tcp(addr) => {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            match socket.bind(&SockAddr::from(*addr)) {
                Ok(()) => Ok(Probe::Free),
                Err(e) if e.kind() == ErrorKind::AddrInUse => {
                    match std::net::TcpStream::connect_timeout(
                        addr,
                        std::time::Duration::from_secs(2),
                    ) {
                        Ok(_) => Ok(Probe::Listening),
                        Err(_) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        ListenAddress::Unix(path) => {
            if std::fs::symlink_metadata(path).is_ok() {
                use std::os::unix::fs::FileTypeExt;
                let is_socket = std::fs::symlink_metadata(path)?.file_type().is_socket();
                if !is_socket {
                    return Err(std::io::Error::new(
                        ErrorKind::AlreadyExists,
                        "the path exists and is not a socket",
                    ));
                }
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Ok(Probe::Listening);
                }
                // A stale socket file: a start replaces it; its directory must allow that.
                return writable_dir(path.parent().unwrap_or(Path::new("."))).map(|_| Probe::Free);
            }
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.bind(&SockAddr::unix(path)?)?;
            let _ = std::fs::remove_file(path);
            Ok(Probe::Free)
        }
    }
}

fn writable_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(std::io::Error::from)
}

/// What the master opens before dropping privileges: logto, pidfile, static directories
/// must exist (their permissions for the user are checked again in the child).
fn check_paths_as_root(config: &config::Config, entries: &[Entry], report: &mut Report) {
    if let (Some(path), false) = (&config.logging.logto, config.logging.logto_after_drop) {
        check_writable_file(path, &origin_of(entries, "logto"), "logto", report);
    }
    if let Some(path) = &config.master.pidfile {
        check_writable_file(path, &origin_of(entries, "pidfile"), "pidfile", report);
    }
    for map in &config.statics.static_maps {
        let option = if map.keep_prefix {
            "static-map2"
        } else {
            "static-map"
        };
        if !map.root.is_dir() {
            report.error(
                origin_of(entries, option),
                format!(
                    "{option} {}={}: no such directory",
                    map.prefix,
                    map.root.display()
                ),
            );
        }
    }
    for dir in &config.statics.check_static {
        if !dir.is_dir() {
            report.error(
                origin_of(entries, "check-static"),
                format!("check-static {}: no such directory", dir.display()),
            );
        }
    }
    for dir in &config.app.pythonpath {
        if !dir.exists() {
            report.warning(
                origin_of(entries, "pythonpath"),
                format!("pythonpath {}: does not exist", dir.display()),
            );
        }
    }
}

fn check_writable_file(path: &Path, at: &str, option: &str, report: &mut Report) {
    let result = if path.exists() {
        nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).map_err(std::io::Error::from)
    } else {
        writable_dir(path.parent().unwrap_or(Path::new(".")))
    };
    if let Err(e) = result {
        report.error(
            at,
            format!("{option} {}: cannot write: {e}", path.display()),
        );
    }
}

/// Forks a child that becomes the configured user, checks what it must read or write, and
/// imports the application; its stderr carries the traceback of a failed import.
fn import_in_child(
    config: &config::Config,
    entries: &[Entry],
    target: &crate::privileges::Target,
    host: &PythonHost,
    report: &mut Report,
) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::ForkResult;
    let forked = if host.python_running() {
        crate::wsgi::interpreter::fork_with_python()
    } else {
        // SAFETY: single-threaded here (no runtime, no Python yet): the child continues
        // with a consistent copy of the process.
        unsafe { nix::unistd::fork() }
    };
    let child = match forked {
        Ok(ForkResult::Child) => std::process::exit(child_checks(config, entries, target, host)),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            report.error("check", format!("cannot fork the import check: {e}"));
            return;
        }
    };
    let deadline = std::time::Instant::now() + IMPORT_LIMIT;
    let status = loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(child, None);
                break None;
            }
            Ok(status) => break Some(status),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break None,
        }
    };
    match status {
        Some(WaitStatus::Exited(_, 0)) => {}
        Some(WaitStatus::Exited(_, code)) => {
            report.errors += code as usize;
        }
        Some(other) => report.error("check", format!("the import check ended: {other:?}")),
        None => report.error(
            "check",
            format!(
                "importing the application took longer than {} s",
                IMPORT_LIMIT.as_secs()
            ),
        ),
    }
}

/// In the child: returns the number of errors it reported (its exit status).
fn child_checks(
    config: &config::Config,
    entries: &[Entry],
    target: &crate::privileges::Target,
    host: &PythonHost,
) -> i32 {
    let mut report = Report::default();
    if !config.privileges.master_as_root {
        if let Err(message) =
            crate::privileges::drop_to(target, &config.privileges.capabilities, false)
        {
            report.error(
                origin_of(entries, "uid"),
                format!("cannot drop privileges: {message}"),
            );
            return report.errors as i32;
        }
    }
    let uid = nix::unistd::Uid::effective();
    let user = target.user_name.clone().unwrap_or_else(|| {
        nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name)
    });
    let readable = |dir: &Path| {
        nix::unistd::access(
            dir,
            nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::X_OK,
        )
    };
    for map in &config.statics.static_maps {
        if let Err(e) = readable(&map.root) {
            report.error(
                origin_of(entries, "static-map"),
                format!(
                    "static-map {}: user {user} cannot read it: {e}",
                    map.root.display()
                ),
            );
        }
    }
    if let (Some(path), true) = (&config.logging.logto, config.logging.logto_after_drop) {
        check_writable_file(path, &origin_of(entries, "logto2"), "logto2", &mut report);
    }
    if let Err(message) = crate::wsgi::interpreter::initialize(&config.app, host) {
        report.error("python", message);
        return report.errors as i32;
    }
    let loaded = pyo3::Python::attach(|py| {
        crate::wsgi::interpreter::load_apps(py, &config.app, &config.hooks)
    });
    if let Err(message) = loaded {
        let at = ["module", "wsgi-file", "mount"]
            .iter()
            .map(|name| origin_of(entries, name))
            .find(|o| o != "configuration")
            .unwrap_or_else(|| "configuration".into());
        report.error(
            at,
            format!("the application cannot be imported as user {user}: {message}"),
        );
    }
    report.errors.min(100) as i32
}
