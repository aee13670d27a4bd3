#!/usr/bin/env bash
# Pull-through mirror benchmark (issue 13): the pull of one multi-layer image
# of BENCH_MIRROR_MIB MiB (200) from Debian's docker-registry as the
# upstream, four ways, side by side, BENCH_ROUNDS rounds (3), medians:
#
#   direct       from the upstream itself
#   cairn cold   through a cairn mirror (cairn.mirrors, prefix "up") with an
#                empty tree: every blob fetched from the upstream while it is
#                sent (aim: at most 1.1x the direct pull)
#   cairn warm   the same pull again, from the mirror's tree
#   dist cold    through docker-registry in proxy mode (proxy.remoteurl) with
#                an empty root
#   dist warm    the same pull again
#
# A pull is what a client does: GET the manifest (with Accept), then GET
# every blob, BENCH_PARALLEL (3, docker's default) at once, bytes checked
# against their digests after the clock stops. Each cold pull gets a new
# server on a new root. Everything on 127.0.0.1; the blobs are random
# bytes (incompressible). Not a test: ctest does not run it. See
# docs/benchmarks.md.
#
# On loopback the upstream answers at memory speed, so the pull is bound by
# the CPUs the client, the upstream and the mirror share. With
# BENCH_UPSTREAM_MBPS set, every pull from the upstream (direct, and the
# mirrors' fetches) goes through throttle_proxy.py, which lets the
# upstream's answers pass at that many MB/s in all: a remote upstream, where
# the network is the bound.
#
# Environment (defaults in brackets):
#   CAIRN_BINARY [<repo>/build/cairn]  CAIRN_THREADS [2]
#   DOCKER_REGISTRY [/usr/bin/docker-registry]
#   BENCH_MIRROR_MIB [200]  BENCH_LAYERS [4]  BENCH_ROUNDS [3]
#   BENCH_PARALLEL [3]      BENCH_TMP [/var/tmp]  BENCH_UPSTREAM_MBPS [unset: no limit]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${CAIRN_THREADS:=2}"
: "${DOCKER_REGISTRY:=/usr/bin/docker-registry}"
: "${BENCH_MIRROR_MIB:=200}"
: "${BENCH_LAYERS:=4}"
: "${BENCH_ROUNDS:=3}"
: "${BENCH_PARALLEL:=3}"
: "${BENCH_TMP:=/var/tmp}"
: "${BENCH_UPSTREAM_MBPS:=}"
BENCH_CAIRN_ARGS=""
# shellcheck source=tests/bench/bench_lib.sh
source "$HERE/bench_lib.sh"

[[ -x $CAIRN_BINARY ]] || die "cairn not found: $CAIRN_BINARY (build it, or set CAIRN_BINARY)"
[[ -x $DOCKER_REGISTRY ]] || die "docker-registry not found: $DOCKER_REGISTRY (apt-get install docker-registry)"
command -v curl >/dev/null || die "curl is required"

# A docker-registry on ROOT, with the YAML lines PROXY added (may be
# empty); prints its URL. Its pid goes to PIDS, and to LAST_PID.
start_registry() {
    local root=$1 proxy=$2 port; port=$(free_port)
    mkdir -p "$root"
    cat >"$root.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $root
http:
  addr: 127.0.0.1:$port
$proxy
EOF
    local v unset_args=()
    for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && unset_args+=(-u "$v"); done
    env "${unset_args[@]}" "$DOCKER_REGISTRY" serve "$root.yml" >"$root.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_v2 "$port" "$LAST_PID" "$root.log"
    URL="http://127.0.0.1:$port"
}

# A cairn mirror of UPSTREAM under prefix "up", on ROOT.
start_mirror() {
    local root=$1 upstream=$2 port; port=$(free_port)
    mkdir -p "$root"
    cat >"$root.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $root
http:
  addr: 127.0.0.1:$port
cairn:
  mirrors:
    - prefix: up
      url: $upstream
EOF
    "$CAIRN_BINARY" --config "$root.yml" --threads "$CAIRN_THREADS" >"$root.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_v2 "$port" "$LAST_PID" "$root.log"
    URL="http://127.0.0.1:$port"
}

stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# pull BASE NAME OUTDIR -> seconds (manifest, then the blobs BENCH_PARALLEL
# at once); the bytes are checked after the clock stopped.
pull() {
    local base=$1 name=$2 out=$3 start end
    rm -rf "$out"; mkdir -p "$out"
    start=$(date +%s.%N)
    curl -sf -H "Accept: $OCI_MANIFEST" -o "$out/manifest" "$base/v2/$name/manifests/v1" \
        || die "GET manifest $base/v2/$name failed"
    local args=() d
    for d in "${DIGESTS[@]}"; do args+=(-o "$out/${d#sha256:}" "$base/v2/$name/blobs/$d"); done
    curl -sfL --no-progress-meter --parallel --parallel-max "$BENCH_PARALLEL" "${args[@]}" || die "blob GETs from $base failed"
    end=$(date +%s.%N)
    cmp -s "$out/manifest" "$WORK/manifest.json" || die "$base served other manifest bytes"
    for d in "${DIGESTS[@]}"; do
        [[ $(sha "$out/${d#sha256:}") = "$d" ]] || die "$base served wrong bytes for $d"
    done
    awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}'
}

