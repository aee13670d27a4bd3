#!/usr/bin/env bash
# Real clients through cairn's pull-through mirror (docs/mirror.md), every
# server on 127.0.0.1:
#   - two upstreams, each holding the 2-platform OCI index of images.py as
#     it/multiarch:1: Debian's docker-registry with htpasswd (Basic auth),
#     and a second cairn with token auth (the Bearer flow, through
#     token_server.py);
#   - a cairn with `cairn.mirrors` for both (prefix `dist`: username and
#     password, ttl 0, so every tag request asks upstream; prefix `tok`: a
#     credentials_file, the default ttl) next to a local repository that
#     takes pushes; pushes under a mirror prefix are refused (405);
#   - podman pull (linux/amd64), buildah pull (linux/arm64) and skopeo copy
#     --all through one registries.conf in prefix form ([[registry]]
#     dist.test / tok.test, both unresolvable, with a [[registry.mirror]] at
#     cairn's <prefix>), and containerd's ctr pull --all-platforms with a
#     hosts.toml (?ns=dist.test, ?ns=tok.test); the manifests cairn serves
#     are byte-identical to what each upstream serves directly, the images
#     have the configs (image IDs) and blobs of the original, and the
#     mirror's tree holds them as ordinary tags, revisions and layer links;
#   - docker with registry-mirrors: a cairn in Distribution's `proxy:` mode
#     whose remoteurl is the docker-registry upstream (holding
#     library/multiarch:1, and :v2s2, the same index as a Docker manifest
#     list, as if it were Docker Hub) and a dockerd of the test's own started
#     with --registry-mirror at it: `docker pull multiarch:1` and
#     `multiarch:v2s2` (Docker Hub names; by digest with the upstream down)
#     get the upstream's digests and the amd64 config as image ID, cached as
#     library/multiarch in the proxy's tree;
#   - with both upstreams and the token server stopped, every client pulls
#     again from an empty local store and gets the same images from the
#     caches (the ttl-0 mirror says it served its cached tag).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools skopeo podman buildah unshare containerd ctr docker dockerd openssl cairn docker-registry
require_root "mirror.sh runs podman, buildah, containerd and dockerd as root"
init_workdir --short
export TMPDIR=$WORK/tmp; mkdir -p "$TMPDIR"
make_test_images "$WORK/img"

