//! The parts of `Config` a process the master forks is handed, instead of the whole
//! configuration: each is a few references to the groups of `model` that process reads.
//!
//! Owns: which groups a worker, mule or spooler sees. Must not: copy or change a value,
//! or hold anything but references to `Config`'s groups.

use super::model::{
    AppConfig, Config, LoggingConfig, PrivilegesConfig, RequestConfig, StaticsConfig, TitlesConfig,
    WorkersConfig,
};
use crate::hooks::Hooks;

/// What every process the master forks to run Python (worker, mule, spooler) reads: its
/// title, the privileges it drops to itself under `master-as-root`, and, with
/// `lazy-apps`, how to load the application and the hooks around that.
#[derive(Debug, Clone, Copy)]
pub struct ForkedParts<'a> {
    pub app: &'a AppConfig,
    pub hooks: &'a Hooks,
    pub privileges: &'a PrivilegesConfig,
    pub titles: &'a TitlesConfig,
}

/// The worker's part of the configuration: what a forked process reads (see
/// [`ForkedParts`]), its own limits, how it answers requests, serves static files and
/// logs them.
#[derive(Debug, Clone, Copy)]
pub struct WorkerParts<'a> {
    pub app: &'a AppConfig,
    pub hooks: &'a Hooks,
    pub privileges: &'a PrivilegesConfig,
    pub titles: &'a TitlesConfig,
    pub workers: &'a WorkersConfig,
    pub request: &'a RequestConfig,
    pub statics: &'a StaticsConfig,
    pub logging: &'a LoggingConfig,
}

impl Config {
    /// The part a mule or a spooler is handed.
    pub fn forked_parts(&self) -> ForkedParts<'_> {
        ForkedParts {
            app: &self.app,
            hooks: &self.hooks,
            privileges: &self.privileges,
            titles: &self.titles,
        }
    }

    /// The part a worker is handed.
    pub fn worker_parts(&self) -> WorkerParts<'_> {
        WorkerParts {
            app: &self.app,
            hooks: &self.hooks,
            privileges: &self.privileges,
            titles: &self.titles,
            workers: &self.workers,
            request: &self.request,
            statics: &self.statics,
            logging: &self.logging,
        }
    }
}
