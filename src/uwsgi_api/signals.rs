//! uWSGI signals: `register_signal`, `signal`, and the sources the master raises them from
//! (`add_timer`, `add_rb_timer`, `add_cron`, `add_file_monitor`).
//!
//! Owns: the shared signal area (each signal's target, each worker's pending signals, the
//! registered sources), routing a raised signal to workers, the master's tick that raises
//! due sources, and running a worker's handlers (called from its event loop between
//! requests). Must not: run Python in the master, or block a worker's loop.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::shm::{self, RobustMutex};
use crate::ipc::scoreboard::WorkerState;
use crate::sys::cron::{CronJob, LocalMinute};

const SIGNALS: usize = 256;
const SOURCES: usize = 64;
const PATH_BYTES: usize = 256;
/// Entries of the pending table (at least the scoreboard's capacity).
const MAX_ENTRIES: usize = 1024;

/// Target codes kept in `SignalArea::targets` (0: not registered).
const TARGET_ANY: u64 = 1;
const TARGET_ALL: u64 = 2;
const TARGET_ACTIVE: u64 = 3;
const TARGET_ONE: u64 = 4; // worker id in the upper 32 bits
const TARGET_UNKNOWN: u64 = 5;
/// Mules and spoolers: one of them (round robin), all of them, mule N (id in the upper bits).
const TARGET_MULE: u64 = 6;
const TARGET_MULES: u64 = 7;
const TARGET_MULE_ONE: u64 = 8;
const TARGET_SPOOLER: u64 = 9;
const TARGET_SPOOLERS: u64 = 10;
/// Rows of the mules' and spoolers' pending tables: mules first, then spooler processes.
const OTHERS: usize = super::mules::MAX_MULES + super::spooler::MAX_SPOOLERS;

const KIND_TIMER: u32 = 1;
const KIND_RB_TIMER: u32 = 2;
const KIND_CRON: u32 = 3;
const KIND_FILE: u32 = 4;

#[repr(C)]
struct Source {
    kind: AtomicU32,
    signum: AtomicU32,
    /// Seconds (timers) and iterations left (+1; 0: forever) for rb timers.
    interval: AtomicU64,
    iterations: AtomicU64,
    cron: [AtomicI64; 5],
    path_len: AtomicU32,
    path: [AtomicU8; PATH_BYTES],
}

#[repr(C)]
struct SignalArea {
    targets: [AtomicU64; SIGNALS],
    /// Per worker entry: which signals wait (a summary) and how many times each was raised.
    pending: [[AtomicU64; 4]; MAX_ENTRIES],
    counts: [[AtomicU32; SIGNALS]; MAX_ENTRIES],
    /// Round robin for the `worker` target.
    next_worker: AtomicU64,
    /// The same for mules (rows 0..MAX_MULES) and spooler processes (after them).
    others_pending: [[AtomicU64; 4]; OTHERS],
    others_counts: [[AtomicU32; SIGNALS]; OTHERS],
    next_other: AtomicU64,
    sources_lock: RobustMutex,
    sources: [Source; SOURCES],
}

static AREA: OnceLock<&'static SignalArea> = OnceLock::new();

/// Maps the signal area (the master, before the application loads). Idempotent.
pub fn configure() -> Result<(), String> {
    if AREA.get().is_some() {
        return Ok(());
    }
    let region = shm::anonymous("signals", std::mem::size_of::<SignalArea>())
        .map_err(|e| format!("signals: {e}"))?;
    let area = region.base as *mut SignalArea;
    // SAFETY: a fresh zeroed shared mapping big enough for a SignalArea (all atomics, valid
    // at zero); the mutex is initialised before any other process exists; the mapping is
    // never unmapped (the region is leaked), so the reference lives as long as the process.
    let area: &'static SignalArea = unsafe {
        RobustMutex::init(std::ptr::addr_of_mut!((*area).sources_lock));
        &*area
    };
    std::mem::forget(region);
    let _ = AREA.set(area);
    Ok(())
}

fn area() -> Option<&'static SignalArea> {
    AREA.get().copied()
}

