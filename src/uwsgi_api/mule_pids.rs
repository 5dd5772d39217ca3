//! Which mules exist and their pids, in memory shared with every process: the piece of the
//! mules' state that signals (which target mules) and mules (whose master records the pids)
//! both read, kept below both so neither imports the other for it.
//!
//! Owns: the mule count and the pid table. Must not: know the mules' queues or signals.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::sys::shared_mem::Region;

/// Mules one server may have.
pub const MAX_MULES: usize = 64;

static PIDS: OnceLock<&'static [AtomicI32]> = OnceLock::new();
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// In the master at start, before any fork: `count` mules (at most `MAX_MULES`).
pub(super) fn configure(count: usize) -> std::io::Result<()> {
    if PIDS.get().is_none() {
        let region = Region::anonymous(MAX_MULES * std::mem::size_of::<AtomicI32>())?;
        let _ = PIDS.set(region.view(0, MAX_MULES));
    }
    COUNT.store(count, Ordering::Relaxed);
    Ok(())
}

/// The number of mules configured.
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// The master records mule `id`'s pid (0 while it is down).
pub fn set_pid(id: usize, pid: i32) {
    if let Some(slot) = PIDS.get().and_then(|t| t.get(id.wrapping_sub(1))) {
        slot.store(pid, Ordering::Relaxed);
    }
}

/// Mule `id`'s pid (0: down or no such mule).
pub fn pid(id: usize) -> i32 {
    PIDS.get()
        .and_then(|t| t.get(id.wrapping_sub(1)))
        .map_or(0, |p| p.load(Ordering::Relaxed))
}
