//! The shared cache behind `uwsgi.cache_*` (`cache2`, legacy `cache`): fixed-size hash tables
//! in memory the master maps before the first fork, so every worker (and every thread) sees
//! the same items, and recycled workers find them again.
//!
//! Owns: the layout (header, hash buckets, item table, key area, value blocks), expiry, LRU
//! purging, `store=` files, handing the memory to the next master image at a reload, and the
//! Python functions. Must not: call Python while holding a cache's mutex (only copy bytes
//! into an already-allocated object), or block anything but the calling thread.
//!
//! Why one file of this size: the layout and the code that walks it belong together.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyModule, PyString};

use super::shm::{self, Region, RobustMutex};
use crate::config::caches::CacheSpec;
use crate::config::ApiConfig;

/// "RWSGICA1": a mapping this code laid out (a store file from elsewhere is reset).
const MAGIC: u64 = 0x3141_4347_5357_5752;
/// Environment variable carrying `name:fd:len` of each memfd-backed cache across a reload.
pub const RELOAD_CACHES_VAR: &str = "RWSGI_RELOAD_CACHES";

#[repr(C)]
struct Header {
    magic: u64,
    items: u64,
    blocksize: u64,
    keysize: u64,
    buckets: u64,
    mutex: RobustMutex,
    /// Live items.
    count: u64,
    free_head: u32,
    /// Most recently used first.
    lru_head: u32,
    lru_tail: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Item {
    key_len: u32,
    /// Next item in the same bucket (0: none; item 0 is never used, as in uWSGI).
    next: u32,
    lru_prev: u32,
    lru_next: u32,
    value_len: u64,
    /// Unix seconds; 0: never expires.
    expires: u64,
    hash: u64,
}

/// One configured cache.
pub struct Cache {
    pub spec: CacheSpec,
    region: Region,
    buckets_at: usize,
    items_at: usize,
    keys_at: usize,
    values_at: usize,
}

static CACHES: OnceLock<Vec<Cache>> = OnceLock::new();
/// Operations that found the mutex's previous holder dead (it died mid-operation).
static RECOVERED: AtomicU64 = AtomicU64::new(0);

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// FNV-1a: cheap and good enough for a table sized to the item count.
fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What an insertion did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    Yes,
    /// cache_set on a live key, cache_update/inc that found no room, or a full cache.
    No,
}

impl Cache {
    fn layout(spec: &CacheSpec) -> (usize, usize, usize, usize, usize, usize) {
        let items = spec.items as usize;
        let buckets = items.next_power_of_two();
        let buckets_at = align8(std::mem::size_of::<Header>());
        let items_at = align8(buckets_at + buckets * 4);
        let keys_at = align8(items_at + items * std::mem::size_of::<Item>());
        let values_at = align8(keys_at + items * spec.keysize as usize);
        let len = values_at + items * spec.blocksize as usize;
        (buckets, buckets_at, items_at, keys_at, values_at, len)
    }

