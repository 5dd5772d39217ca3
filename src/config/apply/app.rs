//! Options of the application: what to import and how (module, wsgi-file, mount, virtualenv,
//! Python path and environment).
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use std::path::PathBuf;

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::Config;

/// `env`.
pub(crate) fn env(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.text();
    let (key, val) = value
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| v.error("expected KEY=VALUE"))?;
    config.app.env.push((key.to_string(), val.to_string()));
    Ok(())
}

/// `mount`.
pub(crate) fn mount(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (mountpoint, app) = value
        .split_once('=')
        .filter(|(m, a)| !m.is_empty() && !a.is_empty())
        .ok_or_else(|| v.error("expected /PREFIX=APP or HOST=APP"))?;
    let mountpoint = if mountpoint.starts_with('/') {
        mountpoint.trim_end_matches('/').to_string()
    } else {
        mountpoint.to_ascii_lowercase()
    };
    config.app.mounts.push((mountpoint, app.to_string()));
    Ok(())
}

/// `py-autoreload`.
pub(crate) fn py_autoreload(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.master.py_autoreload = v.optional_seconds()?;
    Ok(())
}

/// `module = MOD[:CALLABLE]`.
pub(crate) fn module(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.strip_inline_comment();
    let value = v.non_empty()?;
    match value.split_once(':') {
        Some((module, callable)) => {
            config.app.module = Some(module.to_string());
            config.app.callable = callable.to_string();
        }
        None => config.app.module = Some(value),
    }
    Ok(())
}

/// `wsgi-file`.
pub(crate) fn wsgi_file(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.strip_inline_comment();
    config.app.wsgi_file = Some(PathBuf::from(v.non_empty()?));
    Ok(())
}

/// `callable`.
pub(crate) fn callable(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    v.strip_inline_comment();
    config.app.callable = v.non_empty()?;
    Ok(())
}
