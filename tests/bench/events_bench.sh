#!/usr/bin/env bash
# What registry events cost a push (issue 14): small-image pushes
# (push_load.py: BENCH_PUSH_WORKERS at once for BENCH_PUSH_SECONDS) against
# two cairns side by side, one without events and one with a notifications
# endpoint (a receiver on 127.0.0.1 that answers 200), rounds alternating,
# medians. Every push of the second writes three events (two blobs, the
# manifest), each durable before its 201. Not a test: ctest does not run it.
# See docs/benchmarks.md.
#
# Environment (defaults in brackets):
#   CAIRN_BINARY [<repo>/build/cairn]  CAIRN_THREADS [2]  BENCH_ROUNDS [3]
#   BENCH_PUSH_WORKERS [4]  BENCH_PUSH_SECONDS [10]  BENCH_TMP [/var/tmp]
#   BENCH_EVENTS_URL [the receiver]: another endpoint, e.g. one that refuses
#   connections (http://127.0.0.1:9/), to see the spool's cost without the
#   deliveries' CPU
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_ROUNDS:=3}"
: "${BENCH_PUSH_WORKERS:=4}"
: "${BENCH_PUSH_SECONDS:=10}"
: "${BENCH_TMP:=/var/tmp}"
BENCH_CAIRN_ARGS=""
# shellcheck source=tests/bench/bench_lib.sh
source "$HERE/bench_lib.sh"

[[ -x $CAIRN_BINARY ]] || die "cairn not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"

# The receiver: tests/e2e/event_receiver.py, answering 200, counting events.
RECEIVER_PORT_FILE="$WORK/receiver.port"
python3 - "$REPO_DIR/tests/e2e" "$RECEIVER_PORT_FILE" <<'EOF' &
import sys, time
sys.path.insert(0, sys.argv[1])
from event_receiver import EventReceiver
receiver = EventReceiver()
open(sys.argv[2], "w").write(receiver.url)
while True:
    time.sleep(3600)
EOF
PIDS+=("$!")
for _ in $(seq 100); do [[ -s $RECEIVER_PORT_FILE ]] && break; sleep 0.05; done
[[ -s $RECEIVER_PORT_FILE ]] || die "the event receiver did not start"
RECEIVER_URL=${BENCH_EVENTS_URL:-$(cat "$RECEIVER_PORT_FILE")}

cat >"$WORK/events.yml" <<EOF
version: 0.1
notifications:
  endpoints:
    - name: bench
      url: $RECEIVER_URL
      timeout: 1s
EOF

# Two cairns: plain, and with events (its own root; the spool beside it).
start_cairn
PLAIN=$BASE
mkdir -p "$WORK/events-root"
BENCH_CAIRN_ARGS="--config $WORK/events.yml --root $WORK/events-root"
start_cairn
EVENTS=$BASE

declare -A S
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for side in plain events; do
        base=$PLAIN; [[ $side = events ]] && base=$EVENTS
        line=$(python3 "$HERE/push_load.py" "$base" "$BENCH_PUSH_WORKERS" "$BENCH_PUSH_SECONDS")
        S[$side]+="${line%% *} "
        S[${side}_p99]+="$(cut -d' ' -f3 <<<"$line") "
    done
    log "round $round of $BENCH_ROUNDS: plain ${S[plain]}| events ${S[events]}"
done

med() { tr ' ' '\n' <<<"${S[$1]}" | grep . | median; }
plain=$(med plain)
events=$(med events)
cat <<EOF

Small-image pushes, $BENCH_PUSH_WORKERS workers x $BENCH_PUSH_SECONDS s, median of $BENCH_ROUNDS rounds (pushes/s; p99 ms):

| cairn | pushes/s | / without events | p99 ms | rounds |
|---|---|---|---|---|
| without events | $plain | 1.00 | $(med plain_p99) | ${S[plain]} |
| with an endpoint (3 durable events a push) | $events | $(ratio "$events" "$plain") | $(med events_p99) | ${S[events]} |
EOF
