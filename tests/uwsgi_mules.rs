//! Mules by behaviour: real servers running tests/apps/mule_app.py with mule processes
//! (programmed ones running tests/apps/mule_echo.py and mule_once.py, ones programmed by the
//! decorators of tests/apps/mule_decorated.py, and looping ones running @mulefunc calls),
//! messages sent over HTTP, and what the mules did read back from the events they append to
//! a file (and from the log, the stats document and /proc).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

fn app(name: &str) -> String {
    apps_dir().join(name).display().to_string()
}

fn builder(out: &Path, extra: &[&str]) -> ServerBuilder {
    builder_of("mule_app", out, extra)
}

fn builder_of(module: &str, out: &Path, extra: &[&str]) -> ServerBuilder {
    server()
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            module,
            "--processes",
            "2",
            "--env",
            &format!("MULE_OUT={}", out.display()),
        ])
        .args(extra)
        .workers(2)
        .http()
}

fn events(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn named(out: &Path, name: &str) -> Vec<Value> {
    events(out)
        .into_iter()
        .filter(|e| e["name"] == name)
        .collect()
}

/// Waits until `ready` holds on the events named `name`; returns them.
fn wait_events(
    server: &Server,
    out: &Path,
    name: &str,
    what: &str,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = named(out, name);
        if ready(&found) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {name} events {found:?}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_named(server: &Server, out: &Path, name: &str, count: usize) -> Vec<Value> {
    wait_events(server, out, name, &format!("{count} expected"), |e| {
        e.len() >= count
    })
}

fn ok(server: &Server, path: &str) -> String {
    let response = server.get(path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.text()
}

fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

fn kill(pid: i64, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The pids of the master's children whose command line says "rwsgi mule" (auto-procname).
fn mule_pids(master: i32) -> BTreeSet<i64> {
    let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        .unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("rwsgi mule"))
        })
        .collect()
}

fn stats_document(path: &Path) -> Value {
    use std::io::Read;
    let mut text = String::new();
    std::os::unix::net::UnixStream::connect(path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `mule = FILE.py` runs the file in a supervised process: respawned (a new pid) when it
/// ends on its own and when it is SIGKILLed; the stats document lists the mules.
#[test]
fn a_mule_file_runs_and_is_respawned_after_it_ends_and_after_sigkill() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let stats = work.path().join("stats.sock");
    let echo = app("mule_echo.py");
    let once = app("mule_once.py");
    let mut server = builder(
        &out,
        &[
            &format!("--mule={echo}"),
            &format!("--mule={once}"),
            "--stats",
            stats.to_str().unwrap(),
        ],
    )
    .start();
    let starts = wait_events(&server, &out, "start", "mule 2 starts twice", |e| {
        e.iter().filter(|e| e["mule"] == 2).count() >= 2
    });
    let second: BTreeSet<i64> = starts
        .iter()
        .filter(|e| e["mule"] == 2)
        .map(|e| e["pid"].as_i64().unwrap())
        .collect();
    assert!(second.len() >= 2, "a new process each time: {starts:?}");
    assert!(server.log().contains("mule 2 (pid "), "{}", server.log());
    assert!(server.log().contains("respawning in"), "{}", server.log());

    let first = starts.iter().find(|e| e["mule"] == 1).unwrap()["pid"]
        .as_i64()
        .unwrap();
    kill(first, "KILL");
    let again = wait_events(&server, &out, "start", "mule 1 respawned", |e| {
        e.iter()
            .any(|e| e["mule"] == 1 && e["pid"].as_i64() != Some(first))
    });
    assert!(server
        .log()
        .contains(&format!("mule 1 (pid {first}) killed by SIGKILL")));
    let fresh = again.iter().rev().find(|e| e["mule"] == 1).unwrap()["pid"]
        .as_i64()
        .unwrap();
    ok(&server, "/msg?to=1&text=after-respawn");
    let got = wait_named(&server, &out, "got", 1);
    assert_eq!(
        got[0]["pid"], fresh,
        "the respawned mule reads mule 1's queue"
    );

    let document = stats_document(&stats);
    let mules = document["mules"].as_array().unwrap();
    assert_eq!(mules.len(), 2, "{document}");
    assert_eq!(mules[0]["id"], 1);
    assert!(
        mules[0]["respawn_count"].as_u64().unwrap() >= 1,
        "{document}"
    );
    server.stop();
}

/// mule_msg from a worker reaches the mule named, or any mule; mule_id() is the mule's id in
/// a mule and 0 in a worker; mule_get_msg outside a mule raises clearly.
#[test]
fn mule_msg_round_trip_and_mule_id() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(
        &out,
        &[&format!("--mule={echo}"), &format!("--mule={echo}")],
    )
    .start();
    wait_named(&server, &out, "start", 2);
    let id: Value = serde_json::from_str(&ok(&server, "/id")).unwrap();
    assert_eq!(id["mule"], 0);
    assert!(id["worker"].as_u64().unwrap() >= 1);

    ok(&server, "/msg?to=2&text=for-two");
    let got = wait_named(&server, &out, "got", 1);
    assert_eq!(got[0]["text"], "for-two");
    assert_eq!(got[0]["mule"], 2);
    assert_eq!(got[0]["worker"], 0);
    ok(&server, "/msg?text=for-anyone");
    let got = wait_named(&server, &out, "got", 2);
    assert_eq!(got[1]["text"], "for-anyone");
    assert!([1, 2].contains(&got[1]["mule"].as_u64().unwrap()));

    let wrong = server.get("/msg?to=9&text=nobody");
    assert_eq!(wrong.status, 500);
    assert!(wrong.text().contains("ValueError") && wrong.text().contains("no mule 9"));
    let farm = server.get("/farm?farm=nowhere&text=x");
    assert!(
        farm.text().contains("no farm named 'nowhere'"),
        "{}",
        farm.text()
    );
    server.stop();
}

/// A farm's messages go to its mules only (never to a mule outside it), each once.
#[test]
fn farm_messages_reach_one_of_its_mules() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mule = format!("--mule={echo}");
    let mut server = builder(&out, &[&mule, &mule, &mule, "--farm", "busy:2,3"]).start();
    wait_named(&server, &out, "start", 3);
    for n in 0..10 {
        ok(&server, &format!("/farm?farm=busy&text=f{n}"));
    }
    ok(&server, "/msg?to=busy&text=via-mule-msg");
    let got = wait_named(&server, &out, "got", 11);
    let mut seen = texts(&got);
    seen.sort();
    let mut expected: Vec<String> = (0..10).map(|n| format!("f{n}")).collect();
    expected.push("via-mule-msg".into());
    expected.sort();
    assert_eq!(seen, expected, "each farm message exactly once");
    assert!(
        got.iter().all(|e| e["mule"] == 2 || e["mule"] == 3),
        "only the farm's mules: {got:?}"
    );
    server.stop();
}

