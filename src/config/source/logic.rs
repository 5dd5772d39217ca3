//! uWSGI's configuration logic in ini files: `if-env` ... `endif` blocks and `for` loops.
//!
//! Owns: expanding the blocks of one file's entries. Must not: read ini files (it may look
//! at the environment and the file system, as the conditions ask).

use std::path::Path;

use crate::config::entries::{Entry, SourceError};
use crate::config::options;

/// uWSGI's configuration logic: `if-env`, `if-not-env`, `if-exists`, `if-not-exists`,
/// `if-file`, `if-not-file`, `if-dir`, `if-not-dir` ... `endif`, and `for` / `for-glob` ...
/// `endfor`, with `%(_)` standing for the condition's value or the loop's item. Blocks may
/// contain blocks of another kind.
pub(super) fn expand_logic(lines: Vec<Entry>) -> Result<Vec<Entry>, SourceError> {
    let mut out = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let entry = &lines[index];
        let key = match options::normalize(&entry.key).as_str() {
            // uWSGI's spellings without the dash.
            "ifenv" => "if-env".to_string(),
            "ifnotenv" => "if-not-env".to_string(),
            "ifexists" => "if-exists".to_string(),
            "ifnotexists" => "if-not-exists".to_string(),
            other => other.to_string(),
        };
        if key == "endif" || key == "endfor" {
            return Err(SourceError {
                origin: entry.origin.clone(),
                message: format!("'{}' without a block to end", entry.key),
            });
        }
        let Some((closing, items)) = block(&key, &entry.value.clone().unwrap_or_default()) else {
            out.push(entry.clone());
            index += 1;
            continue;
        };
        let end = block_end(&lines, index, closing).ok_or_else(|| SourceError {
            origin: entry.origin.clone(),
            message: format!("'{}' without '{closing}'", entry.key),
        })?;
        for item in items {
            let body: Vec<Entry> = lines[index + 1..end]
                .iter()
                .map(|l| Entry {
                    key: l.key.clone(),
                    value: l.value.as_ref().map(|v| v.replace("%(_)", &item)),
                    origin: l.origin.clone(),
                })
                .collect();
            out.extend(expand_logic(body)?);
        }
        index = end + 1;
    }
    Ok(out)
}

/// A block-opening key: its closing key and the values `%(_)` takes in its body, one
/// pass each (none when a condition does not hold). `None` for any other key.
fn block(key: &str, argument: &str) -> Option<(&'static str, Vec<String>)> {
    match key {
        "for" => Some((
            "endfor",
            argument.split_whitespace().map(str::to_string).collect(),
        )),
        "for-glob" => Some(("endfor", glob(argument))),
        "if-env" | "if-not-env" | "if-exists" | "if-not-exists" | "if-file" | "if-not-file"
        | "if-dir" | "if-not-dir" => {
            let negated = key.starts_with("if-not-");
            let (holds, value) = match key.trim_start_matches("if-not-").trim_start_matches("if-") {
                "env" => match std::env::var(argument) {
                    Ok(v) if !v.is_empty() => (true, v),
                    _ => (false, argument.to_string()),
                },
                "exists" => (Path::new(argument).exists(), argument.to_string()),
                "file" => (Path::new(argument).is_file(), argument.to_string()),
                _ => (Path::new(argument).is_dir(), argument.to_string()),
            };
            let items = if holds != negated {
                vec![value]
            } else {
                Vec::new()
            };
            Some(("endif", items))
        }
        _ => None,
    }
}

/// The index of the key that closes the block opened at `index`, skipping nested blocks
/// of the same kind.
fn block_end(lines: &[Entry], index: usize, closing: &str) -> Option<usize> {
    let mut depth = 0;
    lines[index + 1..]
        .iter()
        .position(|l| {
            let k = options::normalize(&l.key);
            let opens = if closing == "endif" {
                k.starts_with("if-")
            } else {
                k == "for" || k == "for-glob"
            };
            if opens {
                depth += 1;
            } else if k == closing {
                if depth == 0 {
                    return true;
                }
                depth -= 1;
            }
            false
        })
        .map(|p| index + 1 + p)
}

/// `dir/*.ini`-style patterns (`*` and `?` in the last component), sorted.
fn glob(pattern: &str) -> Vec<String> {
    let path = Path::new(pattern);
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            },
            n.to_string_lossy(),
        ),
        _ => return Vec::new(),
    };
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
                .map(|e| dir.join(e.file_name()).display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], text) || (!text.is_empty() && wildcard(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard(&pattern[1..], &text[1..]),
        _ => false,
    }
}
