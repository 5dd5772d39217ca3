//! The master's periodic duties, one function each, run from the arbiter loop about
//! once a second: harakiri, worker lifetime, reload mercy, the watchdog, STATUS=, log
//! rotation, the listen-queue alarm, py-autoreload and touch-reload.
//!
//! Must not: block (each duty is a quick look and at most a signal or a reload).

use super::*;

/// The first request of a worker running longer than `limit_ms`: (thread, start, what).
pub(super) fn overdue(
    board: &Scoreboard,
    entry: usize,
    now: u64,
    limit_ms: u64,
) -> Option<(usize, u64, String)> {
    board
        .in_flight(entry)
        .into_iter()
        .find(|(_, started, _)| now.saturating_sub(*started) > limit_ms)
}

impl Master {
    /// The duties of one tick, in their order.
    pub(super) fn periodic_checks(&mut self) {
        self.cheaper_check();
        if matches!(self.stopping, Stopping::No) {
            self.jobs.tick();
            crate::uwsgi_api::signals::master_tick(&mut self.signal_clock);
        }
        self.check_listen_queues();
        crate::log::rotate_if_needed();
        crate::log::reopen_if_moved();
        let now = Instant::now();
        self.feed_watchdog(now);
        self.refresh_status(now);
        if let Some(limit) = self.config.workers.harakiri {
            self.check_harakiri(limit);
        }
        self.check_worker_lifetime();
        self.check_reload_mercy(now);
        self.check_autoreload(now);
        self.check_touch_reload();
    }

    /// `alarm-backlog`: an alarm for each listener whose accept queue is full.
    fn check_listen_queues(&self) {
        if self.config.alarms.alarm_backlog.is_empty() {
            return;
        }
        for listener in &self.listeners {
            let queue = net::queue::listen_queue(listener.fd.as_fd(), &listener.address);
            if let Some((waiting, limit)) = queue.filter(|(w, l)| *l > 0 && w >= l) {
                for name in &self.config.alarms.alarm_backlog {
                    crate::alarms::raise(
                        name,
                        &format!(
                            "listen queue of {} full ({waiting}/{limit})",
                            listener.address
                        ),
                    );
                }
            }
        }
    }

    /// systemd's watchdog (WATCHDOG=1) when it is due.
    fn feed_watchdog(&mut self, now: Instant) {
        if let (Some(due), Some(interval)) = (self.next_watchdog, self.notifier.watchdog_interval())
        {
            if now >= due {
                self.notifier.watchdog();
                self.next_watchdog = Some(now + interval);
            }
        }
    }

    /// STATUS= with the request count, every STATUS_INTERVAL once ready.
    fn refresh_status(&mut self, now: Instant) {
        if self.announced_ready && now >= self.next_status && matches!(self.stopping, Stopping::No)
        {
            self.notifier.status(&self.status_text());
            self.next_status = now + STATUS_INTERVAL;
        }
    }

    /// `max-worker-lifetime`: ready workers older than it are recycled.
    fn check_worker_lifetime(&mut self) {
        let Some(lifetime) = self.config.workers.max_worker_lifetime else {
            return;
        };
        if !matches!(self.stopping, Stopping::No) {
            return;
        }
        let expired: Vec<usize> = (0..self.slots.len())
            .filter(|i| {
                let s = &self.slots[*i];
                s.pid.is_some() && s.ready && s.born.elapsed() >= lifetime
            })
            .collect();
        for index in expired {
            log::info(&format!(
                "worker {}: max-worker-lifetime reached; recycling",
                self.slots[index].id
            ));
            self.retire_slot(index, true);
        }
    }

    /// `worker-reload-mercy`: a retiring worker still busy past its deadline is killed.
    fn check_reload_mercy(&self, now: Instant) {
        for retiree in &self.retirees {
            if now >= retiree.deadline {
                log::warn(&format!(
                    "worker {} (pid {}) still busy after worker-reload-mercy: killing it",
                    retiree.id, retiree.pid
                ));
                let _ = kill(retiree.pid, Signal::SIGKILL);
            }
        }
    }

    /// `py-autoreload`: a reload when a module the master imported changed.
    fn check_autoreload(&mut self, now: Instant) {
        let Some((due, files)) = &mut self.autoreload else {
            return;
        };
        if now < *due {
            return;
        }
        *due = now
            + self
                .config
                .master
                .py_autoreload
                .unwrap_or(Duration::from_secs(1));
        let changed = files
            .iter()
            .find(|(path, modified)| {
                modified.is_some()
                    && std::fs::metadata(path).and_then(|m| m.modified()).ok() != *modified
            })
            .map(|(path, _)| path.display().to_string());
        if let Some(path) = changed {
            log::info(&format!("py-autoreload: {path} changed"));
            self.reload("py-autoreload");
        }
    }

    /// `touch-reload`: a reload when one of the files' modification time changed.
    fn check_touch_reload(&mut self) {
        let mut touched = false;
        for (path, last) in self
            .config
            .master
            .touch_reload
            .iter()
            .zip(self.touch_mtimes.iter_mut())
        {
            let current = modified(path);
            if current != *last {
                *last = current;
                touched = true;
            }
        }
        if touched {
            self.reload("touch-reload");
        }
    }

    pub(super) fn check_harakiri(&mut self, limit: Duration) {
        let now = scoreboard::now_ms();
        let limit_ms = limit.as_millis() as u64;
        for slot in &mut self.slots {
            let (Some(pid), Some(entry)) = (slot.pid, slot.entry) else {
                continue;
            };
            if let Some((thread, started, what)) = overdue(&self.board, entry, now, limit_ms) {
                let seconds = now.saturating_sub(started) as f64 / 1000.0;
                let grace = self.config.workers.harakiri_graceful_timeout;
                match (grace, slot.harakiri_sigterm) {
                    (Some(grace), None) => {
                        log::error(&format!(
                            "harakiri: worker {} (pid {pid}) sent SIGTERM after {seconds:.1} s serving {what} (thread {thread}); SIGKILL in {} s",
                            slot.id,
                            grace.as_secs()
                        ));
                        slot.harakiri_sigterm = Some(Instant::now());
                        slot.harakiri = true;
                        slot.harakiri_count += 1;
                        self.lifetime.harakiri += 1;
                        let _ = kill(pid, Signal::SIGTERM);
                    }
                    (Some(grace), Some(sent)) if sent.elapsed() < grace => {}
                    _ => {
                        log::error(&format!(
                            "harakiri: worker {} (pid {pid}) killed after {seconds:.1} s serving {what} (thread {thread})",
                            slot.id,
                        ));
                        if !slot.harakiri {
                            slot.harakiri_count += 1;
                            self.lifetime.harakiri += 1;
                        }
                        slot.harakiri = true;
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
            }
        }
        for retiree in &self.retirees {
            let Some(entry) = retiree.entry else { continue };
            if let Some((_, started, what)) = overdue(&self.board, entry, now, limit_ms) {
                log::error(&format!(
                    "harakiri: retiring worker {} (pid {}) killed after {:.1} s serving {what}",
                    retiree.id,
                    retiree.pid,
                    now.saturating_sub(started) as f64 / 1000.0
                ));
                let _ = kill(retiree.pid, Signal::SIGKILL);
            }
        }
    }
}
