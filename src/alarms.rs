//! uWSGI's alarms: `alarm = NAME cmd:COMMAND` defines one; `alarm-log` / `log-alarm` raise
//! it for log lines matching a pattern, `alarm-segfault` when a worker dies of SIGSEGV,
//! `alarm-backlog` when a listen queue is full. Raising runs COMMAND with the message on
//! its standard input, at most once per `alarm-freq` seconds per alarm.
//!
//! Any process may raise an alarm (a worker's log line, the master's reaper); raising only
//! sends the alarm's name and message over a datagram socket pair made at `init`, which every
//! process forked from the master inherits. The master alone runs the commands (see
//! `master::alarm_runs`), so each is the master's child in a process group of its own and is
//! stopped with the server, like every other command rwsgi starts.
//!
//! Owns: the alarm table, the per-process throttle (a flood of matching lines sends little),
//! the raise channel and its datagram format, and the command line that delivers the message.
//! Must not: start a process, block the process that raises, or log through `log` while
//! raising (a log alarm would feed itself).

use std::cell::Cell;
use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSpec {
    pub name: String,
    pub command: String,
}

/// Why an `alarm` or `alarm-log` value is refused.
#[derive(Debug)]
pub enum AlarmError {
    /// `alarm` without a name and a definition.
    Shape,
    /// `alarm = NAME TYPE:...` of a type rwsgi does not run.
    Type(String),
    /// `alarm-log` without names and a pattern.
    LogShape,
    Pattern(regex::Error),
}

impl std::fmt::Display for AlarmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlarmError::Shape => f.write_str("expected NAME cmd:COMMAND"),
            AlarmError::Type(kind) => write!(
                f,
                "alarm type '{kind}' is not provided; use cmd:COMMAND (the message arrives on its standard input)"
            ),
            AlarmError::LogShape => f.write_str("expected NAME REGEXP"),
            AlarmError::Pattern(e) => write!(f, "invalid regular expression: {e}"),
        }
    }
}

impl std::error::Error for AlarmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AlarmError::Pattern(e) => Some(e),
            _ => None,
        }
    }
}

/// `alarm = NAME TYPE:ARGS`: only the `cmd` type runs here.
pub fn parse_alarm(value: &str) -> Result<AlarmSpec, AlarmError> {
    let (name, definition) = value
        .trim()
        .split_once(char::is_whitespace)
        .ok_or(AlarmError::Shape)?;
    let definition = definition.trim();
    match definition.split_once(':') {
        Some(("cmd", command)) if !command.trim().is_empty() => Ok(AlarmSpec {
            name: name.to_string(),
            command: command.trim().to_string(),
        }),
        Some((kind, _)) if kind != "cmd" => Err(AlarmError::Type(kind.to_string())),
        _ => Err(AlarmError::Shape),
    }
}

/// `alarm-log` / `log-alarm = NAME[,NAME...] REGEXP`.
pub fn parse_log_alarm(value: &str) -> Result<(Vec<String>, Regex), AlarmError> {
    let (names, pattern) = value
        .trim()
        .split_once(char::is_whitespace)
        .ok_or(AlarmError::LogShape)?;
    let pattern = Regex::new(pattern.trim()).map_err(AlarmError::Pattern)?;
    Ok((names.split(',').map(str::to_string).collect(), pattern))
}

/// The longest message sent to the master (a datagram stays well inside one page).
const MAX_MESSAGE: usize = 2048;

