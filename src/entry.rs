//! Starting rwsgi, whichever process hosts it: the `rwsgi` binary (which embeds CPython)
//! and the Python extension module of the wheel and the Debian package (where CPython hosts
//! rwsgi) both call [`run`]. Reads the configuration, reports what is wrong with it (exit
//! status 2), makes the interpreter follow the application's virtualenv, applies the
//! process-wide settings and hands over to the master.
//!
//! Must not: contain server logic; everything past option handling lives in `master`.
//! Its private steps report failures as text: every one ends in `give_up`, which logs it.

use crate::config::source::{self, Request};
use crate::wsgi::host::{follow_virtualenv, Follow, PythonHost};
use crate::wsgi::interpreter;
use crate::{config, log, master};

/// Exit status for a configuration the server cannot start with.
const EXIT_BAD_CONFIG: i32 = 2;

/// Runs rwsgi with its command-line arguments (without the program name); returns the
/// process's exit status.
pub fn run(args: Vec<String>, host: PythonHost) -> i32 {
    if host.python_running() {
        // Hosted by `python3`: still `rwsgi` to ps, pgrep and the journal, as the binary is.
        let _ = nix::sys::prctl::set_name(c"rwsgi");
    }
    let entries = match entries_to_serve(&args, &host) {
        Ok(entries) => entries,
        Err(Stop::Exit(status)) => return status,
        Err(Stop::GiveUp(message)) => return give_up(&message, args, host),
    };
    let loaded = match config::build(&entries) {
        Ok(loaded) => loaded,
        Err(e) => return give_up(&e.to_string(), args, host),
    };
    // Before anything is bound or forked: a virtualenv of another Python is served by that
    // Python, which means running rwsgi again under it.
    match follow_virtualenv(
        loaded.config.app.home.as_deref(),
        &host,
        loaded.config.app.no_site,
    ) {
        Ok(Follow::Here) => {}
        Ok(Follow::Exec(command)) => {
            log::info(&command.describe());
            let error = command.exec(&args);
            return give_up(&error, args, host);
        }
        Err(e) => return give_up(&e.to_string(), args, host),
    }
    if let Some(path) = &loaded.config.master.daemonize {
        if let Err(message) = daemonize(path, &host) {
            return give_up(&message, args, host);
        }
    }
    if let Err(message) = settle_process(&loaded.config) {
        return give_up(&message, args, host);
    }
    start_logging(&loaded.config);
    for message in &loaded.messages {
        log::info(message);
    }
    for warning in &loaded.warnings {
        log::warn(warning);
    }
    if let Err(message) = config::check_complete(&loaded.config) {
        return give_up(&message.to_string(), args, host);
    }
    master::run(loaded.config, args, host, crate::worker::run)
}

/// Why `run` stops before serving: an exit status (a request answered, `--check` done),
/// or a configuration it cannot start with.
enum Stop {
    Exit(i32),
    GiveUp(String),
}

/// The command line's request: the entries to serve, or what else was asked (help,
/// version, the option table, a man page, `--check`), answered here.
fn entries_to_serve(args: &[String], host: &PythonHost) -> Result<Vec<source::Entry>, Stop> {
    let request = source::read_args(args).map(|(request, warnings)| {
        for warning in warnings {
            crate::log::warn(&warning);
        }
        request
    });
    let printed = |text: String| {
        print!("{text}");
        Err(Stop::Exit(0))
    };
    match request {
        Ok(Request::Serve(entries)) => Ok(entries),
        Ok(Request::Check(entries)) => Err(Stop::Exit(crate::check::run(args, entries, host))),
        Ok(Request::Help) => printed(config::options::help_text()),
        Ok(Request::Version) => {
            println!("rwsgi {} ({})", env!("CARGO_PKG_VERSION"), host.describe());
            Err(Stop::Exit(0))
        }
        Ok(Request::OptionTable) => printed(config::manpage::option_table()),
        Ok(Request::ManPage(section)) => match section.as_str() {
            "8" => printed(config::manpage::server_page()),
            "5" => printed(config::manpage::ini_page()),
            _ => fail("--print-man-page takes 8 (rwsgi) or 5 (rwsgi.ini)"),
        },
        Err(e) if args.iter().any(|a| a == "--check") => {
            eprintln!("rwsgi --check: error: {e}");
            eprintln!("rwsgi --check: the configuration cannot be read");
            Err(Stop::Exit(EXIT_BAD_CONFIG))
        }
        Err(e) => Err(Stop::GiveUp(e.to_string())),
    }
}