    /// Maps (or adopts) the memory for `spec`. `inherited` is a reload's memfd for it.
    fn open(
        spec: CacheSpec,
        inherited: Option<(i32, usize)>,
        reloading: bool,
    ) -> Result<Cache, String> {
        let (buckets, buckets_at, items_at, keys_at, values_at, len) = Cache::layout(&spec);
        let region = match (&spec.store, inherited) {
            (Some(path), _) => shm::file(path, len)
                .map_err(|e| format!("cache '{}': store {}: {e}", spec.name, path.display()))?,
            (None, Some((fd, size))) if size == len => match shm::inherited(fd, len) {
                Some(region) => region,
                None => shm::anonymous(&spec.name, len)
                    .map_err(|e| format!("cache '{}': {e}", spec.name))?,
            },
            (None, _) => shm::anonymous(&spec.name, len)
                .map_err(|e| format!("cache '{}': {len} bytes: {e}", spec.name))?,
        };
        let cache = Cache {
            spec,
            region,
            buckets_at,
            items_at,
            keys_at,
            values_at,
        };
        let header = cache.header();
        let same_geometry = header.magic == MAGIC
            && header.items == cache.spec.items
            && header.blocksize == cache.spec.blocksize
            && header.keysize == cache.spec.keysize
            && header.buckets == buckets as u64;
        if !(cache.region.existing && same_geometry) {
            cache.reset(buckets);
        } else if !reloading {
            // A store file from a previous run: whoever held its mutex is gone.
            // SAFETY: no worker exists yet, so nothing else touches this mapping.
            unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*cache.header_ptr()).mutex)) };
        }
        Ok(cache)
    }

    fn header_ptr(&self) -> *mut Header {
        self.region.base as *mut Header
    }

    // The cache's memory is shared with other processes: these accessors hand out views of
    // it that are only used with the mutex held (see `locked`).
    #[allow(clippy::mut_from_ref)]
    fn header(&self) -> &mut Header {
        // SAFETY: the region starts with a Header (8-aligned page start); callers hold the
        // mutex, or run before any worker exists, so no two mutable views are in use at once.
        unsafe { &mut *self.header_ptr() }
    }

    #[allow(clippy::mut_from_ref)]
    fn bucket(&self, index: usize) -> &mut u32 {
        // SAFETY: index < buckets (masked by the caller); the area lies inside the region.
        unsafe { &mut *(self.region.base.add(self.buckets_at) as *mut u32).add(index) }
    }

    #[allow(clippy::mut_from_ref)]
    fn item(&self, index: u32) -> &mut Item {
        debug_assert!(u64::from(index) < self.spec.items);
        // SAFETY: index < items; the item table lies inside the region; the mutex is held.
        unsafe { &mut *(self.region.base.add(self.items_at) as *mut Item).add(index as usize) }
    }

    fn key_area(&self, index: u32) -> *mut u8 {
        // SAFETY: inside the key area of the region.
        unsafe {
            self.region
                .base
                .add(self.keys_at + index as usize * self.spec.keysize as usize)
        }
    }

    fn value_area(&self, index: u32) -> *mut u8 {
        // SAFETY: inside the value blocks of the region.
        unsafe {
            self.region
                .base
                .add(self.values_at + index as usize * self.spec.blocksize as usize)
        }
    }

    fn key_of(&self, index: u32) -> &[u8] {
        let len = self.item(index).key_len as usize;
        // SAFETY: key_len <= keysize, written by `insert`.
        unsafe { std::slice::from_raw_parts(self.key_area(index), len) }
    }

    fn value_of(&self, index: u32) -> &[u8] {
        let len = self.item(index).value_len as usize;
        // SAFETY: value_len <= blocksize, written by `insert`/`rewrite`.
        unsafe { std::slice::from_raw_parts(self.value_area(index), len) }
    }

    /// Empties the cache and rebuilds its free list (also initialises a new mapping).
    fn reset(&self, buckets: usize) {
        let header = self.header();
        header.magic = MAGIC;
        header.items = self.spec.items;
        header.blocksize = self.spec.blocksize;
        header.keysize = self.spec.keysize;
        header.buckets = buckets as u64;
        // SAFETY: called before any worker exists (the master, at start).
        unsafe { RobustMutex::init(std::ptr::addr_of_mut!((*self.header_ptr()).mutex)) };
        self.clear_locked();
    }

    fn clear_locked(&self) {
        let header = self.header();
        for b in 0..header.buckets as usize {
            *self.bucket(b) = 0;
        }
        header.count = 0;
        header.lru_head = 0;
        header.lru_tail = 0;
        header.free_head = 0;
        for index in (1..self.spec.items as u32).rev() {
            *self.item(index) = Item {
                key_len: 0,
                next: header.free_head,
                lru_prev: 0,
                lru_next: 0,
                value_len: 0,
                expires: 0,
                hash: 0,
            };
            header.free_head = index;
        }
    }

    /// Runs `f` with the cache's mutex held.
    pub fn locked<T>(&self, f: impl FnOnce(&Cache) -> T) -> T {
        let mutex = &self.header().mutex;
        if mutex.lock() {
            RECOVERED.fetch_add(1, Ordering::Relaxed);
        }
        let result = f(self);
        mutex.unlock();
        result
    }

    /// The live item for `key` (an expired one is removed on the way).
    fn find(&self, key: &[u8]) -> Option<u32> {
        let h = hash(key);
        let mask = self.header().buckets as usize - 1;
        let mut index = *self.bucket(h as usize & mask);
        while index != 0 {
            let item = *self.item(index);
            if item.hash == h && self.key_of(index) == key {
                if item.expires != 0 && item.expires <= crate::sys::time::unix_secs() {
                    self.remove(index);
                    return None;
                }
                return Some(index);
            }
            index = item.next;
        }
        None
    }

    fn lru_unlink(&self, index: u32) {
        let item = *self.item(index);
        let header = self.header();
        if item.lru_prev != 0 {
            self.item(item.lru_prev).lru_next = item.lru_next;
        } else {
            header.lru_head = item.lru_next;
        }
        if item.lru_next != 0 {
            self.item(item.lru_next).lru_prev = item.lru_prev;
        } else {
            header.lru_tail = item.lru_prev;
        }
    }

    fn lru_push_front(&self, index: u32) {
        let header = self.header();
        let old = header.lru_head;
        {
            let item = self.item(index);
            item.lru_prev = 0;
            item.lru_next = old;
        }
        if old != 0 {
            self.item(old).lru_prev = index;
        } else {
            header.lru_tail = index;
        }
        header.lru_head = index;
    }

    fn remove(&self, index: u32) {
        let h = self.item(index).hash;
        let mask = self.header().buckets as usize - 1;
        let slot = self.bucket(h as usize & mask);
        if *slot == index {
            *slot = self.item(index).next;
        } else {
            let mut at = *slot;
            while at != 0 {
                let next = self.item(at).next;
                if next == index {
                    self.item(at).next = self.item(index).next;
                    break;
                }
                at = next;
            }
        }
        self.lru_unlink(index);
        let header = self.header();
        let item = self.item(index);
        item.key_len = 0;
        item.value_len = 0;
        item.next = header.free_head;
        header.free_head = index;
        header.count -= 1;
    }

    fn allocate(&self) -> Option<u32> {
        let header = self.header();
        if header.free_head == 0 {
            if !self.spec.purge_lru || header.lru_tail == 0 {
                return None;
            }
            self.remove(header.lru_tail);
        }
        let index = header.free_head;
        header.free_head = self.item(index).next;
        Some(index)
    }

    fn insert(&self, key: &[u8], value: &[u8], expires: u64) -> Stored {
        let Some(index) = self.allocate() else {
            return Stored::No;
        };
        let h = hash(key);
        let mask = self.header().buckets as usize - 1;
        let head = *self.bucket(h as usize & mask);
        // SAFETY: lengths were checked against keysize/blocksize by the caller.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), self.key_area(index), key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), self.value_area(index), value.len());
        }
        *self.item(index) = Item {
            key_len: key.len() as u32,
            next: head,
            lru_prev: 0,
            lru_next: 0,
            value_len: value.len() as u64,
            expires,
            hash: h,
        };
        *self.bucket(h as usize & mask) = index;
        self.lru_push_front(index);
        self.header().count += 1;
        Stored::Yes
    }

    fn rewrite(&self, index: u32, value: &[u8], expires: u64) {
        // SAFETY: value.len() <= blocksize (checked by the caller).
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr(), self.value_area(index), value.len());
        }
        let item = self.item(index);
        item.value_len = value.len() as u64;
        item.expires = expires;
        if self.spec.purge_lru {
            self.lru_unlink(index);
            self.lru_push_front(index);
        }
    }

    /// cache_set (only when absent) or cache_update (`overwrite`).
    pub fn store(&self, key: &[u8], value: &[u8], ttl: u64, overwrite: bool) -> Stored {
        let expires = if ttl > 0 {
            crate::sys::time::unix_secs() + ttl
        } else {
            0
        };
        self.locked(|c| match c.find(key) {
            Some(_) if !overwrite => Stored::No,
            Some(index) => {
                c.rewrite(index, value, expires);
                Stored::Yes
            }
            None => c.insert(key, value, expires),
        })
    }

    /// Adds `delta` to the 64-bit number stored under `key` (created when absent).
    pub fn add_number(&self, key: &[u8], delta: i64, ttl: u64) -> Stored {
        let expires = if ttl > 0 {
            crate::sys::time::unix_secs() + ttl
        } else {
            0
        };
        self.locked(|c| match c.find(key) {
            Some(index) => {
                // As uWSGI: the first 8 bytes (zero-padded) are the number, whatever the
                // value was; the result is stored as 8 bytes.
                let mut bytes = [0u8; 8];
                let value = c.value_of(index);
                let n = value.len().min(8);
                bytes[..n].copy_from_slice(&value[..n]);
                let number = i64::from_le_bytes(bytes).wrapping_add(delta);
                let keep = if ttl > 0 {
                    expires
                } else {
                    c.item(index).expires
                };
                c.rewrite(index, &number.to_le_bytes(), keep);
                Stored::Yes
            }
            None => c.insert(key, &delta.to_le_bytes(), expires),
        })
    }

    pub fn delete(&self, key: &[u8]) -> bool {
        self.locked(|c| match c.find(key) {
            Some(index) => {
                c.remove(index);
                true
            }
            None => false,
        })
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        self.locked(|c| c.find(key).is_some())
    }

    pub fn clear(&self) {
        self.locked(|c| c.clear_locked());
    }

    /// Calls `f` with the value while the mutex is held (`f` must not call Python code).
    pub fn with_value<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        self.locked(|c| {
            let index = c.find(key)?;
            if c.spec.purge_lru {
                c.lru_unlink(index);
                c.lru_push_front(index);
            }
            Some(f(c.value_of(index)))
        })
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        let now = crate::sys::time::unix_secs();
        self.locked(|c| {
            let mut keys = Vec::with_capacity(c.header().count as usize);
            let mut index = c.header().lru_head;
            while index != 0 {
                let item = *c.item(index);
                if item.expires == 0 || item.expires > now {
                    keys.push(c.key_of(index).to_vec());
                }
                index = item.lru_next;
            }
            keys
        })
    }

    pub fn count(&self) -> u64 {
        self.locked(|c| c.header().count)
    }
}

