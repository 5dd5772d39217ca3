//! The request log: one line per served request, in the default form, uWSGI's
//! (`log-format = uwsgi`) or a `log-format` template with `%(name)` variables, including the
//! application's own (`uwsgi.set_logvar`).
//!
//! Owns: the request record and its rendering. Must not: choose a destination beyond the
//! sink `init` set up (`req-logger`, or the messages' one).

use std::borrow::Cow;

use super::{emit_line, encoder, worker_id, INFO, SINK, WARNING};

thread_local! {
    /// `uwsgi.set_logvar` values of the request running on this thread (`%(name)`).
    static LOGVARS: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn set_logvar(key: &str, value: &str) {
    LOGVARS.with(|vars| {
        let mut vars = vars.borrow_mut();
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => vars.push((key.to_string(), value.to_string())),
        }
    });
}

pub fn get_logvar(key: &str) -> Option<String> {
    LOGVARS.with(|vars| {
        vars.borrow()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// A new request begins on this thread: the previous one's log variables are gone.
pub fn clear_logvars() {
    LOGVARS.with(|vars| {
        let mut vars = vars.borrow_mut();
        if !vars.is_empty() {
            vars.clear();
        }
    });
}

/// One served request, for the request log. The worker builds it when the request arrives
/// (its text borrowed from the request's buffer where that is valid UTF-8) and fills in the
/// outcome when the request is answered.
pub struct RequestRecord<'a> {
    pub method: Cow<'a, str>,
    pub uri: Cow<'a, str>,
    pub proto: Cow<'a, str>,
    pub remote: Cow<'a, str>,
    pub host: Cow<'a, str>,
    pub user_agent: Cow<'a, str>,
    pub referer: Cow<'a, str>,
    pub status: u16,
    pub bytes: u64,
    pub micros: u64,
    /// `memory-report`: the worker's resident size after the request.
    pub rss_mib: Option<u64>,
    /// `log-format = uwsgi`: what uWSGI's line adds.
    pub uwsgi: Option<UwsgiFields>,
}

/// The `log-format` value that selects uWSGI's default request line.
pub const UWSGI_FORMAT: &str = "uwsgi";

/// The counts uWSGI's default request line shows beyond the request itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct UwsgiFields {
    /// Request variables, keys and values counted apart (uWSGI's `var_cnt`).
    pub vars: usize,
    /// Their size as a uwsgi packet body (2-byte lengths included).
    pub vars_bytes: usize,
    pub headers: usize,
    /// The response head: status line, headers and blank line.
    pub header_bytes: usize,
    /// Requests this worker served, and all workers alive now served.
    pub worker_requests: u64,
    pub total_requests: u64,
    /// The worker thread that served the request (uWSGI's core).
    pub core: usize,
}

/// uWSGI's default request line, field for field:
/// `[pid: P|app: 0|req: a/b] ADDR () {N vars in B bytes} [ctime] METHOD URI => generated R
/// bytes in T msecs (PROTO STATUS) H headers in HB bytes (1 switches on core C)`.
fn uwsgi_line(record: &RequestRecord<'_>, fields: &UwsgiFields) -> String {
    let now = crate::sys::time::unix_now().as_micros() as u64;
    let began = (now.saturating_sub(record.micros) / 1_000_000) as i64;
    format!(
        "[pid: {}|app: 0|req: {}/{}] {} () {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {} msecs ({} {}) {} headers in {} bytes (1 switches on core {})",
        std::process::id(),
        fields.worker_requests,
        fields.total_requests,
        record.remote,
        fields.vars,
        fields.vars_bytes,
        crate::sys::time::ctime_local(began),
        record.method,
        record.uri,
        record.bytes,
        record.micros / 1000,
        record.proto,
        record.status,
        fields.headers,
        fields.header_bytes,
        fields.core
    )
}

pub fn request(record: &RequestRecord<'_>) {
    let sink = SINK.get();
    let message = match sink.and_then(|s| s.request_format.as_deref()) {
        Some(UWSGI_FORMAT) => uwsgi_line(record, &record.uwsgi.unwrap_or_default()),
        Some(format) if sink.is_some_and(|s| s.strftime) => {
            let now = crate::sys::time::unix_secs();
            crate::sys::time::strftime_utc(&render(format, record), now)
        }
        Some(format) => render(format, record),
        None if sink.is_some_and(|s| s.micros) => format!(
            "{} \"{} {}\" {} {} bytes in {} micros",
            record.remote, record.method, record.uri, record.status, record.bytes, record.micros
        ),
        None => format!(
            "{} \"{} {}\" {} {} bytes in {:.3} ms",
            record.remote,
            record.method,
            record.uri,
            record.status,
            record.bytes,
            record.micros as f64 / 1000.0
        ),
    };
    if let Some(request_sink) = sink.and_then(|s| s.request_sink.as_ref()) {
        let line = match record.rss_mib {
            Some(rss) => format!("{message} (RSS {rss} MiB)"),
            None => message,
        };
        match sink.map(|s| &s.request_encoders[..]) {
            Some(chain) if !chain.is_empty() => {
                request_sink.write_raw(&encoder::encode(chain, &line))
            }
            _ => request_sink.write_line(&line),
        }
        return;
    }
    let message = match record.rss_mib {
        Some(rss) => format!("{message} (RSS {rss} MiB)"),
        None => message,
    };
    let status = record.status.to_string();
    let duration = record.micros.to_string();
    let bytes = record.bytes.to_string();
    let rss = record.rss_mib.map(|r| r.to_string()).unwrap_or_default();
    let priority = if record.status >= 500 { WARNING } else { INFO };
    emit_line(
        priority,
        &message,
        &[
            ("REQUEST_METHOD", record.method.as_ref()),
            ("REQUEST_URI", record.uri.as_ref()),
            ("STATUS", &status),
            ("DURATION_US", &duration),
            ("RESPONSE_BYTES", &bytes),
            ("REMOTE_ADDR", record.remote.as_ref()),
            ("RSS_MIB", &rss),
        ][..if record.rss_mib.is_some() { 7 } else { 6 }],
        true,
    );
}

/// uWSGI's `log-format`: `%(name)` variables; unknown ones are left as written.
fn render(format: &str, record: &RequestRecord<'_>) -> String {
    let now = crate::sys::time::unix_now();
    crate::sys::substitute::substitute(format, "%(", ')', |name| {
        Some(match name {
            "method" => record.method.to_string(),
            "uri" => record.uri.to_string(),
            "proto" => record.proto.to_string(),
            "addr" => record.remote.to_string(),
            "host" => record.host.to_string(),
            "uagent" => record.user_agent.to_string(),
            "referer" => record.referer.to_string(),
            "status" => record.status.to_string(),
            "size" => record.bytes.to_string(),
            "micros" => record.micros.to_string(),
            "msecs" => (record.micros / 1000).to_string(),
            "secs" => format!("{:.6}", record.micros as f64 / 1e6),
            "pid" => std::process::id().to_string(),
            "wid" => worker_id().to_string(),
            "epoch" | "time" => now.as_secs().to_string(),
            "ltime" => {
                String::from_utf8_lossy(&crate::sys::time::http_date(now.as_secs())).into_owned()
            }
            other => return get_logvar(other),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_variables() {
        let record = RequestRecord {
            method: "GET".into(),
            uri: "/x?y".into(),
            proto: "HTTP/1.1".into(),
            remote: "10.0.0.1".into(),
            host: "example.org".into(),
            user_agent: "curl/8".into(),
            referer: "".into(),
            status: 404,
            bytes: 12,
            micros: 2500,
            rss_mib: None,
            uwsgi: None,
        };
        assert_eq!(
            render(
                "%(addr) %(method) %(uri) %(proto) %(status) %(size) %(msecs)ms %(uagent) %(nope)",
                &record
            ),
            "10.0.0.1 GET /x?y HTTP/1.1 404 12 2ms curl/8 %(nope)"
        );
    }

    #[test]
    fn uwsgi_request_line() {
        let fields = UwsgiFields {
            vars: 24,
            vars_bytes: 300,
            headers: 2,
            header_bytes: 79,
            worker_requests: 4,
            total_requests: 17,
            core: 0,
        };
        let record = RequestRecord {
            method: "GET".into(),
            uri: "/ping/".into(),
            proto: "HTTP/1.1".into(),
            remote: "127.0.0.1".into(),
            host: "".into(),
            user_agent: "".into(),
            referer: "".into(),
            status: 200,
            bytes: 2,
            micros: 6_400,
            rss_mib: None,
            uwsgi: Some(fields),
        };
        let line = uwsgi_line(&record, &fields);
        let pid = std::process::id();
        let (head, rest) = line.split_once(" [").unwrap().1.split_once("] ").unwrap();
        assert_eq!(
            line.split_once(" [").unwrap().0,
            format!("[pid: {pid}|app: 0|req: 4/17] 127.0.0.1 () {{24 vars in 300 bytes}}")
        );
        assert_eq!(head.len(), "Tue Dec  1 16:00:00 2026".len(), "{head}");
        assert_eq!(
            rest,
            "GET /ping/ => generated 2 bytes in 6 msecs (HTTP/1.1 200) 2 headers in 79 bytes (1 switches on core 0)"
        );
        let ctime = crate::sys::time::ctime_local;
        assert!(ctime(0).ends_with(" 1970") || ctime(0).ends_with(" 1969"));
    }
}