/// The process-wide settings: umask, max-fd, stdin, the alarms' channel and the `logto`
/// file (unless `logto2` opens it after the privileges are dropped).
fn settle_process(config: &config::Config) -> Result<(), String> {
    if let Some(mode) = config.master.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mode));
    }
    if config.master.max_fd > 0 {
        use nix::sys::resource::{setrlimit, Resource};
        setrlimit(
            Resource::RLIMIT_NOFILE,
            config.master.max_fd,
            config.master.max_fd,
        )
        .map_err(|e| format!("max-fd {}: {e}", config.master.max_fd))?;
    }
    if !config.master.honour_stdin {
        // As uWSGI: the application never reads the terminal or the service's stdin.
        if let Ok(null) = std::fs::File::open("/dev/null") {
            let _ = nix::unistd::dup2_stdin(&null);
        }
    }
    if let Err(e) = crate::alarms::init(
        config.alarms.alarms.clone(),
        config.alarms.log_alarms.clone(),
        config.alarms.alarm_freq,
    ) {
        log::warn(&format!(
            "alarms will not run: cannot make their channel: {e}"
        ));
    }
    log::set_file_options(
        config.logging.logfile_mode,
        config.logging.log_maxsize,
        config.logging.log_backupname.clone(),
    );
    if let (Some(path), false) = (&config.logging.logto, config.logging.logto_after_drop) {
        log::redirect_to(path).map_err(|e| format!("logto {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Where and how lines are logged from now on.
fn start_logging(config: &config::Config) {
    log::init(log::Settings {
        request_format: config.logging.log_format.clone(),
        strftime: config.logging.logformat_strftime,
        micros: config.logging.log_micros,
        date_format: config.logging.log_date.clone(),
        syslog: config.logging.syslog.clone(),
        request_logger: config.logging.req_logger.clone(),
        encoders: config.logging.log_encoders.clone(),
        request_encoders: config.logging.log_req_encoders.clone(),
        routes: config
            .logging
            .log_routes
            .iter()
            .filter_map(|(name, pattern)| {
                let destination = config
                    .logging
                    .named_loggers
                    .iter()
                    .find(|(n, _)| n == name)?;
                Some((pattern.clone(), destination.1.clone()))
            })
            .collect(),
    });
}

/// `daemonize FILE`: detach (fork, setsid) and append all output to FILE. Under systemd
/// the service manager tracks the process it started and reads its readiness and output,
/// so detaching would break both: refused there.
fn daemonize(path: &std::path::Path, host: &PythonHost) -> Result<(), String> {
    if std::env::var_os("NOTIFY_SOCKET").is_some() || std::env::var_os("INVOCATION_ID").is_some() {
        return Err(format!(
            "daemonize {} is refused under systemd: it would break readiness (Type=notify) and the journal; remove it from the configuration",
            path.display()
        ));
    }
    log::redirect_to(path).map_err(|e| format!("daemonize {}: {e}", path.display()))?;
    let forked = if host.python_running() {
        interpreter::fork_with_python()
    } else {
        // SAFETY: the process is single-threaded here (no runtime, no Python yet), so the
        // child continues with a consistent copy of it.
        unsafe { nix::unistd::fork() }
    };
    match forked {
        Ok(nix::unistd::ForkResult::Parent { .. }) => std::process::exit(0),
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => return Err(format!("daemonize: fork: {e}")),
    }
    nix::unistd::setsid().map_err(|e| format!("daemonize: setsid: {e}"))?;
    let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    nix::unistd::dup2_stdin(&null).map_err(|e| e.to_string())?;
    Ok(())
}

/// A configuration the server cannot start with: exit 2, or, in the image a reload
/// started, keep the previous generation serving (see `master::hold_after_failure`).
fn give_up(message: &str, args: Vec<String>, host: PythonHost) -> i32 {
    master::hold_after_failure(message, args, host, EXIT_BAD_CONFIG, crate::worker::run)
}

fn fail(message: &str) -> ! {
    log::error(message);
    std::process::exit(EXIT_BAD_CONFIG);
}
