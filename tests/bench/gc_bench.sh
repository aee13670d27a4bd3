#!/usr/bin/env bash
# GC and fsck benchmark: cairn-gc against Debian's `docker-registry
# garbage-collect` (CNCF Distribution 2.8) on the same generated tree, and
# cairn-fsck's verification throughput. Not a test: ctest does not run it.
# See docs/benchmarks.md.
#
#   1. tests/bench/gen_tree.py writes a tree in Distribution's layout:
#      GEN_REPOS x GEN_MANIFESTS manifests (200 x 50 = 10,000, ~42,600 small
#      blobs), GEN_UNTAGGED of them untagged, a few deleted ones whose blobs
#      are garbage.
#   2. on that tree (read-only runs share it; each deleting run gets its own
#      copy, made with cp -a before the clock starts):
#        (a) garbage-collect --dry-run            vs cairn-gc --dry-run --grace 0s
#        (b) garbage-collect --dry-run -m         vs cairn-gc --dry-run --grace 0s --delete-untagged
#        (c) garbage-collect --delete-untagged    vs cairn-gc --grace 0s --delete-untagged
#        (a') cairn-gc --dry-run --grace 0s --full: (a) after an unclean stop
#             (the whole tree walked for crash debris; no Distribution twin)
#      The tree is given an empty R/.cairn-run, the state of a tree that
#      cairn serves once its first cairn-gc run has walked it (docs/gc.md,
#      "Crash debris"); (a') is the run after a writer's crash.
#      best of BENCH_REPEAT runs each; the numbers of blobs each lists are
#      printed too (they must agree: the generated tree has no referrers or
#      indexes, where the two differ on purpose).
#   3. cairn-fsck: on the tree above, and on a second tree with
#      BENCH_FSCK_MIB MiB in BENCH_FSCK_BLOBS large blobs: seconds and GB/s of
#      blob bytes verified, with --jobs 1 and --jobs BENCH_JOBS, next to this
#      machine's SHA-256 speed on one core (Python's hashlib, i.e. OpenSSL).
#
# Environment (defaults in brackets):
#   CAIRN_GC_BINARY   [<repo>/build/cairn-gc]
#   CAIRN_FSCK_BINARY [<repo>/build/cairn-fsck]
#   DOCKER_REGISTRY   [/usr/bin/docker-registry]
#   GEN_REPOS [200]  GEN_MANIFESTS [50]  GEN_UNTAGGED [0.3]  GEN_BLOB_BYTES [300]
#   BENCH_FSCK_MIB    [2048]     size of the large-blob tree for fsck (0: skip)
#   BENCH_FSCK_BLOBS  [4]        number of large blobs
#   BENCH_JOBS        [nproc]    cairn-fsck --jobs for the parallel run
#   BENCH_REPEAT      [3]        runs of each read-only measure (best counts)
#   BENCH_TMP         [/var/tmp] where the trees go: ~1 GB per copy of the
#                     small tree (4 copies) plus BENCH_FSCK_MIB
#   BENCH_ONLY        []         "cairn" to skip docker-registry
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_GC_BINARY:=$REPO_DIR/build/cairn-gc}"
: "${CAIRN_FSCK_BINARY:=$REPO_DIR/build/cairn-fsck}"
: "${DOCKER_REGISTRY:=/usr/bin/docker-registry}"
: "${GEN_REPOS:=200}"
: "${GEN_MANIFESTS:=50}"
: "${GEN_UNTAGGED:=0.3}"
: "${GEN_BLOB_BYTES:=300}"
: "${BENCH_FSCK_MIB:=2048}"
: "${BENCH_FSCK_BLOBS:=4}"
: "${BENCH_JOBS:=$(nproc)}"
: "${BENCH_REPEAT:=3}"
: "${BENCH_TMP:=/var/tmp}"
: "${BENCH_ONLY:=}"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
[[ -x $CAIRN_GC_BINARY ]] || die "cairn-gc not found: $CAIRN_GC_BINARY (build it, or set CAIRN_GC_BINARY)"
[[ -x $CAIRN_FSCK_BINARY ]] || die "cairn-fsck not found: $CAIRN_FSCK_BINARY (or set CAIRN_FSCK_BINARY)"
if [[ $BENCH_ONLY != cairn ]]; then
    [[ -x $DOCKER_REGISTRY ]] || die "docker-registry not found: $DOCKER_REGISTRY (apt-get install docker-registry, or BENCH_ONLY=cairn)"
fi

WORK=$(mktemp -d "$BENCH_TMP/cairn-gc-bench.XXXXXX")
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
# elapsed START: seconds since START with millisecond precision
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
minof() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.1f", a / b; else print "-" }'; }

