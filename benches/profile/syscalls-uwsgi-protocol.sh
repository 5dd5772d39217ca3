#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# usage: syscalls-uwsgi-protocol.sh rwsgi|uwsgi N [url] [body]: syscalls of 1 worker over N uwsgi requests (strace -c -f)
S=$1; N=$2; URL=${3:-/}; BODY=${4:-}; D=$(mktemp -d /tmp/sys18.XXXX)
if [ $S = rwsgi ]; then
  ${BIN:-$ROOT/target/release/rwsgi} --chdir $ROOT/benches --module app --processes 1 --disable-logging --socket $D/s.sock > $D/log 2>&1 &
else
  $ROOT/target/bench-venv/bin/uwsgi --master --processes 1 --disable-logging --chdir $ROOT/benches --module app --socket $D/s.sock --die-on-term > $D/log 2>&1 &
fi
SP=$!; sleep 2
W=$(cat /proc/$SP/task/*/children | awk '{print $1}')
python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock 3 $URL $BODY 2>/dev/null
strace -c -f -p $W -o $D/strace 2>/dev/null & STP=$!; sleep 1
python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock $N $URL $BODY 2>/dev/null
sleep 0.5; kill -INT $STP; wait $STP 2>/dev/null
head -30 $D/strace
if [ $S = rwsgi ]; then kill -TERM $SP; else kill -INT $SP; fi; wait 2>/dev/null
