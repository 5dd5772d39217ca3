//! Turns the command line and INI files into one ordered list of `key = value` entries, each
//! remembering where it was written, as uWSGI does before it interprets anything.
//!
//! Owns: argv splitting, the uWSGI INI dialect (sections, repeated keys, `ini =` includes
//! expanded in place, magic `%x` variables), and the later `$(ENV)` / `%(option)` passes.
//! Must not: interpret option values (that is `config::build`) or warn about unknown keys.
//!
//! Why not the rust-ini crate: uWSGI's dialect has no quoting, escapes or inline comments,
//! and every error must name the file and line; rust-ini keeps no line numbers.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::options::{self, ValueKind};

/// Where an entry was written, for error messages: `app.ini:5` or `command line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    /// A `UWSGI_<OPTION>` environment variable.
    Environment(String),
    File {
        path: Rc<str>,
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => write!(f, "command line"),
            Origin::Environment(variable) => write!(f, "environment {variable}"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// As written (not normalized), so placeholders can refer to it exactly.
    pub key: String,
    /// `None` when the key was written without `=` (a flag set to true).
    pub value: Option<String>,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct SourceError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

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

const MAX_INCLUDE_DEPTH: usize = 16;

/// Reads argv (without the program name) into entries, expanding INI files in place.
pub fn from_args(args: &[String]) -> Result<Request, SourceError> {
    let mut reader = Reader::default();
    let mut entries = Vec::new();
    // Options from the environment (UWSGI_PROCESSES=4, UWSGI_INI=...), as the popular
    // uWSGI container images use them; read first, so the command line overrides them.
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
            reader.include(&value, &origin, &mut entries, 0)?;
        } else if options::find(&name).is_some() {
            entries.push(Entry {
                key: name,
                value: Some(value),
                origin,
            });
        }
    }
    let mut i = 0;
    let mut check = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--check" {
            check = true;
            continue;
        }
        if arg == "--help" || arg == "-h" {
            return Ok(Request::Help);
        }
        if arg == "--version" {
            return Ok(Request::Version);
        }
        if arg == "--print-option-table" {
            return Ok(Request::OptionTable);
        }
        if arg == "--print-man-page" {
            return Ok(Request::ManPage(args.get(i).cloned().unwrap_or_default()));
        }
        let Some(stripped) = arg.strip_prefix('-') else {
            if arg.ends_with(".ini") || arg.contains(".ini:") {
                reader.include(arg, &Origin::CommandLine, &mut entries, 0)?;
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
        let Some(spec) = options::find(name) else {
            let hint = options::suggest(name)
                .map(|s| format!("; did you mean '--{s}'?"))
                .unwrap_or_default();
            return Err(SourceError {
                origin: Origin::CommandLine,
                message: format!("unknown option '--{name}'{hint}"),
            });
        };
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
            reader.include(&file, &Origin::CommandLine, &mut entries, 0)?;
            continue;
        }
        entries.push(Entry {
            key: name.to_string(),
            value,
            origin: Origin::CommandLine,
        });
    }
    expand_references(&mut entries)?;
    Ok(if check {
        Request::Check(entries)
    } else {
        Request::Serve(entries)
    })
}

fn looks_like_option(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-') && !arg[1..].starts_with(|c: char| c.is_ascii_digit())
}

#[derive(Default)]
struct Reader {
    /// `ini = :section` re-reads the file loaded last.
    last_file: Option<PathBuf>,
}

