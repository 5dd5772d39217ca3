//! `build`: the ordered entries of `source` turned into a `Config` by the option rows, with
//! the warnings the caller logs; and the checks that need the whole configuration.
//!
//! Owns: unknown-key warnings and `strict`, the order options are applied in, warnings
//! that relate several options. Must not: parse a value itself (the rows do) or print.

use super::apply::{Notes, Value};
use super::entries::{Entry, Origin};
use super::error::{ConfigError, ErrorKind, NoApplication};
use super::model::Config;
use super::options::{self, OptionSpec, Support, OPTIONS};
use super::values;

/// The configuration plus the warnings the caller should log (unknown keys, no-ops).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    /// `print` texts and, with `show-config`, every entry: logged at start.
    pub messages: Vec<String>,
}

pub fn build(entries: &[Entry]) -> Result<Loaded, ConfigError> {
    let strict = is_strict(entries)?;
    let mut config = Config::default();
    let mut notes = Notes::default();
    for entry in entries {
        let Some(spec) = known(entry, strict, &mut notes.warnings)? else {
            continue;
        };
        (spec.apply)(
            &mut config,
            &mut Value::new(entry, spec.name, entries, &mut notes),
        )?;
    }
    relate(&mut config, &mut notes.warnings);
    Ok(Loaded {
        config,
        warnings: notes.warnings,
        messages: notes.messages,
    })
}

impl Default for Config {
    /// Every option's default, as its row in the option table writes it.
    fn default() -> Self {
        with_defaults().0
    }
}

/// `Config::default()` and what applying the defaults noted (nothing, a test checks).
fn with_defaults() -> (Config, Notes) {
    let mut config = Config::blank();
    let mut notes = Notes::default();
    for spec in OPTIONS
        .iter()
        .filter(|s| !s.default.is_empty() && s.support != Support::Unsupported)
    {
        let entry = Entry {
            key: spec.name.to_string(),
            value: Some(spec.default.to_string()),
            origin: Origin::CommandLine,
        };
        (spec.apply)(
            &mut config,
            &mut Value::new(&entry, spec.name, &[], &mut notes),
        )
        .unwrap_or_else(|e| panic!("the option table's default is not a value: {e}"));
    }
    (config, notes)
}

/// `strict` is read before any other option, wherever it is written.
fn is_strict(entries: &[Entry]) -> Result<bool, ConfigError> {
    entries
        .iter()
        .filter(|e| options::normalize(&e.key) == "strict")
        .try_fold(false, |_, e| {
            values::parse_flag(e.value.as_deref())
                .map_err(|err| ConfigError::invalid(&e.origin, &e.key, e.value.as_deref(), err))
        })
}

/// The row of an entry to apply, or `None` (with a warning) for a conflict marker, an
/// unknown key (fatal under `strict`) or an option rwsgi does not honour.
fn known(
    entry: &Entry,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<&'static OptionSpec>, ConfigError> {
    if key_is_conflict_marker(&entry.key, entry.value.as_deref()) {
        warnings.push(format!(
            "{}: git merge conflict marker ignored: the file has an unresolved conflict; the lines of both sides are read",
            entry.origin
        ));
        return Ok(None);
    }
    let Some(spec) = options::find(&entry.key) else {
        let hint = options::suggest(&entry.key);
        if strict {
            return Err(ConfigError {
                origin: entry.origin.clone(),
                kind: ErrorKind::Unknown {
                    key: entry.key.clone(),
                    hint,
                },
            });
        }
        warnings.push(format!(
            "{}: unknown option '{}' ignored{}",
            entry.origin,
            entry.key,
            hint.map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default()
        ));
        return Ok(None);
    };
    if spec.support == Support::Unsupported {
        warnings.push(format!(
            "{}: option '{}' is {}",
            entry.origin, entry.key, spec.help
        ));
        return Ok(None);
    }
    Ok(Some(spec))
}

fn key_is_conflict_marker(key: &str, value: Option<&str>) -> bool {
    key.starts_with("<<<<<<<")
        || key.starts_with(">>>>>>>")
        || (key.is_empty() && value.is_some_and(|v| v.starts_with("======")))
}

/// What only the options together decide: names referred to but never defined, options
/// that need another one, and the protocol of plain `socket` lines.
fn relate(config: &mut Config, warnings: &mut Vec<String>) {
    let referenced = config
        .alarms
        .log_alarms
        .iter()
        .flat_map(|(names, _)| names.iter())
        .chain(&config.alarms.alarm_segfault)
        .chain(&config.alarms.alarm_backlog);
    for name in referenced {
        if !config.alarms.alarms.iter().any(|a| &a.name == name) {
            warnings.push(format!(
                "alarm '{name}' is not defined (or not honoured); define it with 'alarm = {name} cmd:COMMAND'"
            ));
        }
    }
    for (mountpoint, _) in &config.app.mounts {
        if !mountpoint.starts_with('/') && !config.request.vhost {
            warnings.push(format!(
                "mount '{mountpoint}' names a host: it is chosen only with 'vhost = true'"
            ));
        }
    }
    for (name, _) in &config.logging.log_routes {
        if !config.logging.named_loggers.iter().any(|(n, _)| n == name) {
            warnings.push(format!(
                "log-route to an undefined logger '{name}' ignored; define it with 'logger = {name} file:PATH'"
            ));
        }
    }
    if config.workers.cheaper >= config.workers.processes {
        config.workers.cheaper = 0;
    }
    for index in std::mem::take(&mut config.listen.default_protocol_sockets) {
        config.listen.sockets[index].protocol = config.listen.protocol;
    }
}

