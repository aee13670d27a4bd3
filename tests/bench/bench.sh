#!/usr/bin/env bash
# Side-by-side benchmark: cairn against Debian's docker-registry (CNCF
# Distribution 2.8.2), both on 127.0.0.1, each on its own temporary root.
# Not a test: it is not registered in ctest. See docs/benchmarks.md.
#
#   (a) manifest GET by tag        wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNS -d$BENCH_DURATION
#   (b) blob GET of $BENCH_BLOB_MIB MiB   curl -o /dev/null, run twice, the second counts
#   (c) monolithic blob push of the same blob   POST, then PUT ?digest= with the body
#   (d) small-image pushes: $BENCH_PUSH_WORKERS clients push single-layer images
#       for $BENCH_PUSH_SECONDS s (tests/bench/push_load.py); pushes per second
#
# Environment (defaults in brackets):
#   CAIRN_BINARY      [<repo>/build/cairn]
#   CAIRN_THREADS     [2]        cairn --threads
#   BENCH_CAIRN_ARGS  []         extra cairn arguments, e.g. "--config /path/cairn.yml"
#   DOCKER_REGISTRY   [/usr/bin/docker-registry]
#   BENCH_BLOB_MIB    [1024]     blob size for (b) and (c)
#   BENCH_DURATION    [10s]      wrk duration
#   BENCH_CONNS       [64]       wrk connections
#   BENCH_WRK_THREADS [2]        wrk threads
#   BENCH_TMP         [/var/tmp] where the roots and the blob file go; needs
#                     about 4 x BENCH_BLOB_MIB free (blob file, one copy per
#                     server, plus upload scratch space)
#   BENCH_ONLY        []         "cairn" or "distribution" to run one side only
#   BENCH_PUSH_WORKERS [4]       concurrent pushers for (d)
#   BENCH_PUSH_SECONDS [10]      duration of (d)
#   BENCH_PUSH_LAYER  [4096]     bytes of each pushed layer in (d)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_CAIRN_ARGS:=}"
: "${DOCKER_REGISTRY:=/usr/bin/docker-registry}"
: "${BENCH_BLOB_MIB:=1024}"
: "${BENCH_DURATION:=10s}"
: "${BENCH_CONNS:=64}"
: "${BENCH_WRK_THREADS:=2}"
: "${BENCH_TMP:=/var/tmp}"
: "${BENCH_ONLY:=}"
: "${BENCH_PUSH_WORKERS:=4}"
: "${BENCH_PUSH_SECONDS:=10}"
: "${BENCH_PUSH_LAYER:=4096}"

# shellcheck source=tests/bench/bench_lib.sh
source "$HERE/bench_lib.sh"

for t in curl wrk python3 sha256sum awk; do
    command -v "$t" >/dev/null || die "$t is required"
