"""A WSGI application that exercises every PEP 3333 point the tests check.

Each path is one behaviour; the tests call it over real sockets and read the answer.
"""
import hashlib
import io
import json
import os
import resource
import sys
import tempfile
import time

CLOSE_LOG = os.environ.get("RWSGI_TEST_CLOSE_LOG", "")
# Which process imported the app: the master (preload) or each worker (lazy-apps).
IMPORT_PID = os.getpid()


def plain(start_response, body, status="200 OK", extra=()):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def env_view(environ):
    out = {}
    for key, value in environ.items():
        out[key] = value if isinstance(value, str) else repr(type(value).__name__) + ":" + repr(value)
    return out


class Tracked:
    """An iterable whose close() leaves a trace, so tests can see PEP 3333's close duty."""

    def __init__(self, chunks, fail_after=None):
        self.chunks = chunks
        self.fail_after = fail_after

    def __iter__(self):
        for index, chunk in enumerate(self.chunks):
            if self.fail_after is not None and index == self.fail_after:
                raise RuntimeError("failure while streaming")
            yield chunk

    def close(self):
        if CLOSE_LOG:
            with open(CLOSE_LOG, "a") as log:
                log.write("closed\n")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/env"):
        body = json.dumps(env_view(environ), sort_keys=True).encode()
        return plain(start_response, body)
    if path == "/echo":
        data = environ["wsgi.input"].read()
        return plain(start_response, data, extra=[("X-Sha256", hashlib.sha256(data).hexdigest())])
    if path == "/read-sized":
        stream = environ["wsgi.input"]
        parts = []
        while True:
            part = stream.read(7)
            if not part:
                break
            parts.append(part)
        return plain(start_response, b"|".join(parts))
    if path == "/lines":
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        rest = stream.readlines()
        return plain(start_response, json.dumps([first.decode(), limited.decode(), [l.decode() for l in rest]]).encode())
    if path == "/iterate":
        lines = [line.decode() for line in environ["wsgi.input"]]
        return plain(start_response, json.dumps(lines).encode())
    if path == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"chunk%d\n" % i for i in range(3))
    if path == "/empty-then-data":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"", b"", b"data"])
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return [b"returned"]
    if path == "/file":
        handle = tempfile.TemporaryFile()
        handle.write(b"0123456789" * 1000)
        handle.seek(5)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](handle, 4096)
    if path == "/filelike":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"from a BytesIO"), 4)
    if path == "/error":
        raise RuntimeError("deliberate failure in the app")
    if path == "/error-after":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"first", b"second"], fail_after=1)
    if path == "/stream":
        # 128 MiB in 64 KiB pieces, made as they are sent: a client that leaves early
        # meets the server mid-response.
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(b"x" * 65536 for _ in range(2048))
    if path == "/tracked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"a", b"b", b"c"])
    if path == "/bad-header":
        start_response("200 OK", [("X-Injected", "a\r\nSet-Cookie: stolen=1")])
        return [b"should not be sent"]
    if path == "/no-start":
        return [b"nobody called start_response"]
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("changed my mind")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]
    if path == "/twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"never"]
    if path.startswith("/status/"):
        code = path.rsplit("/", 1)[1]
        start_response(code + " Whatever", [("Content-Length", "0")] if code != "204" else [])
        return [b""]
    if path == "/long-content-length":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"short"]
    if path == "/excess":
        start_response("200 OK", [("Content-Length", "3")])
        return [b"abcdef"]
    if path == "/print":
        print("printed to stdout by the app")
        print("printed to stderr by the app", file=sys.stderr)
        environ["wsgi.errors"].write("written to wsgi.errors\n")
        return plain(start_response, b"printed")
    if path == "/sleep":
        # Logged before sleeping: tests wait for this line to know the request is in the app.
        # One write (print writes the newline apart, and another thread's line could land
        # between the two).
        sys.stderr.write("app: sleeping " + environ.get("QUERY_STRING", "") + "\n")
        sys.stderr.flush()
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
        return plain(start_response, b"slept")
    if path == "/pid":
        return plain(start_response, str(os.getpid()).encode())
    if path == "/import-pid":
        return plain(start_response, str(IMPORT_PID).encode())
    if path == "/osenv":
        return plain(start_response, os.environ.get(environ["QUERY_STRING"], "<unset>").encode())
    if path == "/process":
        mask = os.umask(0)
        os.umask(mask)
        return plain(start_response, json.dumps({
            "umask": mask,
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "stdin": os.readlink("/proc/self/fd/0"),
            "site": "site" in sys.modules,
            "colorsys": "colorsys" in sys.modules,
            "uid": os.getuid(),
        }).encode())
    if path == "/segfault":
        import ctypes
        ctypes.string_at(0)
    if path == "/exit":
        os._exit(3)
    if path == "/big":
        size = int(environ.get("QUERY_STRING") or "1048576")
        return plain(start_response, b"x" * size)
    if path == "/connection-close":
        start_response("200 OK", [("Content-Length", "2"), ("Connection", "close")])
        return [b"ok"]
    return plain(start_response, b"hello", extra=[("X-Path", path)])
