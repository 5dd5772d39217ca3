//! The passes after every file is read: `$(ENV)`, `@(file)` / `@(exec://command)` and
//! `%(key)` references (with uWSGI's placeholder arithmetic).
//!
//! Owns: substituting references in values. Must not: interpret option values.

use crate::config::entries::{Entry, SourceError};
use crate::config::options;

/// After all files are read: `$(NAME)` from the environment, then `%(key)` from the first
/// entry with that key (any key, so made-up keys serve as variables, as in uWSGI).
pub(super) fn expand_references(entries: &mut [Entry]) -> Result<(), SourceError> {
    for entry in entries.iter_mut() {
        if let Some(value) = &entry.value {
            if value.contains("$(") {
                entry.value = Some(expand_environment(value));
            }
        }
        if let Some(value) = &entry.value {
            if value.contains("@(") {
                entry.value =
                    Some(
                        expand_file_contents(value).map_err(|unreadable| SourceError {
                            origin: entry.origin.clone(),
                            message: unreadable.to_string(),
                        })?,
                    );
            }
        }
    }
    // A placeholder may refer to a key whose value holds another placeholder: a few rounds.
    for _ in 0..8 {
        let mut changed = false;
        for index in 0..entries.len() {
            let Some(value) = entries[index].value.clone() else {
                continue;
            };
            if !value.contains("%(") {
                continue;
            }
            let expanded = expand_placeholders(&value, entries);
            if expanded != value {
                entries[index].value = Some(expanded);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

/// An `@(...)` reference whose file cannot be read or whose command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnreadableSource {
    source: String,
    reason: String,
}

impl std::fmt::Display for UnreadableSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "@({}): {}", self.source, self.reason)
    }
}

impl std::error::Error for UnreadableSource {}

/// `@(PATH)`: the contents of a file; `@(exec://COMMAND)`: what a shell command prints. One
/// trailing newline is dropped, so `@(/etc/app/secret)` gives the secret itself. Unlike a
/// missing `$(VAR)`, an unreadable source is an error: uWSGI refuses to start too.
pub(super) fn expand_file_contents(value: &str) -> Result<String, UnreadableSource> {
    let failure = std::cell::RefCell::new(None);
    let expanded = replace_references(value, "@(", |source| {
        let contents = match source.strip_prefix("exec://") {
            Some(command) => std::process::Command::new("/bin/sh")
                .args(["-c", command])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| e.to_string())
                .and_then(|output| {
                    if output.status.success() {
                        Ok(output.stdout)
                    } else {
                        Err(format!("exited with {}", output.status))
                    }
                }),
            None => std::fs::read(source.strip_prefix("file://").unwrap_or(source))
                .map_err(|e| e.to_string()),
        };
        match contents {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Some(text.strip_suffix('\r').unwrap_or(text).to_string())
            }
            Err(e) => {
                failure.replace(Some(UnreadableSource {
                    source: source.to_string(),
                    reason: e,
                }));
                None
            }
        }
    });
    match failure.into_inner() {
        Some(unreadable) => Err(unreadable),
        None => Ok(expanded),
    }
}

pub(super) fn expand_environment(value: &str) -> String {
    replace_references(value, "$(", |name| std::env::var(name).ok())
}

fn expand_placeholders(value: &str, entries: &[Entry]) -> String {
    replace_references(value, "%(", |name| {
        if let Some(result) = arithmetic(name) {
            return Some(result);
        }
        let wanted = options::normalize(name);
        entries
            .iter()
            .find(|e| e.key == name || options::normalize(&e.key) == wanted)
            .map(|e| e.value.clone().unwrap_or_else(|| "true".into()))
    })
}

/// uWSGI's placeholder math, left to right: `%(4 * 2)`, `%(8 + 1)` (after `%k` and
/// friends were expanded). None unless every token is a number or an operator.
fn arithmetic(expression: &str) -> Option<String> {
    let mut tokens = expression.split_whitespace();
    let mut value: i64 = tokens.next()?.parse().ok()?;
    let mut any_operator = false;
    while let Some(operator) = tokens.next() {
        let operand: i64 = tokens.next()?.parse().ok()?;
        value = match operator {
            "+" => value.checked_add(operand)?,
            "-" => value.checked_sub(operand)?,
            "*" => value.checked_mul(operand)?,
            "/" => value.checked_div(operand)?,
            _ => return None,
        };
        any_operator = true;
    }
    any_operator.then(|| value.to_string())
}

/// Replaces `<opener>name)` by `lookup(name)`; unknown names are left as written.
fn replace_references(
    value: &str,
    opener: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> String {
    crate::sys::substitute::substitute(value, opener, ')', lookup)
}
