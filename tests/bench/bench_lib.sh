# Shared by the benchmark scripts of tests/bench (sourced, not run): logging,
# a work directory removed on exit with the servers started in it, free
# ports, starting cairn, monolithic uploads, a seeded small image and a wrk
# run of its manifest, and the median and ratio the tables print. The
# sourcing script sets, before sourcing:
#   BENCH_TMP  where the work directory goes      CAIRN_BINARY, CAIRN_THREADS,
#   BENCH_CAIRN_ARGS (for start_cairn)            BENCH_WRK_THREADS, BENCH_CONNS,
#   BENCH_DURATION (for bench_manifest)
# and gets WORK (the work directory), PIDS (servers to stop on exit) and
# BASE (set by start_cairn to the server's URL).

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# median of the numbers on stdin ("" when there are none)
median() {
    sort -g | awk '{v[NR]=$1} END {if (NR == 0) print ""; else if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'
}

# ratio A B: A/B to two decimals, "n/a" when either is missing or B is 0
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a/b }'
}

WORK=$(mktemp -d "$BENCH_TMP/cairn-bench.XXXXXX")
PIDS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

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

# bench_manifest BASE [PATH] -> "req_per_s p50 p99" (latencies in ms); PATH
# defaults to the seeded tag's manifest
bench_manifest() {
    local base=$1 path=${2:-/v2/bench/app/manifests/latest} out
    out=$(wrk -t"$BENCH_WRK_THREADS" -c"$BENCH_CONNS" -d"$BENCH_DURATION" --latency \
        -H "Accept: $OCI_MANIFEST" "$base$path")
    printf '%s\n' "$out" >&2
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        die "wrk saw error responses from $base (see above)"
    fi
    # latencies in ms whatever unit wrk chose
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         /Requests\/sec:/ {r=$2} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
         END {printf "%s %.3f %.3f\n", r, p50, p99}' <<<"$out"
}

