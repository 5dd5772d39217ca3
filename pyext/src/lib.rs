//! `rwsgi._rwsgi`: the entry point a Python host calls (`python -m rwsgi`, the `rwsgi`
//! console script). The host's interpreter serves the application; everything past this
//! function is the library's `entry::run`, the same code as the embedding binary.
//!
//! Must not: hold serving logic or state; it only describes the host.

use std::path::PathBuf;

use pyo3::prelude::*;
use rwsgi::wsgi::host::PythonHost;

/// Runs rwsgi with `args` (without the program name) and returns its exit status. The GIL
/// is released for the whole run: the master takes it only to load the application and
/// to fork, and worker threads need it too.
#[pyfunction]
fn main(py: Python<'_>, args: Vec<String>, package_dir: PathBuf) -> PyResult<i32> {
    let sys = py.import("sys")?;
    let version_info = sys.getattr("version_info")?;
    let version = (
        version_info.getattr("major")?.extract()?,
        version_info.getattr("minor")?.extract()?,
    );
    let host = PythonHost::Extension {
        python: sys.getattr("executable")?.extract()?,
        package_dir,
        prefix: sys.getattr("prefix")?.extract()?,
        base_prefix: sys.getattr("base_prefix")?.extract()?,
        version,
        no_site: sys.getattr("flags")?.getattr("no_site")?.extract::<i32>()? != 0,
    };
    Ok(py.detach(move || rwsgi::entry::run(args, host)))
}

#[pymodule]
fn _rwsgi(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(main, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
