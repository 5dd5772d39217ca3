//! Dispatching a request to the application, under the GIL: building its environ, the
//! routing rules, choosing the application (`mount`, `vhost`, `manage-script-name`),
//! calling it and pulling its first block, then the response's status and headers with
//! the server's and the routes' header changes.
//!
//! Owns: what happens between an environ and a response ready to send (or the reason there
//! is none). Must not: touch the socket (the caller sends, without the GIL).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::request_log::count_vars;
use super::Shared;
use crate::log::UwsgiFields;
use crate::protocol::response::ResponseStart;
use crate::routing::Outcome;
use crate::wsgi::block::Block;
use crate::wsgi::interpreter::format_exception;
use crate::wsgi::{call_app, AppResponse};

/// How a request left the application: its response ready to send, or stopped before one.
pub enum Started {
    Stopped(Stop),
    Running {
        response: AppResponse,
        start: ResponseStart,
        ended: bool,
    },
}

/// Why a request has no response of the application's to send.
pub enum Stop {
    /// The environ could not be built, or the application failed before its headers.
    Failed(String),
    /// Answered without the application: a routing rule, or no application for the path.
    Direct(Direct),
    /// A routing `break`: the request ends with no answer and the connection closes.
    Close,
}

/// An answer given without the application: a route's (`redirect`, `return`...) or a 404
/// when no application serves the path (`no-default-app`).
pub struct Direct {
    pub status: u16,
    /// A redirect's target.
    pub location: Option<String>,
    /// The routes' `addheader`s.
    pub headers: Vec<(String, String)>,
}

/// Builds the environ, routes, calls the application and pulls the first block of its
/// response into `block` (all of it when `ended`). `counts`: uWSGI's request line wants the
/// request variables counted.
pub fn start_app<'py>(
    py: Python<'py>,
    shared: &Shared,
    environ: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
    block: &mut Block,
    counts: Option<&mut UwsgiFields>,
) -> Started {
    let environ = match environ(py) {
        Ok(environ) => environ,
        Err(e) => {
            let message = format!("cannot build environ: {}", format_exception(py, &e));
            return Started::Stopped(Stop::Failed(message));
        }
    };
    count_vars(counts, &environ);
    let started = route(py, shared, &environ).and_then(|routed| {
        let app = choose_app(py, shared, &environ)?;
        let response = call_app(py, app, environ).map_err(|e| fail(py, &e))?;
        Ok(run(py, shared, response, routed, block))
    });
    started.unwrap_or_else(Started::Stopped)
}

fn fail(py: Python<'_>, e: &PyErr) -> Stop {
    Stop::Failed(format_exception(py, e))
}

/// The routing rules over the environ (its rewrites and variables applied): the outcome
/// whose header changes apply to the application's response (None without rules), or how
/// the request stops here.
fn route(
    py: Python<'_>,
    shared: &Shared,
    environ: &Bound<'_, PyDict>,
) -> Result<Option<Outcome>, Stop> {
    if shared.routes.is_empty() {
        return Ok(None);
    }
    let outcome = crate::routing::evaluate(&shared.routes, &EnvironVariables(environ));
    let applied = (|| -> PyResult<()> {
        if let Some(path) = &outcome.rewrite {
            environ.set_item("PATH_INFO", path)?;
        }
        for (key, value) in &outcome.set_vars {
            environ.set_item(key, value)?;
        }
        Ok(())
    })();
    applied.map_err(|e| fail(py, &e))?;
    if outcome.close {
        return Err(Stop::Close);
    }
    if let Some((status, location)) = outcome.answer {
        return Err(Stop::Direct(Direct {
            status,
            location,
            headers: outcome.add_headers,
        }));
    }
    Ok(Some(outcome))
}

/// The application for the request, or the answer when there is none: 404 with
/// `no-default-app`, otherwise a 500 (the start-up log says why).
fn choose_app<'a>(
    py: Python<'_>,
    shared: &'a Shared,
    environ: &Bound<'_, PyDict>,
) -> Result<&'a Py<PyAny>, Stop> {
    match select_app(shared, environ) {
        Ok(Some(app)) => Ok(app),
        Ok(None) if shared.no_default_app => Err(Stop::Direct(Direct {
            status: 404,
            location: None,
            headers: Vec::new(),
        })),
        Ok(None) => Err(Stop::Failed(
            "no Python application found (see the errors logged at start-up)".into(),
        )),
        Err(e) => Err(fail(py, &e)),
    }
}

