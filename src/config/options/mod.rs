//! The one table of every option rwsgi knows (`table.rs`): name, aliases, value kind,
//! default, example, help and how its value is applied to `Config`.
//!
//! The command line, the INI reader, `--help`, the man pages, README's table and
//! `config::build` all read this table, so they cannot disagree. Nothing here touches the
//! file system or the process.

use super::apply::Value;
use super::error::ConfigError;
use super::model::Config;

/// How an option's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `true/false/yes/no/on/off/1/0`; no value means true (uWSGI's `uwsgi_opt_true`).
    Flag,
    /// A whole number; no value means 1, as in uWSGI.
    Number,
    /// A byte size: a number, optionally with a `k`/`m`/`g` suffix.
    Bytes,
    /// Free text; the last occurrence wins.
    Text,
    /// Free text; every occurrence is kept in order (sockets, env, pythonpath...).
    List,
    /// Accepted for compatibility and ignored (with the reason given in the help text).
    Ignored,
}

/// Whether rwsgi does what uWSGI does with the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Behaves as in uWSGI (differences are documented in the help text and man page).
    Honoured,
    /// Accepted so existing files run, but has no effect; the help text says why.
    NoOp,
    /// Accepted so existing files start, with a warning that says why it is not honoured
    /// and what to use instead.
    Unsupported,
}

/// How a row stores its value in `Config`: checks the value and sets the field(s).
pub type Apply = fn(&mut Config, &mut Value<'_>) -> Result<(), ConfigError>;

/// One option, declared once: everything help, the man pages, README's table, the readers
/// and `build` know of it.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    /// Other long names and one-letter short forms (`-p`), all meaning the same option.
    pub aliases: &'static [&'static str],
    pub kind: ValueKind,
    /// The default as a user would write it; empty when there is none. `Config::default()`
    /// applies it, so it is the only place a default is written.
    pub default: &'static str,
    /// What the value looks like, for help and the man page (`N`, `PATH`, `ADDR`...).
    pub metavar: &'static str,
    pub support: Support,
    /// A real value for rwsgi.ini(5)'s example line (a unit test applies each one).
    pub example: &'static str,
    pub help: &'static str,
    pub apply: Apply,
}

/// One row of the table: `opt!(name, [aliases], Kind, default, metavar, Support,
/// example "...", "help", apply)`, where apply is a function path or, for a one-line
/// body, `|config, v| EXPRESSION`. Every part is required, so a row without its example or
/// its apply does not compile.
macro_rules! opt {
    ($name:literal, [$($alias:literal),*], $kind:ident, $default:literal, $metavar:literal,
     $support:ident, example $example:literal, $help:literal,
     |$config:ident, $v:ident| $body:expr) => {
        opt!(@row $name, [$($alias),*], $kind, $default, $metavar, $support, $example, $help, {
            fn apply(
                $config: &mut Config,
                $v: &mut Value<'_>,
            ) -> Result<(), ConfigError> {
                $body;
                Ok(())
            }
            apply
        })
    };
    ($name:literal, [$($alias:literal),*], $kind:ident, $default:literal, $metavar:literal,
     $support:ident, example $example:literal, $help:literal, $apply:path) => {
        opt!(@row $name, [$($alias),*], $kind, $default, $metavar, $support, $example, $help, $apply)
    };
    (@row $name:literal, [$($alias:literal),*], $kind:ident, $default:literal,
     $metavar:literal, $support:ident, $example:literal, $help:literal, $apply:expr) => {
        OptionSpec {
            name: $name,
            aliases: &[$($alias),*],
            kind: ValueKind::$kind,
            default: $default,
            metavar: $metavar,
            support: Support::$support,
            example: $example,
            help: $help,
            apply: $apply,
        }
    };
}

mod table;

pub use table::OPTIONS;

/// Finds an option by its name or one of its aliases; `-` and `_` are interchangeable.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    // One-letter forms are case-sensitive, as in uWSGI: `-T` is enable-threads, `-t` harakiri.
    if name.len() == 1 {
        return OPTIONS.iter().find(|spec| spec.aliases.contains(&name));
    }
    let wanted = normalize(name);
    OPTIONS
        .iter()
        .find(|spec| spec.name == wanted || spec.aliases.iter().any(|alias| *alias == wanted))
}

pub fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The closest known name to a misspelt one, if it is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    let wanted = normalize(name);
    let mut best: Option<(usize, &'static str)> = None;
    for spec in OPTIONS {
        for candidate in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
            if candidate.len() < 3 {
                continue;
            }
            let distance = edit_distance(&wanted, candidate);
            let prefix_match = candidate.starts_with(&wanted) && wanted.len() >= 4;
            let limit = (candidate.len() / 3).max(1);
            if (distance <= limit || prefix_match) && best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, spec.name));
            }
        }
    }
    best.map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// `rwsgi --help`: one line per option, starting with `--name`.
pub fn help_text() -> String {
    let mut out = String::from(
        "usage: rwsgi [--ini FILE] [--OPTION VALUE]... [FILE.ini]\n\
         A uWSGI-compatible WSGI server. Options may also be written in an INI file's [uwsgi]\n\
         section; `-` and `_` are interchangeable in names.\n\n",
    );
    for spec in OPTIONS {
        let mut names = format!("--{}", spec.name);
        if !spec.metavar.is_empty() {
            names.push(' ');
            names.push_str(spec.metavar);
        }
        let mut line = format!("{names:<30} {}", spec.help);
        if !spec.default.is_empty() {
            line.push_str(&format!(" [default: {}]", spec.default));
        }
        let aliases: Vec<String> = spec
            .aliases
            .iter()
            .map(|a| {
                if a.len() == 1 {
                    format!("-{a}")
                } else {
                    format!("--{a}")
                }
            })
            .collect();
        if !aliases.is_empty() {
            line.push_str(&format!(" (also {})", aliases.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!("{:<30} print this help and exit\n", "--help"));
    out.push_str(&format!("{:<30} print the version and exit\n", "--version"));
    out.push_str(&format!(
        "{:<30} check the configuration, sockets, users, directories and the application import, then exit (0 ok, 1 warnings with strict, 2 errors)\n",
        "--check"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for spec in OPTIONS {
            for name in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
                assert!(
                    seen.insert(*name),
                    "{name} appears twice in the option table"
                );
            }
        }
    }

    #[test]
    fn ignored_values_belong_to_options_not_honoured_as_written() {
        for spec in OPTIONS {
            if spec.kind == ValueKind::Ignored {
                assert_ne!(spec.support, Support::Honoured, "{}", spec.name);
            }
        }
    }

    #[test]
    fn lookup_accepts_aliases_and_underscores() {
        assert_eq!(find("workers").unwrap().name, "processes");
        assert_eq!(find("lazy_apps").unwrap().name, "lazy-apps");
        assert_eq!(find("s").unwrap().name, "socket");
        assert_eq!(find("socket_protocol").unwrap().name, "protocol");
        assert!(find("procesess").is_none());
    }

    #[test]
    fn suggestions_catch_common_typos() {
        assert_eq!(suggest("procesess"), Some("processes"));
        assert_eq!(suggest("vaccum"), Some("vacuum"));
        assert_eq!(suggest("chmod-sock"), Some("chmod-socket"));
        assert_eq!(suggest("base"), None);
    }
}
