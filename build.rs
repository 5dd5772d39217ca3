//! Links the binary to the interpreter pyo3 was configured with, records that interpreter's
//! path (it becomes PyConfig.program_name, so the standard library is found next to the
//! libpython we link, never another build's), and unless packaging asks otherwise bakes an
//! rpath so `target/release/rwsgi` runs without LD_LIBRARY_PATH.
fn main() {
    println!("cargo:rerun-if-env-changed=RWSGI_NO_RPATH");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let config = pyo3_build_config::get();
    let executable = config
        .executable()
        .map(str::to_owned)
        .expect("pyo3 found no Python executable; set PYO3_PYTHON");
    println!("cargo:rustc-env=RWSGI_BUILD_PYTHON={executable}");
    if std::env::var_os("RWSGI_NO_RPATH").is_none() {
        pyo3_build_config::add_libpython_rpath_link_args();
    }
}
