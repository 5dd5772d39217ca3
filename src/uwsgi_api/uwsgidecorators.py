"""uwsgidecorators for rwsgi: decorators over rwsgi's `uwsgi` module.

Written for rwsgi from uWSGI's documentation of the decorators (uWSGI's own file is not
used). Decorators whose uwsgi functions rwsgi does not provide raise AttributeError when
used, naming what to use instead.
"""

import threading

import uwsgi

_postfork_chain = []


def _run_postfork_chain():
    for entry in _postfork_chain:
        entry()


class postfork:
    """Runs the function in every worker after it is forked (and after a lazy app loads).

    ``@postfork`` runs in every worker; ``@postfork(N)`` only in worker N.
    """

    def __init__(self, function_or_worker):
        if callable(function_or_worker):
            self.worker = 0
            self.function = function_or_worker
            _postfork_chain.append(self)
        else:
            self.worker = function_or_worker
            self.function = None

    def __call__(self, *args, **kwargs):
        if self.function is None:
            self.function = args[0]
            _postfork_chain.append(self)
            return self
        if self.worker == 0 or self.worker == uwsgi.worker_id():
            return self.function()
        return None


uwsgi.post_fork_hook = _run_postfork_chain


class thread:
    """Calls the function in a new daemon thread and returns the thread."""

    def __init__(self, function):
        self.function = function

    def __call__(self, *args, **kwargs):
        started = threading.Thread(target=self.function, args=args, kwargs=kwargs, daemon=True)
        started.start()
        return started


class lock:
    """Runs the function holding uwsgi lock 0: one call at a time across every worker and
    thread."""

    def __init__(self, function):
        self.function = function

    def __call__(self, *args, **kwargs):
        uwsgi.lock()
        try:
            return self.function(*args, **kwargs)
        finally:
            uwsgi.unlock()


def __getattr__(name):
    if name in ("spool", "spoolforever", "spoolraw", "mule", "mulefunc", "mulemsg",
                "farm", "harakiri", "rpc", "signal", "timer", "rbtimer", "cron",
                "filemon", "erlang"):
        raise AttributeError(
            "uwsgidecorators.%s is not provided by rwsgi (see rwsgi(8), THE UWSGI MODULE)"
            % name)
    raise AttributeError("module 'uwsgidecorators' has no attribute '%s'" % name)
