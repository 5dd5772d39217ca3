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
