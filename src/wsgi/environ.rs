//! Building the WSGI `environ` dict from a parsed HTTP head or uwsgi packet (PEP 3333).
//!
//! Owns: CGI key names and values (latin-1 `str`), `wsgi.*` keys, which uwsgi vars are kept.
//! Must not: parse bytes (protocol does) or touch sockets. Runs with the GIL held, per
//! request, so keys are interned and the constant part is a template dict copied once.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use super::objects::{FileWrapper, Input};
pub use super::strings::latin1;
use super::strings::{StringCache, Values};
use crate::protocol::http::{percent_decode, RequestHead};
use crate::protocol::uwsgi::Packet;

/// The keys every request shares, copied into each environ, and the strings reused.
pub struct EnvironTemplate {
    template: Py<PyDict>,
    strings: StringCache,
}

/// Where a connection came from and which listener took it, as environ strings.
pub struct Endpoint {
    pub remote_addr: String,
    pub remote_port: String,
    pub server_name: std::sync::Arc<str>,
    pub server_port: std::sync::Arc<str>,
    /// Index of the listening socket the connection came in on (metrics label).
    pub listener: usize,
}

impl EnvironTemplate {
    pub fn new(
        py: Python<'_>,
        multithread: bool,
        multiprocess: bool,
        file_wrapper: bool,
    ) -> PyResult<Self> {
        let d = PyDict::new(py);
        d.set_item("wsgi.version", PyTuple::new(py, [1, 0])?)?;
        d.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
        d.set_item("wsgi.multithread", multithread)?;
        d.set_item("wsgi.multiprocess", multiprocess)?;
        d.set_item("wsgi.run_once", false)?;
        d.set_item("wsgi.input_terminated", true)?;
        if file_wrapper {
            d.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        }
        d.set_item("SCRIPT_NAME", "")?;
        d.set_item("rwsgi.version", env!("CARGO_PKG_VERSION"))?;
        Ok(EnvironTemplate {
            template: d.unbind(),
            strings: StringCache::new(py),
        })
    }

    fn fresh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.template.bind(py).copy()
    }
}

fn cgi_header_key(name: &[u8]) -> String {
    let mut key = String::with_capacity(name.len() + 5);
    key.push_str("HTTP_");
    for b in name {
        key.push(if *b == b'-' {
            '_'
        } else {
            b.to_ascii_uppercase() as char
        });
    }
    key
}

pub fn http_environ<'py>(
    py: Python<'py>,
    template: &EnvironTemplate,
    buf: &[u8],
    head: &RequestHead,
    endpoint: &Endpoint,
    input: Input,
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.fresh(py)?;
    let strings = &template.strings;
    let mut values = strings.values();
    let body_len = input.body_len();
    let set = |values: &mut Values<'_>, key: &str, bytes: &[u8]| -> PyResult<()> {
        let slot = strings.known(key);
        env.set_item(values.name(py, slot), values.value(py, slot, bytes)?)
    };
    set(&mut values, "REQUEST_METHOD", &buf[head.method.clone()])?;
    set(
        &mut values,
        "PATH_INFO",
        &percent_decode(&buf[head.path.clone()]),
    )?;
    set(&mut values, "QUERY_STRING", &buf[head.query.clone()])?;
    set(&mut values, "REQUEST_URI", &buf[head.target.clone()])?;
    set(
        &mut values,
        "SERVER_PROTOCOL",
        if head.minor_version == 1 {
            b"HTTP/1.1"
        } else {
            b"HTTP/1.0"
        },
    )?;
    set(&mut values, "REMOTE_ADDR", endpoint.remote_addr.as_bytes())?;
    set(&mut values, "REMOTE_PORT", endpoint.remote_port.as_bytes())?;
    let (server_name, server_port) = match &head.host {
        Some(host) => split_host(&buf[host.clone()], &endpoint.server_port),
        None => (
            endpoint.server_name.as_bytes(),
            endpoint.server_port.as_bytes(),
        ),
    };
    set(&mut values, "SERVER_NAME", server_name)?;
    set(&mut values, "SERVER_PORT", server_port)?;
    env.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
    add_headers(py, &env, strings, &mut values, buf, head)?;
    if body_len > 0
        || head.declared_length
        || head.framing != crate::protocol::http::BodyFraming::None
    {
        set(
            &mut values,
            "CONTENT_LENGTH",
            body_len.to_string().as_bytes(),
        )?;
    }
    drop(values);
    env.set_item(intern!(py, "wsgi.input"), Bound::new(py, input)?)?;
    Ok(env)
}