/// Sends `signum` to the workers its target names. Returns how many received it.
pub fn raise(signum: u8) -> usize {
    let (Some(area), Some(board)) = (area(), super::BOARD.get()) else {
        return 0;
    };
    let target = area.targets[signum as usize].load(Ordering::Acquire);
    if (TARGET_MULE..=TARGET_SPOOLERS).contains(&(target & 0xff)) {
        return raise_to_others(area, signum, target);
    }
    let ready: Vec<usize> = (0..board.capacity().min(MAX_ENTRIES))
        .filter(|i| board.state(*i) == WorkerState::Ready)
        .collect();
    let chosen: Vec<usize> = match target & 0xff {
        TARGET_ANY if !ready.is_empty() => {
            let turn = area.next_worker.fetch_add(1, Ordering::Relaxed) as usize;
            vec![ready[turn % ready.len()]]
        }
        TARGET_ALL | TARGET_ACTIVE => ready,
        TARGET_ONE => {
            let id = target >> 32;
            ready
                .into_iter()
                .filter(|i| board.entry(*i).worker_id.load(Ordering::Relaxed) == id)
                .collect()
        }
        _ => Vec::new(),
    };
    for entry in &chosen {
        area.counts[*entry][signum as usize].fetch_add(1, Ordering::AcqRel);
        area.pending[*entry][signum as usize / 64].fetch_or(1 << (signum % 64), Ordering::AcqRel);
    }
    chosen.len()
}

/// Mule and spooler targets: a mule that is down keeps its signals for its successor; the
/// `mule` and `spooler` targets choose among the live ones (any mule if none is up).
fn raise_to_others(area: &SignalArea, signum: u8, target: u64) -> usize {
    let mules = super::mules::count();
    let spooler_rows = |live: bool| -> Vec<usize> {
        (0..super::spooler::MAX_SPOOLERS)
            .filter(|i| !live || super::spooler::pid_of(*i) != 0)
            .map(|i| super::mules::MAX_MULES + i)
            .collect()
    };
    let turn = area.next_other.fetch_add(1, Ordering::Relaxed) as usize;
    let chosen: Vec<usize> = match target & 0xff {
        TARGET_MULE if mules > 0 => {
            let live: Vec<usize> = (0..mules)
                .filter(|i| super::mules::pid(i + 1) != 0)
                .collect();
            let pool = if live.is_empty() {
                (0..mules).collect()
            } else {
                live
            };
            vec![pool[turn % pool.len()]]
        }
        TARGET_MULES => (0..mules).collect(),
        TARGET_MULE_ONE => {
            let id = (target >> 32) as usize;
            if (1..=mules).contains(&id) {
                vec![id - 1]
            } else {
                Vec::new()
            }
        }
        TARGET_SPOOLER => {
            let live = spooler_rows(true);
            live.get(turn % live.len().max(1))
                .into_iter()
                .copied()
                .collect()
        }
        TARGET_SPOOLERS => spooler_rows(true),
        _ => Vec::new(),
    };
    for row in &chosen {
        area.others_counts[*row][signum as usize].fetch_add(1, Ordering::AcqRel);
        area.others_pending[*row][signum as usize / 64]
            .fetch_or(1 << (signum % 64), Ordering::AcqRel);
    }
    chosen.len()
}

/// Signals waiting for the worker at `entry`, taken (cleared) in number order, each as many
/// times as it was raised.
pub fn take_pending(entry: usize) -> Vec<u8> {
    let Some(area) = area() else {
        return Vec::new();
    };
    let entry = entry.min(MAX_ENTRIES - 1);
    take_from(&area.pending[entry], &area.counts[entry])
}

fn take_from(pending: &[AtomicU64; 4], counts: &[AtomicU32; SIGNALS]) -> Vec<u8> {
    let mut taken = Vec::new();
    for (word_index, word) in pending.iter().enumerate() {
        if word.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let bits = word.swap(0, Ordering::AcqRel);
        for bit in 0..64 {
            if bits & (1 << bit) != 0 {
                let signum = word_index * 64 + bit;
                let times = counts[signum].swap(0, Ordering::AcqRel);
                taken.extend(std::iter::repeat_n(signum as u8, times as usize));
            }
        }
    }
    taken
}

fn run_other(py: Python<'_>, row: usize) {
    let Some(area) = area() else { return };
    if row >= OTHERS {
        return;
    }
    let taken = take_from(&area.others_pending[row], &area.others_counts[row]);
    if !taken.is_empty() {
        run_handlers(py, &taken);
    }
}

/// In mule `id`: runs the uwsgi signals raised for it (GIL held).
pub fn run_mule_signals(py: Python<'_>, id: usize) {
    if id > 0 {
        run_other(py, id - 1);
    }
}

/// In spooler process `index` (from 0): runs the uwsgi signals raised for it.
pub fn run_spooler_signals(py: Python<'_>, index: usize) {
    run_other(py, super::mules::MAX_MULES + index);
}

/// Runs the handlers of `signals` in this worker (GIL taken); a raising one is logged.
pub fn run_handlers(py: Python<'_>, signals: &[u8]) {
    let Ok(handlers) = handlers(py) else { return };
    for signum in signals {
        match handlers.get_item(signum) {
            Ok(Some(handler)) => {
                if let Err(e) = handler.call1((*signum,)) {
                    crate::log::error(&format!(
                        "uwsgi signal {signum} handler raised: {}",
                        crate::wsgi::interpreter::format_exception(py, &e)
                    ));
                }
            }
            _ => crate::log::warn(&format!(
                "uwsgi signal {signum}: no handler registered in this worker"
            )),
        }
    }
}

