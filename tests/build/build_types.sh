#!/usr/bin/env bash
# Every build type builds with gcc and with clang, warnings as errors, tests
# included: Debug, Release, RelWithDebInfo and MinSizeRel (optimisation
# levels change which warnings a compiler finds). The combination of the
# build running this test is skipped. Also: -Werror is on by default and
# CAIRN_WERROR=OFF (a packager on a newer compiler) takes it away.
#   build_types.sh SOURCE_DIR [COMPILER_ID BUILD_TYPE]   (the running build's)
set -euo pipefail
source=$1 running_compiler=${2:-} running_type=${3:-}
work=$(mktemp -d /tmp/cairn-build-types-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
jobs=$(nproc)

for compiler in gcc clang; do
    command -v "$compiler" >/dev/null || fail "$compiler is not installed"
    for type in Debug Release RelWithDebInfo MinSizeRel; do
        if [ "${running_compiler,,}" = "${compiler/gcc/gnu}" ] && [ "$running_type" = "$type" ]; then
            echo "skip: $compiler $type (the build running this test)"
            continue
        fi
        dir=$work/$compiler-$type
        started=$(date +%s)
        if ! { cmake -S "$source" -B "$dir" -DCMAKE_C_COMPILER="$compiler" \
                   -DCMAKE_BUILD_TYPE="$type" -DCAIRN_TESTS=ON &&
               cmake --build "$dir" -j"$jobs"; } >"$dir.log" 2>&1; then
            grep -E 'error|warning' "$dir.log" | head -n 30 >&2 || tail -n 30 "$dir.log" >&2
            fail "$compiler $type does not build"
        fi
        echo "ok: $compiler $type ($(($(date +%s) - started)) s)"
        rm -rf "$dir"
    done
done

# The warnings switch, read off the compile commands.
for setting in ON OFF; do
    dir=$work/werror-$setting
    cmake -S "$source" -B "$dir" -DCAIRN_TESTS=OFF -DCAIRN_WERROR=$setting \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$dir.log" 2>&1 || fail "configure CAIRN_WERROR=$setting"
    count=$(grep -c -- '-Werror' "$dir/compile_commands.json" || true)
    if [ $setting = ON ] && [ "$count" -eq 0 ]; then fail "-Werror missing by default"; fi
    if [ $setting = OFF ] && [ "$count" -ne 0 ]; then fail "CAIRN_WERROR=OFF still has -Werror"; fi
done
echo "ok: -Werror by default, off with CAIRN_WERROR=OFF"
