#!/usr/bin/env python3
"""Side-by-side benchmark: rwsgi against uWSGI, gunicorn, granian and bjoern on this machine.

Every server runs benches/app.py with 2 worker processes on loopback; wrk drives each
scenario for the same time. For each cell it records req/s, p50/p99 latency, the server's
CPU time per request (from /proc schedstat of the whole process tree, the steady figure on a
noisy machine), how many of 64 simultaneous keep-alive connections get an answer, and the
idle PSS. It prints a Markdown table with ratios to uWSGI and draws an SVG chart.

Run it with benches/run (which installs the peers); see README.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIOS = {
    # name: (path, wrk extra args, through nginx)
    "hello": ("/", ["-s", os.path.join(HERE, "latency.lua")], False),
    "big": ("/big", ["-s", os.path.join(HERE, "latency.lua")], False),
    "post": ("/echo", ["-s", os.path.join(HERE, "post.lua")], False),
    "nginx-hello": ("/", ["-s", os.path.join(HERE, "latency.lua")], True),
    # The same offered load for every server (examples/fixed_rate.rs, open loop): latency
    # that wrk's closed loop at saturation cannot show.
    "hello-rate": ("/", [], False),
}

FIXED_RATE = os.path.join(ROOT, "target", "release", "examples", "fixed_rate")


RWSGI_SERVERS = ("rwsgi", "rwsgi-wheel", "rwsgi-before")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(name, venv, port, sock, rwsgi, rwsgi_wheel=None, rwsgi_before=None):
    py = os.path.join(venv, "bin")
    if name in RWSGI_SERVERS:
        # rwsgi-wheel: the wheel's extension module hosted by a virtualenv's python;
        # rwsgi-before: another build (e.g. the commit before a refactor) in the same run.
        binary = {"rwsgi": rwsgi, "rwsgi-wheel": rwsgi_wheel, "rwsgi-before": rwsgi_before}[name]
        return [binary, "--chdir", HERE, "--module", "app", "--processes", "2", "--disable-logging",
                "--http-socket", f"127.0.0.1:{port}", "--socket", sock, "--listen", "1024"]
    if name == "uwsgi":
        return [f"{py}/uwsgi", "--master", "--processes", "2", "--disable-logging", "--chdir", HERE,
                "--module", "app", "--http-socket", f"127.0.0.1:{port}", "--socket", sock,
                "--listen", "1024", "--die-on-term"]
    if name == "gunicorn":
        return [f"{py}/gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", HERE,
                "--log-level", "warning", "app:application"]
    if name == "granian":
        return [f"{py}/granian", "--interface", "wsgi", "--workers", "2", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "app:application"]
    if name == "bjoern":
        return [f"{py}/python", os.path.join(HERE, "prefork_bjoern.py"), "127.0.0.1", str(port), "2"]
    raise ValueError(name)


def tree(pid):
    """pid and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def cpu_ns(pid):
    """CPU time of every thread of every process in the tree, in nanoseconds."""
    total = 0
    for p in tree(pid):
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def user_system_ticks(pid):
    """(user, system) clock ticks of every thread in the tree: which side the CPU went to."""
    user = system = 0
    for p in tree(pid):
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                user += int(fields[11])
                system += int(fields[12])
        except OSError:
            pass
    return user, system


