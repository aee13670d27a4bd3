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
#   BENCH_CONNS       [4]        attacking connections (each reconnects)
#   BENCH_ATTACKER_NICE [0]      niceness of the attacking processes
#   BENCH_BLOB_SIZE   [1048576]  bytes of the blob the normal client GETs
#   BENCH_TMP         [/var/tmp] where the work directory goes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_CAIRN_ARGS:=}"
: "${BENCH_PAIRS:=600000}"
: "${BENCH_CONNS:=4}"
: "${BENCH_ATTACKER_NICE:=0}"
: "${BENCH_BLOB_SIZE:=1048576}"
: "${BENCH_TMP:=/var/tmp}"
# shellcheck source=bench_lib.sh
source "$HERE/bench_lib.sh"

start_cairn
head -c "$BENCH_BLOB_SIZE" /dev/urandom >"$WORK/blob"
digest=$(sha "$WORK/blob")
upload "$BASE" bench/reset "$WORK/blob" "$digest" >/dev/null
log "cairn $("$CAIRN_BINARY" --version 2>/dev/null || true) at $BASE, blob $digest"
python3 "$HERE/h2_rapid_reset.py" "${BASE##*:}" "/v2/bench/reset/blobs/$digest" \
    --pairs "$BENCH_PAIRS" --connections "$BENCH_CONNS" \
    --attacker-nice "$BENCH_ATTACKER_NICE"
log "cairn's warnings: $(grep -c 'ENHANCE_YOUR_CALM' "$WORK/cairn.log" || true) lines"
