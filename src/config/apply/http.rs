//! Options of what a worker answers without the application or adds to its responses:
//! static files, headers, internal routing.
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use std::path::PathBuf;

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::{Config, StaticMap};

/// `add-header`.
pub(crate) fn add_header(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (name, header_value) = value
        .split_once(':')
        .ok_or_else(|| v.error("expected 'Name: value'"))?;
    let mut check = crate::protocol::response::ResponseStart::default();
    check
        .add_header(name.trim(), header_value.trim())
        .map_err(|e| v.error(e))?;
    config
        .request
        .add_headers
        .push((name.trim().to_string(), header_value.trim().to_string()));
    Ok(())
}

/// `static-map`, `static-map2`.
pub(crate) fn static_map(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (prefix, root) = value
        .split_once('=')
        .filter(|(p, r)| p.starts_with('/') && !r.is_empty())
        .ok_or_else(|| v.error("expected /PREFIX=DIRECTORY"))?;
    config.statics.static_maps.push(StaticMap {
        prefix: prefix.to_string(),
        root: PathBuf::from(root),
        keep_prefix: v.option == "static-map2",
    });
    Ok(())
}

/// `static-expires-type`.
pub(crate) fn static_expires_type(
    config: &mut Config,
    v: &mut Value<'_>,
) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (mime, seconds) = value
        .split_once('=')
        .and_then(|(m, s)| Some((m.trim().to_string(), s.trim().parse::<u64>().ok()?)))
        .ok_or_else(|| v.error("expected MIME=SECONDS"))?;
    config.statics.static_expires.push((mime, seconds));
    Ok(())
}

/// `static-expires`, `static-expires-uri`.
pub(crate) fn static_expires(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    let (pattern, seconds) = value
        .rsplit_once(char::is_whitespace)
        .and_then(|(p, s)| Some((p.trim().to_string(), s.parse::<u64>().ok()?)))
        .ok_or_else(|| v.error("expected REGEXP SECONDS"))?;
    let pattern = regex::Regex::new(&pattern).map_err(|e| v.error(e))?;
    config.statics.static_expires_patterns.push((
        pattern,
        seconds,
        v.option == "static-expires-uri",
    ));
    Ok(())
}

/// `route`, `route-uri`, `route-host`, `route-user-agent`, `route-if`, `route-if-not`.
pub(crate) fn route(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let rule = v.non_empty()?;
    config
        .request
        .routes
        .push(crate::routing::Rule::parse(v.option, &rule).map_err(|e| v.caused_by(e))?);
    Ok(())
}
