#!/usr/bin/env bash
# buildah (1.28, vfs storage of the test's own: see init_buildah in lib.sh)
# against cairn:
#   - the 3-layer OCI image of images.py comes in offline (`buildah pull
#     oci-archive:FILE`); `buildah push --tls-verify=false` (OCI, and Docker
#     schema2 with --format v2s2): the digest buildah reports (--digestfile)
#     is what cairn serves and tags, the manifest names the same config (image
#     ID) and its layers decompress to the config's diff_ids;
#   - after `buildah rmi`, `buildah pull --tls-verify=false` by tag and by
#     digest from cairn: same image ID, the pushed manifest digest recorded,
#     every blob fetched from cairn;
#   - `buildah from scratch` + `buildah copy` + `buildah commit` of a file,
#     pushed, removed, pulled back: the file, read through `buildah mount`,
#     has its content.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools buildah unshare cairn
require_root "buildah.sh runs buildah as root (vfs storage, a private mount namespace)"
init_workdir --short
export TMPDIR=$WORK/tmp; mkdir -p "$TMPDIR"
make_test_images "$WORK/img"
init_buildah "$WORK/b"
start_cairn "$WORK/root"
ROOT=$WORK/root
TREE=$(tree_path "$ROOT")

# push_to REF [buildah push flags]: push, print the digest buildah reports
push_to() {
    local ref=$1 dest=$2; shift 2
    rm -f "$WORK/digest"
    bh push --tls-verify=false --digestfile "$WORK/digest" "$@" "$ref" "docker://$dest" >"$WORK/push" 2>&1 \
        || { cat "$WORK/push" >&2; die "buildah push $ref $dest failed"; }
    [[ -s $WORK/digest ]] || die "buildah push wrote no digest"
    cat "$WORK/digest"
}

# image_digest REF: the manifest digest buildah recorded for a local image
image_digest() { bh images --digests --format '{{.Digest}}' "$1"; }

# expect_sound_image REPO TAG DIGEST: served and tagged as DIGEST, config
# MULTI_CONFIG, 3 layers that decompress to the config's diff_ids
expect_sound_image() {
    local repo=$1 tag=$2 d=$3 cfg
    [[ $(served_digest "$repo" "$tag") = "$d" ]] || die "$repo:$tag served with another digest than $d"
    expect_tag "$ROOT" "$repo" "$tag" "$d"
    cfg=$(served_manifest "$repo" "$d" | json_get 'j["config"]["digest"]')
    [[ $cfg = "$MULTI_CONFIG" ]] || die "$repo@$d names config $cfg, expected $MULTI_CONFIG"
    [[ $(served_manifest "$repo" "$d" | json_get 'len(j["layers"])') = 3 ]] || die "$repo@$d has not 3 layers"
    python3 "$INTEROP_DIR/images.py" check-diffids "$TREE" "$d" || die "layers of $repo@$d do not match the diff_ids"
}

# expect_fetched REPO MARK DIGEST: after line MARK of cairn's access log,
# every blob of manifest DIGEST was fetched from REPO (GET, 200)
expect_fetched() {
    local b
    tail -n "+$(($2 + 1))" "$CAIRN_LOG" | grep -F "\"GET /v2/$1/blobs/" | grep -F '" 200 ' >"$WORK/gets" || true
    for b in $(python3 "$INTEROP_DIR/images.py" reachable "$TREE" "$3" | tail -n +2); do
        grep -qF "$b\"" "$WORK/gets" || die "buildah did not fetch blob $b from cairn (access log)"
    done
}

# ---------------------------------------------------------------------------
python3 "$INTEROP_DIR/images.py" oci-archive "$IMG/oci" "$MULTI_DIGEST" "$WORK/app.tar" \
    local.test/it/app:1 || die "cannot write the OCI archive"
id=$(bh pull -q "oci-archive:$WORK/app.tar") || die "buildah pull oci-archive: failed"
[[ "sha256:$id" = "$MULTI_CONFIG" ]] || die "buildah pulled image $id, expected the config $MULTI_CONFIG"
bh images --format '{{.Name}}:{{.Tag}}' | grep -qx local.test/it/app:1 || die "no local.test/it/app:1 after the pull"
log "ok: buildah pull oci-archive: local.test/it/app:1 = $id"

DIGEST=$(push_to local.test/it/app:1 "$CAIRN/it/app:buildah")
expect_sound_image it/app buildah "$DIGEST"
log "ok: buildah push it/app:buildah -> $DIGEST (served, tagged, config $MULTI_CONFIG, diff_ids match)"
if [[ $DIGEST = "$MULTI_DIGEST" ]]; then
    log "note: buildah pushed the original manifest bytes"
else
    log "note: buildah regenerated the manifest ($DIGEST != $MULTI_DIGEST)"
fi

