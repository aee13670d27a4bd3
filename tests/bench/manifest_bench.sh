#!/usr/bin/env bash
# Manifest GETs: cairn against Debian's h2o 2.2.5 (the same library) serving
# the same manifest bytes as static files, side by side on 127.0.0.1.
# Not a test: it is not registered in ctest. See docs/benchmarks.md.
#
# A small OCI image is pushed to cairn as bench/app:latest; its manifest's
# bytes are written to a directory that h2o serves at the same paths
# (/v2/bench/app/manifests/latest and /v2/bench/app/manifests/sha256:...),
# with the same Content-Type. Then, for each server, by tag and by digest:
#   HTTP/1.1  wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNS -d$BENCH_DURATION --latency (keep-alive)
#   h2c       h2load -t$BENCH_WRK_THREADS -c$BENCH_CONNS -m1 -D<seconds> (prior knowledge)
# requests per second and p50/p99 latency, and cairn's rate as a ratio of
# h2o's. h2o writes an access log to a file, as cairn does (cairn cannot run
# without one); BENCH_H2O_ACCESS_LOG=0 runs h2o without it.
#
# Environment (defaults in brackets):
#   CAIRN_BINARY      [<repo>/build/cairn]
#   CAIRN_THREADS     [2]        cairn --threads; h2o gets as many threads
#   BENCH_CAIRN_ARGS  []         extra cairn arguments
#   H2O_BINARY        [/usr/bin/h2o]  (apt-get install h2o)
#   H2LOAD            [/usr/bin/h2load]  (apt-get install nghttp2-client)
#   BENCH_DURATION    [5s]       per run
#   BENCH_ROUNDS      [3]        rounds; each measures both servers back to back
#   BENCH_CONNS       [64]       connections
#   BENCH_WRK_THREADS [2]        client threads
#   BENCH_H2O_ACCESS_LOG [1]     1: h2o logs each request to a file
#   BENCH_TMP         [/var/tmp] where the work directory goes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${BENCH_CAIRN_ARGS:=}"
: "${H2O_BINARY:=/usr/bin/h2o}"
: "${H2LOAD:=/usr/bin/h2load}"
: "${BENCH_DURATION:=5s}"
: "${BENCH_ROUNDS:=3}"
: "${BENCH_CONNS:=64}"
: "${BENCH_WRK_THREADS:=2}"
: "${BENCH_H2O_ACCESS_LOG:=1}"
: "${BENCH_TMP:=/var/tmp}"

# shellcheck source=tests/bench/bench_lib.sh
source "$HERE/bench_lib.sh"

for t in curl wrk python3 sha256sum awk; do
    command -v "$t" >/dev/null || die "$t is required"