impl Reader {
    fn include(
        &mut self,
        spec: &str,
        from: &Origin,
        out: &mut Vec<Entry>,
        depth: usize,
    ) -> Result<(), SourceError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(SourceError {
                origin: from.clone(),
                message: format!(
                    "ini files include each other more than {MAX_INCLUDE_DEPTH} deep (a loop?)"
                ),
            });
        }
        let (path, section) = self.split_section(spec, from)?;
        let text = std::fs::read_to_string(&path).map_err(|e| SourceError {
            origin: from.clone(),
            message: format!("cannot read ini file '{}': {e}", path.display()),
        })?;
        self.last_file = Some(path.clone());
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let magic = MagicVariables::for_file(spec, &path, &absolute, &section);
        let display: Rc<str> = Rc::from(path.display().to_string());
        let mut in_section = false;
        let mut found_section = false;
        let mut lines = Vec::new();
        for (index, raw_line) in text.split('\n').enumerate() {
            let line = raw_line.trim_matches([' ', '\t', '\r']);
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                in_section = line[1..line.len() - 1].trim() == section;
                found_section |= in_section;
                continue;
            }
            if !in_section {
                continue;
            }
            let origin = Origin::File {
                path: display.clone(),
                line: index + 1,
            };
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), Some(magic.expand(v.trim()))),
                None => (line, None),
            };
            lines.push(Entry {
                key: key.to_string(),
                value,
                origin,
            });
        }
        for entry in expand_logic(lines)? {
            if options::normalize(&entry.key) == "ini" {
                let target = entry.value.clone().unwrap_or_default();
                self.include(&target, &entry.origin, out, depth + 1)?;
                continue;
            }
            out.push(entry);
        }
        if !found_section {
            crate::log::warn(&format!(
                "{}: no [{section}] section; nothing read from it",
                path.display()
            ));
        }
        Ok(())
    }

    fn split_section(&self, spec: &str, from: &Origin) -> Result<(PathBuf, String), SourceError> {
        if let Some(section) = spec.strip_prefix(':') {
            let last = self.last_file.clone().ok_or_else(|| SourceError {
                origin: from.clone(),
                message: format!("'ini = {spec}' names a section but no ini file was read before"),
            })?;
            return Ok((last, section.to_string()));
        }
        if let Some((file, section)) = spec.rsplit_once(':') {
            if !section.is_empty() && !section.contains('/') && Path::new(file).is_file() {
                return Ok((PathBuf::from(file), section.to_string()));
            }
        }
        Ok((PathBuf::from(spec), "uwsgi".to_string()))
    }
}

/// uWSGI's configuration logic: `if-env`, `if-not-env`, `if-exists`, `if-not-exists`,
/// `if-file`, `if-not-file`, `if-dir`, `if-not-dir` ... `endif`, and `for` / `for-glob` ...
/// `endfor`, with `%(_)` standing for the condition's value or the loop's item. Blocks may
/// contain blocks of another kind.
fn expand_logic(lines: Vec<Entry>) -> Result<Vec<Entry>, SourceError> {
    let mut out = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let entry = &lines[index];
        let key = match options::normalize(&entry.key).as_str() {
            // uWSGI's spellings without the dash.
            "ifenv" => "if-env".to_string(),
            "ifnotenv" => "if-not-env".to_string(),
            "ifexists" => "if-exists".to_string(),
            "ifnotexists" => "if-not-exists".to_string(),
            other => other.to_string(),
        };
        let argument = entry.value.clone().unwrap_or_default();
        let (closing, items): (&str, Option<Vec<String>>) = match key.as_str() {
            "for" => (
                "endfor",
                Some(argument.split_whitespace().map(str::to_string).collect()),
            ),
            "for-glob" => ("endfor", Some(glob(&argument))),
            "if-env" | "if-not-env" | "if-exists" | "if-not-exists" | "if-file" | "if-not-file"
            | "if-dir" | "if-not-dir" => {
                let negated = key.starts_with("if-not-");
                let (holds, value) =
                    match key.trim_start_matches("if-not-").trim_start_matches("if-") {
                        "env" => match std::env::var(&argument) {
                            Ok(v) if !v.is_empty() => (true, v),
                            _ => (false, argument.clone()),
                        },
                        "exists" => (Path::new(&argument).exists(), argument.clone()),
                        "file" => (Path::new(&argument).is_file(), argument.clone()),
                        _ => (Path::new(&argument).is_dir(), argument.clone()),
                    };
                (
                    "endif",
                    (holds != negated).then(|| vec![value]).or(Some(Vec::new())),
                )
            }
            "endif" | "endfor" => {
                return Err(SourceError {
                    origin: entry.origin.clone(),
                    message: format!("'{}' without a block to end", entry.key),
                })
            }
            _ => {
                out.push(entry.clone());
                index += 1;
                continue;
            }
        };
        let opener = entry.origin.clone();
        let mut depth = 0;
        let end = lines[index + 1..]
            .iter()
            .position(|l| {
                let k = options::normalize(&l.key);
                let opens = if closing == "endif" {
                    k.starts_with("if-")
                } else {
                    k == "for" || k == "for-glob"
                };
                if opens {
                    depth += 1;
                } else if k == closing {
                    if depth == 0 {
                        return true;
                    }
                    depth -= 1;
                }
                false
            })
            .map(|p| index + 1 + p)
            .ok_or_else(|| SourceError {
                origin: opener,
                message: format!("'{}' without '{closing}'", entry.key),
            })?;
        for item in items.unwrap_or_default() {
            let body: Vec<Entry> = lines[index + 1..end]
                .iter()
                .map(|l| Entry {
                    key: l.key.clone(),
                    value: l.value.as_ref().map(|v| v.replace("%(_)", &item)),
                    origin: l.origin.clone(),
                })
                .collect();
            out.extend(expand_logic(body)?);
        }
        index = end + 1;
    }
    Ok(out)
}