/// Checks that need the whole configuration, run after `build` when the server is to start.
pub fn check_complete(config: &Config) -> Result<(), NoApplication> {
    if config.app.module.is_none()
        && config.app.wsgi_file.is_none()
        && config.app.paste.is_none()
        && config.app.mounts.is_empty()
    {
        return Err(NoApplication);
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{ListenAddress, Protocol};
    use std::time::Duration;

    fn entry(key: &str, value: Option<&str>) -> Entry {
        Entry {
            key: key.into(),
            value: value.map(Into::into),
            origin: Origin::File {
                path: "app.ini".into(),
                line: 5,
            },
        }
    }

    #[test]
    fn typed_values() {
        let loaded = build(&[
            entry("workers", Some("4")),
            entry("module", Some("pkg.app:make")),
            entry("http-socket", Some(":8000")),
            entry("socket", Some("/run/app.sock")),
            entry("chmod-socket", None),
            entry("buffer-size", Some("32k")),
            entry("vacuum", Some("True # remove sockets")),
            entry("lazy_apps", Some("off")),
        ])
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.workers.processes, 4);
        assert_eq!(c.app.module.as_deref(), Some("pkg.app"));
        assert_eq!(c.app.callable, "make");
        assert_eq!(
            c.listen.sockets[0].address,
            ListenAddress::Tcp("0.0.0.0:8000".parse().unwrap())
        );
        assert_eq!(c.listen.sockets[0].protocol, Protocol::Http);
        assert_eq!(
            c.listen.sockets[1].address,
            ListenAddress::Unix("/run/app.sock".into())
        );
        assert_eq!(c.listen.chmod_socket, Some(0o666));
        assert_eq!(c.request.buffer_size, 32768);
        assert!(c.master.vacuum);
        assert!(!c.app.lazy_apps);
    }

    #[test]
    fn unknown_keys_warn_or_fail_under_strict() {
        let loaded = build(&[entry("procesess", Some("2"))]).unwrap();
        assert_eq!(
            loaded.warnings,
            vec!["app.ini:5: unknown option 'procesess' ignored; did you mean 'processes'?"]
        );
        let err = build(&[entry("strict", None), entry("procesess", Some("2"))]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("app.ini:5: unknown option 'procesess'"),
            "{err}"
        );
    }

    #[test]
    fn a_lower_layers_error_is_wrapped_with_file_line_and_option() {
        let err = build(&[entry("route", Some("^/old goto:/new"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app.ini:5: option 'route' = '^/old goto:/new': routing action 'goto' is not provided (addheader, delheader, redirect, redirect-301, return, break, last, continue, rewrite, rewrite-last, addvar are)"
        );
        let cause = std::error::Error::source(&err).expect("the routing error is kept");
        assert!(cause.is::<crate::routing::RuleError>(), "{cause:?}");
        let err = build(&[entry("cron", Some("61 -1 -1 -1 -1 true"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app.ini:5: option 'cron' = '61 -1 -1 -1 -1 true': minute 61 is outside 0..59"
        );
        assert!(
            std::error::Error::source(&err).is_some_and(|c| c.is::<crate::sys::cron::CronError>())
        );
    }

    #[test]
    fn real_file_quirks_start_with_warnings() {
        let loaded = build(&[
            entry("buffer-size", Some("32768  # bigger requests")),
            entry("module", Some("app:app ;the file, then the variable")),
            entry("<<<<<<< HEAD", None),
            entry("procname-prefix-spaced", Some("shop")),
        ])
        .unwrap();
        assert_eq!(loaded.config.request.buffer_size, 32768);
        assert_eq!(loaded.config.app.module.as_deref(), Some("app"));
        assert_eq!(loaded.config.app.callable, "app");
        assert_eq!(loaded.config.titles.procname_prefix, "shop ");
        assert!(loaded.warnings[0].contains("inline comment after 'module' ignored"));
        assert!(loaded.warnings[1].contains("merge conflict marker"));
    }

    #[test]
    fn invalid_values_are_fatal_and_named() {
        let commented = build(&[
            entry("max-requests", Some("1000 ; recycle")),
            entry("threads", Some("true")),
        ])
        .unwrap();
        assert_eq!(commented.config.workers.max_requests, 1000);
        assert_eq!(commented.config.workers.threads, 1);
        let err = build(&[entry("processes", Some("many"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app.ini:5: option 'processes' = 'many': expected a whole number"
        );
        assert!(build(&[entry("chmod-socket", Some("rw-rw"))]).is_err());
        assert!(build(&[entry("master", Some("maybe"))]).is_err());
        assert!(build(&[entry("http-socket", Some("127.0.0.1:http"))]).is_err());
        assert_eq!(
            build(&[entry("plugins", Some("php"))])
                .unwrap()
                .warnings
                .len(),
            1
        );
        assert!(build(&[entry("plugins", Some("python311,logfile"))]).is_ok());
        let gevent = build(&[
            entry("plugins", Some("python3,gevent")),
            entry("gevent", Some("100")),
        ])
        .unwrap();
        assert_eq!(gevent.warnings.len(), 2, "{:?}", gevent.warnings);
        assert!(
            gevent.warnings[1].contains("is not honoured"),
            "{:?}",
            gevent.warnings
        );
    }

    #[test]
    fn every_default_is_a_value_its_option_takes() {
        let (config, notes) = with_defaults();
        assert!(notes.warnings.is_empty(), "{:?}", notes.warnings);
        assert!(notes.messages.is_empty(), "{:?}", notes.messages);
        assert_eq!(config.workers.processes, 1);
        assert_eq!(config.listen.listen_backlog, 100);
        assert_eq!(config.app.callable, "application");
        assert_eq!(config.workers.busyness.max_percent, 50);
        assert_eq!(config.spooler.frequency, Duration::from_secs(30));
        assert!(config.request.file_wrapper && config.request.http_server_header);
    }
}