/// The request's headers as `HTTP_*` keys (repeated ones joined, cookies with `; `), and
/// `CONTENT_TYPE`; the framing headers are left out.
fn add_headers(
    py: Python<'_>,
    env: &Bound<'_, PyDict>,
    strings: &StringCache,
    values: &mut Values<'_>,
    buf: &[u8],
    head: &RequestHead,
) -> PyResult<()> {
    for header in &head.headers {
        let name = &buf[header.name.clone()];
        let value = &buf[header.value.clone()];
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            // Framing is ours: the body the application sees is de-chunked and complete.
            continue;
        }
        if name.eq_ignore_ascii_case(b"content-type") {
            let slot = strings.known("CONTENT_TYPE");
            env.set_item(values.name(py, slot), values.value(py, slot, value)?)?;
            continue;
        }
        let key = cgi_header_key(name);
        let (key_str, value) = match strings.slot(key.as_bytes()) {
            Some(slot) => (values.name(py, slot), values.value(py, slot, value)?),
            None => (PyString::new(py, &key), latin1(py, value)?),
        };
        match env.get_item(&key_str)? {
            Some(previous) => {
                let separator = if key == "HTTP_COOKIE" { "; " } else { "," };
                let joined = format!(
                    "{}{separator}{}",
                    previous.cast::<PyString>()?.to_str()?,
                    value.to_str()?
                );
                env.set_item(key_str, joined)?;
            }
            None => env.set_item(key_str, value)?,
        }
    }
    Ok(())
}

/// `example.com:8080` → (`example.com`, `8080`); `[::1]` keeps its brackets.
fn split_host<'a>(host: &'a [u8], default_port: &'a str) -> (&'a [u8], &'a [u8]) {
    let port_colon = if host.starts_with(b"[") {
        host.iter()
            .position(|b| *b == b']')
            .and_then(|end| (host.get(end + 1) == Some(&b':')).then_some(end + 1))
    } else {
        host.iter().rposition(|b| *b == b':')
    };
    match port_colon {
        Some(colon) if colon + 1 < host.len() => (&host[..colon], &host[colon + 1..]),
        Some(colon) => (&host[..colon], default_port.as_bytes()),
        None => (host, default_port.as_bytes()),
    }
}

/// Defaults for the CGI variables PEP 3333 requires, when the web server sent none.
const UWSGI_DEFAULTS: [(&str, &str); 6] = [
    ("REQUEST_METHOD", "GET"),
    ("PATH_INFO", "/"),
    ("QUERY_STRING", ""),
    ("SERVER_PROTOCOL", "HTTP/1.0"),
    ("SERVER_NAME", "localhost"),
    ("SERVER_PORT", "80"),
];