def pss_mib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_http(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1."):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def connections_answered(port, n=64, timeout=3.0):
    """Open n keep-alive connections at once, one GET on each: how many are answered?"""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
    answered, deadline = set(), time.time() + timeout
    while time.time() < deadline and len(answered) < n:
        for i, s in enumerate(socks):
            if i in answered:
                continue
            try:
                if s.recv(4096).startswith(b"HTTP/1."):
                    answered.add(i)
            except BlockingIOError:
                pass
            except OSError:
                answered.discard(i)
        time.sleep(0.01)
    for s in socks:
        s.close()
    return len(answered)


def start_nginx(workdir, upstream_is_uwsgi, port, sock, server_port):
    conf = os.path.join(workdir, "nginx.conf")
    if upstream_is_uwsgi:
        location = f"include /etc/nginx/uwsgi_params; uwsgi_pass unix:{sock};"
        upstream = ""
    else:
        location = "proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\";"
        upstream = f"upstream app {{ server 127.0.0.1:{server_port}; keepalive 32; }}"
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process on; worker_processes 1; user root;
pid {workdir}/nginx.pid; error_log {workdir}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fcgi; uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;
  {upstream}
  server {{ listen 127.0.0.1:{port} backlog=1024; location / {{ {location} }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-p", workdir, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_http(port):
        proc.kill()
        raise RuntimeError("nginx did not start")
    return proc


def run_wrk(port, path, extra, duration, connections):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *extra, f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    result = {"requests": 0, "rps": 0.0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "p999_ms": None,
              "errors": 0}
    m = re.search(r"(\d+) requests in", out)
    if m:
        result["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        result["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            value = float(m.group(1))
            result[key] = value / 1000 if m.group(2) == "us" else value * 1000 if m.group(2) == "s" else value
    # The latency.lua / post.lua distribution, finer than wrk's own (which has no p99.9).
    for pct, micros in re.findall(r"^PCTL ([\d.]+) (\d+)$", out, re.M):
        key = {"50": "p50_ms", "90": "p90_ms", "99": "p99_ms", "99.9": "p999_ms"}.get(pct)
        if key:
            result[key] = int(micros) / 1000
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        result["errors"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        result["errors"] += int(m.group(1))
    return result


def run_fixed_rate(port, path, duration, connections, rate):
    cmd = [FIXED_RATE, f"127.0.0.1:{port}", str(rate), str(connections), str(duration), path]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
        result = json.loads(out)
    except (subprocess.TimeoutExpired, ValueError) as e:
        return {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": 1, "failure": str(e)}
    result["errors"] = result.get("errors", 0)
    return result


def measure(name, scenario, args, workdir):
    path, extra, via_nginx = SCENARIOS[scenario]
    port, nginx_port = free_port(), free_port()
    sock = os.path.join(workdir, f"{name}.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    cmd = server_command(name, args.venv, port, sock, args.rwsgi, args.rwsgi_wheel, args.rwsgi_before)
    log = open(os.path.join(workdir, f"{name}-{scenario}.log"), "w")
    server = subprocess.Popen(cmd, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    nginx = None
    try:
        if not wait_http(port):
            return {"error": "did not start"}
        cell = {}
        if scenario == "hello":
            cell["conns_answered"] = connections_answered(port, args.connections)
            time.sleep(0.5)
            cell["pss_mib"] = round(pss_mib(server.pid), 1)
        target = port
        if via_nginx:
            nginx = start_nginx(workdir, name in RWSGI_SERVERS + ("uwsgi",), nginx_port, sock, port)
            target = nginx_port
        run_wrk(target, path, extra, 1, args.connections)  # warm-up
        before = cpu_ns(server.pid)
        ticks_before = user_system_ticks(server.pid)
        if scenario == "hello-rate":
            result = run_fixed_rate(target, path, args.duration, args.connections, args.rate)
        else:
            result = run_wrk(target, path, extra, args.duration, args.connections)
        used = cpu_ns(server.pid) - before
        ticks_after = user_system_ticks(server.pid)
        user = ticks_after[0] - ticks_before[0]
        system = ticks_after[1] - ticks_before[1]
        cell.update(result)
        cell["cpu_us_per_req"] = round(used / 1000 / max(result["requests"], 1), 2)
        cell["kernel_pct"] = round(100 * system / max(user + system, 1))
        return cell
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait(10)
        os.killpg(server.pid, signal.SIGINT if name == "uwsgi" else signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def table(results, servers, scenarios, baseline):
    lines = ["| scenario | server | req/s | x " + baseline + " | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU µs/req | x "
             + baseline + " | kernel % | errors | conns answered | PSS MiB |", "|" + "---|" * 14]
    for scenario in scenarios:
        base = results.get(scenario, {}).get(baseline, {})
        for server in servers:
            c = results.get(scenario, {}).get(server, {})
            if "rps" not in c:
                lines.append(f"| {scenario} | {server} | {c.get('error', 'n/a')} |" + " |" * 12)
                continue
            ratio = c["rps"] / base["rps"] if base.get("rps") else None
            cpu_ratio = c["cpu_us_per_req"] / base["cpu_us_per_req"] if base.get("cpu_us_per_req") else None
            fmt = lambda v, f="{:.2f}": "" if v is None else f.format(v)
            lines.append(
                f"| {scenario} | {server} | {c['rps']:.0f} | {fmt(ratio)} | {fmt(c['p50_ms'])} "
                f"| {fmt(c.get('p90_ms'))} | {fmt(c['p99_ms'])} | {fmt(c.get('p999_ms'))} "
                f"| {c['cpu_us_per_req']:.1f} | {fmt(cpu_ratio)} | {c.get('kernel_pct', '')} | {c['errors']} "
                f"| {c.get('conns_answered', '')} "
                f"| {c.get('pss_mib', '')} |")
    return "\n".join(lines)


def chart(results, servers, scenarios, baseline, path):
    """Grouped bars: req/s of each server relative to the baseline, per scenario."""
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    width, height, left, bottom, top = 760, 360, 60, 50, 30
    ratios = {(sc, sv): (results[sc][sv]["rps"] / results[sc][baseline]["rps"])
              for sc in scenarios for sv in servers
              if results.get(sc, {}).get(sv, {}).get("rps") and results[sc].get(baseline, {}).get("rps")}
    top_ratio = max(list(ratios.values()) + [1.0]) * 1.1
    plot_h = height - bottom - top
    group_w = (width - left - 20) / len(scenarios)
    bar_w = group_w * 0.8 / len(servers)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="18" font-size="14">req/s relative to {baseline} (2 workers, wrk 64 connections, loopback)</text>']
    for tick in range(0, int(top_ratio) + 1):
        y = top + plot_h - tick / top_ratio * plot_h
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick}x</text>')
    for gi, sc in enumerate(scenarios):
        gx = left + gi * group_w + group_w * 0.1
        out.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{height - bottom + 18}" text-anchor="middle">{sc}</text>')
        for si, sv in enumerate(servers):
            r = ratios.get((sc, sv))
            if r is None:
                continue
            h = r / top_ratio * plot_h
            x = gx + si * bar_w
            out.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colors[si % len(colors)]}"/>')
    for si, sv in enumerate(servers):
        x = left + si * 110
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colors[si % len(colors)]}"/>')
        out.append(f'<text x="{x + 16}" y="{height - 12}">{sv}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="rwsgi,uwsgi,gunicorn,granian,bjoern")
    ap.add_argument("--rate", type=int, default=10000,
                    help="offered load of the hello-rate scenario, requests per second")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per cell")
    ap.add_argument("--rounds", type=int, default=1, help="rounds; servers alternate order, medians reported")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--baseline", default="uwsgi")
    ap.add_argument("--venv", default=os.path.join(ROOT, "target", "bench-venv"))
    ap.add_argument("--rwsgi", default=os.path.join(ROOT, "target", "release", "rwsgi"))
    ap.add_argument("--rwsgi-wheel", default=os.path.join(ROOT, "target", "bench-wheel-venv", "bin", "rwsgi"),
                    help="the rwsgi command of a virtualenv the wheel is installed in (server rwsgi-wheel)")
    ap.add_argument("--rwsgi-before", help="another rwsgi binary, run as server rwsgi-before "
                    "(add it to --servers): compares two builds in one run")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    servers = args.servers.split(",")
    scenarios = args.scenarios.split(",")
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="rwsgi-bench-")
    runs = {}
    for round_no in range(args.rounds):
        order = servers if round_no % 2 == 0 else list(reversed(servers))
        for scenario in scenarios:
            for name in order:
                cell = measure(name, scenario, args, workdir)
                runs.setdefault(scenario, {}).setdefault(name, []).append(cell)
                print(f"round {round_no + 1} {scenario:12} {name:9} "
                      + json.dumps({k: v for k, v in cell.items() if k != 'requests'}), file=sys.stderr)
    results = {}
    for scenario, by_server in runs.items():
        for name, cells in by_server.items():
            good = [c for c in cells if "rps" in c]
            if not good:
                results.setdefault(scenario, {})[name] = cells[-1]
                continue
            merged = {key: median([c.get(key) for c in good]) for key in good[0]}
            results.setdefault(scenario, {})[name] = merged
    text = table(results, servers, scenarios, args.baseline)
    print(text)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(f"Run {stamp}, {args.rounds} round(s) of {args.duration} s per cell, 2 workers, "
                f"{args.connections} connections.\n\n{text}\n")
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"when": stamp, "args": vars(args), "runs": runs, "results": results}, f, indent=1)
    chart(results, servers, [s for s in scenarios if s in results], args.baseline, os.path.join(args.out, "chart.svg"))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
