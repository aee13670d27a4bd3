#!/usr/bin/env bash
# HTTP/2 rapid reset (CVE-2023-44487): a normal client's latency on /v2/ and
# on a blob GET, unloaded and while attackers send HEADERS+RST_STREAM pairs
# over h2c, reconnecting whenever cairn closes them (h2_rapid_reset.py).
# Prints median, p99, worst and the attack/unloaded ratios.
# Not a test: it is not registered in ctest. See docs/benchmarks.md.
#
# Environment (defaults in brackets):
#   CAIRN_BINARY      [<repo>/build/cairn]
#   CAIRN_THREADS     [2]        cairn --threads
#   BENCH_CAIRN_ARGS  []         extra cairn arguments
#   BENCH_PAIRS       [600000]   HEADERS+RST_STREAM pairs in all
#   BENCH_SECONDS     [10]       the attack lasts at least this long
#   BENCH_CONNS       [4]        attacking connections (each reconnects)
#   BENCH_ATTACKER_NICE [0]      niceness of the attacking processes
#   BENCH_ATTACKER_CPUS []       CPUs the attackers are pinned to (e.g. 1)
#   BENCH_SERVER_CPUS   []       CPUs cairn and the normal client are pinned
#                                to (e.g. 0): with both set, the attackers'
#                                own CPU use does not count against cairn
#   BENCH_BLOB_SIZE   [1048576]  bytes of the blob the normal client GETs
#   BENCH_TMP         [/var/tmp] where the work directory goes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_CAIRN_ARGS:=}"
: "${BENCH_PAIRS:=600000}"
: "${BENCH_SECONDS:=10}"
: "${BENCH_CONNS:=4}"
: "${BENCH_ATTACKER_NICE:=0}"
: "${BENCH_ATTACKER_CPUS:=}"
: "${BENCH_SERVER_CPUS:=}"
: "${BENCH_BLOB_SIZE:=1048576}"
: "${BENCH_TMP:=/var/tmp}"
# shellcheck source=bench_lib.sh
source "$HERE/bench_lib.sh"

start_cairn
head -c "$BENCH_BLOB_SIZE" /dev/urandom >"$WORK/blob"
digest=$(sha "$WORK/blob")
upload "$BASE" bench/reset "$WORK/blob" "$digest" >/dev/null
log "cairn $("$CAIRN_BINARY" --version 2>/dev/null || true) at $BASE, blob $digest"
client=()
if [ -n "$BENCH_SERVER_CPUS" ]; then
    taskset -a -p -c "$BENCH_SERVER_CPUS" "${PIDS[-1]}" >/dev/null
    client=(taskset -c "$BENCH_SERVER_CPUS")
    log "cairn and the normal client on CPUs $BENCH_SERVER_CPUS"
fi
"${client[@]}" python3 "$HERE/h2_rapid_reset.py" "${BASE##*:}" "/v2/bench/reset/blobs/$digest" \
    --pairs "$BENCH_PAIRS" --seconds "$BENCH_SECONDS" --connections "$BENCH_CONNS" \
    --attacker-nice "$BENCH_ATTACKER_NICE" --attacker-cpus "$BENCH_ATTACKER_CPUS"
log "cairn's warnings: $(grep -c 'ENHANCE_YOUR_CALM' "$WORK/cairn.log" || true) lines"