struct Table {
    alarms: Vec<AlarmSpec>,
    log_alarms: Vec<(Vec<String>, Regex)>,
    every: Duration,
    last_raised: Mutex<HashMap<String, Instant>>,
    /// The raising end of the channel to the master (none without alarms).
    sender: Option<UnixDatagram>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// The master's end of the channel, until the master takes it.
static RECEIVER: Mutex<Option<UnixDatagram>> = Mutex::new(None);

thread_local! {
    static RAISING: Cell<bool> = const { Cell::new(false) };
}

/// Sets the alarms up for this process and the processes it forks. With alarms defined it
/// makes the channel to the master; the error says why it could not (alarms then never run).
pub fn init(
    alarms: Vec<AlarmSpec>,
    log_alarms: Vec<(Vec<String>, Regex)>,
    every: Duration,
) -> std::io::Result<()> {
    let mut failure = None;
    let sender = if alarms.is_empty() {
        None
    } else {
        match channel() {
            Ok((sender, receiver)) => {
                *RECEIVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(receiver);
                Some(sender)
            }
            Err(e) => {
                failure = Some(e);
                None
            }
        }
    };
    let _ = TABLE.set(Table {
        alarms,
        log_alarms,
        every,
        last_raised: Mutex::new(HashMap::new()),
        sender,
    });
    failure.map_or(Ok(()), Err)
}

/// A connected pair, close-on-exec (commands never inherit it) and non-blocking on both
/// ends: a raise never waits, and a full queue drops the alarm.
fn channel() -> std::io::Result<(UnixDatagram, UnixDatagram)> {
    let (sender, receiver) = UnixDatagram::pair()?;
    sender.set_nonblocking(true)?;
    receiver.set_nonblocking(true)?;
    Ok((sender, receiver))
}

/// The master's end of the channel (once; later calls get `None`).
pub fn take_receiver() -> Option<UnixDatagram> {
    RECEIVER.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Runs `f` (a log call) without raising log alarms for what it logs.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let before = RAISING.with(|r| r.replace(true));
    let out = f();
    RAISING.with(|r| r.set(before));
    out
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

/// Asks the master to run alarm `name`'s command with `message` on its standard input,
/// unless this process raised it less than `alarm-freq` ago. Unknown names are ignored
/// (checked at start).
pub fn raise(name: &str, message: &str) {
    let Some(table) = TABLE.get() else { return };
    let Some(sender) = &table.sender else { return };
    if !table.alarms.iter().any(|a| a.name == name) || !due(table, name) {
        return;
    }
    let _ = sender.send(&encode(name, message));
}

/// Whether `name` may be raised now in this process (and, if so, notes that it was).
fn due(table: &Table, name: &str) -> bool {
    let mut last = table.last_raised.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last
        .get(name)
        .is_some_and(|at| now.duration_since(*at) < table.every)
    {
        return false;
    }
    last.insert(name.to_string(), now);
    true
}

/// `NAME NUL MESSAGE`, the message cut to `MAX_MESSAGE` bytes on a character boundary.
fn encode(name: &str, message: &str) -> Vec<u8> {
    let mut end = message.len().min(MAX_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut datagram = Vec::with_capacity(name.len() + 1 + end);
    datagram.extend_from_slice(name.as_bytes());
    datagram.push(0);
    datagram.extend_from_slice(&message.as_bytes()[..end]);
    datagram
}

/// The (name, message) of a datagram `raise` sent.
pub fn decode(datagram: &[u8]) -> Option<(String, String)> {
    let split = datagram.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&datagram[..split]).ok()?;
    let message = String::from_utf8_lossy(&datagram[split + 1..]);
    Some((name.to_string(), message.into_owned()))
}

/// The command that runs alarm `name` (`sh -c`, in a process group of its own) with
/// `message` on its standard input, and the alarm's COMMAND for the log; `None` for an
/// unknown alarm. The caller spawns it.
pub fn command(name: &str, message: &str) -> Option<(std::process::Command, String)> {
    let alarm = TABLE.get()?.alarms.iter().find(|a| a.name == name)?;
    let script = format!(
        "printf '%s\\n' \"$RWSGI_ALARM_MESSAGE\" | {{ {} ; }}",
        alarm.command
    );
    let mut command = crate::sys::shell::shell_command(&script);
    command
        .env("RWSGI_ALARM_MESSAGE", message)
        .env("RWSGI_ALARM", name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    Some((command, alarm.command.clone()))
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
            .to_string()
            .contains("curl"));
        assert!(parse_alarm("lonely").is_err());
        let (names, pattern) = parse_log_alarm("a,b ^Traceback").unwrap();
        assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(pattern.as_str(), "^Traceback");
        assert!(parse_log_alarm("a ([").is_err());
    }

    #[test]
    fn datagrams_carry_name_and_message() {
        let datagram = encode("ops", "worker 1: Traceback\nline two");
        assert_eq!(
            decode(&datagram),
            Some(("ops".into(), "worker 1: Traceback\nline two".into()))
        );
        let long = "é".repeat(MAX_MESSAGE);
        let (_, message) = decode(&encode("ops", &long)).unwrap();
        assert!(message.len() <= MAX_MESSAGE && message.chars().all(|c| c == 'é'));
        assert_eq!(decode(b"no separator"), None);
    }
}