/// This process's handlers (inherited by fork when the master registered them).
fn handlers(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let module = py.import("uwsgi")?;
    Ok(module
        .getattr("_rwsgi_signal_handlers")?
        .cast_into::<PyDict>()?)
}

fn target_code(who: &str) -> u64 {
    match who {
        "" | "worker" => TARGET_ANY,
        "workers" => TARGET_ALL,
        "active-workers" => TARGET_ACTIVE,
        "mule" | "mule0" => TARGET_MULE,
        "mules" => TARGET_MULES,
        "spooler" => TARGET_SPOOLER,
        "spoolers" => TARGET_SPOOLERS,
        other => {
            let numbered = |prefix: &str| {
                other
                    .strip_prefix(prefix)
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|id| *id > 0)
            };
            match (numbered("worker"), numbered("mule")) {
                (Some(id), _) => TARGET_ONE | (id << 32),
                (_, Some(id)) => TARGET_MULE_ONE | (id << 32),
                _ => TARGET_UNKNOWN,
            }
        }
    }
}

/// `register_signal(num, who, handler)`: as uWSGI, answers None, also for a target it does
/// not know (rwsgi logs that such a signal is never delivered).
#[pyfunction]
fn register_signal(py: Python<'_>, num: u8, who: &str, handler: Bound<'_, PyAny>) -> PyResult<()> {
    let code = target_code(who);
    if code == TARGET_UNKNOWN {
        crate::log::warn(&format!(
            "uwsgi.register_signal({num}): unknown target '{who}'; rwsgi knows '', worker, workers, workerN, active-workers, mule, mules, muleN, spooler and spoolers: the signal is never delivered"
        ));
    }
    handlers(py)?.set_item(num, handler)?;
    if let Some(area) = area() {
        area.targets[num as usize].store(code, Ordering::Release);
    }
    Ok(())
}

#[pyfunction]
/// Whether this process has a handler for `num` (so each lazy-apps worker, registering the
/// same decorators, picks the same free numbers).
fn signal_registered(py: Python<'_>, num: u8) -> Option<bool> {
    handlers(py)
        .is_ok_and(|h| h.contains(num).unwrap_or(false))
        .then_some(true)
}

/// `uwsgi.signal(num)`: raised now, from any worker (or the master).
#[pyfunction]
#[pyo3(name = "signal", signature = (num, _remote=None))]
fn raise_signal(num: u8, _remote: Option<&str>) {
    if raise(num) == 0 {
        crate::log::warn(&format!(
            "uwsgi.signal({num}): no process to deliver it to (is it registered?)"
        ));
    }
}

/// Registers a source unless the same one exists (lazy-apps workers each register theirs).
fn add_source(kind: u32, signum: u8, interval: u64, iterations: u64, cron: [i64; 5], path: &[u8]) {
    let Some(area) = area() else { return };
    area.sources_lock.lock();
    let same = |s: &Source| {
        s.kind.load(Ordering::Relaxed) == kind
            && s.signum.load(Ordering::Relaxed) == u32::from(signum)
            && s.interval.load(Ordering::Relaxed) == interval
            && s.cron
                .iter()
                .zip(cron)
                .all(|(a, b)| a.load(Ordering::Relaxed) == b)
            && source_path(s) == path
    };
    if !area.sources.iter().any(same) {
        match area
            .sources
            .iter()
            .find(|s| s.kind.load(Ordering::Relaxed) == 0)
        {
            Some(slot) => {
                slot.signum.store(u32::from(signum), Ordering::Relaxed);
                slot.interval.store(interval, Ordering::Relaxed);
                slot.iterations.store(iterations, Ordering::Relaxed);
                for (field, value) in slot.cron.iter().zip(cron) {
                    field.store(value, Ordering::Relaxed);
                }
                let len = path.len().min(PATH_BYTES);
                for (cell, byte) in slot.path.iter().zip(&path[..len]) {
                    cell.store(*byte, Ordering::Relaxed);
                }
                slot.path_len.store(len as u32, Ordering::Relaxed);
                slot.kind.store(kind, Ordering::Release);
            }
            None => crate::log::error(&format!(
                "uwsgi: no room for another timer, cron or file monitor ({SOURCES} at most)"
            )),
        }
    }
    area.sources_lock.unlock();
}

fn source_path(source: &Source) -> Vec<u8> {
    let len = source.path_len.load(Ordering::Relaxed) as usize;
    source.path[..len.min(PATH_BYTES)]
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .collect()
}

