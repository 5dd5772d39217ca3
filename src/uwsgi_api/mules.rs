//! Mule messages and the mule side of the `uwsgi` module: `mule_msg`, `farm_msg`,
//! `mule_get_msg`, `farm_get_msg`, `mule_id`, `in_farm` (uWSGI 2.0's API, from its
//! documentation).
//!
//! The mechanism: one SOCK_SEQPACKET socketpair per mule, one per farm and one shared by
//! every mule ("any mule"), created by the master before it forks anything. Every process
//! inherits both ends and the master keeps them open, so a queue lives in the kernel: it
//! survives the death of the mule reading it, and the respawned mule reads what was left.
//! A record is dequeued whole or not at all (never half), in the order it was sent.
//!
//! A mule receives into one of its slots in shared memory (a few per mule, one per thread
//! waiting), marking the slot before the read and after it, so when a mule dies the master
//! knows whether it held a message: one read but not yet handed to Python is queued again
//! for the respawned mule; one handed to Python and not finished (the thread had not asked
//! for the next one, nor had the loop's hook returned) is logged as lost, with its size.
//!
//! Owns: the queues, the slots, this process's mule id. Must not: fork or supervise mules
//! (`master::mules` does), nor block a sender for long: a full queue raises after
//! `SEND_PATIENCE`.

use std::cell::{Cell, UnsafeCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recv, send, setsockopt, socketpair, sockopt, AddressFamily, MsgFlags, SockFlag, SockType,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule, PyString};

use super::error::ConfigureError;
pub use super::mule_pids::{count, pid, set_pid, MAX_MULES};
use crate::config::mules::MuleConfig;

/// The largest message, as uWSGI's (64 KiB); a larger one raises ValueError.
pub const MAX_MESSAGE: usize = 65536;
/// Carries the queues' descriptors to the next master image at a reload.
pub const RELOAD_MULES_VAR: &str = "RWSGI_RELOAD_MULE_QUEUES";
/// Slots per mule: threads of one mule that may hold a message at once, tracked.
const SLOTS: usize = 4;
/// Each record starts with this and its message's length (u32, little-endian), so a slot
/// shows whether the kernel wrote a record into it and how long it is.
const MAGIC: &[u8; 8] = b"rwsgiMSG";
const HEADER: usize = MAGIC.len() + 4;
const RECORD: usize = HEADER + MAX_MESSAGE;
/// How long `mule_msg` waits for room in a full queue before it raises.
const SEND_PATIENCE: Duration = Duration::from_secs(10);
/// How often a waiting mule looks at its uwsgi signals.
const SIGNAL_LOOK: Duration = Duration::from_millis(100);
/// Queues' kernel buffer (what may wait unread), asked for; the kernel may cap it.
const QUEUE_BYTES: usize = 4 << 20;

const FREE: u32 = 0;
const RECEIVING: u32 = 1;
const IN_HAND: u32 = 2;

struct Queue {
    send: OwnedFd,
    recv: OwnedFd,
}

struct Queues {
    shared: Queue,
    mules: Vec<Queue>,
    farms: Vec<(String, Vec<usize>, Queue)>,
}

#[repr(C)]
struct Slot {
    state: AtomicU32,
    len: AtomicU32,
    buf: UnsafeCell<[u8; RECORD]>,
}

#[repr(C)]
struct Area {
    slots: [[Slot; SLOTS]; MAX_MULES],
}

