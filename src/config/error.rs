//! The configuration layer's errors: what is wrong, with the place it was written.
//!
//! Owns: the wording of fatal configuration messages (`file:line: option 'x' = 'v': why`).
//! Must not: decide what is an error (the readers and the option rows do).

use std::fmt;

use super::entries::{Origin, SourceError};

/// A fatal configuration error: where, which option, what is wrong.
#[derive(Debug)]
pub struct ConfigError {
    pub origin: Origin,
    pub kind: ErrorKind,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// A value the option does not take. `option` is the name as the row or the line
    /// spells it; `value` as written; `reason` the lower layer's error (a parser's typed
    /// error, kept as the `source`) or the option row's own words.
    Invalid {
        option: String,
        value: String,
        reason: Reason,
    },
    /// An unknown option under `strict`, with the likely meant one.
    Unknown {
        key: String,
        hint: Option<&'static str>,
    },
    /// The command line or an ini file cannot be read (see `source`).
    Source(String),
}

impl ConfigError {
    pub fn invalid(
        origin: &Origin,
        option: &str,
        value: Option<&str>,
        reason: impl fmt::Display,
    ) -> ConfigError {
        ConfigError::invalid_for(origin, option, value, Reason::Text(reason.to_string()))
    }

    /// As [`ConfigError::invalid`], keeping the lower layer's error itself (its message
    /// is the reason; `source()` returns it).
    pub fn caused_by(
        origin: &Origin,
        option: &str,
        value: Option<&str>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> ConfigError {
        ConfigError::invalid_for(origin, option, value, Reason::Cause(Box::new(cause)))
    }

    fn invalid_for(
        origin: &Origin,
        option: &str,
        value: Option<&str>,
        reason: Reason,
    ) -> ConfigError {
        ConfigError {
            origin: origin.clone(),
            kind: ErrorKind::Invalid {
                option: option.to_string(),
                value: value.unwrap_or("").to_string(),
                reason,
            },
        }
    }

    /// The message without the origin (`rwsgi --check` prints the origin apart).
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::Invalid {
                option,
                value,
                reason,
            } => format!("option '{option}' = '{value}': {reason}"),
            ErrorKind::Unknown { key, hint } => format!(
                "unknown option '{key}' (strict mode){}",
                hint.map(|s| format!("; did you mean '{s}'?"))
                    .unwrap_or_default()
            ),
            ErrorKind::Source(message) => message.clone(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message())
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Invalid {
                reason: Reason::Cause(cause),
                ..
            } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// Why a value is refused: the option row's words, or a lower layer's typed error
/// (a hook, a route, a cron rule, an alarm...) whose `Display` is the message.
#[derive(Debug)]
pub enum Reason {
    Text(String),
    Cause(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Text(text) => f.write_str(text),
            Reason::Cause(cause) => cause.fmt(f),
        }
    }
}

impl From<SourceError> for ConfigError {
    fn from(e: SourceError) -> Self {
        ConfigError {
            origin: e.origin,
            kind: ErrorKind::Source(e.message),
        }
    }
}

/// `check_complete`'s refusal: the configuration names no application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoApplication;

impl fmt::Display for NoApplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no application given: set 'module', 'wsgi-file', 'paste' or 'mount'")
    }
}

impl std::error::Error for NoApplication {}
