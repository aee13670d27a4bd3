#!/usr/bin/env bash
# cairn-gc against Debian's `docker-registry garbage-collect` (CNCF Distribution
# 2.8) on a tree written by docker-registry.
#
# 1. docker-registry takes skopeo pushes of several images sharing layers
#    (it/app, it/multiarch with untagged children, it/copy, it/extra, it/gone),
#    a tag moved away from an image (untagged revision), an OCI artifact whose
#    subject is it/app:oci (PUT with curl by digest: skopeo cannot), and
#    manifest deletions through the API. Then it is stopped.
# 2. The tree is copied four times. On each pair, with the same flags:
#      docker-registry garbage-collect --dry-run [--delete-untagged] CONFIG
#      cairn-gc --dry-run --json --grace 0s [--delete-untagged]
#    - without --delete-untagged both list exactly the same blobs (and the
#      ones this script expects);
#    - with --delete-untagged they differ exactly by the documented cases
#      where Distribution is wrong: Distribution also deletes the artifact
#      whose subject is tagged (its manifest, config and layer) and the
#      configs and layers of the children of the tagged index; cairn keeps
#      them. Nothing else differs.
# 3. The real collections (no --dry-run) delete exactly what the dry runs
#    listed; then each tree is served by its own server and every tagged
#    image pulls byte-identical (on Distribution's tree after
#    --delete-untagged, the index's children are broken: checked as the
#    documented difference).
#
# Needs skopeo, docker-registry (exit 77 otherwise) and cairn-gc
# (CAIRN_GC_BINARY, default <repo>/build/cairn-gc; exit 77 when missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

: "${CAIRN_GC_BINARY:=$REPO_DIR/build/cairn-gc}"
require_tools skopeo docker-registry cairn
[[ -x $CAIRN_GC_BINARY ]] || skip "cairn-gc not found: $CAIRN_GC_BINARY"
init_workdir
make_test_images "$WORK/img"

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

# --------------------------------------------------------------------------
# extra images: OCI layout $IMG/extra with tags e1..e5; e1, e2 and e4 share
# the layer xb. Digests (manifest, config, layers) in $IMG/extra.env as
# E<n>_DIGEST and E<n>_BLOBS (space-separated: manifest config layers...).
python3 - "$HERE" "$IMG/extra" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import images as im
out = sys.argv[2]
blobdir = os.path.join(out, "blobs", "sha256")
os.makedirs(blobdir)
def put(data):
    dg = im.sha256(data)
    with open(os.path.join(blobdir, dg[7:]), "wb") as f:
        f.write(data)
    return dg
st = im.Store(put)
xb = im.make_layer("xb", 120)
env, refs = {}, []
specs = {"e1": [xb, im.make_layer("x1", 60)], "e2": [xb, im.make_layer("x2", 70)],
         "e3": [im.make_layer("x3", 80)], "e4": [xb, im.make_layer("x4", 50)],
         "e5": [im.make_layer("x5", 40)]}
for tag, layers in specs.items():
    cfg = im.canon({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                    "config": {"Cmd": ["/bin/" + tag]},
                    "rootfs": {"type": "layers", "diff_ids": [d for _g, d in layers]}})
    m = {"schemaVersion": 2, "mediaType": im.OCI_MANIFEST,
         "config": st.desc(im.OCI_CONFIG, cfg),
         "layers": [st.desc(im.OCI_LAYER_GZ, g) for g, _d in layers]}
    mb = im.canon(m)
    d = st.desc(im.OCI_MANIFEST, mb, annotations={"org.opencontainers.image.ref.name": tag})
    refs.append(d)
    key = tag.upper()
    env[key + "_DIGEST"] = d["digest"]
    env[key + "_BLOBS"] = " ".join([d["digest"], m["config"]["digest"]]
                                   + [l["digest"] for l in m["layers"]])
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(out, "index.json"), "wb") as f:
    f.write(im.canon({"schemaVersion": 2, "mediaType": im.OCI_INDEX, "manifests": refs}))
with open(out + ".env", "w") as f:
    for k, v in env.items():
        f.write('%s="%s"\n' % (k, v))