done
[[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"
[[ -x $H2O_BINARY ]] || die "h2o not found: $H2O_BINARY (apt-get install h2o)"
[[ -x $H2LOAD ]] || die "h2load not found: $H2LOAD (apt-get install nghttp2-client)"
seconds=${BENCH_DURATION%s}
[[ $seconds =~ ^[0-9]+$ ]] || die "BENCH_DURATION must be whole seconds (10s), not $BENCH_DURATION"

start_h2o() {
    local port; port=$(free_port)
    local log_line="access-log: $WORK/h2o-access.log"
    [[ $BENCH_H2O_ACCESS_LOG = 1 ]] || log_line=""
    cat >"$WORK/h2o.conf" <<CONF
num-threads: $CAIRN_THREADS
user: $(id -un)
$log_line
error-log: $WORK/h2o-error.log
pid-file: $WORK/h2o.pid
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /v2/bench/app/manifests:
        file.dir: $WORK/static
        file.mime.setdefaulttype: $OCI_MANIFEST
CONF
    "$H2O_BINARY" -c "$WORK/h2o.conf" >"$WORK/h2o.log" 2>&1 &
    PIDS+=($!)
    local pid=$! code=none
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/h2o.log" "$WORK/h2o-error.log" >&2; die "h2o exited"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/bench/app/manifests/latest" || true)
        [[ $code = 200 ]] && break
        sleep 0.1
    done
    [[ $code = 200 ]] || die "h2o did not serve the manifest (last code $code)"
    BASE="http://127.0.0.1:$port"
}

# bench_h2c BASE PATH -> "req_per_s p50 p99" (ms), from h2load's per-request log
bench_h2c() {
    local base=$1 path=$2 out
    out=$("$H2LOAD" -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNS" -m1 -D"$seconds" \
        -H "Accept: $OCI_MANIFEST" --log-file="$WORK/h2load.log" "$base$path")
    printf '%s\n' "$out" >&2
    grep -q '^requests: .* 0 failed, 0 errored' <<<"$out" || die "h2load saw failures from $base"
    grep -q '^status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx' <<<"$out" ||
        die "h2load saw non-2xx answers from $base"
    local rate
    rate=$(awk '/^finished in/ {sub(/,$/, "", $4); print $4}' <<<"$out")
    # the log: start time (us), status, microseconds per request
    sort -n -k3 "$WORK/h2load.log" | awk -v rate="$rate" '
        {t[NR]=$3} END {printf "%s %.3f %.3f\n", rate, t[int(NR*0.5)]/1000, t[int(NR*0.99)]/1000}'
}

# Both servers run at once; each round measures every case on cairn and on
# h2o back to back (the order alternating by round), so that both see the
# same machine. Per case: the median over the rounds of each side's rate,
# p50 and p99, and the median of the rounds' ratios.
declare -A R
measure_round() {
    local round=$1 side base kind proto path out sides=(cairn h2o)
    (( round % 2 == 0 )) && sides=(h2o cairn)
    for kind in tag digest; do
        path=/v2/bench/app/manifests/latest
        [[ $kind = digest ]] && path=/v2/bench/app/manifests/$DIGEST
        for proto in h1 h2; do
            for side in "${sides[@]}"; do
                base=${BASES[$side]}
                log "round $round: $side, by $kind, $proto"
                if [[ $proto = h1 ]]; then
                    out=$(bench_manifest "$base" "$path") || exit 1
                else
                    out=$(bench_h2c "$base" "$path") || exit 1
                fi
                R["$side.$kind.$proto.$round"]=$out
            done
        done
    done
}


LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_cairn
seed_manifest "$BASE"
DIGEST=$(sha "$WORK/seed-manifest.json")
mkdir -p "$WORK/static"
cp "$WORK/seed-manifest.json" "$WORK/static/latest"
cp "$WORK/seed-manifest.json" "$WORK/static/$DIGEST"
declare -A BASES
BASES[cairn]=$BASE
start_h2o
BASES[h2o]=$BASE
for side in cairn h2o; do
    for path in /v2/bench/app/manifests/latest "/v2/bench/app/manifests/$DIGEST"; do
        got=$(curl -sf -H "Accept: $OCI_MANIFEST" "${BASES[$side]}$path" | sha256sum | cut -d' ' -f1)
        [[ "sha256:$got" = "$DIGEST" ]] || die "$side: GET $path gave other bytes"
    done
done
for round in $(seq "$BENCH_ROUNDS"); do
    measure_round "$round"
done

echo
echo "cairn: $CAIRN_BINARY --threads $CAIRN_THREADS $BENCH_CAIRN_ARGS"
echo "h2o: $("$H2O_BINARY" --version 2>/dev/null | head -n 1), $CAIRN_THREADS threads, access log $([[ $BENCH_H2O_ACCESS_LOG = 1 ]] && echo "to a file" || echo off)"
echo "host: $(nproc) cores, $(uname -sr); $BENCH_CONNS connections, $BENCH_WRK_THREADS client threads, $BENCH_DURATION per run, load average before: $LOAD_BEFORE"
echo
echo "medians of $BENCH_ROUNDS rounds (limit: cairn/h2o at least 0.8)"
printf '| %-26s | %10s | %10s | %10s | %15s | %15s | %s|\n' measure "cairn req/s" "h2o req/s" cairn/h2o "cairn p50/p99" "h2o p50/p99" "ratio of each round "
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..28})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..21})"
for kind in tag digest; do
    for proto in h1 h2; do
        label="by $kind, $([[ $proto = h1 ]] && echo "HTTP/1.1 (wrk)" || echo "h2c (h2load)")"
        k="$kind.$proto"
        declare -A M=()
        for side in cairn h2o; do
            for field in 1 2 3; do
                M[$side.$field]=$(for round in $(seq "$BENCH_ROUNDS"); do
                    cut -d' ' -f"$field" <<<"${R[$side.$k.$round]}"; done | median)
            done
        done
        ratios=$(for round in $(seq "$BENCH_ROUNDS"); do
            echo "$(ratio "$(cut -d' ' -f1 <<<"${R[cairn.$k.$round]}")" "$(cut -d' ' -f1 <<<"${R[h2o.$k.$round]}")")"
        done | tr '\n' ' ')
        printf '| %-26s | %10s | %10s | %10s | %15s | %15s | %s|\n' "$label" "${M[cairn.1]}" "${M[h2o.1]}" \
            "$(tr ' ' '\n' <<<"$ratios" | grep . | median)" \
            "${M[cairn.2]}/${M[cairn.3]} ms" "${M[h2o.2]}/${M[h2o.3]} ms" "$ratios"
    done
done
