# shellcheck shell=bash
# Shared helpers for cairn's interop tests. Source it from a script that runs
# with `set -euo pipefail`:
#
#   HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$HERE/lib.sh"
#   require_tools skopeo docker-registry     # exit 77 when one is missing
#   init_workdir                              # $WORK, trap cleanup EXIT
#   make_test_images "$WORK/img"              # $IMG, digests in the env
#   start_cairn "$WORK/root"                  # $CAIRN_PORT, $CAIRN_PID
#   start_distribution "$WORK/root"           # $DIST_PORT, $DIST_PID
#
# Environment:
#   CAIRN_BINARY     the server to test (ctest sets it); defaults to
#                    <repo>/build/cairn
#   CAIRN_KEEP_TMP=1 keep the temporary directory for inspection
#   INTEROP_TIMEOUT  per client command timeout in seconds (default 120)
#
# Everything listens on 127.0.0.1 only; servers are killed and the temporary
# directory removed on exit, whatever the outcome.

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$INTEROP_DIR/../.." && pwd)
: "${CAIRN_BINARY:=$REPO_DIR/build/cairn}"
: "${INTEROP_TIMEOUT:=120}"
DOCKER_REGISTRY=${DOCKER_REGISTRY:-/usr/bin/docker-registry}

SKIP=77
WORK=
_PIDS=()        # every server this script started
_LOGS=()        # their log files, shown on failure

flat() { tr '\n' ' ' | sed 's/ $//'; }
log()  { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die()  { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit "$SKIP"; }

require_tools() {
    local t
    for t in "$@"; do
        case $t in
            docker-registry) [[ -x $DOCKER_REGISTRY ]] || skip "docker-registry not installed ($DOCKER_REGISTRY)" ;;
            cairn) [[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY" ;;
            *) command -v "$t" >/dev/null 2>&1 || skip "$t not installed" ;;
        esac
    done
    command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
    command -v curl >/dev/null 2>&1 || skip "curl not installed"
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${_PIDS[@]}"; do
        # bounded wait: SIGKILL after ~5 s
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && $rc -ne $SKIP ]]; then
        local f
        for f in "${_LOGS[@]}"; do
            [[ -s $f ]] || continue
            log "---- last lines of $f ----"
            tail -n 40 "$f" >&2 || true
        done
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${CAIRN_KEEP_TMP:-0} = 1 ]]; then
            log "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

init_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-interop.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_v2 PORT PID LOG: until GET /v2/ answers 200 or 401 (20 s at most)
wait_v2() {
    local port=$1 pid=$2 logf=$3 code=none
    for _ in $(seq 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server (pid $pid) exited early; log:"
            cat "$logf" >&2 || true
            die "server on port $port did not start"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/v2/" || true)
        if [[ $code = 200 || $code = 401 ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "server on port $port did not answer /v2/ within 20 s (last code $code)"
}

_forget_pid() {
    local p keep=()
    for p in "${_PIDS[@]}"; do [[ $p = "$1" ]] || keep+=("$p"); done
    _PIDS=("${keep[@]}")
}

_stop_pid() {
    local pid=$1
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    _forget_pid "$pid"
}

# start_cairn ROOT [extra args...]: sets CAIRN_PORT, CAIRN_PID, CAIRN_URL, CAIRN
start_cairn() {
    local root=$1; shift
    mkdir -p "$root"
    CAIRN_PORT=$(free_port)
    local logf="$WORK/cairn-$CAIRN_PORT.log"
    "$CAIRN_BINARY" --root "$root" --listen "127.0.0.1:$CAIRN_PORT" --threads 2 "$@" \
        >"$logf" 2>&1 &
    CAIRN_PID=$!
    _PIDS+=("$CAIRN_PID"); _LOGS+=("$logf")
    wait_v2 "$CAIRN_PORT" "$CAIRN_PID" "$logf"
    CAIRN="127.0.0.1:$CAIRN_PORT"
    CAIRN_URL="http://$CAIRN"; export CAIRN_URL
    log "cairn pid $CAIRN_PID on $CAIRN, root $root"
}

stop_cairn() {
    _stop_pid "${CAIRN_PID:-}"
    CAIRN_PID=
}

# start_distribution ROOT: sets DIST_PORT, DIST_PID, DIST_URL, DIST
start_distribution() {
    local root=$1
    mkdir -p "$root"
    DIST_PORT=$(free_port)
    local cfg="$WORK/distribution-$DIST_PORT.yml" logf="$WORK/distribution-$DIST_PORT.log"
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$DIST_PORT
EOF
    # docker-registry reads REGISTRY_* variables as configuration overrides
    # (REGISTRY_AUTH_FILE, a containers/image variable, breaks it): drop them.
    local v unset_args=()
    for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && unset_args+=(-u "$v"); done
    env "${unset_args[@]}" "$DOCKER_REGISTRY" serve "$cfg" >"$logf" 2>&1 &
    DIST_PID=$!
    _PIDS+=("$DIST_PID"); _LOGS+=("$logf")
    wait_v2 "$DIST_PORT" "$DIST_PID" "$logf"
    DIST="127.0.0.1:$DIST_PORT"
    DIST_URL="http://$DIST"; export DIST_URL
    log "docker-registry pid $DIST_PID on $DIST, root $root"
}

stop_distribution() {
    _stop_pid "${DIST_PID:-}"
    DIST_PID=
}

# make_test_images DIR: builds DIR/oci (tags multi, index), DIR/v2s2 (dir:
# transport, Docker schema2) and exports the digests (see images.py).
make_test_images() {
    IMG=$1
    python3 "$INTEROP_DIR/images.py" build "$IMG"
    set -a
    # shellcheck disable=SC1090
    . "$IMG/digests.env"
    set +a
    log "test images in $IMG: multi=$MULTI_DIGEST index=$INDEX_DIGEST v2s2=$V2S2_DIGEST"
}

# sk ARGS...: skopeo with a bounded run time and no signature policy.
sk() {
    timeout "$INTEROP_TIMEOUT" skopeo --insecure-policy "$@"
}

# sk_copy SRC DST [flags]: plain-HTTP copy in either direction
sk_copy() {
    local src=$1 dst=$2; shift 2
    log "skopeo copy $* $src $dst"
    sk copy -q --src-tls-verify=false --dest-tls-verify=false "$@" "$src" "$dst"
}

# raw_digest REF: sha256 of `skopeo inspect --raw REF`
raw_digest() {
    local out
    out=$(sk inspect --raw --tls-verify=false "$1" | sha256sum) || return 1
    echo "sha256:${out%% *}"
}

# expect_raw_digest REF DIGEST
expect_raw_digest() {
    local got
    got=$(raw_digest "$1") || die "skopeo inspect --raw $1 failed"
    [[ $got = "$2" ]] || die "$1: manifest digest $got, expected $2"
    log "ok: $1 -> $2"
}

# tags_of REF (docker://host/repo): sorted tag list, one per line
tags_of() {
    sk list-tags --tls-verify=false "$1" | python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin)["Tags"])))'
}

