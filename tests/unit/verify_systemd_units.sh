#!/bin/sh
# Runs `systemd-analyze verify` on the units of systemd/ (ctest unit_systemd_units).
#
# systemd-analyze checks that every Exec*= command exists, so the units are
# copied to a temporary directory with ExecStart= pointing at the binary just
# built. It exits 0 on mere warnings (unknown key, bad value "ignoring"), so
# any line it prints about one of our units fails the test as well.
#
# usage: verify_systemd_units.sh BINARY UNIT_DIRECTORY
# exit 77 (ctest SKIP_RETURN_CODE) without systemd-analyze or a built binary.
set -u
binary=$1
units=$2

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "SKIP: systemd-analyze not installed"
    exit 77
fi
if [ ! -x "$binary" ]; then
    echo "SKIP: $binary not built (build the cairn target first)"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-units-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

found=0
for unit in "$units"/*.service "$units"/*.timer "$units"/*.socket; do
    [ -f "$unit" ] || continue
    found=1
    # Only the executable of ExecStart= changes; its arguments stay.
    sed "s|^\(ExecStart=[-@:+!]*\)[^ ]*|\1$binary|" "$unit" >"$work/$(basename "$unit")" || exit 1
done
if [ "$found" = 0 ]; then
    echo "no units in $units"
    exit 1
fi

cd "$work" || exit 1
output=$(systemd-analyze verify --man=no ./* 2>&1)
status=$?
[ -n "$output" ] && printf '%s\n' "$output"
if [ "$status" -ne 0 ]; then
    echo "FAIL: systemd-analyze verify exited $status"
    exit 1
fi
if printf '%s\n' "$output" | grep -E '\.(service|timer|socket)\b' >/dev/null; then
    echo "FAIL: systemd-analyze verify warned about our units"
    exit 1
fi
echo "OK: $(ls | tr '\n' ' ')"
