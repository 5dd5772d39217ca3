//! Links the binary to the interpreter pyo3 was configured with, records that interpreter's
//! path and version (the path becomes PyConfig.program_name, so the standard library is
//! found next to the libpython we link, never another build's), and unless packaging asks
//! otherwise bakes an rpath so `target/release/rwsgi` runs without LD_LIBRARY_PATH.
//! Built as the extension module (feature `extension`), rwsgi links no libpython: the
//! Python that loads it is the interpreter, so nothing is recorded.
fn main() {
    println!("cargo:rerun-if-env-changed=RWSGI_NO_RPATH");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let config = pyo3_build_config::get();
    let extension = std::env::var_os("CARGO_FEATURE_EXTENSION").is_some();
    let executable = match config.executable() {
        Some(path) => path.to_owned(),
        None if extension => String::new(),
        None => panic!("pyo3 found no Python executable; set PYO3_PYTHON"),
    };
    println!("cargo:rustc-env=RWSGI_BUILD_PYTHON={executable}");
    println!(
        "cargo:rustc-env=RWSGI_BUILD_PYTHON_VERSION={}.{}",
        config.version().major,
        config.version().minor
    );
    if std::env::var_os("RWSGI_NO_RPATH").is_none() && !extension {
        pyo3_build_config::add_libpython_rpath_link_args();
    }
}