/// Maps every configured cache (master, before the application loads). Idempotent.
pub fn configure(api: &ApiConfig, reloading: bool) -> Result<(), String> {
    if CACHES.get().is_some() {
        return Ok(());
    }
    let mut specs = api.caches.clone();
    if api.legacy_cache_items > 0 {
        specs.push(CacheSpec::legacy(
            api.legacy_cache_items.max(2),
            api.legacy_cache_blocksize,
        ));
    }
    let handed: Vec<(String, i32, usize)> = std::env::var(RELOAD_CACHES_VAR)
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut fields = part.rsplitn(3, ':');
            let len = fields.next()?.parse().ok()?;
            let fd = fields.next()?.parse().ok()?;
            Some((fields.next()?.to_string(), fd, len))
        })
        .collect();
    std::env::remove_var(RELOAD_CACHES_VAR);
    let mut caches = Vec::new();
    for spec in specs {
        if caches.iter().any(|c: &Cache| c.spec.name == spec.name) {
            return Err(format!("cache '{}' is configured twice", spec.name));
        }
        let inherited = handed
            .iter()
            .find(|(name, _, _)| *name == spec.name)
            .map(|(_, fd, len)| (*fd, *len));
        let name = spec.name.clone();
        let cache = Cache::open(spec, inherited, reloading)?;
        crate::log::info(&format!(
            "cache '{name}': {} items of up to {} bytes (keys up to {}){}",
            cache.spec.items - 1,
            cache.spec.blocksize,
            cache.spec.keysize,
            match (&cache.spec.store, cache.region.existing) {
                (Some(path), true) => format!(", restored from {}", path.display()),
                (Some(path), false) => format!(", stored in {}", path.display()),
                (None, true) => ", kept across the reload".to_string(),
                (None, false) => String::new(),
            }
        ));
        caches.push(cache);
    }
    // Memfds handed over but no longer configured close here (the OwnedFd of a region
    // stays open; others are closed now).
    for (name, fd, _) in &handed {
        if !caches.iter().any(|c| &c.spec.name == name) {
            let _ = nix::unistd::close(*fd);
        }
    }
    let _ = CACHES.set(caches);
    Ok(())
}

