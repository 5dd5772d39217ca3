//! The Prometheus/OpenMetrics text exposition (`metrics = ADDR`, `/metrics` of
//! `stats-http`): renders what the master gathered (scoreboard counters, listen queues from
//! the kernel, worker memory from /proc, its own respawn and reload counts) as text format
//! 0.0.4, which Prometheus and OpenMetrics scrapers both read.
//!
//! Owns: metric names, types, help and label escaping. Labels stay bounded: listeners (as
//! configured, at most `LISTENER_LABELS`), worker ids (as configured), states and causes
//! (fixed sets); never a request path. Must not: read sockets or /proc itself (the master
//! hands it a snapshot) or block.

use std::fmt::Write;

use crate::ipc::scoreboard::{ListenerCounters, DURATION_BOUNDS_US};

/// Why a worker was forked again; a fixed set, one label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Crash = 0,
    Recycle = 1,
    Harakiri = 2,
    Reload = 3,
}

impl Cause {
    pub const ALL: [Cause; 4] = [Cause::Crash, Cause::Recycle, Cause::Harakiri, Cause::Reload];

    pub fn name(self) -> &'static str {
        match self {
            Cause::Crash => "crash",
            Cause::Recycle => "recycle",
            Cause::Harakiri => "harakiri",
            Cause::Reload => "reload",
        }
    }
}

/// What outlives a master image across reloads (carried in the environment of the
/// re-executed master): generation, first start, respawns by cause, harakiri count.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    /// 0 for the first image, +1 per reload.
    pub generation: u64,
    /// Unix seconds when the first image started.
    pub started: f64,
    pub respawns: [u64; 4],
    pub harakiri: u64,
}

pub const LIFETIME_VAR: &str = "RWSGI_METRICS_CARRY";

impl Lifetime {
    /// The previous image's values plus one generation, or a fresh start.
    pub fn from_environment() -> Lifetime {
        let carried = std::env::var(LIFETIME_VAR)
            .ok()
            .and_then(|text| Lifetime::parse(&text));
        std::env::remove_var(LIFETIME_VAR);
        match carried {
            Some(mut lifetime) => {
                lifetime.generation += 1;
                lifetime
            }
            None => Lifetime {
                generation: 0,
                started: crate::ipc::scoreboard::now_ms() as f64 / 1000.0,
                respawns: [0; 4],
                harakiri: 0,
            },
        }
    }

    pub fn encode(&self) -> String {
        let r = &self.respawns;
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.generation, self.started, r[0], r[1], r[2], r[3], self.harakiri
        )
    }

    fn parse(text: &str) -> Option<Lifetime> {
        let fields: Vec<&str> = text.split(':').collect();
        if fields.len() != 7 {
            return None;
        }
        let n = |i: usize| fields[i].parse::<u64>().ok();
        Some(Lifetime {
            generation: n(0)?,
            started: fields[1].parse().ok()?,
            respawns: [n(2)?, n(3)?, n(4)?, n(5)?],
            harakiri: n(6)?,
        })
    }
}

pub struct ListenerSnapshot<'a> {
    pub name: String,
    pub queue: u32,
    pub queue_max: u32,
    pub counters: &'a ListenerCounters,
}

pub struct WorkerSnapshot {
    pub id: usize,
    /// starting, idle, busy, draining.
    pub state: &'static str,
    pub rss: u64,
    pub pss: u64,
    pub in_flight: usize,
}

pub struct Snapshot<'a> {
    pub listeners: Vec<ListenerSnapshot<'a>>,
    pub workers: Vec<WorkerSnapshot>,
    /// Workers of the previous image or recycled ones still finishing requests.
    pub retiring: usize,
    pub lifetime: &'a Lifetime,
}

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(std::sync::atomic::Ordering::Relaxed)
}

const CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// The exposition text.
pub fn render(snapshot: &Snapshot<'_>) -> String {
    let mut out = String::with_capacity(8192);
    render_requests(&mut out, &snapshot.listeners);
    render_workers(&mut out, snapshot);
    let life = snapshot.lifetime;
    header(
        &mut out,
        "rwsgi_worker_respawns_total",
        "counter",
        "Workers forked again, by cause (since the first start; reloads carry it on).",
    );
    for cause in Cause::ALL {
        let _ = writeln!(
            out,
            "rwsgi_worker_respawns_total{{cause=\"{}\"}} {}",
            cause.name(),
            life.respawns[cause as usize]
        );
    }
    header(
        &mut out,
        "rwsgi_harakiri_total",
        "counter",
        "Workers killed by harakiri.",
    );
    let _ = writeln!(out, "rwsgi_harakiri_total {}", life.harakiri);
    header(
        &mut out,
        "rwsgi_reloads_total",
        "counter",
        "Graceful reloads (new master images) since the first start.",
    );
    let _ = writeln!(out, "rwsgi_reloads_total {}", life.generation);
    header(
        &mut out,
        "rwsgi_generation",
        "gauge",
        "The running master image's generation: 0 at start, +1 per reload.",
    );
    let _ = writeln!(out, "rwsgi_generation {}", life.generation);
    header(
        &mut out,
        "rwsgi_start_time_seconds",
        "gauge",
        "When rwsgi first started, in Unix seconds.",
    );
    let _ = writeln!(out, "rwsgi_start_time_seconds {:.3}", life.started);
    header(
        &mut out,
        "rwsgi_build_info",
        "gauge",
        "rwsgi's version, as a label; the value is always 1.",
    );
    let _ = writeln!(
        out,
        "rwsgi_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn render_requests(out: &mut String, listeners: &[ListenerSnapshot<'_>]) {
    header(
        out,
        "rwsgi_requests_total",
        "counter",
        "Requests answered, by listener and status class (none: closed unanswered).",
    );
    for l in listeners {
        for (class, name) in CLASSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "rwsgi_requests_total{{listener=\"{}\",class=\"{name}\"}} {}",
                label(&l.name),
                load(&l.counters.by_class[class])
            );
        }
    }
    render_durations(out, listeners);
    render_bytes(out, listeners);
    render_queues(out, listeners);
}