EOF
set -a
# shellcheck disable=SC1091
. "$IMG/extra.env"
set +a

# blobs_of DIGEST_IN_$IMG/oci: manifest + config + layers (+ children)
blobs_of() { python3 "$INTEROP_DIR/images.py" reachable "$IMG/oci" "$1"; }
# sorted unique set from words/lines on stdin
set_of() { tr ' ' '\n' | sed '/^$/d' | LC_ALL=C sort -u; }

# --------------------------------------------------------------------------
# 1. the tree, written by docker-registry
start_distribution "$WORK/dist"
H=$DIST
push_all "$H"
sk_copy "oci:$IMG/extra:e1" "docker://$H/it/extra:e1"
sk_copy "oci:$IMG/extra:e2" "docker://$H/it/extra:e2"
sk_copy "oci:$IMG/extra:e3" "docker://$H/it/gone:e3"
sk_copy "oci:$IMG/extra:e1" "docker://$H/it/gone:e1"
sk_copy "oci:$IMG/extra:e4" "docker://$H/it/extra:moving"
sk_copy "oci:$IMG/extra:e5" "docker://$H/it/extra:moving"   # e4 is now untagged
expect_raw_digest "docker://$H/it/extra:moving" "$E5_DIGEST"

# push_blob URL REPO FILE: two-step upload (POST, PUT ?digest=) with curl
push_blob() {
    local url=$1 repo=$2 file=$3 dg loc
    dg="sha256:$(sha256sum <"$file" | cut -d' ' -f1)"
    loc=$(curl -sf --max-time 30 -X POST -o /dev/null -D - "$url/v2/$repo/blobs/uploads/" \
        | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}') \
        || die "POST upload to $repo failed"
    [[ -n $loc ]] || die "no Location for the upload to $repo"
    [[ $loc = http* ]] || loc="$url$loc"
    if [[ $loc = *\?* ]]; then loc="$loc&digest=$dg"; else loc="$loc?digest=$dg"; fi
    curl -sf --max-time 30 -X PUT -H 'Content-Type: application/octet-stream' \
        --data-binary "@$file" -o /dev/null "$loc" || die "PUT upload of $dg to $repo failed"
    echo "$dg"
}

# the artifact: empty config, one layer, subject = it/app:oci
printf '{}' >"$WORK/empty.json"
printf 'cairn gc_compat signature %s\n' "$(date +%s%N)" >"$WORK/sig.bin"
EMPTY_DG=$(push_blob "$DIST_URL" it/app "$WORK/empty.json")
SIGL_DG=$(push_blob "$DIST_URL" it/app "$WORK/sig.bin")
MULTI_SIZE=$(wc -c <"$IMG/oci/blobs/sha256/${MULTI_DIGEST#sha256:}")
python3 - "$WORK/artifact.json" "$EMPTY_DG" "$SIGL_DG" "$(wc -c <"$WORK/sig.bin")" \
    "$MULTI_DIGEST" "$MULTI_SIZE" <<'EOF'
import json, sys
out, empty, sig, sigsize, subj, subjsize = sys.argv[1:]
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.example.signature.v1",
     "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
     "layers": [{"mediaType": "application/vnd.example.signature.v1", "digest": sig,
                 "size": int(sigsize)}],
     "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subj,
                 "size": int(subjsize)}}
open(out, "wb").write(json.dumps(m, separators=(",", ":")).encode())
EOF
ART_DG="sha256:$(sha256sum <"$WORK/artifact.json" | cut -d' ' -f1)"
code=$(curl -s --max-time 30 -o "$WORK/put.out" -w '%{http_code}' -X PUT \
    -H "Content-Type: $OCI_MANIFEST" --data-binary "@$WORK/artifact.json" \
    "$DIST_URL/v2/it/app/manifests/$ART_DG")
[[ $code = 201 ]] || die "PUT of the artifact to docker-registry: $code $(cat "$WORK/put.out")"
log "artifact $ART_DG (subject $MULTI_DIGEST) pushed by digest"
ART_BLOBS="$ART_DG $EMPTY_DG $SIGL_DG"