# ---------------------------------------------------------------------------
log "upstream: docker-registry with one image of $BENCH_MIRROR_MIB MiB in $BENCH_LAYERS layers"
start_registry "$WORK/upstream" ""
UPSTREAM=$URL
layer_mib=$((BENCH_MIRROR_MIB / BENCH_LAYERS))
DIGESTS=()
layers_json=""
for ((i = 0; i < BENCH_LAYERS; i++)); do
    f="$WORK/layer$i"
    head -c "$((layer_mib * 1024 * 1024))" /dev/urandom >"$f"
    d=$(sha "$f")
    upload "$UPSTREAM" bench/big "$f" "$d" >/dev/null
    DIGESTS+=("$d")
    layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$d\",\"size\":$(stat -c %s "$f")}"
done
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config.json"
cfg=$(sha "$WORK/config.json")
upload "$UPSTREAM" bench/big "$WORK/config.json" "$cfg" >/dev/null
DIGESTS+=("$cfg")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}' \
    "$OCI_MANIFEST" "$cfg" "$(stat -c %s "$WORK/config.json")" "$layers_json" >"$WORK/manifest.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $OCI_MANIFEST" \
    --data-binary @"$WORK/manifest.json" "$UPSTREAM/v2/bench/big/manifests/v1")
[[ $code = 201 ]] || die "PUT manifest on the upstream answered $code"
for ((i = 0; i < BENCH_LAYERS; i++)); do rm -f "$WORK/layer$i"; done
pull "$UPSTREAM" bench/big "$WORK/pulled" >/dev/null # warm the upstream's page cache
if [[ -n $BENCH_UPSTREAM_MBPS ]]; then
    port=$(free_port)
    python3 "$HERE/throttle_proxy.py" "$port" "${UPSTREAM##*:}" "$BENCH_UPSTREAM_MBPS" >"$WORK/throttle.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 100); do grep -q ready "$WORK/throttle.log" 2>/dev/null && break; sleep 0.05; done
    grep -q ready "$WORK/throttle.log" || die "throttle_proxy.py did not start: $(cat "$WORK/throttle.log")"
    UPSTREAM="http://127.0.0.1:$port"
    log "the upstream's answers limited to $BENCH_UPSTREAM_MBPS MB/s (throttle_proxy.py)"
fi

declare -A S
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    S[direct]+="$(pull "$UPSTREAM" bench/big "$WORK/pulled") "

    start_mirror "$WORK/cairn-$round" "$UPSTREAM"
    S[cairn_cold]+="$(pull "$URL" up/bench/big "$WORK/pulled") "
    S[cairn_warm]+="$(pull "$URL" up/bench/big "$WORK/pulled") "
    stop_server "$LAST_PID"
    rm -rf "$WORK/cairn-$round"

    start_registry "$WORK/proxy-$round" "proxy:
  remoteurl: $UPSTREAM"
    S[dist_cold]+="$(pull "$URL" bench/big "$WORK/pulled") "
    S[dist_warm]+="$(pull "$URL" bench/big "$WORK/pulled") "
    stop_server "$LAST_PID"
    rm -rf "$WORK/proxy-$round"
    log "round $round of $BENCH_ROUNDS done"
done

med() { tr ' ' '\n' <<<"${S[$1]}" | grep . | median; }
direct=$(med direct)
cat <<EOF

Pull of $BENCH_MIRROR_MIB MiB in $BENCH_LAYERS layers (+ config), $BENCH_PARALLEL blobs at once, median of $BENCH_ROUNDS rounds, upstream ${BENCH_UPSTREAM_MBPS:+limited to $BENCH_UPSTREAM_MBPS MB/s}${BENCH_UPSTREAM_MBPS:-on loopback, unlimited} (seconds; ratio to the direct pull, lower is better):

| pull | seconds | / direct | rounds |
|---|---|---|---|
| direct from the upstream (docker-registry) | $direct | 1.00 | ${S[direct]} |
| cairn mirror, cold (aim ≤ 1.1) | $(med cairn_cold) | $(ratio "$(med cairn_cold)" "$direct") | ${S[cairn_cold]} |
| cairn mirror, warm | $(med cairn_warm) | $(ratio "$(med cairn_warm)" "$direct") | ${S[cairn_warm]} |
| docker-registry proxy, cold | $(med dist_cold) | $(ratio "$(med dist_cold)" "$direct") | ${S[dist_cold]} |
| docker-registry proxy, warm | $(med dist_warm) | $(ratio "$(med dist_warm)" "$direct") | ${S[dist_warm]} |
EOF
