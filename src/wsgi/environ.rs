//! Building the WSGI `environ` dict from a parsed HTTP head or uwsgi packet (PEP 3333).
//!
//! Owns: CGI key names and values (latin-1 `str`), `wsgi.*` keys, which uwsgi vars are kept.
//! Must not: parse bytes (protocol does) or touch sockets. Runs with the GIL held, per
//! request, so keys are interned and the constant part is a template dict copied once.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use super::objects::{FileWrapper, Input};
use crate::protocol::http::{percent_decode, RequestHead};
use crate::protocol::uwsgi::Packet;

/// The keys every request shares, copied into each environ.
pub struct EnvironTemplate {
    template: Py<PyDict>,
}

/// Where a connection came from and which listener took it, as environ strings.
pub struct Endpoint {
    pub remote_addr: String,
    pub remote_port: String,
    pub server_name: String,
    pub server_port: String,
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
        })
    }

    fn fresh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.template.bind(py).copy()
    }
}

/// Bytes as a latin-1 `str`, the PEP 3333 rule for every CGI value.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    if let Ok(ascii) = std::str::from_utf8(bytes) {
        if bytes.is_ascii() {
            return Ok(PyString::new(py, ascii));
        }
    }
    Ok(PyBytes::new(py, bytes)
        .call_method1(intern!(py, "decode"), (intern!(py, "latin-1"),))?
        .cast_into::<PyString>()?)
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
    let body_len = input.body_len();
    env.set_item(
        intern!(py, "REQUEST_METHOD"),
        latin1(py, &buf[head.method.clone()])?,
    )?;
    env.set_item(
        intern!(py, "PATH_INFO"),
        latin1(py, &percent_decode(&buf[head.path.clone()]))?,
    )?;
    env.set_item(
        intern!(py, "QUERY_STRING"),
        latin1(py, &buf[head.query.clone()])?,
    )?;
    env.set_item(
        intern!(py, "REQUEST_URI"),
        latin1(py, &buf[head.target.clone()])?,
    )?;
    env.set_item(
        intern!(py, "SERVER_PROTOCOL"),
        if head.minor_version == 1 {
            intern!(py, "HTTP/1.1")
        } else {
            intern!(py, "HTTP/1.0")
        },
    )?;
    env.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
    env.set_item(intern!(py, "REMOTE_ADDR"), endpoint.remote_addr.as_str())?;
    env.set_item(intern!(py, "REMOTE_PORT"), endpoint.remote_port.as_str())?;
    let (server_name, server_port) = match &head.host {
        Some(host) => split_host(&buf[host.clone()], &endpoint.server_port),
        None => (
            endpoint.server_name.as_bytes(),
            endpoint.server_port.as_bytes(),
        ),
    };
    env.set_item(intern!(py, "SERVER_NAME"), latin1(py, server_name)?)?;
    env.set_item(intern!(py, "SERVER_PORT"), latin1(py, server_port)?)?;
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
            env.set_item(intern!(py, "CONTENT_TYPE"), latin1(py, value)?)?;
            continue;
        }
        let key = cgi_header_key(name);
        let value = latin1(py, value)?;
        match env.get_item(key.as_str())? {
            Some(previous) => {
                let separator = if key == "HTTP_COOKIE" { "; " } else { "," };
                let joined = format!(
                    "{}{separator}{}",
                    previous.cast::<PyString>()?.to_str()?,
                    value.to_str()?
                );
                env.set_item(key, joined)?;
            }
            None => env.set_item(key, value)?,
        }
    }
    if body_len > 0
        || head.declared_length
        || head.framing != crate::protocol::http::BodyFraming::None
    {
        env.set_item(intern!(py, "CONTENT_LENGTH"), body_len.to_string())?;
    }
    env.set_item(intern!(py, "wsgi.input"), Bound::new(py, input)?)?;
    Ok(env)
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

/// uwsgi vars are taken as nginx sent them, except the ones that are noise or dangerous.
pub fn uwsgi_environ<'py>(
    py: Python<'py>,
    template: &EnvironTemplate,
    buf: &[u8],
    packet: &Packet,
    input: Input,
) -> PyResult<Bound<'py, PyDict>> {
    let env = template.fresh(py)?;
    let body_len = input.body_len();
    let mut script_name: Option<&[u8]> = None;
    let mut path_info: Option<&[u8]> = None;
    let mut scheme: &str = "http";
    let mut declared_length = false;
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
            b"HTTPS" if value.eq_ignore_ascii_case(b"on") || value == b"1" => scheme = "https",
            b"REQUEST_SCHEME" if value == b"https" => scheme = "https",
            // uWSGI's magic vars load and run code: whoever reaches the socket would own
            // the server. They are never acted on, nor shown to the application.
            _ if key.starts_with(b"UWSGI_") => continue,
            _ => {}
        }
        env.set_item(latin1(py, key)?, latin1(py, value)?)?;
    }
    if packet.modifier1 == 30 {
        if let (Some(script), Some(path)) = (script_name, path_info) {
            if !script.is_empty() && path.starts_with(script) {
                env.set_item(intern!(py, "PATH_INFO"), latin1(py, &path[script.len()..])?)?;
            }
        }
    }
    for (key, default) in [
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/"),
        ("QUERY_STRING", ""),
        ("SERVER_PROTOCOL", "HTTP/1.0"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
    ] {
        if !env.contains(key)? {
            env.set_item(key, default)?;
        }
    }
    if body_len > 0 || declared_length {
        env.set_item(intern!(py, "CONTENT_LENGTH"), body_len.to_string())?;
    }
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
    fn header_keys() {
        assert_eq!(cgi_header_key(b"X-Forwarded-For"), "HTTP_X_FORWARDED_FOR");
    }
}
