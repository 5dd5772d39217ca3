#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# usage: syscalls-http.sh rwsgi|uwsgi path [conns]: syscalls of 1 worker over 3 s of wrk keep-alive on http-socket
S=$1; P=$2; C=${3:-4}; D=$(mktemp -d /tmp/sysb18.XXXX); PORT=18123
if [ $S = rwsgi ]; then
  ${BIN:-$ROOT/target/release/rwsgi} --chdir $ROOT/benches --module app --processes 1 --disable-logging --http-socket 127.0.0.1:$PORT > $D/log 2>&1 &
else
  $ROOT/target/bench-venv/bin/uwsgi --master --processes 1 --disable-logging --chdir $ROOT/benches --module app --http-socket 127.0.0.1:$PORT --die-on-term > $D/log 2>&1 &
fi
SP=$!; sleep 2
W=$(cat /proc/$SP/task/*/children | awk '{print $1}')
wrk -t1 -c$C -d1s http://127.0.0.1:$PORT$P -s $ROOT/benches/post.lua >/dev/null 2>&1
strace -c -f -p $W -o $D/strace 2>/dev/null & STP=$!; sleep 1
EXTRA=""; [ "$P" = /echo ] && EXTRA="-s $ROOT/benches/post.lua"
wrk -t1 -c$C -d3s http://127.0.0.1:$PORT$P $EXTRA | grep -E "requests in"
sleep 0.3; kill -INT $STP; wait $STP 2>/dev/null
head -14 $D/strace
if [ $S = rwsgi ]; then kill -TERM $SP; else kill -INT $SP; fi; wait 2>/dev/null
