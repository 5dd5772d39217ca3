//! The man pages rwsgi(8) and rwsgi.ini(5), generated from the option table so they cannot
//! disagree with the binary (`rwsgi --print-man-page 8|5`; packaging writes them to man/).
//!
//! Owns: the pages' text and roff formatting. Must not: describe an option by hand; every
//! option paragraph, example included, comes from its row in `options::OPTIONS`.

use super::options::{OptionSpec, Support, ValueKind, OPTIONS};

const DATE: &str = "2026-11-25";

fn escape(text: &str) -> String {
    let mut out = text.replace('\\', "\\e").replace('-', "\\-");
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn kind_name(spec: &OptionSpec) -> &'static str {
    match spec.kind {
        ValueKind::Flag => "boolean",
        ValueKind::Number => "integer",
        ValueKind::Bytes => "size in bytes (k, m, g suffixes)",
        ValueKind::Text => "string",
        ValueKind::List => "string, repeatable",
        ValueKind::Ignored => "accepted and ignored",
    }
}

/// A line a user could put in an ini file: the row's example, a real value (a unit test
/// applies each one), with paths as the packaged unit allows them (/run/rwsgi/NAME/,
/// /var/log/rwsgi/NAME/).
pub fn example(spec: &OptionSpec) -> String {
    format!("{} = {}", spec.name, spec.example)
}

