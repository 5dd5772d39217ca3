//! Turns the command line and INI files into one ordered list of `key = value` entries, each
//! remembering where it was written, as uWSGI does before it interprets anything.
//!
//! Owns: argv splitting, the uWSGI INI dialect (sections, repeated keys, `ini =` includes
//! expanded in place, magic `%x` variables), and the later `$(ENV)` / `%(option)` passes.
//! Must not: interpret option values (that is `config::build`) or warn about unknown keys.
//!
//! Why not the rust-ini crate: uWSGI's dialect has no quoting, escapes or inline comments,
//! and every error must name the file and line; rust-ini keeps no line numbers.

mod ini;
mod logic;
mod placeholders;

use super::options::{self, ValueKind};
pub use crate::config::entries::{Entry, Origin, SourceError};
use ini::Reader;
use placeholders::expand_references;

/// What the command line asked for besides options.
#[derive(Debug)]
pub enum Request {
    Serve(Vec<Entry>),
    Help,
    Version,
    /// `--print-man-page 8|5`: used by packaging to write the man pages.
    ManPage(String),
    /// `--print-option-table`: the option table as Markdown, for README.
    OptionTable,
    /// `--check`: check this configuration and the system for it, then exit (`nginx -t`).
    Check(Vec<Entry>),
}

/// Reads argv (without the program name) into entries, expanding INI files in place;
/// returns the readers' warnings (a missing section) for the caller to log.
pub fn read_args(args: &[String]) -> Result<(Request, Vec<String>), SourceError> {
    let mut reader = Reader::default();
    let mut entries = Vec::new();
    from_environment(&mut reader, &mut entries)?;
    let request = from_command_line(args, &mut reader, &mut entries)?;
    Ok((request, reader.warnings))
}

/// `read_args` without its warnings: for reading again a command line whose warnings
/// were logged when it was first read.
pub fn from_args(args: &[String]) -> Result<Request, SourceError> {
    read_args(args).map(|(request, _)| request)
}

/// Options from the environment (UWSGI_PROCESSES=4, UWSGI_INI=...), as the popular uWSGI
/// container images use them; read first, so the command line overrides them.
fn from_environment(reader: &mut Reader, entries: &mut Vec<Entry>) -> Result<(), SourceError> {
    let mut environment: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("UWSGI_"))
        .collect();
    environment.sort();
    for (variable, value) in environment {
        let name = variable["UWSGI_".len()..]
            .to_ascii_lowercase()
            .replace('_', "-");
        let origin = Origin::Environment(variable.clone());
        if name == "ini" {
            reader.include(&value, &origin, entries, 0)?;
        } else if options::find(&name).is_some() {
            entries.push(Entry {
                key: name,
                value: Some(value),
                origin,
            });
        }
    }
    Ok(())
}

/// The command line after the environment: options, `--ini` and bare `FILE.ini`
/// arguments, or a request that is not to serve (`--help`...).
fn from_command_line(
    args: &[String],
    reader: &mut Reader,
    entries: &mut Vec<Entry>,
) -> Result<Request, SourceError> {
    let mut i = 0;
    let mut check = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--check" {
            check = true;
            continue;
        }
        if let Some(request) = not_to_serve(arg, args.get(i)) {
            return Ok(request);
        }
        let Some(stripped) = arg.strip_prefix('-') else {
            if arg.ends_with(".ini") || arg.contains(".ini:") {
                reader.include(arg, &Origin::CommandLine, entries, 0)?;
                continue;
            }
            return Err(SourceError {
                origin: Origin::CommandLine,
                message: format!("unexpected argument '{arg}' (options start with --)"),
            });
        };
        let stripped = stripped.strip_prefix('-').unwrap_or(stripped);
        let (name, inline_value) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        let spec = known_option(name)?;
        let value = match inline_value {
            Some(v) => Some(v),
            None if spec.kind == ValueKind::Flag => None,
            None => match args.get(i) {
                Some(next) if !looks_like_option(next) => {
                    i += 1;
                    Some(next.clone())
                }
                _ => None,
            },
        };
        if spec.name == "ini" {
            let file = value.ok_or_else(|| SourceError {
                origin: Origin::CommandLine,
                message: "option '--ini' needs a file name".into(),
            })?;
            reader.include(&file, &Origin::CommandLine, entries, 0)?;
            continue;
        }
        entries.push(Entry {
            key: name.to_string(),
            value,
            origin: Origin::CommandLine,
        });
    }
    expand_references(entries)?;
    let entries = std::mem::take(entries);
    Ok(if check {
        Request::Check(entries)
    } else {
        Request::Serve(entries)
    })
}

