#!/usr/bin/env bash
# containerd's ctr (containerd 1.6, a containerd of the test's own: see
# start_containerd in lib.sh) against cairn, with the 2-platform OCI index of
# images.py imported from an OCI archive (`ctr images import --all-platforms`):
#   - plain HTTP: `ctr images push --plain-http`, the index and both platform
#     manifests are served with their original digests and every blob is in
#     the repository; after `ctr images rm --sync` (content gone),
#     `ctr images pull --plain-http --all-platforms` brings back the index,
#     both platforms' manifests, configs and layers, byte-identical;
#   - TLS (a CA made with openssl) and htpasswd: push with --user and
#     --tlscacert, pull with --user and the CA named in a hosts.toml
#     (--hosts-dir); without credentials, with a wrong password and without
#     trusting the CA, push and pull fail;
#   - through a mirror (docs/mirror.md): docker-registry holds the index,
#     cairn mirrors it with hosts: [upstream.test], and ctr pulls
#     upstream.test/it/multiarch:1 with a hosts.toml naming cairn (which
#     containerd asks with ?ns=upstream.test), then again with the upstream
#     stopped.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools containerd ctr openssl cairn docker-registry
require_root "ctr.sh runs its own containerd"
init_workdir --short
export TMPDIR=$WORK/tmp; mkdir -p "$TMPDIR"
make_test_images "$WORK/img"
start_containerd "$WORK/c"