struct AreaRef(&'static Area);
// SAFETY: a slot's buffer is written only by the thread that claimed the slot (a CAS on
// `state`) and read by the master only once that mule is dead; the rest are atomics.
unsafe impl Sync for AreaRef {}
unsafe impl Send for AreaRef {}

static QUEUES: OnceLock<Queues> = OnceLock::new();
static AREA: OnceLock<AreaRef> = OnceLock::new();
/// This process's mule id (0: not a mule).
static MULE_ID: AtomicUsize = AtomicUsize::new(0);
static UNTRACKED_WARNED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The slot this thread holds its last message in, until it asks for the next one.
    static HELD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// In the master at start, before any fork: the queues and the slots. Idempotent; a farm
/// naming a mule that does not exist is refused.
pub fn configure(config: &MuleConfig) -> Result<(), ConfigureError> {
    let count = config.programs.len();
    if count == 0 || QUEUES.get().is_some() {
        return Ok(());
    }
    if count > MAX_MULES {
        return Err(ConfigureError::TooManyMules(count));
    }
    for (name, ids) in &config.farms {
        if let Some(id) = ids.iter().find(|id| **id > count) {
            return Err(ConfigureError::NoSuchMule {
                farm: name.clone(),
                mule: *id,
                count,
            });
        }
    }
    let mut handed = inherited_queues();
    let mut take = |key: String| match handed.remove(&key) {
        Some(queue) => Ok(queue),
        None => queue(),
    };
    let mut farms = Vec::new();
    for (name, ids) in &config.farms {
        farms.push((name.clone(), ids.clone(), take(format!("farm:{name}"))?));
    }
    let queues = Queues {
        shared: take("*".into())?,
        mules: (1..=count)
            .map(|id| take(id.to_string()))
            .collect::<Result<_, _>>()?,
        farms,
    };
    for (key, queue) in handed {
        let lost = drain(&queue);
        if lost > 0 {
            crate::log::error(&format!(
                "mule queue '{key}' of the previous configuration is gone: {lost} message(s) LOST"
            ));
        }
    }
    let region = crate::sys::shared_mem::Region::anonymous(std::mem::size_of::<Area>())
        .map_err(|e| ConfigureError::system("mules", e))?;
    // SAFETY: a fresh zeroed shared mapping the size of an Area (atomics and bytes, valid at
    // zero), never unmapped, so the reference lives with the process.
    let area: &'static Area = unsafe { &*(region.base as *const Area) };
    super::mule_pids::configure(count).map_err(|e| ConfigureError::system("mules", e))?;
    let _ = AREA.set(AreaRef(area));
    let _ = QUEUES.set(queues);
    Ok(())
}

/// Queues handed over by the previous master image (`export_for_reload`), by key: `*`
/// (any mule), the mule id, or `farm:NAME`.
fn inherited_queues() -> std::collections::HashMap<String, Queue> {
    use std::os::fd::FromRawFd;
    let text = std::env::var(RELOAD_MULES_VAR).unwrap_or_default();
    std::env::remove_var(RELOAD_MULES_VAR);
    let mut queues = std::collections::HashMap::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let mut fields = part.rsplitn(3, ':');
        let (Some(recv), Some(send), Some(key)) = (
            fields.next().and_then(|f| f.parse::<RawFd>().ok()),
            fields.next().and_then(|f| f.parse::<RawFd>().ok()),
            fields.next(),
        ) else {
            continue;
        };
        // SAFETY: the previous image cleared FD_CLOEXEC on exactly these descriptors and
        // exec'd this one; nothing else in this process owns them. CLOEXEC is set again.
        let (send, recv) = unsafe { (OwnedFd::from_raw_fd(send), OwnedFd::from_raw_fd(recv)) };
        for fd in [&send, &recv] {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
        queues.insert(key.to_string(), Queue { send, recv });
    }
    queues
}

/// At a reload, once the mules are gone: what the next image adopts (the queues and what
/// they hold), with FD_CLOEXEC cleared on those descriptors.
pub fn export_for_reload() -> Option<String> {
    let queues = QUEUES.get()?;
    for id in 1..=queues.mules.len() {
        after_death(id);
    }
    let mut parts = Vec::new();
    for (key, queue) in all_queues(queues) {
        for fd in [&queue.send, &queue.recv] {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            );
        }
        parts.push(format!(
            "{key}:{}:{}",
            queue.send.as_raw_fd(),
            queue.recv.as_raw_fd()
        ));
    }
    Some(parts.join(","))
}

