//! The spooler by behaviour: real servers running tests/apps/spool_app.py with spooler
//! processes, tasks queued over HTTP, and what the spoolers did read back from the events
//! they append to a file (and from the spool directory and the log).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

fn builder(spool_dir: &Path, out: &Path, extra: &[&str]) -> ServerBuilder {
    server()
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "spool_app",
            "--processes",
            "2",
            "--spooler",
            spool_dir.to_str().unwrap(),
            "--spooler-frequency",
            "1",
            "--env",
            &format!("SPOOL_OUT={}", out.display()),
        ])
        .args(extra)
        .workers(2)
        .http()
}

/// The events of tasks (not those of the post-fork hooks).
fn events(out: &Path) -> Vec<Value> {
    all_events(out)
        .into_iter()
        .filter(|e| e["name"] != "postfork")
        .collect()
}

fn all_events(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn named(out: &Path, name: &str) -> Vec<Value> {
    all_events(out)
        .into_iter()
        .filter(|e| e["name"] == name)
        .collect()
}

/// Waits until at least `count` events named `name` exist.
fn wait_named(server: &Server, out: &Path, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = named(out, name);
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {} of {count} runs; events {:?}; log:\n{}",
            found.len(),
            events(out),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spool(server: &Server, query: &str) -> String {
    let response = server.get(&format!("/spool?{query}"));
    assert_eq!(response.status, 200, "{query}: {}", response.text());
    response.text()
}

fn info(server: &Server) -> Value {
    serde_json::from_str(&server.get("/info").text()).unwrap()
}

fn task_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            files.extend(task_files(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

fn wait_until(what: &str, server: &Server, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}; log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(pid: i64, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn spool_returns_the_task_file_and_results_decide_its_fate() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("created/by/rwsgi");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &["--spooler-processes", "2"]).start();
    assert!(dir.is_dir(), "the missing spool directory is created");
    let ok = spool(&server, "name=ok&mode=ok&body_hex=00ff41");
    assert!(ok.starts_with(dir.to_str().unwrap()), "{ok}");
    let retry = spool(&server, "name=retry&mode=retry");
    let ignore = spool(&server, "name=ignore&mode=ignore");
    let raised = spool(&server, "name=raised&mode=raise");
    spool(&server, "name=chained&mode=chain");
    let kwargs = server.get("/spool-kwargs?name=kw&mode=ok");
    assert_eq!(kwargs.status, 200, "{}", kwargs.text());

    let run = wait_named(&server, &out, "ok", 1);
    assert_eq!(run[0]["body"], "00ff41", "body carried as bytes");
    assert_eq!(run[0]["in_spooler"], true);
    assert_eq!(run[0]["task"], ok.as_str());
    wait_named(&server, &out, "kw", 1);
    // A task spools another one from inside the spooler.
    wait_named(&server, &out, "chained-next", 1);
    // The post-fork hooks (@postfork) ran in both spoolers as in the workers.
    let forks = wait_named(&server, &out, "postfork", 4);
    assert_eq!(
        forks.iter().filter(|e| e["in_spooler"] == true).count(),
        2,
        "{forks:?}"
    );
    wait_named(&server, &out, "retry", 2);
    wait_named(&server, &out, "ignore", 2);
    // The raising task ran twice: the exception was logged and the task kept, then it
    // succeeded and was removed.
    wait_named(&server, &out, "raised", 2);
    wait_until("SPOOL_OK removes the task", &server, || {
        !Path::new(&ok).exists() && !Path::new(&raised).exists()
    });
    let log = server.log();
    assert!(log.contains("Traceback"), "{log}");
    assert!(log.contains("ValueError: boom-raised"), "{log}");
    assert!(Path::new(&retry).exists(), "SPOOL_RETRY keeps the task");
    assert!(Path::new(&ignore).exists(), "SPOOL_IGNORE leaves the task");
    assert_eq!(named(&out, "ok").len(), 1, "a SPOOL_OK task runs once");

    let info = info(&server);
    assert_eq!(info["in_spooler"], false);
    let pids: Vec<i64> = info["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{info}");
    assert_eq!(info["pid"], pids[0]);
    let ran_in: Vec<i64> = events(&out)
        .iter()
        .map(|e| e["pid"].as_i64().unwrap())
        .collect();
    assert!(
        ran_in.iter().all(|p| pids.contains(p)),
        "{ran_in:?} {pids:?}"
    );
    let jobs: Vec<&str> = info["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap())
        .collect();
    assert!(
        jobs.contains(&retry.as_str()) && jobs.contains(&ignore.as_str()),
        "{jobs:?}"
    );
    assert!(!jobs.contains(&ok.as_str()));
    assert!(server.stop().success());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "spooler {pid} outlived the master"
        );
    }
}

#[test]
fn decorators_pickle_arguments_and_honour_their_return_rules() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &[]).start();
    let response = server.get("/decorated");
    assert_eq!(response.status, 200, "{}", response.text());
    let run = wait_named(&server, &out, "with_arguments", 1);
    assert_eq!(run[0]["args"], serde_json::json!(["one", 2, {"three": 3}]));
    let run = wait_named(&server, &out, "with_dict", 1);
    let arguments = run[0]["arguments"].to_string();
    assert!(arguments.contains("[\"color\",\"blue\"]"), "{arguments}");
    assert!(arguments.contains("[\"size\",\"big\"]"), "{arguments}");
    wait_named(&server, &out, "raw_ok", 1);
    wait_named(&server, &out, "forever", 3);
    // @spool removed its task although the function returned SPOOL_RETRY; @spoolraw's
    // SPOOL_OK removed its own; @spoolforever's stays.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(named(&out, "with_dict").len(), 1);
    assert_eq!(named(&out, "raw_ok").len(), 1);
    assert_eq!(task_files(&dir).len(), 1, "{:?}", task_files(&dir));
    server.stop();
}