/// The called application's first block and its status and headers (with `add-header`
/// and the routes' changes); the iterable is closed here when it already ended or failed.
fn run(
    py: Python<'_>,
    shared: &Shared,
    mut response: AppResponse,
    routed: Option<Outcome>,
    block: &mut Block,
) -> Started {
    let ended = if response.file.is_some() {
        false
    } else {
        match response.pull(py, block) {
            Ok(ended) => ended,
            Err(e) => {
                let message = format_exception(py, &e);
                close_iterable(py, &mut response);
                return Started::Stopped(Stop::Failed(message));
            }
        }
    };
    let start = {
        let mut state = response.state();
        state.headers_sent = true;
        state.start.take()
    };
    let Some(mut start) = start else {
        close_iterable(py, &mut response);
        let message = "the application returned without calling start_response()";
        return Started::Stopped(Stop::Failed(message.into()));
    };
    add_headers(shared, &mut start, routed);
    if ended {
        close_iterable(py, &mut response);
    }
    Started::Running {
        response,
        start,
        ended,
    }
}

/// `add-header`, then the routes' `delheader` and `addheader`.
fn add_headers(shared: &Shared, start: &mut ResponseStart, routed: Option<Outcome>) {
    for (name, value) in &shared.extra_headers {
        // Checked when the configuration was read.
        let _ = start.add_header(name, value);
    }
    if let Some(outcome) = routed {
        for name in &outcome.remove_headers {
            start.remove_header(name);
        }
        for (name, value) in &outcome.add_headers {
            if let Err(e) = start.add_header(name, value) {
                crate::log::warn(&format!("route addheader {name}: {e}"));
            }
        }
    }
}

/// The application for a request: with `mount`, the one whose prefix matches (with
/// `manage-script-name`, the longest prefix of PATH_INFO, moved to SCRIPT_NAME; without it,
/// the SCRIPT_NAME the web server sent); otherwise the default application.
fn select_app<'a>(
    shared: &'a Shared,
    environ: &Bound<'_, PyDict>,
) -> PyResult<Option<&'a Py<PyAny>>> {
    if shared.mounts.is_empty() {
        return Ok(shared.app.as_ref());
    }
    let text = |key: &str| -> PyResult<String> {
        Ok(match environ.get_item(key)? {
            Some(value) => value.extract()?,
            None => String::new(),
        })
    };
    if let Some(by_host_header) = shared.vhost {
        let host = if by_host_header {
            let host = text("HTTP_HOST")?;
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
                _ => host,
            }
        } else {
            text("SERVER_NAME")?
        }
        .to_ascii_lowercase();
        if let Some((_, app)) = shared.mounts.iter().find(|(m, _)| *m == host) {
            return Ok(Some(app));
        }
    }
    if shared.manage_script_name {
        let path = text("PATH_INFO")?;
        for (mountpoint, app) in shared.mounts.iter().filter(|(m, _)| m.starts_with('/')) {
            let rest = match path.strip_prefix(mountpoint.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => continue,
            };
            environ.set_item("SCRIPT_NAME", mountpoint)?;
            environ.set_item("PATH_INFO", rest)?;
            return Ok(Some(app));
        }
    } else {
        let script_name = text("SCRIPT_NAME")?;
        if let Some((_, app)) = shared
            .mounts
            .iter()
            .find(|(m, _)| m.starts_with('/') && *m == script_name)
        {
            return Ok(Some(app));
        }
    }
    if shared.no_default_app {
        return Ok(None);
    }
    Ok(shared
        .app
        .as_ref()
        .or_else(|| shared.mounts.last().map(|(_, app)| app)))
}

/// Request variables for routing rules, read from the environ being built.
struct EnvironVariables<'a, 'py>(&'a Bound<'py, PyDict>);

impl crate::routing::Variables for EnvironVariables<'_, '_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get_item(name).ok()??.extract().ok()
    }
}

/// Calls the response's close(), logging what it raises.
pub fn close_iterable(py: Python<'_>, response: &mut AppResponse) {
    if let Err(e) = response.close(py) {
        crate::log::error(&format!(
            "the response's close() failed: {}",
            format_exception(py, &e)
        ));
    }
}
