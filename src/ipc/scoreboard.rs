//! The scoreboard: a shared anonymous mapping, created by the master before the first fork,
//! where each worker publishes its state and, per thread, the request it is serving and
//! since when. The master reads it for harakiri, SIGUSR1 status and lifecycle decisions.
//! It also holds the request counters the metrics endpoint reports (per listener: status
//! classes, a duration histogram, bytes in and out); they live outside the worker entries,
//! so a recycled worker never makes a counter go backwards, and are plain relaxed
//! `fetch_add`s, so the request path takes no lock.
//!
//! Owns: the layout and atomic access. Must not: hold pointers into Python or anything a
//! fork could invalidate; every field is a plain atomic so torn reads cannot happen.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use crate::sys::shared_mem::{Region, Shareable};

/// Bytes of "METHOD /path" kept per request for logs.
const DESCRIPTION_WORDS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum WorkerState {
    Free = 0,
    Starting = 1,
    Ready = 2,
    Draining = 3,
}

#[repr(C)]
pub struct WorkerEntry {
    pub pid: AtomicI32,
    state: AtomicU32,
    pub requests: AtomicU64,
    pub born_ms: AtomicU64,
    /// Response bytes sent, for the stats server.
    pub tx: AtomicU64,
    /// Requests whose application raised (answered 500 or cut).
    pub exceptions: AtomicU64,
    /// Sum of request durations in microseconds (average = this / requests).
    pub busy_us: AtomicU64,
    /// Client connections open in the worker now (accept back-pressure).
    pub connections: AtomicU64,
    /// The worker's id (1..), for `uwsgi.workers()`.
    pub worker_id: AtomicU64,
}

