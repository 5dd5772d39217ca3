//! `rwsgi --check` (like `nginx -t`) on good and broken configurations: every error with
//! its file and line, exit statuses 0/1/2, sockets, users, directories and permissions,
//! and the application imported under the configured user.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn check(dir: &Path, ini: &str, envs: &[(&str, &str)]) -> (i32, String, String) {
    let path = dir.join("app.ini");
    std::fs::write(&path, ini).unwrap();
    let mut command = Command::new(bin());
    command.arg("--check").arg(&path).current_dir(dir);
    for (k, v) in envs {
        command.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.code().expect("exited"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A directory nobody (the unprivileged user of these tests) may enter.
fn world_readable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_good_configuration_passes_with_a_one_line_summary_and_the_app_imported_as_its_user() {
    let _traverse = RootTraversable::grant();
    let dir = world_readable_tempdir();
    std::fs::create_dir(dir.path().join("static")).unwrap();
    // The import writes a mark as the user it runs as.
    std::fs::write(
        dir.path().join("checked_app.py"),
        "import os\nopen(os.environ['MARK'], 'w').write(str(os.getuid()))\n\ndef application(e, s):\n    s('200 OK', [])\n    return [b'']\n",
    )
    .unwrap();
    let mark = dir.path().join("mark");
    std::fs::write(&mark, "").unwrap();
    std::fs::set_permissions(&mark, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let port = free_port();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nsocket = {}/app.sock\nchdir = {}\nmodule = checked_app\nprocesses = 2\nuid = nobody\ngid = nogroup\nstatic-map = /static={}/static\nenv = MARK={}\n",
        dir.path().display(),
        dir.path().display(),
        dir.path().display(),
        mark.display()
    );
    let (status, stdout, stderr) = check(dir.path(), &ini, &[]);
    assert_eq!(status, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let summary: Vec<&str> = stdout.lines().collect();
    assert_eq!(summary.len(), 1, "{stdout}");
    assert!(
        summary[0].contains("app.ini: configuration ok (2 socket(s), 2 worker(s)), application imported; 0 warning(s)"),
        "{stdout}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "65534");
    // Nothing left behind: the probe socket file is gone.
    assert!(!dir.path().join("app.sock").exists());
}

#[test]
fn a_broken_configuration_reports_every_problem_with_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    // Line numbers: the file's first line is [uwsgi].
    let ini = format!(
        "[uwsgi]\nhttp-socket = 192.0.2.1:80\nmodule = pep3333\nprocesess = 4\nprocesses = many\nuid = no-such-user-anywhere\nstatic-map = /static={0}/missing\nlogto = {0}/no/such/dir/log\nharakiri = soon\nchdir = {1}\n",
        dir.path().display(),
        apps_dir().display()
    );
    drop(taken);
    let (status, stdout, stderr) = check(dir.path(), &ini, &[]);
    assert_eq!(status, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let file = dir.path().join("app.ini").display().to_string();
    for expected in [
        format!("error: {file}:2: cannot listen on 192.0.2.1:80"),
        format!("warning: {file}:4: unknown option 'procesess' ignored; did you mean 'processes'?"),
        format!("error: {file}:5: option 'processes' = 'many': expected a whole number"),
        format!("error: {file}:6: uid 'no-such-user-anywhere': no such user"),
        format!(
            "error: {file}:7: static-map /static={}/missing: no such directory",
            dir.path().display()
        ),
        format!(
            "error: {file}:8: logto {}/no/such/dir/log: cannot write",
            dir.path().display()
        ),
        format!("error: {file}:9: option 'harakiri' = 'soon': expected a whole number"),
        "configuration has 6 error(s) and 1 warning(s)".to_string(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn an_application_that_cannot_be_imported_fails_the_check_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{}\nchdir = {}\nmodule = broken.import_error\n",
        free_port(),
        apps_dir().display()
    );
    let (status, stdout, stderr) = check(dir.path(), &ini, &[]);
    assert_eq!(status, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let file = dir.path().join("app.ini").display().to_string();
    assert!(
        stderr.contains(&format!(
            "error: {file}:4: the application cannot be imported as user root"
        )) && stderr.contains("module_that_does_not_exist_anywhere"),
        "{stderr}"
    );
}

#[test]
fn permissions_are_checked_as_the_configured_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = world_readable_tempdir();
    // Readable by root only: the master could open it, the workers (nobody) could not.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(
        private.join("secret_app.py"),
        "def application(e, s):\n    return []\n",
    )
    .unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{}\nchdir = {p}\nmodule = secret_app\nuid = nobody\ngid = nogroup\nstatic-map = /s={p}\n",
        free_port(),
        p = private.display()
    );
    let (status, _, stderr) = check(dir.path(), &ini, &[]);
    assert_eq!(status, 2, "{stderr}");
    let file = dir.path().join("app.ini").display().to_string();
    assert!(
        stderr.contains(&format!(
            "error: {file}:7: static-map {}: user nobody cannot read it",
            private.display()
        )),
        "{stderr}"
    );
    // Without uid the same configuration imports (as root): the failure was the user's.
    let as_root = ini
        .lines()
        .filter(|l| !l.starts_with("uid") && !l.starts_with("gid"))
        .collect::<Vec<_>>()
        .join("\n");
    let (status, stdout, stderr) = check(dir.path(), &as_root, &[]);
    assert_eq!(status, 0, "{stdout}{stderr}");
}

#[test]
fn strict_makes_warnings_exit_1_and_uwsgi_environment_variables_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{}\nchdir = {}\nmodule = pep3333\n",
        free_port(),
        apps_dir().display()
    );
    // A warning without strict: exit 0, counted in the summary.
    let (status, stdout, stderr) = check(dir.path(), &format!("{base}plugins = php\n"), &[]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 warning(s)"), "{stdout}");
    // The same with strict: exit 1.
    let (status, _, stderr) = check(
        dir.path(),
        &format!("{base}plugins = php\nstrict = true\n"),
        &[],
    );
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains("1 warning(s), which strict makes fatal"),
        "{stderr}"
    );
    // UWSGI_* variables are part of the configuration checked.
    let (status, _, stderr) = check(dir.path(), &base, &[("UWSGI_PROCESSES", "lots")]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("error: environment UWSGI_PROCESSES: option 'processes' = 'lots'"),
        "{stderr}"
    );
}

#[test]
fn the_configuration_of_a_running_server_passes_while_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sock = dir.path().join("uwsgi.sock");
    let ini = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nsocket = {}\nchdir = {}\nmodule = pep3333\n",
        sock.display(),
        apps_dir().display()
    );
    let path = dir.path().join("running.ini");
    std::fs::write(&path, &ini).unwrap();
    let server = server().args([path.to_str().unwrap()]).start();
    let (status, stdout, stderr) = check(dir.path(), &ini, &[]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} is listening already"))
            && stderr.contains(&format!("{} is listening already", sock.display())),
        "{stderr}"
    );
    // The check left the running server's socket alone.
    assert!(sock.exists());
    let response = request(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    drop(server);
}