/// `dir/*.ini`-style patterns (`*` and `?` in the last component), sorted.
fn glob(pattern: &str) -> Vec<String> {
    let path = Path::new(pattern);
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            },
            n.to_string_lossy(),
        ),
        _ => return Vec::new(),
    };
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
                .map(|e| dir.join(e.file_name()).display().to_string())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], text) || (!text.is_empty() && wildcard(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// uWSGI's `%d %p %s %n %e %c %o %x %h %k %%` and friends, fixed per file while it is read.
struct MagicVariables {
    values: [(char, String); 13],
}

impl MagicVariables {
    fn for_file(given: &str, path: &Path, absolute: &Path, section: &str) -> Self {
        let dir = absolute.parent().unwrap_or(Path::new("/"));
        let mut dir_slash = dir.display().to_string();
        if !dir_slash.ends_with('/') {
            dir_slash.push('/');
        }
        let file_name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let extension = path
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir_name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        Self {
            values: [
                ('d', dir_slash),
                ('p', absolute.display().to_string()),
                ('s', file_name),
                ('n', stem),
                ('e', extension),
                ('c', dir_name),
                ('o', given.to_string()),
                ('x', format!("{}:{section}", path.display())),
                ('h', hostname),
                ('k', cpus.to_string()),
                ('u', uid.to_string()),
                ('U', user),
                ('V', env!("CARGO_PKG_VERSION").to_string()),
            ],
        }
    }

    fn expand(&self, value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some('%') => {
                    chars.next();
                    out.push('%');
                }
                // `%(name)` is a placeholder, resolved after every file is read.
                Some('(') | None => out.push('%'),
                Some(letter) if letter.is_ascii_alphanumeric() || letter == '[' => {
                    chars.next();
                    if let Some((_, v)) = self.values.iter().find(|(l, _)| *l == letter) {
                        out.push_str(v);
                    }
                    // Unknown letters expand to nothing, as in uWSGI.
                }
                Some(_) => out.push('%'),
            }
        }
        out
    }
}

