//! Memory shared by the master and every process it forks: the one place that maps it (the
//! scoreboard, the uwsgi API's cache, locks, signals, mules and counters all stand on it).
//!
//! Owns: mapping anonymous memory, a memfd (kept open so a reload can hand it to the next
//! master image) or a file, and handing out `'static` views of it. A mapping is never
//! unmapped: it lives as long as the process, and a fork shares it rather than copying it.
//! Must not: know what is stored, or lay anything out beyond the views asked for.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// A shared mapping that lives as long as the process.
pub struct Region {
    pub base: *mut u8,
    pub len: usize,
    /// The memfd behind a region made by `memfd` or `inherited` (None otherwise).
    pub fd: Option<OwnedFd>,
    /// The memory already held data (a store file of the right size, or a reload's memfd).
    pub existing: bool,
}

// SAFETY: the region is plain shared memory that is never unmapped; what is stored in it is
// reached through atomics or through a process-shared mutex it contains (its users' duty).
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

/// A type that may be viewed in shared memory through `Region::view`.
///
/// # Safety
/// All-zero bytes must be a valid value, and the type must be fit to be used by several
/// processes at once through a shared reference: atomics (or structs and arrays of them),
/// no pointers, no `Drop`.
pub unsafe trait Shareable: Sync {}

// SAFETY: zero is a valid atomic integer, and atomics are made for shared use.
unsafe impl Shareable for std::sync::atomic::AtomicU8 {}
unsafe impl Shareable for std::sync::atomic::AtomicU32 {}
unsafe impl Shareable for std::sync::atomic::AtomicI32 {}
unsafe impl Shareable for std::sync::atomic::AtomicU64 {}
unsafe impl Shareable for std::sync::atomic::AtomicI64 {}

/// Maps `len` bytes shared with children: of `fd` (sized to at least `len`) or, without
/// one, fresh anonymous zero-filled memory.
fn map(fd: Option<i32>, len: usize) -> std::io::Result<*mut u8> {
    let (flags, fd) = match fd {
        Some(fd) => (libc::MAP_SHARED, fd),
        None => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
    };
    // SAFETY: a new mapping chosen by the kernel (no address given, so nothing existing is
    // replaced); the result is checked for MAP_FAILED.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len.max(1),
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(base as *mut u8)
}

impl Region {
    /// Fresh zero-filled memory shared with every child forked after this.
    pub fn anonymous(len: usize) -> std::io::Result<Region> {
        Ok(Region {
            base: map(None, len)?,
            len,
            fd: None,
            existing: false,
        })
    }

    /// Fresh zero-filled memory backed by a memfd named `rwsgi-NAME` (close-on-exec until
    /// a reload hands it on).
    pub fn memfd(name: &str, len: usize) -> std::io::Result<Region> {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let cname = CString::new(format!("rwsgi-{name}")).unwrap_or_default();
        let fd = memfd_create(cname.as_c_str(), MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&fd, len as i64)?;
        let base = map(Some(fd.as_raw_fd()), len)?;
        Ok(Region {
            base,
            len,
            fd: Some(fd),
            existing: false,
        })
    }

    /// A memfd region a previous master image created (its descriptor inherited across
    /// exec), if it still has the expected size.
    pub fn inherited(fd: i32, len: usize) -> Option<Region> {
        // SAFETY: the descriptor number came from our own reload variable; fstat tells
        // whether it is open, and ownership is taken only once it has been checked.
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
        let base = map(Some(fd.as_raw_fd()), len).ok()?;
        Some(Region {
            base,
            len,
            fd: Some(fd),
            existing: true,
        })
    }

    /// The file `path` (created or resized as needed), so what is written to it is there
    /// at the next start.
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
        let base = map(Some(file.as_raw_fd()), len)?;
        Ok(Region {
            base,
            len,
            fd: None,
            existing,
        })
    }

    /// `count` values of `T` at byte `offset`, for the life of the process.
    ///
    /// Panics if they do not fit in the region or `offset` is not aligned for `T`.
    pub fn view<T: Shareable>(&self, offset: usize, count: usize) -> &'static [T] {
        let end = count
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|bytes| bytes.checked_add(offset));
        assert!(
            end.is_some_and(|end| end <= self.len),
            "view past the region"
        );
        assert_eq!(
            (self.base as usize + offset) % std::mem::align_of::<T>(),
            0,
            "misaligned view"
        );
        // SAFETY: the bytes are inside the mapping (checked above), aligned for T, and valid
        // as T whatever they hold (`Shareable`: zero or any value written through T's own
        // atomics); the mapping is never unmapped, so the slice lives as long as the process.
        unsafe { std::slice::from_raw_parts(self.base.add(offset) as *const T, count) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn an_anonymous_region_is_zeroed_and_shared_with_a_child() {
        let region = Region::anonymous(4096).unwrap();
        let counters: &'static [AtomicU64] = region.view(8, 2);
        assert_eq!(counters[1].load(Ordering::Relaxed), 0);
        // A forked child adds to the parent's counter.
        // SAFETY: the child only adds to an atomic and _exits (async-signal-safe), as a
        // child of a multi-threaded test process must.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                counters[1].fetch_add(5, Ordering::Relaxed);
                // SAFETY: _exit ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                nix::sys::wait::waitpid(child, None).unwrap();
            }
        }
        assert_eq!(counters[1].load(Ordering::Relaxed), 5);
    }

    #[test]
    #[should_panic(expected = "view past the region")]
    fn a_view_past_the_end_is_refused() {
        let region = Region::anonymous(16).unwrap();
        let _: &[AtomicU64] = region.view(8, 2);
    }
}
