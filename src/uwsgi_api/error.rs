//! The uwsgi API's errors: setting up its shared state at start (each `configure`) and
//! reading a spooler task file (`spooler::parse`). Each displays the words the start-up
//! error and the log have always used.
//!
//! Must not: decide what happens on an error (the master's start-up and the spooler do).

use std::path::PathBuf;

use super::mule_pids::MAX_MULES;

/// Why the uwsgi API could not be set up at start.
#[derive(Debug)]
pub enum ConfigureError {
    /// The operating system refused something (shared memory, a socket pair, a directory):
    /// shown as `WHAT: CAUSE`.
    System {
        what: String,
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Two caches of the same name.
    CacheTwice(String),
    /// More mules than `MAX_MULES`.
    TooManyMules(usize),
    /// A farm naming a mule that does not exist.
    NoSuchMule {
        farm: String,
        mule: usize,
        count: usize,
    },
    /// A spooler directory that is something else.
    NotADirectory(PathBuf),
}

impl ConfigureError {
    pub(super) fn system(
        what: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ConfigureError {
        ConfigureError::System {
            what: what.into(),
            cause: cause.into(),
        }
    }
}

impl std::fmt::Display for ConfigureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigureError::System { what, cause } => write!(f, "{what}: {cause}"),
            ConfigureError::CacheTwice(name) => write!(f, "cache '{name}' is configured twice"),
            ConfigureError::TooManyMules(count) => {
                write!(f, "{count} mules: at most {MAX_MULES}")
            }
            ConfigureError::NoSuchMule { farm, mule, count } => write!(
                f,
                "farm {farm}: mule {mule} does not exist ({count} mule(s))"
            ),
            ConfigureError::NotADirectory(dir) => {
                write!(f, "spooler {}: not a directory", dir.display())
            }
        }
    }
}

impl std::error::Error for ConfigureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigureError::System { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// Why a spooler task file is not a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Fewer bytes than the 4-byte packet header.
    TooShort(usize),
    /// The header's modifier1 is not 17.
    NotATask(u8),
    /// The header announces more bytes of variables than the file holds.
    VariablesPastEnd(usize),
    /// A variable's 2-byte length is cut.
    TruncatedLength,
    /// A variable runs past the header's size.
    VariablePastHeader,
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskError::TooShort(len) => write!(f, "{len} bytes: shorter than a packet header"),
            TaskError::NotATask(modifier) => {
                write!(f, "modifier1 {modifier} is not a spooler task (17)")
            }
            TaskError::VariablesPastEnd(size) => write!(
                f,
                "header announces {size} bytes of variables; the file is shorter"
            ),
            TaskError::TruncatedLength => f.write_str("truncated variable length"),
            TaskError::VariablePastHeader => f.write_str("a variable runs past the header's size"),
        }
    }
}

impl std::error::Error for TaskError {}
