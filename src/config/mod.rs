//! The typed configuration: what the master and workers read, built from the ordered entries
//! of `source` by the rows of the option table in `options`.
//!
//! Layout: `options` (the table: one row per option, with its default, example and apply
//! function), `apply` (those functions, per part of the server), `values` (value syntax),
//! `model` (`Config`), `build` (entries to `Config`), `error`, `source` (argv and INI
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
pub mod source;
pub mod values;

pub use build::{build, check_complete, Loaded};
pub use error::{ConfigError, ErrorKind, NoApplication};
pub use model::{
    AlarmsConfig, ApiConfig, AppConfig, Busyness, ChildrenConfig, Config, ListenConfig,
    LoggingConfig, MasterConfig, PrivilegesConfig, RequestConfig, SpoolerConfig, StaticMap,
    StaticsConfig, TitlesConfig, WorkersConfig,
};
// Where these are used with the rest of the configuration; they belong to `net` and `log`.
pub use crate::log::RequestLogger;
pub use crate::net::{parse_address, ListenAddress, Protocol, SocketSpec};

impl<'a> From<&'a Config> for crate::net::ListenSettings<'a> {
    fn from(config: &'a Config) -> Self {
        crate::net::ListenSettings {
            sockets: &config.listen.sockets,
            listen_backlog: config.listen.listen_backlog,
            chmod_socket: config.listen.chmod_socket,
            protocol: config.listen.protocol,
        }
    }
}

impl<'a> From<&'a Config> for crate::privileges::Wanted<'a> {
    fn from(config: &'a Config) -> Self {
        crate::privileges::Wanted {
            uid: config.privileges.uid.as_deref(),
            gid: config.privileges.gid.as_deref(),
            origins: &config.privileges.privilege_origins,
        }
    }
}
