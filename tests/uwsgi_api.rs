//! The `uwsgi` Python module and `uwsgidecorators` inside applications served by rwsgi, by
//! behaviour: real multi-worker servers running tests/apps/uwsgi_api.py.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

fn builder(workers: usize) -> ServerBuilder {
    server()
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "uwsgi_api",
            "--processes",
            &workers.to_string(),
        ])
        .workers(workers)
        .http()
}

fn json(server: &Server, path: &str) -> Value {
    let response = server.get(path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    serde_json::from_str(&response.text()).unwrap()
}

/// The hook record: pid → the hooks that ran in it, in order (kind, worker id).
fn hooks(path: &Path) -> BTreeMap<i32, Vec<(String, u64)>> {
    let mut by_pid: BTreeMap<i32, Vec<(String, u64)>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let mut parts = line.split(' ');
        let pid = parts.next().unwrap().parse().unwrap();
        let kind = parts.next().unwrap().to_string();
        let worker = parts.next().unwrap().parse().unwrap();
        by_pid.entry(pid).or_default().push((kind, worker));
    }
    by_pid
}

/// Waits until `ready` holds for the hook record.
fn wait_hooks(
    path: &Path,
    what: &str,
    ready: impl Fn(&BTreeMap<i32, Vec<(String, u64)>>) -> bool,
) -> BTreeMap<i32, Vec<(String, u64)>> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let record = hooks(path);
        if ready(&record) {
            return record;
        }
        assert!(Instant::now() < deadline, "{what}: hook record {record:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kinds(entries: &[(String, u64)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("hooks.txt")
}

/// Worker pids from "worker N started (pid P)" lines, in order.
fn started_pids(log: &str) -> Vec<i32> {
    log.lines()
        .filter_map(|line| line.split("started (pid ").nth(1))
        .filter_map(|rest| rest.trim_end_matches(')').parse().ok())
        .collect()
}

