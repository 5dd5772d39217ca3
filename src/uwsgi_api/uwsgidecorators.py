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


def get_free_signal():
    """The lowest signal number this process has no handler for."""
    for number in range(256):
        if not uwsgi.signal_registered(number):
            return number
    raise Exception("No free uwsgi signal available")


class _signal_handler:
    """Base of the decorators that make the function the handler of a uwsgi signal: the
    number given (``signum=``), else the lowest free one, delivered to ``target``; then
    ``_arm`` arranges for the signal to be raised (a timer, a cron entry, a file monitor)."""

    def __init__(self, num, target):
        self.num = num
        self.target = target

    def __call__(self, function):
        if self.num is None:
            self.num = get_free_signal()
        uwsgi.register_signal(self.num, self.target, function)
        self._arm()
        return function

    def _arm(self):
        pass


class signal(_signal_handler):
    """``@signal(num, target='')``: the function handles uwsgi signal ``num``."""

    def __init__(self, num, **kwargs):
        _signal_handler.__init__(self, num, kwargs.get("target", ""))


class timer(_signal_handler):
    """``@timer(seconds, target='', signum=None)``: called every ``seconds``."""

    def __init__(self, seconds, **kwargs):
        _signal_handler.__init__(self, kwargs.get("signum", None), kwargs.get("target", ""))
        self.seconds = seconds

    def _arm(self):
        uwsgi.add_timer(self.num, self.seconds)


class rbtimer(timer):
    """``@rbtimer(seconds, target='', signum=None, iterations=0)``."""

    def __init__(self, seconds, **kwargs):
        timer.__init__(self, seconds, **kwargs)
        self.iterations = kwargs.get("iterations", 0)

    def _arm(self):
        uwsgi.add_rb_timer(self.num, self.seconds, self.iterations)


class cron(_signal_handler):
    """``@cron(minute, hour, day, month, weekday, target='')``: -1 is any, -N every N."""

    def __init__(self, minute, hour, day, month, weekday, **kwargs):
        _signal_handler.__init__(self, kwargs.get("signum", None), kwargs.get("target", ""))
        self.fields = (minute, hour, day, month, weekday)

    def _arm(self):
        uwsgi.add_cron(self.num, *self.fields)


class filemon(_signal_handler):
    """``@filemon(path, target='')``: called when the file or directory changes."""

    def __init__(self, path, **kwargs):
        _signal_handler.__init__(self, kwargs.get("signum", None), kwargs.get("target", ""))
        self.path = path

    def _arm(self):
        uwsgi.add_file_monitor(self.num, self.path)


import pickle as _pickle

spooler_functions = {}


