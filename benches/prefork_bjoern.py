"""bjoern serves from one process; this forks N of them on one listening socket so it can
be compared with 2-worker servers. Usage: prefork_bjoern.py HOST PORT WORKERS"""
import os
import signal
import socket
import sys

import bjoern

from app import application

host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((host, port))
listener.listen(1024)
children = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        bjoern.server_run(listener, application)
        os._exit(0)
    children.append(pid)


def stop(*_):
    for child in children:
        os.kill(child, signal.SIGTERM)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
for _ in children:
    os.wait()
