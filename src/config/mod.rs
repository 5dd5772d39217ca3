//! The typed configuration: what the master and workers read, built from the ordered entries
//! of `source` by the rows of the option table in `options`.
//!
//! Layout: `options` (the table: one row per option, with its default, example and apply
//! function), `apply` (those functions, per part of the server), `values` (value syntax),
//! `model` (`Config`, one group per subsystem: each subsystem is handed its group, e.g.
//! `&config.app` to `wsgi::interpreter`), `parts` (the groups a forked worker, mule or
//! spooler is handed), `build` (entries to `Config`), `error`, `source` (argv and INI
//! readers), `manpage` (pages and README's table from the rows).
//!
//! Owns: value syntax (booleans, numbers, sizes, modes), unknown-key warnings and
//! `strict`, defaults. Must not: bind sockets, start Python, or print (it returns warnings).

mod apply;
mod build;
pub mod caches;
mod entries;
mod error;
pub mod manpage;
mod manpage_body;
mod manpage_ops;
mod model;
pub mod mules;
pub mod options;
mod parts;
pub mod source;
pub mod values;

pub use build::{build, check_complete, Loaded};
pub use error::{ConfigError, ErrorKind, NoApplication};
pub use model::{
    AlarmsConfig, ApiConfig, AppConfig, Busyness, ChildrenConfig, Config, ListenConfig,
    LoggingConfig, MasterConfig, PrivilegesConfig, RequestConfig, SpoolerConfig, StaticMap,
    StaticsConfig, TitlesConfig, WorkersConfig,
};
pub use parts::{ForkedParts, WorkerParts};
// Where these are used with the rest of the configuration; they belong to `net` and `log`.
pub use crate::log::RequestLogger;
pub use crate::net::{parse_address, ListenAddress, Protocol, SocketSpec};

impl<'a> From<&'a ListenConfig> for crate::net::ListenSettings<'a> {
    fn from(listen: &'a ListenConfig) -> Self {
        crate::net::ListenSettings {
            sockets: &listen.sockets,
            listen_backlog: listen.listen_backlog,
            chmod_socket: listen.chmod_socket,
            protocol: listen.protocol,
        }
    }
}

impl<'a> From<&'a PrivilegesConfig> for crate::privileges::Wanted<'a> {
    fn from(privileges: &'a PrivilegesConfig) -> Self {
        crate::privileges::Wanted {
            uid: privileges.uid.as_deref(),
            gid: privileges.gid.as_deref(),
            origins: &privileges.privilege_origins,
        }
    }
}
