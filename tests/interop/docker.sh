#!/usr/bin/env bash
# docker (Debian's docker.io 20.10: a dockerd of the test's own, see
# start_dockerd in lib.sh) against cairn:
#   - push (3-layer image from `docker load`, 1-layer image from `docker
#     import`): the digest docker prints is the one cairn serves and records;
#   - cross-repository mount: pushing the same image to a second repository
#     prints "Mounted from" for every layer, cairn answers the mounts 201 and
#     the second repository gets the layer links;
#   - pull after `docker rmi` (so it comes from the registry): same image ID,
#     the file put in the imported image is there; pull by digest;
#   - htpasswd: push without login fails, a wrong password fails `docker
#     login`, push and pull after login work, pull after logout fails;
#   - token auth (tests/interop/token_server.py): the same through Bearer
#     tokens, and the token server granted exactly the scopes docker asked.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

require_tools docker dockerd containerd ctr openssl cairn
require_root "docker.sh runs its own dockerd"
init_workdir --short
export TMPDIR=$WORK/tmp; mkdir -p "$TMPDIR"
make_test_images "$WORK/img"

# Three registries, all started before dockerd (which needs their ports for
# --insecure-registry): without authentication, with htpasswd, with tokens.
# use_cairn NAME selects the one served_digest and the access log checks
# talk about.
start_cairn "$WORK/open"
OPEN=$CAIRN OPEN_URL=$CAIRN_URL OPEN_LOG=$CAIRN_LOG ROOT_OPEN=$WORK/open

make_htpasswd "$WORK/htpasswd" alice
PASS=$(password_of alice)
cat >"$WORK/htpasswd.yml" <<EOF
version: 0.1
auth:
  htpasswd:
    realm: cairn-interop
    path: $WORK/htpasswd
EOF
start_cairn "$WORK/htp" --config "$WORK/htpasswd.yml"
HTPASSWD=$CAIRN HTPASSWD_URL=$CAIRN_URL HTPASSWD_LOG=$CAIRN_LOG ROOT_HTP=$WORK/htp

start_token_server "$WORK/tok" alice
cat >"$WORK/token.yml" <<EOF
version: 0.1
auth:
  token:
    realm: $TOKEN_REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $TOKEN_BUNDLE
EOF
start_cairn "$WORK/tokroot" --config "$WORK/token.yml"
TOKEN=$CAIRN TOKEN_URL=$CAIRN_URL TOKEN_CAIRN_LOG=$CAIRN_LOG ROOT_TOK=$WORK/tokroot

use_cairn() {
    case $1 in
        open) CAIRN_URL=$OPEN_URL CAIRN_LOG=$OPEN_LOG ;;
        htpasswd) CAIRN_URL=$HTPASSWD_URL CAIRN_LOG=$HTPASSWD_LOG ;;
        token) CAIRN_URL=$TOKEN_URL CAIRN_LOG=$TOKEN_CAIRN_LOG ;;
    esac
}

start_dockerd "$WORK/d" --insecure-registry "$OPEN" --insecure-registry "$HTPASSWD" \
    --insecure-registry "$TOKEN"