/// As uWSGI, a timer of 0 seconds answers None and is not armed (rwsgi says so in the log).
fn zero_timer(function: &str, signum: u8) -> bool {
    crate::log::warn(&format!(
        "uwsgi.{function}({signum}, 0): a timer of 0 seconds never fires; not armed"
    ));
    true
}

#[pyfunction]
fn add_timer(signum: u8, seconds: u64) {
    if seconds == 0 && zero_timer("add_timer", signum) {
        return;
    }
    add_source(KIND_TIMER, signum, seconds, 0, [0; 5], b"");
}

#[pyfunction]
#[pyo3(signature = (signum, seconds, iterations=0))]
fn add_rb_timer(signum: u8, seconds: u64, iterations: u64) {
    if seconds == 0 && zero_timer("add_rb_timer", signum) {
        return;
    }
    add_source(KIND_RB_TIMER, signum, seconds, iterations, [0; 5], b"");
}

#[pyfunction]
fn add_cron(
    signum: u8,
    minute: i64,
    hour: i64,
    day: i64,
    month: i64,
    weekday: i64,
) -> PyResult<()> {
    let fields = [minute, hour, day, month, weekday];
    cron_job(&fields).map_err(pyo3::exceptions::PyValueError::new_err)?;
    add_source(KIND_CRON, signum, 0, 0, fields, b"");
    Ok(())
}

/// uWSGI's fields (-1: any, -N: every N) as a cron rule the master's parser reads.
fn cron_job(fields: &[i64; 5]) -> Result<CronJob, String> {
    let rule: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    CronJob::parse(&format!("{} signal", rule.join(" "))).map_err(|e| e.to_string())
}

#[pyfunction]
fn add_file_monitor(signum: u8, path: &str) {
    add_source(KIND_FILE, signum, 0, 0, [0; 5], path.as_bytes());
}

/// What the master remembers about each source between ticks.
#[derive(Default)]
pub struct MasterClock {
    due: Vec<Option<Instant>>,
    fired: Vec<u64>,
    mtimes: Vec<Option<Option<SystemTime>>>,
    cron_minute: Option<LocalMinute>,
}

/// The master's tick: raises the signals of due timers, cron entries and changed files.
pub fn master_tick(clock: &mut MasterClock) {
    let Some(area) = area() else { return };
    if clock.due.is_empty() {
        clock.due = vec![None; SOURCES];
        clock.fired = vec![0; SOURCES];
        clock.mtimes = vec![None; SOURCES];
    }
    let now = Instant::now();
    let minute = LocalMinute::now();
    // A minute that began while running (not the one the master started in), as cron does.
    let new_minute = clock.cron_minute.is_some_and(|seen| seen != minute);
    clock.cron_minute = Some(minute);
    for (index, source) in area.sources.iter().enumerate() {
        let kind = source.kind.load(Ordering::Acquire);
        let signum = source.signum.load(Ordering::Relaxed) as u8;
        let fire = match kind {
            KIND_TIMER | KIND_RB_TIMER => {
                let every = Duration::from_secs(source.interval.load(Ordering::Relaxed));
                let due = *clock.due[index].get_or_insert(now + every);
                let limit = source.iterations.load(Ordering::Relaxed);
                let exhausted = kind == KIND_RB_TIMER && limit > 0 && clock.fired[index] >= limit;
                if now >= due && !exhausted {
                    clock.due[index] = Some(due.max(now - every) + every);
                    clock.fired[index] += 1;
                    true
                } else {
                    false
                }
            }
            KIND_CRON => {
                let fields = std::array::from_fn(|i| source.cron[i].load(Ordering::Relaxed));
                new_minute && cron_job(&fields).is_ok_and(|job| job.is_due(minute))
            }
            KIND_FILE => {
                let path = String::from_utf8_lossy(&source_path(source)).into_owned();
                let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
                match clock.mtimes[index].replace(mtime) {
                    Some(previous) => previous != mtime,
                    None => false,
                }
            }
            _ => false,
        };
        if fire {
            raise(signum);
        }
    }
}

pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("_rwsgi_signal_handlers", PyDict::new(module.py()))?;
    module.add_function(wrap_pyfunction!(register_signal, module)?)?;
    module.add_function(wrap_pyfunction!(signal_registered, module)?)?;
    module.add_function(wrap_pyfunction!(raise_signal, module)?)?;
    module.add_function(wrap_pyfunction!(add_timer, module)?)?;
    module.add_function(wrap_pyfunction!(add_rb_timer, module)?)?;
    module.add_function(wrap_pyfunction!(add_cron, module)?)?;
    module.add_function(wrap_pyfunction!(add_file_monitor, module)?)?;
    Ok(())
}