# Distribution reads REGISTRY_* variables as configuration overrides.
dist_env=()
for v in $(compgen -e); do [[ $v = REGISTRY_* ]] && dist_env+=(-u "$v"); done

dist_config() {
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' \
        "$1" >"$1.yml"
    echo "$1.yml"
}

# run_dist ROOT OUT [flags]: prints seconds; the eligible blob count in OUT.count
run_dist() {
    local root=$1 out=$2; shift 2
    local cfg t0 s
    cfg=$(dist_config "$root")
    t0=$(now)
    env "${dist_env[@]}" "$DOCKER_REGISTRY" garbage-collect "$@" "$cfg" >"$out" 2>"$out.err" \
        || { tail -20 "$out.err" >&2; die "docker-registry garbage-collect $* failed"; }
    s=$(elapsed "$t0")
    grep -c 'blob eligible for deletion' "$out" >"$out.count" || true
    echo "$s"
}

# run_cairn ROOT OUT [flags]: prints seconds; the deleted.blobs count in OUT.count
run_cairn() {
    local root=$1 out=$2; shift 2
    local t0 s
    t0=$(now)
    "$CAIRN_GC_BINARY" --root "$root" --grace 0s --json "$@" >"$out" 2>"$out.err" \
        || { tail -20 "$out.err" >&2; die "cairn-gc $* failed"; }
    s=$(elapsed "$t0")
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["deleted"]["blobs"]))' \
        "$out" >"$out.count"
    log "cairn-gc $*: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("phases", d["seconds"], "revisions", len(d["deleted"]["revisions"]), "layer links", d["deleted"]["layer_links"], "directories", d["deleted"]["directories"])' "$out")"
    echo "$s"
}

# --------------------------------------------------------------------------
log "generating $GEN_REPOS x $GEN_MANIFESTS manifests in $WORK/tree"
python3 "$HERE/gen_tree.py" "$WORK/tree" --repos "$GEN_REPOS" --manifests "$GEN_MANIFESTS" \
    --untagged "$GEN_UNTAGGED" --blob-bytes "$GEN_BLOB_BYTES" | tee "$WORK/gen.json" >&2
TREE_BLOBS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["blobs"])' "$WORK/gen.json")
mkdir "$WORK/tree/.cairn-run"   # every writer exited cleanly (docs/gc.md)
# copies for the deleting runs, made now so that they are not timed
for c in dist-u cairn-u; do cp -a "$WORK/tree" "$WORK/$c"; done
find "$WORK" -type f -name link -exec cat {} + >/dev/null   # warm the page cache
find "$WORK" >/dev/null

declare -A T C
measure() {  # measure KEY TOOL ROOT [flags]: best of BENCH_REPEAT into T[KEY]
    local key=$1 tool=$2 root=$3; shift 3
    local i s best=""
    for ((i = 0; i < BENCH_REPEAT; i++)); do
        s=$(run_"$tool" "$root" "$WORK/$key.out" "$@")
        log "$key run $((i + 1)): $s s"
        best=$(minof "$best" "$s")
    done
    T[$key]=$best
    C[$key]=$(cat "$WORK/$key.out.count")
}

if [[ $BENCH_ONLY != cairn ]]; then
    measure dist-dry dist "$WORK/tree" --dry-run
    measure dist-dry-u dist "$WORK/tree" --dry-run --delete-untagged
fi
measure cairn-dry cairn "$WORK/tree" --dry-run
measure cairn-dry-u cairn "$WORK/tree" --dry-run --delete-untagged
measure cairn-dry-full cairn "$WORK/tree" --dry-run --full
# the deleting runs: once each, on their own copy
if [[ $BENCH_ONLY != cairn ]]; then
    T[dist-u]=$(run_dist "$WORK/dist-u" "$WORK/dist-u.out" --delete-untagged)
    C[dist-u]=$(cat "$WORK/dist-u.out.count")
    log "dist-u: ${T[dist-u]} s"
fi
T[cairn-u]=$(run_cairn "$WORK/cairn-u" "$WORK/cairn-u.out" --delete-untagged)
C[cairn-u]=$(cat "$WORK/cairn-u.out.count")
log "cairn-u: ${T[cairn-u]} s"
rm -rf "$WORK/dist-u" "$WORK/cairn-u"

for k in dry dry-u u; do
    if [[ -n ${C[dist-$k]:-} && ${C[dist-$k]} != "${C[cairn-$k]}" ]]; then
        log "WARNING: ($k) docker-registry lists ${C[dist-$k]} blobs, cairn-gc ${C[cairn-$k]}"
    fi
done

