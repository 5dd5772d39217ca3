//! The robust process-shared mutex that guards the uwsgi API's shared memory (the memory
//! itself is mapped by `sys::shared_mem`).
//!
//! Owns: pthread robust mutexes (a holder that dies releases the mutex: the next locker
//! gets EOWNERDEAD and marks it consistent). Must not: know what is stored.

use std::cell::UnsafeCell;

// SAFETY: a pthread mutex is made to be used from several threads (and, process-shared,
// several processes) at once.
unsafe impl Sync for RobustMutex {}

/// A pthread mutex living in shared memory: process-shared and robust.
#[repr(C)]
pub struct RobustMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

impl RobustMutex {
    /// Initialises the mutex in place.
    ///
    /// # Safety
    /// `this` points into a shared mapping that no other process uses yet.
    pub unsafe fn init(this: *mut RobustMutex) {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        libc::pthread_mutex_init((*this).inner.get(), &attr);
        libc::pthread_mutexattr_destroy(&mut attr);
    }

    /// Locks; a previous holder that died is recovered from (the mutex is made consistent).
    /// Returns whether that happened.
    pub fn lock(&self) -> bool {
        // SAFETY: the mutex was initialised by `init` in memory that outlives the process.
        unsafe {
            match libc::pthread_mutex_lock(self.inner.get()) {
                libc::EOWNERDEAD => {
                    libc::pthread_mutex_consistent(self.inner.get());
                    true
                }
                _ => false,
            }
        }
    }

    /// Tries to lock without waiting: Some(owner_died) when taken, None when held elsewhere.
    pub fn try_lock(&self) -> Option<bool> {
        // SAFETY: as in `lock`.
        unsafe {
            match libc::pthread_mutex_trylock(self.inner.get()) {
                0 => Some(false),
                libc::EOWNERDEAD => {
                    libc::pthread_mutex_consistent(self.inner.get());
                    Some(true)
                }
                _ => None,
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: called by the holder, after `lock` or a successful `try_lock`.
        unsafe {
            libc::pthread_mutex_unlock(self.inner.get());
        }
    }
}
