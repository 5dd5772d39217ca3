"""An application whose import takes 11 seconds, for EXTEND_TIMEOUT_USEC."""
import time

time.sleep(11)


def application(environ, start_response):
    start_response("200 OK", [("Content-Length", "4")])
    return [b"slow"]
