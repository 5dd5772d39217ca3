"""``python -m rwsgi`` and the ``rwsgi`` console script: the running interpreter hosts
rwsgi's extension module, which serves the application with this interpreter."""

import io
import os
import sys


def _unbuffered_stdio():
    # As the embedding binary does (PyConfig buffered_stdio = 0, like ``python -u``): the
    # application's output reaches the log as it is written, not when a buffer fills.
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None:
            continue
        try:
            raw = io.FileIO(fd, "w", closefd=False)
        except OSError:
            continue
        setattr(sys, name, io.TextIOWrapper(
            raw, encoding=stream.encoding, errors=stream.errors, write_through=True))


def main():
    if sys.implementation.name != "cpython" or sys.version_info < (3, 10):
        sys.exit("rwsgi serves CPython 3.10 or newer; this is %s %s"
                 % (sys.implementation.name, sys.version.split()[0]))
    from rwsgi import _rwsgi

    _unbuffered_stdio()
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(_rwsgi.main(sys.argv[1:], package_dir))


if __name__ == "__main__":
    main()
