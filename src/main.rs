//! The `rwsgi` binary: CPython embedded (linked against the libpython it was built with),
//! everything else in the library's `entry`.
//!
//! Must not: contain logic; the wheel's and the Debian package's Python host run the same
//! `entry::run`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rwsgi::entry::run(
        args,
        rwsgi::wsgi::host::PythonHost::Embedded,
    ));
}