USER_NAME=alice
PASS=$(password_of "$USER_NAME")
REPO=it/multiarch
TAG=1
mapfile -t BLOBS < <(python3 "$INTEROP_DIR/images.py" reachable "$IMG/oci" "$INDEX_DIGEST")
[[ ${#BLOBS[@]} = 7 ]] || die "expected 7 blobs under the index (index, 2 manifests, 2 configs, 2 layers)"
config_of() { json_get 'j["config"]["digest"]' <"$IMG/oci/blobs/sha256/${1#sha256:}"; }
AMD64_CONFIG=$(config_of "$INDEX_CHILD_AMD64")
ARM64_CONFIG=$(config_of "$INDEX_CHILD_ARM64")

# ---------------------------------------------------------------------------
log "== upstreams: docker-registry (htpasswd) and cairn (token auth)"
make_htpasswd "$WORK/htpasswd" "$USER_NAME"
start_distribution "$WORK/dist" "$WORK/htpasswd"
sk_copy "oci:$IMG/oci:index" "docker://$DIST/$REPO:$TAG" --all --dest-creds "$USER_NAME:$PASS"
# what docker pulls from "Docker Hub" (the proxy below)
sk_copy "oci:$IMG/oci:index" "docker://$DIST/library/multiarch:$TAG" --all --dest-creds "$USER_NAME:$PASS"
sk_copy "oci:$IMG/oci:index" "docker://$DIST/library/multiarch:v2s2" --all --format v2s2 --dest-creds "$USER_NAME:$PASS"
curl -sf --max-time 20 -u "$USER_NAME:$PASS" -H "Accept: $MANIFEST_ACCEPT" \
    "$DIST_URL/v2/library/multiarch/manifests/v2s2" >"$WORK/list.json" || die "GET library/multiarch:v2s2 failed"
LIST_DIGEST=sha256:$(sha256sum <"$WORK/list.json" | cut -d' ' -f1)
[[ $(json_get 'j["mediaType"]' <"$WORK/list.json") = application/vnd.docker.distribution.manifest.list.v2+json ]] \
    || die "library/multiarch:v2s2 is not a Docker manifest list"
LIST_AMD64=$(json_get '[m["digest"] for m in j["manifests"] if m["platform"]["architecture"] == "amd64"][0]' <"$WORK/list.json")

start_token_server "$WORK/token" "$USER_NAME"
cat >"$WORK/tokup.yml" <<EOF
version: 0.1
auth:
  token:
    realm: $TOKEN_REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $TOKEN_BUNDLE
EOF
start_cairn "$WORK/tokup" --config "$WORK/tokup.yml"
TOKUP=$CAIRN TOKUP_URL=$CAIRN_URL TOKUP_PID=$CAIRN_PID TOKUP_LOG=$CAIRN_LOG
sk_copy "oci:$IMG/oci:index" "docker://$TOKUP/$REPO:$TAG" --all --dest-creds "$USER_NAME:$PASS"
code=$(curl -s -o /dev/null -w '%{http_code}' "$TOKUP_URL/v2/$REPO/manifests/$TAG")
[[ $code = 401 ]] || die "the token upstream answered $code to an anonymous manifest GET, expected 401"

# upstream_manifest dist|tok REF: the manifest bytes the upstream serves
# directly (Basic credentials; a token from the token server)
upstream_manifest() {
    local auth
    case $1 in
        dist) curl -sf --max-time 20 -u "$USER_NAME:$PASS" -H "Accept: $MANIFEST_ACCEPT" \
                  "$DIST_URL/v2/$REPO/manifests/$2" ;;
        tok)
            auth=$(curl -sf --max-time 20 -u "$USER_NAME:$PASS" \
                "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=repository:$REPO:pull" | json_get 'j["token"]') \
                || return 1
            curl -sf --max-time 20 -H "Authorization: Bearer $auth" -H "Accept: $MANIFEST_ACCEPT" \
                "$TOKUP_URL/v2/$REPO/manifests/$2"
            ;;
    esac
}
for p in dist tok; do
    mkdir -p "$WORK/direct/$p"
    for ref in "$TAG" "$INDEX_CHILD_AMD64" "$INDEX_CHILD_ARM64"; do
        upstream_manifest "$p" "$ref" >"$WORK/direct/$p/${ref#sha256:}" || die "GET $REPO:$ref from upstream $p failed"
    done
    [[ "sha256:$(sha256sum <"$WORK/direct/$p/$TAG" | cut -d' ' -f1)" = "$INDEX_DIGEST" ]] \
        || die "upstream $p serves another index than $INDEX_DIGEST"
done
log "ok: both upstreams hold $REPO:$TAG = $INDEX_DIGEST, and refuse anonymous pulls"

# ---------------------------------------------------------------------------
log "== the mirror (cairn.mirrors: dist, tok) and the proxy (proxy: docker-registry)"
printf '%s:%s\n' "$USER_NAME" "$PASS" >"$WORK/tok.credentials"
chmod 600 "$WORK/tok.credentials"
cat >"$WORK/mirror.yml" <<EOF
version: 0.1
cairn:
  mirrors:
    - prefix: dist
      url: http://$DIST
      hosts: [dist.test]
      username: $USER_NAME
      password: $PASS
      ttl: 0s
    - prefix: tok
      url: http://$TOKUP
      hosts: [tok.test]
      credentials_file: $WORK/tok.credentials
EOF
start_cairn "$WORK/mirror" --config "$WORK/mirror.yml"
MIRROR=$CAIRN MIRROR_URL=$CAIRN_URL MIRROR_LOG=$CAIRN_LOG MROOT=$WORK/mirror

cat >"$WORK/proxy.yml" <<EOF
version: 0.1
proxy:
  remoteurl: http://$DIST
  username: $USER_NAME
  password: $PASS
EOF
start_cairn "$WORK/proxy" --config "$WORK/proxy.yml"
PROXY=$CAIRN PROXY_URL=$CAIRN_URL PROXY_LOG=$CAIRN_LOG PROOT=$WORK/proxy
CAIRN_URL=$MIRROR_URL CAIRN_LOG=$MIRROR_LOG

# A local repository next to the mirrors takes pushes; a mirror prefix does not.
sk_copy "oci:$IMG/oci:multi" "docker://$MIRROR/local/app:1"
[[ $(served_digest local/app 1) = "$MULTI_DIGEST" ]] || die "local/app:1 is not served as $MULTI_DIGEST"
expect_tag "$MROOT" local/app 1 "$MULTI_DIGEST"
if sk_copy "oci:$IMG/oci:multi" "docker://$MIRROR/dist/it/pushed:1" 2>"$WORK/refused"; then
    die "a push under the mirror prefix dist/ succeeded"
fi
body=$(curl -s -X POST -w ' %{http_code}' "$MIRROR_URL/v2/dist/it/pushed/blobs/uploads/")
[[ $body = *'"UNSUPPORTED"'*' 405' ]] || die "POST under dist/: expected 405 UNSUPPORTED, got $body"
log "ok: local/app:1 pushed to the mirror; pushes under dist/ refused (405 UNSUPPORTED)"

# ---------------------------------------------------------------------------
# The clients' configuration: one registries.conf (podman, buildah, skopeo),
# hosts.toml for containerd, registry-mirrors for dockerd.
init_buildah "$WORK/b"
cat >"$BH_DIR/registries.conf" <<EOF
unqualified-search-registries = []

[[registry]]
prefix = "dist.test"
location = "dist.test"

[[registry.mirror]]
location = "$MIRROR/dist"
insecure = true

[[registry]]
prefix = "tok.test"
location = "tok.test"

[[registry.mirror]]
location = "$MIRROR/tok"
insecure = true
EOF
REGISTRIES_CONF=$BH_DIR/registries.conf   # exported by init_buildah
for h in dist.test tok.test; do
    mkdir -p "$WORK/hosts/$h"
    printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
        "$h" "$MIRROR" >"$WORK/hosts/$h/hosts.toml"
done
start_containerd "$WORK/c"
start_dockerd "$WORK/d" --registry-mirror "http://$PROXY" --insecure-registry "$PROXY"
# podman reads $DOCKER_CONFIG/config.json (start_dockerd exported it) and
# stops when it is missing
echo '{}' >"$DOCKER_CONFIG/config.json"

pm() {
    timeout "$INTEROP_TIMEOUT" podman --root "$WORK/podman" --runroot "$WORK/podman-run" \
        --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

# mark: the mirror's access log so far; since MARK: what it logged after
mark() { wc -l <"$MIRROR_LOG"; }
since() { tail -n "+$(($1 + 1))" "$MIRROR_LOG"; }

# expect_asked MARK PATTERN WHAT: the mirror's access log has, after MARK, a
# line with PATTERN answered 200
expect_asked() {
    since "$1" | grep -F -- "$2" | grep -F '" 200 ' >/dev/null || { since "$1" >&2; die "$3: no 200 for $2 in the mirror's access log"; }
}

# podman_pull PREFIX HOST: podman pull HOST/it/multiarch:1 for linux/amd64
podman_pull() {
    local p=$1 h=$2 m id
    m=$(mark)
    pm pull -q --platform linux/amd64 "$h/$REPO:$TAG" >"$WORK/id" 2>"$WORK/podman.err" \
        || { cat "$WORK/podman.err" >&2; die "podman pull $h/$REPO:$TAG failed"; }
    id=$(cat "$WORK/id")
    [[ "sha256:$id" = "$AMD64_CONFIG" ]] || die "podman pulled image $id from $h, expected the amd64 config $AMD64_CONFIG"
    pm image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$id" >"$WORK/repodigests"
    grep -qxF "$h/$REPO@$INDEX_DIGEST" "$WORK/repodigests" \
        || die "podman's RepoDigests lack $h/$REPO@$INDEX_DIGEST: $(flat <"$WORK/repodigests")"
    expect_asked "$m" "\"GET /v2/$p/$REPO/manifests/$INDEX_CHILD_AMD64\"" "podman"
    log "ok: podman pull $h/$REPO:$TAG through $MIRROR/$p: image $id, $h/$REPO@$INDEX_DIGEST"
}

# buildah_pull PREFIX HOST: buildah pull HOST/it/multiarch:1 for linux/arm64
buildah_pull() {
    local p=$1 h=$2 m id
    m=$(mark)
    id=$(bh pull -q --platform linux/arm64 "$h/$REPO:$TAG" 2>"$WORK/buildah.err") \
        || { cat "$WORK/buildah.err" >&2; die "buildah pull $h/$REPO:$TAG failed"; }
    [[ "sha256:$id" = "$ARM64_CONFIG" ]] || die "buildah pulled image $id from $h, expected the arm64 config $ARM64_CONFIG"
    expect_asked "$m" "\"GET /v2/$p/$REPO/manifests/$INDEX_CHILD_ARM64\"" "buildah"
    log "ok: buildah pull --platform linux/arm64 $h/$REPO:$TAG through $MIRROR/$p: image $id"
}

# skopeo_copy PREFIX HOST OUT: skopeo copy --all HOST/it/multiarch:1 to an
# OCI layout, every blob byte-identical to the original
skopeo_copy() {
    local p=$1 h=$2 out=$3 m got
    m=$(mark)
    rm -rf "$out"
    sk copy -q --all --registries-conf "$REGISTRIES_CONF" "docker://$h/$REPO:$TAG" "oci:$out:$TAG" \
        || die "skopeo copy --all docker://$h/$REPO:$TAG failed"
    verify_copy "$IMG/oci" "$out" "$INDEX_DIGEST"
    expect_asked "$m" "\"GET /v2/$p/$REPO/manifests/$TAG\"" "skopeo"
    got=$(sk inspect --raw --registries-conf "$REGISTRIES_CONF" "docker://$h/$REPO:$TAG" | sha256sum) \
        || die "skopeo inspect --raw $h/$REPO:$TAG failed"
    [[ "sha256:${got%% *}" = "$INDEX_DIGEST" ]] || die "skopeo inspect --raw $h/$REPO:$TAG: sha256:${got%% *}"
    log "ok: skopeo copy --all $h/$REPO:$TAG through $MIRROR/$p: the index and its 6 blobs byte-identical"
}

# ct_images_of: the images containerd holds, as "NAME DIGEST PLATFORMS"
ct_images_of() { ct images ls | awk 'NR > 1 { print $1, $3, $6 }'; }

ctr_rm_all() {
    local refs
    mapfile -t refs < <(ct images ls -q)
    [[ ${#refs[@]} = 0 ]] || ct images rm --sync "${refs[@]}" >/dev/null || die "ctr images rm failed"
    [[ -z $(ct content ls -q) ]] || die "content left in containerd after ctr images rm --sync"
}

# ctr_pull HOST: ctr pull --all-platforms HOST/it/multiarch:1 with the
# hosts.toml mirror (?ns=HOST), into an empty containerd; every blob in its
# content store, byte-identical
ctr_pull() {
    local h=$1 m d got
    ctr_rm_all
    m=$(mark)
    ct images pull --hosts-dir "$WORK/hosts" --all-platforms --snapshotter native "$h/$REPO:$TAG" \
        >"$WORK/ctr.out" 2>&1 || { cat "$WORK/ctr.out" >&2; die "ctr images pull $h/$REPO:$TAG failed"; }
    ct_images_of | grep -xF "$h/$REPO:$TAG $INDEX_DIGEST linux/amd64,linux/arm64" >/dev/null \
        || { ct images ls >&2; die "containerd does not hold $h/$REPO:$TAG as the 2-platform index"; }
    ct content ls -q >"$WORK/content"
    for d in "${BLOBS[@]}"; do
        grep -qxF "$d" "$WORK/content" || die "containerd's content store lacks $d"
        got=$(ct content get "$d" | sha256sum)
        [[ "sha256:${got%% *}" = "$d" ]] || die "containerd's $d has sha256:${got%% *}"
    done
    expect_asked "$m" "\"HEAD /v2/$REPO/manifests/$TAG?ns=$h\"" "ctr"
    for d in "${BLOBS[@]:1}"; do expect_asked "$m" "/$d?ns=$h\"" "ctr"; done
    log "ok: ctr images pull --all-platforms $h/$REPO:$TAG (hosts.toml, ?ns=$h): both platforms, 7 blobs byte-identical"
}

# docker_pull REF DIGEST CHILD: docker pull REF (a Docker Hub name: no
# registry, no library/) through registry-mirrors, from the proxy: docker
# prints DIGEST, the image is the amd64 config (its one layer pulled), and
# the proxy served it the amd64 manifest CHILD; the image is removed again
docker_pull() {
    local ref=$1 digest=$2 child=$3 m
    m=$(wc -l <"$PROXY_LOG")
    dk pull "$ref" >"$WORK/docker.out" 2>&1 || { cat "$WORK/docker.out" >&2; die "docker pull $ref failed"; }
    grep -qxF "Digest: $digest" "$WORK/docker.out" || { cat "$WORK/docker.out" >&2; die "docker pull $ref printed another digest than $digest"; }
    [[ $(grep -cF "Pull complete" "$WORK/docker.out") = 1 ]] || { cat "$WORK/docker.out" >&2; die "docker pull $ref did not pull its layer"; }
    [[ $(dk image inspect --format '{{.Id}}' "$ref") = "$AMD64_CONFIG" ]] \
        || die "docker's $ref is not the amd64 config $AMD64_CONFIG"
    dk image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" >"$WORK/repodigests"
    grep -qxF "multiarch@$digest" "$WORK/repodigests" \
        || die "docker's RepoDigests lack multiarch@$digest: $(flat <"$WORK/repodigests")"
    tail -n "+$((m + 1))" "$PROXY_LOG" | grep -F "\"GET /v2/library/multiarch/manifests/$child\"" \
        | grep -F '" 200 ' >/dev/null || { cat "$PROXY_LOG" >&2; die "docker did not pull $ref through the proxy"; }
    dk rmi -f "$AMD64_CONFIG" >/dev/null || die "docker rmi failed"
    log "ok: docker pull $ref through registry-mirrors ($PROXY): image $AMD64_CONFIG, digest $digest"
}

# ---------------------------------------------------------------------------
log "== pulls through the mirror, upstreams up"
podman_pull dist dist.test
podman_pull tok tok.test
buildah_pull dist dist.test
buildah_pull tok tok.test
skopeo_copy dist dist.test "$WORK/sk-dist"
skopeo_copy tok tok.test "$WORK/sk-tok"
ctr_pull dist.test
ctr_pull tok.test
docker_pull "multiarch:$TAG" "$INDEX_DIGEST" "$INDEX_CHILD_AMD64"
docker_pull multiarch:v2s2 "$LIST_DIGEST" "$LIST_AMD64"

# byte-identical manifests, and the trees hold them as ordinary content
for p in dist tok; do
    for ref in "$TAG" "$INDEX_CHILD_AMD64" "$INDEX_CHILD_ARM64"; do
        served_manifest "$p/$REPO" "$ref" >"$WORK/served"
        cmp -s "$WORK/served" "$WORK/direct/$p/${ref#sha256:}" \
            || die "$p/$REPO:$ref: the mirror's bytes differ from the upstream's"
    done
    expect_tag "$MROOT" "$p/$REPO" "$TAG" "$INDEX_DIGEST"
    for d in "$INDEX_DIGEST" "$INDEX_CHILD_AMD64" "$INDEX_CHILD_ARM64"; do
        link=$(tree_path "$MROOT")/repositories/$p/$REPO/_manifests/revisions/sha256/${d#sha256:}/link
        [[ -f $link && $(cat "$link") = "$d" ]] || die "no revision link $link"
    done
    for d in "${BLOBS[@]:1}"; do
        case $d in "$INDEX_CHILD_AMD64"|"$INDEX_CHILD_ARM64") continue ;; esac
        expect_layer_link "$MROOT" "$p/$REPO" "$d"
    done
done
got=$(catalog_of "$MIRROR_URL")
[[ $got = $'dist/it/multiarch\nlocal/app\ntok/it/multiarch' ]] || die "mirror catalog: $(flat <<<"$got")"
expect_tag "$PROOT" library/multiarch "$TAG" "$INDEX_DIGEST"
expect_tag "$PROOT" library/multiarch v2s2 "$LIST_DIGEST"
CAIRN_URL=$PROXY_URL served_manifest library/multiarch v2s2 | cmp -s - "$WORK/list.json" \
    || die "the proxy's library/multiarch:v2s2 differs from the upstream's manifest list"
expect_layer_link "$PROOT" library/multiarch "$AMD64_CONFIG"
log "ok: the mirror serves the upstreams' manifest bytes; dist/$REPO and tok/$REPO are tags, revisions and layer links of its tree; library/multiarch of the proxy's"

python3 - "$TOKEN_LOG" "$REPO" <<'EOF' || die "the token server did not grant the mirror repository:$REPO:pull"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["ok"] and e["user"] == "alice" and e["scopes"] == [f"repository:{sys.argv[2]}:pull"]:
        sys.exit(0)
sys.exit(1)
EOF
grep -qF "user=$USER_NAME \"GET /v2/$REPO/manifests/$TAG\" 200" "$TOKUP_LOG" \
    || die "the token upstream did not serve $REPO:$TAG to the mirror as $USER_NAME"
grep -F '"cairn-mirror"' "$DIST_LOG" | grep -F "\"GET /v2/$REPO/manifests/$TAG HTTP/1.1\" 200 " >/dev/null \
    || die "docker-registry did not serve $REPO:$TAG to the mirror (Basic auth)"
log "ok: the tok mirror got its token for repository:$REPO:pull with its credentials_file, and both upstreams served it"

# ---------------------------------------------------------------------------
log "== again, from empty local stores, with both upstreams and the token server stopped"
stop_distribution
_stop_pid "$TOKUP_PID"
_stop_pid "$TOKEN_PID"
pm rmi -a -f >/dev/null || die "podman rmi failed"
bh rmi -a -f >/dev/null || die "buildah rmi failed"
m0=$(mark)
podman_pull dist dist.test
podman_pull tok tok.test
buildah_pull dist dist.test
buildah_pull tok tok.test
skopeo_copy dist dist.test "$WORK/sk-dist2"
skopeo_copy tok tok.test "$WORK/sk-tok2"
ctr_pull dist.test
ctr_pull tok.test
docker_pull "multiarch:$TAG" "$INDEX_DIGEST" "$INDEX_CHILD_AMD64"
docker_pull "multiarch@$LIST_DIGEST" "$LIST_DIGEST" "$LIST_AMD64"
[[ $(served_digest local/app 1) = "$MULTI_DIGEST" ]] || die "local/app:1 is not served any more"
grep -qF "mirror: serving the cached dist/$REPO:$TAG ($INDEX_DIGEST)" "$MIRROR_LOG" \
    || { since "$m0" >&2; die "the ttl-0 mirror did not say it served its cached tag"; }
log "ok: every client pulled the same images from the caches with the upstreams down"

log "PASS mirror"
