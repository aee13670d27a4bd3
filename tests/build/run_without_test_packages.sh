#!/usr/bin/env bash
# The README's first command on a machine without the test packages:
# `tools/dev/run` must configure, build and start the registry when none of
# what only the tests need is installed. The test packages' files are hidden
# in a private mount namespace (an overlay over /usr in which they are
# deleted; the real /usr is not touched), then tools/dev/run builds in a
# fresh directory and the registry must answer GET /v2/ with 200.
# Needs root (unshare, mount); exits 77 (skipped) without it, and fails
# instead under CI=true.
#   run_without_test_packages.sh SOURCE_DIR
set -euo pipefail
source=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { if [ "${CI:-}" = true ]; then fail "$*"; fi; echo "SKIP: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
command -v unshare >/dev/null || skip "unshare is not installed"

if [ "${1:-}" != --inside ]; then
    work=$(mktemp -d /tmp/cairn-fresh-XXXXXX)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/upper" "$work/overlay-work"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Files of the packages only the tests need (and cmocka's library).
    : >"$work/hidden"
    for package in $("$source/tools/dev/install-dependencies" --list-test-only) \
                   $(dpkg-query -W -f='${Package}\n' 'libcmocka*' 2>/dev/null); do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            continue
        dpkg -L "$package" | while read -r path; do
            if [[ $path == /usr/* ]] && { [ -L "$path" ] || [ -f "$path" ]; }; then
                echo "$path"
            fi
        done >>"$work/hidden"
    done
    grep -q 'cmocka.h$' "$work/hidden" || fail "cmocka is not installed: nothing to hide"
    unshare --mount --propagation private bash "$0" --inside "$source" "$work" "$port"
    exit 0 # set -e: a failure inside has exited with its status (and the trap cleaned up)
fi

# Inside the namespace.
source=$2 work=$3 port=$4
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$work/upper,workdir=$work/overlay-work" /usr
xargs -d '\n' rm -f <"$work/hidden"
[ ! -e /usr/include/cmocka.h ] || fail "cmocka.h is still visible"
echo "hidden: $(wc -l <"$work/hidden") files of the test packages"

CAIRN_BUILD_DIR=$work/build "$source/tools/dev/run" --listen "127.0.0.1:$port" \
    --root "$work/data" >"$work/run.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
answer=
for _ in $(seq 1200); do # up to 120 s: tools/dev/run builds first
    kill -0 "$pid" 2>/dev/null || { cat "$work/run.log" >&2; fail "tools/dev/run exited"; }
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        printf 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        answer=$(head -n 1 <&3 | tr -d '\r')
        exec 3>&-
        break
    fi
    sleep 0.1
done
[ "$answer" = "HTTP/1.1 200 OK" ] || { cat "$work/run.log" >&2; fail "GET /v2/ answered '$answer'"; }
grep -q "CAIRN_TESTS:BOOL=OFF" "$work/build/CMakeCache.txt" || fail "tests were configured"
kill -TERM "$pid"
wait "$pid" || fail "cairn did not exit 0 on SIGTERM"
trap - EXIT
echo "ok: tools/dev/run built and served without the test packages"