# --------------------------------------------------------------------------
# fsck
sha_speed=$(python3 - <<'EOF'
import hashlib, time
buf = bytes(256 << 20)
best = None
for _ in range(3):
    t = time.perf_counter(); hashlib.sha256(buf).digest(); s = time.perf_counter() - t
    best = s if best is None or s < best else best
print("%.2f" % (len(buf) / best / 1e9))
EOF
)
log "SHA-256 on one core (hashlib): $sha_speed GB/s"

# run_fsck ROOT JOBS: prints seconds (exit 1 = problems found is fine here:
# the small tree has orphaned blobs on purpose)
run_fsck() {
    local root=$1 jobs=$2 t0 s rc=0
    t0=$(now)
    "$CAIRN_FSCK_BINARY" --root "$root" --json --jobs "$jobs" >"$WORK/fsck.out" 2>"$WORK/fsck.err" || rc=$?
    s=$(elapsed "$t0")
    [[ $rc -le 1 ]] || { tail -20 "$WORK/fsck.err" >&2; die "cairn-fsck exited $rc"; }
    echo "$s"
}
tree_bytes() { find "$1/docker/registry/v2/blobs" -name data -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", b / s / 1e9; else print "-" }'; }

small_bytes=$(tree_bytes "$WORK/tree")
best=""
for ((i = 0; i < BENCH_REPEAT; i++)); do best=$(minof "$best" "$(run_fsck "$WORK/tree" "$BENCH_JOBS")"); done
T[fsck-small]=$best
log "cairn-fsck small tree (--jobs $BENCH_JOBS): ${T[fsck-small]} s"
rm -rf "$WORK/tree"

if [[ $BENCH_FSCK_MIB -gt 0 ]]; then
    log "generating $BENCH_FSCK_MIB MiB in $BENCH_FSCK_BLOBS blobs in $WORK/big"
    python3 "$HERE/gen_tree.py" "$WORK/big" --repos 0 --big-mib "$BENCH_FSCK_MIB" \
        --big-count "$BENCH_FSCK_BLOBS" >&2
    big_bytes=$(tree_bytes "$WORK/big")
    cat "$WORK"/big/docker/registry/v2/blobs/sha256/*/*/data >/dev/null   # page cache
    for j in 1 "$BENCH_JOBS"; do
        best=""
        for ((i = 0; i < BENCH_REPEAT; i++)); do best=$(minof "$best" "$(run_fsck "$WORK/big" "$j")"); done
        T[fsck-big-$j]=$best
        log "cairn-fsck large blobs (--jobs $j): $best s, $(gbps "$big_bytes" "$best") GB/s"
    done
fi

# --------------------------------------------------------------------------
cat <<EOF

Tree: $(cat "$WORK/gen.json")

| measure | docker-registry, s | cairn, s | docker-registry / cairn | blobs listed (dist / cairn) |
|---|---|---|---|---|
| (a) --dry-run | ${T[dist-dry]:--} | ${T[cairn-dry]} | $(ratio "${T[dist-dry]:-0}" "${T[cairn-dry]}")x | ${C[dist-dry]:--} / ${C[cairn-dry]} |
| (a') --dry-run after an unclean stop (cairn: --full) | ${T[dist-dry]:--} | ${T[cairn-dry-full]} | $(ratio "${T[dist-dry]:-0}" "${T[cairn-dry-full]}")x | ${C[dist-dry]:--} / ${C[cairn-dry-full]} |
| (b) --dry-run --delete-untagged | ${T[dist-dry-u]:--} | ${T[cairn-dry-u]} | $(ratio "${T[dist-dry-u]:-0}" "${T[cairn-dry-u]}")x | ${C[dist-dry-u]:--} / ${C[cairn-dry-u]} |
| (c) --delete-untagged (deleting) | ${T[dist-u]:--} | ${T[cairn-u]} | $(ratio "${T[dist-u]:-0}" "${T[cairn-u]}")x | ${C[dist-u]:--} / ${C[cairn-u]} |

| cairn-fsck | seconds | GB/s verified |
|---|---|---|
| small tree ($TREE_BLOBS blobs, $small_bytes bytes), --jobs $BENCH_JOBS | ${T[fsck-small]} | $(gbps "$small_bytes" "${T[fsck-small]}") |
EOF
if [[ $BENCH_FSCK_MIB -gt 0 ]]; then
    for j in 1 "$BENCH_JOBS"; do
        echo "| $BENCH_FSCK_BLOBS blobs, $BENCH_FSCK_MIB MiB, --jobs $j | ${T[fsck-big-$j]} | $(gbps "$big_bytes" "${T[fsck-big-$j]}") |"
    done
fi
echo "| SHA-256 on one core (hashlib) | | $sha_speed |"