/// After an exec that failed: the descriptors are close-on-exec again.
pub fn keep_private() {
    let Some(queues) = QUEUES.get() else { return };
    for (_, queue) in all_queues(queues) {
        for fd in [&queue.send, &queue.recv] {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
}

/// Every queue with its key (see `inherited_queues`).
fn all_queues(queues: &Queues) -> Vec<(String, &Queue)> {
    std::iter::once(("*".to_string(), &queues.shared))
        .chain(
            queues
                .mules
                .iter()
                .enumerate()
                .map(|(i, q)| ((i + 1).to_string(), q)),
        )
        .chain(
            queues
                .farms
                .iter()
                .map(|(name, _, q)| (format!("farm:{name}"), q)),
        )
        .collect()
}

/// Reads and counts what is left in a queue.
fn drain(queue: &Queue) -> usize {
    let mut buf = vec![0u8; RECORD];
    let mut count = 0;
    while recv(queue.recv.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).is_ok_and(|n| n > 0) {
        count += 1;
    }
    count
}

fn queue() -> Result<Queue, ConfigureError> {
    let (send, recv) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| ConfigureError::system("mule queue", e))?;
    if setsockopt(&send, sockopt::SndBufForce, &QUEUE_BYTES).is_err() {
        let _ = setsockopt(&send, sockopt::SndBuf, &QUEUE_BYTES);
    }
    Ok(Queue { send, recv })
}

/// This process's mule id (0: not a mule).
pub fn id() -> usize {
    MULE_ID.load(Ordering::Relaxed)
}

/// Called first thing in a forked mule.
pub fn enter_mule(id: usize) {
    MULE_ID.store(id, Ordering::Relaxed);
}

/// Whether mule `id` belongs to farm `name`.
pub fn in_farm_of(id: usize, name: &str) -> bool {
    QUEUES.get().is_some_and(|q| {
        q.farms
            .iter()
            .any(|(n, ids, _)| n == name && ids.contains(&id))
    })
}

/// In the master, once mule `id` is dead: a message it had read but not handed to Python is
/// queued again on its own queue; one handed to Python and not finished is logged lost.
pub fn after_death(id: usize) {
    let (Some(area), Some(queues)) = (AREA.get(), QUEUES.get()) else {
        return;
    };
    let Some(slots) = area.0.slots.get(id.wrapping_sub(1)) else {
        return;
    };
    for slot in slots {
        let state = slot.state.swap(FREE, Ordering::AcqRel);
        // SAFETY: the mule that owned the slot is dead; nothing else writes it.
        let buf = unsafe { &mut *slot.buf.get() };
        match state {
            RECEIVING if &buf[..MAGIC.len()] == MAGIC => {
                let len = record_len(buf);
                match send(
                    queues.mules[id - 1].send.as_raw_fd(),
                    &buf[..len],
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                ) {
                    Ok(_) => crate::log::warn(&format!(
                        "mule {id} died with a message it had read but not started ({} bytes): queued again for the respawned mule",
                        len - HEADER
                    )),
                    Err(e) => crate::log::error(&format!(
                        "mule {id} died with a message it had read but not started ({} bytes): LOST, it could not be queued again: {e}",
                        len - HEADER
                    )),
                }
            }
            IN_HAND => crate::log::error(&format!(
                "mule {id} died while handling a message of {} bytes: that message is LOST (it may have been partly handled)",
                slot.len.load(Ordering::Relaxed)
            )),
            _ => {}
        }
        buf[..MAGIC.len()].fill(0);
    }
}

/// The length of the record in a slot, from its header (the reader may have died before
/// it wrote the slot's `len`).
fn record_len(buf: &[u8]) -> usize {
    let mut word = [0u8; 4];
    word.copy_from_slice(&buf[MAGIC.len()..HEADER]);
    HEADER + (u32::from_le_bytes(word) as usize).min(MAX_MESSAGE)
}

/// In the master at its exit, once the mules are gone: accounts for the messages they
/// held, then reads what is left in every queue and says how many messages were never
/// delivered (never silently).
pub fn drain_undelivered(when: &str) {
    let Some(queues) = QUEUES.get() else { return };
    for id in 1..=queues.mules.len() {
        after_death(id);
    }
    let mut report = Vec::new();
    for (key, queue) in all_queues(queues) {
        let count = drain(queue);
        if count > 0 {
            report.push(format!("{count} for '{key}'"));
        }
    }
    if !report.is_empty() {
        crate::log::error(&format!(
            "{when}: mule messages never delivered (LOST): {}",
            report.join(", ")
        ));
    }
}

/// Which queue a `mule_msg` target names.
fn target_queue(target: Option<&Bound<'_, PyAny>>) -> PyResult<(&'static Queue, String)> {
    let queues = QUEUES.get().ok_or_else(|| {
        PyRuntimeError::new_err("uwsgi.mule_msg: this server has no mules (see the mule option)")
    })?;
    let Some(target) = target.filter(|t| !t.is_none()) else {
        return Ok((&queues.shared, "any mule".into()));
    };
    if let Ok(name) = target.cast::<PyString>() {
        let name = name.to_str()?;
        return queues
            .farms
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, q)| (q, format!("farm {name}")))
            .ok_or_else(|| {
                PyValueError::new_err(format!("uwsgi.mule_msg: no farm named '{name}'"))
            });
    }
    let id: usize = target.extract().map_err(|_| {
        PyTypeError::new_err("uwsgi.mule_msg: the target is a mule id (int) or a farm name (str)")
    })?;
    if id == 0 {
        return Ok((&queues.shared, "any mule".into()));
    }
    queues
        .mules
        .get(id - 1)
        .map(|q| (q, format!("mule {id}")))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "uwsgi.mule_msg: no mule {id} ({} mule(s))",
                queues.mules.len()
            ))
        })
}

