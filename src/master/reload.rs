//! Reload: the master re-executes itself, handing its sockets and its workers to the
//! next image (ipc::handoff), and reports the outcome to `systemctl reload`.
//!
//! Must not: close a listening socket (the next image serves on it).

use super::*;

/// Writes a reload's outcome where the unit's ExecReload waits for it (systemd's
/// RUNTIME_DIRECTORY, when set): written aside and renamed, so it is read whole.
pub(super) fn report_reload(outcome: &str) {
    let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") else {
        return;
    };
    let Some(dir) = dir
        .to_str()
        .and_then(|d| d.split(':').next())
        .map(PathBuf::from)
    else {
        return;
    };
    let path = dir.join(RELOAD_STATUS_FILE);
    let temporary = dir.join(format!("{RELOAD_STATUS_FILE}.tmp"));
    let written = std::fs::write(&temporary, format!("{}\n", outcome.replace('\n', " ")))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(e) = written {
        log::warn(&format!("cannot write {}: {e}", path.display()));
    }
}

pub(super) fn previous_generation() -> Vec<(Pid, usize)> {
    let text = std::env::var(handoff::WORKERS_VAR).unwrap_or_default();
    handoff::decode_workers(&text)
        .into_iter()
        .map(|worker| (Pid::from_raw(worker.pid), worker.id))
        .collect()
}

/// Whether the command line (and the files it names) still reads as a valid server
/// configuration; else why not, as the reload's refusal says it.
fn configuration_reads(args: &[String]) -> Result<(), String> {
    match crate::config::source::from_args(args).map_err(|e| e.to_string())? {
        crate::config::source::Request::Serve(entries) => crate::config::build(&entries)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => Err("the command line no longer describes a server".into()),
    }
}

impl Master {
    /// Graceful reload: a new master image (same pid) re-reads the configuration and
    /// imports the application afresh, adopts the listening sockets (never closed, so no
    /// connection is refused) and forks new workers; the current workers keep serving until
    /// those are ready, then finish their requests.
    pub(super) fn reload(&mut self, why: &str) {
        if !matches!(self.stopping, Stopping::No) {
            return;
        }
        let app_dir = std::env::current_dir().ok();
        if let Some(dir) = &self.launch_dir {
            let _ = std::env::set_current_dir(dir);
        }
        let back_to_app_dir = || {
            if let Some(dir) = &app_dir {
                let _ = std::env::set_current_dir(dir);
            }
        };
        if let Err(message) = configuration_reads(&self.args) {
            log::error(&format!(
                "{why}: reload refused, the configuration is invalid: {message}"
            ));
            report_reload(&format!("failed: the configuration is invalid: {message}"));
            back_to_app_dir();
            return;
        }
        log::info(&format!(
            "{why}: reloading (new master image, sockets kept)"
        ));
        let exported = match net::export_for_reload(&self.listeners) {
            Ok(text) => text,
            Err(e) => {
                log::error(&format!("reload refused: cannot pass the sockets on: {e}"));
                report_reload(&format!("failed: cannot pass the sockets on: {e}"));
                net::keep_private(&self.listeners);
                back_to_app_dir();
                return;
            }
        };
        let workers: Vec<RetiringWorker> = self
            .slots
            .iter()
            .filter_map(|s| s.pid.map(|pid| (pid, s.id)))
            .chain(self.retirees.iter().map(|r| (r.pid, r.id)))
            .chain(self.previous.iter().copied())
            .map(|(pid, id)| RetiringWorker {
                pid: pid.as_raw(),
                id,
            })
            .collect();
        // The next image starts its own daemons: the old ones (their whole process groups)
        // are gone before it execs, so exactly one instance of each runs after the reload.
        self.stop_commands();
        self.spoolers.stop(&mut self.groups, Signal::SIGTERM);
        self.mules.stop(&mut self.groups, Signal::SIGTERM);
        self.groups.wait_all();
        self.mules.hand_over();
        self.notifier.reloading();
        std::env::set_var(handoff::LISTENERS_VAR, exported);
        stats::export_for_reload(self.stats.iter().chain(&self.metrics));
        std::env::set_var(handoff::WORKERS_VAR, handoff::encode_workers(&workers));
        if let Some(caches) = crate::uwsgi_api::cache::export_for_reload() {
            std::env::set_var(crate::uwsgi_api::cache::RELOAD_CACHES_VAR, caches);
        }
        std::env::set_var(metrics::LIFETIME_VAR, self.lifetime.encode());
        let error = self.relaunch.exec(&self.args);
        back_to_app_dir();
        log::error(&format!("reload failed: cannot exec: {error}"));
        report_reload(&format!("failed: cannot exec: {error}"));
        // This image goes on: its daemons start again.
        for daemon in &mut self.daemons {
            daemon.start_at = Some(Instant::now());
        }
        self.spoolers.restart();
        self.mules.restart();
        self.notifier.ready(&self.status_text());
        std::env::remove_var(handoff::LISTENERS_VAR);
        std::env::remove_var(handoff::WORKERS_VAR);
        std::env::remove_var(metrics::LIFETIME_VAR);
        net::keep_private(&self.listeners);
        stats::keep_private(self.stats.iter().chain(&self.metrics));
    }
}
