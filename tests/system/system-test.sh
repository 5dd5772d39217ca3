#!/usr/bin/env bash
# The user's whole story, in a real systemd (tests/system/box.sh): install the .deb, drop
# an ini in /etc/rwsgi, enable the socket, request, read the journal, reload under load,
# stop, read the man page, purge. The commands are the README's "Install on Debian".
#
#   tests/system/system-test.sh SUITE   (bookworm or trixie: the package and the box's suite)
set -uo pipefail
cd "$(dirname "$0")/../.."
SUITE=${1:-bookworm}
export RWSGI_BOX_SUITE=$SUITE
BOX=tests/system/box.sh
passed=0
failed=0
check() {
    local name=$1
    shift
    if output=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        echo "$output" | tail -20 | sed 's/^/    /'
    fi
}
box() { bash "$BOX" run "$@"; }

bash packaging/build-deb.sh "$SUITE" >"target/system-test-build-$SUITE.log" 2>&1 || { tail -30 "target/system-test-build-$SUITE.log"; echo "0 passed, 1 failed"; exit 1; }
deb=$(ls target/debian/"$SUITE"/rwsgi_*.deb)
trap 'bash "$BOX" stop >/dev/null 2>&1' EXIT
bash "$BOX" boot || { echo "0 passed, 1 failed"; exit 1; }
bash "$BOX" copy-in "$deb" "/tmp/$(basename "$deb")"
bash "$BOX" copy-in tests/system/client.py /tmp/client.py

cat >/tmp/rwsgi-demo-app.py <<'APP'
import logging
import os

logging.basicConfig()


