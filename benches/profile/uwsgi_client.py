"""N uwsgi-protocol requests, one connection each, like nginx's uwsgi_pass with stock uwsgi_params."""
import socket, struct, sys
path, n, url = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else "/")
body = b"x" * int(sys.argv[4]) if len(sys.argv) > 4 else b""
v = [("QUERY_STRING", ""), ("REQUEST_METHOD", "POST" if body else "GET"), ("CONTENT_TYPE", ""),
     ("CONTENT_LENGTH", str(len(body)) if body else ""), ("REQUEST_URI", url), ("PATH_INFO", url),
     ("DOCUMENT_ROOT", "/usr/share/nginx/html"), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_SCHEME", "http"),
     ("HTTPS", ""), ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_PORT", "51234"), ("SERVER_PORT", "8080"),
     ("SERVER_NAME", ""), ("HTTP_HOST", "127.0.0.1:8080")]
vars_ = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(x)) + x.encode() for k, x in v)
pkt = struct.pack("<BHB", 0, len(vars_), 0) + vars_ + body
total = 0
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(pkt)
    while True:
        d = s.recv(1 << 20)
        if not d: break
        total += len(d)
    s.close()
print(total // max(n, 1), "bytes per response", file=sys.stderr)
