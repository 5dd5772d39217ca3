//! Dropping privileges: in the master, after the sockets are bound (and chowned) and the
//! pidfile is written, before Python starts or any worker or thread exists, so application
//! code never runs as root and capabilities (which are per thread) are set once for all.
//!
//! Owns: user/group resolution, chown-socket, setgroups/setgid/setuid order, kept
//! capabilities, no_new_privs. Must not: bind sockets or touch files other than the
//! sockets it is asked to chown.

use std::ffi::CString;
use std::path::PathBuf;

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
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

/// Why privileges cannot be resolved or dropped.
#[derive(Debug)]
pub enum PrivilegeError {
    /// A `uid` (or `gid`) value that names nobody (`what` is `uid` or `gid`), or whose
    /// lookup failed (`errno`).
    Unknown {
        what: &'static str,
        value: String,
        errno: Option<Errno>,
    },
    /// `chown-socket`: the owner could not be resolved.
    ChownOwner(Box<PrivilegeError>),
    /// `chown-socket`: a socket could not be given away.
    Chown {
        path: PathBuf,
        errno: Errno,
    },
    /// A step of the drop failed (`initgroups`, `setgid 33`, `no-new-privileges`...).
    Step {
        step: String,
        errno: Errno,
    },
    Capabilities(caps::errors::CapsError),
    /// The user name cannot be passed to initgroups.
    Name(std::ffi::NulError),
    /// setuid returned success but the process still has another identity.
    Ineffective(Uid),
}

impl PrivilegeError {
    fn step(step: impl Into<String>) -> impl FnOnce(Errno) -> PrivilegeError {
        let step = step.into();
        move |errno| PrivilegeError::Step { step, errno }
    }

    /// The option the error is about (`uid` or `gid`), for `rwsgi --check`.
    pub fn option(&self) -> &'static str {
        match self {
            PrivilegeError::Unknown { what, .. } => what,
            PrivilegeError::ChownOwner(_) | PrivilegeError::Chown { .. } => "chown-socket",
            _ => "uid",
        }
    }
}

impl std::fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivilegeError::Unknown {
                what,
                value,
                errno: Some(errno),
            } => write!(f, "{what} '{value}': {errno}"),
            PrivilegeError::Unknown {
                what: "uid", value, ..
            } => write!(f, "uid '{value}': no such user"),
            PrivilegeError::Unknown { what, value, .. } => {
                write!(f, "{what} '{value}': no such group")
            }
            PrivilegeError::ChownOwner(e) => write!(f, "chown-socket: {e}"),
            PrivilegeError::Chown { path, errno } => {
                write!(f, "chown-socket {}: {errno}", path.display())
            }
            PrivilegeError::Step { step, errno } => write!(f, "{step}: {errno}"),
            PrivilegeError::Capabilities(e) => write!(f, "capabilities: {e}"),
            PrivilegeError::Name(e) => e.fmt(f),
            PrivilegeError::Ineffective(uid) => write!(f, "setuid {uid} did not take effect"),
        }
    }
}

impl std::error::Error for PrivilegeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrivilegeError::Unknown { errno: Some(e), .. }
            | PrivilegeError::Chown { errno: e, .. }
            | PrivilegeError::Step { errno: e, .. } => Some(e),
            PrivilegeError::ChownOwner(e) => Some(e.as_ref()),
            PrivilegeError::Capabilities(e) => Some(e),
            PrivilegeError::Name(e) => Some(e),
            _ => None,
        }
    }
}

impl From<caps::errors::CapsError> for PrivilegeError {
    fn from(e: caps::errors::CapsError) -> Self {
        PrivilegeError::Capabilities(e)
    }
}

fn resolve_user(value: &str) -> Result<(Uid, Option<String>, Option<Gid>), PrivilegeError> {
    let unknown = |errno| PrivilegeError::Unknown {
        what: "uid",
        value: value.to_string(),
        errno,
    };
    let found = match value.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(value),
    }
    .map_err(|e| unknown(Some(e)))?;
    match (found, value.parse::<u32>()) {
        (Some(user), _) => Ok((user.uid, Some(user.name), Some(user.gid))),
        (None, Ok(n)) => Ok((Uid::from_raw(n), None, None)),
        (None, Err(_)) => Err(unknown(None)),
    }
}

fn resolve_group(value: &str) -> Result<Gid, PrivilegeError> {
    if let Ok(n) = value.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    let unknown = |errno| PrivilegeError::Unknown {
        what: "gid",
        value: value.to_string(),
        errno,
    };
    Group::from_name(value)
        .map_err(|e| unknown(Some(e)))?
        .map(|g| g.gid)
        .ok_or_else(|| unknown(None))
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
pub fn resolve<'a>(wanted: impl Into<Wanted<'a>>) -> Result<Target, PrivilegeError> {
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
) -> Result<(), PrivilegeError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let owner = |e| PrivilegeError::ChownOwner(Box::new(e));
    let (uid, _, primary) = resolve_user(user).map_err(owner)?;
    let gid = match group {
        Some(g) => Some(resolve_group(g).map_err(owner)?),
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
            nix::unistd::chown(path, Some(uid), gid).map_err(|errno| PrivilegeError::Chown {
                path: path.clone(),
                errno,
            })?;
        }
    }
    Ok(())
}

/// Drops to `target`, keeping only `keep` capabilities.
pub fn drop_to(
    target: &Target,
    keep: &[Capability],
    no_new_privileges: bool,
) -> Result<(), PrivilegeError> {
    if target.uid.is_none() && target.gid.is_none() {
        if Uid::effective().is_root() {
            crate::log::warn("running as root: set 'uid' (and 'gid') to drop privileges");
        }
        if no_new_privileges {
            nix::sys::prctl::set_no_new_privs()
                .map_err(PrivilegeError::step("no-new-privileges"))?;
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
        nix::sys::prctl::set_keepcaps(true).map_err(PrivilegeError::step("keep capabilities"))?;
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
                let name = CString::new(name.as_str()).map_err(PrivilegeError::Name)?;
                nix::unistd::initgroups(&name, gid).map_err(PrivilegeError::step("initgroups"))?;
            }
            None => nix::unistd::setgroups(&[gid]).map_err(PrivilegeError::step("setgroups"))?,
        }
        nix::unistd::setgid(gid).map_err(PrivilegeError::step(format!("setgid {gid}")))?;
    }
    if let Some(uid) = target.uid {
        nix::unistd::setuid(uid).map_err(PrivilegeError::step(format!("setuid {uid}")))?;
        if Uid::current() != uid || Uid::effective() != uid {
            return Err(PrivilegeError::Ineffective(uid));
        }
    }
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())?;
    let _ = caps::clear(None, CapSet::Ambient);
    caps::set(None, CapSet::Permitted, &kept)?;
    caps::set(None, CapSet::Effective, &kept)?;
    if no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(PrivilegeError::step("no-new-privileges"))?;
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

    #[test]
    fn unknown_names_say_which_option() {
        let user = resolve_user("no-such-user-rwsgi").unwrap_err();
        assert_eq!(user.to_string(), "uid 'no-such-user-rwsgi': no such user");
        assert_eq!(user.option(), "uid");
        let group = resolve_group("no-such-group-rwsgi").unwrap_err();
        assert_eq!(
            group.to_string(),
            "gid 'no-such-group-rwsgi': no such group"
        );
        assert_eq!(group.option(), "gid");
        assert_eq!(
            PrivilegeError::ChownOwner(Box::new(user)).to_string(),
            "chown-socket: uid 'no-such-user-rwsgi': no such user"
        );
    }
}
