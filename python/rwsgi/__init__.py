"""rwsgi: a uWSGI-compatible WSGI server for CPython, in Rust.

Run it with the ``rwsgi`` command or ``python -m rwsgi`` (``rwsgi --help``); the
interpreter that runs it serves the application.
"""

from rwsgi._rwsgi import __version__

__all__ = ["__version__"]
