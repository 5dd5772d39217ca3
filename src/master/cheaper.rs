//! The cheaper subsystem: how many workers the load asks for (uWSGI's spare and
//! busyness algorithms), waking and idling slots.
//!
//! Must not: fork or kill directly (slots.rs does).

use super::*;

impl Master {
    /// uWSGI's spare algorithm: all running workers busy → start `cheaper-step` more; a
    /// worker idle for `cheaper-overload` above the `cheaper` minimum → retire it.
    pub(super) fn cheaper_check(&mut self) {
        if self.config.cheaper == 0 || !matches!(self.stopping, Stopping::No) {
            return;
        }
        let now = Instant::now();
        let mut running = 0;
        let mut busy = 0;
        for slot in &mut self.slots {
            let (Some(_), Some(entry)) = (slot.pid, slot.entry) else {
                continue;
            };
            running += 1;
            let requests = self
                .board
                .entry(entry)
                .requests
                .load(std::sync::atomic::Ordering::Relaxed);
            let in_flight = !self.board.in_flight(entry).is_empty();
            if in_flight {
                busy += 1;
            }
            if in_flight || requests != slot.last_requests {
                slot.last_requests = requests;
                slot.last_active = now;
            }
        }
        let starting = self
            .slots
            .iter()
            .any(|s| !s.cheap && !s.ready && s.pid.is_some());
        if self.config.cheaper_busyness {
            if !starting {
                self.busyness_check(now, running);
            }
            return;
        }
        if running > 0 && busy == running && !starting {
            let added = self.wake_cheap_slots(self.config.cheaper_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper: all {running} worker(s) busy; starting {added} more"
                ));
            }
            return;
        }
        if running > self.config.cheaper {
            let idle = self.slots.iter().rposition(|s| {
                s.pid.is_some()
                    && s.ready
                    && !s.cheap
                    && now.duration_since(s.last_active) >= self.config.cheaper_overload
            });
            if let Some(index) = idle {
                log::info(&format!(
                    "cheaper: worker {} idle; retiring it",
                    self.slots[index].id
                ));
                self.slots[index].cheap = true;
                self.retire_slot(index, true);
            }
        }
    }

    /// Lets up to `count` resting (cheap) slots fork again; returns how many.
    pub(super) fn wake_cheap_slots(&mut self, count: usize, now: Instant) -> usize {
        let mut added = 0;
        for slot in self.slots.iter_mut().filter(|s| s.cheap && s.pid.is_none()) {
            if added == count {
                break;
            }
            slot.cheap = false;
            slot.respawn_at = Some(now);
            slot.last_active = now;
            added += 1;
        }
        added
    }

    /// uWSGI's busyness algorithm: every cheaper-overload seconds, the share of that time
    /// the workers spent serving; above the maximum, more workers; below the minimum for
    /// `multiplier` cycles in a row, one fewer. A full listen queue adds workers at once.
    pub(super) fn busyness_check(&mut self, now: Instant, running: usize) {
        let thresholds = self.config.busyness.clone();
        let queued: u64 = self
            .listeners
            .iter()
            .filter_map(|l| net::queue::listen_queue(l.fd.as_fd(), &l.address))
            .map(|(waiting, _)| u64::from(waiting))
            .sum();
        if queued > thresholds.backlog_alert {
            let added = self.wake_cheap_slots(thresholds.backlog_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper busyness: {queued} connections waiting; starting {added} more worker(s)"
                ));
            }
            return;
        }
        let cycle = now.duration_since(self.busyness_cycle);
        if cycle < self.config.cheaper_overload {
            return;
        }
        self.busyness_cycle = now;
        let mut busy_total = 0u64;
        let mut counted = 0u64;
        for slot in &mut self.slots {
            let (Some(_), Some(entry), true) = (slot.pid, slot.entry, slot.ready) else {
                continue;
            };
            let busy = self
                .board
                .entry(entry)
                .busy_us
                .load(std::sync::atomic::Ordering::Relaxed);
            busy_total += busy.saturating_sub(slot.busy_us_seen);
            slot.busy_us_seen = busy;
            counted += 1;
        }
        if counted == 0 {
            return;
        }
        let percent = busy_total * 100 / (counted * cycle.as_micros().max(1) as u64);
        if percent > thresholds.max_percent {
            self.idle_cycles = 0;
            let added = self.wake_cheap_slots(self.config.cheaper_step, now);
            if added > 0 {
                log::info(&format!(
                    "cheaper busyness: workers {percent}% busy; starting {added} more"
                ));
            }
        } else if percent < thresholds.min_percent {
            self.idle_cycles += 1;
            if self.idle_cycles >= thresholds.multiplier && running > self.config.cheaper {
                self.idle_cycles = 0;
                let last = self
                    .slots
                    .iter()
                    .rposition(|s| s.pid.is_some() && s.ready && !s.cheap);
                if let Some(index) = last {
                    log::info(&format!(
                        "cheaper busyness: workers {percent}% busy for {} cycles; retiring worker {}",
                        thresholds.multiplier, self.slots[index].id
                    ));
                    self.slots[index].cheap = true;
                    self.retire_slot(index, true);
                }
            }
        } else {
            self.idle_cycles = 0;
        }
    }
}
