#!/usr/bin/env python3
"""A real application side by side: the Django site in benches/django_site (the admin change
list of 200 products over SQLite, first page of 100 as Django's default, logged in with a
session cookie created at setup, and a template-rendered page of 50) behind nginx, 4 workers, for rwsgi and uWSGI (uwsgi_pass over a unix socket) and
gunicorn sync, gunicorn gthread and granian (proxy_pass, keep-alive upstream).

For each server and page: req/s, p50/p99, server CPU µs per request with its kernel share,
and the total PSS of master and workers after the run; then the PSS of the same server with
16 workers (each worker having served requests), so the cost of an extra worker shows.
The site preloads where the server can (rwsgi and uWSGI by default, gunicorn --preload) and
calls gc.freeze() after loading (benchsite/wsgi.py).

Run it with benches/run-django (which installs Django into target/bench-venv).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

SITE = os.path.join(HERE, "django_site")
PAGES = {"django-admin": "/admin/catalog/product/", "django-page": "/page/"}
SERVERS = ["rwsgi", "uwsgi", "gunicorn-sync", "gunicorn-gthread", "granian"]


def command(name, venv, workers, port, sock, rwsgi):
    py = os.path.join(venv, "bin")
    if name == "rwsgi":
        return [rwsgi, "--chdir", SITE, "--module", "benchsite.wsgi", "--virtualenv", venv,
                "--processes", str(workers), "--disable-logging", "--http-socket", f"127.0.0.1:{port}",
                "--socket", sock, "--listen", "1024"]
    if name == "uwsgi":
        return [f"{py}/uwsgi", "--master", "--processes", str(workers), "--disable-logging", "--chdir", SITE,
                "--module", "benchsite.wsgi", "--virtualenv", venv, "--http-socket", f"127.0.0.1:{port}",
                "--socket", sock, "--listen", "1024", "--die-on-term"]
    if name.startswith("gunicorn"):
        extra = ["-k", "gthread", "--threads", "4"] if name == "gunicorn-gthread" else []
        return [f"{py}/gunicorn", "-w", str(workers), *extra, "--preload", "-b", f"127.0.0.1:{port}",
                "--chdir", SITE, "--log-level", "warning", "benchsite.wsgi:application"]
    if name == "granian":
        return [f"{py}/granian", "--interface", "wsgi", "--workers", str(workers), "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "benchsite.wsgi:application"]
    raise ValueError(name)


def start(name, args, workers, workdir, db):
    port = bench.free_port()
    sock = os.path.join(workdir, f"{name}.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    env = dict(os.environ, BENCH_DJANGO_DB=db, PYTHONPATH=SITE)
    log = open(os.path.join(workdir, f"{name}-{workers}.log"), "w")
    proc = subprocess.Popen(command(name, args.venv, workers, port, sock, args.rwsgi), cwd=SITE, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if not bench.wait_http(port, timeout=60):
        stop(name, proc)
        raise RuntimeError(f"{name} did not start (see {log.name})")
    return proc, port, sock


def stop(name, proc):
    os.killpg(proc.pid, signal.SIGINT if name == "uwsgi" else signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def get(port, path, cookie, timeout=120):
    """One request; whether it was answered 200."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        return answer.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def warm(port, cookie, n):
    """n requests straight to the server (no nginx), spread over its workers."""
    import socket
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(f"GET {PAGES['django-admin']} HTTP/1.1\r\nHost: b\r\nCookie: {cookie}\r\n"
                      "Connection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass


def measure(name, args, workdir, db, cookie):
    cells = {}
    proc, port, sock = start(name, args, 4, workdir, db)
    nginx = None
    try:
        nginx_port = bench.free_port()
        nginx = bench.start_nginx(workdir, name in ("rwsgi", "uwsgi"), nginx_port, sock, port)
        for scenario, path in PAGES.items():
            headers = ["--timeout", "30s", "-H", f"Cookie: {cookie}"]
            # Warm-up one request at a time (each worker loads its templates), never leaving
            # requests queued behind a client that is gone.
            if not all(get(nginx_port, path, cookie) for _ in range(8)):
                cells[scenario] = {"error": "no answers"}
                continue
            before, ticks_before = bench.cpu_ns(proc.pid), bench.user_system_ticks(proc.pid)
            result = bench.run_wrk(nginx_port, path, headers, args.duration, args.connections)
            # Requests wrk left in flight are still being served: let them finish before the
            # next figure is taken.
            get(nginx_port, path, cookie)
            used = bench.cpu_ns(proc.pid) - before
            ticks = bench.user_system_ticks(proc.pid)
            user, system = ticks[0] - ticks_before[0], ticks[1] - ticks_before[1]
            result["cpu_us_per_req"] = round(used / 1000 / max(result["requests"], 1), 1)
            result["kernel_pct"] = round(100 * system / max(user + system, 1))
            cells[scenario] = result
        cells["pss4_mib"] = round(bench.pss_mib(proc.pid), 1)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(10)
        stop(name, proc)
    proc, port, _ = start(name, args, 16, workdir, db)
    try:
        warm(port, cookie, 32)
        time.sleep(0.5)
        cells["pss16_mib"] = round(bench.pss_mib(proc.pid), 1)
        cells["processes16"] = len(bench.tree(proc.pid))
    finally:
        stop(name, proc)
    return cells


def table(results, servers):
    lines = ["| server | admin req/s | admin p50 / p99 ms | admin CPU µs/req (kernel %) | page req/s "
             "| page p50 / p99 ms | page CPU µs/req (kernel %) | PSS MiB, 4 workers | PSS MiB, 16 workers "
             "| MiB per extra worker |", "|" + "---|" * 10]
    fmt = lambda v, f="{:.1f}": "" if v is None else f.format(v)  # noqa: E731
    for name in servers:
        c = results.get(name, {})
        if "error" in c:
            lines.append(f"| {name} | {c['error']} |" + " |" * 8)
            continue
        row = [name]
        for scenario in PAGES:
            s = c.get(scenario, {})
            if "rps" not in s:
                row += [s.get("error", "n/a"), "", ""]
                continue
            row += [f"{s['rps']:.0f}", f"{fmt(s['p50_ms'], '{:.2f}')} / {fmt(s['p99_ms'], '{:.2f}')}",
                    f"{s['cpu_us_per_req']:.0f} ({s['kernel_pct']})"]
        p4, p16 = c.get("pss4_mib"), c.get("pss16_mib")
        row += [fmt(p4), fmt(p16), fmt((p16 - p4) / 12 if p4 and p16 else None, "{:.2f}")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1, help="rounds; medians reported")
    ap.add_argument("--connections", type=int, default=16,
                    help="wrk connections (a Django page costs milliseconds: 16 keep 4 workers busy)")
    ap.add_argument("--venv", default=os.path.join(bench.ROOT, "target", "bench-venv"))
    ap.add_argument("--rwsgi", default=os.path.join(bench.ROOT, "target", "release", "rwsgi"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    args.venv = os.path.abspath(args.venv)
    servers = args.servers.split(",")
    workdir = tempfile.mkdtemp(prefix="rwsgi-django-bench-")
    db = os.path.join(workdir, "bench.sqlite3")
    setup = subprocess.run([os.path.join(args.venv, "bin", "python"), os.path.join(SITE, "setup_db.py")],
                           env=dict(os.environ, BENCH_DJANGO_DB=db), capture_output=True, text=True, check=True)
    cookie = setup.stdout.strip().splitlines()[-1]
    runs = {}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for name in order:
            try:
                cell = measure(name, args, workdir, db, cookie)
            except RuntimeError as e:
                cell = {"error": str(e)}
            runs.setdefault(name, []).append(cell)
            print(f"round {round_no + 1} {name:16} {json.dumps(cell)}", file=sys.stderr)
    results = {}
    for name, cells in runs.items():
        good = [c for c in cells if "error" not in c]
        if not good:
            results[name] = cells[-1]
            continue
        merged = {}
        for key in good[0]:
            if isinstance(good[0][key], dict):
                merged[key] = {k: bench.median([c.get(key, {}).get(k) for c in good]) for k in good[0][key]}
            else:
                merged[key] = bench.median([c.get(key) for c in good])
        results[name] = merged
    text = table(results, servers)
    print(text)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "django-latest.md"), "w") as f:
        f.write(f"Run {stamp}: benches/django_bench.py, {args.rounds} round(s) of {args.duration} s per page, "
                f"4 workers behind nginx, {args.connections} connections; PSS of master and workers.\n\n{text}\n")
    with open(os.path.join(args.out, "django-latest.json"), "w") as f:
        json.dump({"when": stamp, "args": vars(args), "runs": runs, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