# deletions through the API
del_manifest() {
    local code
    code=$(curl -s --max-time 30 -o "$WORK/del.out" -w '%{http_code}' -X DELETE \
        "$DIST_URL/v2/$1/manifests/$2")
    [[ $code = 202 ]] || die "DELETE $1@$2: $code $(cat "$WORK/del.out")"
    log "deleted $1@$2"
}
del_manifest it/extra "$E2_DIGEST"
del_manifest it/gone "$E3_DIGEST"
del_manifest it/gone "$E1_DIGEST"
stop_distribution
# cairn-gc keeps whatever changed after its cutoff, min(now - grace,
# mark start) - 1 s in whole seconds (docs/gc.md): even with --grace 0s a
# blob written in the last second or two is kept. On a quiet machine the
# pushes above end less than a second before the collections below, so wait
# until every write is older than that.
sleep 2

# What must go. Plain: e2 and e3 entirely, except what a kept image shares
# (xb with e1, e4). With --delete-untagged, cairn also deletes e4 (untagged
# since its tag moved) except xb.
# (the base images share nothing with e1..e5; the extra images share xb)
live_plain=$(echo "$E1_BLOBS $E4_BLOBS $E5_BLOBS" | set_of)
want_plain=$(comm -23 <(echo "$E2_BLOBS $E3_BLOBS" | set_of) <(echo "$live_plain"))
want_cairn_u=$( { echo "$want_plain"
                  comm -23 <(echo "$E4_BLOBS" | set_of) <(echo "$E1_BLOBS $E5_BLOBS" | set_of)
                } | set_of)
# the documented difference: Distribution --delete-untagged also deletes the
# artifact (subject tagged) and the children's configs and layers (the
# children's manifest blobs themselves it keeps: the index names them)
children_blobs=$( { blobs_of "$INDEX_CHILD_AMD64" | tail -n +2
                    blobs_of "$INDEX_CHILD_ARM64" | tail -n +2; } | set_of)
want_dist_u=$( { echo "$want_cairn_u"; echo "$ART_BLOBS"; echo "$children_blobs"; } | set_of)

# --------------------------------------------------------------------------
# 2. dry runs on copies
for c in d-plain c-plain d-untagged c-untagged; do
    cp -a "$WORK/dist" "$WORK/$c"
done

dist_gc() {   # dist_gc ROOT OUT [flags]: docker-registry garbage-collect
    local root=$1 out=$2; shift 2
    local cfg="$root.yml" v unset_args=()
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' \
        "$root" >"$cfg"
    for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && unset_args+=(-u "$v"); done
    log "docker-registry garbage-collect $* ($root)"
    env "${unset_args[@]}" timeout 300 "$DOCKER_REGISTRY" garbage-collect "$@" "$cfg" \
        >"$out" 2>"$out.err" || { cat "$out" "$out.err" >&2; die "docker-registry garbage-collect $* failed"; }
}
dist_eligible() { grep -o 'blob eligible for deletion: sha256:[0-9a-f]*' "$1" | awk '{print $NF}' | set_of; }

cairn_gc() {  # cairn_gc ROOT OUT [flags]
    local root=$1 out=$2; shift 2
    log "cairn-gc --json --grace 0s $* ($root)"
    timeout 300 "$CAIRN_GC_BINARY" --root "$root" --json --grace 0s "$@" >"$out" 2>"$out.err" \
        || { cat "$out" "$out.err" >&2; die "cairn-gc $* failed"; }
}
cairn_deleted() {
    python3 -c 'import json,sys; print("\n".join(b["digest"] for b in json.load(open(sys.argv[1]))["deleted"]["blobs"]))' "$1" | set_of
}

# same_set NAME GOT WANT
same_set() {
    if [[ $2 != "$3" ]]; then
        log "$1: only in the first:  $(comm -23 <(echo "$2") <(echo "$3") | flat)"
        log "$1: only in the second: $(comm -13 <(echo "$2") <(echo "$3") | flat)"
        die "$1 differ"
    fi
    log "ok: $1 ($(echo "$2" | sed '/^$/d' | wc -l) blobs)"
}

blob_count() { find "$1/docker/registry/v2/blobs" -name data -type f | wc -l; }
total_blobs=$(blob_count "$WORK/dist")

