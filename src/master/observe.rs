//! What the master shows about itself: answers on the stats and metrics sockets (JSON
//! document, Prometheus text, status page and its data) built from the scoreboard, the
//! kernel's listen queues and /proc, and the record of recent respawns.
//!
//! Owns: gathering snapshots for `stats`, `metrics` and `page`. Must not: change any worker
//! or slot (it only reads), or do anything slow: it runs on the master's loop.

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

use super::metrics::{self, Cause};
use super::stats::Page;
use super::Master;
use crate::ipc::scoreboard::{self, WorkerState, LISTENER_LABELS};
use crate::net;
use serde::Serialize;

/// Respawns kept for the status page.
const RECENT_RESPAWNS: usize = 10;

impl Master {
    pub(super) fn serve_stats(&self) {
        for server in self.stats.iter().chain(&self.metrics) {
            server.serve_pending(|page| match page {
                Page::Json => self.stats_document(),
                Page::Metrics => self.metrics_text(),
                Page::Html => super::page::HTML.to_string(),
                Page::PageData => self.page_data(),
            });
        }
    }

    pub(super) fn record_respawn(&mut self, id: usize, pid: i32, cause: Cause) {
        self.lifetime.respawns[cause as usize] += 1;
        if self.recent_respawns.len() == RECENT_RESPAWNS {
            self.recent_respawns.pop_front();
        }
        self.recent_respawns
            .push_back((scoreboard::now_ms(), id, pid, cause));
    }

    /// A running worker's state as the metrics and the page name it.
    fn worker_state(&self, entry: usize) -> &'static str {
        match self.board.state(entry) {
            WorkerState::Starting | WorkerState::Free => "starting",
            WorkerState::Draining => "draining",
            WorkerState::Ready if self.board.in_flight(entry).is_empty() => "idle",
            WorkerState::Ready => "busy",
        }
    }

    fn listener_names(&self) -> Vec<String> {
        let count = self.listeners.len();
        self.listeners
            .iter()
            .take(LISTENER_LABELS)
            .enumerate()
            .map(|(i, l)| {
                if i == LISTENER_LABELS - 1 && count > LISTENER_LABELS {
                    "others".to_string()
                } else {
                    l.address.to_string()
                }
            })
            .collect()
    }

    fn metrics_text(&self) -> String {
        let names = self.listener_names();
        let listeners = self
            .listeners
            .iter()
            .zip(names)
            .enumerate()
            .map(|(i, (l, name))| {
                let (queue, queue_max) =
                    net::queue::listen_queue(l.fd.as_fd(), &l.address).unwrap_or((0, 0));
                metrics::ListenerSnapshot {
                    name,
                    queue,
                    queue_max,
                    counters: self.board.listener_counters(i),
                }
            })
            .collect();
        let workers = self
            .slots
            .iter()
            .filter_map(|slot| {
                let (pid, entry) = (slot.pid?, slot.entry?);
                let (rss, pss) = crate::sys::procfs::rss_pss(pid.as_raw());
                Some(metrics::WorkerSnapshot {
                    id: slot.id,
                    state: self.worker_state(entry),
                    rss,
                    pss,
                    in_flight: self.board.in_flight(entry).len(),
                })
            })
            .collect();
        metrics::render(&metrics::Snapshot {
            listeners,
            workers,
            retiring: self.retirees.len() + self.previous.len(),
            lifetime: &self.lifetime,
        })
    }
}

/// The status page's data (`/status.json`), serialized by serde_json.
#[derive(Serialize)]
struct PageData {
    now_ms: u64,
    pid: u32,
    version: &'static str,
    generation: u64,
    requests: u64,
    duration_us: u64,
    listeners: Vec<PageListener>,
    workers: Vec<PageWorker>,
    respawns: Vec<PageRespawn>,
}

#[derive(Serialize)]
struct PageListener {
    name: String,
    queue: u32,
    max: u32,
}

#[derive(Serialize)]
struct PageWorker {
    id: usize,
    pid: i32,
    state: &'static str,
    requests: u64,
    rss: u64,
    respawns: u64,
    current: Vec<PageRequest>,
}

#[derive(Serialize)]
struct PageRequest {
    what: String,
    age_ms: u64,
}

#[derive(Serialize)]
struct PageRespawn {
    at_ms: u64,
    worker: usize,
    pid: i32,
    cause: &'static str,
}

impl Master {
    /// The status page's data: totals for its charts, workers, queues, recent respawns.
    fn page_data(&self) -> String {
        let now = scoreboard::now_ms();
        let (mut requests, mut duration_us) = (0u64, 0u64);
        for i in 0..self.listeners.len().min(LISTENER_LABELS) {
            let counters = self.board.listener_counters(i);
            requests += counters
                .by_class
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u64>();
            duration_us += counters.duration_us.load(Ordering::Relaxed);
        }
        let listeners = self
            .listeners
            .iter()
            .map(|l| {
                let (queue, max) =
                    net::queue::listen_queue(l.fd.as_fd(), &l.address).unwrap_or((0, 0));
                PageListener {
                    name: l.address.to_string(),
                    queue,
                    max,
                }
            })
            .collect();
        let data = PageData {
            now_ms: now,
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
            generation: self.lifetime.generation,
            requests,
            duration_us,
            listeners,
            workers: self.page_workers(now),
            respawns: self
                .recent_respawns
                .iter()
                .rev()
                .map(|(at, id, pid, cause)| PageRespawn {
                    at_ms: *at,
                    worker: *id,
                    pid: *pid,
                    cause: cause.name(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string(&data).expect("the page data serializes");
        text.push('\n');
        text
    }

    fn page_workers(&self, now: u64) -> Vec<PageWorker> {
        self.slots
            .iter()
            .filter_map(|slot| {
                let (pid, entry) = (slot.pid?, slot.entry?);
                let record = self.board.entry(entry);
                let (rss, _) = crate::sys::procfs::rss_pss(pid.as_raw());
                let current = self
                    .board
                    .in_flight(entry)
                    .into_iter()
                    .map(|(_, started, what)| PageRequest {
                        what,
                        age_ms: now.saturating_sub(started),
                    })
                    .collect();
                Some(PageWorker {
                    id: slot.id,
                    pid: pid.as_raw(),
                    state: self.worker_state(entry),
                    requests: record.requests.load(Ordering::Relaxed),
                    rss,
                    respawns: slot.respawn_count.saturating_sub(1),
                    current,
                })
            })
            .collect()
    }
}
