//! What the master tells about itself: the stats document's inputs, STATUS= text and
//! the SIGUSR1 status lines.
//!
//! Must not: change any state.

use super::*;

/// Binds a stats or metrics server when the configuration asks for one.
pub(super) fn bind_stats(
    spec: Option<&str>,
    mode: stats::Mode,
) -> Result<Option<stats::StatsServer>, stats::BindError> {
    let Some(spec) = spec else { return Ok(None) };
    let server = stats::StatsServer::bind(spec, mode)?;
    let what = match mode {
        stats::Mode::Metrics => "metrics (Prometheus text)",
        _ => "stats server",
    };
    log::info(&format!("{what} on {}", server.local_address()));
    Ok(Some(server))
}

impl Master {
    pub(super) fn stats_document(&self) -> String {
        let sockets: Vec<stats::SocketStats> = self
            .listeners
            .iter()
            .map(|l| stats::SocketStats {
                name: l.address.to_string(),
                proto: l.protocol.to_string(),
                backlog: self.config.listen.listen_backlog,
                queue: net::queue::listen_queue(l.fd.as_fd(), &l.address).map_or(0, |q| q.0),
            })
            .collect();
        let workers: Vec<stats::WorkerStats> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let (pid, entry) = (slot.pid?, slot.entry?);
                let record = self.board.entry(entry);
                let load =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                let in_flight = self.board.in_flight(entry);
                Some(stats::WorkerStats {
                    id: slot.id,
                    pid: pid.as_raw(),
                    requests: load(&record.requests),
                    exceptions: load(&record.exceptions),
                    harakiri_count: slot.harakiri_count,
                    respawn_count: slot.respawn_count,
                    busy: (0..self.config.workers.threads)
                        .map(|t| in_flight.iter().any(|(thread, _, _)| *thread == t))
                        .collect(),
                    tx: load(&record.tx),
                    busy_us: load(&record.busy_us),
                    last_spawn: load(&record.born_ms) / 1000,
                })
            })
            .collect();
        stats::document(
            &sockets,
            &workers,
            &self.spoolers.stats(),
            &self.mules.stats(),
        )
    }

    pub(super) fn status_text(&self) -> String {
        let served: u64 = self
            .slots
            .iter()
            .filter_map(|s| s.entry)
            .map(|entry| {
                self.board
                    .entry(entry)
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        let workers = self.slots.iter().filter(|s| s.pid.is_some()).count();
        if let Some(reason) = &self.held {
            return format!(
                "reload failed: {reason}; the previous generation ({} worker(s)) keeps serving",
                self.previous.len()
            );
        }
        let status = format!("{workers} worker(s), {served} request(s) served by the current ones");
        match &self.app_failure {
            Some(reason) => format!("{reason}: answering 500; {status}"),
            None => status,
        }
    }

    pub(super) fn log_status(&self) {
        let now = scoreboard::now_ms();
        for slot in &self.slots {
            let Some(pid) = slot.pid else {
                log::info(&format!("worker {}: not running", slot.id));
                continue;
            };
            let (requests, flight) = match slot.entry {
                Some(entry) => (
                    self.board
                        .entry(entry)
                        .requests
                        .load(std::sync::atomic::Ordering::Relaxed),
                    self.board.in_flight(entry),
                ),
                None => (0, Vec::new()),
            };
            let busy = if flight.is_empty() {
                "idle".to_string()
            } else {
                flight
                    .iter()
                    .map(|(thread, started, what)| {
                        format!(
                            "thread {thread}: {what} for {:.1} s",
                            now.saturating_sub(*started) as f64 / 1000.0
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            log::info(&format!(
                "worker {} (pid {pid}): up {:.0} s, {requests} request(s), {busy}",
                slot.id,
                slot.born.elapsed().as_secs_f64()
            ));
        }
        for retiree in &self.retirees {
            log::info(&format!(
                "worker {} (pid {}): finishing its requests before exiting",
                retiree.id, retiree.pid
            ));
        }
    }
}