#[test]
fn at_priority_and_ordering() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &["--spooler-ordered"]).start();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 3.0;
    let plain = spool(&server, &format!("name=plain&mode=ok&at={at}"));
    let nine = spool(&server, &format!("name=nine&mode=ok&at={at}&priority=9"));
    let one = spool(&server, &format!("name=one&mode=ok&at={at}&priority=1"));
    assert!(one.starts_with(dir.join("1").to_str().unwrap()), "{one}");
    assert!(nine.starts_with(dir.join("9").to_str().unwrap()), "{nine}");
    assert!(plain.starts_with(dir.to_str().unwrap()));
    wait_named(&server, &out, "plain", 1);
    let order: Vec<String> = events(&out)
        .iter()
        .map(|e| {
            assert!(e["time"].as_f64().unwrap() >= at, "ran before its at: {e}");
            e["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(order, ["one", "nine", "plain"]);
    let bad = server.get("/spool?name=x&priority=../../etc");
    assert_eq!(bad.status, 500);
    assert!(
        bad.text().contains("priority must be a whole number"),
        "{}",
        bad.text()
    );
    server.stop();
}

#[test]
fn bad_task_files_and_oversized_variables_are_refused_clearly() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("garbage"), b"this is not a uwsgi packet").unwrap();
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &[]).start();
    server.wait_for_log("cannot be parsed", LIMIT);
    let log = server.log();
    assert!(
        log.contains(&format!("{}", dir.join("garbage").display())),
        "{log}"
    );
    assert!(dir.join(".rwsgi-unparseable/garbage").exists());
    assert!(!dir.join("garbage").exists());
    // Logged once: it is not looped over.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(server.log().matches("cannot be parsed").count(), 1);
    spool(&server, "name=after&mode=ok");
    wait_named(&server, &out, "after", 1);
    let big = server.get("/big");
    assert_eq!(big.status, 500);
    assert!(big.text().contains("64 KiB"), "{}", big.text());
    assert_eq!(server.get("/").status, 200);
    server.stop();
}

#[test]
fn a_spooler_killed_mid_task_runs_the_task_again() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &[]).start();
    let task = spool(&server, "name=hang&mode=hang-once");
    for n in 0..20 {
        spool(&server, &format!("name=load{n}&mode=ok"));
    }
    let first = wait_named(&server, &out, "hang", 1);
    let pid = first[0]["pid"].as_i64().unwrap();
    kill(pid, "KILL");
    let runs = wait_named(&server, &out, "hang", 2);
    assert_ne!(runs[1]["pid"], pid, "run again by the respawned spooler");
    wait_until("the task completes", &server, || !Path::new(&task).exists());
    for n in 0..20 {
        wait_named(&server, &out, &format!("load{n}"), 1);
    }
    assert!(server
        .log()
        .contains(&format!("(pid {pid}) killed by SIGKILL")));
    server.stop();
}

#[test]
fn spooler_harakiri_kills_a_long_task_which_runs_again() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &["--spooler-harakiri", "2"]).start();
    let task = spool(&server, "name=hang&mode=hang-once");
    wait_named(&server, &out, "hang", 2);
    wait_until("the task completes", &server, || !Path::new(&task).exists());
    assert!(
        server.log().contains("killed by SIGALRM"),
        "{}",
        server.log()
    );
    server.stop();
}