fn message_bytes(message: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = message.cast::<PyString>() {
        return Ok(text.to_str()?.as_bytes().to_vec());
    }
    message
        .extract::<Vec<u8>>()
        .map_err(|_| PyTypeError::new_err("uwsgi.mule_msg: the message is bytes or str"))
}

/// Sends one record, waiting (without the GIL) up to `SEND_PATIENCE` for room.
fn send_record(py: Python<'_>, queue: &Queue, what: &str, message: &[u8]) -> PyResult<bool> {
    if message.len() > MAX_MESSAGE {
        return Err(PyValueError::new_err(format!(
            "uwsgi.mule_msg: a message of {} bytes is larger than the limit of {MAX_MESSAGE} bytes (64 KiB); not sent",
            message.len()
        )));
    }
    let mut record = Vec::with_capacity(HEADER + message.len());
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&(message.len() as u32).to_le_bytes());
    record.extend_from_slice(message);
    let fd = queue.send.as_raw_fd();
    let outcome = py.detach(|| {
        let deadline = Instant::now() + SEND_PATIENCE;
        loop {
            match send(fd, &record, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.to_string()),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "the queue of {what} is full (no mule took a message for {} s)",
                    SEND_PATIENCE.as_secs()
                ));
            }
            // SAFETY: the queue's descriptors live as long as the process (held in a static).
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let mut fds = [PollFd::new(borrowed, PollFlags::POLLOUT)];
            let wait = left.min(Duration::from_millis(100)).as_millis() as u16;
            let _ = poll(&mut fds, PollTimeout::from(wait));
        }
    });
    outcome
        .map(|()| true)
        .map_err(|why| PyRuntimeError::new_err(format!("uwsgi.mule_msg: {why}; message not sent")))
}

/// `uwsgi.mule_msg(msg[, mule_id or farm name])`: to that mule, that farm, or (no target or
/// 0) any mule. True once queued.
#[pyfunction]
#[pyo3(signature = (message, target=None))]
fn mule_msg(
    py: Python<'_>,
    message: &Bound<'_, PyAny>,
    target: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let (queue, what) = target_queue(target)?;
    send_record(py, queue, &what, &message_bytes(message)?)
}

