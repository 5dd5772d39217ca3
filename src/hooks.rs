//! uWSGI's hooks: actions run at fixed points of start-up (`hook-asap`, `hook-as-root`,
//! `hook-as-user`, `hook-pre-app`, `hook-post-app`, `hook-accepting`, `hook-accepting1`,
//! `hook-post-fork`, `hook-master-start`, `hook-as-user-atexit`, and the `exec-*` forms).
//!
//! Owns: parsing an action (`exec:`, `mkdir:`, `chdir:`, `putenv:`, `unlink:`, `write:`,
//! `append:`, `create:`, `print:`, `wait_for_file:` ...) and running it. Must not: decide
//! when a phase happens (the master and workers call `run_phase`), or start threads.

use std::time::{Duration, Instant};

/// The points of start-up a hook can be attached to, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Asap,
    AsRoot,
    AsUser,
    PreApp,
    PostApp,
    MasterStart,
    PostFork,
    Accepting,
    Accepting1,
    AsUserAtexit,
}

impl Phase {
    /// The phase of an option name (`hook-pre-app`, `exec-pre-app`), if it is a hook option.
    pub fn of_option(name: &str) -> Option<(Phase, bool)> {
        let (rest, exec) = match name.strip_prefix("hook-") {
            Some(rest) => (rest, false),
            None => (name.strip_prefix("exec-")?, true),
        };
        let phase = match rest {
            "asap" => Phase::Asap,
            "as-root" | "pre-jail" | "post-jail" | "in-jail" => Phase::AsRoot,
            "as-user" => Phase::AsUser,
            "pre-app" => Phase::PreApp,
            "post-app" => Phase::PostApp,
            "master-start" => Phase::MasterStart,
            "post-fork" => Phase::PostFork,
            "accepting" => Phase::Accepting,
            "accepting1" => Phase::Accepting1,
            "as-user-atexit" => Phase::AsUserAtexit,
            _ => return None,
        };
        Some((phase, exec))
    }

    /// uWSGI makes every phase but the exit one fatal: a failing hook stops the start.
    fn fatal(self) -> bool {
        self != Phase::AsUserAtexit
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(String),
    Mkdir(String),
    Chdir(String),
    Putenv(String, String),
    Unlink(String),
    /// (path, text, append, newline)
    Write(String, String, bool, bool),
    Create(String),
    Print(String),
    WaitFor(WaitKind, String),
    /// `unix_signal:15 gracefully_kill_them_all`: what SIGTERM already does in rwsgi.
    GracefulTerm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    File,
    Dir,
    Path,
}

/// Exit status of a worker whose hook failed: the master ends the start (or, on a reload,
/// keeps the previous workers) instead of respawning it.
pub const EXIT_HOOK_FAILED: i32 = 78;

/// How long `wait_for_*` waits before the hook fails (uWSGI's default).
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Why a hook option's value is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No `ACTION:` in front (the whole value).
    Shape(String),
    /// `ACTION:` with nothing after it (the action's name).
    NoArgument(String),
    /// `write:`-like actions without `PATH TEXT` (the action's name).
    PathAndText(String),
    /// `putenv:` without `KEY=VALUE`.
    Putenv,
    /// An action rwsgi does not run (its name).
    Unknown(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::Shape(text) => write!(f, "expected ACTION:ARGUMENT, got '{text}'"),
            ActionError::NoArgument(name) => write!(f, "hook action '{name}' needs an argument"),
            ActionError::PathAndText(name) => write!(f, "{name}: expected PATH TEXT"),
            ActionError::Putenv => f.write_str("putenv: expected KEY=VALUE"),
            ActionError::Unknown(name) => write!(
                f,
                "hook action '{name}' is not provided (exec, mkdir, chdir, putenv, unlink, write, writen, append, appendn, create, print, wait_for_file, wait_for_dir, wait_for_fs are)"
            ),
        }
    }
}

impl std::error::Error for ActionError {}

/// Why a hook failed when it ran: `hook TEXT: why`, TEXT as the configuration wrote it.
#[derive(Debug)]
pub struct HookError {
    pub hook: String,
    pub failure: Failure,
}

/// What went wrong running one action.
#[derive(Debug)]
pub enum Failure {
    Io(std::io::Error),
    /// `exec`: the command ended unsuccessfully.
    Exited(std::process::ExitStatus),
    /// `wait_for_*`: the path did not appear in time.
    NotAppeared(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => e.fmt(f),
            Failure::Exited(status) => write!(f, "exited with {status}"),
            Failure::NotAppeared(path) => {
                write!(f, "{path} did not appear in {} s", WAIT_LIMIT.as_secs())
            }
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hook {}: {}", self.hook, self.failure)
    }
}

impl std::error::Error for HookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            Failure::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Action {
    /// `text` is the option's value: `action:argument`, or a bare command for `exec-*`.
    pub fn parse(text: &str, exec_form: bool) -> Result<Action, ActionError> {
        let text = text.trim();
        if exec_form {
            return Ok(Action::Exec(text.to_string()));
        }
        if text.split_whitespace().collect::<Vec<_>>()
            == ["unix_signal:15", "gracefully_kill_them_all"]
        {
            return Ok(Action::GracefulTerm);
        }
        let (name, argument) = text
            .split_once(':')
            .ok_or_else(|| ActionError::Shape(text.to_string()))?;
        let argument = argument.trim().to_string();
        if argument.is_empty() {
            return Err(ActionError::NoArgument(name.to_string()));
        }
        let path_and_text = |argument: &str| -> Result<(String, String), ActionError> {
            argument
                .split_once(' ')
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .ok_or_else(|| ActionError::PathAndText(name.to_string()))
        };
        let action = match name {
            "exec" => Action::Exec(argument),
            "mkdir" => Action::Mkdir(argument),
            "chdir" => Action::Chdir(argument),
            "putenv" => {
                let (key, value) = argument.split_once('=').ok_or(ActionError::Putenv)?;
                Action::Putenv(key.to_string(), value.to_string())
            }
            "unlink" => Action::Unlink(argument),
            "write" | "writen" | "append" | "appendn" => {
                let (path, text) = path_and_text(&argument)?;
                Action::Write(path, text, name.starts_with("append"), name.ends_with('n'))
            }
            "create" => Action::Create(argument),
            "print" | "log" => Action::Print(argument),
            "wait_for_file" => Action::WaitFor(WaitKind::File, argument),
            "wait_for_dir" => Action::WaitFor(WaitKind::Dir, argument),
            "wait_for_fs" => Action::WaitFor(WaitKind::Path, argument),
            other => return Err(ActionError::Unknown(other.to_string())),
        };
        Ok(action)
    }