#[test]
fn tasks_pending_at_a_restart_run_after_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    // A spooler that scans once at start and then not for an hour: the tasks wait.
    let mut first = builder(&dir, &out, &["--spooler-frequency", "3600"]).start();
    first.wait_for_log("spooler 1 ready", LIMIT);
    std::thread::sleep(Duration::from_millis(500));
    let tasks: Vec<String> = (0..5)
        .map(|n| spool(&first, &format!("name=pending{n}&mode=ok&body_hex=0102")))
        .collect();
    assert!(first.stop().success());
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    assert_eq!(task_files(&dir).len(), 5);
    let mut second = builder(&dir, &out, &[]).start();
    for n in 0..5 {
        let run = wait_named(&second, &out, &format!("pending{n}"), 1);
        assert_eq!(run[0]["body"], "0102");
    }
    wait_until("the tasks are removed", &second, || {
        tasks.iter().all(|t| !Path::new(t).exists())
    });
    second.stop();
}

#[test]
fn max_tasks_chdir_import_and_stats() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let stats = work.path().join("stats.sock");
    let mut server = builder(
        &dir,
        &out,
        &[
            "--spooler-max-tasks",
            "2",
            "--spooler-chdir",
            "/tmp",
            "--spooler-import",
            "json",
            "--stats",
            stats.to_str().unwrap(),
        ],
    )
    .start();
    for n in 0..5 {
        spool(&server, &format!("name=t{n}&mode=ok"));
    }
    let mut pids = std::collections::BTreeSet::new();
    for n in 0..5 {
        let run = wait_named(&server, &out, &format!("t{n}"), 1);
        assert_eq!(run[0]["cwd"], "/tmp");
        pids.insert(run[0]["pid"].as_i64().unwrap());
    }
    assert!(pids.len() >= 3, "recycled every 2 tasks: {pids:?}");
    assert!(server.log().contains("(spooler-max-tasks): recycling"));
    let document = {
        use std::io::Read;
        let mut text = String::new();
        std::os::unix::net::UnixStream::connect(&stats)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let spoolers = document["spoolers"].as_array().unwrap();
    assert_eq!(spoolers.len(), 1, "{document}");
    assert_eq!(spoolers[0]["dir"], dir.to_str().unwrap());
    server.stop();
}

#[test]
fn a_reload_replaces_the_spooler_without_doubling_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("spool");
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &[]).start();
    let before = info(&server)["pid"].as_i64().unwrap();
    assert!(before > 0);
    server.signal(1);
    wait_until("a new spooler after the reload", &server, || {
        let now = info(&server)["pids"].clone();
        now.as_array()
            .is_some_and(|p| p.len() == 1 && p[0] != before)
    });
    assert!(!Path::new(&format!("/proc/{before}")).exists());
    spool(&server, "name=after-reload&mode=ok");
    wait_named(&server, &out, "after-reload", 1);
    server.stop();
}

#[test]
fn unusable_spool_directories_are_refused_at_start() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = work.path().join("events.jsonl");
    let mut server = builder(&file.join("sub"), &out, &[]).no_wait().start();
    let status = server.wait_exit(LIMIT);
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("cannot create it"), "{log}");
    assert!(log.contains(file.join("sub").to_str().unwrap()), "{log}");

    // Not writable: a read-only mount (root writes anywhere else).
    let readonly = work.path().join("readonly");
    std::fs::create_dir(&readonly).unwrap();
    if !mount(&readonly, "ro,size=64k") {
        eprintln!("skipping the read-only case: cannot mount a tmpfs here");
        return;
    }
    let mut server = builder(&readonly, &out, &[]).no_wait().start();
    let status = server.wait_exit(LIMIT);
    umount(&readonly);
    assert!(!status.success());
    let log = server.log();
    assert!(log.contains("not writable"), "{log}");
}

fn mount(dir: &Path, options: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs", dir.to_str().unwrap()])
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

#[test]
fn a_full_disk_makes_spool_raise_and_the_worker_serves_on() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("small");
    std::fs::create_dir(&dir).unwrap();
    if !mount(&dir, "size=64k") {
        eprintln!("skipping: cannot mount a small tmpfs here");
        return;
    }
    let out = work.path().join("events.jsonl");
    let mut server = builder(&dir, &out, &["--spooler-frequency", "3600"]).start();
    let full = server.get("/spool?name=huge&mode=ok&body_size=200000");
    let served = server.get("/");
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    server.stop();
    umount(&dir);
    assert_eq!(full.status, 500);
    assert!(
        full.text().contains("No space left on device"),
        "{}",
        full.text()
    );
    assert_eq!(served.status, 200);
    assert_eq!(leftovers, 0, "the half-written temporary file is removed");
}
