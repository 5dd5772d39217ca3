//! The mule options (`mule`, `mules`, `farm`) read into a typed `MuleConfig`.
//!
//! Owns: what each mule runs and which farms group them. Must not: check anything that
//! needs every option read (a farm naming a mule defined later is checked at start by
//! `uwsgi_api::mules::configure`), nor touch processes or sockets.

use std::path::PathBuf;

/// What one mule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuleProgram {
    /// A bare `mule`: loads the application as a worker would, then waits for messages
    /// (handed to `uwsgi.mule_msg_hook`, where `@mulefunc` calls land) and uwsgi signals.
    Loop,
    /// `mule = FILE.py`: the file runs as `__main__`; respawned when it ends.
    File(PathBuf),
    /// `mule = package.module:callable`: the callable is called; respawned when it returns.
    Call { module: String, callable: String },
}

#[derive(Debug, Clone, Default)]
pub struct MuleConfig {
    /// Mule N is `programs[N - 1]`.
    pub programs: Vec<MuleProgram>,
    /// `farm = NAME:1,2`: (name, mule ids).
    pub farms: Vec<(String, Vec<usize>)>,
}

/// Why a `mule` or `farm` value is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuleSpecError {
    NotAProgram,
    FarmWithoutIds,
    FarmWithoutName,
    NotAMuleId(String),
}

impl std::fmt::Display for MuleSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MuleSpecError::NotAProgram => f.write_str(
                "a mule runs FILE.py, package.module:callable, or nothing (a message and signal loop)",
            ),
            MuleSpecError::FarmWithoutIds => f.write_str("expected NAME:ID[,ID...] (mule ids from 1)"),
            MuleSpecError::FarmWithoutName => f.write_str("the farm needs a name before ':'"),
            MuleSpecError::NotAMuleId(id) => write!(f, "'{id}' is not a mule id (1, 2, ...)"),
        }
    }
}

impl std::error::Error for MuleSpecError {}

/// One `mule` value (None or a bare word such as `true`: a looping mule).
pub fn parse_mule(value: Option<&str>) -> Result<MuleProgram, MuleSpecError> {
    let value = value.map(str::trim).unwrap_or("");
    if matches!(value, "" | "true" | "yes" | "on" | "1") {
        return Ok(MuleProgram::Loop);
    }
    if value.ends_with(".py") {
        return Ok(MuleProgram::File(PathBuf::from(value)));
    }
    match value.split_once(':') {
        Some((module, callable)) if !module.is_empty() && !callable.is_empty() => {
            Ok(MuleProgram::Call {
                module: module.to_string(),
                callable: callable.to_string(),
            })
        }
        _ => Err(MuleSpecError::NotAProgram),
    }
}

/// One `farm` value: `NAME:ID[,ID...]`.
pub fn parse_farm(value: &str) -> Result<(String, Vec<usize>), MuleSpecError> {
    let (name, ids) = value
        .trim()
        .split_once(':')
        .ok_or(MuleSpecError::FarmWithoutIds)?;
    if name.is_empty() {
        return Err(MuleSpecError::FarmWithoutName);
    }
    let ids = ids
        .split(',')
        .map(|id| match id.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(MuleSpecError::NotAMuleId(id.to_string())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.to_string(), ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mule_values() {
        assert_eq!(parse_mule(None), Ok(MuleProgram::Loop));
        assert_eq!(parse_mule(Some("true")), Ok(MuleProgram::Loop));
        assert_eq!(
            parse_mule(Some("w.py")),
            Ok(MuleProgram::File("w.py".into()))
        );
        assert!(matches!(
            parse_mule(Some("pkg.mod:run")),
            Ok(MuleProgram::Call { .. })
        ));
        assert!(parse_mule(Some("worker")).is_err());
    }

    #[test]
    fn farm_values() {
        assert_eq!(parse_farm("busy:1,2"), Ok(("busy".into(), vec![1, 2])));
        assert!(parse_farm("busy").is_err());
        assert!(parse_farm("busy:0").is_err());
        assert!(parse_farm(":1").is_err());
    }
}
