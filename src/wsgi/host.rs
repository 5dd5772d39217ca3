//! Which process hosts the Python interpreter, and which interpreter serves the application.
//!
//! rwsgi runs two ways with the same serving code: the `rwsgi` binary embeds the libpython
//! it was built against, and the wheel's (or the Debian package's) extension module is
//! loaded by a Python process that already runs. A virtualenv (`home`) made with another
//! Python is served by that Python: the extension host re-runs itself under the venv's
//! interpreter, the embedding binary hands over to the `rwsgi` the venv has installed, and
//! where neither can be done the start stops with both versions and the fix.
//!
//! Owns: reading `pyvenv.cfg`, the choice between serving here and running again elsewhere,
//! and how to run this rwsgi again (reload's re-exec). Must not: start the interpreter (that
//! is `interpreter`) or read any other part of the configuration.

use std::ffi::CString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The Python version the embedding binary links (set by build.rs).
const EMBEDDED_VERSION: &str = env!("RWSGI_BUILD_PYTHON_VERSION");
/// Oldest CPython the extension module loads in (pyo3's `abi3-py310`).
const OLDEST_PYTHON: (u32, u32) = (3, 10);
/// Set on the way into another interpreter, so a venv that still does not match after the
/// hand-over stops with an error instead of looping.
const FOLLOWED_VAR: &str = "RWSGI_FOLLOWED_VIRTUALENV";
/// What the extension host runs as `python -c`: puts rwsgi's package directory on sys.path
/// only for as long as importing rwsgi takes (the application never sees it), then starts.
/// Its first argument is that directory; the rest are rwsgi's own arguments.
pub const BOOTSTRAP: &str = "import sys;d=sys.argv.pop(1);a=d not in sys.path;a and sys.path.insert(0,d);import rwsgi.__main__ as m;a and sys.path.remove(d);m.main()";

/// How this process came to run rwsgi.
#[derive(Clone, Debug)]
pub enum PythonHost {
    /// The `rwsgi` binary: it starts CPython itself, with PyConfig.
    Embedded,
    /// A Python process imported rwsgi's extension module; CPython is already running.
    Extension {
        /// `sys.executable` of the host (a venv's `bin/python3` keeps that venv).
        python: PathBuf,
        /// The directory that holds the `rwsgi` package (site-packages or dist-packages).
        package_dir: PathBuf,
        /// `sys.prefix` and `sys.base_prefix` of the host.
        prefix: PathBuf,
        base_prefix: PathBuf,
        /// `sys.version_info[:2]`.
        version: (u32, u32),
        /// The host was started without `site` (`-S`).
        no_site: bool,
    },
}

impl PythonHost {
    /// Whether CPython is already initialised in this process.
    pub fn python_running(&self) -> bool {
        matches!(self, PythonHost::Extension { .. })
    }

    /// What `--version` says of the interpreter.
    pub fn describe(&self) -> String {
        match self {
            PythonHost::Embedded => format!(
                "embeds Python {EMBEDDED_VERSION}, {}",
                env!("RWSGI_BUILD_PYTHON")
            ),
            PythonHost::Extension {
                python, version, ..
            } => format!(
                "Python {}.{} extension module, {}",
                version.0,
                version.1,
                python.display()
            ),
        }
    }

    /// The command that runs this rwsgi again in a fresh image (reload), arguments to follow.
    pub fn relaunch(&self) -> Command {
        match self {
            PythonHost::Embedded => Command {
                program: std::env::current_exe()
                    .unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
                leading: Vec::new(),
                reason: String::new(),
            },
            PythonHost::Extension {
                python,
                package_dir,
                no_site,
                ..
            } => python_command(python, package_dir, *no_site, String::new()),
        }
    }
}

/// What to do about the configured virtualenv.
pub enum Follow {
    /// This process serves it.
    Here,
    /// Another program must: exec it with rwsgi's arguments.
    Exec(Command),
}

/// A program and the arguments that go before rwsgi's own.
pub struct Command {
    pub program: PathBuf,
    pub leading: Vec<String>,
    /// Why it is run (logged before the exec).
    reason: String,
}

impl Command {
    pub fn describe(&self) -> String {
        format!("{}: running {}", self.reason, self.program.display())
    }

