//! Static files (`static-map`, `static-map2`, `check-static`, `static-index`), answered by
//! the worker with sendfile(2) before the application is asked: Content-Type from the
//! extension (and `mime-file`), Last-Modified / If-Modified-Since (304), single byte ranges
//! (206/416), HEAD, expiry headers (`static-expires*`), precompressed `.gz` variants
//! (`static-gzip-all`, `static-gzip-dir`). A file that is not there falls through to the
//! application, as in uWSGI.
//!
//! Owns: mapping a decoded path to a file without ever leaving the mapped folder (no `..`,
//! no symlink out, unless into a `static-safe` folder). Must not: call Python.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use regex::Regex;

use crate::config::{StaticMap, StaticsConfig};

/// A file found for a request.
pub struct StaticFile {
    pub file: File,
    pub len: u64,
    pub modified: u64,
    pub content_type: &'static str,
    /// The `.gz` variant is sent: Content-Encoding: gzip.
    pub gzip: bool,
    /// Seconds until it expires, from static-expires-type / static-expires / -uri.
    pub expires: Option<u64>,
}

/// The static-file options, prepared once per worker.
#[derive(Default)]
pub struct Settings {
    pub maps: Vec<StaticMap>,
    pub check: Vec<PathBuf>,
    pub index: Vec<String>,
    /// (Content-Type without parameters, seconds).
    pub expires_by_type: Vec<(String, u64)>,
    /// (pattern, seconds, matched against the request path rather than the file path).
    pub expires_by_pattern: Vec<(Regex, u64, bool)>,
    /// Folders a symlink may lead into (canonical).
    pub safe: Vec<PathBuf>,
    /// Extension (lowercase) to Content-Type, from `mime-file`.
    pub mime_types: HashMap<String, &'static str>,
    pub gzip_all: bool,
    pub gzip_dirs: Vec<PathBuf>,
}

impl From<&StaticsConfig> for Settings {
    fn from(statics: &StaticsConfig) -> Settings {
        let mut mime_types = HashMap::new();
        for path in &statics.mime_files {
            match std::fs::read_to_string(path) {
                Ok(text) => parse_mime_types(&text, &mut mime_types),
                Err(e) => crate::log::warn(&format!("mime-file {}: {e}", path.display())),
            }
        }
        Settings {
            maps: statics.static_maps.clone(),
            check: statics.check_static.clone(),
            index: statics.static_index.clone(),
            expires_by_type: statics.static_expires.clone(),
            expires_by_pattern: statics.static_expires_patterns.clone(),
            safe: statics
                .static_safe
                .iter()
                .filter_map(|p| p.canonicalize().ok())
                .collect(),
            mime_types,
            gzip_all: statics.static_gzip_all,
            gzip_dirs: statics
                .static_gzip_dirs
                .iter()
                .filter_map(|p| p.canonicalize().ok())
                .collect(),
        }
    }
}

impl Settings {
    pub fn enabled(&self) -> bool {
        !self.maps.is_empty() || !self.check.is_empty()
    }
}

/// A mime.types file: `type ext ext ...` per line, `#` comments. Loaded once per process,
/// so the type strings are kept for its lifetime.
fn parse_mime_types(text: &str, into: &mut HashMap<String, &'static str>) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(mime) = words.next() else { continue };
        let mime: &'static str = Box::leak(mime.to_string().into_boxed_str());
        for extension in words {
            into.insert(extension.to_ascii_lowercase(), mime);
        }
    }
}

/// The file for `path` (already percent-decoded), if a mapping has it.
pub fn resolve(settings: &Settings, path: &[u8], accepts_gzip: bool) -> Option<StaticFile> {
    let (maps, check, index) = (&settings.maps, &settings.check, &settings.index);
    let path = std::str::from_utf8(path).ok()?;
    let candidates = maps.iter().filter_map(|map| {
        let rest = path.strip_prefix(map.prefix.as_str())?;
        // "/static" maps "/static/x" and "/static", not "/staticfoo".
        if !rest.is_empty() && !rest.starts_with('/') && !map.prefix.ends_with('/') {
            return None;
        }
        let relative = if map.keep_prefix { path } else { rest };
        Some((map.root.as_path(), relative))
    });
    let checks = check.iter().map(|root| (root.as_path(), path));
    for (root, relative) in candidates.chain(checks) {
        let Some((real, file)) = open_inside(root, relative, index, &settings.safe) else {
            continue;
        };
        return describe(settings, path, real, file, accepts_gzip);
    }
    None
}

fn describe(
    settings: &Settings,
    request_path: &str,
    real: PathBuf,
    mut file: File,
    accepts_gzip: bool,
) -> Option<StaticFile> {
    let content_type = real
        .extension()
        .and_then(|e| e.to_str())
        .and_then(|e| settings.mime_types.get(&e.to_ascii_lowercase()).copied())
        .unwrap_or_else(|| content_type(&real));
    let mut gzip = false;
    let wants_gzip = settings.gzip_all || settings.gzip_dirs.iter().any(|d| real.starts_with(d));
    if accepts_gzip && wants_gzip {
        let mut compressed = real.clone().into_os_string();
        compressed.push(".gz");
        // The variant sits beside the checked file, so it is inside the same folder.
        if let Ok(variant) = File::open(&compressed) {
            if variant.metadata().is_ok_and(|m| m.is_file()) {
                file = variant;
                gzip = true;
            }
        }
    }
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs();
    let mime = content_type.split(';').next().unwrap_or("");
    let real_text = real.to_string_lossy();
    let expires = settings
        .expires_by_type
        .iter()
        .find(|(m, _)| m == mime)
        .map(|(_, seconds)| *seconds)
        .or_else(|| {
            settings
                .expires_by_pattern
                .iter()
                .find(|(pattern, _, by_uri)| {
                    pattern.is_match(if *by_uri { request_path } else { &real_text })
                })
                .map(|(_, seconds, _)| *seconds)
        });
    Some(StaticFile {
        file,
        len: metadata.len(),
        modified,
        content_type,
        gzip,
        expires,
    })
}