# push_digest FILE: the digest in `docker push` output ("TAG: digest: D size: N")
push_digest() {
    local d
    d=$(sed -n 's/^.*: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$1" | tail -n1)
    [[ -n $d ]] || { cat "$1" >&2; die "no digest in the docker push output"; }
    echo "$d"
}

# rmi_all ID: remove the image and all its tags; it must be gone
rmi_all() {
    dk rmi -f "$1" >/dev/null || die "docker rmi $1 failed"
    if dk image inspect "$1" >/dev/null 2>&1; then die "image $1 still there after docker rmi"; fi
}

image_id() { dk image inspect --format '{{.Id}}' "$1"; }

# count PATTERN FILE: lines of FILE matching the fixed string PATTERN
count() { grep -cF -- "$1" "$2" || true; }

# ---------------------------------------------------------------------------
# The images, made offline: the 3-layer OCI image of images.py as a
# `docker save` archive (docker load), and a one-layer image from a root fs
# (docker import) holding a file with this run's own content.
python3 "$INTEROP_DIR/images.py" docker-archive "$IMG/oci" "$MULTI_DIGEST" "$WORK/multi.tar" local/multi:1 \
    || die "cannot write the docker archive"
dk load -q -i "$WORK/multi.tar" >/dev/null || die "docker load failed"
MULTI_ID=$(image_id local/multi:1)
[[ $MULTI_ID = "$MULTI_CONFIG" ]] || die "docker load gave image $MULTI_ID, expected the config $MULTI_CONFIG"
GREETING="hello from cairn interop $$ $RANDOM$RANDOM"
mkdir -p "$WORK/rootfs/etc" "$WORK/rootfs/data"
echo "$GREETING" >"$WORK/rootfs/etc/greeting"
head -c 300000 /dev/urandom >"$WORK/rootfs/data/random.bin"
tar -C "$WORK/rootfs" -c . | dk import - local/imported:1 >/dev/null || die "docker import failed"
IMPORTED_ID=$(image_id local/imported:1)
log "images: local/multi:1 $MULTI_ID, local/imported:1 $IMPORTED_ID"

# ---------------------------------------------------------------------------
log "== no authentication: push, cross-repository mount, pull, pull by digest"
use_cairn open

dk tag local/multi:1 "$OPEN/it/app:multi"
dk push "$OPEN/it/app:multi" >"$WORK/push1" 2>&1 || { cat "$WORK/push1" >&2; die "docker push it/app:multi failed"; }
DIGEST=$(push_digest "$WORK/push1")
[[ $(count ": Pushed" "$WORK/push1") = 3 ]] || { cat "$WORK/push1" >&2; die "docker push did not push 3 layers"; }
served=$(served_digest it/app multi)
[[ $served = "$DIGEST" ]] || die "docker pushed $DIGEST, cairn serves $served for it/app:multi"
expect_tag "$ROOT_OPEN" it/app multi "$DIGEST"
dk image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' local/multi:1 >"$WORK/repodigests"
grep -qxF "$OPEN/it/app@$DIGEST" "$WORK/repodigests" \
    || die "RepoDigests lack $OPEN/it/app@$DIGEST: $(flat <"$WORK/repodigests")"
mt=$(served_manifest it/app "$DIGEST" | json_get 'j["mediaType"]')
[[ $mt = application/vnd.docker.distribution.manifest.v2+json ]] || die "docker pushed a $mt manifest"
mapfile -t LAYERS < <(served_manifest it/app "$DIGEST" | json_get '[l["digest"] for l in j["layers"]]')
[[ ${#LAYERS[@]} = 3 ]] || die "it/app:multi has ${#LAYERS[@]} layers"
log "ok: docker push it/app:multi -> $DIGEST (served, tagged, in RepoDigests, 3 layers)"

dk tag local/imported:1 "$OPEN/it/app:imported"
dk push "$OPEN/it/app:imported" >"$WORK/push2" 2>&1 || { cat "$WORK/push2" >&2; die "docker push it/app:imported failed"; }
IMPORTED_DIGEST=$(push_digest "$WORK/push2")
[[ $(served_digest it/app imported) = "$IMPORTED_DIGEST" ]] || die "it/app:imported: served digest differs from $IMPORTED_DIGEST"
log "ok: docker push it/app:imported -> $IMPORTED_DIGEST"

# The same image into another repository: docker knows the layers are in
# it/app and mounts them instead of uploading.
dk tag local/multi:1 "$OPEN/it/mounted:multi"
dk push "$OPEN/it/mounted:multi" >"$WORK/push3" 2>&1 || { cat "$WORK/push3" >&2; die "docker push it/mounted:multi failed"; }
[[ $(count "Mounted from it/app" "$WORK/push3") = 3 ]] \
    || { cat "$WORK/push3" >&2; die "docker did not print 'Mounted from it/app' for the 3 layers"; }
[[ $(count ": Pushed" "$WORK/push3") = 0 ]] || { cat "$WORK/push3" >&2; die "docker uploaded layers again"; }
[[ $(push_digest "$WORK/push3") = "$DIGEST" ]] || die "it/mounted:multi pushed with another digest"
[[ $(served_digest it/mounted multi) = "$DIGEST" ]] || die "it/mounted:multi: served digest differs"
for l in "${LAYERS[@]}"; do
    expect_layer_link "$ROOT_OPEN" it/mounted "$l"
    grep -F '"POST /v2/it/mounted/blobs/uploads/?' "$CAIRN_LOG" | grep -F "from=it%2Fapp" \
        | grep -F "mount=sha256%3A${l#sha256:}" | grep -qF '" 201 ' \
        || die "cairn's access log has no 201 for the mount of $l"
done
log "ok: docker push it/mounted:multi mounted the 3 layers from it/app (201, _layers links)"

# pull after rmi: everything comes from cairn
rmi_all "$MULTI_ID"
dk pull "$OPEN/it/app:multi" >"$WORK/pull1" 2>&1 || { cat "$WORK/pull1" >&2; die "docker pull it/app:multi failed"; }
grep -qxF "Digest: $DIGEST" "$WORK/pull1" || { cat "$WORK/pull1" >&2; die "docker pull printed another digest"; }
[[ $(count "Pull complete" "$WORK/pull1") = 3 ]] || { cat "$WORK/pull1" >&2; die "docker pull did not fetch 3 layers"; }
[[ $(image_id "$OPEN/it/app:multi") = "$MULTI_ID" ]] || die "pulled it/app:multi has another image ID"
log "ok: docker pull it/app:multi (after rmi) -> $MULTI_ID"

rmi_all "$MULTI_ID"
dk pull "$OPEN/it/app@$DIGEST" >"$WORK/pull2" 2>&1 || { cat "$WORK/pull2" >&2; die "docker pull it/app@$DIGEST failed"; }
[[ $(image_id "$OPEN/it/app@$DIGEST") = "$MULTI_ID" ]] || die "image pulled by digest has another ID"
dk image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$MULTI_ID" >"$WORK/repodigests"
grep -qxF "$OPEN/it/app@$DIGEST" "$WORK/repodigests" || die "RepoDigests after pull by digest: $(flat <"$WORK/repodigests")"
log "ok: docker pull it/app@$DIGEST (after rmi) -> $MULTI_ID"

rmi_all "$IMPORTED_ID"
dk pull "$OPEN/it/app:imported" >"$WORK/pull3" 2>&1 || { cat "$WORK/pull3" >&2; die "docker pull it/app:imported failed"; }
[[ $(image_id "$OPEN/it/app:imported") = "$IMPORTED_ID" ]] || die "pulled it/app:imported has another image ID"
dk save -o "$WORK/imported.tar" "$OPEN/it/app:imported" || die "docker save failed"
got=$(python3 "$INTEROP_DIR/images.py" archive-file "$WORK/imported.tar" etc/greeting) || die "no etc/greeting in the pulled image"
[[ $got = "$GREETING" ]] || die "etc/greeting of the pulled image is '$got'"
log "ok: docker pull it/app:imported (after rmi): same ID, etc/greeting intact"

# ---------------------------------------------------------------------------
log "== htpasswd: docker login"
use_cairn htpasswd

dk tag "$MULTI_ID" "$HTPASSWD/auth/app:1"
if dk push "$HTPASSWD/auth/app:1" >"$WORK/push4" 2>&1; then die "docker push without login succeeded"; fi
grep -qiE "no basic auth credentials|unauthorized" "$WORK/push4" || { cat "$WORK/push4" >&2; die "unexpected message for a push without login"; }
[[ ! -e $(tree_path "$ROOT_HTP")/repositories/auth/app/_manifests ]] || die "a manifest arrived without login"
log "ok: push without login refused: $(tail -n1 "$WORK/push4")"

if dk login -u alice --password-stdin "$HTPASSWD" <<<"wrong-$PASS" >"$WORK/login1" 2>&1; then
    die "docker login with a wrong password succeeded"
fi
grep -qiE "unauthorized|401" "$WORK/login1" || { cat "$WORK/login1" >&2; die "unexpected message for a wrong password"; }
if [[ -f $DOCKER_CONFIG/config.json ]] && json_get "'$HTPASSWD' in j.get('auths', {})" <"$DOCKER_CONFIG/config.json" | grep -qx True; then
    die "a failed login left credentials in config.json"
fi
log "ok: wrong password refused: $(tail -n1 "$WORK/login1")"

dk login -u alice --password-stdin "$HTPASSWD" <<<"$PASS" >"$WORK/login2" 2>&1 || { cat "$WORK/login2" >&2; die "docker login failed"; }
grep -qx "Login Succeeded" "$WORK/login2" || { cat "$WORK/login2" >&2; die "docker login did not say Login Succeeded"; }
json_get "'$HTPASSWD' in j['auths']" <"$DOCKER_CONFIG/config.json" | grep -qx True || die "config.json has no entry for $HTPASSWD"
log "ok: docker login $HTPASSWD (credentials in \$DOCKER_CONFIG/config.json)"

dk push "$HTPASSWD/auth/app:1" >"$WORK/push5" 2>&1 || { cat "$WORK/push5" >&2; die "docker push after login failed"; }
d=$(push_digest "$WORK/push5")
[[ $d = "$DIGEST" ]] || die "auth/app:1 pushed as $d, expected $DIGEST"
[[ $(served_digest auth/app 1 -u "alice:$PASS") = "$DIGEST" ]] || die "auth/app:1 served with another digest"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$CAIRN_URL/v2/auth/app/manifests/1")
[[ $code = 401 ]] || die "anonymous HEAD auth/app:1 answered $code, expected 401"
expect_tag "$ROOT_HTP" auth/app 1 "$DIGEST"
log "ok: docker push after login -> $DIGEST"

rmi_all "$MULTI_ID"
dk pull "$HTPASSWD/auth/app:1" >"$WORK/pull4" 2>&1 || { cat "$WORK/pull4" >&2; die "docker pull after login failed"; }
[[ $(image_id "$HTPASSWD/auth/app:1") = "$MULTI_ID" ]] || die "pulled auth/app:1 has another ID"
log "ok: docker pull after login (after rmi)"

dk logout "$HTPASSWD" >/dev/null || die "docker logout failed"
rmi_all "$MULTI_ID"
if dk pull "$HTPASSWD/auth/app:1" >"$WORK/pull5" 2>&1; then die "docker pull after logout succeeded"; fi
log "ok: pull after logout refused: $(tail -n1 "$WORK/pull5")"

# ---------------------------------------------------------------------------
log "== token auth: docker login through a token server"
use_cairn token

# token_for SCOPE: a token for alice from the token server, for curl
token_for() {
    curl -sf --max-time 20 -u "alice:$PASS" "$TOKEN_REALM?service=$TOKEN_SERVICE&scope=$1" \
        | json_get 'j["token"]'
}

dk load -q -i "$WORK/multi.tar" >/dev/null || die "docker load failed"
dk tag "$MULTI_ID" "$TOKEN/tok/app:1"
if dk push "$TOKEN/tok/app:1" >"$WORK/push6" 2>&1; then die "docker push without login succeeded (token)"; fi
[[ ! -e $(tree_path "$ROOT_TOK")/repositories/tok/app/_manifests ]] || die "a manifest arrived without login (token)"
log "ok: push without login refused: $(tail -n1 "$WORK/push6")"

if dk login -u alice --password-stdin "$TOKEN" <<<"wrong-$PASS" >"$WORK/login3" 2>&1; then
    die "docker login with a wrong password succeeded (token)"
fi
grep -q '"user": "alice", "ok": false, "status": 401' "$TOKEN_LOG" || die "the token server saw no refused login for alice"
log "ok: wrong password refused: $(tail -n1 "$WORK/login3")"

dk login -u alice --password-stdin "$TOKEN" <<<"$PASS" >"$WORK/login4" 2>&1 || { cat "$WORK/login4" >&2; die "docker login (token) failed"; }
grep -qx "Login Succeeded" "$WORK/login4" || { cat "$WORK/login4" >&2; die "docker login (token) did not say Login Succeeded"; }
log "ok: docker login $TOKEN through $TOKEN_REALM"

dk push "$TOKEN/tok/app:1" >"$WORK/push7" 2>&1 || { cat "$WORK/push7" >&2; die "docker push (token) failed"; }
[[ $(push_digest "$WORK/push7") = "$DIGEST" ]] || die "tok/app:1 pushed with another digest"
tok=$(token_for "repository:tok/app:pull") || die "no token from the token server"
[[ $(served_digest tok/app 1 -H "Authorization: Bearer $tok") = "$DIGEST" ]] || die "tok/app:1 served with another digest"
expect_tag "$ROOT_TOK" tok/app 1 "$DIGEST"
python3 - "$TOKEN_LOG" <<'EOF' || die "the token server did not grant alice pull,push on tok/app"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["ok"] and e["user"] == "alice" and any(
            (g["type"], g["name"], sorted(g["actions"])) == ("repository", "tok/app", ["pull", "push"])
            for g in e["granted"]):
        sys.exit(0)
sys.exit(1)
EOF
log "ok: docker push (token) -> $DIGEST, with a token for repository:tok/app:pull,push"

dk tag "$MULTI_ID" "$TOKEN/tok/other:1"
dk push "$TOKEN/tok/other:1" >"$WORK/push8" 2>&1 || { cat "$WORK/push8" >&2; die "docker push tok/other (token) failed"; }
[[ $(count "Mounted from tok/app" "$WORK/push8") = 3 ]] || { cat "$WORK/push8" >&2; die "no 'Mounted from tok/app' for the 3 layers (token)"; }
for l in "${LAYERS[@]}"; do expect_layer_link "$ROOT_TOK" tok/other "$l"; done
log "ok: cross-repository mount with a token"

rmi_all "$MULTI_ID"
dk pull "$TOKEN/tok/app:1" >"$WORK/pull6" 2>&1 || { cat "$WORK/pull6" >&2; die "docker pull (token) failed"; }
grep -qxF "Digest: $DIGEST" "$WORK/pull6" || die "docker pull (token) printed another digest"
[[ $(image_id "$TOKEN/tok/app:1") = "$MULTI_ID" ]] || die "pulled tok/app:1 has another ID"
log "ok: docker pull (token, after rmi)"

log "PASS docker"
