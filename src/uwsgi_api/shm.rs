//! Memory shared by the master and every worker, and the robust process-shared mutex that
//! guards it.
//!
//! Owns: mapping a memfd (kept open so a reload can hand it to the next master image) or a
//! store file, and pthread robust mutexes (a holder that dies releases the mutex: the next
//! locker gets EOWNERDEAD and marks it consistent). Must not: know what is stored.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// A mapping that lives as long as the process (never unmapped: fork shares it).
pub struct Region {
    pub base: *mut u8,
    pub len: usize,
    /// The memfd behind an anonymous region (None for a store file).
    pub fd: Option<OwnedFd>,
    /// The memory already held data (a store file of the right size, or a reload's memfd).
    pub existing: bool,
}

// SAFETY: a pthread mutex is made to be used from several threads (and, process-shared,
// several processes) at once.
unsafe impl Sync for RobustMutex {}

// SAFETY: the region is plain shared memory; every access to its content goes through the
// robust mutex it contains or through atomics.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

fn map(fd: i32, len: usize) -> std::io::Result<*mut u8> {
    // SAFETY: mapping `len` bytes of a descriptor sized to at least `len`; the result is
    // checked for MAP_FAILED.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(base as *mut u8)
}

/// A fresh zero-filled region backed by a memfd (close-on-exec until a reload hands it on).
pub fn anonymous(name: &str, len: usize) -> std::io::Result<Region> {
    let cname = CString::new(format!("rwsgi-{name}")).unwrap_or_default();
    // SAFETY: memfd_create with a valid C string; the descriptor is owned from here on.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::ftruncate(&fd, len as i64)?;
    let base = map(fd.as_raw_fd(), len)?;
    Ok(Region {
        base,
        len,
        fd: Some(fd),
        existing: false,
    })
}

/// A region a previous master image created (its memfd inherited across exec), if it still
/// has the expected size.
pub fn inherited(fd: i32, len: usize) -> Option<Region> {
    // SAFETY: the descriptor number came from our own reload variable; fstat tells whether
    // it is open, and ownership is taken only once it has been checked.
    let size = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut stat) != 0 {
            return None;
        }
        stat.st_size as usize
    };
    // SAFETY: see above: an open descriptor this process inherited for this purpose.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if size != len {
        return None;
    }
    let base = map(fd.as_raw_fd(), len).ok()?;
    Some(Region {
        base,
        len,
        fd: Some(fd),
        existing: true,
    })
}

/// A region that is the file `path` (created or resized as needed), so what is written to it
/// is there at the next start.
pub fn file(path: &Path, len: usize) -> std::io::Result<Region> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let existing = file.metadata()?.len() == len as u64;
    if !existing {
        file.set_len(0)?;
        file.set_len(len as u64)?;
    }
    let base = map(file.as_raw_fd(), len)?;
    Ok(Region {
        base,
        len,
        fd: None,
        existing,
    })
}

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