mapfile -t BLOBS < <(python3 "$INTEROP_DIR/images.py" reachable "$IMG/oci" "$INDEX_DIGEST")
log "the index reaches ${#BLOBS[@]} blobs (index, 2 manifests, 2 configs, 2 layers)"
[[ ${#BLOBS[@]} = 7 ]] || die "expected 7 blobs under the index"

# target_of REF: the digest `ctr images ls` shows for REF
target_of() { ct images ls | awk -v r="$1" '$1 == r { print $3 }'; }
platforms_of() { ct images ls | awk -v r="$1" '$1 == r { print $6 }'; }  # SIZE is 2 words

# expect_image REF: REF is the index, with both platforms
expect_image() {
    [[ $(target_of "$1") = "$INDEX_DIGEST" ]] || { ct images ls >&2; die "$1 is not the index $INDEX_DIGEST"; }
    [[ $(platforms_of "$1") = linux/amd64,linux/arm64 ]] || { ct images ls >&2; die "$1 lacks a platform"; }
}

# expect_fetched REPO MARK: after line MARK of cairn's access log, every blob
# of the index (manifests and blobs) was fetched from REPO (GET, 200)
expect_fetched() {
    local d
    tail -n "+$(($2 + 1))" "$CAIRN_LOG" | grep -F "\"GET /v2/$1/" | grep -F '" 200 ' >"$WORK/gets" || true
    for d in "${BLOBS[@]}"; do
        grep -qF "$d\"" "$WORK/gets" || die "ctr did not fetch $d from cairn (access log)"
    done
}

# expect_local_content: every blob of the index is in containerd's content
# store, byte-identical
expect_local_content() {
    local d got
    ct content ls -q >"$WORK/content"
    for d in "${BLOBS[@]}"; do
        grep -qxF "$d" "$WORK/content" || die "containerd's content store lacks $d"
        got=$(ct content get "$d" | sha256sum) || die "ctr content get $d failed"
        [[ "sha256:${got%% *}" = "$d" ]] || die "content $d has sha256:${got%% *}"
    done
}

# ct_push OUT ARGS...: ctr images push ARGS, its output in OUT. Retried once
# when ctr's own gRPC read of a local blob from containerd was cut short
# ("rpc error: code = Internal desc = unexpected EOF": seen about once in ten
# runs with four client tests at once on two CPUs, every time before any byte
# of that blob was sent to cairn); any other failure is final.
ct_push() {
    local out=$1; shift
    ct images push "$@" >"$out" 2>&1 && return 0
    grep -qF "rpc error: code = Internal desc = unexpected EOF" "$out" || return 1
    log "note: ctr's read from containerd was cut short ($(tail -n1 "$out")); pushing once more"
    mv "$out" "$out.first"
    ct images push "$@" >"$out" 2>&1
}

# rm_all_images: ctr images rm --sync of every image (content and
# snapshots garbage-collected before it returns)
rm_all_images() {
    local refs
    mapfile -t refs < <(ct images ls -q)
    [[ ${#refs[@]} = 0 ]] || ct images rm --sync "${refs[@]}" >/dev/null || die "ctr images rm failed"
    [[ -z $(ct images ls -q) ]] || die "images left after ctr images rm: $(ct images ls -q | flat)"
}

# expect_no_local_content: none of them is left
expect_no_local_content() {
    local d
    ct content ls -q >"$WORK/content"
    for d in "${BLOBS[@]}"; do
        if grep -qxF "$d" "$WORK/content"; then die "content $d still in containerd after rm --sync"; fi
    done
}

# expect_served ROOT REPO [CURL_ARGS...]: cairn serves the index and both
# platform manifests under their digests, and the repository links every
# config and layer
expect_served() {
    local root=$1 repo=$2 d
    shift 2
    for d in "$INDEX_DIGEST" "$INDEX_CHILD_AMD64" "$INDEX_CHILD_ARM64"; do
        [[ $(served_digest "$repo" "$d" "$@") = "$d" ]] || die "$repo@$d not served as itself"
    done
    for d in "${BLOBS[@]:1}"; do
        case $d in "$INDEX_CHILD_AMD64"|"$INDEX_CHILD_ARM64") continue ;; esac
        expect_layer_link "$root" "$repo" "$d"
    done
}

python3 "$INTEROP_DIR/images.py" oci-archive "$IMG/oci" "$INDEX_DIGEST" "$WORK/index.tar" \
    local.test/it/multiarch:1 || die "cannot write the OCI archive"
ct images import --all-platforms --snapshotter native "$WORK/index.tar" >"$WORK/import" 2>&1 \
    || { cat "$WORK/import" >&2; die "ctr images import failed"; }
expect_image local.test/it/multiarch:1
expect_local_content
log "ok: ctr images import --all-platforms: local.test/it/multiarch:1 = $INDEX_DIGEST ($(platforms_of local.test/it/multiarch:1))"

# ---------------------------------------------------------------------------
log "== plain HTTP"
start_cairn "$WORK/open"
ROOT_OPEN=$WORK/open
REF=$CAIRN/it/multiarch:latest
ct images tag local.test/it/multiarch:1 "$REF" >/dev/null || die "ctr images tag failed"
ct_push "$WORK/push1" --plain-http "$REF" || { cat "$WORK/push1" >&2; die "ctr images push --plain-http failed"; }
[[ $(served_digest it/multiarch latest) = "$INDEX_DIGEST" ]] || die "it/multiarch:latest is not served as the index"
expect_tag "$ROOT_OPEN" it/multiarch latest "$INDEX_DIGEST"
expect_served "$ROOT_OPEN" it/multiarch
log "ok: ctr images push --plain-http $REF: index and both platforms served, every blob linked"

rm_all_images
expect_no_local_content
mark=$(wc -l <"$CAIRN_LOG")
ct images pull --plain-http --all-platforms --snapshotter native "$REF" >"$WORK/pull1" 2>&1 \
    || { cat "$WORK/pull1" >&2; die "ctr images pull --plain-http --all-platforms failed"; }
expect_image "$REF"
for p in linux/amd64 linux/arm64; do
    grep -qF "unpacking $p $INDEX_DIGEST" "$WORK/pull1" || { cat "$WORK/pull1" >&2; die "ctr did not unpack $p"; }
done
expect_local_content
expect_fetched it/multiarch "$mark"
log "ok: ctr images pull --all-platforms (after rm --sync): index, both platforms, configs and layers from cairn, byte-identical"
stop_cairn

# ---------------------------------------------------------------------------
log "== through a mirror: hosts.toml, ?ns= (docs/mirror.md)"
start_distribution "$WORK/upstream"
ct images import --all-platforms --snapshotter native "$WORK/index.tar" >/dev/null 2>&1 || die "ctr images import failed"
ct images tag local.test/it/multiarch:1 "$DIST/it/multiarch:1" >/dev/null || die "ctr images tag failed"
ct_push "$WORK/push-upstream" --plain-http "$DIST/it/multiarch:1" \
    || { cat "$WORK/push-upstream" >&2; die "ctr images push to docker-registry failed"; }
cat >"$WORK/mirror.yml" <<EOF
version: 0.1
cairn:
  mirrors:
    - prefix: up
      url: http://$DIST
      hosts: [upstream.test]
EOF
start_cairn "$WORK/mirror" --config "$WORK/mirror.yml"
# upstream.test does not resolve: what ctr gets, the mirror gave it.
mkdir -p "$WORK/hosts-mirror/upstream.test"
printf 'server = "http://upstream.test"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$CAIRN" >"$WORK/hosts-mirror/upstream.test/hosts.toml"
MIRRORED=(--hosts-dir "$WORK/hosts-mirror" --all-platforms --snapshotter native upstream.test/it/multiarch:1)
rm_all_images
ct images pull "${MIRRORED[@]}" >"$WORK/pull-mirror1" 2>&1 \
    || { cat "$WORK/pull-mirror1" "$CAIRN_LOG" >&2; die "ctr images pull through the mirror failed"; }
expect_image upstream.test/it/multiarch:1
expect_local_content
grep -qF '"HEAD /v2/it/multiarch/manifests/1?ns=upstream.test" 200' "$CAIRN_LOG" \
    || { cat "$CAIRN_LOG" >&2; die "ctr did not resolve the tag at cairn with ?ns=upstream.test"; }
for d in "${BLOBS[@]}"; do
    grep -qF "/$d?ns=upstream.test\" 200" "$CAIRN_LOG" || die "ctr did not fetch $d from cairn's mirror"
done
expect_tag "$WORK/mirror" up/it/multiarch 1 "$INDEX_DIGEST"
log "ok: ctr images pull through cairn's mirror (?ns=upstream.test): the index, both platforms, byte-identical; cached as up/it/multiarch"
stop_distribution
rm_all_images
ct images pull "${MIRRORED[@]}" >"$WORK/pull-mirror2" 2>&1 \
    || { cat "$WORK/pull-mirror2" >&2; die "ctr images pull from the mirror's cache failed"; }
expect_image upstream.test/it/multiarch:1
expect_local_content
log "ok: the same pull with the upstream stopped, from the mirror's cache"
stop_cairn

# ---------------------------------------------------------------------------
log "== TLS and htpasswd"
make_tls_certs "$WORK/tls"
make_htpasswd "$WORK/htpasswd" alice
PASS=$(password_of alice)
cat >"$WORK/tls.yml" <<EOF
version: 0.1
http:
  tls:
    certificate: $TLS_CERT
    key: $TLS_KEY
auth:
  htpasswd:
    realm: cairn-interop
    path: $WORK/htpasswd
EOF
start_cairn "$WORK/tlsroot" --tls "$TLS_CA" --config "$WORK/tls.yml"
ROOT_TLS=$WORK/tlsroot
REF=$CAIRN/secure/multiarch:1

ct images import --all-platforms --snapshotter native "$WORK/index.tar" >/dev/null 2>&1 || die "ctr images import failed"
ct images tag local.test/it/multiarch:1 "$REF" >/dev/null || die "ctr images tag failed"

# ctr 1.6 talks plain HTTP to a loopback address unless a hosts.toml says
# https: two hosts directories, one without a CA (it then comes from
# --tlscacert, or is missing), one naming the CA. (A hosts.toml without a
# [host] table is refused by containerd 1.6, which then falls back to its
# defaults: plain HTTP here.)
mkdir -p "$WORK/hosts-noca/$CAIRN" "$WORK/hosts-ca/$CAIRN"
printf 'server = "https://%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n' \
    "$CAIRN" "$CAIRN" >"$WORK/hosts-noca/$CAIRN/hosts.toml"
printf 'server = "https://%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "%s"\n' \
    "$CAIRN" "$CAIRN" "$TLS_CA" >"$WORK/hosts-ca/$CAIRN/hosts.toml"
NOCA=(--hosts-dir "$WORK/hosts-noca")
WITHCA=(--hosts-dir "$WORK/hosts-ca")

if ct images push "${NOCA[@]}" --tlscacert "$TLS_CA" "$REF" >"$WORK/push2" 2>&1; then die "ctr push without credentials succeeded"; fi
grep -qiE "unauthorized|401" "$WORK/push2" || { cat "$WORK/push2" >&2; die "unexpected message for a push without credentials"; }
log "ok: push without credentials refused: $(grep -iE 'unauthorized|401' "$WORK/push2" | tail -n1)"
if ct images push "${NOCA[@]}" --tlscacert "$TLS_CA" --user "alice:wrong-$PASS" "$REF" >"$WORK/push3" 2>&1; then
    die "ctr push with a wrong password succeeded"
fi
grep -qiE "unauthorized|401" "$WORK/push3" || { cat "$WORK/push3" >&2; die "unexpected message for a wrong password"; }
log "ok: push with a wrong password refused: $(grep -iE 'unauthorized|401' "$WORK/push3" | tail -n1)"
if ct images push "${NOCA[@]}" --user "alice:$PASS" "$REF" >"$WORK/push4" 2>&1; then die "ctr push to an untrusted certificate succeeded"; fi
grep -qiE "x509|certificate" "$WORK/push4" || { cat "$WORK/push4" >&2; die "unexpected message for an untrusted certificate"; }
log "ok: push without trusting the CA refused: $(grep -iE 'x509|certificate' "$WORK/push4" | tail -n1)"
[[ ! -e $(tree_path "$ROOT_TLS")/repositories/secure/multiarch/_manifests ]] || die "a manifest arrived through a refused push"

ct_push "$WORK/push5" "${NOCA[@]}" --tlscacert "$TLS_CA" --user "alice:$PASS" "$REF" \
    || { cat "$WORK/push5" >&2; die "ctr images push --tlscacert --user failed"; }
[[ $(served_digest secure/multiarch 1 --cacert "$TLS_CA" -u "alice:$PASS") = "$INDEX_DIGEST" ]] \
    || die "secure/multiarch:1 is not served as the index"
expect_tag "$ROOT_TLS" secure/multiarch 1 "$INDEX_DIGEST"
expect_served "$ROOT_TLS" secure/multiarch --cacert "$TLS_CA" -u "alice:$PASS"
grep -q 'user=alice "PUT /v2/secure/multiarch/manifests/1" 201' "$CAIRN_LOG" || die "cairn did not log alice's manifest PUT"
log "ok: ctr images push --tlscacert --user over TLS: index and both platforms served"

rm_all_images
expect_no_local_content
if ct images pull "${WITHCA[@]}" --all-platforms --snapshotter native "$REF" >"$WORK/pull2" 2>&1; then
    die "ctr pull without credentials succeeded"
fi
grep -qiE "unauthorized|401" "$WORK/pull2" || { cat "$WORK/pull2" >&2; die "unexpected message for a pull without credentials"; }
log "ok: pull without credentials refused: $(grep -iE 'unauthorized|401' "$WORK/pull2" | tail -n1)"
mark=$(wc -l <"$CAIRN_LOG")
ct images pull "${WITHCA[@]}" --user "alice:$PASS" --all-platforms --snapshotter native "$REF" \
    >"$WORK/pull3" 2>&1 || { cat "$WORK/pull3" >&2; die "ctr images pull --hosts-dir --user failed"; }
expect_image "$REF"
expect_local_content
expect_fetched secure/multiarch "$mark"
log "ok: ctr images pull --user over TLS (CA from hosts.toml): index, both platforms, byte-identical"

log "PASS ctr"