/// Before a reload's exec: lets the memfds survive it and says where they are.
pub fn export_for_reload() -> Option<String> {
    use std::os::fd::AsRawFd;
    let caches = CACHES.get()?;
    let mut parts = Vec::new();
    for cache in caches {
        let Some(fd) = &cache.region.fd else { continue };
        let raw = fd.as_raw_fd();
        // SAFETY: clearing FD_CLOEXEC on a descriptor this process owns.
        unsafe {
            let flags = libc::fcntl(raw, libc::F_GETFD);
            libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
        }
        parts.push(format!("{}:{raw}:{}", cache.spec.name, cache.region.len));
    }
    Some(parts.join(","))
}

fn caches() -> &'static [Cache] {
    CACHES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// The cache a Python call names (None or "": the first one configured). As uWSGI, a call
/// on no cache answers None (cache_num 0, cache_keys raises); rwsgi also logs why, once.
fn pick(name: Option<&str>) -> Option<&'static Cache> {
    let all = caches();
    let found = match name {
        None | Some("") => all.first(),
        Some(name) => all.iter().find(|c| c.spec.name == name),
    };
    if found.is_none() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            crate::log::warn(&match name {
                Some(name) if !name.is_empty() && !all.is_empty() => format!(
                    "uwsgi.cache_*: no cache named '{name}' (remote caches are not provided); the call answers None"
                ),
                _ => "uwsgi.cache_*: no cache is configured (add cache2 = name=NAME,items=N); the call answers None".to_string(),
            });
        });
    }
    found
}

fn no_cache() -> PyErr {
    PyValueError::new_err("no local uWSGI cache available")
}

