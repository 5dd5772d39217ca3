//! uWSGI's alarms: `alarm = NAME cmd:COMMAND` defines one; `alarm-log` / `log-alarm` raise
//! it for log lines matching a pattern, `alarm-segfault` when a worker dies of SIGSEGV,
//! `alarm-backlog` when a listen queue is full. Raising runs COMMAND with the message on
//! its standard input, at most once per `alarm-freq` seconds per alarm and process.
//!
//! Owns: the alarm table, throttling, and starting the command detached (it never blocks
//! the process that raised it). Must not: log through `log` while raising (a log alarm
//! would feed itself).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSpec {
    pub name: String,
    pub command: String,
}

/// `alarm = NAME TYPE:ARGS`: only the `cmd` type runs here.
pub fn parse_alarm(value: &str) -> Result<AlarmSpec, String> {
    let (name, definition) = value
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| "expected NAME cmd:COMMAND".to_string())?;
    let definition = definition.trim();
    match definition.split_once(':') {
        Some(("cmd", command)) if !command.trim().is_empty() => Ok(AlarmSpec {
            name: name.to_string(),
            command: command.trim().to_string(),
        }),
        Some((kind, _)) if kind != "cmd" => Err(format!(
            "alarm type '{kind}' is not provided; use cmd:COMMAND (the message arrives on its standard input)"
        )),
        _ => Err("expected NAME cmd:COMMAND".into()),
    }
}

/// `alarm-log` / `log-alarm = NAME[,NAME...] REGEXP`.
pub fn parse_log_alarm(value: &str) -> Result<(Vec<String>, Regex), String> {
    let (names, pattern) = value
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| "expected NAME REGEXP".to_string())?;
    let pattern =
        Regex::new(pattern.trim()).map_err(|e| format!("invalid regular expression: {e}"))?;
    Ok((names.split(',').map(str::to_string).collect(), pattern))
}

struct Table {
    alarms: Vec<AlarmSpec>,
    log_alarms: Vec<(Vec<String>, Regex)>,
    every: Duration,
    last_raised: Mutex<HashMap<String, Instant>>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

thread_local! {
    static RAISING: Cell<bool> = const { Cell::new(false) };
}

/// Sets the alarms up for this process and the workers it forks.
pub fn init(alarms: Vec<AlarmSpec>, log_alarms: Vec<(Vec<String>, Regex)>, every: Duration) {
    let _ = TABLE.set(Table {
        alarms,
        log_alarms,
        every,
        last_raised: Mutex::new(HashMap::new()),
    });
}

/// A log line was written: raise the alarms whose pattern it matches.
pub fn check_log_line(line: &str) {
    let Some(table) = TABLE.get() else { return };
    if table.log_alarms.is_empty() || RAISING.with(Cell::get) {
        return;
    }
    for (names, pattern) in &table.log_alarms {
        if pattern.is_match(line) {
            for name in names {
                raise(name, line);
            }
        }
    }
}

/// Runs alarm `name`'s command with `message` on its standard input, unless it ran less
/// than `alarm-freq` ago in this process. Unknown names are ignored (checked at start).
pub fn raise(name: &str, message: &str) {
    let Some(table) = TABLE.get() else { return };
    let Some(alarm) = table.alarms.iter().find(|a| a.name == name) else {
        return;
    };
    {
        let mut last = table.last_raised.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last
            .get(name)
            .is_some_and(|at| now.duration_since(*at) < table.every)
        {
            return;
        }
        last.insert(name.to_string(), now);
    }
    RAISING.with(|r| r.set(true));
    // The shell starts the command in the background and exits at once, so waiting for it
    // is short and leaves no zombie; the command is reparented when it outlives us.
    let script = format!(
        "printf '%s\\n' \"$RWSGI_ALARM_MESSAGE\" | {{ {} ; }} >/dev/null 2>&1 &",
        alarm.command
    );
    let _ = crate::sys::shell::shell_command(&script)
        .env("RWSGI_ALARM_MESSAGE", message)
        .env("RWSGI_ALARM", name)
        .stdin(std::process::Stdio::null())
        .status();
    RAISING.with(|r| r.set(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions() {
        assert_eq!(
            parse_alarm("mail cmd:mail -s alarm ops@example.org").unwrap(),
            AlarmSpec {
                name: "mail".into(),
                command: "mail -s alarm ops@example.org".into()
            }
        );
        assert!(parse_alarm("x curl:http://example.org")
            .unwrap_err()
            .contains("curl"));
        assert!(parse_alarm("lonely").is_err());
        let (names, pattern) = parse_log_alarm("a,b ^Traceback").unwrap();
        assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(pattern.as_str(), "^Traceback");
        assert!(parse_log_alarm("a ([").is_err());
    }
}