    fn run(&self) -> Result<(), Failure> {
        match self {
            Action::Exec(command) => {
                let status = crate::sys::shell::shell_command(command).status()?;
                if status.success() {
                    Ok(())
                } else {
                    Err(Failure::Exited(status))
                }
            }
            Action::Mkdir(path) => match std::fs::create_dir(path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e.into()),
                _ => Ok(()),
            },
            Action::Chdir(path) => Ok(std::env::set_current_dir(path)?),
            Action::Putenv(key, value) => {
                // Hooks run while the process is single-threaded (before workers' threads).
                std::env::set_var(key, value);
                Ok(())
            }
            Action::Unlink(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Action::Write(path, text, append, newline) => {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(*append)
                    .truncate(!*append)
                    .open(path)?;
                let mut data = text.clone();
                if *newline {
                    data.push('\n');
                }
                Ok(file.write_all(data.as_bytes())?)
            }
            Action::Create(path) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                Ok(())
            }
            Action::Print(text) => {
                crate::log::info(text);
                Ok(())
            }
            Action::WaitFor(kind, path) => {
                let deadline = Instant::now() + WAIT_LIMIT;
                loop {
                    let metadata = std::fs::metadata(path);
                    let found = match kind {
                        WaitKind::File => metadata.is_ok_and(|m| m.is_file()),
                        WaitKind::Dir => metadata.is_ok_and(|m| m.is_dir()),
                        WaitKind::Path => metadata.is_ok(),
                    };
                    if found {
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::NotAppeared(path.clone()));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Action::GracefulTerm => Ok(()),
        }
    }
}

/// The hooks of one configuration, by phase, in the order written.
#[derive(Debug, Clone, Default)]
pub struct Hooks(Vec<(Phase, Action, String)>);

impl Hooks {
    pub fn add(&mut self, phase: Phase, action: Action, text: String) {
        self.0.push((phase, action, text));
    }

    /// The `putenv:` assignments of a phase, for an interpreter already running, whose
    /// `os.environ` was filled at start and must be told.
    pub fn assignments(&self, phase: Phase) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .filter(|(p, _, _)| *p == phase)
            .filter_map(|(_, action, _)| match action {
                Action::Putenv(key, value) => Some((key.as_str(), value.as_str())),
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs the phase's hooks in order. A failure in a fatal phase is returned (the caller
    /// exits); in the exit phase it is only logged.
    pub fn run_phase(&self, phase: Phase) -> Result<(), HookError> {
        for (_, action, text) in self.0.iter().filter(|(p, _, _)| *p == phase) {
            if let Err(failure) = action.run() {
                let error = HookError {
                    hook: text.clone(),
                    failure,
                };
                if phase.fatal() {
                    return Err(error);
                }
                crate::log::warn(&error.to_string());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_run() {
        let dir = std::env::temp_dir().join(format!("rwsgi-hooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = |name: &str| dir.join(name).display().to_string();
        let mut hooks = Hooks::default();
        for text in [
            format!("mkdir:{}", path("")),
            format!("write:{} first", path("a.txt")),
            format!("appendn:{} second", path("a.txt")),
            format!("exec:test -f {}", path("a.txt")),
            format!("create:{}", path("empty")),
            format!("unlink:{}", path("empty")),
        ] {
            hooks.add(Phase::PreApp, Action::parse(&text, false).unwrap(), text);
        }
        hooks.run_phase(Phase::PreApp).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("a.txt")).unwrap(),
            "firstsecond\n"
        );
        assert!(!dir.join("empty").exists());
        let mut failing = Hooks::default();
        failing.add(
            Phase::AsRoot,
            Action::parse("false", true).unwrap(),
            "exec-as-root = false".into(),
        );
        assert!(failing
            .run_phase(Phase::AsRoot)
            .unwrap_err()
            .to_string()
            .starts_with("hook exec-as-root = false: exited with"));
        failing.add(
            Phase::AsUserAtexit,
            Action::parse("exec:false", false).unwrap(),
            "x".into(),
        );
        assert!(failing.run_phase(Phase::AsUserAtexit).is_ok(), "not fatal");
    }

    #[test]
    fn names_and_bad_actions() {
        assert_eq!(
            Phase::of_option("hook-pre-app"),
            Some((Phase::PreApp, false))
        );
        assert_eq!(
            Phase::of_option("exec-as-user"),
            Some((Phase::AsUser, true))
        );
        assert_eq!(Phase::of_option("hook-frob"), None);
        assert_eq!(
            Action::parse("unix_signal:15 gracefully_kill_them_all", false),
            Ok(Action::GracefulTerm)
        );
        assert!(Action::parse("call:my_function", false)
            .unwrap_err()
            .to_string()
            .contains("not provided"));
        assert!(Action::parse("mkdir:", false).is_err());
        assert!(Action::parse("nocolon", false).is_err());
    }
}
