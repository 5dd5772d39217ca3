//! Metrics and the status page, checked with the real consumers: Prometheus's own linter
//! (`promtool check metrics`), a real Prometheus server scraping rwsgi every second and
//! answering `increase`/`rate` queries, and (see `status_page_*`) headless Chromium.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The address a server logged for `what` ("metrics (Prometheus text)" or "stats server").
fn logged_address(server: &Server, what: &str) -> SocketAddr {
    let log = server.wait_for_log(&format!("{what} on "), Duration::from_secs(10));
    log.lines()
        .find_map(|l| l.split(&format!("{what} on ")).nth(1))
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {what} address in the log:\n{log}"))
}

fn http_get(addr: SocketAddr, path: &str, accept: &str) -> Response {
    request(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn promtool_check(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; tests/run installs it)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics found problems:\n{report}\nin:\n{text}"
    );
}

#[test]
fn metrics_count_requests_by_class_respawns_and_reloads_and_promtool_accepts_them() {
    // Fixed ports, as in production: a reloaded master binds them again.
    let (metrics_port, stats_port) = (free_port(), free_port());
    let server = pep3333_builder()
        .args(["--processes", "2"])
        .args(["--metrics", &format!("127.0.0.1:{metrics_port}")])
        .args([
            "--stats",
            &format!("127.0.0.1:{stats_port}"),
            "--stats-http",
        ])
        .workers(2)
        .http()
        .start();
    let metrics = logged_address(&server, "metrics (Prometheus text)");
    let stats = logged_address(&server, "stats server");
    for _ in 0..7 {
        assert_eq!(server.get("/pid").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(server.get("/status/404").status, 404);
    }
    assert_eq!(server.get("/error").status, 500);
    let slow = get_in_background(server.addr(), "/sleep?1.5");
    let deadline = Instant::now() + Duration::from_secs(10);
    let during = loop {
        let text = http_get(metrics, "/metrics", "*/*").text();
        if sample(&text, "rwsgi_requests_in_flight") == 1.0 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(sample(&during, "rwsgi_requests_in_flight"), 1.0, "{during}");
    assert_eq!(sample(&during, "rwsgi_workers{state=\"busy\"}"), 1.0);
    assert_eq!(sample(&during, "rwsgi_workers{state=\"idle\"}"), 1.0);
    assert_eq!(slow.join().unwrap().status, 200);

    // A request is counted once its last byte is written, which may be just after the
    // client read it: wait for the twelfth.
    let listener = format!("listener=\"{}\"", server.addr());
    let count = format!("rwsgi_request_duration_seconds_count{{{listener}}}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&http_get(metrics, "/metrics", "*/*").text(), &count) < 12.0 {
        assert!(
            Instant::now() < deadline,
            "the slow request was never counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = http_get(metrics, "/metrics", "*/*");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = response.text();
    let class = |c: &str| {
        sample(
            &text,
            &format!("rwsgi_requests_total{{{listener},class=\"{c}\"}}"),
        )
    };
    assert_eq!(class("2xx"), 8.0, "{text}");
    assert_eq!(class("4xx"), 3.0);
    assert_eq!(class("5xx"), 1.0);
    assert_eq!(
        sample(
            &text,
            &format!("rwsgi_request_duration_seconds_count{{{listener}}}")
        ),
        12.0
    );
    // The 1.5 s request is above the 1 s bucket and within 2.5 s.
    let bucket = |le: &str| {
        sample(
            &text,
            &format!("rwsgi_request_duration_seconds_bucket{{{listener},le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("1"), 11.0);
    assert_eq!(bucket("2.5"), 12.0);
    assert!(
        sample(
            &text,
            &format!("rwsgi_request_duration_seconds_sum{{{listener}}}")
        ) >= 1.5
    );
    assert!(sample(&text, &format!("rwsgi_received_bytes_total{{{listener}}}")) > 12.0 * 40.0);
    assert!(sample(&text, &format!("rwsgi_sent_bytes_total{{{listener}}}")) > 0.0);
    assert_eq!(
        sample(&text, &format!("rwsgi_listen_queue{{{listener}}}")),
        0.0
    );
    assert_eq!(
        sample(&text, &format!("rwsgi_listen_queue_max{{{listener}}}")),
        100.0
    );
    for worker in ["1", "2"] {
        let rss = sample(
            &text,
            &format!("rwsgi_worker_resident_bytes{{worker=\"{worker}\"}}"),
        );
        let pss = sample(
            &text,
            &format!("rwsgi_worker_proportional_bytes{{worker=\"{worker}\"}}"),
        );
        assert!(rss > (1 << 20) as f64 && pss > 0.0 && pss <= rss, "{text}");
    }
    assert_eq!(sample(&text, "rwsgi_generation"), 0.0);
    assert!(sample(&text, "rwsgi_start_time_seconds") > 1.7e9);
    promtool_check(&text);
    // The same text at /metrics of stats-http; the JSON document stays where it was.
    promtool_check(&http_get(stats, "/metrics", "*/*").text());
    let json: serde_json::Value =
        serde_json::from_str(&http_get(stats, "/", "*/*").text()).unwrap();
    assert_eq!(json["workers"].as_array().unwrap().len(), 2);

    // A crash and a reload are counted by cause; counters never go back on a respawn.
    // The worker dies mid-request: the connection closes without an answer.
    let mut stream = connect(server.addr());
    std::io::Write::write_all(&mut stream, b"GET /segfault HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
    server.wait_for_log("respawning in", Duration::from_secs(20));
    let crash = "rwsgi_worker_respawns_total{cause=\"crash\"}";
    assert_eq!(sample(&http_get(metrics, "/", "*/*").text(), crash), 1.0);
    let idle = "rwsgi_workers{state=\"idle\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while sample(&http_get(metrics, "/", "*/*").text(), idle) < 2.0 {
        assert!(
            Instant::now() < deadline,
            "the crashed worker was never replaced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.signal(1);
    server.wait_for_log("reload complete", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        // The reloaded master binds the metrics port again.
        let text = http_get(metrics, "/metrics", "*/*").text();
        if sample(&text, "rwsgi_workers{state=\"idle\"}") == 2.0 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sample(&after, crash), 1.0, "{after}");
    assert_eq!(
        sample(&after, "rwsgi_worker_respawns_total{cause=\"reload\"}"),
        2.0
    );
    assert_eq!(sample(&after, "rwsgi_reloads_total"), 1.0);
    assert_eq!(sample(&after, "rwsgi_generation"), 1.0);
    assert_eq!(
        sample(&after, "rwsgi_start_time_seconds"),
        sample(&text, "rwsgi_start_time_seconds")
    );
    promtool_check(&after);
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Result vector of an instant query at `time` (Unix seconds; None: now), as
    /// (timestamp, value) pairs.
    fn query(&self, promql: &str, time: Option<f64>) -> Vec<(f64, f64)> {
        let mut path = format!("/api/v1/query?query={}", url_encode(promql));
        if let Some(time) = time {
            path.push_str(&format!("&time={time:.3}"));
        }
        let text = http_get(self.addr, &path, "application/json").text();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["status"], "success", "{promql}: {text}");
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let value = &r["value"];
                (
                    value[0].as_f64().unwrap(),
                    value[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// Waits until `promql` (now) gives one value equal to `expected`; returns its time.
    fn wait_for(&self, promql: &str, expected: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.query(promql, None);
            if let [(time, value)] = result[..] {
                if value == expected {
                    return time;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{promql} never gave {expected}: {result:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn prometheus_scrapes_every_second_and_counts_the_requests_sent() {
    let server = pep3333_builder()
        .args(["--processes", "2", "--metrics", "127.0.0.1:0"])
        .workers(2)
        .http()
        .start();
    let metrics = logged_address(&server, "metrics (Prometheus text)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: rwsgi\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (Debian package prometheus; tests/run installs it)");
    let prometheus = Prometheus { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err()
        || http_get(addr, "/-/ready", "*/*").status != 200
    {
        assert!(Instant::now() < deadline, "prometheus never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let series = "sum(rwsgi_requests_total{job=\"rwsgi\",class=\"2xx\"})";
    // A scrape before any request, so the range below starts at zero.
    prometheus.wait_for(series, 0.0);
    prometheus.wait_for("up{job=\"rwsgi\"}", 1.0);
    const SENT: usize = 37;
    for _ in 0..SENT {
        assert_eq!(server.get("/pid").status, 200);
    }
    // The scrape that saw them all; queries evaluated at its timestamp have nothing to
    // extrapolate (the range's first sample is 0, its last is at the evaluation time).
    let seen = prometheus.wait_for(series, SENT as f64);
    let range = 300;
    let samples = prometheus.query(
        "timestamp(rwsgi_requests_total{job=\"rwsgi\",class=\"2xx\"})",
        Some(seen),
    );
    let last_scrape = samples[0].1;
    let increase = prometheus.query(
        &format!("sum(increase(rwsgi_requests_total{{job=\"rwsgi\",class=\"2xx\"}}[{range}s]))"),
        Some(last_scrape),
    );
    assert_eq!(increase.len(), 1, "{increase:?}");
    assert!(
        (increase[0].1 - SENT as f64).abs() < 1e-6,
        "increase() over the requests sent: {increase:?}, expected {SENT}"
    );
    let rate = prometheus.query(
        &format!(
            "sum(rate(rwsgi_requests_total{{job=\"rwsgi\",class=\"2xx\"}}[{range}s])) * {range}"
        ),
        Some(last_scrape),
    );
    assert!(
        (rate[0].1 - SENT as f64).abs() < 1e-6,
        "rate() x range over the requests sent: {rate:?}, expected {SENT}"
    );
    // Every other series it scraped is there too.
    let histogram = prometheus.query(
        "sum(rwsgi_request_duration_seconds_count{job=\"rwsgi\"})",
        Some(last_scrape),
    );
    assert_eq!(histogram[0].1, SENT as f64);

    // The example Grafana dashboard's queries are valid PromQL over these series, and the
    // example scrape configuration is a valid Prometheus configuration.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(examples.join("grafana/rwsgi.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$job", "rwsgi")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "5s")
                .replace("$__range", "1m");
            let result = prometheus.query(&expr, Some(last_scrape));
            assert!(!result.is_empty(), "dashboard query {expr} found no series");
            checked += 1;
        }
    }
    assert!(checked >= 8);
    let config_check = Command::new("promtool")
        .args(["check", "config", "--syntax-only"])
        .arg(examples.join("prometheus/prometheus.yml"))
        .output()
        .unwrap();
    assert!(config_check.status.success(), "{config_check:?}");
}

/// Headless Chromium loading `url`: (rendered DOM, after `budget_ms` of virtual time in which
/// the page's timers and fetches run), and a screenshot at `screenshot`.
fn chromium(url: &str, budget_ms: u32, screenshot: Option<&std::path::Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,900",
    ]);
    command
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={budget_ms}"));
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let out = command
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium (Debian package chromium; tests/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` in a dumped DOM.
fn element_text<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in:\n{dom}"))
        + id.len()
        + 6;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

#[test]
fn status_page_renders_workers_and_a_moving_request_count_in_headless_chromium() {
    let stats_port = free_port();
    let server = pep3333_builder()
        // Threads, so the slow request below leaves room for the others.
        .args(["--processes", "2", "--threads", "4"])
        .args([
            "--stats",
            &format!("127.0.0.1:{stats_port}"),
            "--stats-http",
        ])
        .workers(2)
        .http()
        .start();
    let url = format!("http://127.0.0.1:{stats_port}/");
    // A crash, so the page has a respawn to show.
    let mut stream = connect(server.addr());
    std::io::Write::write_all(&mut stream, b"GET /segfault HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
    server.wait_for_log("respawning in", Duration::from_secs(20));
    let stats: SocketAddr = format!("127.0.0.1:{stats_port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let data: serde_json::Value =
            serde_json::from_str(&http_get(stats, "/status.json", "*/*").text()).unwrap();
        if data["workers"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the crashed worker never came back: {data}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Requests keep coming while the browser looks.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, addr) = (stop.clone(), server.addr());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = request(
                    addr,
                    "GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                );
                assert_eq!(response.status, 200);
                sent += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        })
    };
    // And one request in flight for a while, shown with its age.
    let slow = server.sleeping_in_background("4");

    let first = chromium(&url, 3000, None);
    let rows = first.matches("<tr class=\"worker\"").count();
    assert_eq!(rows, 2, "two worker rows:\n{first}");
    let polls: u32 = first
        .split("data-polls=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the page never polled:\n{first}"));
    assert!(polls >= 2, "the page refreshed {polls} time(s)");
    assert!(
        first.contains("GET /sleep?4"),
        "the request in flight:\n{first}"
    );
    assert!(
        first.contains("<td>crash</td>"),
        "the respawn and its cause:\n{first}"
    );
    assert!(element_text(&first, "rate-now").parse::<f64>().is_ok());
    assert!(element_text(&first, "latency-now").parse::<f64>().is_ok());
    assert!(
        !first.contains("<script src") && !first.contains("<link"),
        "no external assets"
    );
    let count_then: u64 = element_text(&first, "total-requests").parse().unwrap();

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(&url, 3000, Some(&screenshot));
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{}",
        screenshot.display()
    );

    let second = chromium(&url, 2000, None);
    let count_now: u64 = element_text(&second, "total-requests").parse().unwrap();
    assert!(
        count_now > count_then,
        "the request count moved: {count_then} then {count_now}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = load.join().unwrap();
    assert!(sent > 0);
    assert_eq!(slow.join().unwrap().status, 200);
    // uwsgitop and scripts (no text/html in Accept) still get uWSGI's JSON there.
    let json: serde_json::Value =
        serde_json::from_str(&http_get(stats, "/", "*/*").text()).unwrap();
    assert_eq!(json["workers"].as_array().unwrap().len(), 2);
    eprintln!("status page screenshot: {}", screenshot.display());
}

/// A stats-http client slow to send its request (a loaded machine, a browser's early
/// connection) still gets the page it asks for, and the master answers others meanwhile.
#[test]
fn a_slow_stats_http_client_gets_its_page_and_holds_no_one_up() {
    use std::io::{Read, Write};
    let stats_port = free_port();
    let _server = pep3333_builder()
        .args([
            "--stats",
            &format!("127.0.0.1:{stats_port}"),
            "--stats-http",
        ])
        .http()
        .start();
    let stats: SocketAddr = format!("127.0.0.1:{stats_port}").parse().unwrap();
    let mut slow = std::net::TcpStream::connect(stats).unwrap();
    // Connected, silent: meanwhile another client is answered.
    let quick = http_get(stats, "/status.json", "*/*");
    assert_eq!(quick.status, 200);
    assert!(quick.text().contains("\"workers\""), "{}", quick.text());
    std::thread::sleep(Duration::from_millis(600));
    slow.write_all(b"GET / HTTP/1.1\r\nHost: s\r\nAccept: text/html\r\n\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(
        answer.contains("Content-Type: text/html"),
        "the page, not the JSON document: {}",
        &answer[..answer.len().min(300)]
    );
}
