//! Options of the listening sockets and connections (addresses, backlog, modes, request
//! limits and timeouts) and of the privileges the sockets are created under.
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use super::Value;
use crate::config::entries::Origin;
use crate::config::error::ConfigError;
use crate::config::model::Config;
use crate::net::{Protocol, SocketSpec};

/// `socket`, `uwsgi-socket`, `http-socket`, `http`.
pub(crate) fn socket(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let protocol = if v.option == "http-socket" || v.option == "http" {
        Protocol::Http
    } else {
        Protocol::Uwsgi
    };
    if v.option == "socket" {
        config
            .listen
            .default_protocol_sockets
            .push(config.listen.sockets.len());
    }
    let address = crate::net::parse_address(&v.non_empty()?).map_err(|m| v.error(m))?;
    config.listen.sockets.push(SocketSpec {
        address,
        protocol,
        origin: v.entry.origin.to_string(),
        in_file: matches!(v.entry.origin, Origin::File { .. }),
    });
    Ok(())
}

/// `protocol`.
pub(crate) fn protocol(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.listen.protocol = match v.non_empty()?.as_str() {
        "uwsgi" => Protocol::Uwsgi,
        "http" => Protocol::Http,
        _ => return Err(v.error("expected uwsgi or http")),
    };
    Ok(())
}

/// `listen`.
pub(crate) fn listen(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.listen.listen_backlog = i32::try_from(v.number()?)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| v.error("must be between 1 and 2147483647"))?;
    Ok(())
}

/// `chown-socket`, `uid`, `gid`.
pub(crate) fn chown_socket(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    match v.option {
        "chown-socket" => config.privileges.chown_socket = Some(value),
        "uid" => config.privileges.uid = Some(value),
        _ => config.privileges.gid = Some(value),
    }
    config
        .privileges
        .privilege_origins
        .retain(|(name, _)| *name != v.option);
    config
        .privileges
        .privilege_origins
        .push((v.option, v.entry.origin.to_string()));
    Ok(())
}

/// `buffer-size`.
pub(crate) fn buffer_size(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let size = v.bytes()?;
    if !(1024..=1 << 20).contains(&size) {
        return Err(v.error("must be between 1024 and 1048576 bytes"));
    }
    config.request.buffer_size = size as usize;
    Ok(())
}

/// `http-max-headers`.
pub(crate) fn http_max_headers(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.request.http_max_headers = v.number()? as usize;
    if !(1..=crate::protocol::http::MAX_HEADERS).contains(&config.request.http_max_headers) {
        return Err(v.error("must be between 1 and 256"));
    };
    Ok(())
}

/// `cap`.
pub(crate) fn cap(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    for name in v
        .non_empty()?
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let capability = crate::privileges::parse_capability(name)
            .ok_or_else(|| v.error(format!("unknown capability '{name}'")))?;
        config.privileges.capabilities.push(capability);
    }
    Ok(())
}

/// `umask`.
pub(crate) fn umask(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let value = v.non_empty()?;
    config.master.umask = Some(
        u32::from_str_radix(&value, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| v.error("expected an octal mode such as 022"))?,
    );
    Ok(())
}