/// `--help`, `--version` and the printing options: what to do instead of serving.
fn not_to_serve(arg: &str, next: Option<&String>) -> Option<Request> {
    match arg {
        "--help" | "-h" => Some(Request::Help),
        "--version" => Some(Request::Version),
        "--print-option-table" => Some(Request::OptionTable),
        "--print-man-page" => Some(Request::ManPage(next.cloned().unwrap_or_default())),
        _ => None,
    }
}

/// An option given on the command line must exist (a typo there is fatal, with a hint).
fn known_option(name: &str) -> Result<&'static options::OptionSpec, SourceError> {
    options::find(name).ok_or_else(|| {
        let hint = options::suggest(name)
            .map(|s| format!("; did you mean '--{s}'?"))
            .unwrap_or_default();
        SourceError {
            origin: Origin::CommandLine,
            message: format!("unknown option '--{name}'{hint}"),
        }
    })
}

fn looks_like_option(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-') && !arg[1..].starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::placeholders::{expand_environment, expand_file_contents};
    use super::*;
    use std::path::PathBuf;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn serve(list: &[&str]) -> Vec<Entry> {
        match from_args(&args(list)).unwrap() {
            Request::Serve(entries) => entries,
            other => panic!("expected entries, got {other:?}"),
        }
    }

    fn write_temp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rwsgi-source-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn command_line_forms() {
        let entries = serve(&[
            "--processes",
            "4",
            "--master",
            "--http-socket=:8000",
            "-s",
            "/tmp/a.sock",
        ]);
        let pairs: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("processes", Some("4")),
                ("master", None),
                ("http-socket", Some(":8000")),
                ("s", Some("/tmp/a.sock"))
            ]
        );
    }

    #[test]
    fn unknown_command_line_option_is_an_error_with_a_hint() {
        let err = from_args(&args(&["--procesess", "2"])).unwrap_err();
        assert!(
            err.message.contains("did you mean '--processes'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn ini_repeated_keys_magic_and_placeholders() {
        let path = write_temp(
            "app.ini",
            "[other]\nsocket = nope\n[uwsgi]\n; comment\nbase = /srv/%n\nsocket = a.sock\nsocket = b.sock\nchdir = %(base)/src\nvacuum\nenv = X=$(RWSGI_TEST_NEVER_SET)\nkey = v ; not a comment\n",
        );
        let entries = serve(&["--ini", path.to_str().unwrap()]);
        let get = |k: &str| -> Vec<Option<String>> {
            entries
                .iter()
                .filter(|e| e.key == k)
                .map(|e| e.value.clone())
                .collect()
        };
        assert_eq!(
            get("socket"),
            vec![Some("a.sock".into()), Some("b.sock".into())]
        );
        assert_eq!(get("chdir"), vec![Some("/srv/app/src".into())]);
        assert_eq!(get("vacuum"), vec![None]);
        assert_eq!(get("env"), vec![Some("X=$(RWSGI_TEST_NEVER_SET)".into())]);
        assert_eq!(get("key"), vec![Some("v ; not a comment".into())]);
        let chdir = entries.iter().find(|e| e.key == "chdir").unwrap();
        assert!(
            matches!(&chdir.origin, Origin::File { line: 8, .. }),
            "{:?}",
            chdir.origin
        );
        let magic_file = write_temp("m.ini", "[uwsgi]\nchdir = %d\npidfile = %c/%s\n");
        let dir = magic_file.parent().unwrap().display().to_string();
        let magic = serve(&["--ini", magic_file.to_str().unwrap()]);
        assert_eq!(magic[0].value.as_deref(), Some(format!("{dir}/").as_str()));
        assert!(magic[1].value.as_deref().unwrap().ends_with("/m.ini"));
    }

    #[test]
    fn includes_expand_in_place_and_sections_can_be_chosen() {
        let base = write_temp(
            "base.ini",
            "[uwsgi]\nprocesses = 2\n[prod]\nprocesses = 8\n",
        );
        let main = write_temp(
            "main.ini",
            &format!(
                "[uwsgi]\nmaster = true\nini = {}\nthreads = 2\nini = :prod\n",
                base.display()
            ),
        );
        let entries = serve(&[main.to_str().unwrap()]);
        let keys: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("master", Some("true")),
                ("processes", Some("2")),
                ("threads", Some("2")),
                ("processes", Some("8"))
            ]
        );
    }

    #[test]
    fn a_missing_ini_file_names_the_including_line() {
        let main = write_temp("broken.ini", "[uwsgi]\n\nini = /nonexistent/x.ini\n");
        let err = from_args(&args(&["--ini", main.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("broken.ini:3"), "{err}");
    }

    #[test]
    fn configuration_logic() {
        // No set_var: tests run in parallel threads of one process. PATH is always set.
        let path = std::env::var("PATH").expect("PATH is set");
        let dir = write_temp("logic.ini", "").parent().unwrap().to_path_buf();
        std::fs::write(dir.join("a.conf"), "").unwrap();
        std::fs::write(dir.join("b.conf"), "").unwrap();
        let ini = write_temp(
            "logic.ini",
            &format!(
                "[uwsgi]\nif-env = PATH\nenv = SEEN=%(_)\nif-not-exists = /nonexistent\nprocesses = 3\nendif\nendif\nif-env = RWSGI_LOGIC_UNSET\nprocesses = 9\nendif\nfor = a b\nsocket = /tmp/%(_).sock\nendfor\nfor-glob = {}/*.conf\nprint = %(_)\nendfor\n",
                dir.display()
            ),
        );
        let entries = serve(&["--ini", ini.to_str().unwrap()]);
        let pairs: Vec<(String, String)> = entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        let expected: Vec<(String, String)> = vec![
            ("env".into(), format!("SEEN={path}")),
            ("processes".into(), "3".into()),
            ("socket".into(), "/tmp/a.sock".into()),
            ("socket".into(), "/tmp/b.sock".into()),
            ("print".into(), format!("{}/a.conf", dir.display())),
            ("print".into(), format!("{}/b.conf", dir.display())),
        ];
        assert_eq!(pairs, expected);
        let broken = write_temp("broken-logic.ini", "[uwsgi]\nif-env = X\nprocesses = 2\n");
        let err = from_args(&args(&["--ini", broken.to_str().unwrap()])).unwrap_err();
        assert!(
            err.to_string()
                .contains("broken-logic.ini:2: 'if-env' without 'endif'"),
            "{err}"
        );
    }

    #[test]
    fn placeholder_arithmetic() {
        let path = write_temp(
            "math.ini",
            "[uwsgi]\nprocesses = %(%k * 2)\nthreads = %(10 / 2 + 1)\nbase = 3\nlisten = %(base)\n",
        );
        let entries = serve(&["--ini", path.to_str().unwrap()]);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(
            entries[0].value.as_deref(),
            Some((cpus * 2).to_string().as_str())
        );
        assert_eq!(entries[1].value.as_deref(), Some("6"));
        assert_eq!(entries[3].value.as_deref(), Some("3"));
    }

    #[test]
    fn file_contents_and_command_output() {
        let secret = write_temp("secret.txt", "s3cret\n");
        assert_eq!(
            expand_file_contents(&format!("key=@({})!", secret.display())).unwrap(),
            "key=s3cret!"
        );
        assert_eq!(
            expand_file_contents("@(exec://echo hello; echo world)").unwrap(),
            "hello\nworld"
        );
        let missing = expand_file_contents("@(/nonexistent/rwsgi)").unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/rwsgi"),
            "{missing}"
        );
        assert!(expand_file_contents("@(exec://exit 3)").is_err());
    }

    #[test]
    fn environment_references() {
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(expand_environment("n=$(PATH)!"), format!("n={path}!"));
    }
}
