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
import os


def application(environ, start_response):
    body = str(os.getpid()).encode() if environ["PATH_INFO"] == "/pid" else b"hello from demo"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
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
    apt purge -y rwsgi >/dev/null
    ! dpkg -s rwsgi >/dev/null 2>&1 && ! test -e /usr/bin/rwsgi && ! test -e /lib/systemd/system/rwsgi@.service && ! test -e /etc/rwsgi/example.ini && ! test -e /var/lib/rwsgi && ! test -e /usr/share/man/man8/rwsgi.8.gz'

echo "system-$SUITE: $passed passed, $failed failed"
[ "$failed" = 0 ]