# Distribution first: it anchors what this script expects
dist_gc "$WORK/d-plain" "$WORK/dgc-plain-dry" --dry-run
d_plain=$(dist_eligible "$WORK/dgc-plain-dry")
same_set "docker-registry --dry-run and the expected blobs" "$d_plain" "$want_plain"
dist_gc "$WORK/d-untagged" "$WORK/dgc-untagged-dry" --dry-run --delete-untagged
d_u=$(dist_eligible "$WORK/dgc-untagged-dry")
same_set "docker-registry --dry-run --delete-untagged and the expected blobs" "$d_u" "$want_dist_u"
grep -q "manifest eligible for deletion: $E4_DIGEST" "$WORK/dgc-untagged-dry" \
    || die "Distribution does not list the untagged e4 manifest"

cairn_gc "$WORK/c-plain" "$WORK/cgc-plain-dry" --dry-run
c_plain=$(cairn_deleted "$WORK/cgc-plain-dry")
same_set "docker-registry and cairn-gc --dry-run" "$d_plain" "$c_plain"

cairn_gc "$WORK/c-untagged" "$WORK/cgc-untagged-dry" --dry-run --delete-untagged
c_u=$(cairn_deleted "$WORK/cgc-untagged-dry")
same_set "cairn-gc --dry-run --delete-untagged and the expected blobs" "$c_u" "$want_cairn_u"
extra=$(comm -23 <(echo "$d_u") <(echo "$c_u"))
same_set "blobs only Distribution deletes (artifact of a tagged image, children of a tagged index)" \
    "$extra" "$( { echo "$ART_BLOBS"; echo "$children_blobs"; } | set_of)"
[[ -z $(comm -13 <(echo "$d_u") <(echo "$c_u")) ]] || die "cairn deletes blobs Distribution keeps"
python3 - "$WORK/cgc-untagged-dry" "$E4_DIGEST" "$ART_DG" "$INDEX_CHILD_AMD64" "$INDEX_CHILD_ARM64" <<'EOF' || die "cairn-gc --delete-untagged revisions"
import json, sys
doc = json.load(open(sys.argv[1]))
revs = set(doc["deleted"]["revisions"])
want = {sys.argv[2]}
if revs != want:
    sys.exit("deleted.revisions %s, want %s" % (sorted(revs), sorted(want)))
EOF
for c in d-plain c-plain d-untagged c-untagged; do
    [[ $(blob_count "$WORK/$c") = "$total_blobs" ]] || die "a --dry-run deleted blobs in $c"
done
log "ok: no dry run deleted anything ($total_blobs blobs each)"

# --------------------------------------------------------------------------
# 3. real collections, then serve and pull
dist_gc "$WORK/d-plain" "$WORK/dgc-plain"
cairn_gc "$WORK/c-plain" "$WORK/cgc-plain"
dist_gc "$WORK/d-untagged" "$WORK/dgc-untagged" --delete-untagged
cairn_gc "$WORK/c-untagged" "$WORK/cgc-untagged" --delete-untagged
same_set "cairn-gc deleted what its --dry-run listed" "$(cairn_deleted "$WORK/cgc-plain")" "$c_plain"
same_set "cairn-gc --delete-untagged deleted what its --dry-run listed" \
    "$(cairn_deleted "$WORK/cgc-untagged")" "$c_u"

# gone_exactly ROOT SET: the blobs of SET are gone, all others of the
# original tree are there
gone_exactly() {
    local root=$1 want=$2 have
    have=$(cd "$root/docker/registry/v2/blobs" && find . -name data -type f \
        | awk -F/ '{print "sha256:" $(NF-1)}' | set_of)
    all=$(cd "$WORK/dist/docker/registry/v2/blobs" && find . -name data -type f \
        | awk -F/ '{print "sha256:" $(NF-1)}' | set_of)
    same_set "blobs left in $(basename "$root")" "$have" "$(comm -23 <(echo "$all") <(echo "$want"))"
}
gone_exactly "$WORK/d-plain" "$d_plain"
gone_exactly "$WORK/c-plain" "$c_plain"
gone_exactly "$WORK/d-untagged" "$d_u"
gone_exactly "$WORK/c-untagged" "$c_u"

