//! A fixed-rate HTTP load generator for the benchmark (`benches/bench.py`, scenario
//! `hello-rate`): latency at the same offered load for every server, where wrk's closed loop
//! measures only saturation and fairness.
//!
//! Each of N keep-alive connections sends GET requests on a fixed schedule (rate / N per
//! second) and the latency of a request counts from when it was due, not from when it was
//! sent, so a stalled server cannot hide its stall (no coordinated omission). A server that
//! closes the connection after a response gets a new connection for the next request.
//!
//! usage: fixed_rate HOST:PORT RATE CONNECTIONS SECONDS [PATH]
//! prints one JSON object: requests, errors, reconnects, p50/p90/p99/p999/max in ms.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Outcome {
    latencies_us: Vec<u32>,
    errors: u64,
    reconnects: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: fixed_rate HOST:PORT RATE CONNECTIONS SECONDS [PATH]");
        std::process::exit(2);
    }
    let address = args[1].clone();
    let rate: f64 = args[2].parse().expect("RATE: requests per second");
    let connections: usize = args[3].parse().expect("CONNECTIONS");
    let seconds: f64 = args[4].parse().expect("SECONDS");
    let path = args.get(5).cloned().unwrap_or_else(|| "/".into());
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now() + Duration::from_millis(100);
    let workers: Vec<_> = (0..connections)
        .map(|index| {
            let (address, path) = (address.clone(), path.clone());
            // Spread the connections' schedules evenly over one interval.
            let offset = interval.mul_f64(index as f64 / connections as f64);
            std::thread::spawn(move || run(&address, &path, start + offset, interval, duration))
        })
        .collect();
    let mut all = Outcome {
        latencies_us: Vec::new(),
        errors: 0,
        reconnects: 0,
    };
    for worker in workers {
        let outcome = worker.join().expect("load thread");
        all.latencies_us.extend(outcome.latencies_us);
        all.errors += outcome.errors;
        all.reconnects += outcome.reconnects;
    }
    all.latencies_us.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((all.latencies_us.len() as f64 * p).ceil() as usize).saturating_sub(1);
        all.latencies_us[index.min(all.latencies_us.len() - 1)] as f64 / 1000.0
    };
    println!(
        "{{\"requests\": {}, \"errors\": {}, \"reconnects\": {}, \"rps\": {:.1}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"p99_ms\": {:.3}, \"p999_ms\": {:.3}, \"max_ms\": {:.3}}}",
        all.latencies_us.len(),
        all.errors,
        all.reconnects,
        all.latencies_us.len() as f64 / seconds,
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(0.999),
        percentile(1.0)
    );
}

fn run(
    address: &str,
    path: &str,
    first: Instant,
    interval: Duration,
    duration: Duration,
) -> Outcome {
    let mut outcome = Outcome {
        latencies_us: Vec::new(),
        errors: 0,
        reconnects: 0,
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let end = first + duration;
    let mut stream: Option<BufReader<TcpStream>> = None;
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if stream.is_none() {
            match TcpStream::connect(address) {
                Ok(s) => {
                    prepare(&s);
                    stream = Some(BufReader::new(s));
                }
                Err(_) => {
                    outcome.errors += 1;
                    due += interval;
                    continue;
                }
            }
        }
        let reused = outcome.latencies_us.len() as u64 + outcome.errors > 0;
        let mut result = exchange(
            stream.as_mut().expect("connected above"),
            request.as_bytes(),
        );
        if result.is_err() && reused {
            // A kept-alive connection the server closed in between (as uWSGI's http-socket
            // does after each response): one retry on a new connection, as clients do.
            outcome.reconnects += 1;
            result = TcpStream::connect(address).and_then(|s| {
                prepare(&s);
                let mut fresh = BufReader::new(s);
                let kept = exchange(&mut fresh, request.as_bytes());
                stream = Some(fresh);
                kept
            });
        }
        match result {
            Ok(keep_alive) => {
                outcome
                    .latencies_us
                    .push(due.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if !keep_alive {
                    stream = None;
                    outcome.reconnects += 1;
                }
            }
            Err(_) => {
                outcome.errors += 1;
                stream = None;
            }
        }
        due += interval;
    }
    outcome
}

/// No delay for small writes; a response that takes longer than this is an error (a server
/// that starves a connection must not hang the benchmark).
fn prepare(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
}

/// Sends one request and reads its response; returns whether the connection stays open.
fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<bool> {
    stream.get_mut().write_all(request)?;
    let mut length = 0usize;
    let mut keep_alive = true;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if first {
            if !line.starts_with("HTTP/1.") {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            first = false;
            continue;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                keep_alive = !value.trim().eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(keep_alive)
}
