//! Options of the processes and shared services beside the workers: spoolers, attached
//! daemons, cron, caches, locks, hooks, the stats and metrics endpoints.
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use std::path::PathBuf;

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::Config;

/// `hook-*/exec-*`.
pub(crate) fn hook(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let (phase, exec_form) = crate::hooks::Phase::of_option(v.option).expect("checked");
    let value = v.non_empty()?;
    let action = crate::hooks::Action::parse(&value, exec_form).map_err(|e| v.caused_by(e))?;
    config.hooks.add(
        phase,
        action,
        format!("{} = {value} ({})", v.entry.key, v.entry.origin),
    );
    Ok(())
}

/// `cron`, `unique-cron`.
pub(crate) fn cron(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let rule = v.non_empty()?;
    let job = crate::sys::cron::CronJob::parse(&rule).map_err(|e| v.caused_by(e))?;
    config.children.crons.push((job, v.option == "unique-cron"));
    Ok(())
}

/// `attach-daemon2`.
pub(crate) fn attach_daemon2(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (command, stop_signal, pidfile) = parse_attach_daemon2(&value).map_err(|m| v.error(m))?;
    match pidfile {
        Some(pidfile) => config
            .children
            .smart_attach_daemons
            .push((pidfile, command)),
        None => config.children.attach_daemons.push((command, stop_signal)),
    };
    Ok(())
}

/// `mule` (a bare `mule` or `mule = true`: a looping mule).
pub(crate) fn mule(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let program = crate::config::mules::parse_mule(v.value.as_deref()).map_err(|m| v.error(m))?;
    config.mules.programs.push(program);
    Ok(())
}

/// `mules = N`: N looping mules (0, the default, adds none).
pub(crate) fn mules(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let count = usize::try_from(v.number()?).map_err(|_| v.error("too many mules"))?;
    let looping = std::iter::repeat_n(crate::config::mules::MuleProgram::Loop, count);
    config.mules.programs.extend(looping);
    Ok(())
}

/// `farm = NAME:ID[,ID...]`.
pub(crate) fn farm(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let farm = crate::config::mules::parse_farm(&value).map_err(|m| v.error(m))?;
    config.mules.farms.push(farm);
    Ok(())
}

/// `smart-attach-daemon`.
pub(crate) fn smart_attach_daemon(
    config: &mut Config,
    v: &mut Value<'_>,
) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (pidfile, command) = value
        .split_once(char::is_whitespace)
        .map(|(p, c)| (p, c.trim()))
        .filter(|(_, c)| !c.is_empty())
        .ok_or_else(|| v.error("expected PIDFILE COMMAND"))?;
    config
        .children
        .smart_attach_daemons
        .push((PathBuf::from(pidfile), command.to_string()));
    Ok(())
}

/// Why an `attach-daemon2` value is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachDaemon2Error {
    NotKeyValue(String),
    NotASignal(String),
    UnknownKey(String),
    NoCommand,
}

impl std::fmt::Display for AttachDaemon2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachDaemon2Error::NotKeyValue(item) => write!(f, "expected KEY=VALUE, got '{item}'"),
            AttachDaemon2Error::NotASignal(value) => {
                write!(f, "stopsignal: '{value}' is not a signal number")
            }
            AttachDaemon2Error::UnknownKey(key) => write!(
                f,
                "key '{key}' is not provided (cmd, stopsignal and pidfile are)"
            ),
            AttachDaemon2Error::NoCommand => write!(f, "cmd=COMMAND is required"),
        }
    }
}

impl std::error::Error for AttachDaemon2Error {}

/// `attach-daemon2 = cmd=COMMAND,stopsignal=N,pidfile=PATH`: uWSGI's key=value list
/// (`\,` is a literal comma). Returns (command, stop signal, pidfile).
fn parse_attach_daemon2(value: &str) -> Result<(String, i32, Option<PathBuf>), AttachDaemon2Error> {
    let mut items = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => items.last_mut().expect("one item").extend(chars.next()),
            ',' => items.push(String::new()),
            c => items.last_mut().expect("one item").push(c),
        }
    }
    let (mut command, mut stop_signal, mut pidfile) = (None, nix::libc::SIGTERM, None);
    for item in items.iter().filter(|i| !i.trim().is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| AttachDaemon2Error::NotKeyValue(item.clone()))?;
        match key.trim() {
            "cmd" | "command" | "exec" => command = Some(value.to_string()),
            "stopsignal" | "stop_signal" => {
                stop_signal = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| nix::sys::signal::Signal::try_from(*n).is_ok())
                    .ok_or_else(|| AttachDaemon2Error::NotASignal(value.to_string()))?
            }
            "pidfile" => pidfile = Some(PathBuf::from(value.trim())),
            other => return Err(AttachDaemon2Error::UnknownKey(other.to_string())),
        }
    }
    let command = command
        .filter(|c| !c.trim().is_empty())
        .ok_or(AttachDaemon2Error::NoCommand)?;
    Ok((command, stop_signal, pidfile))
}
