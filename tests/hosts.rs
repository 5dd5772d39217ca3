//! Several hosts behind a real nginx: three "hosts" built with network namespaces and veth
//! pairs (addresses in 192.0.2.0/24 that exist only inside the namespaces this test creates;
//! no traffic leaves the machine), one rwsgi per host over TCP (uwsgi protocol, and HTTP in
//! the second test), nginx in a fourth namespace with an upstream of the three, reached by
//! the test through a unix socket. Under a bounded load: a rolling reload, a rolling
//! upgrade (each host's binary replaced, then reloaded), and one host SIGKILLed and
//! brought back. Sent, answered and failed requests are counted per phase.

mod common;

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const HOSTS: usize = 3;
const CLIENTS: usize = 4;

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test; deleted on drop, also when the test fails.
struct Network {
    prefix: String,
}

impl Network {
    fn build(tag: &str) -> Network {
        // Namespaces a killed earlier run left behind.
        if let Ok(list) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&list.stdout).lines() {
                let name = line.split_whitespace().next().unwrap_or("");
                let stale = name
                    .strip_prefix("rwsgi-hosts-")
                    .and_then(|rest| rest.split('-').next())
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                if stale {
                    let _ = Command::new("ip").args(["netns", "del", name]).status();
                }
            }
        }
        let network = Network {
            prefix: format!("rwsgi-hosts-{}-{tag}", std::process::id()),
        };
        let lb = network.lb();
        ip(&["netns", "add", &lb]);
        ip(&["-n", &lb, "link", "set", "lo", "up"]);
        ip(&["-n", &lb, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lb, "addr", "add", "192.0.2.1/24", "dev", "br0"]);
        ip(&["-n", &lb, "link", "set", "br0", "up"]);
        for i in 1..=HOSTS {
            let host = network.host(i);
            let lb_end = format!("lbv{i}");
            ip(&["netns", "add", &host]);
            ip(&["-n", &host, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &lb, "link", "add", &lb_end, "type", "veth", "peer", "name", "eth0", "netns",
                &host,
            ]);
            ip(&["-n", &lb, "link", "set", &lb_end, "master", "br0", "up"]);
            ip(&[
                "-n",
                &host,
                "addr",
                "add",
                &format!("{}/24", address(i)),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &host, "link", "set", "eth0", "up"]);
        }
        network
    }

    fn lb(&self) -> String {
        format!("{}-lb", self.prefix)
    }

    fn host(&self, i: usize) -> String {
        format!("{}-h{i}", self.prefix)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in std::iter::once(self.lb()).chain((1..=HOSTS).map(|i| self.host(i))) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn address(i: usize) -> String {
    format!("192.0.2.{}", 10 + i)
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Uwsgi,
    Http,
}

const PORT: u16 = 3031;

/// One host's rwsgi: its own copy of the binary (replaced by the rolling upgrade), run in
/// the host's namespace.
fn start_host(network: &Network, i: usize, binary: &Path, proto: Proto) -> Server {
    let listen = match proto {
        Proto::Uwsgi => "--uwsgi-socket",
        Proto::Http => "--http-socket",
    };
    let server = server()
        // `sh -c` runs the host's binary in place of the harness's one (its $1).
        .wrapped([
            "ip",
            "netns",
            "exec",
            &network.host(i),
            "sh",
            "-c",
            "shift; exec \"$0\" \"$@\"",
            binary.to_str().unwrap(),
        ])
        .args([
            "--chdir",
            apps_dir().to_str().unwrap(),
            "--module",
            "pep3333",
            "--processes",
            "2",
            "--disable-logging",
            "--env",
            &format!("RWSGI_TEST_HOST={i}"),
            listen,
            &format!("{}:{PORT}", address(i)),
        ])
        .workers(2)
        .start();
    server.wait_for_log("worker 2 ready", Duration::from_secs(30));
    server.wait_for_log("worker 1 ready", Duration::from_secs(30));
    server
}

/// The nginx configuration of README's "Several hosts" section, with this test's paths.
fn nginx_conf(dir: &Path, proto: Proto) -> String {
    let prefix = dir.display();
    let servers: String = (1..=HOSTS)
        .map(|i| {
            format!(
                "    server {}:{PORT} max_fails=1 fail_timeout=2s;\n",
                address(i)
            )
        })
        .collect();
    let (keepalive, location) = match proto {
        Proto::Uwsgi => (
            "",
            "      include /etc/nginx/uwsgi_params;\n      uwsgi_pass app;\n      uwsgi_next_upstream error timeout;\n      uwsgi_next_upstream_tries 3;\n      uwsgi_connect_timeout 1s;\n      uwsgi_read_timeout 30s;\n",
        ),
        Proto::Http => (
            "    keepalive 16;\n",
            "      proxy_pass http://app;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n      proxy_next_upstream error timeout;\n      proxy_next_upstream_tries 3;\n      proxy_connect_timeout 1s;\n      proxy_read_timeout 30s;\n",
        ),
    };
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
         \n  upstream app {{\n{servers}{keepalive}  }}\n  server {{\n    listen unix:{prefix}/front.sock;\n    location / {{\n{location}    }}\n  }}\n}}\n"
    )
}

