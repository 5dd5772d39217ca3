//! Options accepted for uWSGI compatibility: their values are checked (a typo is still an
//! error) and they change nothing, because rwsgi already behaves so.

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::Config;

/// A no-op boolean option: its value must still be a boolean.
pub(crate) fn accept_flag(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.flag()?;
    Ok(())
}

/// A no-op numeric option: its value must still be a number.
pub(crate) fn accept_number(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.number()?;
    Ok(())
}

/// A no-op size option: its value must still be a size.
pub(crate) fn accept_bytes(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.bytes()?;
    Ok(())
}

/// A no-op option whose value is not read at all (`plugin-dir`, `binary-path`).
pub(crate) fn ignore(_: &mut Config, _: &mut Value<'_>) -> Result<(), ConfigError> {
    Ok(())
}

/// Rows marked `Unsupported`: `build` warns and never applies them.
pub(crate) fn not_honoured(_: &mut Config, _: &mut Value<'_>) -> Result<(), ConfigError> {
    Ok(())
}

/// `ini`: includes are expanded while the files are read (`source`), so none is left here.
pub(crate) fn ini(_: &mut Config, _: &mut Value<'_>) -> Result<(), ConfigError> {
    Ok(())
}

/// `plugins`: Python's plugins and the built-in ones pass; loop engines and any other
/// plugin warn that they are not honoured (the server still starts, as uWSGI starts with
/// unknown keys).
pub(crate) fn plugins(_: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let entry = v.entry;
    for plugin in v.text().split(',') {
        let plugin = plugin.trim();
        let is_python = plugin.is_empty()
            || plugin == "python"
            || plugin == "python3"
            || plugin.starts_with("python3")
                && plugin[7..].chars().all(|c| c.is_ascii_digit() || c == '_');
        let built_in = matches!(
            plugin,
            "http"
                | "logfile"
                | "syslog"
                | "router_static"
                | "router_redirect"
                | "router_rewrite"
                | "corerouter"
                | "cheaper_busyness"
        );
        let loop_engine = matches!(
            plugin,
            "gevent" | "ugreen" | "greenlet" | "asyncio" | "tornado"
        );
        let origin = &entry.origin;
        if loop_engine {
            let warning = format!(
                "{origin}: plugin '{plugin}' is not honoured: rwsgi has no loop engines; use threads"
            );
            v.warn(warning);
        } else if !is_python && !built_in {
            let warning = format!(
                "{origin}: plugin '{plugin}' is not honoured: rwsgi serves Python 3 WSGI applications with its built-in features only"
            );
            v.warn(warning);
        }
    }
    Ok(())
}
