//! Static files (`static-map`, `static-map2`, `check-static`, `static-index`), answered by
//! the worker with sendfile(2) before the application is asked: Content-Type from the
//! extension, Last-Modified / If-Modified-Since (304), single byte ranges (206/416), HEAD.
//! A file that is not there falls through to the application, as in uWSGI.
//!
//! Owns: mapping a decoded path to a file without ever leaving the mapped folder (no `..`,
//! no symlink out). Must not: call Python.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::config::StaticMap;

/// A file found for a request.
pub struct StaticFile {
    pub file: File,
    pub len: u64,
    pub modified: u64,
    pub content_type: &'static str,
}

/// The file for `path` (already percent-decoded), if a mapping has it.
pub fn resolve(
    maps: &[StaticMap],
    check: &[PathBuf],
    index: &[String],
    path: &[u8],
) -> Option<StaticFile> {
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
        if let Some(found) = open_inside(root, relative, index) {
            return Some(found);
        }
    }
    None
}

fn open_inside(root: &Path, relative: &str, index: &[String]) -> Option<StaticFile> {
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
    if !real.starts_with(&root) {
        return None;
    }
    if real.is_dir() {
        real = index
            .iter()
            .map(|name| real.join(name))
            .find(|p| p.is_file())?;
        if !real.canonicalize().ok()?.starts_with(&root) {
            return None;
        }
    }
    let file = File::open(&real).ok()?;
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
    Some(StaticFile {
        file,
        len: metadata.len(),
        modified,
        content_type: content_type(&real),
    })
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

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds.
pub fn parse_http_date(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| Some(*m) == parts.clone().next())? as i64
        + 1;
    parts.next();
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|n| n.parse::<u64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86400 + h * 3600 + m * 60 + s)
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
    fn dates_round_trip() {
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        let now = 1_795_000_000;
        assert_eq!(
            parse_http_date(&crate::protocol::response::http_date(now)),
            Some(now)
        );
        assert_eq!(parse_http_date(b"yesterday"), None);
    }

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
        let maps = vec![StaticMap {
            prefix: "/static".into(),
            root: dir.join("root"),
            keep_prefix: false,
        }];
        assert!(resolve(&maps, &[], &[], b"/static/sub/a.css").is_some());
        assert!(resolve(&maps, &[], &[], b"/static/../secret.txt").is_none());
        assert!(resolve(&maps, &[], &[], b"/static/sub/../../secret.txt").is_none());
        assert!(
            resolve(&maps, &[], &[], b"/static/link.txt").is_none(),
            "symlink out of the root"
        );
        assert!(resolve(&maps, &[], &[], b"/staticsub/a.css").is_none());
        assert!(resolve(&maps, &[], &[], b"/static//sub/a.css").is_some());
        assert_eq!(
            resolve(&maps, &[], &[], b"/static/sub/a.css")
                .unwrap()
                .content_type,
            "text/css; charset=utf-8"
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