fn open_inside(
    root: &Path,
    relative: &str,
    index: &[String],
    safe: &[PathBuf],
) -> Option<(PathBuf, File)> {
    let allowed = |real: &Path, root: &Path| {
        real.starts_with(root) || safe.iter().any(|s| real.starts_with(s))
    };
    let mut target = root.to_path_buf();
    for component in Path::new(relative.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => target.push(part),
            Component::CurDir => {}
            // `..`, or an absolute path smuggled in: never outside the mapped folder.
            _ => return None,
        }
    }
    let root = root.canonicalize().ok()?;
    let mut real = target.canonicalize().ok()?;
    if !allowed(&real, &root) {
        return None;
    }
    if real.is_dir() {
        real = index
            .iter()
            .map(|name| real.join(name))
            .find(|p| p.is_file())?
            .canonicalize()
            .ok()?;
        if !allowed(&real, &root) {
            return None;
        }
    }
    let file = File::open(&real).ok()?;
    Some((real, file))
}

pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// A `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` header against a length: `Some(Ok(range))`
/// for one satisfiable range, `Some(Err(()))` for an unsatisfiable one (416), `None` to
/// ignore it (no header, several ranges, another unit: the whole file is sent).
pub fn parse_range(header: Option<&[u8]>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let text = std::str::from_utf8(header?).ok()?.trim();
    let spec = text.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(suffix), len.checked_sub(1)?)
    } else {
        let start: u64 = first.parse().ok()?;
        let end = if last.is_empty() {
            len.saturating_sub(1)
        } else {
            last.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        if start >= len || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some(b"bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(parse_range(Some(b"bytes=90-"), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some(b"bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(parse_range(Some(b"bytes=95-200"), 100), Some(Ok((95, 99))));
        assert_eq!(parse_range(Some(b"bytes=100-"), 100), Some(Err(())));
        assert_eq!(parse_range(Some(b"bytes=0-1,5-6"), 100), None);
        assert_eq!(parse_range(None, 100), None);
    }

    #[test]
    fn never_outside_the_root() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/sub/a.css"), "x").unwrap();
        std::fs::write(dir.join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/link.txt")).unwrap();
        let maps = Settings {
            maps: vec![StaticMap {
                prefix: "/static".into(),
                root: dir.join("root"),
                keep_prefix: false,
            }],
            ..Settings::default()
        };
        assert!(resolve(&maps, b"/static/sub/a.css", false).is_some());
        assert!(resolve(&maps, b"/static/../secret.txt", false).is_none());
        assert!(resolve(&maps, b"/static/sub/../../secret.txt", false).is_none());
        assert!(
            resolve(&maps, b"/static/link.txt", false).is_none(),
            "symlink out of the root"
        );
        assert!(resolve(&maps, b"/staticsub/a.css", false).is_none());
        assert!(resolve(&maps, b"/static//sub/a.css", false).is_some());
        assert_eq!(
            resolve(&maps, b"/static/sub/a.css", false)
                .unwrap()
                .content_type,
            "text/css; charset=utf-8"
        );
    }

    #[test]
    fn safe_folders_gzip_variants_mime_files_and_expiry() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        std::fs::write(dir.join("shared/logo.svg"), "<svg/>").unwrap();
        std::os::unix::fs::symlink(dir.join("shared/logo.svg"), dir.join("root/logo.svg")).unwrap();
        std::fs::write(dir.join("root/app.js"), "x".repeat(100)).unwrap();
        std::fs::write(dir.join("root/app.js.gz"), "gz").unwrap();
        std::fs::write(dir.join("root/data.blob"), "b").unwrap();
        let mut mime_types = HashMap::new();
        parse_mime_types("# comment\napplication/x-blob\tblob bl\n", &mut mime_types);
        let mut settings = Settings {
            maps: vec![StaticMap {
                prefix: "/s".into(),
                root: dir.join("root"),
                keep_prefix: false,
            }],
            mime_types,
            expires_by_pattern: vec![(Regex::new(r"\.js$").unwrap(), 60, false)],
            ..Settings::default()
        };
        assert!(resolve(&settings, b"/s/logo.svg", false).is_none());
        settings.safe = vec![dir.join("shared").canonicalize().unwrap()];
        assert!(resolve(&settings, b"/s/logo.svg", false).is_some());
        let plain = resolve(&settings, b"/s/app.js", true).unwrap();
        assert!(!plain.gzip);
        assert_eq!((plain.len, plain.expires), (100, Some(60)));
        settings.gzip_all = true;
        let compressed = resolve(&settings, b"/s/app.js", true).unwrap();
        assert!(compressed.gzip);
        assert_eq!(compressed.len, 2);
        assert_eq!(compressed.content_type, "text/javascript; charset=utf-8");
        assert!(!resolve(&settings, b"/s/app.js", false).unwrap().gzip);
        let blob = resolve(&settings, b"/s/data.blob", false).unwrap();
        assert_eq!(
            (blob.content_type, blob.expires),
            ("application/x-blob", None)
        );
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rwsgi-static-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
