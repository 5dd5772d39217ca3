#!/usr/bin/env python3
"""uwsgi.cache_get / cache_set / cache_update from Python: rwsgi against uWSGI in the same
run. Each server runs benches/cache_app.py with one worker and the same cache2; each round
asks both (alternating which goes first) to time N calls inside the worker; the medians of
the rounds are reported in ns per call (bare loop subtracted).

    benches/uwsgi_cache.py [--rounds 7] [--calls 200000] [--uwsgi PATH]

uWSGI comes from target/bench-venv (benches/run installs it) or --uwsgi."""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = "name=bench,items=200010,blocksize=128,keysize=64"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, port):
    process = subprocess.Popen(command, cwd=os.path.join(ROOT, "benches"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            ask(port, "get,10")
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("server did not start: %s" % " ".join(command))


def ask(port, query):
    with urllib.request.urlopen("http://127.0.0.1:%d/?%s" % (port, query), timeout=120) as r:
        return [float(x) for x in r.read().split()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200000)
    parser.add_argument("--uwsgi", default=os.path.join(ROOT, "target/bench-venv/bin/uwsgi"))
    args = parser.parse_args()
    servers = {}
    ports = {"rwsgi": free_port(), "uwsgi": free_port()}
    servers["rwsgi"] = start([os.path.join(ROOT, "target/release/rwsgi"), "--http-socket",
                              "127.0.0.1:%d" % ports["rwsgi"], "--wsgi-file", "cache_app.py",
                              "--processes", "1", "--cache2", CACHE, "--disable-logging"],
                             ports["rwsgi"])
    servers["uwsgi"] = start([args.uwsgi, "--master", "--http-socket",
                              "127.0.0.1:%d" % ports["uwsgi"], "--wsgi-file", "cache_app.py",
                              "--processes", "1", "--cache2", CACHE, "--disable-logging"],
                             ports["uwsgi"])
    results = {(name, op): [] for name in servers for op in ("get", "set", "update")}
    try:
        for round_number in range(args.rounds):
            order = ["rwsgi", "uwsgi"] if round_number % 2 == 0 else ["uwsgi", "rwsgi"]
            for op in ("get", "set", "update"):
                for name in order:
                    results[(name, op)].append(ask(ports[name], "%s,%d" % (op, args.calls)))
    finally:
        # uWSGI 2.0 reloads on SIGTERM; SIGINT stops both servers.
        for process in servers.values():
            process.send_signal(signal.SIGINT)
            process.wait()
    print("uwsgi.cache_* from Python, ns per call (median of %d rounds of %d calls; bare loop"
          " subtracted; raw in brackets)" % (args.rounds, args.calls))
    print("| call | rwsgi | uWSGI 2.0.31 | rwsgi / uWSGI |")
    print("|---|---|---|---|")
    labels = {"get": "cache_get (100-byte value)", "set": "cache_set (new key, 100 bytes)",
              "update": "cache_update (100 bytes)"}
    for op in ("get", "set", "update"):
        rw = statistics.median(r[1] for r in results[("rwsgi", op)])
        uw = statistics.median(r[1] for r in results[("uwsgi", op)])
        rw_raw = statistics.median(r[0] for r in results[("rwsgi", op)])
        uw_raw = statistics.median(r[0] for r in results[("uwsgi", op)])
        print("| %s | %.0f (%.0f) | %.0f (%.0f) | %.2f |" % (labels[op], rw, rw_raw, uw, uw_raw,
                                                            rw / uw))


if __name__ == "__main__":
    main()
