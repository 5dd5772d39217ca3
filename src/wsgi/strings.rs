//! Python strings the environ reuses from one request to the next: the CGI key names nginx's
//! `uwsgi_params` and common browsers send (interned once, so the dict never hashes them
//! again), and, per key, the value the previous request had (`GET`, `HTTP/1.1`, the
//! document root, the Host...), reused while it repeats instead of decoding a new `str`.
//!
//! Owns: the latin-1 decoding of CGI values (PEP 3333) and this cache. Must not: grow with
//! what clients send: only the fixed key list below has slots, and a slot keeps one short
//! value.

use std::sync::{Mutex, MutexGuard, TryLockError};

use pyo3::prelude::*;
use pyo3::types::PyString;

/// CGI keys given a slot: nginx's stock `uwsgi_params`, the variables rwsgi sets over HTTP,
/// and the request headers browsers and proxies send most.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "QUERY_STRING",
    "REQUEST_METHOD",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REQUEST_URI",
    "PATH_INFO",
    "DOCUMENT_ROOT",
    "SERVER_PROTOCOL",
    "REQUEST_SCHEME",
    "HTTPS",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "SERVER_PORT",
    "SERVER_NAME",
    "SCRIPT_NAME",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_USER",
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_CONNECTION",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_ORIGIN",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_PRAGMA",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_UPGRADE_INSECURE_REQUESTS",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUESTED_WITH",
    "HTTP_SEC_FETCH_DEST",
    "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_SITE",
    "HTTP_SEC_FETCH_USER",
    "HTTP_DNT",
];

/// Values longer than this are not remembered (cookies, long URLs rarely repeat).
const MAX_REMEMBERED: usize = 128;

/// Size of the open-addressing table of known keys (a power of two, over 4x their count).
const TABLE: usize = 256;

/// A cheap hash of a CGI key: its length and four of its bytes. Keys share prefixes
/// (`HTTP_`), so bytes from the end count most; collisions are resolved by probing.
fn bucket(key: &[u8]) -> usize {
    let n = key.len();
    if n == 0 {
        return 0;
    }
    let mix = n
        .wrapping_mul(31)
        .wrapping_add(usize::from(key[n - 1]).wrapping_mul(7))
        .wrapping_add(usize::from(key[n - 2.min(n)]).wrapping_mul(131))
        .wrapping_add(usize::from(key[n / 2]).wrapping_mul(17))
        .wrapping_add(usize::from(key[(n * 3) / 4]).wrapping_mul(3));
    mix & (TABLE - 1)
}

/// Per slot, the last value seen (its bytes) and its `str`.
type LastValues = Vec<Option<(Box<[u8]>, Py<PyString>)>>;

/// A known key's index in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

pub struct StringCache {
    /// KNOWN_KEYS index + 1 by bucket (0: empty), linear probing.
    table: [u8; TABLE],
    names: Vec<Py<PyString>>,
    last: Mutex<LastValues>,
}

/// The per-request view of the cache: the lock is taken once per environ, if it is free.
pub struct Values<'a> {
    cache: &'a StringCache,
    /// None when another thread of the worker holds the lock: this request's strings are
    /// made afresh.
    last: Option<MutexGuard<'a, LastValues>>,
}

impl StringCache {
    pub fn new(py: Python<'_>) -> StringCache {
        let mut table = [0u8; TABLE];
        for (i, key) in KNOWN_KEYS.iter().enumerate() {
            let mut at = bucket(key.as_bytes());
            while table[at] != 0 {
                at = (at + 1) & (TABLE - 1);
            }
            table[at] = i as u8 + 1;
        }
        let names = KNOWN_KEYS
            .iter()
            .map(|key| PyString::intern(py, key).unbind())
            .collect();
        StringCache {
            table,
            names,
            last: Mutex::new(KNOWN_KEYS.iter().map(|_| None).collect()),
        }
    }

    pub fn slot(&self, key: &[u8]) -> Option<Slot> {
        let mut at = bucket(key);
        loop {
            let entry = self.table[at];
            if entry == 0 {
                return None;
            }
            let index = usize::from(entry - 1);
            if KNOWN_KEYS[index].as_bytes() == key {
                return Some(Slot(index));
            }
            at = (at + 1) & (TABLE - 1);
        }
    }

    /// The slot of a key rwsgi itself sets; panics on a name missing from KNOWN_KEYS
    /// (a programming error a unit test catches).
    pub fn known(&self, key: &str) -> Slot {
        self.slot(key.as_bytes())
            .unwrap_or_else(|| panic!("{key} is not in KNOWN_KEYS"))
    }

    pub fn name<'py>(&self, py: Python<'py>, slot: Slot) -> Bound<'py, PyString> {
        self.names[slot.0].bind(py).clone()
    }

    /// Never waits for the lock. The caller holds the GIL, and the thread that holds the
    /// lock may be waiting for the GIL: building an environ calls Python, which can let the
    /// GIL go (pyo3 does while it interns a string the first time; a garbage collection can
    /// run Python code). With `threads` > 1, waiting here hung every thread of a fresh
    /// worker (tests/lifecycle.rs, threaded workers recycled every few requests).
    pub fn values(&self) -> Values<'_> {
        let last = match self.last.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        Values { cache: self, last }
    }
}

impl Values<'_> {
    pub fn name<'py>(&self, py: Python<'py>, slot: Slot) -> Bound<'py, PyString> {
        self.cache.name(py, slot)
    }

    /// `bytes` as a latin-1 `str`: the previous request's string for this key when the
    /// bytes are the same.
    pub fn value<'py>(
        &mut self,
        py: Python<'py>,
        slot: Slot,
        bytes: &[u8],
    ) -> PyResult<Bound<'py, PyString>> {
        let Some(last) = self.last.as_mut() else {
            return latin1(py, bytes);
        };
        let entry = &mut last[slot.0];
        if let Some((seen, string)) = entry {
            if **seen == *bytes {
                return Ok(string.bind(py).clone());
            }
        }
        let string = latin1(py, bytes)?;
        if bytes.len() <= MAX_REMEMBERED {
            *entry = Some((bytes.into(), string.clone().unbind()));
        }
        Ok(string)
    }
}

/// Bytes as a latin-1 `str`, the PEP 3333 rule for every CGI value.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: PyUnicode_DecodeLatin1 reads exactly `len` bytes from the pointer, which the
    // slice keeps valid for the call; it returns a new reference or NULL with an exception
    // set, which from_owned_ptr_or_err turns into the PyErr. The GIL is held (`py`).
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as pyo3::ffi::Py_ssize_t,
            std::ptr::null(),
        );
        Bound::from_owned_ptr_or_err(py, ptr).map(|s| s.cast_into_unchecked::<PyString>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_key_with_short_probes() {
        assert!(KNOWN_KEYS.len() * 4 <= TABLE && KNOWN_KEYS.len() < 255);
        let mut used = [false; TABLE];
        let mut longest = 0;
        for key in KNOWN_KEYS {
            let mut at = bucket(key.as_bytes());
            let mut probes = 0;
            while used[at] {
                at = (at + 1) & (TABLE - 1);
                probes += 1;
            }
            used[at] = true;
            longest = longest.max(probes);
        }
        assert!(longest <= 3, "a key needs {longest} probes");
        assert_eq!(bucket(b""), 0);
        assert!(bucket(b"A") < TABLE);
    }
}