V2S2=$(push_to local.test/it/app:1 "$CAIRN/it/app:v2s2" --format v2s2)
expect_sound_image it/app v2s2 "$V2S2"
mt=$(served_manifest it/app "$V2S2" | json_get 'j["mediaType"]')
[[ $mt = application/vnd.docker.distribution.manifest.v2+json ]] || die "--format v2s2 pushed a $mt manifest"
log "ok: buildah push --format v2s2 it/app:v2s2 -> $V2S2 (Docker schema2)"

bh rmi -f "$id" >/dev/null || die "buildah rmi failed"
[[ -z $(bh images -q) ]] || die "images left after buildah rmi: $(bh images -q | flat)"
mark=$(wc -l <"$CAIRN_LOG")
id=$(bh pull -q --tls-verify=false "docker://$CAIRN/it/app:buildah") || die "buildah pull it/app:buildah failed"
[[ "sha256:$id" = "$MULTI_CONFIG" ]] || die "buildah pulled $id from cairn, expected $MULTI_CONFIG"
[[ $(image_digest "$CAIRN/it/app:buildah") = "$DIGEST" ]] || die "the pulled image records digest $(image_digest "$CAIRN/it/app:buildah")"
expect_fetched it/app "$mark" "$DIGEST"
log "ok: buildah pull it/app:buildah (after rmi): image $id, digest $DIGEST, every blob from cairn"

bh rmi -f "$id" >/dev/null || die "buildah rmi failed"
mark=$(wc -l <"$CAIRN_LOG")
id=$(bh pull -q --tls-verify=false "docker://$CAIRN/it/app@$V2S2") || die "buildah pull it/app@$V2S2 failed"
[[ "sha256:$id" = "$MULTI_CONFIG" ]] || die "buildah pulled $id by digest, expected $MULTI_CONFIG"
[[ $(image_digest "$id") = "$V2S2" ]] || die "the image pulled by digest records $(image_digest "$id")"
expect_fetched it/app "$mark" "$V2S2"
log "ok: buildah pull it/app@$V2S2 (after rmi): image $id"
bh rmi -f "$id" >/dev/null || die "buildah rmi failed"

# ---------------------------------------------------------------------------
# from scratch, one file
GREETING="hello from buildah $$ $RANDOM$RANDOM"
echo "$GREETING" >"$WORK/greeting.txt"
c=$(bh from scratch) || die "buildah from scratch failed"
bh copy "$c" "$WORK/greeting.txt" /etc/greeting.txt >/dev/null || die "buildah copy failed"
bh config --cmd /bin/true --label org.example.test=cairn "$c" || die "buildah config failed"
sid=$(bh commit -q "$c" local.test/it/scratch:1) || die "buildah commit failed"
bh rm "$c" >/dev/null || die "buildah rm failed"
SCRATCH=$(push_to local.test/it/scratch:1 "$CAIRN/it/scratch:1")
[[ $(served_digest it/scratch 1) = "$SCRATCH" ]] || die "it/scratch:1 served with another digest"
expect_tag "$ROOT" it/scratch 1 "$SCRATCH"
cfg=$(served_manifest it/scratch "$SCRATCH" | json_get 'j["config"]["digest"]')
[[ $cfg = "sha256:${sid#sha256:}" ]] || die "it/scratch:1 names config $cfg, the commit made $sid"
python3 "$INTEROP_DIR/images.py" check-diffids "$TREE" "$SCRATCH" || die "layers of it/scratch:1 do not match the diff_ids"
log "ok: buildah from scratch + copy + commit, pushed as it/scratch:1 -> $SCRATCH"

bh rmi -f "$sid" >/dev/null || die "buildah rmi failed"
[[ -z $(bh images -q) ]] || die "images left after buildah rmi"
bh pull -q --tls-verify=false "docker://$CAIRN/it/scratch:1" >/dev/null || die "buildah pull it/scratch:1 failed"
c=$(bh from "$CAIRN/it/scratch:1") || die "buildah from it/scratch:1 failed"
mnt=$(bh mount "$c") || die "buildah mount failed"
[[ -f $mnt/etc/greeting.txt ]] || die "no /etc/greeting.txt in the pulled image"
got=$(cat "$mnt/etc/greeting.txt")
[[ $got = "$GREETING" ]] || die "/etc/greeting.txt of the pulled image is '$got'"
label=$(bh inspect --type image --format '{{index .OCIv1.Config.Labels "org.example.test"}}' "$CAIRN/it/scratch:1")
[[ $label = cairn ]] || die "the pulled image lost its label (got '$label')"
bh umount "$c" >/dev/null || die "buildah umount failed"
bh rm "$c" >/dev/null || die "buildah rm failed"
log "ok: it/scratch:1 pulled back (after rmi): /etc/greeting.txt intact (buildah mount), label kept"

log "PASS buildah"
