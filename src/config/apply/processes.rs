//! Options of the process model: workers, threads, recycling, harakiri, cheaper, process
//! names.
//!
//! Must not: act on the values (the master and workers do); only check and store them.

use super::Value;
use crate::config::error::ConfigError;
use crate::config::model::Config;

/// `max-worker-lifetime`.
pub(crate) fn max_worker_lifetime(
    config: &mut Config,
    v: &mut Value<'_>,
) -> Result<(), ConfigError> {
    config.workers.max_worker_lifetime = v.optional_seconds()?;
    Ok(())
}

/// `procname-prefix`, `procname-prefix-spaced`.
pub(crate) fn procname_prefix(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.titles.procname_prefix = v.value.clone().unwrap_or_default();
    if v.option == "procname-prefix-spaced" {
        config.titles.procname_prefix.push(' ');
    }
    config.titles.auto_procname = true;
    Ok(())
}

/// `procname`.
pub(crate) fn procname(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.titles.procname = Some(v.non_empty()?);
    config.titles.auto_procname = true;
    Ok(())
}

/// `procname-master`.
pub(crate) fn procname_master(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    config.titles.procname_master = Some(v.non_empty()?);
    config.titles.auto_procname = true;
    Ok(())
}

/// `harakiri-graceful-timeout`.
pub(crate) fn harakiri_graceful_timeout(
    config: &mut Config,
    v: &mut Value<'_>,
) -> Result<(), ConfigError> {
    config.workers.harakiri_graceful_timeout = v.optional_seconds()?;
    Ok(())
}

/// `cheaper-algo`: spare or busyness; another name warns and spare is used.
pub(crate) fn cheaper_algo(config: &mut Config, v: &mut Value<'_>) -> Result<(), ConfigError> {
    let algo = v.non_empty()?;
    if !["spare", "busyness"].contains(&algo.as_str()) {
        let warning = format!(
            "{}: cheaper-algo '{}' is not provided; the spare algorithm is used",
            v.entry.origin,
            v.value.as_deref().unwrap_or("").trim()
        );
        v.warn(warning);
        return Ok(());
    }
    config.workers.cheaper_busyness = algo == "busyness";
    Ok(())
}
