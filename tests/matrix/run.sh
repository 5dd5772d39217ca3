#!/usr/bin/env bash
# tests/matrix/run.sh SUITE WHEEL: the integration tests that exercise the interpreter, run
# against the wheel installed into a virtualenv of another Debian suite's CPython (trixie:
# 3.13, sid: 3.14). The suite's root is made once with debootstrap and cached; the tests
# run inside it as a chroot in a private mount namespace that shares this checkout, /tmp
# and the network (loopback) with the machine, so the test binaries cargo built here start
# the wheel's `rwsgi` under that root's Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
suite=${1:?usage: tests/matrix/run.sh SUITE WHEEL}
wheel=$(realpath "${2:?usage: tests/matrix/run.sh SUITE WHEEL}")
cache=${RWSGI_MATRIX_CACHE:-/var/tmp/rwsgi-matrix}
root=$cache/$suite
packages="python3,python3-venv,nginx-light,curl,procps,ca-certificates"
[ "$suite" = bookworm ] || packages=${packages/nginx-light/nginx}
want="$suite $packages"
log() { echo "matrix[$suite]: $*" >&2; }
# shellcheck source=../system/mirror.sh
. tests/system/mirror.sh

create_root() {
    if [ -f "$root.stamp" ] && [ "$(cat "$root.stamp")" = "$want" ]; then
        return
    fi
    command -v debootstrap >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    }
    log "debootstrap (about a minute)"
    rm -rf "$root.new"
    mkdir -p "$cache"
    local url host
    url=$(debian_mirror)
    host=${url#*://}
    host=${host%%/*}
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root.new" "$url" 2>&1 |
        sed -u "s#$host#MIRROR#g" >"$cache/$suite-debootstrap.log"; then
        tail -20 "$cache/$suite-debootstrap.log" >&2
        exit 1
    fi
    rm -rf "$root"
    mv "$root.new" "$root"
    rm -f "$root.venv.stamp"
    echo "$want" >"$root.stamp"
}

# Runs CMD inside the root, as root, with this checkout, /tmp and the machine's network.
inside() {
    unshare -m -- bash -euc '
        root=$1 here=$2; shift 2
        mount --make-rprivate /
        for d in proc sys dev tmp; do mount --rbind "/$d" "$root/$d"; done
        mkdir -p "$root$here"
        mount --rbind "$here" "$root$here"
        cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
            PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
    ' inside "$root" "$PWD" "$@"
}

create_root
venv=/opt/rwsgi-matrix
# The test venv: the wheel plus the frameworks of tests/requirements.txt.
venv_want="$(sha256sum "$wheel" tests/requirements.txt | awk '{print $1}' | tr '\n' ' ')"
if [ ! -f "$root.venv.stamp" ] || [ "$(cat "$root.venv.stamp")" != "$venv_want" ]; then
    log "virtualenv with the wheel and tests/requirements.txt"
    inside sh -c "rm -rf $venv && python3 -m venv $venv && $venv/bin/pip install -q --no-index '$wheel' && $venv/bin/pip install -q -r '$PWD/tests/requirements.txt'"
    echo "$venv_want" >"$root.venv.stamp"
fi
# The mark tests/common's test_venv() looks for.
cp tests/requirements.txt "$root$venv/requirements.installed"
inside $venv/bin/rwsgi --version >&2

# The test binaries cargo built for this checkout (tests/run built them just before).
tests=(wsgi_http wsgi_uwsgi config lifecycle frameworks)
failed=0
for name in "${tests[@]}"; do
    binary=$(cargo test --release --locked --no-run --test "$name" --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1)
    [ -n "$binary" ] || { log "no test binary for $name"; exit 1; }
    log "$name"
    if ! inside env RWSGI_TEST_BIN=$venv/bin/rwsgi RWSGI_TEST_VENV=$venv \
        CARGO_MANIFEST_DIR="$PWD" "$binary" --test-threads=2 2>&1 | sed "s/^/[$suite] /"; then
        failed=$((failed + 1))
    fi
done
[ "$failed" = 0 ] || { log "$failed test binaries failed"; exit 1; }