/// `uwsgi.farm_msg(farm, msg)`.
#[pyfunction]
fn farm_msg(py: Python<'_>, farm: &Bound<'_, PyAny>, message: &Bound<'_, PyAny>) -> PyResult<bool> {
    if farm.cast::<PyString>().is_err() {
        return Err(PyTypeError::new_err(
            "uwsgi.farm_msg: the farm is a name (str)",
        ));
    }
    let (queue, what) = target_queue(Some(farm))?;
    send_record(py, queue, &what, &message_bytes(message)?)
}

/// The receive ends a mule reads: its own, the shared one, its farms' (if `farms`).
fn sources(id: usize, own: bool, farms: bool) -> Vec<RawFd> {
    let Some(queues) = QUEUES.get() else {
        return Vec::new();
    };
    let mut fds = Vec::new();
    if own {
        fds.push(queues.mules[id - 1].recv.as_raw_fd());
        fds.push(queues.shared.recv.as_raw_fd());
    }
    if farms {
        for (_, ids, queue) in &queues.farms {
            if ids.contains(&id) {
                fds.push(queue.recv.as_raw_fd());
            }
        }
    }
    fds
}

/// Marks this thread's previous message done (its slot free).
pub fn finished() {
    let id = id();
    if let (Some(index), Some(area)) = (HELD.with(|h| h.take()), AREA.get()) {
        if let Some(slot) = area
            .0
            .slots
            .get(id.wrapping_sub(1))
            .and_then(|s| s.get(index))
        {
            slot.state.store(FREE, Ordering::Release);
        }
    }
}