    /// Replaces this process image; returns only the error. `execv` itself (not std's
    /// Command) keeps the blocked signal mask and every inherited descriptor.
    pub fn exec(&self, args: &[String]) -> String {
        let program = match CString::new(self.program.as_os_str().as_encoded_bytes()) {
            Ok(c) => c,
            Err(e) => return e.to_string(),
        };
        let mut argv = vec![program.clone()];
        for arg in self.leading.iter().chain(args) {
            match CString::new(arg.as_bytes()) {
                Ok(c) => argv.push(c),
                Err(e) => return e.to_string(),
            }
        }
        match nix::unistd::execv(&program, &argv) {
            Ok(never) => match never {},
            Err(e) => format!("cannot run {}: {e}", self.program.display()),
        }
    }
}

/// Why the configured virtualenv cannot be served.
#[derive(Debug)]
pub enum FollowError {
    NotADirectory(PathBuf),
    NoInterpreter(PathBuf),
    NoVersion(PathBuf),
    BadVersion(PathBuf, String),
    TooOld {
        venv: PathBuf,
        version: (u32, u32),
    },
    Mismatch {
        venv: PathBuf,
        version: (u32, u32),
        ours: String,
    },
    StillMismatched {
        venv: PathBuf,
    },
}

impl fmt::Display for FollowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowError::NotADirectory(path) => write!(
                f,
                "home/virtualenv '{}' does not exist or is not a directory",
                path.display()
            ),
            FollowError::NoInterpreter(path) => write!(
                f,
                "home/virtualenv '{}' has no bin/python3: not a virtualenv or Python installation",
                path.display()
            ),
            FollowError::NoVersion(cfg) => write!(
                f,
                "{} names no Python version (no 'version' line): recreate the virtualenv with 'python3 -m venv'",
                cfg.display()
            ),
            FollowError::BadVersion(cfg, text) => write!(
                f,
                "{}: cannot read the Python version '{text}'",
                cfg.display()
            ),
            FollowError::TooOld { venv, version } => write!(
                f,
                "virtualenv '{}' uses Python {}.{}; rwsgi serves CPython {}.{} or newer: recreate it with a newer python3 -m venv",
                venv.display(),
                version.0,
                version.1,
                OLDEST_PYTHON.0,
                OLDEST_PYTHON.1
            ),
            FollowError::Mismatch { venv, version, ours } => write!(
                f,
                "virtualenv '{venv}' uses Python {}.{} but this rwsgi binary embeds Python {ours}: install rwsgi into the virtualenv ('{venv}/bin/pip install rwsgi') and run '{venv}/bin/rwsgi', or recreate the virtualenv with Python {ours}",
                version.0,
                version.1,
                venv = venv.display(),
            ),
            FollowError::StillMismatched { venv } => write!(
                f,
                "virtualenv '{}': the interpreter rwsgi handed over to does not serve it either (is its bin/python3 a link to another Python?)",
                venv.display()
            ),
        }
    }
}

impl std::error::Error for FollowError {}

/// Decides which interpreter serves `home` (uWSGI's `home`/`virtualenv`/`venv`).
pub fn follow_virtualenv(
    home: Option<&Path>,
    host: &PythonHost,
    no_site: bool,
) -> Result<Follow, FollowError> {
    // Only the hand-over itself sets it; a later reload decides afresh.
    let already_followed = std::env::var_os(FOLLOWED_VAR).is_some();
    std::env::remove_var(FOLLOWED_VAR);
    // `no-site` is an interpreter flag: a host started with site runs again with -S.
    let needs_no_site = no_site && matches!(host, PythonHost::Extension { no_site: false, .. });
    let here = || {
        if needs_no_site {
            Follow::Exec(relaunch_with(host, true, "no-site"))
        } else {
            Follow::Here
        }
    };
    let Some(home) = home else {
        return Ok(here());
    };
    if !home.is_dir() {
        return Err(FollowError::NotADirectory(home.to_path_buf()));
    }
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let venv = Venv {
        version: venv_version(&home)?,
        home,
        already_followed,
    };
    match host {
        PythonHost::Embedded => venv.follow_from_embedded(),
        PythonHost::Extension {
            package_dir,
            prefix,
            base_prefix,
            version,
            ..
        } => {
            let same = |p: &Path| same_path(p, &venv.home);
            let served_here = if venv.version.is_some() {
                same(prefix)
            } else {
                same(prefix) || same(base_prefix)
            };
            if served_here {
                return Ok(here());
            }
            venv.follow_from_extension(package_dir, prefix, *version, no_site)
        }
    }
}

/// The configured `home`, as `follow_virtualenv` found it.
struct Venv {
    home: PathBuf,
    /// Its `pyvenv.cfg` version; none for a Python installation (not a venv).
    version: Option<(u32, u32)>,
    /// This process is the hand-over's result already.
    already_followed: bool,
}

