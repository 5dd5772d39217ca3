"""The shared cache from Python, timed inside the server: GET /?OP,N runs N calls in a loop
and answers the nanoseconds per call (benches/uwsgi_cache.py runs it under rwsgi and
uWSGI). OP: get (cache_get of a 100-byte value), set (cache_set of N new keys), update
(cache_update of one key with a 100-byte value)."""

import time

import uwsgi

VALUE = b"v" * 100
KEYS = ["key-%d" % i for i in range(200000)]


def application(environ, start_response):
    op, n = environ["QUERY_STRING"].split(",")
    n = int(n)
    keys = KEYS[:n]
    uwsgi.cache_clear()
    uwsgi.cache_update("hot", VALUE)
    if op == "get":
        call = uwsgi.cache_get
        started = time.perf_counter_ns()
        for _ in keys:
            call("hot")
        took = time.perf_counter_ns() - started
    elif op == "set":
        call = uwsgi.cache_set
        started = time.perf_counter_ns()
        for key in keys:
            call(key, VALUE)
        took = time.perf_counter_ns() - started
        assert uwsgi.cache_get(keys[-1]) == VALUE
    else:
        call = uwsgi.cache_update
        started = time.perf_counter_ns()
        for _ in keys:
            call("hot", VALUE)
        took = time.perf_counter_ns() - started
    # The bare loop, to report the cost of the call itself.
    started = time.perf_counter_ns()
    for _ in keys:
        pass
    loop = time.perf_counter_ns() - started
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%.1f %.1f" % (took / n, (took - loop) / n)).encode()]
