//! The cheaper subsystem: how many workers the load asks for (uWSGI's spare and
//! busyness algorithms), waking and idling slots. The algorithms are pure functions over
//! snapshots of the slots ([`SlotView`]), unit-tested below; the `Master` methods take the
//! snapshots from the scoreboard and carry the decisions out.
//!
//! Must not: fork or kill directly (slots.rs does).

use super::*;

/// One slot as the cheaper algorithms see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotView {
    /// A worker process is in the slot.
    pub(super) running: bool,
    pub(super) ready: bool,
    /// Resting: not wanted now.
    pub(super) cheap: bool,
    /// Serving a request now.
    pub(super) busy: bool,
    /// Since its last request (or now, while busy).
    pub(super) idle_for: Duration,
}

/// What the load asks of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    Hold,
    /// Wake up to this many resting slots.
    Start(usize),
    /// Retire the worker in this slot (it rests afterwards).
    Retire(usize),
}

/// uWSGI's spare algorithm: every running worker busy (and none still `starting`) →
/// `step` more; a ready worker idle for `overload` while more than `minimum` run →
/// retire the last such one.
pub(super) fn spare(
    slots: &[SlotView],
    starting: bool,
    minimum: usize,
    step: usize,
    overload: Duration,
) -> Decision {
    let running = slots.iter().filter(|s| s.running).count();
    let busy = slots.iter().filter(|s| s.running && s.busy).count();
    if running > 0 && busy == running && !starting {
        return Decision::Start(step);
    }
    if running > minimum {
        let idle = slots
            .iter()
            .rposition(|s| s.running && s.ready && !s.cheap && s.idle_for >= overload);
        if let Some(index) = idle {
            return Decision::Retire(index);
        }
    }
    Decision::Hold
}

/// The share (percent) of a cycle that `counted` workers spent serving `busy_us` in all.
pub(super) fn busy_percent(busy_us: u64, counted: u64, cycle: Duration) -> u64 {
    busy_us * 100 / (counted * cycle.as_micros().max(1) as u64)
}

/// uWSGI's busyness algorithm, one cycle: above `max_percent` → `step` more; below
/// `min_percent` for `multiplier` cycles in a row while more than `minimum` run → retire
/// the last ready worker. Returns the decision and the new count of quiet cycles.
pub(super) fn busyness(
    percent: u64,
    quiet_cycles: u64,
    thresholds: &crate::config::Busyness,
    slots: &[SlotView],
    minimum: usize,
    step: usize,
) -> (Decision, u64) {
    if percent > thresholds.max_percent {
        return (Decision::Start(step), 0);
    }
    if percent >= thresholds.min_percent {
        return (Decision::Hold, 0);
    }
    let quiet_cycles = quiet_cycles + 1;
    let running = slots.iter().filter(|s| s.running).count();
    if quiet_cycles < thresholds.multiplier || running <= minimum {
        return (Decision::Hold, quiet_cycles);
    }
    match slots.iter().rposition(|s| s.running && s.ready && !s.cheap) {
        Some(index) => (Decision::Retire(index), 0),
        None => (Decision::Hold, 0),
    }
}