/// `mule = module:callable`: the callable runs in the mule, which is respawned (a new pid)
/// each time it returns.
#[test]
fn a_mule_callable_runs_and_is_respawned_when_it_returns() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let mut server = builder(&out, &["--mule", "mule_once:run"]).start();
    let called = wait_named(&server, &out, "called", 2);
    assert!(called.iter().all(|e| e["mule"] == 1), "{called:?}");
    assert_ne!(called[0]["pid"], called[1]["pid"], "respawned: {called:?}");
    server.wait_for_log("mule 1 started", LIMIT);
    server.stop();
}

/// uwsgidecorators' programmed mules: @mule(1) runs once in mule 1 (then its message loop),
/// @muleloop(2) again and again in mule 2 (one process), @farm('pool') gets each message
/// of farm pool in its mule, exactly once.
#[test]
fn mule_muleloop_and_farm_decorators_program_their_mules() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let extra = ["--mules", "3", "--farm", "pool:3"];
    let mut server = builder_of("mule_decorated", &out, &extra).start();
    let looped = wait_named(&server, &out, "muleloop", 4);
    assert!(looped.iter().all(|e| e["mule"] == 2), "{looped:?}");
    assert!(
        looped.iter().all(|e| e["pid"] == looped[0]["pid"]),
        "one process loops, not a respawned one: {looped:?}"
    );
    for n in 0..5 {
        ok(&server, &format!("/farm?farm=pool&text=p{n}"));
    }
    let farmed = wait_named(&server, &out, "farmed", 5);
    assert_eq!(texts(&farmed), ["p0", "p1", "p2", "p3", "p4"]);
    assert!(farmed.iter().all(|e| e["mule"] == 3), "{farmed:?}");
    // Mule 1 went on to its message loop after @mule(1): a message still reaches it.
    ok(&server, "/msg?to=1&text=after-once");
    let hooked = wait_named(&server, &out, "hooked", 1);
    assert_eq!(
        (&hooked[0]["text"], &hooked[0]["mule"]),
        (&"after-once".into(), &1.into())
    );
    let once = named(&out, "mule-once");
    assert_eq!(once.len(), 1, "{once:?}");
    assert_eq!(once[0]["mule"], 1);
    assert_eq!(once[0]["pid"], hooked[0]["pid"], "the same mule 1");
    server.stop();
}

