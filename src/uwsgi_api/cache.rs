//! The shared cache (`cache2`, `cache`): placeholder until implemented.

use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::config::Config;

pub fn configure(_config: &Config) -> Result<(), String> {
    Ok(())
}

pub fn add_functions(_module: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