impl Master {
    /// The slots as the algorithms see them; notes each worker's latest activity first.
    fn cheaper_snapshot(&mut self, now: Instant) -> Vec<SlotView> {
        self.slots
            .iter_mut()
            .map(|slot| {
                let (Some(_), Some(entry)) = (slot.pid, slot.entry) else {
                    return SlotView {
                        running: false,
                        ready: slot.ready,
                        cheap: slot.cheap,
                        busy: false,
                        idle_for: Duration::ZERO,
                    };
                };
                let requests = self
                    .board
                    .entry(entry)
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed);
                let busy = !self.board.in_flight(entry).is_empty();
                if busy || requests != slot.last_requests {
                    slot.last_requests = requests;
                    slot.last_active = now;
                }
                SlotView {
                    running: true,
                    ready: slot.ready,
                    cheap: slot.cheap,
                    busy,
                    idle_for: now.duration_since(slot.last_active),
                }
            })
            .collect()
    }

    /// Once a tick: the configured algorithm's decision, carried out. No worker is added
    /// while a woken one is still starting.
    pub(super) fn cheaper_check(&mut self) {
        if self.config.workers.cheaper == 0 || !matches!(self.stopping, Stopping::No) {
            return;
        }
        let now = Instant::now();
        let views = self.cheaper_snapshot(now);
        let starting = self
            .slots
            .iter()
            .any(|s| !s.cheap && !s.ready && s.pid.is_some());
        if self.config.workers.cheaper_busyness {
            if !starting {
                self.busyness_check(now, &views);
            }
            return;
        }
        let (minimum, step) = (
            self.config.workers.cheaper,
            self.config.workers.cheaper_step,
        );
        match spare(
            &views,
            starting,
            minimum,
            step,
            self.config.workers.cheaper_overload,
        ) {
            Decision::Start(count) => {
                let added = self.wake_cheap_slots(count, now);
                if added > 0 {
                    let running = views.iter().filter(|v| v.running).count();
                    log::info(&format!(
                        "cheaper: all {running} worker(s) busy; starting {added} more"
                    ));
                }
            }
            Decision::Retire(index) => {
                log::info(&format!(
                    "cheaper: worker {} idle; retiring it",
                    self.slots[index].id
                ));
                self.rest_slot(index);
            }
            Decision::Hold => {}
        }
    }

    /// Retires the worker in `index`; the slot rests until the load wakes it.
    fn rest_slot(&mut self, index: usize) {
        self.slots[index].cheap = true;
        self.retire_slot(index, true);
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

    /// The busyness algorithm's tick: a full listen queue adds workers at once; otherwise
    /// every `cheaper-overload` one cycle of [`busyness`] over the busy time measured.
    pub(super) fn busyness_check(&mut self, now: Instant, views: &[SlotView]) {
        let thresholds = self.config.workers.busyness.clone();
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
        if cycle < self.config.workers.cheaper_overload {
            return;
        }
        self.busyness_cycle = now;
        let Some(busy_us) = self.busy_time_since_last_cycle() else {
            return;
        };
        let counted = self
            .slots
            .iter()
            .filter(|s| s.pid.is_some() && s.entry.is_some() && s.ready)
            .count() as u64;
        let percent = busy_percent(busy_us, counted, cycle);
        let (decision, quiet) = busyness(
            percent,
            self.idle_cycles,
            &thresholds,
            views,
            self.config.workers.cheaper,
            self.config.workers.cheaper_step,
        );
        self.idle_cycles = quiet;
        match decision {
            Decision::Start(count) => {
                let added = self.wake_cheap_slots(count, now);
                if added > 0 {
                    log::info(&format!(
                        "cheaper busyness: workers {percent}% busy; starting {added} more"
                    ));
                }
            }
            Decision::Retire(index) => {
                log::info(&format!(
                    "cheaper busyness: workers {percent}% busy for {} cycles; retiring worker {}",
                    thresholds.multiplier, self.slots[index].id
                ));
                self.rest_slot(index);
            }
            Decision::Hold => {}
        }
    }

    /// The ready workers' busy time since the last cycle, in µs; None if none is ready.
    fn busy_time_since_last_cycle(&mut self) -> Option<u64> {
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
        (counted > 0).then_some(busy_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(running: bool, ready: bool, busy: bool, idle_secs: u64) -> SlotView {
        SlotView {
            running,
            ready,
            cheap: false,
            busy,
            idle_for: Duration::from_secs(idle_secs),
        }
    }

    #[test]
    fn spare_starts_more_when_every_worker_is_busy() {
        let slots = [
            view(true, true, true, 0),
            view(true, true, true, 0),
            view(false, false, false, 0),
        ];
        assert_eq!(
            spare(&slots, false, 1, 2, Duration::from_secs(3)),
            Decision::Start(2)
        );
        assert_eq!(
            spare(&slots, true, 1, 2, Duration::from_secs(3)),
            Decision::Hold
        );
        let none = [view(false, false, false, 0)];
        assert_eq!(
            spare(&none, false, 1, 2, Duration::from_secs(3)),
            Decision::Hold
        );
    }

    #[test]
    fn spare_retires_the_last_idle_worker_above_the_minimum() {
        let slots = [
            view(true, true, false, 9),
            view(true, true, true, 0),
            view(true, true, false, 5),
            view(true, true, false, 1),
        ];
        assert_eq!(
            spare(&slots, false, 1, 1, Duration::from_secs(3)),
            Decision::Retire(2)
        );
        // At the minimum nothing is retired, however idle.
        assert_eq!(
            spare(&slots[..1], false, 1, 1, Duration::from_secs(3)),
            Decision::Hold
        );
        // Idle, but not for long enough.
        assert_eq!(
            spare(&slots[1..], false, 1, 1, Duration::from_secs(10)),
            Decision::Hold
        );
    }

    #[test]
    fn busyness_waits_multiplier_quiet_cycles_before_retiring() {
        let thresholds = crate::config::Busyness {
            max_percent: 50,
            min_percent: 25,
            multiplier: 3,
            backlog_alert: 33,
            backlog_step: 1,
        };
        let slots = [
            view(true, true, false, 0),
            view(true, true, false, 0),
            view(true, false, false, 0),
        ];
        assert_eq!(
            busyness(80, 2, &thresholds, &slots, 1, 2),
            (Decision::Start(2), 0)
        );
        assert_eq!(
            busyness(30, 2, &thresholds, &slots, 1, 2),
            (Decision::Hold, 0)
        );
        assert_eq!(
            busyness(10, 0, &thresholds, &slots, 1, 2),
            (Decision::Hold, 1)
        );
        assert_eq!(
            busyness(10, 1, &thresholds, &slots, 1, 2),
            (Decision::Hold, 2)
        );
        assert_eq!(
            busyness(10, 2, &thresholds, &slots, 1, 2),
            (Decision::Retire(1), 0)
        );
        // At the minimum the quiet cycles keep counting but nobody is retired.
        assert_eq!(
            busyness(10, 5, &thresholds, &slots[..1], 1, 2),
            (Decision::Hold, 6)
        );
    }

    #[test]
    fn busy_percent_of_a_cycle() {
        assert_eq!(busy_percent(500_000, 2, Duration::from_secs(1)), 25);
        assert_eq!(busy_percent(0, 1, Duration::ZERO), 0);
    }
}
