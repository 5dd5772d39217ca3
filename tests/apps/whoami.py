"""Says which interpreter serves it: "MAJOR.MINOR PREFIX", for the interpreter tests."""
import sys


def application(environ, start_response):
    body = "%d.%d %s" % (sys.version_info[0], sys.version_info[1], sys.prefix)
    body = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
