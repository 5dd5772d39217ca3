#!/bin/bash
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# usage: callgrind-uwsgi.sh N [path] [body bytes]: the same for uWSGI 2.0.31 (target/bench-venv).
N=$1; URL=${2:-/}; BODY=${3:-}
D=$(mktemp -d /tmp/cg18.XXXX)
valgrind --tool=callgrind --instr-atstart=no --trace-children=yes --callgrind-out-file=$D/cg.%p $ROOT/target/bench-venv/bin/uwsgi --master --processes 1 --disable-logging --chdir $ROOT/benches --module app --socket $D/s.sock --die-on-term > $D/log 2>&1 &
VP=$!
for i in $(seq 100); do [ -S $D/s.sock ] && break; sleep 0.2; done
sleep 4
python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock 5 $URL $BODY 2>/dev/null
callgrind_control -i on >/dev/null; python3 $ROOT/benches/profile/uwsgi_client.py $D/s.sock $N $URL $BODY
kill -INT $VP; wait $VP 2>/dev/null; sleep 1
for f in $D/cg.*; do echo "$f $(grep -m1 '^summary:\|^totals:' $f)"; done
echo $D