/// @mulefunc: calling the function in a worker runs it in a mule with its arguments
/// (pickled); @mulefunc('busy') runs it in a mule of farm busy.
#[test]
fn mulefunc_runs_the_call_in_a_mule() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let mut server = builder(&out, &["--mules", "3", "--farm", "busy:3"]).start();
    ok(&server, "/mulefunc?tag=first");
    ok(&server, "/farmfunc?tag=farmed");
    let call = wait_named(&server, &out, "mulefunc", 1);
    assert_eq!(call[0]["tag"], "first");
    assert_eq!(call[0]["more"], serde_json::json!([1, [2, 3]]));
    assert_eq!(
        call[0]["options"],
        serde_json::json!({"key": {"nested": true}})
    );
    assert!(call[0]["mule"].as_u64().unwrap() >= 1, "{call:?}");
    let farmed = wait_named(&server, &out, "farmfunc", 1);
    assert_eq!(farmed[0]["mule"], 3);
    assert_eq!(farmed[0]["in_busy"], true);
    server.stop();
}

/// Several requests each send many messages at once: every message arrives exactly once,
/// and those of one sender to one mule arrive in the order sent.
#[test]
fn messages_arrive_once_each_in_order_per_sender_under_load() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mule = format!("--mule={echo}");
    let mut server = builder(&out, &[&mule, &mule, "--threads", "4"]).start();
    wait_named(&server, &out, "start", 2);
    let addr = server.addr();
    let senders: Vec<_> = (0..6)
        .map(|s| {
            // Even senders to mule 1 (one reader: order is observable), odd ones to any mule.
            let to = if s % 2 == 0 { "&to=1" } else { "" };
            get_in_background(addr, &format!("/burst?sender=s{s}&count=300{to}"))
        })
        .collect();
    for sender in senders {
        let response = sender.join().unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
    }
    wait_named(&server, &out, "got", 1800);
    std::thread::sleep(Duration::from_millis(300));
    let got = named(&out, "got");
    let mut per_sender: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for text in texts(&got) {
        let (sender, n) = text.split_once(':').unwrap();
        per_sender
            .entry(sender.to_string())
            .or_default()
            .push(n.parse().unwrap());
    }
    assert_eq!(per_sender.len(), 6);
    for (sender, numbers) in &per_sender {
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..300).collect::<Vec<u32>>(),
            "{sender}: each message exactly once"
        );
        if ["s0", "s2", "s4"].contains(&sender.as_str()) {
            assert_eq!(numbers, &sorted, "{sender}: in the order sent");
        }
    }
    assert_eq!(got.len(), 1800);
    server.stop();
}

/// A message of 64 KiB is delivered; one byte more raises ValueError naming the limit, and
/// the worker serves on.
#[test]
fn a_message_over_64_kib_raises_and_the_worker_serves_on() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(&out, &[&format!("--mule={echo}"), "--processes", "1"])
        .workers(1)
        .start();
    wait_named(&server, &out, "start", 1);
    let before: Value = serde_json::from_str(&ok(&server, "/id")).unwrap();
    ok(&server, "/big?size=65536&to=1");
    let got = wait_named(&server, &out, "got", 1);
    assert_eq!(got[0]["size"], 65536);
    let refused = server.get("/big?size=65537&to=1");
    assert_eq!(refused.status, 500);
    assert!(
        refused.text().starts_with("ValueError:") && refused.text().contains("65536"),
        "{}",
        refused.text()
    );
    let after: Value = serde_json::from_str(&ok(&server, "/id")).unwrap();
    assert_eq!(after["pid"], before["pid"], "the same worker serves on");
    ok(&server, "/msg?to=1&text=still-works");
    wait_events(&server, &out, "got", "a later message", |e| {
        e.iter().any(|e| e["text"] == "still-works")
    });
    server.stop();
}

