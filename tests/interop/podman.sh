#!/usr/bin/env bash
# podman against cairn: pull an OCI image and a multi-arch index, push the
# pulled image to another repository, and check what arrived with skopeo.
# podman regenerates manifests on push (and may recompress layers), so the
# check is on what must not change: the config digest (image ID) and the
# uncompressed layers (config rootfs.diff_ids).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo podman cairn
[[ $(id -u) = 0 ]] || skip "podman.sh runs podman as root (vfs storage in a temp dir)"
init_workdir
make_test_images "$WORK/img"
start_cairn "$WORK/root"

pm() {
    timeout "$INTEROP_TIMEOUT" podman --root "$WORK/storage" --runroot "$WORK/run" \
        --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

sk_copy "oci:$IMG/oci:multi" "docker://$CAIRN/it/app:oci"
sk_copy "oci:$IMG/oci:index" "docker://$CAIRN/it/multiarch:latest" --all

# pull by tag: podman records the digest of the manifest the server sent
log "podman pull docker://$CAIRN/it/app:oci"
pm pull -q --tls-verify=false "docker://$CAIRN/it/app:oci" >"$WORK/id" || die "podman pull it/app:oci failed"
id=$(cat "$WORK/id")
[[ "sha256:$id" = "$MULTI_CONFIG" ]] || die "podman image id $id, expected config $MULTI_CONFIG"
dg=$(pm image inspect --format '{{.Digest}}' "$CAIRN/it/app:oci")
[[ $dg = "$MULTI_DIGEST" ]] || die "podman recorded digest $dg, expected $MULTI_DIGEST"
log "ok: podman pulled it/app:oci (id $id, digest $dg)"

# pull by digest
pm pull -q --tls-verify=false "docker://$CAIRN/it/app@$MULTI_DIGEST" >/dev/null \
    || die "podman pull it/app@$MULTI_DIGEST failed"
log "ok: podman pulled it/app@$MULTI_DIGEST"

# pull one platform out of the index
amd64_cfg=$(sk inspect --raw --tls-verify=false "docker://$CAIRN/it/multiarch@$INDEX_CHILD_AMD64" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
pm pull -q --tls-verify=false --platform linux/amd64 "docker://$CAIRN/it/multiarch:latest" >"$WORK/id" \
    || die "podman pull it/multiarch:latest failed"
[[ "sha256:$(cat "$WORK/id")" = "$amd64_cfg" ]] \
    || die "podman pulled $(cat "$WORK/id") from the index, expected the amd64 config $amd64_cfg"
log "ok: podman pulled linux/amd64 out of it/multiarch:latest"

# push to another repository on cairn
log "podman push $CAIRN/it/app:oci docker://$CAIRN/it/podman:pushed"
pm push --tls-verify=false "$CAIRN/it/app:oci" "docker://$CAIRN/it/podman:pushed" \
    || die "podman push failed"
pushed=$(raw_digest "docker://$CAIRN/it/podman:pushed") || die "skopeo inspect it/podman:pushed failed"
sk inspect --raw --tls-verify=false "docker://$CAIRN/it/podman:pushed" >"$WORK/pushed.json"
cfg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' "$WORK/pushed.json")
[[ $cfg = "$MULTI_CONFIG" ]] || die "pushed manifest references config $cfg, expected $MULTI_CONFIG"
log "ok: it/podman:pushed is $pushed with config $cfg"
if [[ $pushed = "$MULTI_DIGEST" ]]; then
    log "note: podman pushed the original manifest bytes unchanged"
else
    log "note: podman regenerated the manifest ($pushed != $MULTI_DIGEST)"
fi

# what the server holds for it/podman:pushed is a sound image
sk_copy "docker://$CAIRN/it/podman:pushed" "oci:$WORK/pushed:pushed"
python3 "$INTEROP_DIR/images.py" check-diffids "$WORK/pushed" "$pushed" \
    || die "layers of it/podman:pushed do not match the config's diff_ids"
log "ok: layers of it/podman:pushed decompress to the config's diff_ids"

# and podman itself can pull it back into a fresh store
rm -rf "$WORK/storage" "$WORK/run"
pm pull -q --tls-verify=false "docker://$CAIRN/it/podman:pushed" >"$WORK/id" \
    || die "podman pull it/podman:pushed failed"
[[ "sha256:$(cat "$WORK/id")" = "$MULTI_CONFIG" ]] || die "re-pulled image id $(cat "$WORK/id")"
log "ok: podman pulled it/podman:pushed back into an empty store"

log "PASS podman"