/// The request duration histogram, by listener.
fn render_durations(out: &mut String, listeners: &[ListenerSnapshot<'_>]) {
    header(
        out,
        "rwsgi_request_duration_seconds",
        "histogram",
        "Time from the request's start to its response's last byte, by listener.",
    );
    for l in listeners {
        let name = label(&l.name);
        let mut cumulative = 0;
        for (i, bound) in DURATION_BOUNDS_US.iter().enumerate() {
            cumulative += load(&l.counters.duration[i]);
            let _ = writeln!(
                out,
                "rwsgi_request_duration_seconds_bucket{{listener=\"{name}\",le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        cumulative += load(&l.counters.duration[DURATION_BOUNDS_US.len()]);
        let _ = writeln!(
            out,
            "rwsgi_request_duration_seconds_bucket{{listener=\"{name}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "rwsgi_request_duration_seconds_sum{{listener=\"{name}\"}} {}",
            load(&l.counters.duration_us) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "rwsgi_request_duration_seconds_count{{listener=\"{name}\"}} {cumulative}"
        );
    }
}

/// Bytes received and sent, by listener.
fn render_bytes(out: &mut String, listeners: &[ListenerSnapshot<'_>]) {
    type Field = fn(&ListenerCounters) -> u64;
    let byte_metrics: [(&str, &str, Field); 2] = [
        (
            "rwsgi_received_bytes_total",
            "Request bytes received (head and body), by listener.",
            |c| load(&c.bytes_in),
        ),
        (
            "rwsgi_sent_bytes_total",
            "Response body bytes sent, by listener.",
            |c| load(&c.bytes_out),
        ),
    ];
    for (metric, help, field) in byte_metrics {
        header(out, metric, "counter", help);
        for l in listeners {
            let _ = writeln!(
                out,
                "{metric}{{listener=\"{}\"}} {}",
                label(&l.name),
                field(l.counters)
            );
        }
    }
}

/// The kernel's accept queues: waiting connections and their limit, by listener.
fn render_queues(out: &mut String, listeners: &[ListenerSnapshot<'_>]) {
    header(
        out,
        "rwsgi_listen_queue",
        "gauge",
        "Connections waiting in the listener's accept queue (from the kernel).",
    );
    for l in listeners {
        let _ = writeln!(
            out,
            "rwsgi_listen_queue{{listener=\"{}\"}} {}",
            label(&l.name),
            l.queue
        );
    }
    header(
        out,
        "rwsgi_listen_queue_max",
        "gauge",
        "The listener's accept queue limit (listen backlog, from the kernel).",
    );
    for l in listeners {
        let _ = writeln!(
            out,
            "rwsgi_listen_queue_max{{listener=\"{}\"}} {}",
            label(&l.name),
            l.queue_max
        );
    }
}

fn render_workers(out: &mut String, snapshot: &Snapshot<'_>) {
    header(
        out,
        "rwsgi_requests_in_flight",
        "gauge",
        "Requests being served now.",
    );
    let in_flight: usize = snapshot.workers.iter().map(|w| w.in_flight).sum();
    let _ = writeln!(out, "rwsgi_requests_in_flight {in_flight}");
    header(
        out,
        "rwsgi_workers",
        "gauge",
        "Worker processes by state (retiring: recycled or of the previous image, finishing their requests).",
    );
    for state in ["starting", "idle", "busy", "draining"] {
        let count = snapshot.workers.iter().filter(|w| w.state == state).count();
        let _ = writeln!(out, "rwsgi_workers{{state=\"{state}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "rwsgi_workers{{state=\"retiring\"}} {}",
        snapshot.retiring
    );
    for (metric, help, pss) in [
        (
            "rwsgi_worker_resident_bytes",
            "Resident set size (RSS) of each worker.",
            false,
        ),
        (
            "rwsgi_worker_proportional_bytes",
            "Proportional set size (PSS: shared pages divided among sharers) of each worker.",
            true,
        ),
    ] {
        header(out, metric, "gauge", help);
        for w in &snapshot.workers {
            let value = if pss { w.pss } else { w.rss };
            let _ = writeln!(out, "{metric}{{worker=\"{}\"}} {value}", w.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_round_trips_through_the_environment_text() {
        let life = Lifetime {
            generation: 3,
            started: 1700000000.25,
            respawns: [1, 2, 3, 4],
            harakiri: 5,
        };
        assert_eq!(Lifetime::parse(&life.encode()), Some(life));
        assert_eq!(Lifetime::parse("garbage"), None);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