/// Listeners with counters of their own; any further ones share the last entry.
pub const LISTENER_LABELS: usize = 8;
/// Upper bounds (microseconds) of the request duration histogram's buckets; one more
/// bucket counts everything slower (+Inf).
pub const DURATION_BOUNDS_US: [u64; 12] = [
    1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// One listener's request counters.
#[repr(C)]
pub struct ListenerCounters {
    /// Requests by status class: index 1-5 for 1xx-5xx, 0 for none (closed unanswered).
    pub by_class: [AtomicU64; 6],
    /// Requests per duration bucket (not cumulative); the last is +Inf.
    pub duration: [AtomicU64; DURATION_BOUNDS_US.len() + 1],
    pub duration_us: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

#[repr(C)]
pub struct RequestSlot {
    /// Unix milliseconds when the current request started; 0 when idle.
    started_ms: AtomicU64,
    description: [AtomicU64; DESCRIPTION_WORDS],
}

// SAFETY: each is made of atomic integers only (valid at zero, made for shared use), so the
// scoreboard's shared memory can be viewed as arrays of them.
unsafe impl Shareable for WorkerEntry {}
unsafe impl Shareable for ListenerCounters {}
unsafe impl Shareable for RequestSlot {}

#[derive(Clone, Copy)]
pub struct Scoreboard {
    workers: &'static [WorkerEntry],
    requests: &'static [RequestSlot],
    listeners: &'static [ListenerCounters],
    threads: usize,
}

pub fn now_ms() -> u64 {
    crate::sys::time::unix_now().as_millis() as u64
}

impl Scoreboard {
    /// Maps room for `capacity` workers of `threads` threads each, shared with every child.
    pub fn new(capacity: usize, threads: usize) -> std::io::Result<Scoreboard> {
        let workers_len = capacity * std::mem::size_of::<WorkerEntry>();
        let requests_len = capacity * threads * std::mem::size_of::<RequestSlot>();
        let listeners_len = LISTENER_LABELS * std::mem::size_of::<ListenerCounters>();
        // WorkerEntry is 8-aligned and workers_len a multiple of 8, so the RequestSlot array
        // is aligned too, and the ListenerCounters after it (RequestSlot is made of u64s).
        let region = Region::anonymous(workers_len + requests_len + listeners_len)?;
        Ok(Scoreboard {
            workers: region.view(0, capacity),
            requests: region.view(workers_len, capacity * threads),
            listeners: region.view(workers_len + requests_len, LISTENER_LABELS),
            threads,
        })
    }

    pub fn capacity(&self) -> usize {
        self.workers.len()
    }

    /// Takes a free entry for a worker about to be forked.
    pub fn claim(&self) -> Option<usize> {
        let index = self.workers.iter().position(|w| {
            w.state
                .compare_exchange(
                    WorkerState::Free as u32,
                    WorkerState::Starting as u32,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        })?;
        let entry = &self.workers[index];
        entry.pid.store(0, Ordering::Relaxed);
        entry.requests.store(0, Ordering::Relaxed);
        entry.born_ms.store(now_ms(), Ordering::Relaxed);
        entry.tx.store(0, Ordering::Relaxed);
        entry.exceptions.store(0, Ordering::Relaxed);
        entry.busy_us.store(0, Ordering::Relaxed);
        entry.connections.store(0, Ordering::Relaxed);
        entry.worker_id.store(0, Ordering::Relaxed);
        for slot in self.thread_slots(index) {
            slot.started_ms.store(0, Ordering::Relaxed);
        }
        Some(index)
    }

    pub fn release(&self, index: usize) {
        self.workers[index].pid.store(0, Ordering::Relaxed);
        self.workers[index]
            .state
            .store(WorkerState::Free as u32, Ordering::Release);
    }

    pub fn entry(&self, index: usize) -> &WorkerEntry {
        &self.workers[index]
    }

    pub fn state(&self, index: usize) -> WorkerState {
        match self.workers[index].state.load(Ordering::Acquire) {
            1 => WorkerState::Starting,
            2 => WorkerState::Ready,
            3 => WorkerState::Draining,
            _ => WorkerState::Free,
        }
    }

    /// The fewest connections any other ready worker holds, if there is one.
    pub fn fewest_connections_elsewhere(&self, index: usize) -> Option<u64> {
        self.workers
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                *i != index && w.state.load(Ordering::Relaxed) == WorkerState::Ready as u32
            })
            .map(|(_, w)| w.connections.load(Ordering::Relaxed))
            .min()
    }

    pub fn set_state(&self, index: usize, state: WorkerState) {
        self.workers[index]
            .state
            .store(state as u32, Ordering::Release);
    }

    fn thread_slots(&self, index: usize) -> &[RequestSlot] {
        &self.requests[index * self.threads..(index + 1) * self.threads]
    }

    /// A worker thread starts serving `description` (e.g. "GET /path").
    pub fn begin_request(&self, index: usize, thread: usize, description: &[u8]) {
        let slot = &self.thread_slots(index)[thread];
        let mut words = [0u64; DESCRIPTION_WORDS];
        for (i, byte) in description
            .iter()
            .take(DESCRIPTION_WORDS * 8 - 1)
            .enumerate()
        {
            words[i / 8] |= u64::from(*byte) << ((i % 8) * 8);
        }
        for (word, value) in slot.description.iter().zip(words) {
            word.store(value, Ordering::Relaxed);
        }
        slot.started_ms.store(now_ms().max(1), Ordering::Release);
    }

    pub fn end_request(&self, index: usize, thread: usize) {
        self.thread_slots(index)[thread]
            .started_ms
            .store(0, Ordering::Release);
        self.workers[index].requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answered request on `listener` (its index among the sockets).
    pub fn record(&self, listener: usize, status: u16, took_us: u64, received: u64, sent: u64) {
        let counters = &self.listeners[listener.min(LISTENER_LABELS - 1)];
        let class = usize::from(status / 100).min(5);
        counters.by_class[class].fetch_add(1, Ordering::Relaxed);
        let bucket = DURATION_BOUNDS_US
            .iter()
            .position(|bound| took_us <= *bound)
            .unwrap_or(DURATION_BOUNDS_US.len());
        counters.duration[bucket].fetch_add(1, Ordering::Relaxed);
        counters.duration_us.fetch_add(took_us, Ordering::Relaxed);
        counters.bytes_in.fetch_add(received, Ordering::Relaxed);
        counters.bytes_out.fetch_add(sent, Ordering::Relaxed);
    }

    pub fn listener_counters(&self, listener: usize) -> &ListenerCounters {
        &self.listeners[listener.min(LISTENER_LABELS - 1)]
    }

    /// The requests in flight in a worker: (thread, started at unix ms, description).
    pub fn in_flight(&self, index: usize) -> Vec<(usize, u64, String)> {
        self.thread_slots(index)
            .iter()
            .enumerate()
            .filter_map(|(thread, slot)| {
                let started = slot.started_ms.load(Ordering::Acquire);
                (started != 0).then(|| (thread, started, self.description(index, thread)))
            })
            .collect()
    }

    /// Requests served by every worker alive now (uWSGI's `req: a/b` total).
    pub fn total_requests(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.requests.load(Ordering::Relaxed))
            .sum()
    }

    /// `METHOD URI` of the request a thread began last.
    pub fn description(&self, index: usize, thread: usize) -> String {
        let slot = &self.thread_slots(index)[thread];
        let mut bytes = Vec::with_capacity(DESCRIPTION_WORDS * 8);
        for word in &slot.description {
            bytes.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_describe_release() {
        let board = Scoreboard::new(4, 2).unwrap();
        let a = board.claim().unwrap();
        let b = board.claim().unwrap();
        assert_ne!(a, b);
        board.begin_request(b, 1, b"GET /a/long/path?with=query");
        let flight = board.in_flight(b);
        assert_eq!(flight.len(), 1);
        assert_eq!(flight[0].0, 1);
        assert_eq!(flight[0].2, "GET /a/long/path?with=query");
        board.end_request(b, 1);
        assert!(board.in_flight(b).is_empty());
        assert_eq!(board.entry(b).requests.load(Ordering::Relaxed), 1);
        board.release(a);
        assert_eq!(board.claim(), Some(a));
    }

    #[test]
    fn listener_counters_by_class_and_bucket() {
        let board = Scoreboard::new(2, 1).unwrap();
        board.record(0, 200, 3_000, 100, 1000);
        board.record(0, 503, 20_000_000, 10, 20);
        board.record(99, 404, 1, 0, 0);
        let c = board.listener_counters(0);
        assert_eq!(c.by_class[2].load(Ordering::Relaxed), 1);
        assert_eq!(c.by_class[5].load(Ordering::Relaxed), 1);
        assert_eq!(c.duration[1].load(Ordering::Relaxed), 1);
        assert_eq!(
            c.duration[DURATION_BOUNDS_US.len()].load(Ordering::Relaxed),
            1
        );
        assert_eq!(c.bytes_out.load(Ordering::Relaxed), 1020);
        let last = board.listener_counters(LISTENER_LABELS - 1);
        assert_eq!(last.by_class[4].load(Ordering::Relaxed), 1);
    }
}
