#!/usr/bin/env bash
# A tree written by Debian's docker-registry (CNCF Distribution 2.8) is served
# as is by cairn: same manifests, same bytes, same tags, same catalog.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo docker-registry cairn
init_workdir
make_test_images "$WORK/img"
ROOT="$WORK/root"

start_distribution "$ROOT"
push_all "$DIST"
check_digests "$DIST"
check_tags "$DIST"
for r in $REPOS; do
    tags_of "docker://$DIST/$r" >"$WORK/tags-dist-${r//\//_}"
done
catalog_of "$DIST_URL" >"$WORK/catalog-dist"
stop_distribution

start_cairn "$ROOT"
check_digests "$CAIRN"
pull_and_verify "$CAIRN" "$WORK/pull"
check_tags "$CAIRN"
for r in $REPOS; do
    got=$(tags_of "docker://$CAIRN/$r") || die "list-tags $r on cairn failed"
    [[ $got = "$(cat "$WORK/tags-dist-${r//\//_}")" ]] \
        || die "$r: cairn lists tags [$(flat <<<"$got")], docker-registry listed [$(flat <"$WORK/tags-dist-${r//\//_}")]"
done
got=$(catalog_of "$CAIRN_URL") || die "GET /v2/_catalog on cairn failed"
[[ $got = "$(cat "$WORK/catalog-dist")" ]] \
    || die "catalog: cairn [$(flat <<<"$got")], docker-registry [$(flat <"$WORK/catalog-dist")]"
log "ok: tags and catalog equal to docker-registry's"

# cairn keeps writing into the inherited tree: a new tag on an existing repo.
sk_copy "dir:$IMG/v2s2" "docker://$CAIRN/it/app:from-cairn"
expect_raw_digest "docker://$CAIRN/it/app:from-cairn" "$V2S2_DIGEST"

log "PASS distribution_to_cairn"