fn aliases(spec: &OptionSpec) -> String {
    spec.aliases
        .iter()
        .map(|a| {
            if a.len() == 1 {
                format!("\\-{a}")
            } else {
                format!("\\-\\-{}", escape(a))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// rwsgi.ini(5): the INI syntax and every option.
pub fn ini_page() -> String {
    let mut out = format!(
        ".TH RWSGI.INI 5 \"{DATE}\" \"rwsgi {}\" \"File Formats\"\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(SYNTAX);
    out.push_str(".SH OPTIONS\nEvery option below may be written in an ini file as \\fIname\\fR = \\fIvalue\\fR or on the command line as \\fB\\-\\-name\\fR \\fIvalue\\fR.\n");
    out.push_str(UNDER_THE_UNIT);
    for spec in OPTIONS {
        out.push_str(&format!(".SS {}\n", escape(spec.name)));
        out.push_str(&format!("{}.\n.br\n", escape(spec.help)));
        out.push_str(&format!("Type: {}.", kind_name(spec)));
        if !spec.default.is_empty() {
            out.push_str(&format!(" Default: {}.", escape(spec.default)));
        }
        if !spec.aliases.is_empty() {
            out.push_str(&format!(" Also: {}.", aliases(spec)));
        }
        match spec.support {
            Support::Honoured => {}
            Support::NoOp => {
                out.push_str(" Accepted for uWSGI compatibility; rwsgi already behaves so.")
            }
            Support::Unsupported => out.push_str(
                " Not honoured: accepted so that existing files start, with a warning naming file and line.",
            ),
        }
        out.push_str(&format!(
            "\n.br\nExample:\n.RS\n.EX\n{}\n.EE\n.RE\n",
            escape(&example(spec))
        ));
    }
    out.push_str(".SH SEE ALSO\n.BR rwsgi (8)\n");
    out
}

/// Every option with what rwsgi does with it, as a Markdown table (README's uWSGI section).
pub fn option_table() -> String {
    let mut out = String::from("| option | also | in rwsgi |\n|---|---|---|\n");
    for spec in OPTIONS {
        let status = match spec.support {
            Support::Honoured => format!("honoured: {}", spec.help),
            Support::NoOp => format!(
                "no-op: {}",
                spec.help.strip_prefix("accepted: ").unwrap_or(spec.help)
            ),
            Support::Unsupported => format!(
                "**not honoured** (warning): {}",
                spec.help
                    .strip_prefix("not honoured: ")
                    .unwrap_or(spec.help)
            ),
        };
        let aliases = spec
            .aliases
            .iter()
            .filter(|a| a.len() > 1)
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {aliases} | {} |\n",
            spec.name,
            status.replace('|', "\\|")
        ));
    }
    out
}

/// rwsgi(8): running and operating the server.
pub fn server_page() -> String {
    let mut out = format!(
        ".TH RWSGI 8 \"{DATE}\" \"rwsgi {}\" \"System Administration\"\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(SERVER_INTRO);
    out.push_str(".SH OPTIONS\nOptions are read in order from the command line and from ini files (see \\fBrwsgi.ini\\fR(5), which also describes each option in full). \\fB\\-\\-name value\\fR and \\fB\\-\\-name=value\\fR are equivalent; a boolean option takes no value on the command line (\\fB\\-\\-vacuum\\fR, or \\fB\\-\\-vacuum=false\\fR).\n");
    for spec in OPTIONS {
        let metavar = if spec.metavar.is_empty() {
            String::new()
        } else {
            format!(" \\fI{}\\fR", escape(spec.metavar))
        };
        out.push_str(&format!(
            ".TP\n\\fB\\-\\-{}\\fR{metavar}\n{}",
            escape(spec.name),
            escape(spec.help)
        ));
        if !spec.default.is_empty() {
            out.push_str(&format!(" (default: {})", escape(spec.default)));
        }
        if !spec.aliases.is_empty() {
            out.push_str(&format!("; also {}", aliases(spec)));
        }
        out.push_str(".\n");
    }
    out.push_str(".TP\n\\fB\\-\\-help\\fR\nPrint every option with its default and exit.\n.TP\n\\fB\\-\\-version\\fR\nPrint the version and exit.\n.TP\n\\fB\\-\\-check\\fR\nCheck the configuration and the system for it, then exit; see \\fBCHECKING A CONFIGURATION\\fR.\n");
    out.push_str(super::manpage_ops::OPERATIONS);
    out.push_str(super::manpage_body::SERVER_BODY);
    out
}

const SYNTAX: &str = r#".SH NAME
rwsgi.ini \- configuration files of the rwsgi WSGI server
.SH DESCRIPTION
rwsgi reads the ini dialect of uWSGI 2.0, so an existing \fIuwsgi.ini\fR runs unchanged
wherever rwsgi supports its options. Options are read in order from the command line and
from files given with \fB\-\-ini\fR (or as a bare argument ending in \fI.ini\fR).
.SH SYNTAX
.IP \(bu 2
Only the \fB[uwsgi]\fR section is read, unless \fB\-\-ini\fR \fIfile\fR\fB:\fR\fIsection\fR names another.
.IP \(bu 2
One \fIkey\fR \fB=\fR \fIvalue\fR per line; spaces around both are trimmed. There is no
quoting and no inline comment: \fIkey = v ; x\fR has the value \fIv ; x\fR.
Lines starting with \fB;\fR or \fB#\fR are comments.
.IP \(bu 2
A key without a value is true. Booleans are \fBtrue\fR, \fBfalse\fR, \fByes\fR, \fBno\fR,
\fBon\fR, \fBoff\fR, \fB1\fR and \fB0\fR.
.IP \(bu 2
Repeated keys accumulate in order: two \fBsocket\fR lines bind two sockets. For
single-valued options the last one wins.
.IP \(bu 2
\fB\-\fR and \fB_\fR are interchangeable in option names.
.IP \(bu 2
\fBini = \fR\fIother.ini\fR includes another file in place; \fBini = :\fR\fIsection\fR reads
another section of the file read last.
.IP \(bu 2
\fB%(\fR\fIkey\fR\fB)\fR is replaced by the value of the first entry named \fIkey\fR; any
key, even one that is not an option, can serve as such a variable.
\fB$(\fR\fINAME\fR\fB)\fR is replaced by the environment variable \fINAME\fR.
.IP \(bu 2
Magic variables, expanded while a file is read: \fB%d\fR the file's directory (with a
trailing slash), \fB%p\fR its absolute path, \fB%s\fR its name, \fB%n\fR its name without
extension, \fB%e\fR the extension, \fB%c\fR the name of the directory, \fB%o\fR the path
as given, \fB%x\fR file and section, \fB%h\fR the host name, \fB%k\fR the number of CPUs,
\fB%u\fR/\fB%U\fR the uid/user name, \fB%V\fR the rwsgi version, \fB%%\fR a percent sign.
Other letters expand to nothing, as in uWSGI.
.IP \(bu 2
An unknown option is a warning naming the file, the line and the option probably meant;
with \fBstrict = true\fR it is fatal. An invalid value of a known option is always fatal.
.SH EXAMPLE
.EX
[uwsgi]
chdir = /srv/myapp
module = myproject.wsgi:application
home = /srv/myapp/venv
processes = 4
max\-requests = 1000
harakiri = 30
pidfile = /run/rwsgi/myapp/myapp.pid
.EE
.PP
As \fI/etc/rwsgi/myapp.ini\fR of the packaged unit \fBrwsgi@myapp.service\fR, this needs no
\fBsocket\fR line: the unit passes \fI/run/rwsgi/myapp.sock\fR (a unix \fBsocket\fR line is
skipped with a warning). The unit lets rwsgi write only under \fI/run/rwsgi/myapp/\fR,
\fI/var/lib/rwsgi/myapp/\fR, \fI/var/cache/rwsgi/myapp/\fR, \fI/var/log/rwsgi/myapp/\fR and
\fI/tmp\fR, and runs it as www\-data: see \fBrwsgi\fR(8), THE PACKAGED UNITS, for the
drop\-ins that add writable paths or choose another user. Started by hand as root, rwsgi
binds the sockets the file names:
.EX
socket = /run/myapp.sock
chmod\-socket = 660
uid = www\-data
gid = www\-data
vacuum = true
.EE
"#;

const UNDER_THE_UNIT: &str = r#".PP
The examples give paths as the packaged unit \fBrwsgi@\fR\fINAME\fR\fB.service\fR allows
them: it passes the socket \fI/run/rwsgi/NAME.sock\fR itself (a unix \fBsocket\fR line is
skipped there), and rwsgi may write only under \fI/run/rwsgi/NAME/\fR (\fBpidfile\fR,
\fBstats\fR, \fBmaster\-fifo\fR), \fI/var/log/rwsgi/NAME/\fR (\fBlogto\fR),
\fI/var/lib/rwsgi/NAME/\fR, \fI/var/cache/rwsgi/NAME/\fR and \fI/tmp\fR unless a drop\-in
adds a path; \fBuid\fR and \fBgid\fR take effect only when rwsgi starts as root. See
\fBrwsgi\fR(8), THE PACKAGED UNITS.
"#;

const SERVER_INTRO: &str = r#".SH NAME
rwsgi \- uWSGI\-compatible WSGI server with a pre\-fork master and CPython workers
.SH SYNOPSIS
.B rwsgi
.RB [ \-\-ini
.IR file [: section ]]
.RB [ \-\-\fIoption\fR
.IR value ]...
.RI [ file.ini ]
.SH DESCRIPTION
.B rwsgi
serves Python WSGI applications (Django, Flask, ...). It reads uWSGI's options and ini
files, speaks the binary uwsgi protocol (nginx \fBuwsgi_pass\fR) on \fBsocket\fR and
HTTP/1.1 on \fBhttp\-socket\fR and \fBhttp\fR, takes its sockets from systemd or binds its
own, notifies systemd when ready and logs to the journal.
.SH HOW IT RUNS
A master process reads the configuration, binds (or adopts) the sockets, writes the
pidfile, drops privileges (\fBuid\fR, \fBgid\fR, \fBcap\fR), starts Python and imports the
application once, then forks \fBprocesses\fR workers that share its memory copy\-on\-write.
With \fBlazy\-apps\fR each worker imports the application itself after the fork.
The master never serves requests: it handles signals, restarts workers that die (backing
off from 1 to 30 seconds when a worker keeps failing at start), recycles them
(\fBmax\-requests\fR, \fBreload\-on\-rss\fR, \fBmax\-worker\-lifetime\fR), kills stuck ones
(\fBharakiri\fR), and forks a replacement as soon as a worker starts to drain, so capacity
never drops.
.PP
Each worker runs one event loop per thread over every socket and connection and calls
Python on that same thread. A request body is read completely before the application runs,
so a slow client holds a buffer and a timer, never a worker.
.SH PYTHON AND VIRTUALENVS
rwsgi comes two ways with the same code. Installed with \fBpip install rwsgi\fR into a
virtualenv (and in the Debian package, under \fI/usr/lib/python3/dist\-packages\fR), its
core is an extension module built against CPython's stable ABI and the \fBrwsgi\fR
command is a Python script: the interpreter that runs it (any CPython from 3.10 on) is the
one that serves the application, and \fBpython \-m rwsgi\fR is the same command. Built
with cargo, \fBrwsgi\fR is a binary that embeds the libpython it was linked with.
.PP
\fBhome\fR (\fBvirtualenv\fR, \fBvenv\fR) names the application's Python. When it is a
virtualenv of another interpreter than the one rwsgi started under, rwsgi runs itself again
under that virtualenv's \fIbin/python3\fR before binding anything (the log says so),
also on every reload; the embedding binary hands over to the \fIbin/rwsgi\fR installed in
the virtualenv, and where there is none it exits with status 2 and a message naming both
Python versions and the fix. A \fBhome\fR that does not exist, a \fIpyvenv.cfg\fR
without a version and a virtualenv older than Python 3.10 stop the start the same way.
\fBno\-site\fR under a Python host runs the interpreter again with \fB\-S\fR. The
start\-up log names the Python version, executable and prefix in use. uWSGI, by contrast,
loads any \fBhome\fR into the one Python it was built for, which fails later with import
errors.
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::{Entry, Origin};

    /// Every example in rwsgi.ini(5) is a value the option takes, and none of the options
    /// that take text reads a bare `= 1`.
    #[test]
    fn examples_are_real_values() {
        for spec in OPTIONS {
            let line = example(spec);
            let value = line.split_once(" = ").map(|(_, v)| v.to_string()).unwrap();
            if !matches!(
                spec.kind,
                ValueKind::Number | ValueKind::Bytes | ValueKind::Flag
            ) {
                assert_ne!(value, "1", "{}", spec.name);
                assert_ne!(
                    value, spec.metavar,
                    "{} has no example of its own",
                    spec.name
                );
            }
            if spec.name == "ini" {
                continue;
            }
            let entry = Entry {
                key: spec.name.to_string(),
                value: Some(value),
                origin: Origin::CommandLine,
            };
            if let Err(e) = crate::config::build(&[entry]) {
                panic!("{line}: {e}");
            }
        }
    }
}