/// A mule SIGKILLed with messages queued: they all reach the respawned mule, once each;
/// the message it held (handed to Python, unfinished) is reported lost in the log.
#[test]
fn a_mule_killed_with_queued_messages_leaves_them_to_its_successor() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(&out, &[&format!("--mule={echo}")]).start();
    wait_named(&server, &out, "start", 1);
    ok(&server, "/msg?to=1&text=block");
    let blocked = wait_named(&server, &out, "got", 1);
    let pid = blocked[0]["pid"].as_i64().unwrap();
    ok(&server, "/burst?sender=q&count=200&to=1");
    ok(&server, "/burst?sender=any&count=50");
    kill(pid, "KILL");
    wait_named(&server, &out, "got", 251);
    std::thread::sleep(Duration::from_millis(300));
    let got = named(&out, "got");
    let after: Vec<String> = texts(&got[1..]);
    let expected: Vec<String> = (0..200)
        .map(|n| format!("q:{n}"))
        .chain((0..50).map(|n| format!("any:{n}")))
        .collect();
    let mut sorted = after.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted, "every queued message once");
    assert!(got[1..].iter().all(|e| e["pid"] != pid));
    let mule_one: Vec<&String> = after.iter().filter(|t| t.starts_with("q:")).collect();
    let in_order: Vec<String> = (0..200).map(|n| format!("q:{n}")).collect();
    assert_eq!(mule_one, in_order.iter().collect::<Vec<_>>(), "in order");
    let log = server.log();
    assert!(
        log.contains("mule 1 died while handling a message of 5 bytes: that message is LOST"),
        "{log}"
    );
    server.stop();
}

/// uwsgi signals with the targets mule2, mules, mule and spooler reach those processes.
#[test]
fn signals_reach_mules_and_spoolers() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let spool = work.path().join("spool");
    let mut server = builder(
        &out,
        &[
            "--mules",
            "2",
            "--spooler",
            spool.to_str().unwrap(),
            "--spooler-frequency",
            "1",
        ],
    )
    .start();
    wait_events(&server, &out, "postfork", "two mules and a spooler", |e| {
        e.iter().filter(|e| e["mule"].as_u64() > Some(0)).count() >= 2
            && e.iter().any(|e| e["in_spooler"] == true)
    });
    ok(&server, "/signal?num=32");
    let first = wait_named(&server, &out, "signal", 1);
    assert_eq!(first[0]["mule"], 2, "mule2");
    ok(&server, "/signal?num=31");
    let all = wait_named(&server, &out, "signal", 3);
    let mules: BTreeSet<u64> = all[1..]
        .iter()
        .map(|e| e["mule"].as_u64().unwrap())
        .collect();
    assert_eq!(mules, BTreeSet::from([1, 2]), "mules: {all:?}");
    ok(&server, "/signal?num=30");
    let one = wait_named(&server, &out, "signal", 4);
    assert!(one[3]["mule"].as_u64().unwrap() >= 1);
    assert_eq!(one[3]["num"], 30);
    ok(&server, "/signal?num=33");
    let spooled = wait_named(&server, &out, "signal", 5);
    assert_eq!(spooled[4]["in_spooler"], true, "{spooled:?}");
    assert_eq!(spooled[4]["mule"], 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(named(&out, "signal").len(), 5, "each delivered once");
    server.stop();
}

/// threads = 2 with py-call-uwsgi-fork-hooks: mules start once (no crash loop), run the
/// post-fork hooks, serve @mulefunc calls, and a programmed mule's two threads both wait.
#[test]
fn mules_work_with_threads_and_fork_hooks() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(
        &out,
        &[
            "--threads",
            "2",
            "--enable-threads",
            "--py-call-uwsgi-fork-hooks",
            "--mules",
            "1",
            &format!("--mule={echo}"),
            "--env",
            "MULE_THREADS=2",
            "--farm",
            "busy:1",
        ],
    )
    .start();
    wait_events(
        &server,
        &out,
        "postfork",
        "post-fork hooks in both mules",
        |e| e.iter().filter(|e| e["mule"].as_u64() > Some(0)).count() >= 2,
    );
    // To the looping mule's farm: a call for any mule could be taken by the programmed
    // mule 2, which reads the shared queue too (as uWSGI's programmed mules do).
    ok(&server, "/farmfunc?tag=threaded");
    let call = wait_named(&server, &out, "farmfunc", 1);
    assert_eq!(call[0]["mule"], 1);
    ok(&server, "/msg?to=2&text=block");
    // One thread holds `block` before the next message is sent: sent together, the two
    // threads race to record them and the order of the records says nothing.
    let blocked = wait_named(&server, &out, "got", 1);
    assert_eq!(blocked[0]["text"], "block");
    ok(&server, "/msg?to=2&text=second-thread");
    let got = wait_named(&server, &out, "got", 2);
    assert_eq!(got[1]["text"], "second-thread");
    assert_ne!(got[0]["thread"], got[1]["thread"], "another thread took it");
    std::thread::sleep(Duration::from_secs(1));
    let log = server.log();
    assert!(!log.contains("respawning"), "no mule died: {log}");
    assert!(!log.contains("SIGSEGV"), "{log}");
    server.stop();
}

