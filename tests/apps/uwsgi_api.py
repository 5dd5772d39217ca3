"""The uwsgi module from inside an application: tests/uwsgi_api.rs."""

import json
import os
import threading

import uwsgi
import uwsgidecorators

RECORD = os.environ.get("HOOK_RECORD")


def record(kind):
    def write():
        if RECORD:
            with open(RECORD, "a") as f:
                f.write("%d %s %d\n" % (os.getpid(), kind, uwsgi.worker_id()))
    return write


# Registration order: at-fork handler, then two @postfork functions, then one that raises.
os.register_at_fork(after_in_child=record("at_fork"))


@uwsgidecorators.postfork
def first():
    record("postfork1")()


@uwsgidecorators.postfork
def second():
    record("postfork2")()


if os.environ.get("POSTFORK_RAISES"):
    @uwsgidecorators.postfork
    def broken():
        raise RuntimeError("postfork hook failed on purpose")


@uwsgidecorators.postfork(2)
def only_two():
    record("postfork_worker2")()


uwsgi.atexit = record("atexit")

SIGNAL_RECORD = os.environ.get("SIGNAL_RECORD")


def signal_note(name):
    def handler(num):
        with open(SIGNAL_RECORD, "a") as f:
            f.write("%s %d %d %d\n" % (name, num, uwsgi.worker_id(), os.getpid()))
    return handler


if SIGNAL_RECORD:
    uwsgi.register_signal(30, "workers", signal_note("all"))
    uwsgi.register_signal(31, "worker2", signal_note("second"))
    uwsgi.register_signal(32, "", signal_note("any"))
    uwsgi.register_signal(33, "nowhere", signal_note("nowhere"))

    @uwsgidecorators.timer(1)
    def every_second(num):
        signal_note("timer")(num)

    @uwsgidecorators.rbtimer(1, iterations=2)
    def twice(num):
        signal_note("rbtimer")(num)

    @uwsgidecorators.signal(34)
    def broken(num):
        raise RuntimeError("signal handler failed on purpose")

    @uwsgidecorators.filemon(os.environ["WATCHED"])
    def changed(num):
        signal_note("filemon")(num)

    @uwsgidecorators.cron(-1, -1, -1, -1, -1)
    def every_minute(num):
        signal_note("cron")(num)
IMPORTED_IN_WORKER = uwsgi.worker_id()


def cachelib_cache(name=""):
    """cachelib's UWSGICache (the Flask-Caching backend), unchanged, on rwsgi's module."""
    from cachelib.uwsgi import UWSGICache
    return UWSGICache(default_timeout=0, cache=name)


COUNTER = os.environ.get("LOCK_COUNTER")


def bump():
    with open(COUNTER, "r+") as f:
        value = int(f.read() or 0)
        f.seek(0)
        f.write(str(value + 1))
        f.truncate()


@uwsgidecorators.lock
def locked_step():
    bump()


def numbered_step():
    uwsgi.lock(1)
    try:
        bump()
    finally:
        uwsgi.unlock(1)


def plain(value):
    if value is True:
        return {"flag": True}
    if isinstance(value, bytes):
        return {"bytes": value.decode()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return {"other": repr(value)}


def info():
    workers = []
    for w in uwsgi.workers():
        workers.append({k: (v.decode() if isinstance(v, bytes) else v)
                        for k, v in w.items() if k in ("id", "pid", "requests", "status")})
    return {
        "opt": {k: plain(v) for k, v in uwsgi.opt.items()},
        "numproc": uwsgi.numproc,
        "worker_id": uwsgi.worker_id(),
        "mule_id": uwsgi.mule_id(),
        "masterpid": uwsgi.masterpid(),
        "total_requests": uwsgi.total_requests(),
        "request_id": uwsgi.request_id(),
        "workers": workers,
        "started_on": uwsgi.started_on,
        "version": uwsgi.version.decode(),
        "version_info": [v.decode() if isinstance(v, bytes) else v for v in uwsgi.version_info],
        "hostname": uwsgi.hostname.decode(),
        "buffer_size": uwsgi.buffer_size,
        "cores": uwsgi.cores,
        "is_a_reload": uwsgi.is_a_reload,
        "spool": [uwsgi.SPOOL_OK, uwsgi.SPOOL_RETRY, uwsgi.SPOOL_IGNORE],
        "imported_in_worker": IMPORTED_IN_WORKER,
        "pid": os.getpid(),
        "decorators": uwsgidecorators.__file__ if hasattr(uwsgidecorators, "__file__") else None,
    }


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    body = None
    if path == "/info":
        body = info()
    elif path == "/getattr":
        try:
            getattr(uwsgi, query)
            body = {"found": True}
        except AttributeError as e:
            body = {"error": str(e)}
    elif path == "/logvar":
        uwsgi.set_logvar("user", query)
        body = {"got": uwsgi.get_logvar("user")}
    elif path == "/log":
        uwsgi.log("from the app: " + query)
        body = {}
    elif path == "/reload":
        body = {"reload": uwsgi.reload()}
    elif path == "/stop":
        body = {"stop": uwsgi.stop()}
    elif path == "/eval":
        # The test sends a Python expression; the answer is its repr (or the exception).
        length = int(environ.get("CONTENT_LENGTH") or 0)
        expression = environ["wsgi.input"].read(length).decode()
        try:
            result = repr(eval(expression, {"uwsgi": uwsgi, "cachelib_cache": cachelib_cache, "os": os}))
        except Exception as e:
            result = "%s: %s" % (type(e).__name__, e)
        body = {"result": result, "worker": uwsgi.worker_id()}
    elif path == "/lockstress":
        # Read-modify-write of a counter file, under @lock (lock 0) or uwsgi.lock(1).
        rounds, how = query.split(",")
        step = locked_step if how == "decorator" else numbered_step
        for _ in range(int(rounds)):
            step()
        body = {}
    elif path == "/stress":
        # Increments a shared counter and overwrites eight shared keys with values made of one
        # writer's tag repeated: a value mixing two tags was torn by concurrent writers.
        rounds = int(query)
        bad = 0
        for i in range(rounds):
            uwsgi.cache_inc("counter")
            key = "shared-%d" % (i % 8)
            tag = "%d.%d.%d;" % (os.getpid(), threading.get_ident() % 1000, i)
            uwsgi.cache_update(key, (tag * (1 + i % 12)).encode())
            got = uwsgi.cache_get(key)
            if got is not None:
                pieces = got.decode().split(";")
                if pieces[-1] != "" or len(set(pieces[:-1])) != 1:
                    bad += 1
        body = {"bad": bad}
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such test endpoint"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
