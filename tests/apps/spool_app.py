"""The spooler test application (tests/uwsgi_spool.rs).

Workers queue tasks through uwsgi.spool() and the uwsgidecorators; spooler processes
append one JSON line per event to $SPOOL_OUT, so the tests see what ran, where and how.
"""

import json
import os
import time
import urllib.parse

import uwsgi
from uwsgidecorators import postfork, spool, spoolforever, spoolraw, manage_spool_request

OUT = os.environ["SPOOL_OUT"]


def record(**event):
    event["pid"] = os.getpid()
    event["in_spooler"] = uwsgi.in_spooler()
    event["time"] = time.time()
    with open(OUT, "a") as out:
        out.write(json.dumps(event) + "\n")


def runs(name):
    count = 0
    try:
        with open(OUT) as out:
            for line in out:
                if json.loads(line).get("name") == name:
                    count += 1
    except FileNotFoundError:
        pass
    return count


def raw_spooler(env):
    """uwsgi.spooler: tasks with a 'mode' are handled here, the others by the decorators."""
    if b"mode" not in env:
        return manage_spool_request(env)
    mode = env[b"mode"].decode()
    name = env[b"name"].decode()
    body = env.get(b"body")
    previous = runs(name)
    record(name=name, mode=mode, cwd=os.getcwd(),
           body=body.hex() if body is not None else None,
           task=env[b"spooler_task_name"].decode(),
           keys=sorted(k.decode() for k in env))
    if mode == "ok":
        return uwsgi.SPOOL_OK
    if mode == "retry":
        return uwsgi.SPOOL_RETRY
    if mode == "ignore":
        return uwsgi.SPOOL_IGNORE
    if mode == "raise":
        if previous == 0:
            raise ValueError("boom-" + name)
        return uwsgi.SPOOL_OK
    if mode == "hang-once":
        if previous == 0:
            time.sleep(120)
        return uwsgi.SPOOL_OK
    if mode == "chain":
        uwsgi.spool(name=name + "-next", mode="ok")
        return uwsgi.SPOOL_OK
    if mode == "none":
        return None
    raise RuntimeError("unknown mode " + mode)


uwsgi.spooler = raw_spooler


@postfork
def after_fork():
    record(name="postfork")


@spool(pass_arguments=True)
def with_arguments(first, second, keyword=None):
    record(name="with_arguments", args=[first, second, keyword])


@spool
def with_dict(arguments):
    record(name="with_dict", arguments=sorted(arguments.items()))
    return uwsgi.SPOOL_RETRY  # ignored by @spool: the task is removed anyway


@spoolforever
def forever(arguments):
    record(name="forever")


@spoolraw
def raw_ok(arguments):
    record(name="raw_ok")
    return uwsgi.SPOOL_OK


def application(environ, start_response):
    path = environ["PATH_INFO"]
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    status, body = "200 OK", b""
    try:
        if path == "/spool":
            task = {k: v for k, v in query.items() if k != "body_hex"}
            if "body_hex" in query:
                task["body"] = bytes.fromhex(query["body_hex"])
            if "body_size" in task:
                task["body"] = b"x" * int(task.pop("body_size"))
            body = uwsgi.spool(task)
        elif path == "/spool-kwargs":
            body = uwsgi.spool(**query)
        elif path == "/decorated":
            with_arguments.spool("one", 2, keyword={"three": 3})
            with_dict.spool(color="blue", size=b"big")
            forever.spool()
            body = raw_ok.spool()
        elif path == "/big":
            uwsgi.spool(name="big", mode="ok", data="x" * 70000)
        elif path == "/info":
            body = json.dumps({
                "pid": uwsgi.spooler_pid(),
                "pids": uwsgi.spooler_pids(),
                "in_spooler": uwsgi.in_spooler(),
                "jobs": [j.decode() for j in uwsgi.spooler_jobs()],
            }).encode()
        else:
            body = b"hello"
    except Exception as e:  # the tests read the error
        status, body = "500 Internal Server Error", ("%s: %s" % (type(e).__name__, e)).encode()
    start_response(status, [("Content-Type", "text/plain")])
    return [body if isinstance(body, bytes) else body.encode()]