/// After all files are read: `$(NAME)` from the environment, then `%(key)` from the first
/// entry with that key (any key, so made-up keys serve as variables, as in uWSGI).
fn expand_references(entries: &mut [Entry]) -> Result<(), SourceError> {
    for entry in entries.iter_mut() {
        if let Some(value) = &entry.value {
            if value.contains("$(") {
                entry.value = Some(expand_environment(value));
            }
        }
        if let Some(value) = &entry.value {
            if value.contains("@(") {
                entry.value = Some(expand_file_contents(value).map_err(|message| SourceError {
                    origin: entry.origin.clone(),
                    message,
                })?);
            }
        }
    }
    // A placeholder may refer to a key whose value holds another placeholder: a few rounds.
    for _ in 0..8 {
        let mut changed = false;
        for index in 0..entries.len() {
            let Some(value) = entries[index].value.clone() else {
                continue;
            };
            if !value.contains("%(") {
                continue;
            }
            let expanded = expand_placeholders(&value, entries);
            if expanded != value {
                entries[index].value = Some(expanded);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

/// `@(PATH)`: the contents of a file; `@(exec://COMMAND)`: what a shell command prints. One
/// trailing newline is dropped, so `@(/etc/app/secret)` gives the secret itself. Unlike a
/// missing `$(VAR)`, an unreadable source is an error: uWSGI refuses to start too.
fn expand_file_contents(value: &str) -> Result<String, String> {
    let failure = std::cell::RefCell::new(None);
    let expanded = replace_references(value, "@(", |source| {
        let contents = match source.strip_prefix("exec://") {
            Some(command) => std::process::Command::new("/bin/sh")
                .args(["-c", command])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| e.to_string())
                .and_then(|output| {
                    if output.status.success() {
                        Ok(output.stdout)
                    } else {
                        Err(format!("exited with {}", output.status))
                    }
                }),
            None => std::fs::read(source.strip_prefix("file://").unwrap_or(source))
                .map_err(|e| e.to_string()),
        };
        match contents {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                Some(text.strip_suffix('\r').unwrap_or(text).to_string())
            }
            Err(e) => {
                failure.replace(Some(format!("@({source}): {e}")));
                None
            }
        }
    });
    match failure.into_inner() {
        Some(message) => Err(message),
        None => Ok(expanded),
    }
}

fn expand_environment(value: &str) -> String {
    replace_references(value, "$(", |name| std::env::var(name).ok())
}

fn expand_placeholders(value: &str, entries: &[Entry]) -> String {
    replace_references(value, "%(", |name| {
        if let Some(result) = arithmetic(name) {
            return Some(result);
        }
        let wanted = options::normalize(name);
        entries
            .iter()
            .find(|e| e.key == name || options::normalize(&e.key) == wanted)
            .map(|e| e.value.clone().unwrap_or_else(|| "true".into()))
    })
}

/// uWSGI's placeholder math, left to right: `%(4 * 2)`, `%(8 + 1)` (after `%k` and
/// friends were expanded). None unless every token is a number or an operator.
fn arithmetic(expression: &str) -> Option<String> {
    let mut tokens = expression.split_whitespace();
    let mut value: i64 = tokens.next()?.parse().ok()?;
    let mut any_operator = false;
    while let Some(operator) = tokens.next() {
        let operand: i64 = tokens.next()?.parse().ok()?;
        value = match operator {
            "+" => value.checked_add(operand)?,
            "-" => value.checked_sub(operand)?,
            "*" => value.checked_mul(operand)?,
            "/" => value.checked_div(operand)?,
            _ => return None,
        };
        any_operator = true;
    }
    any_operator.then(|| value.to_string())
}

/// Replaces `<opener>name)` by `lookup(name)`; unknown names are left as written.
fn replace_references(
    value: &str,
    opener: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(opener) {
        out.push_str(&rest[..start]);
        let after = &rest[start + opener.len()..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + opener.len() + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(missing.contains("/nonexistent/rwsgi"), "{missing}");
        assert!(expand_file_contents("@(exec://exit 3)").is_err());
    }

    #[test]
    fn environment_references() {
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(expand_environment("n=$(PATH)!"), format!("n={path}!"));
    }
}
