//! The hand-off from one master image to the next across a reload's exec: which listening
//! descriptors stay open and what they are, and which workers of the old image the new one
//! must retire once its own are ready. It crosses exec in environment variables whose
//! text stays what earlier versions wrote (a reload may exec an upgraded binary).
//!
//! Owns: the typed records and their text forms. Must not: open, close or adopt
//! descriptors (net/ and the master do).

use std::os::fd::RawFd;
use std::path::PathBuf;

/// The variable that carries the listeners, one [`ListenerHandoff`] per line.
pub const LISTENERS_VAR: &str = "RWSGI_RELOAD_FDS";
/// The variable that carries the old image's workers, `pid:id` separated by commas.
pub const WORKERS_VAR: &str = "RWSGI_RELOAD_WORKERS";
/// The variable that carries the stats and metrics sockets, one [`StatsHandoff`] per line.
pub const STATS_VAR: &str = "RWSGI_RELOAD_STATS";

/// One listening socket left open across exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerHandoff {
    pub fd: RawFd,
    /// `http` or `uwsgi`.
    pub protocol: String,
    /// The address as configured (net/ parses it again).
    pub configured: String,
    /// A unix socket file this rwsgi created: (path, inode), for vacuum.
    pub created: Option<(PathBuf, u64)>,
    /// Handed over by systemd: never unlinked.
    pub from_systemd: bool,
}

impl ListenerHandoff {
    /// Tab-separated: fd, protocol, configured address, `inode:path` or empty, 0/1.
    fn encode(&self) -> String {
        let created = self
            .created
            .as_ref()
            .map(|(path, inode)| format!("{inode}:{}", path.display()))
            .unwrap_or_default();
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.fd,
            self.protocol,
            self.configured,
            created,
            u8::from(self.from_systemd)
        )
    }

    fn decode(line: &str) -> Option<ListenerHandoff> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [fd, protocol, configured, created, systemd] = fields[..] else {
            return None;
        };
        let created = created
            .split_once(':')
            .and_then(|(inode, path)| Some((PathBuf::from(path), inode.parse().ok()?)));
        Some(ListenerHandoff {
            fd: fd.parse().ok()?,
            protocol: protocol.to_string(),
            configured: configured.to_string(),
            created,
            from_systemd: systemd == "1",
        })
    }
}

/// The text of [`LISTENERS_VAR`].
pub fn encode_listeners(listeners: &[ListenerHandoff]) -> String {
    let lines: Vec<String> = listeners.iter().map(ListenerHandoff::encode).collect();
    lines.join("\n")
}

/// What [`encode_listeners`] wrote; malformed lines are skipped.
pub fn decode_listeners(text: &str) -> Vec<ListenerHandoff> {
    text.lines().filter_map(ListenerHandoff::decode).collect()
}

/// A stats or metrics server's listening socket left open across exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsHandoff {
    pub fd: RawFd,
    /// `raw`, `http` or `metrics`.
    pub mode: String,
    /// Where it listens: `IP:port` or the socket file's path.
    pub place: String,
    /// The socket file rwsgi created, if any.
    pub path: Option<PathBuf>,
}

impl StatsHandoff {
    /// Tab-separated: fd, mode, place, path or empty. None when a field holds a tab or a
    /// newline (the socket is then not handed over).
    fn encode(&self) -> Option<String> {
        let path = self
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if [self.place.as_str(), path.as_str()]
            .iter()
            .any(|f| f.contains(['\t', '\n']))
        {
            return None;
        }
        Some(format!(
            "{}\t{}\t{}\t{path}",
            self.fd, self.mode, self.place
        ))
    }

    fn decode(line: &str) -> Option<StatsHandoff> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [fd, mode, place, path] = fields[..] else {
            return None;
        };
        Some(StatsHandoff {
            fd: fd.parse().ok()?,
            mode: mode.to_string(),
            place: place.to_string(),
            path: (!path.is_empty()).then(|| PathBuf::from(path)),
        })
    }

    /// Whether [`encode_stats`] can carry it.
    pub fn fits(&self) -> bool {
        self.encode().is_some()
    }
}

/// The text of [`STATS_VAR`]; records that cannot be written are left out.
pub fn encode_stats(servers: &[StatsHandoff]) -> String {
    let lines: Vec<String> = servers.iter().filter_map(StatsHandoff::encode).collect();
    lines.join("\n")
}

/// What [`encode_stats`] wrote; malformed lines are skipped.
pub fn decode_stats(text: &str) -> Vec<StatsHandoff> {
    text.lines().filter_map(StatsHandoff::decode).collect()
}

/// A worker of the previous image, retired once the new image's workers are ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetiringWorker {
    pub pid: i32,
    pub id: usize,
}

/// The text of [`WORKERS_VAR`].
pub fn encode_workers(workers: &[RetiringWorker]) -> String {
    let items: Vec<String> = workers
        .iter()
        .map(|w| format!("{}:{}", w.pid, w.id))
        .collect();
    items.join(",")
}

/// What [`encode_workers`] wrote; malformed items are skipped.
pub fn decode_workers(text: &str) -> Vec<RetiringWorker> {
    text.split(',')
        .filter_map(|item| {
            let (pid, id) = item.split_once(':')?;
            Some(RetiringWorker {
                pid: pid.parse().ok()?,
                id: id.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_round_trip_in_the_old_text_form() {
        let listeners = vec![
            ListenerHandoff {
                fd: 3,
                protocol: "http".into(),
                configured: "127.0.0.1:8000".into(),
                created: None,
                from_systemd: true,
            },
            ListenerHandoff {
                fd: 4,
                protocol: "uwsgi".into(),
                configured: "/run/app.sock".into(),
                created: Some((PathBuf::from("/run/app.sock"), 1234)),
                from_systemd: false,
            },
        ];
        let text = encode_listeners(&listeners);
        assert_eq!(
            text,
            "3\thttp\t127.0.0.1:8000\t\t1\n4\tuwsgi\t/run/app.sock\t1234:/run/app.sock\t0"
        );
        assert_eq!(decode_listeners(&text), listeners);
        assert_eq!(decode_listeners("x\ty\nnot a line"), vec![]);
    }

    #[test]
    fn stats_sockets_round_trip() {
        let servers = vec![
            StatsHandoff {
                fd: 7,
                mode: "raw".into(),
                place: "127.0.0.1:9191".into(),
                path: None,
            },
            StatsHandoff {
                fd: 8,
                mode: "metrics".into(),
                place: "/run/m.sock".into(),
                path: Some(PathBuf::from("/run/m.sock")),
            },
        ];
        let text = encode_stats(&servers);
        assert_eq!(
            text,
            "7\traw\t127.0.0.1:9191\t\n8\tmetrics\t/run/m.sock\t/run/m.sock"
        );
        assert_eq!(decode_stats(&text), servers);
        let odd = StatsHandoff {
            place: "/run/a\tb".into(),
            ..servers[1].clone()
        };
        assert!(!odd.fits());
        assert_eq!(encode_stats(&[odd]), "");
    }

    #[test]
    fn workers_round_trip() {
        let workers = vec![
            RetiringWorker { pid: 100, id: 1 },
            RetiringWorker { pid: 101, id: 2 },
        ];
        assert_eq!(encode_workers(&workers), "100:1,101:2");
        assert_eq!(decode_workers("100:1,101:2,junk"), workers);
        assert_eq!(decode_workers(""), vec![]);
    }
}
