#!/usr/bin/env bash
# The same client operations against cairn and against docker-registry (CNCF
# Distribution 2.8), each on its own empty root, leave the same files with the
# same bytes: blobs, layer links, revision links, tag current/index links.
# (Directories may differ: cairn removes directories a delete left empty,
# Distribution keeps them; cairn's scratch directory R/.cairn-tmp is outside
# the tree.)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo docker-registry cairn
init_workdir
make_test_images "$WORK/img"
start_cairn "$WORK/cairn-root"
start_distribution "$WORK/dist-root"

for h in "$CAIRN" "$DIST"; do
    push_all "$h"
    # move a tag: its index keeps both manifests
    sk_copy "dir:$IMG/v2s2" "docker://$h/it/app:oci"
    expect_raw_digest "docker://$h/it/app:oci" "$V2S2_DIGEST"
    # delete a manifest by digest: its revision link and its tag go
    sk delete --tls-verify=false "docker://$h/it/copy@$MULTI_DIGEST" \
        || die "skopeo delete on $h failed"
done

files_of() {
    # cairn's own files beside the tree (R/.cairn-tmp, R/.cairn-gc.lock,
    # R/.cairn-quarantine) are outside Distribution's grammar: not compared.
    (cd "$1" && find . -path './.cairn-*' -prune -o -type f -print | LC_ALL=C sort)
}
files_of "$WORK/cairn-root" >"$WORK/files-cairn"
files_of "$WORK/dist-root" >"$WORK/files-dist"
if ! diff -u "$WORK/files-dist" "$WORK/files-cairn" >"$WORK/files.diff"; then
    cat "$WORK/files.diff" >&2
    die "the trees hold different files (- docker-registry, + cairn)"
fi
log "ok: both trees hold the same $(wc -l <"$WORK/files-cairn") files"

n=0
while read -r f; do
    cmp -s "$WORK/cairn-root/$f" "$WORK/dist-root/$f" || {
        log "cairn:           $(head -c 200 "$WORK/cairn-root/$f" | od -c | head -3)"
        log "docker-registry: $(head -c 200 "$WORK/dist-root/$f" | od -c | head -3)"
        die "$f differs"
    }
    n=$((n + 1))
done <"$WORK/files-cairn"
log "ok: all $n files byte-identical"

# Every link is exactly "<alg>:<hex>", no newline.
bad=$(cd "$WORK/cairn-root" && find . -name link -type f \
    -exec python3 -c '
import re, sys
for p in sys.argv[1:]:
    b = open(p, "rb").read()
    if not re.fullmatch(rb"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}", b):
        print(p, b[:100])' {} +)
[[ -z $bad ]] || die "malformed link files in cairn's tree: $bad"
log "ok: every link in cairn's tree is a bare digest"

# No temporary file left behind once the pushes were acknowledged.
left=$(find "$WORK/cairn-root/docker" -name '.cairn-tmp*')
[[ -z $left ]] || die "temporary files left in the tree: $left"
log "ok: no .cairn-tmp-* file left in the tree"

log "PASS same_tree"
