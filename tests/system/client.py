"""Requests from inside the box: `client.py uwsgi PATH` sends one uwsgi-protocol request to
/run/rwsgi/demo.sock as nginx would; `client.py load SECONDS` sends HTTP requests over
keep-alive connections for SECONDS and prints `ok=N retried=N failed=N pids=a,b,...`."""
import http.client
import socket
import sys
import threading
import time


def uwsgi(path):
    pairs = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "REQUEST_URI": path, "QUERY_STRING": "",
             "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "box", "SERVER_PORT": "80",
             "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "box"}
    block = b"".join(len(k).to_bytes(2, "little") + k.encode() + len(v).to_bytes(2, "little") + v.encode()
                     for k, v in pairs.items())
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect("/run/rwsgi/demo.sock")
    s.sendall(bytes([0]) + len(block).to_bytes(2, "little") + bytes([0]) + block)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    print(data.decode(errors="replace"))


def load(seconds):
    stop = time.time() + seconds
    tally = {"ok": 0, "retried": 0, "failed": 0}
    pids = set()
    lock = threading.Lock()

    def client():
        conn = None
        while time.time() < stop:
            for attempt in (1, 2):
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", 8080, timeout=20)
                    conn.request("GET", "/pid")
                    response = conn.getresponse()
                    body = response.read().decode()
                    if response.getheader("Connection") == "close":
                        conn.close()
                        conn = None
                    with lock:
                        if response.status == 200:
                            tally["ok"] += 1
                            pids.add(body)
                        else:
                            tally["failed"] += 1
                    break
                except (OSError, http.client.HTTPException):
                    if conn:
                        conn.close()
                    conn = None
                    with lock:
                        tally["retried" if attempt == 1 else "failed"] += 1

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok=%(ok)d retried=%(retried)d failed=%(failed)d" % tally, "pids=" + ",".join(sorted(pids)))


if __name__ == "__main__":
    if sys.argv[1] == "uwsgi":
        uwsgi(sys.argv[2])
    else:
        load(float(sys.argv[2]))
