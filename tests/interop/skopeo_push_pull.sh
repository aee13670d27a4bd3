#!/usr/bin/env bash
# skopeo against cairn: push an OCI image, the same image converted to Docker
# schema2, a hand-made schema2 image and a multi-arch index; check manifest
# digests, pull everything back byte-identical, list tags, delete by digest.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo cairn
init_workdir
make_test_images "$WORK/img"
start_cairn "$WORK/root"

push_all "$CAIRN"
check_digests "$CAIRN"
pull_and_verify "$CAIRN" "$WORK/pull"
check_tags "$CAIRN"

# Delete it/copy's manifest by digest: the tag goes with it, the same manifest
# and blobs in it/app stay.
log "skopeo delete docker://$CAIRN/it/copy@$MULTI_DIGEST"
sk delete --tls-verify=false "docker://$CAIRN/it/copy@$MULTI_DIGEST" \
    || die "skopeo delete it/copy@$MULTI_DIGEST failed"
if sk inspect --raw --tls-verify=false "docker://$CAIRN/it/copy@$MULTI_DIGEST" >/dev/null 2>"$WORK/err"; then
    die "it/copy@$MULTI_DIGEST still answers after delete"
fi
log "ok: it/copy@digest gone: $(tail -n1 "$WORK/err")"
if sk inspect --raw --tls-verify=false "docker://$CAIRN/it/copy:oci" >/dev/null 2>"$WORK/err"; then
    die "it/copy:oci still answers after its manifest was deleted"
fi
log "ok: it/copy:oci gone: $(tail -n1 "$WORK/err")"
expect_raw_digest "docker://$CAIRN/it/app:oci" "$MULTI_DIGEST"
sk_copy "docker://$CAIRN/it/app:oci" "oci:$WORK/after-delete:oci"
verify_copy "$IMG/oci" "$WORK/after-delete" "$MULTI_DIGEST"

# Push the image again into the repo whose manifest was deleted.
sk_copy "oci:$IMG/oci:multi" "docker://$CAIRN/it/copy:again"
expect_raw_digest "docker://$CAIRN/it/copy:again" "$MULTI_DIGEST"

log "PASS skopeo_push_pull"
