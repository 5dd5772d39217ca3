#!/usr/bin/env bash
# A Debian root booted with systemd as PID 1 (systemd-nspawn --boot) for the system test,
# on machines whose own PID 1 is not systemd. RWSGI_BOX_SUITE chooses the suite (bookworm,
# the default, or trixie); each suite has a root and a state of its own.
#
#   box.sh create      debootstrap the root once (cached in $RWSGI_BOX_CACHE)
#   box.sh boot        overlay a fresh writable layer on it and boot it
#   box.sh run CMD...  run CMD inside (all namespaces, clean environment); exit code passes
#   box.sh copy-in SRC DEST
#   box.sh stop        power off, unmount, remove its cgroups
#
# Facts this relies on: nspawn needs --register=no --keep-unit without a host systemd;
# SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 gives the box a plain cgroup2 tree; the launcher goes
# into a cgroup of its own first so nspawn's sub-cgroups have a clean parent.
set -euo pipefail

SUITE=${RWSGI_BOX_SUITE:-bookworm}
# RWSGI_BOX_NAME keeps two boxes of one suite apart (cache, cgroup, machine name).
NAME=${RWSGI_BOX_NAME:-rwsgi-box}-$SUITE
CACHE=${RWSGI_BOX_CACHE:-/var/tmp/${RWSGI_BOX_NAME:-rwsgi-box}}/$SUITE
BASE=$CACHE/base
STAMP=$CACHE/base.stamp
STATE=$CACHE/run
ROOT=$STATE/root
PACKAGES="systemd,systemd-sysv,dbus,python3,curl,procps,man-db,iproute2,nginx"
WANT="$SUITE $PACKAGES"
# shellcheck source=mirror.sh
. "$(dirname "$0")/mirror.sh"
INNER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "box: $*" >&2; }

cgroup_dirs() {
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo "/sys/fs/cgroup/$NAME"
        return
    fi
    for h in systemd unified; do
        [ -d /sys/fs/cgroup/$h ] && echo "/sys/fs/cgroup/$h/$NAME"
    done
}

do_create() {
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
        return
    fi
    local tools=()
    command -v debootstrap >/dev/null || tools+=(debootstrap)
    command -v systemd-nspawn >/dev/null || tools+=(systemd-container)
    if ((${#tools[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
    fi
    rm -rf "$BASE.new"
    mkdir -p "$CACHE"
    log "debootstrap $SUITE (about a minute)"
    local url host
    url=$(debian_mirror)
    host=${url#*://}
    host=${host%%/*}
    if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$BASE.new" "$url" 2>&1 |
        sed -u "s#$host#MIRROR#g" >"$CACHE/debootstrap.log"; then
        tail -20 "$CACHE/debootstrap.log" >&2
        exit 1
    fi
    echo "# no apt source: the box installs only local packages" >"$BASE.new/etc/apt/sources.list"
    rm -rf "$BASE.new"/var/lib/apt/lists/* "$BASE.new"/var/cache/apt/archives/*.deb "$BASE.new/var/log/bootstrap.log"
    mkdir -p "$BASE.new/var/lib/apt/lists/partial"
    echo "$NAME" >"$BASE.new/etc/hostname"
    systemctl --root="$BASE.new" mask console-getty.service apt-daily.timer apt-daily-upgrade.timer \
        dpkg-db-backup.timer fstrim.timer e2scrub_all.timer man-db.timer >/dev/null 2>&1 || true
    rm -rf "$BASE"
    mv "$BASE.new" "$BASE"
    echo "$WANT" >"$STAMP"
}

leader() {
    # The box's PID 1: the child of nspawn.
    local nspawn
    nspawn=$(cat "$STATE/nspawn.pid" 2>/dev/null) || return 1
    kill -0 "$nspawn" 2>/dev/null || return 1
    pgrep -P "$nspawn" | head -1
}

do_boot() {
    do_create
    do_stop >/dev/null 2>&1 || true
    mkdir -p "$STATE/upper" "$STATE/work" "$ROOT"
    rm -rf "$STATE/upper"/* "$STATE/work"/*
    mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$STATE/upper,workdir=$STATE/work" "$ROOT"
    systemd-id128 new >"$ROOT/etc/machine-id"
    local dirs=()
    for d in $(cgroup_dirs); do
        mkdir -p "$d"
        dirs+=("$d")
    done
    (
        for d in "${dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
        export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
        exec setsid systemd-nspawn --quiet --machine="$NAME" --directory="$ROOT" --boot \
            --register=no --keep-unit --link-journal=no --console=read-only --private-network \
            --setenv=SYSTEMD_COLORS=0
    ) </dev/null >"$STATE/console.log" 2>&1 &
    echo $! >"$STATE/nspawn.pid"
    local deadline=$((SECONDS + 60)) state=""
    while ((SECONDS < deadline)); do
        if leader >/dev/null 2>&1; then
            state=$(do_run systemctl is-system-running 2>/dev/null || true)
            case "$state" in running | degraded) log "booted ($state)"; return 0 ;; esac
        fi
        sleep 0.2
    done
    log "the box did not boot (state: $state)"
    tail -30 "$STATE/console.log" >&2
    return 1
}

do_run() {
    local pid
    pid=$(leader) || { log "the box is not running"; return 1; }
    nsenter -t "$pid" -a -r -w -- /usr/bin/env -i PATH="$INNER_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

do_copy_in() {
    local src=$1 dest=$2
    do_run sh -c "cat > '$dest' && chmod $(stat -c %a "$src") '$dest'" <"$src"
}

do_stop() {
    local nspawn
    nspawn=$(cat "$STATE/nspawn.pid" 2>/dev/null || true)
    if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
        kill -TERM "$nspawn" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn" 2>/dev/null || true
    fi
    rm -f "$STATE/nspawn.pid"
    mountpoint -q "$ROOT" 2>/dev/null && umount -l "$ROOT"
    for d in $(cgroup_dirs); do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    return 0
}

command=${1:-}
shift || true
case "$command" in
    create) do_create ;;
    boot) do_boot ;;
    run) do_run "$@" ;;
    copy-in) do_copy_in "$@" ;;
    stop) do_stop ;;
    *) echo "usage: box.sh create|boot|run CMD...|copy-in SRC DEST|stop" >&2; exit 2 ;;
esac