/// A reload replaces the mules (the old ones gone, as many new ones) and a stop leaves no
/// mule behind.
#[test]
fn stop_and_reload_leave_no_mule_behind() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(
        &out,
        &["--mules", "2", &format!("--mule={echo}"), "--auto-procname"],
    )
    .start();
    let master = server.pid();
    let deadline = Instant::now() + LIMIT;
    while mule_pids(master).len() < 3 {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = mule_pids(master);
    server.signal(1);
    let deadline = Instant::now() + LIMIT;
    loop {
        let now = mule_pids(master);
        if now.len() == 3 && now.is_disjoint(&before) && before.iter().all(|p| !alive(*p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "before {before:?}, now {now:?}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&server, "/msg?to=3&text=after-reload");
    wait_events(&server, &out, "got", "a message after the reload", |e| {
        e.iter().any(|e| e["text"] == "after-reload")
    });
    let last = mule_pids(master);
    assert!(server.stop().success());
    for pid in before.iter().chain(&last) {
        assert!(
            !alive(*pid),
            "mule {pid} outlived the stop\n{}",
            server.log()
        );
    }
}

/// Bad mule configuration is refused at start, naming the option.
#[test]
fn bad_mule_options_are_refused_clearly() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let mut farm = builder(&out, &["--mules", "1", "--farm", "busy:1,2"])
        .no_wait()
        .start();
    assert!(!farm.wait_exit(LIMIT).success());
    assert!(
        farm.log()
            .contains("farm busy: mule 2 does not exist (1 mule(s))"),
        "{}",
        farm.log()
    );
    let mut program = builder(&out, &["--mule", "worker"]).no_wait().start();
    assert!(!program.wait_exit(LIMIT).success());
    assert!(
        program.log().contains("option 'mule' = 'worker'"),
        "{}",
        program.log()
    );
}

/// Messages queued for a mule at a reload are read by the new image's mule (the queues are
/// handed over), the one the old mule held is logged lost; at a stop, what is still queued
/// is counted in the log as lost.
#[test]
fn a_reload_keeps_queued_messages_and_a_stop_reports_the_rest() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let echo = app("mule_echo.py");
    let mut server = builder(&out, &[&format!("--mule={echo}")]).start();
    wait_named(&server, &out, "start", 1);
    ok(&server, "/msg?to=1&text=block");
    wait_named(&server, &out, "got", 1);
    ok(&server, "/burst?sender=r&count=20&to=1");
    server.signal(1);
    let got = wait_named(&server, &out, "got", 21);
    let after: Vec<String> = texts(&got[1..]);
    assert_eq!(
        after,
        (0..20).map(|n| format!("r:{n}")).collect::<Vec<_>>(),
        "the new mule reads the queue in order; log:\n{}",
        server.log()
    );
    assert!(server
        .log()
        .contains("mule 1 died while handling a message of 5 bytes: that message is LOST"));

    ok(&server, "/msg?to=1&text=block");
    wait_named(&server, &out, "got", 22);
    ok(&server, "/burst?sender=s&count=5&to=1");
    ok(&server, "/burst?sender=t&count=3");
    assert!(server.stop().success());
    let log = server.log();
    assert!(
        log.contains("stop: mule messages never delivered (LOST): 3 for '*', 5 for '1'"),
        "{log}"
    );
}

/// A spooler task and a mule send mule messages too (from a spooler to mule 1, from mule 1
/// to mule 2).
#[test]
fn spoolers_and_mules_send_messages_too() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("events.jsonl");
    let spool = work.path().join("spool");
    let echo = app("mule_echo.py");
    let mule = format!("--mule={echo}");
    let mut server = builder(
        &out,
        &[
            &mule,
            &mule,
            "--spooler",
            spool.to_str().unwrap(),
            "--spooler-frequency",
            "1",
        ],
    )
    .start();
    wait_named(&server, &out, "start", 2);
    ok(&server, "/relay?text=from-a-task");
    ok(&server, "/msg?to=1&text=relay:hop");
    let got = wait_events(&server, &out, "got", "both relayed", |e| {
        e.iter().any(|e| e["text"] == "spooled:from-a-task")
            && e.iter().any(|e| e["text"] == "from-mule:hop")
    });
    let spooled = got
        .iter()
        .find(|e| e["text"] == "spooled:from-a-task")
        .unwrap();
    assert_eq!(spooled["mule"], 1);
    let hopped = got.iter().find(|e| e["text"] == "from-mule:hop").unwrap();
    assert_eq!(hopped["mule"], 2);
    server.stop();
}
