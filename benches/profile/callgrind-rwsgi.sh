#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# usage: callgrind-rwsgi.sh N [path] [body bytes]: rwsgi (1 worker) under callgrind, instrumentation
# switched on after warm-up, then N uwsgi-protocol requests (one connection each, nginx's
# uwsgi_params). Prints each process's Ir: the worker's divided by N is Ir per request.
# BIN=path/to/rwsgi measures another build.
N=$1; URL=${2:-/}; BODY=${3:-}
D=$(mktemp -d /tmp/cg18.XXXX)
BIN=${BIN:-$ROOT/target/release/rwsgi}
valgrind --tool=callgrind --instr-atstart=no --trace-children=yes --callgrind-out-file=$D/cg.%p $BIN --chdir $ROOT/benches --module app --processes 1 --disable-logging --socket $D/s.sock --master > $D/log 2>&1 &
VP=$!
for i in $(seq 100); do [ -S $D/s.sock ] && break; sleep 0.2; done
sleep 3
python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock 5 $URL $BODY 2>/dev/null
callgrind_control -i on >/dev/null; python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock $N $URL $BODY
kill -TERM $VP; wait $VP 2>/dev/null; sleep 1
for f in $D/cg.*; do echo "$f $(grep -m1 '^summary:\|^totals:' $f)"; done
echo $D
