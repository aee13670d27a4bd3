#!/usr/bin/env bash
# Benchmark of blobs in S3: cairn with storage.s3 against an independent S3
# client (Debian's AWS CLI, /usr/bin/aws), both talking to the same local
# S3-compatible server (tests/s3/s3-server.js, s3rver) on 127.0.0.1.
# Not a test: it is not registered in ctest. See docs/benchmarks.md,
# "Blobs in S3".
#
#   (1) push of one random blob of $CAIRN_BENCH_S3_SIZE_MIB MiB
#       cairn: POST /v2/bench/big/blobs/uploads/, then PUT <location>?digest=
#              with the whole body in one request (curl -T FILE: streamed from
#              the file; curl --data-binary @FILE first reads the file into
#              memory and refuses files of 1 GiB and more), until the 201;
#              cairn then sends it to the bucket (multipart, chunksize 64 MiB,
#              uploadconcurrency 4: its defaults)
#       aws:   aws s3 cp FILE s3://bucket/... (multipart_chunksize 64MB,
#              max_concurrent_requests 4, multipart_threshold just above
#              64 MiB, as cairn), the limit
#       each $BENCH_REPEAT times, alternating; the object is deleted from the
#       bucket before every run so that cairn really sends it again
#   (2) pull of that blob
#       redirect on:  GET without -L (the 307: bytes through cairn, from
#                     curl and from cairn's /metrics
#                     cairn_http_response_bytes_total{route="blob"}), then
#                     with -L (sha256 checked, then timed)
#       direct:       curl of the presigned URL, aws s3 cp s3://... -
#       redirect off: cairn restarted with storage.redirect.disable: true,
#                     GET (sha256 checked, then timed): bytes through cairn
#                     and MB/s of the streamed path
#
# Needs: curl, python3, sha256sum, awk, node >= 20 (the test server; its node
# modules are installed by tests/s3/install), /usr/bin/aws (Debian's awscli),
# cmake and a compiler unless CAIRN_BINARY is given.
#
# Environment (defaults in brackets):
#   CAIRN_BINARY             [<repo>/build/cairn, built with cmake --build build]
#   CAIRN_THREADS            [2]         cairn --threads
#   CAIRN_BENCH_S3_SIZE_MIB  [1024]      size of the blob, in MiB
#   BENCH_REPEAT             [2]         runs of each timed measure; the best counts
#   BENCH_TMP                [/var/tmp]  where the blob, cairn's root and the
#                            bucket's files go: needs about 5 x the blob size
#   AWS_CLI                  [/usr/bin/aws]
#   CAIRN_NODE               [node from PATH]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
: "${CAIRN_THREADS:=2}"
: "${CAIRN_BENCH_S3_SIZE_MIB:=1024}"
: "${BENCH_REPEAT:=2}"
: "${BENCH_TMP:=/var/tmp}"
: "${AWS_CLI:=/usr/bin/aws}"
: "${CAIRN_NODE:=node}"

S3_ACCESS_KEY=cairn-bench-access
S3_SECRET_KEY=cairn-bench-secret
S3_BUCKET=cairn-bench
S3_REGION=us-east-1
REPO=bench/big
AWS_KEY=aws-direct/blob   # where aws s3 cp puts its copy

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for t in curl python3 sha256sum awk; do
    command -v "$t" >/dev/null || die "$t is required"