pull_extra() {   # pull_extra HOST OUT
    local h=$1 out=$2
    mkdir -p "$out"
    sk_copy "docker://$h/it/extra:e1" "oci:$out/e1:e1"
    verify_copy "$IMG/extra" "$out/e1" "$E1_DIGEST"
    sk_copy "docker://$h/it/extra:moving" "oci:$out/e5:e5"
    verify_copy "$IMG/extra" "$out/e5" "$E5_DIGEST"
}
http_code() { curl -s --max-time 30 -o /dev/null -w '%{http_code}' -H "Accept: $OCI_MANIFEST" "$1"; }

for variant in plain untagged; do
    start_distribution "$WORK/d-$variant"
    if [[ $variant = plain ]]; then
        check_digests "$DIST"
    else
        # check_digests without the index's children (checked below)
        expect_raw_digest "docker://$DIST/it/app:oci" "$MULTI_DIGEST"
        expect_raw_digest "docker://$DIST/it/app:v2s2" "$CONV_DIGEST"
        expect_raw_digest "docker://$DIST/it/app:docker" "$V2S2_DIGEST"
        expect_raw_digest "docker://$DIST/it/multiarch:latest" "$INDEX_DIGEST"
        expect_raw_digest "docker://$DIST/it/copy:oci" "$MULTI_DIGEST"
    fi
    pull_extra "$DIST" "$WORK/pull-d-$variant"
    sk_copy "docker://$DIST/it/app:oci" "oci:$WORK/pull-d-$variant/app:oci"
    verify_copy "$IMG/oci" "$WORK/pull-d-$variant/app" "$MULTI_DIGEST"
    if [[ $variant = plain ]]; then
        pull_and_verify "$DIST" "$WORK/pull-d-$variant/all"
        [[ $(http_code "$DIST_URL/v2/it/app/manifests/$ART_DG") = 200 ]] \
            || die "docker-registry lost the artifact without --delete-untagged"
    else
        # the documented breakage: Distribution deleted the children's
        # revisions and layers of a tagged index, and the artifact of a
        # tagged image
        c=$(http_code "$DIST_URL/v2/it/multiarch/manifests/$INDEX_CHILD_AMD64")
        [[ $c != 200 ]] || die "expected Distribution --delete-untagged to break it/multiarch's children"
        c=$(http_code "$DIST_URL/v2/it/app/manifests/$ART_DG")
        [[ $c != 200 ]] || die "expected Distribution --delete-untagged to delete the artifact"
        log "ok (documented difference): after Distribution --delete-untagged it/multiarch's children and the artifact are gone"
    fi
    stop_distribution

    start_cairn "$WORK/c-$variant"
    check_digests "$CAIRN"
    pull_extra "$CAIRN" "$WORK/pull-c-$variant"
    pull_and_verify "$CAIRN" "$WORK/pull-c-$variant/all"
    [[ $(http_code "$CAIRN_URL/v2/it/app/manifests/$ART_DG") = 200 ]] \
        || die "cairn-gc ($variant) lost the artifact whose subject is tagged"
    for b in $EMPTY_DG $SIGL_DG; do
        got=$(curl -sf --max-time 30 "$CAIRN_URL/v2/it/app/blobs/$b" | sha256sum | cut -d' ' -f1)
        [[ "sha256:$got" = "$b" ]] || die "artifact blob $b not served after cairn-gc ($variant)"
    done
    if [[ $variant = untagged ]]; then
        [[ $(http_code "$CAIRN_URL/v2/it/extra/manifests/$E4_DIGEST") = 404 ]] \
            || die "cairn-gc --delete-untagged kept the untagged e4"
    fi
    cat_now=$(catalog_of "$CAIRN_URL")
    grep -qx it/gone <<<"$cat_now" && die "it/gone (every manifest deleted) still in cairn's catalog after cairn-gc"
    log "ok: cairn catalog after cairn-gc ($variant): $(flat <<<"$cat_now")"
    stop_cairn
done

log "PASS gc_compat"
