"""The mule test application (tests/uwsgi_mules.rs).

Workers send mule messages, @mulefunc calls and uwsgi signals over HTTP; mules (and the
mule programs mule_echo.py / mule_once.py) append one JSON line per event to $MULE_OUT.
"""

import json
import os
import threading
import time
import urllib.parse

import uwsgi
from uwsgidecorators import mulefunc, postfork, signal, spool

OUT = os.environ["MULE_OUT"]


def record(**event):
    event["pid"] = os.getpid()
    event["mule"] = uwsgi.mule_id()
    event["worker"] = uwsgi.worker_id()
    event["in_spooler"] = bool(uwsgi.in_spooler())
    event["thread"] = threading.get_ident()
    event["time"] = time.time()
    with open(OUT, "a") as out:
        out.write(json.dumps(event) + "\n")


@postfork
def forked():
    record(name="postfork")


@mulefunc
def work(tag, *more, **options):
    record(name="mulefunc", tag=tag, more=list(more), options=options)


@mulefunc("busy")
def farm_work(tag):
    record(name="farmfunc", tag=tag, in_busy=bool(uwsgi.in_farm("busy")))


@spool(pass_arguments=True)
def relay(text):
    """Runs in a spooler: a spooler sends mule messages too."""
    uwsgi.mule_msg("spooled:" + text, 1)


def on_signal(num):
    record(name="signal", num=num)


for number, target in ((30, "mule"), (31, "mules"), (32, "mule2"), (33, "spooler")):
    signal(number, target=target)(on_signal)


def target_of(query):
    to = query.get("to")
    if to is None:
        return None
    return int(to) if to.isdigit() else to


def application(environ, start_response):
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    path = environ["PATH_INFO"]
    status, body = "200 OK", "ok"
    try:
        if path == "/msg":
            to = target_of(query)
            if to is None:
                uwsgi.mule_msg(query["text"])
            else:
                uwsgi.mule_msg(query["text"], to)
        elif path == "/farm":
            uwsgi.farm_msg(query["farm"], query["text"].encode())
        elif path == "/burst":
            to = target_of(query)
            for n in range(int(query["count"])):
                message = "%s:%d" % (query["sender"], n)
                if to is None:
                    uwsgi.mule_msg(message)
                else:
                    uwsgi.mule_msg(message, to)
        elif path == "/big":
            uwsgi.mule_msg(b"b" * int(query["size"]), target_of(query))
        elif path == "/mulefunc":
            work(query["tag"], 1, [2, 3], key={"nested": True})
        elif path == "/farmfunc":
            farm_work(query["tag"])
        elif path == "/relay":
            relay.spool(query["text"])
        elif path == "/signal":
            uwsgi.signal(int(query["num"]))
        elif path == "/id":
            body = json.dumps({"worker": uwsgi.worker_id(), "mule": uwsgi.mule_id(),
                               "pid": os.getpid()})
        else:
            status, body = "404 Not Found", "no such path"
    except Exception as e:
        status, body = "500 Internal Server Error", "%s: %s" % (type(e).__name__, e)
    start_response(status, [("Content-Type", "text/plain")])
    return [body.encode()]