impl Venv {
    /// The embedding binary: serves a venv of its own Python, else hands over to the
    /// venv's installed `rwsgi`, else says why neither can be done.
    fn follow_from_embedded(self) -> Result<Follow, FollowError> {
        let Some(version) = self.version else {
            // A Python home, not a venv: PyConfig.home, as before.
            return Ok(Follow::Here);
        };
        if Some(version) == parse_version(EMBEDDED_VERSION) {
            return Ok(Follow::Here);
        }
        let home = self.home;
        let installed = home.join("bin").join("rwsgi");
        if installed.is_file() && !self.already_followed && version >= OLDEST_PYTHON {
            std::env::set_var(FOLLOWED_VAR, &home);
            return Ok(Follow::Exec(Command {
                reason: format!(
                    "virtualenv '{}' uses Python {}.{} (this binary embeds {EMBEDDED_VERSION}): handing over to its own rwsgi",
                    home.display(),
                    version.0,
                    version.1
                ),
                program: installed,
                leading: Vec::new(),
            }));
        }
        if version < OLDEST_PYTHON {
            return Err(FollowError::TooOld {
                venv: home,
                version,
            });
        }
        Err(FollowError::Mismatch {
            venv: home,
            version,
            ours: EMBEDDED_VERSION.to_string(),
        })
    }

    /// The extension module in a Python that does not serve the venv: runs again under
    /// the venv's interpreter.
    fn follow_from_extension(
        self,
        package_dir: &Path,
        prefix: &Path,
        host_version: (u32, u32),
        no_site: bool,
    ) -> Result<Follow, FollowError> {
        let home = self.home;
        if let Some(version) = self.version {
            if version < OLDEST_PYTHON {
                return Err(FollowError::TooOld {
                    venv: home,
                    version,
                });
            }
        }
        let python = ["python3", "python"]
            .iter()
            .map(|name| home.join("bin").join(name))
            .find(|candidate| candidate.exists())
            .ok_or_else(|| FollowError::NoInterpreter(home.clone()))?;
        if self.already_followed {
            return Err(FollowError::StillMismatched { venv: home });
        }
        std::env::set_var(FOLLOWED_VAR, &home);
        let theirs = self
            .version
            .map(|(major, minor)| format!("Python {major}.{minor}"))
            .unwrap_or_else(|| "its own Python".to_string());
        let reason = format!(
            "home '{}' is served by {theirs} (this process runs Python {}.{} from {})",
            home.display(),
            host_version.0,
            host_version.1,
            prefix.display()
        );
        Ok(Follow::Exec(python_command(
            &python,
            package_dir,
            no_site,
            reason,
        )))
    }
}

fn relaunch_with(host: &PythonHost, no_site: bool, reason: &str) -> Command {
    match host {
        PythonHost::Extension {
            python,
            package_dir,
            ..
        } => python_command(python, package_dir, no_site, reason.to_string()),
        PythonHost::Embedded => host.relaunch(),
    }
}

/// `python -u [-S] -c BOOTSTRAP PACKAGE_DIR`: unbuffered stdio, as the embedding binary
/// configures it, so the application's output reaches the log as it is written.
fn python_command(python: &Path, package_dir: &Path, no_site: bool, reason: String) -> Command {
    let mut leading = vec!["-u".to_string()];
    if no_site {
        leading.push("-S".to_string());
    }
    leading.push("-c".to_string());
    leading.push(BOOTSTRAP.to_string());
    leading.push(package_dir.display().to_string());
    Command {
        program: python.to_path_buf(),
        leading,
        reason,
    }
}

/// The venv's Python version from its `pyvenv.cfg` (`version` from venv, `version_info`
/// from virtualenv and uv); None when `home` is not a venv at all.
fn venv_version(home: &Path) -> Result<Option<(u32, u32)>, FollowError> {
    let cfg = home.join("pyvenv.cfg");
    let Ok(text) = std::fs::read_to_string(&cfg) else {
        return Ok(None);
    };
    let value = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_string())
    });
    let value = value.ok_or_else(|| FollowError::NoVersion(cfg.clone()))?;
    parse_version(&value)
        .map(Some)
        .ok_or(FollowError::BadVersion(cfg, value))
}

/// "3.13.5" or "3.13.5.final.0" → (3, 13).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next()?.trim().parse().ok()?;
    Some((major, minor))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_from_venv_and_virtualenv() {
        assert_eq!(parse_version("3.13.5"), Some((3, 13)));
        assert_eq!(parse_version("3.10.13.final.0"), Some((3, 10)));
        assert_eq!(parse_version("3"), None);
        assert_eq!(parse_version("x.y"), None);
    }
}
