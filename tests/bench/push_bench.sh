#!/usr/bin/env bash
# Small-image pushes: cairn against Debian's docker-registry (Distribution
# 2.8.2), both running at once on 127.0.0.1, each on its own temporary root,
# measured in alternating rounds so that both see the same disk (this VM's
# fsync time moves by 2x from one minute to the next).
# Not a test: it is not registered in ctest. See docs/benchmarks.md.
#
# Each round runs tests/bench/push_load.py against one server and then the
# other (the order alternating by round): $BENCH_PUSH_WORKERS clients push
# single-layer images for $BENCH_PUSH_SECONDS s. Printed: per server the
# median over the rounds of pushes/s and of the p50/p99 of one push, and
# the median of the rounds' ratios, beside issue 12's limit (3x).
#
# Environment (defaults in brackets):
#   CAIRN_BINARY       [<repo>/build/cairn]
#   CAIRN_THREADS      [2]        cairn --threads
#   BENCH_CAIRN_ARGS   []         extra cairn arguments
#   DOCKER_REGISTRY    [/usr/bin/docker-registry]
#   BENCH_ROUNDS       [3]
#   BENCH_PUSH_WORKERS [4]
#   BENCH_PUSH_SECONDS [10]
#   BENCH_PUSH_LAYER   [4096]     bytes of each pushed layer
#   BENCH_PUSH_WARMUP  [3]        seconds of pushes to each server first, not
#                                 counted (fills the blob prefix directories)
#   BENCH_TMP          [/var/tmp]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_CAIRN_ARGS:=}"
: "${DOCKER_REGISTRY:=/usr/bin/docker-registry}"
: "${BENCH_ROUNDS:=3}"
: "${BENCH_PUSH_WORKERS:=4}"
: "${BENCH_PUSH_SECONDS:=10}"
: "${BENCH_PUSH_LAYER:=4096}"
: "${BENCH_PUSH_WARMUP:=3}"
: "${BENCH_TMP:=/var/tmp}"

# shellcheck source=tests/bench/bench_lib.sh
source "$HERE/bench_lib.sh"

for t in curl python3 awk; do
    command -v "$t" >/dev/null || die "$t is required"
done
[[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"
[[ -x $DOCKER_REGISTRY ]] || die "docker-registry not found: $DOCKER_REGISTRY (apt-get install docker-registry)"


LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A BASES R
start_cairn
BASES[cairn]=$BASE
start_distribution
BASES[distribution]=$BASE
if (( BENCH_PUSH_WARMUP > 0 )); then
    for side in cairn distribution; do
        log "warm-up: $side, $BENCH_PUSH_WARMUP s"
        python3 "$HERE/push_load.py" "${BASES[$side]}" "$BENCH_PUSH_WORKERS" "$BENCH_PUSH_WARMUP" \
            "$BENCH_PUSH_LAYER" >/dev/null || die "warm-up against $side failed"
    done
fi
for round in $(seq "$BENCH_ROUNDS"); do
    sides=(cairn distribution)
    (( round % 2 == 0 )) && sides=(distribution cairn)
    for side in "${sides[@]}"; do
        log "round $round: $side"
        # push_load.py prints: pushes/s p50_ms p99_ms count
        R[$side.$round]=$(python3 "$HERE/push_load.py" "${BASES[$side]}" "$BENCH_PUSH_WORKERS" \
            "$BENCH_PUSH_SECONDS" "$BENCH_PUSH_LAYER") || die "push load against $side failed"
        log "$side: ${R[$side.$round]}"
    done
done

echo
echo "cairn: $CAIRN_BINARY --threads $CAIRN_THREADS $BENCH_CAIRN_ARGS"
echo "docker-registry: $("$DOCKER_REGISTRY" --version 2>/dev/null || echo "$DOCKER_REGISTRY")"
echo "host: $(nproc) cores, $(uname -sr); $BENCH_PUSH_WORKERS pushers, $BENCH_PUSH_SECONDS s per run, $BENCH_PUSH_LAYER-byte layers; load average before: $LOAD_BEFORE"
echo
echo "medians of $BENCH_ROUNDS rounds (limit: cairn/distribution at least 3)"
printf '| %-24s | %12s | %12s | %18s | %15s |\n' measure cairn distribution cairn/distribution "ratio of each round"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..20})" "$(printf -- '-%.0s' {1..17})"
labels=("pushes per second" "push latency p50, ms" "push latency p99, ms")
for field in 1 2 3; do
    declare -A M=()
    for side in cairn distribution; do
        M[$side]=$(for round in $(seq "$BENCH_ROUNDS"); do cut -d' ' -f"$field" <<<"${R[$side.$round]}"; done | median)
    done
    ratios=$(for round in $(seq "$BENCH_ROUNDS"); do
        echo "$(ratio "$(cut -d' ' -f"$field" <<<"${R[cairn.$round]}")" "$(cut -d' ' -f"$field" <<<"${R[distribution.$round]}")")"
    done | tr '\n' ' ')
    printf '| %-24s | %12s | %12s | %18s | %15s |\n' "${labels[$((field - 1))]}" "${M[cairn]}" "${M[distribution]}" \
        "$(tr ' ' '\n' <<<"$ratios" | grep . | median)" "$ratios"
done
echo
echo "Latency rows: lower is better for cairn (the limit applies to pushes per second)."
