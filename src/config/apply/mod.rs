//! How each option's value reaches `Config`: the `Value` an option row's apply function
//! receives, and those functions, one file per part of the server. One-line ones are
//! written in the option's row itself (`options::table`).
//!
//! Owns: checking a value against what its option takes and storing it. Must not: read
//! files or sockets, or print (warnings are returned through `Value::warn`).

pub(super) mod app;
pub(super) mod compat;
pub(super) mod http;
pub(super) mod logging;
pub(super) mod processes;
pub(super) mod services;
pub(super) mod sockets;

use std::fmt;
use std::time::Duration;

use super::entries::Entry;
use super::error::ConfigError;
use super::values;

/// What an option row's apply function gets: the entry as written, its option, and where
/// warnings and `print` messages go.
pub struct Value<'a> {
    pub entry: &'a Entry,
    /// The option's name as its row spells it (not an alias).
    pub option: &'static str,
    /// The value as written (`None`: the key alone, a flag set to true); an inline comment
    /// removed by `strip_inline_comment`.
    pub value: Option<String>,
    /// Every entry of the configuration (`show-config` lists them).
    pub entries: &'a [Entry],
    pub notes: &'a mut Notes,
}

/// Non-fatal findings of `build`, returned to the caller to log.
#[derive(Debug, Default)]
pub struct Notes {
    pub warnings: Vec<String>,
    /// `print` texts and, with `show-config`, every entry.
    pub messages: Vec<String>,
}

impl<'a> Value<'a> {
    pub fn new(
        entry: &'a Entry,
        option: &'static str,
        entries: &'a [Entry],
        notes: &'a mut Notes,
    ) -> Value<'a> {
        Value {
            entry,
            option,
            value: entry.value.clone(),
            entries,
            notes,
        }
    }

    /// The value as written, empty when there is none.
    pub fn text(&self) -> String {
        self.value.clone().unwrap_or_default()
    }

    /// The value trimmed; an error when there is none.
    pub fn non_empty(&self) -> Result<String, ConfigError> {
        match self.value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(self.error("needs a value")),
        }
    }

    pub fn flag(&self) -> Result<bool, ConfigError> {
        // Named as the line spells it (`lazy_apps`), as uWSGI's message does.
        values::parse_flag(self.value.as_deref()).map_err(|e| {
            ConfigError::invalid(
                &self.entry.origin,
                &self.entry.key,
                self.value.as_deref(),
                e,
            )
        })
    }

    pub fn number(&self) -> Result<u64, ConfigError> {
        values::parse_number(self.value.as_deref()).map_err(|e| self.error(e))
    }

    pub fn bytes(&self) -> Result<u64, ConfigError> {
        values::parse_bytes(self.value.as_deref()).map_err(|e| self.error(e))
    }

    /// A number of seconds from 1 to a day (timeouts).
    pub fn seconds(&self) -> Result<Duration, ConfigError> {
        let n = self.number()?;
        if n == 0 || n > 86_400 {
            return Err(self.error("must be between 1 and 86400 seconds"));
        }
        Ok(Duration::from_secs(n))
    }

    /// A count of processes or threads: at least 1.
    pub fn count(&self) -> Result<usize, ConfigError> {
        match usize::try_from(self.number()?).unwrap_or(usize::MAX) {
            0 => Err(self.error("must be at least 1")),
            n => Ok(n),
        }
    }

    /// A number of seconds where 0 means never.
    pub fn optional_seconds(&self) -> Result<Option<Duration>, ConfigError> {
        Ok(Some(self.number()?)
            .filter(|n| *n > 0)
            .map(Duration::from_secs))
    }

    /// `option 'NAME' = 'VALUE': REASON` at the entry's origin.
    pub fn error(&self, reason: impl fmt::Display) -> ConfigError {
        ConfigError::invalid(
            &self.entry.origin,
            self.option,
            self.value.as_deref(),
            reason,
        )
    }

    /// As [`Value::error`], wrapping a lower layer's typed error (kept as the `source`).
    pub fn caused_by(&self, cause: impl std::error::Error + Send + Sync + 'static) -> ConfigError {
        ConfigError::caused_by(
            &self.entry.origin,
            self.option,
            self.value.as_deref(),
            cause,
        )
    }

    pub fn warn(&mut self, warning: String) {
        self.notes.warnings.push(warning);
    }

    /// A name never contains a blank: `module = app:app ;the file` loses its comment, with
    /// a warning (uWSGI would take the comment as part of the name and fail to load).
    pub fn strip_inline_comment(&mut self) {
        let Some(value) = self.value.as_deref() else {
            return;
        };
        let kept = values::without_inline_comment(value.trim());
        if kept != value.trim() {
            let kept = kept.to_string();
            self.warn(format!(
                "{}: inline comment after '{}' ignored (uWSGI would take it as part of the value)",
                self.entry.origin, self.option
            ));
            self.value = Some(kept);
        }
    }
}