/// A slot of this mule for this thread, marked RECEIVING, or None when all are taken.
fn claim() -> Option<(usize, &'static Slot)> {
    let area = AREA.get()?;
    let slots = area.0.slots.get(id().wrapping_sub(1))?;
    slots.iter().enumerate().find(|(_, slot)| {
        slot.state
            .compare_exchange(FREE, RECEIVING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

/// Takes one record from `fd` if one is there, tracked in a slot when one is free.
fn take(fd: RawFd) -> Option<Vec<u8>> {
    let Some((index, slot)) = claim() else {
        if !UNTRACKED_WARNED.swap(true, Ordering::Relaxed) {
            crate::log::warn(&format!(
                "mule {}: more than {SLOTS} threads hold messages: the extra ones are not tracked if the mule dies",
                id()
            ));
        }
        let mut buf = vec![0u8; RECORD];
        let n = recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT).ok()?;
        return (n >= HEADER).then(|| buf[HEADER..n].to_vec());
    };
    // SAFETY: this thread claimed the slot (CAS above): nobody else writes its buffer.
    let buf = unsafe { &mut *slot.buf.get() };
    buf[..MAGIC.len()].fill(0);
    match recv(fd, buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) if n >= HEADER => {
            slot.len.store((n - HEADER) as u32, Ordering::Relaxed);
            slot.state.store(IN_HAND, Ordering::Release);
            HELD.with(|h| h.set(Some(index)));
            Some(buf[HEADER..n].to_vec())
        }
        _ => {
            slot.state.store(FREE, Ordering::Release);
            None
        }
    }
}

/// Waits for a message on `fds` up to `timeout` (None: forever), running this mule's
/// uwsgi signals meanwhile when `signals`. The previous message of this thread is done.
pub fn wait_message(
    py: Python<'_>,
    fds: &[RawFd],
    timeout: Option<Duration>,
    signals: bool,
    stop: &dyn Fn() -> bool,
) -> PyResult<Option<Vec<u8>>> {
    finished();
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if signals {
            super::signals::run_mule_signals(py, id());
        }
        py.check_signals()?;
        if stop() {
            return Ok(None);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait = left.map_or(SIGNAL_LOOK, |l| l.min(SIGNAL_LOOK));
        let ready: Vec<RawFd> = py.detach(|| {
            // SAFETY: the queues' descriptors live as long as the process (a static).
            let borrowed: Vec<BorrowedFd<'_>> = fds
                .iter()
                .map(|fd| unsafe { BorrowedFd::borrow_raw(*fd) })
                .collect();
            let mut polled: Vec<PollFd<'_>> = borrowed
                .iter()
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let millis = wait.as_millis().min(u16::MAX as u128) as u16;
            if poll(&mut polled, PollTimeout::from(millis)).unwrap_or(0) <= 0 {
                return Vec::new();
            }
            polled
                .iter()
                .zip(fds)
                .filter(|(p, _)| p.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .map(|(_, fd)| *fd)
                .collect()
        });
        for fd in ready {
            if let Some(message) = take(fd) {
                return Ok(Some(message));
            }
        }
        if left.is_some_and(|l| l.is_zero()) {
            return Ok(None);
        }
    }
}

fn timeout_from(seconds: i64) -> Option<Duration> {
    (seconds >= 0).then(|| Duration::from_secs(seconds as u64))
}

fn only_in_a_mule(function: &str) -> PyResult<usize> {
    match id() {
        0 => Err(PyRuntimeError::new_err(format!(
            "uwsgi.{function}: only a mule receives messages (uwsgi.mule_id() is 0 here)"
        ))),
        id => Ok(id),
    }
}

/// `uwsgi.mule_get_msg(signals=True, farms=True, buffer_size=65536, timeout=-1)`: the next
/// message for this mule (its own, any mule's, its farms' when `farms`) as bytes; None when
/// `timeout` seconds pass. Runs this mule's uwsgi signals while waiting when `signals`.
#[pyfunction]
#[pyo3(signature = (signals=true, farms=true, buffer_size=65536, timeout=-1))]
fn mule_get_msg<'py>(
    py: Python<'py>,
    signals: bool,
    farms: bool,
    buffer_size: usize,
    timeout: i64,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let id = only_in_a_mule("mule_get_msg")?;
    let _ = buffer_size; // Messages are always read whole (up to MAX_MESSAGE).
    let fds = sources(id, true, farms);
    let message = wait_message(py, &fds, timeout_from(timeout), signals, &|| false)?;
    Ok(message.map(|m| PyBytes::new(py, &m)))
}

/// `uwsgi.farm_get_msg(timeout=-1)`: the next message of one of this mule's farms; None if
/// it is in no farm or `timeout` seconds pass.
#[pyfunction]
#[pyo3(signature = (timeout=-1))]
fn farm_get_msg(py: Python<'_>, timeout: i64) -> PyResult<Option<Bound<'_, PyBytes>>> {
    let id = only_in_a_mule("farm_get_msg")?;
    let fds = sources(id, false, true);
    if fds.is_empty() {
        return Ok(None);
    }
    let message = wait_message(py, &fds, timeout_from(timeout), true, &|| false)?;
    Ok(message.map(|m| PyBytes::new(py, &m)))
}

/// `uwsgi.in_farm(name)`: whether this mule belongs to farm `name` (None outside mules).
#[pyfunction]
fn in_farm(name: &str) -> Option<bool> {
    match id() {
        0 => None,
        id => in_farm_of(id, name).then_some(true),
    }
}

#[pyfunction]
fn mule_id() -> usize {
    id()
}

/// The receive ends the built-in loop of mule `id` reads.
pub fn loop_sources(id: usize) -> Vec<RawFd> {
    sources(id, true, true)
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("mule_msg_hook", module.py().None())?;
    module.add_function(wrap_pyfunction!(mule_msg, module)?)?;
    module.add_function(wrap_pyfunction!(farm_msg, module)?)?;
    module.add_function(wrap_pyfunction!(mule_get_msg, module)?)?;
    module.add_function(wrap_pyfunction!(farm_get_msg, module)?)?;
    module.add_function(wrap_pyfunction!(in_farm, module)?)?;
    module.add_function(wrap_pyfunction!(mule_id, module)?)?;
    Ok(())
}
