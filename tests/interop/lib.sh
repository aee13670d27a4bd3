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
# For the client daemons (docker, containerd, buildah; see their sections
# below): init_workdir --short (socket paths), start_containerd,
# start_dockerd, start_token_server, make_tls_certs, make_htpasswd.
#
# Environment:
#   CAIRN_BINARY     the server to test (ctest sets it); defaults to
#                    <repo>/build/cairn
#   CAIRN_KEEP_TMP=1 keep the temporary directory for inspection
#   INTEROP_TIMEOUT  per client command timeout in seconds (default 120)
#   CI=true          a missing tool fails the test instead of skipping it
#                    (CI installs every tool: tools/dev/install-dependencies
#                    --test)
#   DOCKER_CLI       the docker client (default: Debian's /usr/bin/docker,
#                    the one packaged with dockerd, else docker from PATH)
#
# Everything listens on 127.0.0.1 only (the docker daemon on a unix socket
# in the temporary directory); servers and daemons are stopped with bounded
# waits, leftover mounts under the temporary directory unmounted and the
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

# missing WHAT: a tool the test needs is not there. Skip, except in CI
# (CI=true), where every tool is installed and a missing one is a failure.
missing() {
    if [[ ${CI:-} = true ]]; then
        die "$* (CI=true: a test that cannot run fails instead of skipping)"
    fi
    skip "$*"
}

require_tools() {
    local t
    for t in "$@"; do
        case $t in
            docker-registry) [[ -x $DOCKER_REGISTRY ]] || missing "docker-registry not installed ($DOCKER_REGISTRY)" ;;
            cairn) [[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY" ;;
            docker)
                if [[ -z ${DOCKER_CLI:-} ]]; then
                    if [[ -x /usr/bin/docker ]]; then DOCKER_CLI=/usr/bin/docker
                    else DOCKER_CLI=$(command -v docker || true); fi
                fi
                [[ -n $DOCKER_CLI && -x $DOCKER_CLI ]] || missing "docker (client) not installed"
                ;;
            *) command -v "$t" >/dev/null 2>&1 || missing "$t not installed" ;;
        esac
    done
    command -v python3 >/dev/null 2>&1 || missing "python3 not installed"
    command -v curl >/dev/null 2>&1 || missing "curl not installed"
}

# require_root WHY: the test starts daemons that need root. Skip when not
# root, except in CI (CI=true), where it fails as a missing tool does.
require_root() {
    [[ $(id -u) = 0 ]] || missing "not root: $*"
}

_HOOKS=()       # cleanup commands (on_cleanup), run last-registered first