struct Nginx {
    child: std::process::Child,
    front: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_nginx(network: &Network, dir: &Path, proto: Proto) -> Nginx {
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, proto)).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &network.lb(), "/usr/sbin/nginx", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx (tests/run installs it)");
    let front = dir.join("front.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&front).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, front }
}

const PHASES: [&str; 5] = [
    "warm-up",
    "rolling reload",
    "rolling upgrade",
    "host 2 SIGKILLed, down",
    "host 2 restarted",
];

/// Requests counted by the phase in which they were sent.
#[derive(Default)]
struct Counts {
    phase: AtomicUsize,
    sent: [AtomicU64; 5],
    answered: [AtomicU64; 5],
    failed: [AtomicU64; 5],
    /// Answers by host (SERVER_NAME seen by the application), per phase.
    by_host: [[AtomicU64; HOSTS]; 5],
    /// (phase, what went wrong) of each failure.
    failures: Mutex<Vec<(&'static str, String)>>,
    /// Set once host 2's master was SIGKILLed and reaped (its workers die with it).
    host2_dead: AtomicBool,
    /// Answers by host 2 to requests sent after `host2_dead` was set: must stay 0.
    host2_answered_when_dead: AtomicU64,
}

/// One request through nginx (`/osenv?RWSGI_TEST_HOST`); the host that answered it.
fn get_through(front: &Path) -> Result<usize, String> {
    let mut stream = UnixStream::connect(front).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET /osenv?RWSGI_TEST_HOST HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let response =
        read_response(&mut BufReader::new(stream), false).ok_or("no response".to_string())?;
    if response.status != 200 {
        return Err(format!("status {}: {}", response.status, response.text()));
    }
    // Each host's rwsgi sets RWSGI_TEST_HOST=N for its application.
    let host = response.text();
    host.parse::<usize>()
        .ok()
        .filter(|n| (1..=HOSTS).contains(n))
        .map(|n| n - 1)
        .ok_or_else(|| format!("answered by an unknown host: {host:?}"))
}

/// Bounded load: CLIENTS sequential clients, each pausing 5 ms between requests.
fn load(
    front: PathBuf,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|_| {
            let (front, counts, stop) = (front.clone(), counts.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let phase = counts.phase.load(Ordering::Relaxed);
                    let host2_dead = counts.host2_dead.load(Ordering::SeqCst);
                    counts.sent[phase].fetch_add(1, Ordering::Relaxed);
                    match get_through(&front) {
                        Ok(host) => {
                            if host2_dead && host == 1 {
                                counts
                                    .host2_answered_when_dead
                                    .fetch_add(1, Ordering::Relaxed);
                            }
                            counts.answered[phase].fetch_add(1, Ordering::Relaxed);
                            counts.by_host[phase][host].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(what) => {
                            counts.failed[phase].fetch_add(1, Ordering::Relaxed);
                            counts.failures.lock().unwrap().push((PHASES[phase], what));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

/// Waits until `server`'s log has `needle` more than `before` times.
fn wait_count(server: &Server, needle: &str, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log().matches(needle).count() <= before {
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} again; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exe_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn several_hosts(proto: Proto, tag: &str) {
    let network = Network::build(tag);
    let dir = tempfile::tempdir().unwrap();
    let binaries: Vec<PathBuf> = (1..=HOSTS)
        .map(|i| {
            let path = dir.path().join(format!("rwsgi-h{i}"));
            std::fs::copy(bin(), &path).unwrap();
            path
        })
        .collect();
    let mut hosts: Vec<Server> = (1..=HOSTS)
        .map(|i| start_host(&network, i, &binaries[i - 1], proto))
        .collect();
    let nginx = start_nginx(&network, dir.path(), proto);
    for host in &hosts {
        assert!(host.log().contains("ready"));
    }
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(nginx.front.clone(), counts.clone(), stop.clone());
    let next_phase = |counts: &Counts| counts.phase.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    next_phase(&counts);

    // Rolling reload: SIGHUP each host, waiting for its new workers to serve and then a
    // moment under load while its previous workers finish and exit.
    for host in &hosts {
        let before = host.log().matches("reload complete").count();
        host.signal(1);
        wait_count(host, "reload complete", before);
        std::thread::sleep(Duration::from_millis(300));
    }
    next_phase(&counts);

    // Rolling upgrade: a new binary renamed over each host's (as a package upgrade does),
    // then a reload, which runs the new file.
    for (i, host) in hosts.iter().enumerate() {
        let new = dir.path().join(format!("rwsgi-h{}.new", i + 1));
        let mut bytes = std::fs::read(bin()).unwrap();
        bytes.extend_from_slice(format!("\nrwsgi-upgrade-{}\n", i + 1).as_bytes());
        std::fs::write(&new, bytes).unwrap();
        std::fs::set_permissions(&new, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::rename(&new, &binaries[i]).unwrap();
        assert!(
            exe_of(host.pid()).ends_with("(deleted)"),
            "{}",
            exe_of(host.pid())
        );
        let before = host.log().matches("reload complete").count();
        host.signal(1);
        wait_count(host, "reload complete", before);
        assert_eq!(
            exe_of(host.pid()),
            binaries[i].display().to_string(),
            "runs the new binary"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    next_phase(&counts);

    // One host killed outright (its workers die with it), then started again.
    hosts[1].signal(9);
    let _ = hosts[1].wait_exit(Duration::from_secs(10));
    // Requests sent before the kill may still be answered by host 2 (however late the
    // client reads the answer), none sent after it.
    counts.host2_dead.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    // Cleared before host 2 binds again, so no request sent while it was set can reach the
    // new host 2.
    counts.host2_dead.store(false, Ordering::SeqCst);
    hosts[1] = start_host(&network, 2, &binaries[1], proto);
    next_phase(&counts);
    // Long enough for nginx's fail_timeout (2 s) to pass and the host to be chosen again.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut failures = counts.failures.lock().unwrap().clone();
    failures.truncate(20);
    let mut table = String::new();
    for (phase, name) in PHASES.iter().enumerate() {
        let hosts: Vec<String> = (0..HOSTS)
            .map(|h| load(&counts.by_host[phase][h]).to_string())
            .collect();
        table.push_str(&format!(
            "{name:<24} sent {:>5}  answered {:>5}  failed {:>2}  (answered by host 1/2/3: {})\n",
            load(&counts.sent[phase]),
            load(&counts.answered[phase]),
            load(&counts.failed[phase]),
            hosts.join("/")
        ));
    }
    let protocol = if proto == Proto::Http {
        "http"
    } else {
        "uwsgi"
    };
    eprintln!("several hosts ({protocol}):\n{table}failures: {failures:?}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("several-hosts-{protocol}.txt"));
    std::fs::write(&out, format!("{table}failures: {failures:?}\n")).unwrap();
    let nginx_log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    for (phase, name) in PHASES.iter().enumerate() {
        let (sent, answered, failed) = (
            load(&counts.sent[phase]),
            load(&counts.answered[phase]),
            load(&counts.failed[phase]),
        );
        assert!(sent > 0 && answered + failed == sent, "{name}:\n{table}");
        if phase == 3 {
            // Only requests in flight on the killed host may fail (nginx retries the rest
            // on another host): at most one per client.
            assert!(failed <= CLIENTS as u64, "{name}:\n{table}{failures:?}");
        } else {
            assert_eq!(
                failed, 0,
                "{name}:\n{table}{failures:?}\nnginx:\n{nginx_log}"
            );
        }
    }
    for host in 0..HOSTS {
        assert!(
            load(&counts.by_host[0][host]) > 0,
            "host {} served:\n{table}",
            host + 1
        );
    }
    assert_eq!(
        load(&counts.host2_answered_when_dead),
        0,
        "the killed host answered:\n{table}"
    );
    assert!(
        load(&counts.by_host[4][1]) > 0,
        "host 2 came back:\n{table}"
    );
    // Every host served after all that.
    drop(nginx);
    drop(hosts);
}

#[test]
fn three_hosts_over_uwsgi_behind_nginx_reload_upgrade_and_lose_one() {
    several_hosts(Proto::Uwsgi, "u");
}

#[test]
fn three_hosts_over_http_behind_nginx_reload_upgrade_and_lose_one() {
    several_hosts(Proto::Http, "h");
}
