//! Options of logging (destinations, formats, encoders, routes) and of alarms raised from
//! log lines.
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use std::path::PathBuf;

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::Config;
use crate::config::values::DEFAULT_LOG_DATE;
use crate::log::RequestLogger;

/// `log-date`.
pub(crate) fn log_date(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.logging.log_date = match v.value.as_deref().map(str::trim) {
        None | Some("") => Some(DEFAULT_LOG_DATE.to_string()),
        Some(v) if v.contains('%') => Some(v.to_string()),
        Some(_) => v.flag()?.then(|| DEFAULT_LOG_DATE.to_string()),
    };
    Ok(())
}

/// `logger`.
pub(crate) fn logger(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    // `logger = NAME file:/path`: a named logger, used only through log-route.
    let (name, destination) = match value.split_once(' ') {
        Some((name, rest)) if !name.contains(':') => (Some(name), rest.trim()),
        _ => (None, value.as_str()),
    };
    let destination = RequestLogger::parse(destination).map_err(|e| v.caused_by(e))?;
    match (name, destination) {
        (Some(name), destination) => config
            .logging
            .named_loggers
            .push((name.to_string(), destination)),
        (None, RequestLogger::File(path)) => config.logging.logto = Some(path),
        (None, RequestLogger::Stdio) => {}
        (None, RequestLogger::Syslog(tag)) => config.logging.syslog = Some(tag),
    };
    Ok(())
}

/// `log-route`.
pub(crate) fn log_route(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (name, pattern) = value
        .split_once(' ')
        .ok_or_else(|| v.error("expected NAME REGEXP"))?;
    let pattern = regex::Regex::new(pattern.trim()).map_err(|e| v.error(e))?;
    config.logging.log_routes.push((name.to_string(), pattern));
    Ok(())
}

/// `log-encoder`, `log-req-encoder`.
pub(crate) fn log_encoder(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    // Not trimmed at the end: `prefix [app] ` keeps its space.
    v.non_empty()?;
    let value = v.text().trim_start().to_string();
    crate::log::encoder::parse(&value).map_err(|e| v.caused_by(e))?;
    if v.option == "log-encoder" {
        config.logging.log_encoders.push(value);
    } else {
        config.logging.log_req_encoders.push(value);
    };
    Ok(())
}

/// `logto2`.
pub(crate) fn logto2(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.logging.logto = Some(PathBuf::from(v.non_empty()?));
    config.logging.logto_after_drop = true;
    Ok(())
}

/// `req-logger`.
pub(crate) fn req_logger(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    config.logging.req_logger = Some(RequestLogger::parse(&value).map_err(|e| v.caused_by(e))?);
    Ok(())
}

/// `alarm-log`.
pub(crate) fn alarm_log(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config
        .alarms
        .log_alarms
        .push(crate::alarms::parse_log_alarm(&v.non_empty()?).map_err(|e| v.caused_by(e))?);
    Ok(())
}

/// `print`: the text is logged while the configuration is read.
pub(crate) fn print(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let text = v.text();
    v.notes.messages.push(text);
    Ok(())
}

/// `show-config`: every entry with where it was written.
pub(crate) fn show_config(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    if v.flag()? {
        for e in v.entries {
            v.notes.messages.push(format!(
                "config: {} = {} ({})",
                e.key,
                e.value.as_deref().unwrap_or("true"),
                e.origin
            ));
        }
    }
    Ok(())
}

/// `alarm = NAME cmd:COMMAND`; another alarm type warns and is left out.
pub(crate) fn alarm(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    match crate::alarms::parse_alarm(&v.non_empty()?) {
        Ok(alarm) => config.alarms.alarms.push(alarm),
        Err(message) => {
            let warning = format!("{}: alarm not honoured: {message}", v.entry.origin);
            v.warn(warning);
        }
    }
    Ok(())
}