def application(environ, start_response):
    path, status = environ["PATH_INFO"], "200 OK"
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/upload":
        # Saves the request body in the app's own media directory.
        try:
            with open("/srv/demo/media/upload.txt", "wb") as f:
                f.write(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            body = b"saved"
        except OSError as e:
            status, body = "500 Internal Server Error", repr(e).encode()
    elif path == "/log-error":
        try:
            raise ValueError("demo failure")
        except ValueError:
            logging.getLogger("demo").exception("the demo logs a traceback")
        body = b"logged"
    else:
        body = b"hello from demo"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
APP
cat >/tmp/rwsgi-demo.ini <<'INI'
[uwsgi]
chdir = /srv/demo
module = app
processes = 2
http-socket = 127.0.0.1:8080
vacuum = true
INI

# --- the README's "Install on Debian" commands
check "apt install ./rwsgi_*.deb" box sh -c 'cd /tmp && apt install -y ./rwsgi_*.deb'
check "units and man pages installed" box sh -c 'test -f /lib/systemd/system/rwsgi@.service && test -f /lib/systemd/system/rwsgi@.socket && test -f /usr/share/man/man8/rwsgi.8.gz && test -f /etc/rwsgi/example.ini'
check "nothing started by the package" box sh -c '! systemctl is-active --quiet "rwsgi@*" && ! pgrep -x rwsgi'
box mkdir -p /srv/demo
bash "$BOX" copy-in /tmp/rwsgi-demo-app.py /srv/demo/app.py
bash "$BOX" copy-in /tmp/rwsgi-demo.ini /etc/rwsgi/demo.ini
check "systemctl enable --now rwsgi@demo.socket" box systemctl enable --now rwsgi@demo.socket
check "socket listens, service waits" box sh -c 'test -S /run/rwsgi/demo.sock && ! systemctl is-active --quiet rwsgi@demo.service'
check "first uwsgi request starts the service" box sh -c 'python3 /tmp/client.py uwsgi /hello | grep -q "hello from demo" && systemctl is-active --quiet rwsgi@demo.service'
check "HTTP request answered" box sh -c 'curl -fsS http://127.0.0.1:8080/hello | grep -q "hello from demo"'
check "service runs as www-data" box sh -c 'pid=$(systemctl show -p MainPID --value rwsgi@demo.service); grep -q "^Uid:.33" /proc/$pid/status'
check "journal has the request with its fields" box sh -c 'journalctl -u rwsgi@demo.service -o json STATUS=200 --no-pager | grep "\"REQUEST_URI\":\"/hello\"" | grep -q "\"DURATION_US\""'
check "systemctl reload under load loses nothing" box sh -c '
    main=$(systemctl show -p MainPID --value rwsgi@demo.service)
    before=$(curl -fsS http://127.0.0.1:8080/pid)
    python3 /tmp/client.py load 4 >/tmp/load.out & load=$!
    sleep 1
    systemctl reload rwsgi@demo.service || exit 1
    wait $load
    cat /tmp/load.out
    grep -q "failed=0 " /tmp/load.out || exit 1
    after=$(curl -fsS http://127.0.0.1:8080/pid)
    [ "$before" != "$after" ] || { echo "the same worker serves after reload"; exit 1; }
    [ "$(systemctl show -p MainPID --value rwsgi@demo.service)" = "$main" ] || { echo "MainPID changed"; exit 1; }
    systemctl is-active --quiet rwsgi@demo.service'
check "reload with an unwritable pidfile keeps serving, same MainPID, returns non-zero" box sh -c '
    main=$(systemctl show -p MainPID --value rwsgi@demo.service)
    echo "pidfile = /run/rwsgi/demo.pid" >>/etc/rwsgi/demo.ini
    if timeout 60 systemctl reload rwsgi@demo.service; then echo "the reload reported success"; exit 1; fi
    status=$(systemctl show -p StatusText --value rwsgi@demo.service)
    echo "status: $status"
    echo "$status" | grep -q "reload failed: cannot write pidfile /run/rwsgi/demo.pid" || exit 1
    journalctl -u rwsgi@demo.service --no-pager | grep -q "pidfile /run/rwsgi/demo.pid: this service cannot write to /run/rwsgi (EACCES.*under /run/rwsgi/demo/" || { echo "no warning about the pidfile directory"; exit 1; }
    [ "$(systemctl show -p MainPID --value rwsgi@demo.service)" = "$main" ] || { echo "MainPID changed"; exit 1; }
    systemctl is-active --quiet rwsgi@demo.service || exit 1
    curl -fsS http://127.0.0.1:8080/hello | grep -q "hello from demo" || exit 1
    python3 /tmp/client.py uwsgi /hello | grep -q "hello from demo" || exit 1
    # fixed, the next reload completes; uid and gid lines naming the user it runs as are fine
    sed -i "/^pidfile/d" /etc/rwsgi/demo.ini
    printf "uid = www-data\ngid = www-data\n" >>/etc/rwsgi/demo.ini
    timeout 60 systemctl reload rwsgi@demo.service || exit 1
    if journalctl -u rwsgi@demo.service --no-pager | grep "ignored: rwsgi runs as"; then exit 1; fi
    [ "$(systemctl show -p MainPID --value rwsgi@demo.service)" = "$main" ] || exit 1
    systemctl show -p StatusText --value rwsgi@demo.service | grep -q "worker(s)" || exit 1
    curl -fsS http://127.0.0.1:8080/hello | grep -q "hello from demo"'
check "one identifier per instance; app log levels; a traceback is one entry" box sh -c '
    curl -fsS http://127.0.0.1:8080/log-error | grep -q logged || exit 1
    sleep 1
    others=$(journalctl _SYSTEMD_UNIT=rwsgi@demo.service -o json --no-pager | grep -v "\"SYSLOG_IDENTIFIER\":\"rwsgi-demo\"" | head -3)
    [ -z "$others" ] || { echo "entries under another identifier: $others"; exit 1; }
    entry=$(journalctl _SYSTEMD_UNIT=rwsgi@demo.service -p err -o json --no-pager | grep "the demo logs a traceback")
    echo "$entry" | grep -q "\"PRIORITY\":\"3\"" || { echo "not at priority 3: $entry"; exit 1; }
    echo "$entry" | grep -q "Traceback (most recent call last)" && echo "$entry" | grep -q "ValueError: demo failure" || { echo "the traceback is split: $entry"; exit 1; }'
check "lazy app that cannot import reaches READY and answers 500" box sh -c '
    mkdir -p /srv/lazy
    echo "raise ImportError(\"the lazy demo cannot import\")" >/srv/lazy/broken.py
    printf "[uwsgi]\nchdir = /srv/lazy\nmodule = broken\nlazy-apps = true\nprocesses = 2\nhttp-socket = 127.0.0.1:8081\n" >/etc/rwsgi/lazy.ini
    systemctl enable --now rwsgi@lazy.socket || exit 1
    timeout 30 systemctl start rwsgi@lazy.service || { echo "start did not reach READY"; exit 1; }
    code=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8081/)
    [ "$code" = 500 ] || { echo "answered $code"; exit 1; }
    systemctl show -p StatusText --value rwsgi@lazy.service | grep -q "did not load" || exit 1
    journalctl -u rwsgi@lazy.service --no-pager | grep -q "the lazy demo cannot import" || exit 1
    systemctl stop rwsgi@lazy.service rwsgi@lazy.socket'
check "ini with uid, gid and a unix socket line starts with warnings" box sh -c '
    mkdir -p /srv/legacy
    cp /srv/demo/app.py /srv/legacy/app.py
    printf "[uwsgi]\nchdir = /srv/legacy\nmodule = app\nuid = nobody\ngid = nogroup\nsocket = /srv/legacy/run/legacy.sock\nchown-socket = nobody:nogroup\nhttp-socket = 127.0.0.1:8082\n" >/etc/rwsgi/legacy.ini
    systemctl enable --now rwsgi@legacy.socket || exit 1
    timeout 30 systemctl start rwsgi@legacy.service || exit 1
    curl -fsS http://127.0.0.1:8082/hello | grep -q "hello from demo" || exit 1
    log=$(journalctl -u rwsgi@legacy.service --no-pager)
    echo "$log" | grep -q "/etc/rwsgi/legacy.ini:4: uid, /etc/rwsgi/legacy.ini:5: gid ignored: .*systemctl edit rwsgi@legacy.service.*User=" || { echo "$log"; exit 1; }
    echo "$log" | grep -q "/etc/rwsgi/legacy.ini:6: socket /srv/legacy/run/legacy.sock skipped: systemd passes this service its socket (/run/rwsgi/legacy.sock)" || { echo "$log"; exit 1; }
    echo "$log" | grep -q "/etc/rwsgi/legacy.ini:7: chown-socket ignored" || { echo "$log"; exit 1; }
    [ "$(echo "$log" | grep -c "gid ignored")" = 1 ] || { echo "not one warning"; exit 1; }
    systemctl stop rwsgi@legacy.service rwsgi@legacy.socket'
check "upload to the app directory fails before the documented drop-in, works after" box sh -c '
    mkdir -p /srv/demo/media && chown www-data:www-data /srv/demo/media
    out=$(curl -sS --data-binary "first upload" http://127.0.0.1:8080/upload)
    echo "$out" | grep -q "Read-only file system" || { echo "before the drop-in: $out"; exit 1; }
    mkdir -p /etc/systemd/system/rwsgi@demo.service.d
    sed "s|^#ReadWritePaths=/srv/NAME/media|ReadWritePaths=/srv/demo/media|" /usr/share/doc/rwsgi/examples/systemd/override.conf >/etc/systemd/system/rwsgi@demo.service.d/override.conf
    systemctl daemon-reload && systemctl restart rwsgi@demo.service || exit 1
    out=$(curl -sS --data-binary "second upload" http://127.0.0.1:8080/upload)
    [ "$out" = saved ] && [ "$(cat /srv/demo/media/upload.txt)" = "second upload" ] || { echo "after the drop-in: $out"; exit 1; }'
check "a configuration that cannot start ends failed within a minute; nginx answers 502" box sh -c '
    mkdir -p /srv/broken && cp /srv/demo/app.py /srv/broken/app.py
    printf "[uwsgi]\nchdir = /srv/broken\nmodule = app\npidfile = /etc/broken.pid\n" >/etc/rwsgi/broken.ini
    printf "server {\n listen 127.0.0.1:8090;\n location / { include uwsgi_params; uwsgi_pass unix:/run/rwsgi/broken.sock; }\n}\n" >/etc/nginx/conf.d/broken.conf
    systemctl restart nginx || exit 1
    systemctl enable --now rwsgi@broken.socket || exit 1
    first=$(curl -s -o /dev/null -w "%{http_code}" -m 70 http://127.0.0.1:8090/)
    echo "first request: $first"
    for i in $(seq 600); do systemctl is-failed --quiet rwsgi@broken.service && break; sleep 0.1; done
    systemctl is-failed --quiet rwsgi@broken.service || { systemctl status rwsgi@broken.service --no-pager; exit 1; }
    systemctl is-active --quiet rwsgi@broken.socket && { echo "the socket still listens"; exit 1; }
    code=$(curl -s -o /dev/null -w "%{http_code}" -m 5 http://127.0.0.1:8090/)
    [ "$code" = 502 ] || { echo "nginx answered $code"; exit 1; }
    systemctl status rwsgi@broken.service --no-pager | grep -q "cannot write pidfile /etc/broken.pid" || { systemctl status rwsgi@broken.service --no-pager; exit 1; }'
check "a start that keeps crashing hits the start limit; the socket stops" box sh -c '
    # each attempt lasts 2 s + RestartSec=2: never 5 in systemd'"'"'s default 10 s window
    printf "[uwsgi]\nchdir = /srv/broken\nmodule = app\nexec-as-user = sleep 2; exit 3\n" >/etc/rwsgi/crashy.ini
    systemctl enable --now rwsgi@crashy.socket || exit 1
    systemctl start rwsgi@crashy.service && { echo "started"; exit 1; }
    for i in $(seq 600); do systemctl is-active --quiet rwsgi@crashy.socket || break; sleep 0.1; done
    systemctl is-failed --quiet rwsgi@crashy.service || { systemctl status rwsgi@crashy.service --no-pager; exit 1; }
    systemctl is-active --quiet rwsgi@crashy.socket && { echo "the socket still listens"; exit 1; }
    systemctl show -p Result --value rwsgi@crashy.socket | grep -q service-start-limit-hit || exit 1
    ! test -e /run/rwsgi/crashy.sock'
check "systemd-analyze security exposure <= 4.0" box sh -c '
    line=$(systemd-analyze security rwsgi@demo.service --no-pager | grep "Overall exposure level")
    echo "$line"
    score=$(echo "$line" | sed -E "s/.*: ([0-9.]+).*/\1/")
    awk -v s="$score" "BEGIN { exit !(s <= 4.0) }"'
check "man rwsgi works" box sh -c 'man -P cat rwsgi 2>/dev/null | grep -q "SOCKET ACTIVATION" && man -P cat rwsgi.ini 2>/dev/null | grep -q "max-requests"'
check "systemctl stop leaves no process and removes the socket" box sh -c '
    systemctl stop rwsgi@demo.service rwsgi@demo.socket
    ! pgrep -x rwsgi && ! test -e /run/rwsgi/demo.sock'
check "apt purge leaves nothing" box sh -c '
    systemctl start rwsgi@demo.socket rwsgi@lazy.socket rwsgi@legacy.service || exit 1
    python3 /tmp/client.py uwsgi /hello | grep -q "hello from demo" || exit 1
    systemctl is-active --quiet rwsgi@demo.service rwsgi@legacy.service || { echo "no instance runs before the purge"; exit 1; }
    apt purge -y rwsgi >/dev/null
    ! dpkg -s rwsgi >/dev/null 2>&1 && ! test -e /usr/bin/rwsgi && ! test -e /lib/systemd/system/rwsgi@.service && ! test -e /etc/rwsgi/example.ini && ! test -e /var/lib/rwsgi && ! test -e /usr/share/man/man8/rwsgi.8.gz || exit 1
    for i in $(seq 50); do pgrep -x rwsgi >/dev/null || break; sleep 0.1; done
    if pgrep -x rwsgi || pgrep -af "^/usr/bin/python3 /usr/bin/rwsgi"; then echo "processes left"; exit 1; fi
    if ls /etc/systemd/system/*.wants/rwsgi@* 2>/dev/null; then echo "links left"; exit 1; fi
    for d in /var/lib/rwsgi /var/log/rwsgi /var/cache/rwsgi /run/rwsgi; do
        if test -e "$d"; then echo "$d left"; exit 1; fi
    done
    # (systemd remembers a failed instance, rwsgi@broken, until `systemctl reset-failed`)
    units=$(systemctl list-units --all --plain --no-legend --state=active,activating,deactivating,reloading,listening,running "rwsgi@*")
    [ -z "$units" ] || { echo "units left: $units"; exit 1; }'

echo "system-$SUITE: $passed passed, $failed failed"
[ "$failed" = 0 ]
