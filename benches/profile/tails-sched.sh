#!/bin/bash
# usage: tails-sched.sh rwsgi|bjoern|granian : 64 keep-alive connections on 2 workers for 5 s;
# prints wrk's latency, the connections each worker holds, and perf sched latency of the workers.
ROOT=$(cd "$(dirname "$0")/../.." && pwd); S=$1; PORT=18555; D=$(mktemp -d /tmp/tails-$S.XXXX)
case $S in
  rwsgi) $ROOT/target/release/rwsgi --chdir $ROOT/benches --module app --processes 2 --disable-logging --http-socket 127.0.0.1:$PORT --listen 1024 > $D/log 2>&1 & ;;
  bjoern) $ROOT/target/bench-venv/bin/python $ROOT/benches/prefork_bjoern.py 127.0.0.1 $PORT 2 > $D/log 2>&1 & ;;
  granian) (cd $ROOT/benches && $ROOT/target/bench-venv/bin/granian --interface wsgi --workers 2 --host 127.0.0.1 --port $PORT --log-level warning app:application > $D/log 2>&1) & ;;
esac
SP=$!; sleep 3
wrk -t2 -c64 -d1s http://127.0.0.1:$PORT/ >/dev/null 2>&1
perf sched record -a -o $D/perf.data -- sleep 4 >/dev/null 2>&1 &
PP=$!
sleep 0.2
wrk -t2 -c64 -d3s --latency http://127.0.0.1:$PORT/ > $D/wrk.txt &
WP=$!
sleep 1.5
ss -tnpH state established "( sport = :$PORT )" | grep -o 'pid=[0-9]*' | sort | uniq -c > $D/conns.txt
wait $WP; wait $PP
grep -E "Requests/sec|50%|90%|99%" $D/wrk.txt
echo "connections per process:"; cat $D/conns.txt
perf sched latency -i $D/perf.data --sort max 2>/dev/null | grep -E "Task|rwsgi|python|granian|wrk|---" | head -12
pkill -TERM -P $SP 2>/dev/null; kill -TERM $SP 2>/dev/null; sleep 1; kill -KILL $SP 2>/dev/null
pkill -f "granian --interface wsgi --workers 2 --host 127.0.0.1 --port $PORT" 2>/dev/null
pkill -f "prefork_bjoern.py 127.0.0.1 $PORT" 2>/dev/null
wait 2>/dev/null