# on_cleanup COMMAND...: run COMMAND (one string, eval'd) at exit, before the
# remaining servers are killed; hooks run in reverse order of registration.
on_cleanup() { _HOOKS+=("$*"); }

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for ((i = ${#_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${_HOOKS[i]}" || true
    done
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
        _unmount_under "$WORK"
        if [[ ${CAIRN_KEEP_TMP:-0} = 1 ]]; then
            log "kept $WORK"
        else
            rm -rf "$WORK" || log "could not remove $WORK entirely"
        fi
    fi
    exit "$rc"
}

# _unmount_under DIR: lazily unmount whatever is still mounted below DIR (a
# daemon killed before it could undo its own mounts: dockerd bind-mounts its
# data root), deepest first, so that rm -rf never walks into a mount.
_unmount_under() {
    local m
    command -v findmnt >/dev/null 2>&1 || return 0
    findmnt -rn -o TARGET 2>/dev/null | awk -v p="$1" '$0 == p || index($0, p "/") == 1' | sort -r |
        while read -r m; do
            log "unmounting leftover $m"
            umount -l "$m" 2>/dev/null || true
        done
}

# init_workdir [--short]: $WORK, removed at exit. --short puts it directly
# under /tmp with a short name (/tmp/ci-XXXXXX, whatever TMPDIR says): unix
# socket paths are limited to 107 bytes and dockerd makes some 80 bytes long
# inside its exec root.
# shellcheck disable=SC2120  # the argument is optional
init_workdir() {
    if [[ ${1:-} = --short ]]; then
        WORK=$(mktemp -d /tmp/ci-XXXXXX)
    else
        WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-interop.XXXXXX")
    fi
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_v2 PORT PID LOG [BASE_URL [CURL_ARGS...]]: until GET BASE_URL/v2/
# (default http://127.0.0.1:PORT) answers 200 or 401 (20 s at most)
wait_v2() {
    local port=$1 pid=$2 logf=$3 code=none
    local base=${4:-http://127.0.0.1:$port}
    shift 3
    if [[ $# -gt 0 ]]; then shift; fi
    for _ in $(seq 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server (pid $pid) exited early; log:"
            cat "$logf" >&2 || true
            die "server on port $port did not start"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$base/v2/" || true)
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

# start_cairn ROOT [--tls CA_FILE] [extra args...]: sets CAIRN_PORT,
# CAIRN_PID, CAIRN_URL, CAIRN, CAIRN_LOG. --tls: the server speaks HTTPS (its
# certificate, in the --config file, is signed by CA_FILE), CAIRN_URL is
# https://.
start_cairn() {
    local root=$1; shift
    local ca=""
    if [[ ${1:-} = --tls ]]; then
        ca=$2
        shift 2
    fi
    mkdir -p "$root"
    CAIRN_PORT=$(free_port)
    local logf="$WORK/cairn-$CAIRN_PORT.log"
    "$CAIRN_BINARY" --root "$root" --listen "127.0.0.1:$CAIRN_PORT" --threads 2 "$@" \
        >"$logf" 2>&1 &
    CAIRN_PID=$!
    CAIRN_LOG=$logf
    _PIDS+=("$CAIRN_PID"); _LOGS+=("$logf")
    CAIRN="127.0.0.1:$CAIRN_PORT"
    if [[ -n $ca ]]; then
        CAIRN_URL="https://$CAIRN"
        wait_v2 "$CAIRN_PORT" "$CAIRN_PID" "$logf" "$CAIRN_URL" --cacert "$ca"
    else
        CAIRN_URL="http://$CAIRN"
        wait_v2 "$CAIRN_PORT" "$CAIRN_PID" "$logf"
    fi
    export CAIRN_URL
    log "cairn pid $CAIRN_PID on $CAIRN_URL, root $root"
}

stop_cairn() {
    _stop_pid "${CAIRN_PID:-}"
    CAIRN_PID=
}

# start_distribution ROOT [HTPASSWD_FILE]: sets DIST_PORT, DIST_PID,
# DIST_URL, DIST, DIST_LOG. With HTPASSWD_FILE, it asks for Basic auth
# (htpasswd, bcrypt) and keeps its access log (in DIST_LOG).
start_distribution() {
    local root=$1 htpasswd=${2:-}
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
    if [[ -n $htpasswd ]]; then
        sed -i 's/^    disabled: true$/    disabled: false/' "$cfg"
        printf 'auth:\n  htpasswd:\n    realm: cairn-interop-upstream\n    path: %s\n' "$htpasswd" >>"$cfg"
    fi
    # docker-registry reads REGISTRY_* variables as configuration overrides
    # (REGISTRY_AUTH_FILE, a containers/image variable, breaks it): drop them.
    local v unset_args=()
    for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && unset_args+=(-u "$v"); done
    env "${unset_args[@]}" "$DOCKER_REGISTRY" serve "$cfg" >"$logf" 2>&1 &
    DIST_PID=$!
    DIST_LOG=$logf
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

# ---------------------------------------------------------------------------
# What cairn serves and keeps.

MANIFEST_ACCEPT="application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json"

# served_digest REPO REF [CURL_ARGS...]: the Docker-Content-Digest of HEAD
# $CAIRN_URL/v2/REPO/manifests/REF (which must equal the sha256 of what a
# GET returns). CURL_ARGS: credentials (-u user:pass), --cacert FILE.
served_digest() {
    local repo=$1 ref=$2 head body
    shift 2
    head=$(curl -sfI --max-time 20 -H "Accept: $MANIFEST_ACCEPT" "$@" \
        "$CAIRN_URL/v2/$repo/manifests/$ref") || die "HEAD $CAIRN_URL/v2/$repo/manifests/$ref failed"
    head=$(tr -d '\r' <<<"$head" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *//p')
    [[ $head =~ ^sha256:[0-9a-f]{64}$ ]] || die "HEAD $repo:$ref: no Docker-Content-Digest"
    body=$(curl -sf --max-time 20 -H "Accept: $MANIFEST_ACCEPT" "$@" \
        "$CAIRN_URL/v2/$repo/manifests/$ref" | sha256sum) || die "GET $repo manifest $ref failed"
    [[ "sha256:${body%% *}" = "$head" ]] || die "$repo:$ref: GET body is sha256:${body%% *}, HEAD said $head"
    echo "$head"
}

# served_manifest REPO REF [CURL_ARGS...]: the manifest bytes cairn serves
served_manifest() {
    local repo=$1 ref=$2
    shift 2
    curl -sf --max-time 20 -H "Accept: $MANIFEST_ACCEPT" "$@" "$CAIRN_URL/v2/$repo/manifests/$ref" \
        || die "GET $repo manifest $ref failed"
}

# json_get EXPR: evaluate a Python expression over the JSON document on
# stdin (bound to j); lists print one item a line
json_get() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1])
print("\n".join(map(str, v)) if isinstance(v, list) else v)' "$1"
}

# tree_path ROOT: where cairn with --root ROOT keeps the tree (docs/layout.md)
tree_path() { echo "$1/docker/registry/v2"; }

# expect_layer_link ROOT REPO DIGEST: REPO may read blob DIGEST
# (_layers/<alg>/<hex>/link holding the digest) and the blob is in the tree
expect_layer_link() {
    local t link got
    t=$(tree_path "$1")
    link="$t/repositories/$2/_layers/${3%%:*}/${3#*:}/link"
    [[ -f $link ]] || die "no layer link $link"
    got=$(cat "$link")
    [[ $got = "$3" ]] || die "$link holds '$got', expected $3"
    [[ -f $t/blobs/${3%%:*}/${3:7:2}/${3#*:}/data ]] || die "blob $3 not in the tree"
}

# expect_tag ROOT REPO TAG DIGEST: the tag's current link names DIGEST
expect_tag() {
    local link got
    link="$(tree_path "$1")/repositories/$2/_manifests/tags/$3/current/link"
    [[ -f $link ]] || die "no tag link $link"
    got=$(cat "$link")
    [[ $got = "$4" ]] || die "tag $2:$3 links $got, expected $4"
}

# ---------------------------------------------------------------------------
# Logins and TLS, with the e2e harness's helpers (tests/e2e/cairn_server.py:
# Pki, bcrypt_hash; Python standard library and the openssl CLI).

# e2e_python CODE [ARGS...]: python3 -c CODE with tests/e2e importable
e2e_python() {
    local code=$1; shift
    PYTHONPATH="$REPO_DIR/tests/e2e${PYTHONPATH:+:$PYTHONPATH}" python3 -c "$code" "$@"
}

# password_of USER: the password the tests give USER (as the e2e tests do)
password_of() { echo "$1-secret"; }

# make_htpasswd FILE USER...: bcrypt entries (htpasswd -B) for each USER
# with password_of(USER)
make_htpasswd() {
    local f=$1 rc=0; shift
    e2e_python '
import sys, unittest
from cairn_server import htpasswd_text
try:
    text = htpasswd_text(sys.argv[2:])
except unittest.SkipTest as e:
    print(e, file=sys.stderr)
    sys.exit(77)
open(sys.argv[1], "w").write(text)' "$f" "$@" || rc=$?
    [[ $rc = 0 ]] && return 0
    [[ $rc = 77 ]] && missing "no bcrypt (Python crypt module) for the htpasswd file"
    die "cannot write $f"
}

# make_tls_certs DIR: a CA (DIR/ca.pem) and a server certificate for
# 127.0.0.1 and localhost signed by it (DIR/server.pem, DIR/server.key);
# sets TLS_CA, TLS_CERT, TLS_KEY
make_tls_certs() {
    command -v openssl >/dev/null 2>&1 || missing "openssl not installed"
    e2e_python '
import sys
from cairn_server import Pki
pki = Pki(sys.argv[1])
pki.server(pki.ca("ca", cn="cairn interop test CA"))' "$1" || die "cannot make certificates in $1"
    TLS_CA=$1/ca.pem TLS_CERT=$1/server.pem TLS_KEY=$1/server.key
}

# start_token_server DIR USER...: tests/interop/token_server.py on a free
# port of 127.0.0.1, for service $TOKEN_SERVICE and issuer $TOKEN_ISSUER,
# USER knowing password_of(USER); keys in DIR. Sets TOKEN_REALM,
# TOKEN_BUNDLE (cairn's auth.token.rootcertbundle), TOKEN_PID, TOKEN_LOG
# (one JSON line per token request).
TOKEN_SERVICE=cairn-interop
TOKEN_ISSUER=cairn-interop-token-server
start_token_server() {
    local dir=$1 u users=(); shift
    command -v openssl >/dev/null 2>&1 || missing "openssl not installed"
    mkdir -p "$dir"
    for u in "$@"; do users+=(--user "$u:$(password_of "$u")"); done
    TOKEN_LOG=$dir/requests.jsonl
    python3 -u "$INTEROP_DIR/token_server.py" --dir "$dir" --port-file "$dir/port" \
        --service "$TOKEN_SERVICE" --issuer "$TOKEN_ISSUER" --log "$TOKEN_LOG" "${users[@]}" \
        >"$dir/server.log" 2>&1 &
    TOKEN_PID=$!
    _PIDS+=("$TOKEN_PID"); _LOGS+=("$dir/server.log")
    for _ in $(seq 300); do
        [[ -s $dir/port ]] && break
        kill -0 "$TOKEN_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "token server did not start"; }
        sleep 0.1
    done
    [[ -s $dir/port ]] || die "token server did not start within 30 s"
    TOKEN_REALM="http://127.0.0.1:$(cat "$dir/port")/token"
    TOKEN_BUNDLE=$dir/token-root.pem
    log "token server pid $TOKEN_PID at $TOKEN_REALM"
}

# ---------------------------------------------------------------------------
# containerd and dockerd of the test's own: every directory, socket and pid
# file under the given DIR, nothing read from /etc/containerd or
# /etc/docker, nothing written to /var/lib, /etc or /opt. Only
# /run/docker/plugins, which dockerd 20.10 creates whatever it is told, is
# outside: it is removed again (when it was not there before and is empty).

# start_containerd DIR: sets CTD_ADDRESS, CTD_PID; stopped at exit
start_containerd() {
    local dir=$1
    mkdir -p "$dir"
    CTD_ADDRESS=$dir/c.sock
    (( ${#CTD_ADDRESS} + 6 <= 107 )) || die "socket path too long: $CTD_ADDRESS.ttrpc"
    # The CRI plugin would want CNI under /etc and /opt; the snapshotters
    # left are native and overlayfs.
    cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTD_ADDRESS"
[ttrpc]
  address = "$CTD_ADDRESS.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
    containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
    CTD_PID=$!
    _PIDS+=("$CTD_PID"); _LOGS+=("$dir/containerd.log")
    on_cleanup "_stop_pid $CTD_PID"
    for _ in $(seq 300); do
        kill -0 "$CTD_PID" 2>/dev/null || { cat "$dir/containerd.log" >&2; die "containerd exited at start"; }
        if timeout 5 ctr --address "$CTD_ADDRESS" version >/dev/null 2>&1; then
            log "containerd pid $CTD_PID on $CTD_ADDRESS"
            return 0
        fi
        sleep 0.1
    done
    die "containerd did not answer within 30 s"
}

# ct ARGS...: ctr on the containerd of start_containerd (namespace
# cairn-interop), with a bounded run time
ct() { timeout "$INTEROP_TIMEOUT" ctr --address "$CTD_ADDRESS" --namespace cairn-interop "$@"; }

# start_dockerd DIR [dockerd args...]: dockerd (on its own containerd, in
# DIR/ctd) with data root, exec root, pid file, key and socket in DIR, vfs
# storage, no iptables, no bridge. Exports DOCKER_HOST and DOCKER_CONFIG
# (DIR/client: docker login writes there, never to ~/.docker); sets
# DOCKERD_PID; stopped at exit (before its containerd).
start_dockerd() {
    local dir=$1; shift
    mkdir -p "$dir"
    # dockerd makes sockets of 81 more bytes inside its exec root
    # (libnetwork/<64 hex>.sock)
    (( ${#dir} + 2 + 81 <= 107 )) || die "dockerd exec root would be too long: $dir/x"
    start_containerd "$dir/ctd"
    _RUN_DOCKER_EXISTED=0
    [[ -e /run/docker ]] && _RUN_DOCKER_EXISTED=1
    # The trust key would go to /etc/docker/key.json: only daemon.json can
    # move it (no flag in 20.10).
    printf '{"deprecated-key-path": "%s"}\n' "$dir/key.json" >"$dir/daemon.json"
    dockerd --config-file "$dir/daemon.json" --containerd "$CTD_ADDRESS" \
        --data-root "$dir/root" --exec-root "$dir/x" --pidfile "$dir/pid" \
        --host "unix://$dir/d.sock" --storage-driver vfs \
        --iptables=false --ip6tables=false --bridge=none "$@" >"$dir/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    _PIDS+=("$DOCKERD_PID"); _LOGS+=("$dir/dockerd.log")
    on_cleanup stop_dockerd
    export DOCKER_HOST="unix://$dir/d.sock" DOCKER_CONFIG="$dir/client"
    mkdir -p "$DOCKER_CONFIG"
    for _ in $(seq 300); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$dir/dockerd.log" >&2; die "dockerd exited at start"; }
        if timeout 10 "$DOCKER_CLI" info >/dev/null 2>&1; then
            log "dockerd $("$DOCKER_CLI" version --format '{{.Server.Version}}') pid $DOCKERD_PID on $DOCKER_HOST; client $DOCKER_CLI $("$DOCKER_CLI" version --format '{{.Client.Version}}')"
            return 0
        fi
        sleep 0.2
    done
    die "dockerd did not answer docker info within 60 s"
}

stop_dockerd() {
    [[ -n ${DOCKERD_PID:-} ]] || return 0
    _stop_pid "$DOCKERD_PID"
    DOCKERD_PID=
    if [[ $_RUN_DOCKER_EXISTED = 0 ]]; then
        rmdir /run/docker/plugins /run/docker 2>/dev/null || true
    fi
}

# dk ARGS...: the docker client, with a bounded run time
dk() { timeout "$INTEROP_TIMEOUT" "$DOCKER_CLI" "$@"; }

# ---------------------------------------------------------------------------
# buildah with storage of the test's own

# init_buildah DIR: `bh` runs buildah with vfs storage, root and run root in
# DIR, its own containers.conf (temporary files in DIR/tmp) and
# registries.conf. containers/image keeps root's blob-info cache in
# /var/lib/containers/cache whatever --root says, and buildah 1.28 unpacks
# oci-archive: files in /var/tmp whatever TMPDIR says, so each command runs in
# a private mount namespace where /var/lib/containers is DIR/varlib and
# /var/tmp is DIR/tmp (an empty /var/lib/containers is made for the mount
# when there is none, and removed at exit). Without unshare -m, buildah runs
# as is and says so.
init_buildah() {
    BH_DIR=$1
    mkdir -p "$BH_DIR/tmp" "$BH_DIR/varlib"
    printf '[engine]\nimage_copy_tmp_dir = "%s"\n' "$BH_DIR/tmp" >"$BH_DIR/containers.conf"
    printf 'unqualified-search-registries = []\n' >"$BH_DIR/registries.conf"
    export CONTAINERS_CONF="$BH_DIR/containers.conf" CONTAINERS_REGISTRIES_CONF="$BH_DIR/registries.conf"
    BH_NAMESPACE=0
    if unshare --mount --propagation private true 2>/dev/null; then
        if [[ ! -d /var/lib/containers ]]; then
            mkdir /var/lib/containers && on_cleanup "rmdir /var/lib/containers 2>/dev/null"
        fi
        BH_NAMESPACE=1
    else
        log "note: no private mount namespace (unshare -m): buildah writes its blob-info cache to /var/lib/containers/cache and temporary files to /var/tmp"
    fi
}

# bh ARGS...: buildah as set up by init_buildah, with a bounded run time
bh() {
    local common=(--storage-driver vfs --root "$BH_DIR/root" --runroot "$BH_DIR/run")
    if [[ $BH_NAMESPACE = 1 ]]; then
        # shellcheck disable=SC2016
        timeout "$INTEROP_TIMEOUT" unshare --mount --propagation private -- \
            bash -c 'mount --bind "$1" /var/lib/containers && mount --bind "$2" /var/tmp &&
                     shift 2 && exec buildah "$@"' \
            bh "$BH_DIR/varlib" "$BH_DIR/tmp" "${common[@]}" "$@"
    else
        timeout "$INTEROP_TIMEOUT" buildah "${common[@]}" "$@"
    fi
}