done
if [[ $BENCH_ONLY != distribution ]]; then
    [[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"
fi
if [[ $BENCH_ONLY != cairn ]]; then
    [[ -x $DOCKER_REGISTRY ]] || die "docker-registry not found: $DOCKER_REGISTRY (apt-get install docker-registry)"
fi

# bench_get BASE DIGEST SIZE -> "first_MBps second_MBps"; the first run also
# checks the sha256 of what came back
bench_get() {
    local base=$1 digest=$2 size=$3 url t1 t2 got
    url="$base/v2/bench/big/blobs/$digest"
    got=$(curl -sf "$url" | sha256sum | cut -d' ' -f1) || die "GET $url failed"
    [[ "sha256:$got" = "$digest" ]] || die "GET $url returned other bytes (sha256:$got)"
    t1=$(curl -sf -o /dev/null -w '%{time_total} %{size_download}' "$url") || die "GET $url failed"
    t2=$(curl -sf -o /dev/null -w '%{time_total} %{size_download}' "$url") || die "GET $url failed"
    [[ ${t2#* } = "$size" ]] || die "GET $url: ${t2#* } bytes, expected $size"
    awk -v a="${t1%% *}" -v b="${t2%% *}" -v s="$size" 'BEGIN {printf "%.1f %.1f\n", s/a/1e6, s/b/1e6}'
}

declare -A R
run_side() {
    local side=$1 base out tp tput
    log "== $side =="
    if [[ $side = cairn ]]; then start_cairn; else start_distribution; fi
    base=$BASE
    log "$side at $base"
    seed_manifest "$base"

    log "(a) manifest GET by tag: wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNS -d$BENCH_DURATION"
    out=$(bench_manifest "$base") || exit 1
    read -r R["$side.rps"] R["$side.p50"] R["$side.p99"] <<<"$out"

    log "(c) push of $BENCH_BLOB_MIB MiB: POST + PUT ?digest="
    out=$(upload "$base" bench/big "$BLOB" "$BLOB_DIGEST") || exit 1
    read -r tp tput <<<"$out"
    R[$side.push_s]=$(awk -v a="$tp" -v b="$tput" 'BEGIN {printf "%.2f", a+b}')
    R[$side.push_mbps]=$(awk -v t="${R[$side.push_s]}" -v s="$BLOB_SIZE" 'BEGIN {printf "%.1f", s/t/1e6}')
    if [[ $side = cairn ]]; then
        # where the push's time went, from cairn's CAIRN_UPLOAD_TIMING line
        R[cairn.push_stages]=$(grep " $BLOB_SIZE bytes: receive" "$WORK/cairn.log" | tail -n 1 |
                               sed 's/^.* bytes: //')
        log "cairn push stages: ${R[cairn.push_stages]}"
    fi

    log "(b) GET of the $BENCH_BLOB_MIB MiB blob, twice"
    out=$(bench_get "$base" "$BLOB_DIGEST" "$BLOB_SIZE") || exit 1
    read -r R["$side.get1"] R["$side.get2"] <<<"$out"
    log "(d) small-image pushes: $BENCH_PUSH_WORKERS clients for $BENCH_PUSH_SECONDS s"
    out=$(python3 "$HERE/push_load.py" "$base" "$BENCH_PUSH_WORKERS" "$BENCH_PUSH_SECONDS" \
        "$BENCH_PUSH_LAYER") || die "push load against $base failed"
    read -r R["$side.pushes"] R["$side.push_p50"] R["$side.push_p99"] _ <<<"$out"
    log "$side: ${R[$side.pushes]} small-image pushes/s (p50 ${R[$side.push_p50]} ms, p99 ${R[$side.push_p99]} ms)"
    log "$side: ${R[$side.rps]} manifest GET/s (p50 ${R[$side.p50]} ms, p99 ${R[$side.p99]} ms); push ${R[$side.push_s]} s (${R[$side.push_mbps]} MB/s); blob GET ${R[$side.get1]} then ${R[$side.get2]} MB/s"
}


log "blob: $BENCH_BLOB_MIB MiB of random data in $WORK"
BLOB="$WORK/blob"
head -c "$((BENCH_BLOB_MIB * 1024 * 1024))" /dev/urandom >"$BLOB"
BLOB_SIZE=$(stat -c %s "$BLOB")
BLOB_DIGEST=$(sha "$BLOB")

sides=()
[[ $BENCH_ONLY != distribution ]] && sides+=(cairn)
[[ $BENCH_ONLY != cairn ]] && sides+=(distribution)
for s in "${sides[@]}"; do run_side "$s"; done

echo
echo "cairn: $CAIRN_BINARY --threads $CAIRN_THREADS $BENCH_CAIRN_ARGS"
echo "docker-registry: $("$DOCKER_REGISTRY" --version 2>/dev/null || echo "$DOCKER_REGISTRY")"
echo "host: $(nproc) cores, $(uname -sr); blob $BENCH_BLOB_MIB MiB; wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNS -d$BENCH_DURATION"
echo
printf '| %-38s | %12s | %12s | %15s |\n' measure cairn distribution cairn/distribution
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..17})"
row() { printf '| %-38s | %12s | %12s | %15s |\n' "$1" "${R[cairn.$2]:-}" "${R[distribution.$2]:-}" "$(ratio "${R[cairn.$2]:-}" "${R[distribution.$2]:-}")"; }
row "(a) manifest GET by tag, req/s" rps
row "(a) latency p50, ms" p50
row "(a) latency p99, ms" p99
row "(b) blob GET, MB/s (1st run, cold-ish)" get1
row "(b) blob GET, MB/s (2nd run, counted)" get2
row "(c) push, seconds (POST + PUT)" push_s
row "(c) push, MB/s" push_mbps
row "(d) small-image pushes per second" pushes
row "(d) push latency p50, ms" push_p50
row "(d) push latency p99, ms" push_p99
echo
echo "Ratios: higher is better for cairn in every row except latency and push seconds (lower is better there)."
[[ -n ${R[cairn.push_stages]:-} ]] && echo "cairn push, where the time went: ${R[cairn.push_stages]}"
