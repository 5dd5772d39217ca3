//! The arbiter loop: waits on signals, worker notices, the master FIFO and the stats
//! sockets, and turns each into an action; readiness (READY=1 once every worker is
//! ready); stopping and clean-up.
//!
//! Must not: block anywhere but in poll, or fork outside `spawn`.

use super::*;

impl Master {
    pub(super) fn arbiter_loop(&mut self, signal_fd: &nix::sys::signalfd::SignalFd) -> i32 {
        loop {
            self.spawn_due();
            if let Some(status) = self.check_stop() {
                return status;
            }
            let mut fds = vec![
                PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.notify_read.as_fd(), PollFlags::POLLIN),
            ];
            for server in self.stats.iter().chain(&self.metrics) {
                fds.push(PollFd::new(server.fd(), PollFlags::POLLIN));
            }
            for (read, _) in &self.fifos {
                fds.push(PollFd::new(read.as_fd(), PollFlags::POLLIN));
            }
            fds.extend(
                self.alarm_runs
                    .fd()
                    .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::from(self.poll_timeout_ms())) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    log::error(&format!("poll: {e}"));
                    return 1;
                }
            }
            while let Ok(Some(info)) = signal_fd.read_signal() {
                if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                    self.on_signal(signal);
                }
            }
            self.read_notices();
            self.serve_stats();
            self.read_fifo_commands();
            self.reap();
            let stopping = !matches!(self.stopping, Stopping::No);
            self.alarm_runs.run_raised(stopping);
            self.periodic_checks();
        }
    }

    pub(super) fn poll_timeout_ms(&self) -> u16 {
        let now = Instant::now();
        let next_respawn = self
            .slots
            .iter()
            .filter(|s| s.pid.is_none())
            .filter_map(|s| s.respawn_at)
            .map(|at| at.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1));
        let watchdog = self
            .next_watchdog
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1));
        let groups = if self.groups.is_empty() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        };
        next_respawn
            .min(watchdog)
            .min(groups)
            .min(Duration::from_secs(1))
            .as_millis() as u16
    }

    pub(super) fn on_signal(&mut self, signal: Signal) {
        match signal {
            Signal::SIGTERM => self.begin_stop(true),
            Signal::SIGINT | Signal::SIGQUIT => self.begin_stop(false),
            Signal::SIGHUP => self.reload("SIGHUP"),
            Signal::SIGUSR1 => self.log_status(),
            Signal::SIGTTIN => self.add_worker(),
            Signal::SIGTTOU => self.remove_worker(),
            _ => {}
        }
    }

    /// Worker notices: "ready" (app loaded, accepting) and "draining" (it will exit after
    /// its requests; fork its successor now so capacity never drops).
    pub(super) fn read_notices(&mut self) {
        for (notice, entry) in crate::ipc::notice::read_all(&self.notify_read) {
            let Some(index) = self.slots.iter().position(|s| s.entry == Some(entry)) else {
                continue;
            };
            match notice {
                Notice::Ready => {
                    let slot = &mut self.slots[index];
                    slot.ready = true;
                    log::info(&format!(
                        "worker {} ready {:.1} ms after fork",
                        slot.id,
                        slot.born.elapsed().as_secs_f64() * 1000.0
                    ));
                    self.retire_previous_when_ready();
                    self.announce_ready_when_all_are();
                }
                Notice::Draining => self.retire_slot(index, false),
                Notice::NoApp => self.on_no_app(index),
            }
        }
    }

    /// uWSGI's master-fifo letters: r/w reload, q graceful stop, Q immediate stop,
    /// s status, + one worker more, - one worker less. Unknown letters are logged.
    pub(super) fn read_fifo_commands(&mut self) {
        let mut commands = Vec::new();
        for (read, _) in &self.fifos {
            let mut buf = [0u8; 64];
            while let Ok(n) = nix::unistd::read(read, &mut buf) {
                if n == 0 {
                    break;
                }
                commands.extend_from_slice(&buf[..n]);
            }
        }
        for command in commands {
            match command {
                b'r' | b'w' | b'R' | b'c' => self.reload("master-fifo"),
                b'q' => self.begin_stop(true),
                b'Q' => self.begin_stop(false),
                b's' => self.log_status(),
                b'+' => self.add_worker(),
                b'-' => self.remove_worker(),
                b'\n' | b'\r' | b' ' => {}
                other => log::warn(&format!("master-fifo: unknown command {:?}", other as char)),
            }
        }
    }

    /// READY=1 once every worker has the application loaded and accepts (lazy-apps too).
    pub(super) fn announce_ready_when_all_are(&mut self) {
        if self.announced_ready || !self.slots.iter().all(|s| s.ready || s.retiring || s.cheap) {
            return;
        }
        self.announced_ready = true;
        let status = self.status_text();
        log::info(&format!(
            "ready: {status} ({:.0} ms after start)",
            self.started.elapsed().as_secs_f64() * 1000.0
        ));
        self.notifier.ready(&status);
        if self.reloading {
            report_reload("ok");
        }
    }

    /// A reload could not start its generation: the previous one keeps serving, systemd
    /// hears READY=1 (the reload is over) with the reason in STATUS=, and so does
    /// `systemctl reload` through the reload status file.
    pub(super) fn hold_previous(&mut self, reason: &str) {
        for slot in &mut self.slots {
            slot.respawn_at = None;
        }
        self.held = Some(reason.to_string());
        self.announced_ready = true;
        log::error(&format!(
            "reload failed: {reason}; the previous generation ({} worker(s)) keeps serving",
            self.previous.len()
        ));
        self.notifier.ready(&self.status_text());
        report_reload(&format!("failed: {reason}"));
    }

    /// A worker could not import the application (lazy-apps, no need-app: it answers 500).
    /// During a reload that ends the reload: the new workers go, the previous ones stay.
    pub(super) fn on_no_app(&mut self, index: usize) {
        let reason = format!(
            "the application did not load in worker {} (its error is in the log)",
            self.slots[index].id
        );
        if self.reloading && !self.previous.is_empty() && self.held.is_none() {
            for index in 0..self.slots.len() {
                if self.slots[index].pid.is_some() {
                    self.retire_slot(index, true);
                }
            }
            self.hold_previous(&reason);
            return;
        }
        if self.app_failure.is_none() {
            log::warn("serving 500 to every request until the application loads (set need-app to exit instead)");
            self.app_failure = Some(reason);
            self.notifier.status(&self.status_text());
        }
    }

    pub(super) fn begin_stop(&mut self, graceful: bool) {
        match (&self.stopping, graceful) {
            (Stopping::Quick { .. }, _) | (Stopping::Graceful { .. }, true) => return,
            _ => {}
        }
        log::info(if graceful {
            "graceful stop: finishing requests in flight"
        } else {
            "immediate stop"
        });
        self.notifier.stopping();
        self.stop_commands();
        self.jobs.stop_smart_daemons(&mut self.groups);
        self.mules.stop(&mut self.groups, Signal::SIGTERM);
        self.spoolers.stop(
            &mut self.groups,
            if graceful {
                Signal::SIGTERM
            } else {
                Signal::SIGINT
            },
        );
        let deadline = Instant::now()
            + if graceful {
                self.config.workers.worker_reload_mercy
            } else {
                QUICK_STOP_MERCY
            };
        self.stopping = if graceful {
            Stopping::Graceful { deadline }
        } else {
            Stopping::Quick { deadline }
        };
        self.signal_all(if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGINT
        });
    }

    /// Stops every attach-daemon, running cron command and alarm command with its process
    /// group; none is restarted (their pids are forgotten, so their exits are not taken for
    /// crashes).
    pub(super) fn stop_commands(&mut self) {
        for daemon in &mut self.daemons {
            if let Some(pid) = daemon.pid.take() {
                daemon.start_at = None;
                self.groups.stop(pid, daemon.stop_signal, "attach-daemon");
            }
        }
        self.jobs.stop_crons(&mut self.groups);
        self.alarm_runs.stop(&mut self.groups);
    }

    /// While stopping: exit once every worker is gone, kill them at the deadline.
    pub(super) fn check_stop(&mut self) -> Option<i32> {
        let deadline = match self.stopping {
            Stopping::No => return None,
            Stopping::Graceful { deadline } | Stopping::Quick { deadline } => deadline,
        };
        self.groups.check();
        if self.all_pids().is_empty() && self.groups.is_empty() {
            log::info("all workers stopped; goodbye");
            return Some(self.exit_status.unwrap_or(0));
        }
        if Instant::now() >= deadline {
            log::warn("workers did not stop in time: killing them");
            self.signal_all(Signal::SIGKILL);
        }
        None
    }

    pub(super) fn cleanup(&mut self) {
        self.mules.report_undelivered("stop");
        let _ = self.config.hooks.run_phase(Phase::AsUserAtexit);
        if self.config.master.vacuum {
            net::vacuum(&self.listeners);
            for server in self.stats.iter().chain(&self.metrics) {
                if let Some(path) = &server.path {
                    let _ = std::fs::remove_file(path);
                }
            }
            if let Some(path) = &self.config.master.pidfile {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