def _text(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def manage_spool_request(vars):
    """uwsgi.spooler as set by this module: runs the @spool function the task names.

    Keys arrive as bytes; the function gets str keys, str values (``body`` stays bytes),
    or its own pickled positional and keyword arguments.
    """
    arguments = {}
    for key, value in vars.items():
        key = _text(key)
        arguments[key] = value if key in ("body", "args", "kwargs") else _text(value)
    function = spooler_functions[arguments["ud_spool_func"]]
    if "args" in arguments or "kwargs" in arguments:
        args = _pickle.loads(arguments.pop("args")) if "args" in arguments else ()
        kwargs = _pickle.loads(arguments.pop("kwargs")) if "kwargs" in arguments else {}
        result = function.function(*args, **kwargs)
    else:
        result = function.function(arguments)
    if "ud_spool_ret" in arguments:
        return int(arguments["ud_spool_ret"])
    return result


uwsgi.spooler = manage_spool_request


class _spool:
    """Base of @spool, @spoolforever, @spoolraw: ``f.spool(...)`` (or calling ``f``)
    queues a task that runs ``f`` in a spooler process."""

    ret = None

    def __init__(self, function=None, pass_arguments=False):
        self.pass_arguments = pass_arguments
        self.function = None
        if function is not None:
            self._register(function)

    def _register(self, function):
        self.function = function
        self.name = "%s.%s" % (function.__module__, function.__qualname__)
        spooler_functions[self.name] = self

    def spool(self, *args, **kwargs):
        task = {"ud_spool_func": self.name}
        if self.ret is not None:
            task["ud_spool_ret"] = str(self.ret)
        special = {}
        for key in ("body", "spooler", "priority", "at"):
            if key in kwargs:
                special[key] = kwargs.pop(key)
        if self.pass_arguments:
            if args:
                task["args"] = _pickle.dumps(args)
            if kwargs:
                task["kwargs"] = _pickle.dumps(kwargs)
        else:
            for argument in args:
                task.update(argument)
            task.update(kwargs)
        task.update(special)
        return uwsgi.spool(task)

    def __call__(self, *args, **kwargs):
        if self.function is None:
            self._register(args[0])
            return self
        return self.spool(*args, **kwargs)


class spool(_spool):
    """The task is removed after the function runs, whatever it returns."""

    ret = uwsgi.SPOOL_OK


class spoolforever(_spool):
    """The task is run again at every scan, whatever the function returns."""

    ret = uwsgi.SPOOL_RETRY


class spoolraw(_spool):
    """The function's return value (uwsgi.SPOOL_OK/RETRY/IGNORE) decides."""

    ret = None


mule_functions = {}


def mule_msg_dispatcher(message):
    """uwsgi.mule_msg_hook as set by this module: runs the @mulefunc call a message carries.

    A message that is not such a call raises ValueError (the mule logs it and goes on).
    """
    try:
        call = _pickle.loads(message)
    except Exception:
        call = None
    if not isinstance(call, dict) or call.get("service") != "rwsgi_mulefunc":
        raise ValueError(
            "a mule message of %d bytes is not a @mulefunc call; set uwsgi.mule_msg_hook "
            "to receive plain messages" % len(message))
    function = mule_functions[call["func"]]
    return function(*call["args"], **call["kwargs"])


uwsgi.mule_msg_hook = mule_msg_dispatcher


class mulefunc:
    """Calling the function queues the call for a mule, arguments pickled; it returns True
    once queued (the function's own result stays in the mule).

    ``@mulefunc``: any mule; ``@mulefunc(N)``: mule N; ``@mulefunc('name')``: a mule of
    farm ``name``.
    """

    def __init__(self, function_or_target):
        self.function = None
        if callable(function_or_target):
            self.target = None
            self._register(function_or_target)
        else:
            self.target = function_or_target

    def _register(self, function):
        self.function = function
        self.name = "%s.%s" % (function.__module__, function.__qualname__)
        mule_functions[self.name] = function

    def __call__(self, *args, **kwargs):
        if self.function is None:
            self._register(args[0])
            return self
        message = _pickle.dumps({"service": "rwsgi_mulefunc", "func": self.name,
                                 "args": args, "kwargs": kwargs})
        if self.target is None:
            return uwsgi.mule_msg(message)
        return uwsgi.mule_msg(message, self.target)


class _brain:
    def __init__(self, function, num, forever):
        self.function = function
        self.num = num
        self.forever = forever

    def __call__(self):
        if uwsgi.mule_id() != self.num:
            return
        while True:
            self.function()
            if not self.forever:
                return


class mule:
    """``@mule(N)``: the function runs in mule N once it is forked (before its message loop)."""

    forever = False

    def __init__(self, num):
        self.num = num

    def __call__(self, function):
        _postfork_chain.append(_brain(function, self.num, self.forever))
        return function


class muleloop(mule):
    """``@muleloop(N)``: the function runs in mule N again and again."""

    forever = True


class _farm_brain:
    def __init__(self, function, name):
        self.function = function
        self.name = name

    def __call__(self):
        if uwsgi.mule_id() == 0:
            return
        if self.name is not None and not uwsgi.in_farm(self.name):
            return
        while True:
            message = uwsgi.farm_get_msg()
            if message is not None:
                self.function(message)


class farm:
    """``@farm(name)``: in each mule of farm ``name`` (``@farm()``: of any farm), the function
    receives every message of its farms, in a loop."""

    def __init__(self, name=None):
        self.name = name

    def __call__(self, function):
        _postfork_chain.append(_farm_brain(function, self.name))
        return function


def __getattr__(name):
    if name in ("harakiri", "rpc", "erlang"):
        raise AttributeError(
            "uwsgidecorators.%s is not provided by rwsgi (see rwsgi(8), THE UWSGI MODULE)"
            % name)
    raise AttributeError("module 'uwsgidecorators' has no attribute '%s'" % name)