# catalog_of URL: sorted repositories from GET /v2/_catalog
catalog_of() {
    curl -sf --max-time 10 "$1/v2/_catalog?n=1000" | python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin)["repositories"] or [])))'
}

# verify_copy ORIG COPY DIGEST: every blob reachable from manifest DIGEST in
# ORIG (oci layout or dir:) is present in COPY, byte-identical, and named by
# its sha256.
verify_copy() {
    local orig=$1 copy=$2 dg=$3 d a b n=0
    local list
    list=$(python3 "$INTEROP_DIR/images.py" reachable "$orig" "$dg") || die "cannot walk $dg in $orig"
    for d in $list; do
        a=$(_blob_file "$orig" "$d") || die "blob $d missing in $orig"
        b=$(_blob_file "$copy" "$d") || die "blob $d missing in copy $copy"
        cmp -s "$a" "$b" || die "blob $d differs between $orig and $copy"
        [[ "sha256:$(sha256sum <"$b" | cut -d' ' -f1)" = "$d" ]] || die "copy of $d has wrong sha256"
        n=$((n + 1))
    done
    log "ok: $n blobs of $dg byte-identical in $copy"
}

_blob_file() {
    local where=$1 hex=${2#sha256:}
    if [[ -f $where/blobs/sha256/$hex ]]; then echo "$where/blobs/sha256/$hex"; return 0; fi
    if [[ -f $where/$hex ]]; then echo "$where/$hex"; return 0; fi
    if [[ -f $where/manifest.json && "$(sha256sum <"$where/manifest.json" | cut -d' ' -f1)" = "$hex" ]]; then
        echo "$where/manifest.json"; return 0
    fi
    return 1
}

# ---------------------------------------------------------------------------
# The common image set, pushed and verified the same way against any server.
#
#   it/app:oci          the 3-layer OCI image           = $MULTI_DIGEST
#   it/app:v2s2         the same, converted by skopeo --format v2s2
#                                                        = $CONV_DIGEST
#   it/app:docker       the hand-made Docker schema2 image = $V2S2_DIGEST
#   it/multiarch:latest the 2-platform OCI index (--all) = $INDEX_DIGEST
#   it/copy:oci         the 3-layer OCI image again (blobs already in the
#                       registry: existence checks / cross-repo mounts)
APP_TAGS=$'docker\noci\nv2s2'
REPOS=$'it/app\nit/copy\nit/multiarch'

# push_all HOST:PORT — sets CONV_DIGEST
push_all() {
    local h=$1
    sk_copy "oci:$IMG/oci:multi" "docker://$h/it/app:oci"
    sk_copy "oci:$IMG/oci:multi" "docker://$h/it/app:v2s2" --format v2s2
    sk_copy "dir:$IMG/v2s2" "docker://$h/it/app:docker"
    sk_copy "oci:$IMG/oci:index" "docker://$h/it/multiarch:latest" --all
    sk_copy "oci:$IMG/oci:multi" "docker://$h/it/copy:oci"
    CONV_DIGEST=$(raw_digest "docker://$h/it/app:v2s2") || die "inspect it/app:v2s2 failed"
    local mt
    mt=$(sk inspect --raw --tls-verify=false "docker://$h/it/app:v2s2" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("mediaType",""))')
    [[ $mt = application/vnd.docker.distribution.manifest.v2+json ]] || die "it/app:v2s2 has media type '$mt'"
    log "pushed all to $h (converted v2s2 manifest $CONV_DIGEST)"
}

# check_digests HOST:PORT — every tag and child manifest has the expected digest
check_digests() {
    local h=$1
    expect_raw_digest "docker://$h/it/app:oci" "$MULTI_DIGEST"
    expect_raw_digest "docker://$h/it/app:v2s2" "$CONV_DIGEST"
    expect_raw_digest "docker://$h/it/app:docker" "$V2S2_DIGEST"
    expect_raw_digest "docker://$h/it/multiarch:latest" "$INDEX_DIGEST"
    expect_raw_digest "docker://$h/it/multiarch@$INDEX_CHILD_AMD64" "$INDEX_CHILD_AMD64"
    expect_raw_digest "docker://$h/it/multiarch@$INDEX_CHILD_ARM64" "$INDEX_CHILD_ARM64"
    expect_raw_digest "docker://$h/it/copy:oci" "$MULTI_DIGEST"
    expect_raw_digest "docker://$h/it/app@$MULTI_DIGEST" "$MULTI_DIGEST"
}

# pull_and_verify HOST:PORT DIR — copy everything back and compare bytes
pull_and_verify() {
    local h=$1 out=$2 d
    mkdir -p "$out"
    sk_copy "docker://$h/it/app:oci" "oci:$out/app-oci:oci"
    verify_copy "$IMG/oci" "$out/app-oci" "$MULTI_DIGEST"

    sk_copy "docker://$h/it/app:docker" "dir:$out/app-docker"
    cmp -s "$IMG/v2s2/manifest.json" "$out/app-docker/manifest.json" \
        || die "it/app:docker manifest bytes differ from the pushed ones"
    verify_copy "$IMG/v2s2" "$out/app-docker" "$V2S2_DIGEST"

    sk_copy "docker://$h/it/app:v2s2" "dir:$out/app-v2s2"
    [[ "sha256:$(sha256sum <"$out/app-v2s2/manifest.json" | cut -d' ' -f1)" = "$CONV_DIGEST" ]] \
        || die "it/app:v2s2 manifest pulled back has another digest"
    python3 "$INTEROP_DIR/images.py" check-diffids "$out/app-v2s2" "$CONV_DIGEST" \
        || die "it/app:v2s2 layers do not match the config's diff_ids"
    for d in $(python3 "$INTEROP_DIR/images.py" reachable "$IMG/oci" "$MULTI_DIGEST" | tail -n +3); do
        cmp -s "$(_blob_file "$IMG/oci" "$d")" "$(_blob_file "$out/app-v2s2" "$d")" \
            || die "layer $d of it/app:v2s2 differs from the original"
    done
    log "ok: it/app:v2s2 layers byte-identical to the OCI original"

    sk_copy "docker://$h/it/multiarch:latest" "oci:$out/multiarch:latest" --all
    verify_copy "$IMG/oci" "$out/multiarch" "$INDEX_DIGEST"

    sk_copy "docker://$h/it/copy:oci" "oci:$out/copy:oci"
    verify_copy "$IMG/oci" "$out/copy" "$MULTI_DIGEST"
}

# check_tags HOST:PORT — tag lists are exactly what push_all pushed
check_tags() {
    local h=$1 got
    got=$(tags_of "docker://$h/it/app") || die "list-tags it/app failed"
    [[ $got = "$APP_TAGS" ]] || die "it/app tags: got [$(flat <<<"$got")], want [$(flat <<<"$APP_TAGS")]"
    got=$(tags_of "docker://$h/it/multiarch") || die "list-tags it/multiarch failed"
    [[ $got = latest ]] || die "it/multiarch tags: got [$(flat <<<"$got")], want [latest]"
    got=$(tags_of "docker://$h/it/copy") || die "list-tags it/copy failed"
    [[ $got = oci ]] || die "it/copy tags: got [$(flat <<<"$got")], want [oci]"
    log "ok: tag lists on $h"
}

# check_catalog URL — /v2/_catalog lists (at least) the pushed repositories
check_catalog() {
    local url=$1 got r
    got=$(catalog_of "$url") || die "GET $url/v2/_catalog failed"
    for r in $REPOS; do
        grep -qx "$r" <<<"$got" || die "catalog of $url lacks $r (got: $(flat <<<"$got"))"
    done
    log "ok: catalog of $url lists $(flat <<<"$REPOS")"
}
