"""Loaded with wsgi-file and a custom callable name."""
import sys


def app(environ, start_response):
    body = ("file app; %s" % (sys.prefix,)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def make_app():
    return app
