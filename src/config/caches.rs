//! The value syntax of `cache2` (`name=NAME,items=N[,blocksize=B][,keysize=K][,purge_lru=1]
//! [,store=FILE]`) and of the legacy `cache = N`, as uWSGI's caching framework documents it.
//!
//! Owns: parsing into `CacheSpec` and its defaults. Must not: map memory or touch files.

use std::path::PathBuf;

/// uWSGI's defaults: 64 KiB per value, 2 KiB per key.
pub const DEFAULT_BLOCKSIZE: u64 = 65536;
pub const DEFAULT_KEYSIZE: u64 = 2048;
/// Bounds that keep a mapping's size computable and sane.
const MAX_ITEMS: u64 = 1 << 26;
const MAX_KEYSIZE: u64 = 65535;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub name: String,
    /// Slots, item 0 included: as in uWSGI, `items = N` holds at most N-1 keys.
    pub items: u64,
    pub blocksize: u64,
    pub keysize: u64,
    pub purge_lru: bool,
    /// The memory is this file, so the content outlives restarts.
    pub store: Option<PathBuf>,
}

/// Why a `cache2` value is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSpecError {
    NotKeyValue(String),
    NotASize { key: String, value: String },
    UnknownKey(String),
    NoName,
    NoItems,
    Items,
    Blocksize,
    Keysize,
}

impl std::fmt::Display for CacheSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheSpecError::NotKeyValue(part) => write!(f, "'{part}' is not KEY=VALUE"),
            CacheSpecError::NotASize { key, value } => {
                write!(f, "{key}: '{value}' is not a number or size")
            }
            CacheSpecError::UnknownKey(key) => write!(f, "unknown cache2 key '{key}'"),
            CacheSpecError::NoName => write!(f, "a cache needs name=NAME"),
            CacheSpecError::NoItems => write!(f, "a cache needs items=N"),
            CacheSpecError::Items => write!(f, "items must be between 2 and {MAX_ITEMS}"),
            CacheSpecError::Blocksize => write!(f, "blocksize must be between 1 and 4G"),
            CacheSpecError::Keysize => write!(f, "keysize must be between 1 and {MAX_KEYSIZE}"),
        }
    }
}

impl std::error::Error for CacheSpecError {}

impl CacheSpec {
    /// The legacy `cache = N`: a cache named "default".
    pub fn legacy(items: u64, blocksize: u64) -> CacheSpec {
        CacheSpec {
            name: "default".into(),
            items,
            blocksize,
            keysize: DEFAULT_KEYSIZE,
            purge_lru: false,
            store: None,
        }
    }

    /// Parses a `cache2` value; the error names the offending key.
    pub fn parse(text: &str) -> Result<CacheSpec, CacheSpecError> {
        let mut name = None;
        let mut items = None;
        let mut spec = CacheSpec::legacy(0, DEFAULT_BLOCKSIZE);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| CacheSpecError::NotKeyValue(part.to_string()))?;
            let number = || {
                super::values::parse_size_text(value).ok_or_else(|| CacheSpecError::NotASize {
                    key: key.to_string(),
                    value: value.to_string(),
                })
            };
            match key.trim() {
                "name" => name = Some(value.to_string()),
                "items" | "max_items" | "maxitems" => items = Some(number()?),
                "blocksize" => spec.blocksize = number()?,
                "keysize" => spec.keysize = number()?,
                "purge_lru" | "purge-lru" => {
                    spec.purge_lru = !matches!(value, "0" | "false" | "no" | "off")
                }
                "store" => spec.store = Some(PathBuf::from(value)),
                // Values span one block here; bitmap mode (several blocks) is not provided.
                "bitmap" | "blocks" | "hash" | "hashsize" | "store_sync" | "store_delete"
                | "lazy_expire" | "sweep_on_full" | "clear_on_full" | "no_expire"
                | "ignore_full" => {}
                other => return Err(CacheSpecError::UnknownKey(other.to_string())),
            }
        }
        spec.name = name
            .filter(|n| !n.is_empty())
            .ok_or(CacheSpecError::NoName)?;
        spec.items = items.ok_or(CacheSpecError::NoItems)?;
        if !(2..=MAX_ITEMS).contains(&spec.items) {
            return Err(CacheSpecError::Items);
        }
        if spec.blocksize == 0 || spec.blocksize > u64::from(u32::MAX) {
            return Err(CacheSpecError::Blocksize);
        }
        if spec.keysize == 0 || spec.keysize > MAX_KEYSIZE {
            return Err(CacheSpecError::Keysize);
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uwsgi_cache2_values() {
        let spec = CacheSpec::parse(
            "name=users,items=100,blocksize=1k,keysize=64,purge_lru=1,store=/tmp/c",
        )
        .unwrap();
        assert_eq!(spec.name, "users");
        assert_eq!(spec.items, 100);
        assert_eq!(spec.blocksize, 1024);
        assert_eq!(spec.keysize, 64);
        assert!(spec.purge_lru);
        assert_eq!(spec.store, Some(PathBuf::from("/tmp/c")));
        let plain = CacheSpec::parse("name=x,items=10").unwrap();
        assert_eq!((plain.blocksize, plain.keysize), (65536, 2048));
        assert_eq!(
            CacheSpec::parse("items=10").unwrap_err().to_string(),
            "a cache needs name=NAME"
        );
        assert_eq!(
            CacheSpec::parse("name=a").unwrap_err(),
            CacheSpecError::NoItems
        );
        assert_eq!(
            CacheSpec::parse("name=a,items=5,colour=red")
                .unwrap_err()
                .to_string(),
            "unknown cache2 key 'colour'"
        );
    }
}