done
[[ -x $AWS_CLI ]] || die "the AWS CLI is required: $AWS_CLI (apt-get install awscli)"
command -v "$CAIRN_NODE" >/dev/null || die "node >= 20 is required for tests/s3/s3-server.js"
[[ $CAIRN_BENCH_S3_SIZE_MIB =~ ^[1-9][0-9]*$ ]] || die "CAIRN_BENCH_S3_SIZE_MIB must be a positive integer"
[[ $BENCH_REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"

if [[ -z ${CAIRN_BINARY:-} ]]; then
    CAIRN_BINARY=$REPO_DIR/build/cairn
    if [[ ! -f $REPO_DIR/build/CMakeCache.txt ]]; then
        log "configuring build/ (cmake -S . -B build)"
        cmake -S "$REPO_DIR" -B "$REPO_DIR/build" >&2
    fi
    log "building cairn (cmake --build build --target cairn)"
    cmake --build "$REPO_DIR/build" --target cairn -j"$(nproc)" >&2 || die "the build failed"
fi
[[ -x $CAIRN_BINARY ]] || die "cairn binary not found: $CAIRN_BINARY"

# The test server's node modules (a quick no-op when already installed).
PATH_NODE_DIR=$(dirname "$(command -v "$CAIRN_NODE")")
PATH="$PATH_NODE_DIR:$PATH" "$REPO_DIR/tests/s3/install" >&2 ||
    die "tests/s3/install failed (the S3 test server needs Node >= 20 and npm)"

WORK=$(mktemp -d "$BENCH_TMP/cairn-s3-bench.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
mbps() { awk -v s="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.1f", s / t / 1e6; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
min() { printf '%s\n' "$@" | sort -g | head -n 1 | awk '{printf "%.3f", $1}'; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- the S3 server ---------------------------------------------------------

start_s3() {
    mkdir -p "$WORK/s3-data"
    # Not --outlive-parent: it also stops if this script dies without cleanup.
    "$CAIRN_NODE" "$REPO_DIR/tests/s3/s3-server.js" --host 127.0.0.1 --port 0 \
        --directory "$WORK/s3-data" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
        --bucket "$S3_BUCKET" >"$WORK/s3.out" 2>"$WORK/s3.log" </dev/null &
    S3_PID=$!
    PIDS+=("$S3_PID")
    for _ in $(seq 300); do
        grep -q '^listening ' "$WORK/s3.out" && break
        kill -0 "$S3_PID" 2>/dev/null || { cat "$WORK/s3.log" >&2; die "the S3 server exited"; }
        sleep 0.1
    done
    grep -q '^listening ' "$WORK/s3.out" || die "the S3 server did not start"
    S3_ENDPOINT="http://127.0.0.1:$(awk '{print $2}' "$WORK/s3.out")"
}

# The independent client: Debian's AWS CLI with its own configuration file
# (nothing from ~/.aws), settings matching cairn's defaults.
write_aws_config() {
    cat >"$WORK/aws-config" <<EOF
[default]
region = $S3_REGION
s3 =
    multipart_chunksize = 64MB
    max_concurrent_requests = 4
    multipart_threshold = $((64 * 1024 * 1024 + 1))
EOF
    : >"$WORK/aws-credentials"
}
awscli() {
    env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
        -u AWS_ENDPOINT_URL_S3 -u AWS_CA_BUNDLE \
        AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials" \
        AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
        AWS_DEFAULT_REGION="$S3_REGION" AWS_REGION="$S3_REGION" AWS_EC2_METADATA_DISABLED=true \
        AWS_PAGER= "$AWS_CLI" --endpoint-url "$S3_ENDPOINT" --region "$S3_REGION" "$@"
}
# object_size KEY -> bytes, or nothing when the object is missing
object_size() {
    awscli s3api head-object --bucket "$S3_BUCKET" --key "$1" --query ContentLength \
        --output text 2>/dev/null || true
}
delete_object() {
    awscli s3api delete-object --bucket "$S3_BUCKET" --key "$1" >/dev/null ||
        die "cannot delete s3://$S3_BUCKET/$1"
    [[ -z $(object_size "$1") ]] || die "s3://$S3_BUCKET/$1 is still there after a delete"
}

# ---- cairn -------------------------------------------------------------------

write_cairn_config() { # FILE REDIRECT_DISABLE
    cat >"$1" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/cairn-root
  redirect:
    disable: $2
  s3:
    accesskey: $S3_ACCESS_KEY
    secretkey: $S3_SECRET_KEY
    region: $S3_REGION
    regionendpoint: $S3_ENDPOINT
    bucket: $S3_BUCKET
    forcepathstyle: true
EOF
}

start_cairn() { # REDIRECT_DISABLE
    local port code=none
    port=$(free_port)
    mkdir -p "$WORK/cairn-root"
    write_cairn_config "$WORK/cairn-$1.yml" "$1"
    CAIRN_UPLOAD_TIMING=1 "$CAIRN_BINARY" --config "$WORK/cairn-$1.yml" \
        --listen "127.0.0.1:$port" --threads "$CAIRN_THREADS" >>"$WORK/cairn.log" 2>&1 </dev/null &
    CAIRN_PID=$!
    PIDS+=("$CAIRN_PID")
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 200); do
        kill -0 "$CAIRN_PID" 2>/dev/null || { cat "$WORK/cairn.log" >&2; die "cairn exited"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/v2/" || true)
        [[ $code = 200 ]] && return 0
        sleep 0.1
    done
    die "cairn did not answer /v2/ (last code $code)"
}

stop_cairn() {
    kill -TERM "$CAIRN_PID" 2>/dev/null || true
    local rc=0
    wait "$CAIRN_PID" || rc=$?
    [[ $rc = 0 ]] || die "cairn exited with status $rc on SIGTERM"
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p = "$CAIRN_PID" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# cairn's counter of response body bytes sent for blob routes
blob_bytes_sent() {
    curl -sf "$BASE/metrics" |
        awk '$1 == "cairn_http_response_bytes_total{route=\"blob\"}" {print $2; found=1}
             END {if (!found) exit 1}' ||
        die "no cairn_http_response_bytes_total{route=\"blob\"} in $BASE/metrics"
}

# ---- measures ------------------------------------------------------------------

# push_cairn -> "wall_seconds curl_seconds": wall from just before the POST
# until the PUT's curl exits; curl's: the sum of the two requests'
# time_total (without the start-up of the two curl processes).
push_cairn() {
    local hdrs="$WORK/hdrs" t0 t1 out code t_post t_put loc
    t0=$(now)
    out=$(curl -s -o /dev/null -D "$hdrs" -w '%{http_code} %{time_total}' -X POST \
        "$BASE/v2/$REPO/blobs/uploads/") || die "POST upload failed"
    code=${out%% *}; t_post=${out#* }
    [[ $code = 202 ]] || die "POST upload answered $code"
    loc=$(awk 'tolower($1) == "location:" {print $2}' "$hdrs" | tr -d '\r')
    [[ -n $loc ]] || die "POST upload: no Location"
    [[ $loc = /* ]] && loc="$BASE$loc"
    out=$(curl -s -o "$WORK/put.out" -w '%{http_code} %{time_total}' -X PUT -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' -T "$BLOB" \
        "$loc$([[ $loc = *\?* ]] && echo '&' || echo '?')digest=$BLOB_DIGEST") || die "PUT upload failed"
    t1=$(now)
    code=${out%% *}; t_put=${out#* }
    [[ $code = 201 ]] || die "PUT upload answered $code: $(head -c 300 "$WORK/put.out")"
    echo "$(elapsed "$t0" "$t1") $(awk -v a="$t_post" -v b="$t_put" 'BEGIN {printf "%.3f", a + b}')"
}

# push_aws -> "wall_seconds cpu_seconds" of aws s3 cp (CPU: user + system of
# the CLI's processes, from the shell's `times`)
push_aws() {
    local t0 t1 cpu
    t0=$(now)
    cpu=$( (awscli s3 cp --no-progress --only-show-errors "$BLOB" "s3://$S3_BUCKET/$AWS_KEY" >&2 || exit 1
            times) |
        awk 'function sec(x,  m) { m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); return m * 60 + x }
             NR == 2 {printf "%.2f", sec($1) + sec($2)}') || die "aws s3 cp failed"
    t1=$(now)
    echo "$(elapsed "$t0" "$t1") $cpu"
}

# cpu_seconds PID: user + system CPU time the process has used so far
CLOCK_TICKS=$(getconf CLK_TCK)
cpu_seconds() {
    awk -v hz="$CLOCK_TICKS" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$1/stat"
}
cpu_delta() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }

# ---- main ------------------------------------------------------------------------

declare -A R
SIZE_MIB=$CAIRN_BENCH_S3_SIZE_MIB
log "work directory $WORK; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "blob: $SIZE_MIB MiB of random data"
BLOB="$WORK/blob"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$BLOB"
BLOB_SIZE=$(stat -c %s "$BLOB")
BLOB_HEX=$(sha256sum "$BLOB" | cut -d' ' -f1)
BLOB_DIGEST="sha256:$BLOB_HEX"
CAIRN_KEY="docker/registry/v2/blobs/sha256/${BLOB_HEX:0:2}/$BLOB_HEX/data"

start_s3
log "S3 server (s3rver, tests/s3/s3-server.js) at $S3_ENDPOINT, bucket $S3_BUCKET, data in $WORK/s3-data"
write_aws_config
# The CLI's own start-up (a Python program) is part of every aws time below:
# the best of three head-bucket calls shows how much.
times=()
for _ in 1 2 3; do
    t0=$(now)
    awscli s3api head-bucket --bucket "$S3_BUCKET" >/dev/null || die "aws cannot reach the bucket"
    times+=("$(elapsed "$t0" "$(now)")")
done
R[aws_startup]=$(min "${times[@]}")
log "aws s3api head-bucket (CLI start-up plus one request): ${times[*]} s"

start_cairn false
log "cairn at $BASE (storage.s3, redirects on, --threads $CAIRN_THREADS)"

# (1) push, alternating cairn and aws; the CPU time the S3 server, cairn and
# the aws CLI use is noted too (2 cores: who waits for whom)
cairn_wall=() cairn_curl=() aws_wall=()
for run in $(seq "$BENCH_REPEAT"); do
    delete_object "$CAIRN_KEY"
    sync
    log "(1) push run $run: cairn (POST + PUT -T, $SIZE_MIB MiB)"
    s0=$(cpu_seconds "$S3_PID"); c0=$(cpu_seconds "$CAIRN_PID")
    out=$(push_cairn) || exit 1
    s1=$(cpu_seconds "$S3_PID"); c1=$(cpu_seconds "$CAIRN_PID")
    read -r w c <<<"$out"
    [[ $(object_size "$CAIRN_KEY") = "$BLOB_SIZE" ]] || die "after the 201 the bucket has no object of $BLOB_SIZE bytes at $CAIRN_KEY"
    stages=$(grep " $BLOB_SIZE bytes: receive" "$WORK/cairn.log" | tail -n 1 | sed 's/^.* bytes: //')
    R[cairn_cpu_$run]="cairn $(cpu_delta "$c0" "$c1") s, S3 server $(cpu_delta "$s0" "$s1") s"
    log "    cairn: $w s wall ($(mbps "$BLOB_SIZE" "$w") MB/s), $c s by curl's clocks; stages: $stages"
    log "    CPU: ${R[cairn_cpu_$run]}"
    cairn_wall+=("$w"); cairn_curl+=("$c")
    R[cairn_stages_$run]=$stages

    delete_object "$AWS_KEY"
    sync
    log "(1) push run $run: aws s3 cp"
    s0=$(cpu_seconds "$S3_PID")
    out=$(push_aws) || exit 1
    s1=$(cpu_seconds "$S3_PID")
    read -r w c <<<"$out"
    [[ $(object_size "$AWS_KEY") = "$BLOB_SIZE" ]] || die "aws s3 cp left no object of $BLOB_SIZE bytes"
    R[aws_cpu_$run]="aws CLI $c s, S3 server $(cpu_delta "$s0" "$s1") s"
    log "    aws: $w s wall ($(mbps "$BLOB_SIZE" "$w") MB/s); CPU: ${R[aws_cpu_$run]}"
    aws_wall+=("$w")
done
R[push_cairn]=$(min "${cairn_wall[@]}")
R[push_cairn_curl]=$(min "${cairn_curl[@]}")
R[push_aws]=$(min "${aws_wall[@]}")

# (2a) pull with redirects on
log "(2) pull, redirects on: GET without -L"
m0=$(blob_bytes_sent)
out=$(curl -s -o "$WORK/307.body" -w '%{http_code} %{size_download} %{size_header}' \
    "$BASE/v2/$REPO/blobs/$BLOB_DIGEST") || die "GET blob failed"
sleep 0.2
m1=$(blob_bytes_sent)
read -r code "R[r307_body]" "R[r307_headers]" <<<"$out"
[[ $code = 307 ]] || die "GET blob with redirects on answered $code"
PRESIGNED=$(curl -s -o /dev/null -w '%{redirect_url}' "$BASE/v2/$REPO/blobs/$BLOB_DIGEST")
[[ $PRESIGNED = "$S3_ENDPOINT/"* ]] || die "the 307 does not point at the S3 server: $PRESIGNED"
R[r307_metric]=$((m1 - m0))
log "    307: body ${R[r307_body]} bytes, headers ${R[r307_headers]} bytes; cairn's counter +${R[r307_metric]}"

log "(2) pull, redirects on: GET -L (sha256 check, then $BENCH_REPEAT timed runs)"
got=$(curl -sfL "$BASE/v2/$REPO/blobs/$BLOB_DIGEST" | sha256sum | cut -d' ' -f1)
[[ $got = "$BLOB_HEX" ]] || die "GET -L returned other bytes (sha256:$got)"
times=()
for run in $(seq "$BENCH_REPEAT"); do
    m0=$(blob_bytes_sent)
    out=$(curl -sfL -o /dev/null -w '%{http_code} %{size_download} %{time_total} %{num_redirects}' \
        "$BASE/v2/$REPO/blobs/$BLOB_DIGEST") || die "GET -L failed"
    sleep 0.2
    m1=$(blob_bytes_sent)
    read -r code size t nred <<<"$out"
    [[ $code = 200 && $size = "$BLOB_SIZE" && $nred = 1 ]] || die "GET -L: $code, $size bytes, $nred redirects"
    log "    run $run: $t s ($(mbps "$BLOB_SIZE" "$t") MB/s); through cairn: +$((m1 - m0)) bytes"
    times+=("$t"); R[redirect_metric]=$((m1 - m0))
done
R[pull_redirect]=$(min "${times[@]}")

log "(2) pull, direct from S3: curl of the presigned URL, aws s3 cp to stdout"
times=()
for run in $(seq "$BENCH_REPEAT"); do
    out=$(curl -sf -o /dev/null -w '%{size_download} %{time_total}' "$PRESIGNED") || die "GET presigned URL failed"
    read -r size t <<<"$out"
    [[ $size = "$BLOB_SIZE" ]] || die "presigned GET: $size bytes"
    log "    curl presigned run $run: $t s ($(mbps "$BLOB_SIZE" "$t") MB/s)"
    times+=("$t")
done
R[pull_presigned]=$(min "${times[@]}")
times=()
for run in $(seq "$BENCH_REPEAT"); do
    t0=$(now)
    awscli s3 cp --no-progress --only-show-errors "s3://$S3_BUCKET/$CAIRN_KEY" - >/dev/null || die "aws s3 cp download failed"
    t=$(elapsed "$t0" "$(now)")
    log "    aws s3 cp run $run: $t s ($(mbps "$BLOB_SIZE" "$t") MB/s)"
    times+=("$t")
done
R[pull_aws]=$(min "${times[@]}")

# (2b) pull with redirects off: cairn streams from S3
stop_cairn
start_cairn true
log "(2) pull, cairn restarted with storage.redirect.disable: true, at $BASE"
got=$(curl -sf "$BASE/v2/$REPO/blobs/$BLOB_DIGEST" | sha256sum | cut -d' ' -f1)
[[ $got = "$BLOB_HEX" ]] || die "streamed GET returned other bytes (sha256:$got)"
times=()
for run in $(seq "$BENCH_REPEAT"); do
    m0=$(blob_bytes_sent)
    out=$(curl -sf -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "$BASE/v2/$REPO/blobs/$BLOB_DIGEST") || die "streamed GET failed"
    sleep 0.2
    m1=$(blob_bytes_sent)
    read -r code size t <<<"$out"
    [[ $code = 200 && $size = "$BLOB_SIZE" ]] || die "streamed GET: $code, $size bytes"
    log "    run $run: $t s ($(mbps "$BLOB_SIZE" "$t") MB/s); through cairn: +$((m1 - m0)) bytes"
    times+=("$t"); R[stream_metric]=$((m1 - m0))
done
R[pull_stream]=$(min "${times[@]}")
stop_cairn

# ---- report ------------------------------------------------------------------------

S=$BLOB_SIZE
echo
echo "cairn: $CAIRN_BINARY --threads $CAIRN_THREADS (storage.s3: chunksize 64 MiB, uploadconcurrency 4, the defaults)"
echo "aws:   $("$AWS_CLI" --version 2>&1) (multipart_chunksize 64MB, max_concurrent_requests 4)"
echo "S3:    tests/s3/s3-server.js (s3rver 4.0.4) on node $("$CAIRN_NODE" --version), data in $BENCH_TMP"
echo "host:  $(nproc) cores, $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "blob:  $SIZE_MIB MiB ($S bytes), best of $BENCH_REPEAT runs"
echo
echo "(1) push: cairn wall ${cairn_wall[*]} s (curl's clocks ${cairn_curl[*]} s); aws ${aws_wall[*]} s"
for run in $(seq "$BENCH_REPEAT"); do
    echo "    run $run: cairn's CAIRN_UPLOAD_TIMING: ${R[cairn_stages_$run]}"
    echo "           CPU used during cairn's push: ${R[cairn_cpu_$run]}; during aws's: ${R[aws_cpu_$run]}"
done
echo "    (cairn's 'commit' is the verify, the send to S3 and the links)"
echo "aws start-up: aws s3api head-bucket takes ${R[aws_startup]} s (best of 3); it is in every aws time"
echo
printf '| %-52s | %10s | %9s |\n' "push of $SIZE_MIB MiB" seconds "MB/s"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..11})"
printf '| %-52s | %10s | %9s |\n' "cairn: POST + PUT -T until the 201 (wall)" "${R[push_cairn]}" "$(mbps "$S" "${R[push_cairn]}")"
printf '| %-52s | %10s | %9s |\n' "cairn: the same, curl's time_total" "${R[push_cairn_curl]}" "$(mbps "$S" "${R[push_cairn_curl]}")"
printf '| %-52s | %10s | %9s |\n' "aws s3 cp, multipart 64 MiB x 4 (wall)" "${R[push_aws]}" "$(mbps "$S" "${R[push_aws]}")"
printf '| %-52s | %10s | %9s |\n' "ratio cairn/aws (wall; above 1: cairn slower)" "$(ratio "${R[push_cairn]}" "${R[push_aws]}")" ""
echo
printf '| %-52s | %14s | %9s | %9s |\n' "pull of $SIZE_MIB MiB" "bytes via cairn" seconds "MB/s"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})"
printf '| %-52s | %14s | %9s | %9s |\n' "redirect on, GET without -L: the 307 (body)" "${R[r307_metric]}" "" ""
printf '| %-52s | %14s | %9s | %9s |\n' "redirect on, GET -L (307, then S3)" "${R[redirect_metric]}" "${R[pull_redirect]}" "$(mbps "$S" "${R[pull_redirect]}")"
printf '| %-52s | %14s | %9s | %9s |\n' "direct: curl of the presigned URL" "0" "${R[pull_presigned]}" "$(mbps "$S" "${R[pull_presigned]}")"
printf '| %-52s | %14s | %9s | %9s |\n' "direct: aws s3 cp s3://... - (ranged, 4 at once)" "0" "${R[pull_aws]}" "$(mbps "$S" "${R[pull_aws]}")"
printf '| %-52s | %14s | %9s | %9s |\n' "redirect.disable: true, cairn streams" "${R[stream_metric]}" "${R[pull_stream]}" "$(mbps "$S" "${R[pull_stream]}")"
echo
echo "Bytes via cairn: cairn_http_response_bytes_total{route=\"blob\"} before/after one GET (body bytes;"
echo "the 307 also sent ${R[r307_headers]} header bytes, curl: body ${R[r307_body]})."
echo "Fraction of the blob through cairn: redirect on $(awk -v a="${R[redirect_metric]}" -v s="$S" 'BEGIN {printf "%.2g", a / s}'), redirect off $(ratio "${R[stream_metric]}" "$S")."
echo "Streamed/direct speed: $(ratio "${R[pull_presigned]}" "${R[pull_stream]}") of curl on the presigned URL."
