//! Dropping privileges: in the master, after the sockets are bound (and chowned) and the
//! pidfile is written, before Python starts or any worker or thread exists, so application
//! code never runs as root and capabilities (which are per thread) are set once for all.
//!
//! Owns: user/group resolution, chown-socket, setgroups/setgid/setuid order, kept
//! capabilities, no_new_privs. Must not: bind sockets or touch files other than the
//! sockets it is asked to chown.

use std::ffi::CString;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Group, Uid, User};

use crate::net::Listener;

/// The identity to drop to, resolved from names or numbers.
#[derive(Debug, Clone)]
pub struct Target {
    pub uid: Option<Uid>,
    pub gid: Option<Gid>,
    /// For supplementary groups (initgroups).
    pub user_name: Option<String>,
}

/// `net_bind_service`, `CAP_NET_BIND_SERVICE` or a number.
pub fn parse_capability(name: &str) -> Option<Capability> {
    if let Ok(number) = name.parse::<u8>() {
        return caps::all().into_iter().find(|c| c.index() == number);
    }
    let upper = name.to_ascii_uppercase();
    let wanted = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    caps::all().into_iter().find(|c| c.to_string() == wanted)
}

fn resolve_user(value: &str) -> Result<(Uid, Option<String>, Option<Gid>), String> {
    let found = match value.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(value),
    }
    .map_err(|e| format!("uid '{value}': {e}"))?;
    match (found, value.parse::<u32>()) {
        (Some(user), _) => Ok((user.uid, Some(user.name), Some(user.gid))),
        (None, Ok(n)) => Ok((Uid::from_raw(n), None, None)),
        (None, Err(_)) => Err(format!("uid '{value}': no such user")),
    }
}

fn resolve_group(value: &str) -> Result<Gid, String> {
    if let Ok(n) = value.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    Group::from_name(value)
        .map_err(|e| format!("gid '{value}': {e}"))?
        .map(|g| g.gid)
        .ok_or_else(|| format!("gid '{value}': no such group"))
}

/// The privilege options as written: `uid`, `gid`, and where each of `uid`, `gid` and
/// `chown-socket` was written, for the warning when they cannot be honoured.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub uid: Option<&'a str>,
    pub gid: Option<&'a str>,
    pub origins: &'a [(&'static str, String)],
}

/// Checks `uid`/`gid` names up front, so a typo is a start-up error.
pub fn resolve<'a>(wanted: impl Into<Wanted<'a>>) -> Result<Target, String> {
    let wanted = wanted.into();
    let (uid, user_name, _) = match wanted.uid {
        Some(value) => {
            let (uid, name, primary) = resolve_user(value)?;
            (Some(uid), name, primary)
        }
        None => (None, None, None),
    };
    let gid = wanted.gid.map(resolve_group).transpose()?;
    Ok(Target {
        uid,
        gid,
        user_name,
    })
}

/// Without root, `uid`/`gid` lines (written for a root-started uWSGI) are accepted when
/// they name the user this process already is, and otherwise ignored with one warning that
/// says where they are and how the packaged unit chooses its user.
pub fn attainable<'a>(target: Target, wanted: impl Into<Wanted<'a>>) -> Target {
    if Uid::effective().is_root() {
        return target;
    }
    let differs = target.uid.is_some_and(|u| u != Uid::current())
        || target.gid.is_some_and(|g| g != Gid::current());
    if differs {
        warn_not_root(wanted.into().origins, &["uid", "gid"]);
        return Target {
            uid: None,
            gid: None,
            user_name: None,
        };
    }
    target
}

/// The warning for privilege lines that cannot be honoured without root.
fn warn_not_root(origins: &[(&'static str, String)], names: &[&str]) {
    let lines: Vec<String> = origins
        .iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(name, origin)| format!("{origin}: {name}"))
        .collect();
    let me = User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map_or_else(|| Uid::current().to_string(), |u| u.name);
    crate::log::warn(&format!(
        "{} ignored: rwsgi runs as '{me}', not as root, so it cannot change user or group; {}",
        lines.join(", "),
        crate::systemd::other_user_hint()
    ));
}

/// `chown-socket = user[:group]` on the unix sockets rwsgi created itself. Without root, a
/// line naming another owner is ignored with a warning (see `attainable`).
pub fn chown_sockets<'a>(
    listeners: &[Listener],
    spec: &str,
    wanted: impl Into<Wanted<'a>>,
) -> Result<(), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, _, primary) = resolve_user(user).map_err(|e| format!("chown-socket: {e}"))?;
    let gid = match group {
        Some(g) => Some(resolve_group(g).map_err(|e| format!("chown-socket: {e}"))?),
        None => primary,
    };
    if !Uid::effective().is_root()
        && (uid != Uid::current() || gid.is_some_and(|g| g != Gid::current()))
    {
        warn_not_root(wanted.into().origins, &["chown-socket"]);
        return Ok(());
    }
    for listener in listeners {
        if let Some((path, _)) = &listener.created {
            nix::unistd::chown(path, Some(uid), gid)
                .map_err(|e| format!("chown-socket {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Drops to `target`, keeping only `keep` capabilities.
pub fn drop_to(
    target: &Target,
    keep: &[Capability],
    no_new_privileges: bool,
) -> Result<(), String> {
    if target.uid.is_none() && target.gid.is_none() {
        if Uid::effective().is_root() {
            crate::log::warn("running as root: set 'uid' (and 'gid') to drop privileges");
        }
        if no_new_privileges {
            nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no-new-privileges: {e}"))?;
        }
        return Ok(());
    }
    let already = target.uid.is_none_or(|u| u == Uid::current())
        && target.gid.is_none_or(|g| g == Gid::current());
    if already {
        // A reloaded master image runs as the target already.
        return Ok(());
    }
    let kept: CapsHashSet = keep.iter().copied().collect();
    if target.uid.is_some() && !kept.is_empty() {
        nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("keep capabilities: {e}"))?;
    }
    // No process of this tree may regain a dropped capability through exec.
    for capability in caps::all() {
        if !kept.contains(&capability) {
            let _ = caps::drop(None, CapSet::Bounding, capability);
        }
    }
    if let Some(gid) = target.gid.or_else(|| {
        target
            .uid
            .and_then(|u| User::from_uid(u).ok().flatten().map(|u| u.gid))
    }) {
        match &target.user_name {
            Some(name) => {
                let name = CString::new(name.as_str()).map_err(|e| e.to_string())?;
                nix::unistd::initgroups(&name, gid).map_err(|e| format!("initgroups: {e}"))?;
            }
            None => nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?,
        }
        nix::unistd::setgid(gid).map_err(|e| format!("setgid {gid}: {e}"))?;
    }
    if let Some(uid) = target.uid {
        nix::unistd::setuid(uid).map_err(|e| format!("setuid {uid}: {e}"))?;
        if Uid::current() != uid || Uid::effective() != uid {
            return Err(format!("setuid {uid} did not take effect"));
        }
    }
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|e| format!("capabilities: {e}"))?;
    let _ = caps::clear(None, CapSet::Ambient);
    caps::set(None, CapSet::Permitted, &kept).map_err(|e| format!("capabilities: {e}"))?;
    caps::set(None, CapSet::Effective, &kept).map_err(|e| format!("capabilities: {e}"))?;
    if no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no-new-privileges: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names() {
        assert_eq!(
            parse_capability("net_bind_service"),
            Some(Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(
            parse_capability("CAP_SYS_TIME"),
            Some(Capability::CAP_SYS_TIME)
        );
        assert_eq!(
            parse_capability("10"),
            Some(Capability::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(parse_capability("flying"), None);
    }
}
