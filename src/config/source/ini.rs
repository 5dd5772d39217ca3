//! uWSGI's INI dialect: sections, repeated keys, `ini =` includes expanded in place, and
//! the magic `%x` variables fixed per file.
//!
//! Owns: reading one file (and those it includes) into entries. Must not: interpret values
//! or log (a missing section is returned as a warning).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::logic::expand_logic;
use crate::config::entries::{Entry, Origin, SourceError};
use crate::config::options;

const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Default)]
pub(super) struct Reader {
    /// `ini = :section` re-reads the file loaded last.
    last_file: Option<PathBuf>,
    /// Not fatal, for the caller to log: a file without the section asked for.
    pub(super) warnings: Vec<String>,
}

impl Reader {
    pub(super) fn include(
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
            self.warnings.push(format!(
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
