#!/usr/bin/env bash
# A tree written by cairn is served as is by Debian's docker-registry (CNCF
# Distribution 2.8): same manifests, same bytes, same tags; its catalog lists
# the repositories.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo docker-registry cairn
init_workdir
make_test_images "$WORK/img"
ROOT="$WORK/root"

start_cairn "$ROOT"
push_all "$CAIRN"
check_digests "$CAIRN"
check_tags "$CAIRN"
for r in $REPOS; do
    tags_of "docker://$CAIRN/$r" >"$WORK/tags-cairn-${r//\//_}"
done
stop_cairn

start_distribution "$ROOT"
check_digests "$DIST"
pull_and_verify "$DIST" "$WORK/pull"
check_tags "$DIST"
for r in $REPOS; do
    got=$(tags_of "docker://$DIST/$r") || die "list-tags $r on docker-registry failed"
    [[ $got = "$(cat "$WORK/tags-cairn-${r//\//_}")" ]] \
        || die "$r: docker-registry lists tags [$(flat <<<"$got")], cairn listed [$(flat <"$WORK/tags-cairn-${r//\//_}")]"
done
check_catalog "$DIST_URL"

# docker-registry keeps writing into cairn's tree, and can delete from it.
sk_copy "dir:$IMG/v2s2" "docker://$DIST/it/app:from-distribution"
expect_raw_digest "docker://$DIST/it/app:from-distribution" "$V2S2_DIGEST"
sk delete --tls-verify=false "docker://$DIST/it/copy@$MULTI_DIGEST" \
    || die "docker-registry cannot delete a manifest cairn wrote"
if sk inspect --raw --tls-verify=false "docker://$DIST/it/copy:oci" >/dev/null 2>&1; then
    die "it/copy:oci still answers on docker-registry after delete"
fi
log "ok: docker-registry wrote to and deleted from cairn's tree"

log "PASS cairn_to_distribution"