/// A key or value: bytes, or str encoded as UTF-8 (uWSGI's TypeError otherwise).
fn bytes_of<'a>(object: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = object.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(text) = object.cast::<PyString>() {
        return Ok(Cow::Owned(text.to_str()?.as_bytes().to_vec()));
    }
    let name = object
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "a bytes-like object is required, not '{name}'"
    )))
}

/// As uWSGI: a key over keysize is never found and never stored (the call answers None).
fn key_fits(cache: &Cache, key: &[u8]) -> bool {
    key.len() as u64 <= cache.spec.keysize
}

fn answer(py: Python<'_>, ok: bool) -> Py<PyAny> {
    if ok {
        true.into_pyobject(py)
            .expect("bool")
            .to_owned()
            .into_any()
            .unbind()
    } else {
        py.None()
    }
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_get<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(None);
    };
    if !key_fits(cache, &key) {
        return Ok(None);
    }
    // The object is allocated (GIL held) and filled while the mutex is held; no Python
    // code runs in between.
    cache
        .with_value(&key, |value| {
            PyBytes::new_with(py, value.len(), |buffer| {
                buffer.copy_from_slice(value);
                Ok(())
            })
        })
        .transpose()
}

fn set_or_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
    overwrite: bool,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let value = bytes_of(value)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    // As uWSGI: a key over keysize or a value over blocksize is not stored (None).
    if !key_fits(cache, &key) || value.len() as u64 > cache.spec.blocksize {
        return Ok(py.None());
    }
    let stored = cache.store(&key, &value, expires, overwrite);
    Ok(answer(py, stored == Stored::Yes))
}

#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_set(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    set_or_update(py, key, value, expires, cache, false)
}

#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    set_or_update(py, key, value, expires, cache, true)
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_del(py: Python<'_>, key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    Ok(answer(py, key_fits(cache, &key) && cache.delete(&key)))
}

#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_exists(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    Ok(answer(py, key_fits(cache, &key) && cache.exists(&key)))
}

#[pyfunction]
#[pyo3(signature = (cache=None))]
fn cache_clear(py: Python<'_>, cache: Option<&str>) -> PyResult<Py<PyAny>> {
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    cache.clear();
    Ok(answer(py, true))
}

fn change_number(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    delta: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(py.None());
    };
    if !key_fits(cache, &key) || cache.spec.blocksize < 8 {
        return Ok(py.None());
    }
    Ok(answer(
        py,
        cache.add_number(&key, delta, expires) == Stored::Yes,
    ))
}

#[pyfunction]
#[pyo3(signature = (key, value=1, expires=0, cache=None))]
fn cache_inc(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    change_number(py, key, value, expires, cache)
}

#[pyfunction]
#[pyo3(signature = (key, value=1, expires=0, cache=None))]
fn cache_dec(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: i64,
    expires: u64,
    cache: Option<&str>,
) -> PyResult<Py<PyAny>> {
    change_number(py, key, value.wrapping_neg(), expires, cache)
}

/// The 64-bit number under `key` (as cache_inc stores it); as uWSGI, 0 when absent or when
/// the value is not 8 bytes long.
#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_num(key: &Bound<'_, PyAny>, cache: Option<&str>) -> PyResult<i64> {
    let key = bytes_of(key)?;
    let Some(cache) = pick(cache) else {
        return Ok(0);
    };
    if !key_fits(cache, &key) {
        return Ok(0);
    }
    Ok(cache
        .with_value(&key, |value| {
            <[u8; 8]>::try_from(value).map(i64::from_le_bytes).ok()
        })
        .flatten()
        .unwrap_or(0))
}

#[pyfunction]
#[pyo3(signature = (cache=None))]
fn cache_keys<'py>(py: Python<'py>, cache: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let keys = pick(cache).ok_or_else(no_cache)?.keys();
    PyList::new(py, keys.iter().map(|k| PyBytes::new(py, k)))
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(cache_get, module)?)?;
    module.add_function(wrap_pyfunction!(cache_set, module)?)?;
    module.add_function(wrap_pyfunction!(cache_update, module)?)?;
    module.add_function(wrap_pyfunction!(cache_del, module)?)?;
    module.add_function(wrap_pyfunction!(cache_exists, module)?)?;
    module.add_function(wrap_pyfunction!(cache_clear, module)?)?;
    module.add_function(wrap_pyfunction!(cache_inc, module)?)?;
    module.add_function(wrap_pyfunction!(cache_dec, module)?)?;
    module.add_function(wrap_pyfunction!(cache_num, module)?)?;
    module.add_function(wrap_pyfunction!(cache_keys, module)?)?;
    Ok(())
}