#[test]
fn uwsgi_opt_and_introspection_describe_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nenable-threads = true\nbuffer-size = 8192\npy-call-uwsgi-fork-hooks = true\n",
    )
    .unwrap();
    let server = builder(2)
        .args([
            "--ini",
            ini.to_str().unwrap(),
            "--master",
            "--env",
            "A=1",
            "--env",
            "B=2",
            "-T",
        ])
        .start();
    let info = json(&server, "/info");
    let opt = &info["opt"];
    assert_eq!(opt["master"], serde_json::json!({"flag": true}), "{opt}");
    assert_eq!(
        opt["enable-threads"][0],
        serde_json::json!({"bytes": "true"})
    );
    // `-T` is enable-threads' short form: listed under the long name, after the INI's.
    assert_eq!(opt["enable-threads"][1], serde_json::json!({"flag": true}));
    assert_eq!(
        opt["env"],
        serde_json::json!([{"bytes": "A=1"}, {"bytes": "B=2"}])
    );
    assert_eq!(opt["processes"], serde_json::json!({"bytes": "2"}));
    assert_eq!(
        opt["py-call-uwsgi-fork-hooks"],
        serde_json::json!({"bytes": "true"})
    );
    assert_eq!(info["numproc"], 2);
    assert_eq!(info["mule_id"], 0);
    assert_eq!(info["masterpid"], server.pid());
    let worker = info["worker_id"].as_u64().unwrap();
    assert!(worker == 1 || worker == 2, "{info}");
    assert_eq!(info["imported_in_worker"], 0, "preloaded in the master");
    let workers = info["workers"].as_array().unwrap();
    let ids: Vec<u64> = workers.iter().map(|w| w["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2], "{info}");
    let me = &workers[worker as usize - 1];
    assert_eq!(me["pid"], info["pid"]);
    assert_eq!(me["status"], "busy");
    assert_ne!(workers[0]["pid"], workers[1]["pid"]);
    assert_eq!(info["version"], "2.0.31");
    assert_eq!(info["version_info"].as_array().unwrap()[0..3], [2, 0, 31]);
    assert_eq!(info["buffer_size"], 8192);
    assert_eq!(info["cores"], 1);
    assert_eq!(info["is_a_reload"], false);
    assert_eq!(info["spool"], serde_json::json!([-2, -1, 0]));
    let hostname = nix::unistd::gethostname().unwrap();
    assert_eq!(info["hostname"], hostname.to_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let started = info["started_on"].as_u64().unwrap();
    assert!(started <= now && started + 60 > now, "{info}");
}

#[test]
fn total_requests_counts_every_worker_and_request_id_each_workers_own() {
    let server = builder(2).start();
    for _ in 0..6 {
        json(&server, "/info");
    }
    // A worker counts a request after its response is written, so the sixth may still be
    // uncounted when the next request reaches the other worker: ask until both counts have
    // it (a `total_requests` of one worker's only would never get there).
    let deadline = Instant::now() + LIMIT;
    let info = loop {
        let info = json(&server, "/info");
        let sum: u64 = info["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["requests"].as_u64().unwrap())
            .sum();
        // This request is not finished yet, so it is not counted.
        if sum >= 6 && info["total_requests"].as_u64().unwrap() >= 6 {
            break info;
        }
        assert!(Instant::now() < deadline, "{info}");
    };
    let workers = info["workers"].as_array().unwrap();
    let me = &workers[info["worker_id"].as_u64().unwrap() as usize - 1];
    assert_eq!(info["request_id"], me["requests"], "{info}");
}

#[test]
fn set_logvar_values_appear_in_log_format_for_that_request_only() {
    let server = builder(1)
        .args(["--log-format", "%(method) %(uri) user=%(user)"])
        .start();
    let got = json(&server, "/logvar?alice");
    assert_eq!(got["got"], "alice");
    server.wait_for_log("GET /logvar?alice user=alice", LIMIT);
    json(&server, "/info");
    server.wait_for_log("GET /info user=%(user)", LIMIT);
}

#[test]
fn uwsgi_log_writes_a_line_to_the_server_log() {
    let server = builder(1).start();
    json(&server, "/log?hello");
    server.wait_for_log("from the app: hello", LIMIT);
}

#[test]
fn names_not_provided_raise_attribute_error_naming_rwsgi_and_what_to_use() {
    let server = builder(1).start();
    let websocket = json(&server, "/getattr?websocket_handshake");
    let message = websocket["error"].as_str().unwrap();
    assert!(
        message.starts_with(
            "uwsgi.websocket_handshake is not provided by rwsgi: serve websockets with an ASGI server"
        ),
        "{message}"
    );
    let unknown = json(&server, "/getattr?no_such_thing");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .starts_with("module 'uwsgi' has no attribute 'no_such_thing' (rwsgi"),
        "{unknown}"
    );
    assert_eq!(json(&server, "/getattr?worker_id")["found"], true);
}

#[test]
fn import_uwsgi_fails_outside_rwsgi() {
    let output = std::process::Command::new("python3")
        .args(["-c", "import uwsgi"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("No module named 'uwsgi'"));
}

fn hooks_in_order(entries: &[(String, u64)]) -> bool {
    let kinds = kinds(entries);
    kinds.starts_with(&["at_fork", "postfork1", "postfork2"])
}

#[test]
fn fork_hooks_run_in_every_worker_in_order_also_after_recycling_and_reload() {
    let probe = tempfile::tempdir().unwrap();
    let record = record_path(probe.path());
    let server = builder(2)
        .env("HOOK_RECORD", record.to_str().unwrap())
        .args(["--max-requests", "1", "--min-worker-lifetime", "0"])
        .start();
    let first = wait_hooks(&record, "two workers", |r| {
        r.len() >= 2 && r.values().all(|e| e.len() >= 3)
    });
    for (pid, entries) in &first {
        assert!(hooks_in_order(entries), "{pid}: {entries:?}");
        let worker = entries[1].1;
        let only_two = kinds(entries).contains(&"postfork_worker2");
        assert_eq!(only_two, worker == 2, "{pid}: {entries:?}");
    }
    // max-requests 1: every request recycles its worker; the successors run the hooks too.
    for _ in 0..3 {
        json(&server, "/info");
    }
    // A successor may be recorded at its fork before its post-fork hooks ran: wait for them.
    let recycled = wait_hooks(&record, "recycled workers", |r| {
        r.len() >= 5 && r.values().all(|e| e.len() >= 3)
    });
    assert!(recycled.values().all(|e| hooks_in_order(e)), "{recycled:?}");
    let before_reload = recycled.len();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reloaded; forking", LIMIT);
    let reloaded = wait_hooks(&record, "reloaded workers", |r| {
        r.len() >= before_reload + 2 && r.values().all(|e| e.len() >= 3)
    });
    assert!(reloaded.values().all(|e| hooks_in_order(e)), "{reloaded:?}");
    // Every worker the master started ran them.
    for pid in started_pids(&server.log()) {
        assert!(reloaded.contains_key(&pid), "{pid}: {reloaded:?}");
    }
}

#[test]
fn postfork_runs_after_the_app_loads_with_lazy_apps() {
    let probe = tempfile::tempdir().unwrap();
    let record = record_path(probe.path());
    let server = builder(2)
        .env("HOOK_RECORD", record.to_str().unwrap())
        .args(["--lazy-apps"])
        .start();
    let got = wait_hooks(&record, "lazy workers", |r| {
        r.len() == 2 && r.values().all(|e| e.len() >= 2)
    });
    for (pid, entries) in &got {
        // The at-fork handler is registered after the fork (the app loads in the worker),
        // so nothing forks after it: it never runs, as under uWSGI.
        assert!(
            kinds(entries).starts_with(&["postfork1", "postfork2"]),
            "{pid}: {entries:?}"
        );
    }
    let info = json(&server, "/info");
    assert_eq!(info["imported_in_worker"], info["worker_id"]);
}

#[test]
fn a_raising_postfork_hook_logs_its_traceback_and_the_worker_serves() {
    let server = builder(1).env("POSTFORK_RAISES", "1").start();
    let log = server.wait_for_log("postfork hook failed on purpose", LIMIT);
    assert!(
        log.contains("uwsgi.post_fork_hook raised: Traceback"),
        "{log}"
    );
    assert_eq!(json(&server, "/info")["worker_id"], 1);
}

#[test]
fn uwsgi_atexit_runs_when_each_worker_exits() {
    let probe = tempfile::tempdir().unwrap();
    let record = record_path(probe.path());
    let mut server = builder(2)
        .env("HOOK_RECORD", record.to_str().unwrap())
        .start();
    wait_hooks(&record, "workers", |r| r.len() == 2);
    assert!(server.stop().success());
    let got = hooks(&record);
    assert_eq!(got.len(), 2, "{got:?}");
    for (pid, entries) in &got {
        assert_eq!(kinds(entries).last(), Some(&"atexit"), "{pid}: {entries:?}");
    }
}

#[test]
fn uwsgi_reload_reloads_gracefully_and_then_is_a_reload_is_true() {
    let server = builder(1).start();
    assert_eq!(json(&server, "/reload")["reload"], true);
    server.wait_for_log("reloaded; forking", LIMIT);
    let deadline = Instant::now() + LIMIT;
    loop {
        let info = json(&server, "/info");
        if info["is_a_reload"] == true {
            assert_eq!(info["masterpid"], server.pid());
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn uwsgi_stop_stops_the_server() {
    let mut server = builder(2).start();
    assert_eq!(json(&server, "/stop")["stop"], true);
    assert!(server.wait_exit(LIMIT).success());
}

#[test]
fn pypi_uwsgidecorators_in_the_venv_runs_on_rwsgis_module() {
    let venv = test_venv();
    let probe = tempfile::tempdir().unwrap();
    let record = record_path(probe.path());
    let server = builder(2)
        .env("HOOK_RECORD", record.to_str().unwrap())
        .args(["--home", venv.to_str().unwrap()])
        .start();
    let info = json(&server, "/info");
    assert!(
        info["decorators"]
            .as_str()
            .unwrap()
            .ends_with("site-packages/uwsgidecorators.py"),
        "{info}"
    );
    let got = wait_hooks(&record, "workers", |r| {
        r.len() == 2 && r.values().all(|e| e.len() >= 3)
    });
    assert!(got.values().all(|e| hooks_in_order(e)), "{got:?}");
}

/// Evaluates a Python expression in the application (with `uwsgi` in scope) and returns the
/// repr of its value, or "Type: message" of what it raised, and the worker that ran it.
fn eval_in(server: &Server, expression: &str) -> (String, u64) {
    let raw = format!(
        "POST /eval HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{expression}",
        expression.len()
    );
    let response = request(server.addr(), &raw);
    assert_eq!(response.status, 200, "{expression}: {}", response.text());
    let value: Value = serde_json::from_str(&response.text()).unwrap();
    (
        value["result"].as_str().unwrap().to_string(),
        value["worker"].as_u64().unwrap(),
    )
}

fn eval(server: &Server, expression: &str) -> String {
    eval_in(server, expression).0
}

fn cache_builder(workers: usize, caches: &[&str]) -> ServerBuilder {
    let mut b = builder(workers);
    for cache in caches {
        b = b.args(["--cache2", cache]);
    }
    b
}

#[test]
fn cache_values_set_in_one_worker_are_read_in_another() {
    let server = cache_builder(2, &["name=shared,items=100,blocksize=1024"]).start();
    let (set, writer) = eval_in(
        &server,
        "uwsgi.cache_set('greeting', b'hello from a worker')",
    );
    assert_eq!(set, "True");
    let deadline = Instant::now() + LIMIT;
    loop {
        let (got, reader) = eval_in(&server, "uwsgi.cache_get('greeting')");
        assert_eq!(got, "b'hello from a worker'");
        if reader != writer {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only worker {writer} ever answered"
        );
    }
}

#[test]
fn cache_functions_answer_as_uwsgi_does() {
    let server = cache_builder(
        1,
        &[
            "name=first,items=10,blocksize=100,keysize=32",
            "name=small,items=4,blocksize=100",
            "name=recent,items=4,blocksize=10,purge_lru=1",
        ],
    )
    .start();
    let cases: &[(&str, &str)] = &[
        ("uwsgi.cache_set('k', 'v')", "True"),
        ("uwsgi.cache_set('k', 'other')", "None"),
        ("uwsgi.cache_get(b'k')", "b'v'"),
        ("uwsgi.cache_update('k', b'w')", "True"),
        ("uwsgi.cache_get('k', 'first')", "b'w'"),
        ("uwsgi.cache_get('missing')", "None"),
        ("uwsgi.cache_exists('k')", "True"),
        ("uwsgi.cache_exists('missing')", "None"),
        ("uwsgi.cache_del('k')", "True"),
        ("uwsgi.cache_del('k')", "None"),
        // Size limits: over blocksize or keysize is not stored and never found.
        ("uwsgi.cache_set('big', 'x' * 101)", "None"),
        ("uwsgi.cache_set('fits', 'x' * 100)", "True"),
        ("uwsgi.cache_set('k' * 33, 'x')", "None"),
        ("uwsgi.cache_set('k' * 32, 'x')", "True"),
        ("uwsgi.cache_get('k' * 33)", "None"),
        (
            "uwsgi.cache_set('n', 5)",
            "TypeError: a bytes-like object is required, not 'int'",
        ),
        ("uwsgi.cache_inc('n')", "True"),
        ("uwsgi.cache_num('n')", "1"),
        ("uwsgi.cache_inc('n', 5)", "True"),
        ("uwsgi.cache_dec('n', 2)", "True"),
        ("uwsgi.cache_num('n')", "4"),
        ("uwsgi.cache_num('missing')", "0"),
        ("uwsgi.cache_num('fits')", "0"),
        (
            "sorted(uwsgi.cache_keys())",
            "[b'fits', b'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk', b'n']",
        ),
        // items=4 holds 3 keys, as in uWSGI; a full cache answers None.
        (
            "[uwsgi.cache_set('f%d' % i, 'v', 0, 'small') for i in range(4)]",
            "[True, True, True, None]",
        ),
        ("uwsgi.cache_clear('small')", "True"),
        ("uwsgi.cache_keys('small')", "[]"),
        // purge_lru: the least recently used key makes room.
        (
            "[uwsgi.cache_set('l%d' % i, 'v', 0, 'recent') for i in range(5)]",
            "[True, True, True, True, True]",
        ),
        (
            "sorted(uwsgi.cache_keys('recent'))",
            "[b'l2', b'l3', b'l4']",
        ),
        // An unknown cache: None, and cache_keys raises.
        ("uwsgi.cache_get('k', 'nosuch')", "None"),
        (
            "uwsgi.cache_keys('nosuch')",
            "ValueError: no local uWSGI cache available",
        ),
    ];
    for (expression, wanted) in cases {
        assert_eq!(&eval(&server, expression), wanted, "{expression}");
    }
    // Expiry: gone once its second has passed.
    assert_eq!(eval(&server, "uwsgi.cache_set('soon', 'v', 1)"), "True");
    let deadline = Instant::now() + LIMIT;
    while eval(&server, "uwsgi.cache_get('soon')") != "None" {
        assert!(Instant::now() < deadline, "the item never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(eval(&server, "uwsgi.cache_exists('soon')"), "None");
    assert_eq!(eval(&server, "uwsgi.cache_set('soon', 'again')"), "True");
}

#[test]
fn cache_calls_without_cache2_answer_none_and_the_worker_serves_on() {
    let server = builder(1).start();
    assert_eq!(eval(&server, "uwsgi.cache_get('k')"), "None");
    assert_eq!(eval(&server, "uwsgi.cache_set('k', 'v')"), "None");
    assert_eq!(eval(&server, "uwsgi.cache_num('k')"), "0");
    assert_eq!(
        eval(&server, "uwsgi.cache_keys()"),
        "ValueError: no local uWSGI cache available"
    );
    server.wait_for_log("uwsgi.cache_*: no cache is configured", LIMIT);
    assert_eq!(json(&server, "/info")["worker_id"], 1);
}

#[test]
fn legacy_cache_option_makes_a_default_cache() {
    let server = builder(1)
        .args(["--cache", "10", "--cache-blocksize", "16"])
        .start();
    assert_eq!(
        eval(&server, "uwsgi.cache_set('a', 'x' * 16, 0, 'default')"),
        "True"
    );
    assert_eq!(eval(&server, "uwsgi.cache_set('b', 'x' * 17)"), "None");
    assert_eq!(eval(&server, "uwsgi.cache_get('a')"), "b'xxxxxxxxxxxxxxxx'");
}

#[test]
fn cache_survives_worker_recycling_and_graceful_reload() {
    let server = cache_builder(2, &["name=keep,items=10,blocksize=64"])
        .args(["--max-requests", "1", "--min-worker-lifetime", "0"])
        .start();
    assert_eq!(
        eval(&server, "uwsgi.cache_set('kept', 'still here')"),
        "True"
    );
    // Each request retires its worker: these run in successors.
    for _ in 0..3 {
        assert_eq!(eval(&server, "uwsgi.cache_get('kept')"), "b'still here'");
    }
    server.signal(libc::SIGHUP);
    server.wait_for_log(
        "cache 'keep': 9 items of up to 64 bytes (keys up to 2048), kept across the reload",
        LIMIT,
    );
    let deadline = Instant::now() + LIMIT;
    loop {
        let info = json(&server, "/info");
        if info["is_a_reload"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
    }
    assert_eq!(eval(&server, "uwsgi.cache_get('kept')"), "b'still here'");
}

#[test]
fn cache_store_file_keeps_items_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "name=disk,items=10,blocksize=64,store={}",
        dir.path().join("cache.store").display()
    );
    let mut first = cache_builder(1, &[&spec]).start();
    assert_eq!(eval(&first, "uwsgi.cache_set('saved', 'on disk')"), "True");
    assert!(first.stop().success());
    let second = cache_builder(1, &[&spec]).start();
    second.wait_for_log("restored from", LIMIT);
    assert_eq!(eval(&second, "uwsgi.cache_get('saved')"), "b'on disk'");
}

#[test]
fn cache_stays_consistent_under_two_processes_of_four_threads() {
    let server = cache_builder(2, &["name=busy,items=200,blocksize=256"])
        .args(["--threads", "4"])
        .start();
    let rounds = 4000;
    let clients: Vec<_> = (0..16)
        .map(|_| get_in_background(server.addr(), &format!("/stress?{rounds}")))
        .collect();
    let mut workers_bad = 0;
    for client in clients {
        let response = client.join().unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        let body: Value = serde_json::from_str(&response.text()).unwrap();
        workers_bad += body["bad"].as_u64().unwrap();
    }
    assert_eq!(
        workers_bad, 0,
        "a reader saw another writer's half-written value"
    );
    assert_eq!(
        eval(&server, "uwsgi.cache_num('counter')"),
        (16 * rounds).to_string()
    );
    // The eight shared keys plus the counter, no more, no less.
    assert_eq!(eval(&server, "len(uwsgi.cache_keys())"), "9");
    let log = server.log();
    let workers: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("GET /stress"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(workers.len(), 2, "both processes served: {log}");
}

#[test]
fn cachelib_uwsgi_backend_works_unchanged() {
    let venv = test_venv();
    let server = cache_builder(2, &["name=flask,items=100,blocksize=4096"])
        .args(["--home", venv.to_str().unwrap()])
        .start();
    let cases: &[(&str, &str)] = &[
        (
            "cachelib_cache('flask').set('user', {'id': 7, 'name': 'ada'})",
            "True",
        ),
        (
            "cachelib_cache('flask').get('user')",
            "{'id': 7, 'name': 'ada'}",
        ),
        ("cachelib_cache('flask').add('user', 'other')", "False"),
        ("cachelib_cache('flask').has('user')", "True"),
        (
            "cachelib_cache('flask').set_many({'a': 1, 'b': [2]})",
            "['a', 'b']",
        ),
        (
            "cachelib_cache('flask').get_many('a', 'b', 'c')",
            "[1, [2], None]",
        ),
        ("cachelib_cache('flask').delete('user')", "True"),
        ("cachelib_cache('flask').has('user')", "False"),
        ("cachelib_cache().set('default-cache', 1)", "True"),
        ("cachelib_cache('flask').clear()", "True"),
        ("cachelib_cache('flask').get('a')", "None"),
    ];
    for (expression, wanted) in cases {
        assert_eq!(&eval(&server, expression), wanted, "{expression}");
    }
}

fn lock_server(counter: &Path) -> Server {
    std::fs::write(counter, "0").unwrap();
    builder(2)
        .args(["--threads", "4", "--locks", "2"])
        .env("LOCK_COUNTER", counter.to_str().unwrap())
        .start()
}

#[test]
fn locks_exclude_every_process_and_thread_with_the_decorator_and_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter");
    let server = lock_server(&counter);
    for how in ["decorator", "number"] {
        std::fs::write(&counter, "0").unwrap();
        let clients: Vec<_> = (0..16)
            .map(|_| get_in_background(server.addr(), &format!("/lockstress?200,{how}")))
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap().status, 200);
        }
        assert_eq!(
            std::fs::read_to_string(&counter).unwrap(),
            (16 * 200).to_string(),
            "{how}: an update was lost, so two holders overlapped"
        );
    }
}

#[test]
fn a_lock_held_by_a_killed_worker_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = lock_server(&dir.path().join("counter"));
    let (holder, worker) = eval_in(&server, "(uwsgi.lock(1), os.getpid())[1]");
    // Seen as held from the other worker too.
    let deadline = Instant::now() + LIMIT;
    loop {
        let (held, other) = eval_in(&server, "uwsgi.is_locked(1)");
        assert_eq!(held, "True");
        if other != worker {
            break;
        }
        assert!(Instant::now() < deadline, "only worker {worker} answered");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (taken, _) = eval_in(
        &server,
        "(uwsgi.lock(1), uwsgi.is_locked(1), uwsgi.unlock(1), uwsgi.is_locked(1))",
    );
    assert_eq!(taken, "(None, True, None, False)");
    server.wait_for_log("its previous holder died holding it; taken over", LIMIT);
}

#[test]
fn lock_numbers_out_of_range_raise_value_error_and_the_worker_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = lock_server(&dir.path().join("counter"));
    for expression in ["uwsgi.lock(3)", "uwsgi.unlock(-1)", "uwsgi.is_locked(99)"] {
        assert_eq!(
            eval(&server, expression),
            "ValueError: Invalid lock number",
            "{expression}"
        );
    }
    assert_eq!(
        eval(&server, "(uwsgi.lock(2), uwsgi.unlock(2))"),
        "(None, None)"
    );
    let plain = builder(1).start();
    assert_eq!(
        eval(&plain, "uwsgi.lock(1)"),
        "ValueError: Invalid lock number"
    );
    assert_eq!(
        eval(&plain, "(uwsgi.lock(), uwsgi.is_locked(0), uwsgi.unlock())"),
        "(None, True, None)"
    );
}

struct SignalServer {
    server: Server,
    record: PathBuf,
    watched: PathBuf,
    _dir: tempfile::TempDir,
}

fn signal_server(extra: &[&str]) -> SignalServer {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("signals.txt");
    let watched = dir.path().join("watched.txt");
    std::fs::write(&watched, "first").unwrap();
    let server = builder(2)
        .env("SIGNAL_RECORD", record.to_str().unwrap())
        .env("WATCHED", watched.to_str().unwrap())
        .args(extra)
        .start();
    SignalServer {
        server,
        record,
        watched,
        _dir: dir,
    }
}

/// (handler name, signal, worker id, pid) lines the handlers wrote.
fn signal_lines(path: &Path) -> Vec<(String, u64, u64, i32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

fn wait_signals(
    path: &Path,
    what: &str,
    limit: Duration,
    ready: impl Fn(&[(String, u64, u64, i32)]) -> bool,
) -> Vec<(String, u64, u64, i32)> {
    let deadline = Instant::now() + limit;
    loop {
        let lines = signal_lines(path);
        if ready(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{what}: {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn named<'a>(lines: &'a [(String, u64, u64, i32)], name: &str) -> Vec<&'a (String, u64, u64, i32)> {
    lines.iter().filter(|l| l.0 == name).collect()
}

#[test]
fn signals_reach_the_workers_their_target_names() {
    let s = signal_server(&[]);
    assert_eq!(eval(&s.server, "uwsgi.signal(30)"), "None");
    let lines = wait_signals(&s.record, "workers", LIMIT, |l| named(l, "all").len() == 2);
    let mut workers: Vec<u64> = named(&lines, "all").iter().map(|l| l.2).collect();
    workers.sort();
    assert_eq!(workers, [1, 2]);
    eval(&s.server, "uwsgi.signal(31)");
    let lines = wait_signals(&s.record, "worker2", LIMIT, |l| {
        !named(l, "second").is_empty()
    });
    assert!(
        named(&lines, "second").iter().all(|l| l.2 == 2),
        "{lines:?}"
    );
    for _ in 0..4 {
        eval(&s.server, "uwsgi.signal(32)");
    }
    let lines = wait_signals(&s.record, "any", LIMIT, |l| named(l, "any").len() == 4);
    // One worker each time, taking turns.
    let firsts: Vec<u64> = named(&lines, "any").iter().map(|l| l.2).collect();
    assert!(firsts.contains(&1) && firsts.contains(&2), "{firsts:?}");
    // An unknown target: registered without error, as uWSGI, and never delivered.
    eval(&s.server, "uwsgi.signal(33)");
    s.server
        .wait_for_log("uwsgi.register_signal(33): unknown target 'nowhere'", LIMIT);
    s.server
        .wait_for_log("uwsgi.signal(33): no process to deliver it to", LIMIT);
    assert!(named(&signal_lines(&s.record), "nowhere").is_empty());
    assert_eq!(named(&signal_lines(&s.record), "second").len(), 1);
}

#[test]
fn timers_fire_and_rb_timers_stop_after_their_iterations() {
    let s = signal_server(&[]);
    let lines = wait_signals(&s.record, "timer", LIMIT, |l| named(l, "timer").len() >= 4);
    assert_eq!(named(&lines, "rbtimer").len(), 2, "{lines:?}");
    let timer_signal = named(&lines, "timer")[0].1;
    assert!(named(&lines, "timer").iter().all(|l| l.1 == timer_signal));
}

#[test]
fn file_monitor_raises_its_signal_when_the_file_changes() {
    let s = signal_server(&[]);
    // Let the master see the file once, then change it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(named(&signal_lines(&s.record), "filemon").is_empty());
    std::fs::write(&s.watched, "second, longer").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&s.watched)
        .unwrap()
        .set_modified(later)
        .unwrap();
    wait_signals(&s.record, "filemon", LIMIT, |l| {
        named(l, "filemon").len() == 1
    });
}

#[test]
fn cron_signal_fires_at_the_next_minute() {
    let s = signal_server(&[]);
    wait_signals(&s.record, "cron", Duration::from_secs(75), |l| {
        !named(l, "cron").is_empty()
    });
}

#[test]
fn a_raising_signal_handler_logs_its_traceback_and_the_worker_serves_on() {
    let s = signal_server(&[]);
    eval(&s.server, "uwsgi.signal(34)");
    let log = s
        .server
        .wait_for_log("signal handler failed on purpose", LIMIT);
    assert!(
        log.contains("uwsgi signal 34 handler raised: Traceback"),
        "{log}"
    );
    for _ in 0..4 {
        assert_eq!(json(&s.server, "/info")["numproc"], 2);
    }
}

#[test]
fn signal_handlers_are_there_in_recycled_workers() {
    let s = signal_server(&["--max-requests", "1", "--min-worker-lifetime", "0"]);
    for _ in 0..3 {
        json(&s.server, "/info");
    }
    // The workers now are successors of the first two.
    let first_pids = started_pids(&s.server.wait_for_log("worker 2 started", LIMIT));
    let deadline = Instant::now() + LIMIT;
    while started_pids(&s.server.log()).len() < 5 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    // Raised until a successor handles it (each request also retires the worker serving it,
    // so a raise may find only a retiring worker ready).
    let successor = |lines: &[(String, u64, u64, i32)]| {
        named(lines, "all")
            .iter()
            .any(|line| !first_pids[..2].contains(&line.3))
    };
    // A raise whose only receivers retire before handling it leaves no line: raise again
    // until a successor's line shows, within the overall limit.
    let deadline = Instant::now() + LIMIT;
    loop {
        eval(&s.server, "uwsgi.signal(30)");
        let handled = Instant::now() + Duration::from_secs(2);
        while !successor(&signal_lines(&s.record)) && Instant::now() < handled {
            std::thread::sleep(Duration::from_millis(50));
        }
        let lines = signal_lines(&s.record);
        if successor(&lines) {
            break;
        }
        assert!(Instant::now() < deadline, "{lines:?}");
    }
}

#[test]
fn a_timer_of_zero_seconds_answers_none_as_uwsgi_and_is_not_armed() {
    let s = signal_server(&[]);
    // Handlers belong to the process that registered them: one request does it all.
    assert_eq!(
        eval(
            &s.server,
            "(uwsgi.register_signal(40, 'workers', len), uwsgi.add_timer(40, 0), uwsgi.signal_registered(40), uwsgi.signal_registered(41))"
        ),
        "(None, None, True, None)"
    );
    s.server.wait_for_log(
        "uwsgi.add_timer(40, 0): a timer of 0 seconds never fires",
        LIMIT,
    );
}

#[test]
fn the_man_page_documents_every_name_the_modules_provide() {
    let server = builder(1).start();
    let names = |expression: &str| -> Vec<String> {
        let listed = eval(&server, expression);
        listed
            .trim_matches(['[', ']'])
            .split(", ")
            .map(|n| n.trim_matches('\'').to_string())
            .collect()
    };
    let module = names("sorted(n for n in dir(uwsgi) if not n.startswith('_'))");
    let decorators = names(
        "sorted(n for n, v in vars(__import__('uwsgidecorators')).items() if not n.startswith('_') and n not in ('uwsgi', 'threading'))",
    );
    assert!(
        module.len() > 40 && decorators.len() >= 9,
        "{module:?} {decorators:?}"
    );
    let output = std::process::Command::new(bin())
        .args(["--print-man-page", "8"])
        .output()
        .unwrap();
    let page = String::from_utf8(output.stdout)
        .unwrap()
        .replace("\\-", "-");
    let section = &page[page.find(".SH THE UWSGI MODULE").unwrap()..];
    for name in module.iter().chain(&decorators) {
        let bold = format!("\\fB{name}");
        let decorator = format!("\\fB@{name}");
        assert!(
            section.contains(&bold) || section.contains(&decorator),
            "rwsgi(8) THE UWSGI MODULE does not document {name}"
        );
    }
}
