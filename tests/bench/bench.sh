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

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for t in curl wrk python3 sha256sum awk; do
    command -v "$t" >/dev/null || die "$t is required"
done
if [[ $BENCH_ONLY != distribution ]]; then
    [[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"
fi
if [[ $BENCH_ONLY != cairn ]]; then
    [[ -x $DOCKER_REGISTRY ]] || die "docker-registry not found: $DOCKER_REGISTRY (apt-get install docker-registry)"
fi

WORK=$(mktemp -d "$BENCH_TMP/cairn-bench.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_v2() {
    local port=$1 pid=$2 logf=$3 code=none
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server on port $port exited"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/v2/" || true)
        [[ $code = 200 || $code = 401 ]] && return 0
        sleep 0.1
    done
    die "server on port $port did not answer /v2/ (last code $code)"
}

start_cairn() {
    local port; port=$(free_port)
    mkdir -p "$WORK/cairn-root"
    # shellcheck disable=SC2086  # BENCH_CAIRN_ARGS is a word list on purpose
    CAIRN_UPLOAD_TIMING=1 "$CAIRN_BINARY" --root "$WORK/cairn-root" --listen "127.0.0.1:$port" \
        --threads "$CAIRN_THREADS" $BENCH_CAIRN_ARGS >"$WORK/cairn.log" 2>&1 &
    PIDS+=($!)
    wait_v2 "$port" "$!" "$WORK/cairn.log"
    BASE="http://127.0.0.1:$port"
}

start_distribution() {
    local port; port=$(free_port)
    mkdir -p "$WORK/dist-root"
    # Debian's default config.yml, minus auth, on a temporary root; the
    # access log is off and the log level is error so that logging is not
    # what gets measured.
    cat >"$WORK/dist.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $WORK/dist-root
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    local v unset_args=()
    for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && unset_args+=(-u "$v"); done
    env "${unset_args[@]}" "$DOCKER_REGISTRY" serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
    PIDS+=($!)
    wait_v2 "$port" "$!" "$WORK/dist.log"
    BASE="http://127.0.0.1:$port"
}

# upload BASE REPO FILE DIGEST -> prints "post_seconds put_seconds"
upload() {
    local base=$1 repo=$2 file=$3 digest=$4 hdrs loc code t_post t_put sep
    hdrs="$WORK/hdrs"
    t_post=$(curl -s -o /dev/null -D "$hdrs" -w '%{http_code} %{time_total}' -X POST \
        "$base/v2/$repo/blobs/uploads/") || die "POST $base/v2/$repo/blobs/uploads/ failed"
    code=${t_post%% *}; t_post=${t_post#* }
    [[ $code = 202 ]] || die "POST upload on $base answered $code"
    loc=$(awk 'tolower($1)=="location:" {print $2}' "$hdrs" | tr -d '\r')
    [[ -n $loc ]] || die "POST upload on $base: no Location"
    [[ $loc = /* ]] && loc="$base$loc"
    if [[ $loc = *\?* ]]; then sep='&'; else sep='?'; fi
    t_put=$(curl -s -o "$WORK/put.out" -w '%{http_code} %{time_total}' -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' -T "$file" "$loc${sep}digest=$digest") \
        || die "PUT $loc failed"
    code=${t_put%% *}; t_put=${t_put#* }
    [[ $code = 201 ]] || die "PUT upload on $base answered $code: $(head -c 300 "$WORK/put.out")"
    echo "$t_post $t_put"
}

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# seed BASE: a small OCI image at bench/app:latest (config + 1 layer)
seed_manifest() {
    local base=$1 cfg layer man
    cfg="$WORK/seed-config.json"; layer="$WORK/seed-layer"; man="$WORK/seed-manifest.json"
    if [[ ! -f $man ]]; then
        head -c 32768 /dev/urandom >"$layer"
        printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
            "$(sha "$layer")" >"$cfg"
        printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
            "$OCI_MANIFEST" "$(sha "$cfg")" "$(stat -c %s "$cfg")" "$(sha "$layer")" "$(stat -c %s "$layer")" >"$man"
    fi
    upload "$base" bench/app "$cfg" "$(sha "$cfg")" >/dev/null
    upload "$base" bench/app "$layer" "$(sha "$layer")" >/dev/null
    local code
    code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT -H "Content-Type: $OCI_MANIFEST" \
        --data-binary @"$man" "$base/v2/bench/app/manifests/latest")
    [[ $code = 201 ]] || die "PUT manifest on $base answered $code: $(head -c 300 "$WORK/put.out")"
    code=$(curl -s -o "$WORK/get.out" -w '%{http_code}' -H "Accept: $OCI_MANIFEST" "$base/v2/bench/app/manifests/latest")
    [[ $code = 200 ]] && cmp -s "$WORK/get.out" "$man" || die "GET manifest on $base: $code, or other bytes"
}

# bench_manifest BASE -> "req_per_s p50 p99" (latencies as wrk prints them)
bench_manifest() {
    local base=$1 out
    out=$(wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNS" -d"$BENCH_DURATION" --latency \
        -H "Accept: $OCI_MANIFEST" "$base/v2/bench/app/manifests/latest")
    printf '%s\n' "$out" >&2
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        die "wrk saw error responses from $base (see above)"
    fi
    # latencies in ms whatever unit wrk chose
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         /Requests\/sec:/ {r=$2} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
         END {printf "%s %.3f %.3f\n", r, p50, p99}' <<<"$out"
}

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

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a/b }'
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