/// uwsgi vars are taken as nginx sent them, except the ones that are noise or dangerous.
pub fn uwsgi_environ<'py>(
    py: Python<'py>,
    template: &EnvironTemplate,
    buf: &[u8],
    packet: &Packet,
    input: Input,
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.fresh(py)?;
    let strings = &template.strings;
    let mut values = strings.values();
    let body_len = input.body_len();
    let mut script_name: Option<&[u8]> = None;
    let mut path_info: Option<&[u8]> = None;
    let mut scheme = intern!(py, "http");
    let mut declared_length = false;
    let mut seen = Vec::with_capacity(packet.vars.len());
    for (key, value) in &packet.vars {
        let key = &buf[key.clone()];
        let value = &buf[value.clone()];
        match key {
            // nginx's stock uwsgi_params sends these twice (as CGI and as HTTP_*).
            b"HTTP_CONTENT_LENGTH" | b"HTTP_CONTENT_TYPE" => continue,
            // Empty with the stock uwsgi_params on GET; the true length is set below.
            // A `0` the client sent is kept, as over HTTP.
            b"CONTENT_LENGTH" => {
                declared_length |= !value.is_empty();
                continue;
            }
            b"SCRIPT_NAME" => script_name = Some(value),
            b"PATH_INFO" => path_info = Some(value),
            b"HTTPS" if value.eq_ignore_ascii_case(b"on") || value == b"1" => {
                scheme = intern!(py, "https")
            }
            b"REQUEST_SCHEME" if value == b"https" => scheme = intern!(py, "https"),
            // uWSGI's magic vars load and run code: whoever reaches the socket would own
            // the server. They are never acted on, nor shown to the application.
            _ if key.starts_with(b"UWSGI_") => continue,
            _ => {}
        }
        match strings.slot(key) {
            Some(slot) => {
                seen.push(slot);
                env.set_item(values.name(py, slot), values.value(py, slot, value)?)?
            }
            None => env.set_item(latin1(py, key)?, latin1(py, value)?)?,
        }
    }
    if packet.modifier1 == 30 {
        if let (Some(script), Some(path)) = (script_name, path_info) {
            if !script.is_empty() && path.starts_with(script) {
                env.set_item(intern!(py, "PATH_INFO"), latin1(py, &path[script.len()..])?)?;
            }
        }
    }
    for (key, default) in UWSGI_DEFAULTS {
        let slot = strings.known(key);
        if !seen.contains(&slot) {
            env.set_item(
                values.name(py, slot),
                values.value(py, slot, default.as_bytes())?,
            )?;
        }
    }
    if body_len > 0 || declared_length {
        let slot = strings.known("CONTENT_LENGTH");
        let length = body_len.to_string();
        env.set_item(
            values.name(py, slot),
            values.value(py, slot, length.as_bytes())?,
        )?;
    }
    drop(values);
    env.set_item(intern!(py, "wsgi.url_scheme"), scheme)?;
    env.set_item(intern!(py, "wsgi.input"), Bound::new(py, input)?)?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_splitting() {
        assert_eq!(
            split_host(b"example.com:8080", "80"),
            (&b"example.com"[..], &b"8080"[..])
        );
        assert_eq!(
            split_host(b"example.com", "80"),
            (&b"example.com"[..], &b"80"[..])
        );
        assert_eq!(split_host(b"[::1]:9", "80"), (&b"[::1]"[..], &b"9"[..]));
        assert_eq!(split_host(b"[::1]", "80"), (&b"[::1]"[..], &b"80"[..]));
    }

    #[test]
    fn every_key_rwsgi_sets_has_a_slot() {
        for key in [
            "REQUEST_METHOD",
            "PATH_INFO",
            "QUERY_STRING",
            "REQUEST_URI",
            "SERVER_PROTOCOL",
            "REMOTE_ADDR",
            "REMOTE_PORT",
            "SERVER_NAME",
            "SERVER_PORT",
            "CONTENT_TYPE",
            "CONTENT_LENGTH",
        ]
        .into_iter()
        .chain(UWSGI_DEFAULTS.map(|(key, _)| key))
        {
            assert!(super::super::strings::KNOWN_KEYS.contains(&key), "{key}");
        }
    }

    #[test]
    fn header_keys() {
        assert_eq!(cgi_header_key(b"X-Forwarded-For"), "HTTP_X_FORWARDED_FOR");
    }
}
