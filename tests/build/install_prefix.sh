#!/usr/bin/env bash
# `cmake --install BUILD --prefix DIR` as a packager or a user runs it: every
# file lands under DIR (the configuration in DIR/etc/cairn), the units name
# the installed binaries, configuration and docs, the installed README's
# links to docs/*.md work, a reinstall keeps an edited config.yml, and prefix
# /usr puts the configuration in /etc.
#   install_prefix.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/cairn-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Installed with DESTDIR as well, so that anything written outside the
# prefix shows up beside it instead of on this machine.
prefix=$work/prefix
DESTDIR=$work/dest cmake --install "$build" --prefix "$prefix" >"$work/log" 2>&1 ||
    { cat "$work/log" >&2; fail "cmake --install"; }
root=$work/dest$prefix
outside=$(cd "$work/dest" && find . -type f | sed 's|^\.||' | grep -v "^$prefix/" || true)
[ -z "$outside" ] || fail "installed outside the prefix: $outside"
for f in bin/cairn bin/cairn-gc bin/cairn-fsck etc/cairn/config.yml etc/cairn/config.yml.example \
         lib/systemd/system/cairn.service lib/systemd/system/cairn-gc.service \
         lib/systemd/system/cairn-gc.timer share/doc/cairn/README.md; do
    [ -f "$root/$f" ] || fail "missing $prefix/$f"
done

# The units name this installation's paths, and those paths exist.
for unit in cairn.service cairn-gc.service cairn-gc.timer; do
    text=$(grep -v '^#' "$root/lib/systemd/system/$unit")
    if grep -qE '/usr/local|(^|[ =-])/etc/' <<<"$text"; then
        fail "$unit names paths of another installation: $(grep -E '/usr/local|/etc/' <<<"$text")"
    fi
    for path in $(grep -oE '(file://)?/[^ ]+' <<<"$text" | sed 's|^file://||'); do
        case $path in
            */environment) continue ;;                   # optional (EnvironmentFile=-)
            /var/lib/cairn|/var/lib/cairn/*) continue ;; # the state directory
            /bin/kill) continue ;;                       # ExecReload, the system's
        esac
        [[ $path == "$prefix"/* ]] || fail "$unit names $path outside $prefix"
        [ -e "$work/dest$path" ] || fail "$unit names $path, which was not installed"
    done
done
grep -q "^ExecStart=$prefix/bin/cairn --config $prefix/etc/cairn/config.yml" \
    "$root/lib/systemd/system/cairn.service" || fail "cairn.service ExecStart"

# The installed README's links to docs/*.md resolve beside it.
docs=$root/share/doc/cairn
links=$(grep -oE 'docs/[a-z0-9_-]+\.md' "$docs/README.md" | sort -u)
[ -n "$links" ] || fail "the README names no docs"
for link in $links; do
    [ -f "$docs/$link" ] || fail "README links $link, not installed beside it"
done
# ...and the docs' links to each other.
for doc in "$docs"/docs/*.md; do
    for link in $(grep -oE '\]\([a-z0-9_-]+\.md' "$doc" | sed 's/^](//' | sort -u); do
        [ -f "$docs/docs/$link" ] || fail "$(basename "$doc") links $link, not installed"
    done
done

# A reinstall keeps the operator's configuration.
echo "# edited" >>"$root/etc/cairn/config.yml"
DESTDIR=$work/dest cmake --install "$build" --prefix "$prefix" >"$work/log" 2>&1 || fail reinstall
grep -q "^# edited" "$root/etc/cairn/config.yml" || fail "a reinstall overwrote config.yml"
grep -q "Keeping: .*config.yml" "$work/log" || fail "a reinstall did not say it kept config.yml"

# Prefix /usr: configuration in /etc, units in /usr/lib/systemd/system.
DESTDIR=$work/usr cmake --install "$build" --prefix /usr >"$work/log" 2>&1 || fail "prefix /usr"
[ -f "$work/usr/etc/cairn/config.yml" ] || fail "prefix /usr: no /etc/cairn/config.yml"
[ ! -e "$work/usr/usr/etc" ] || fail "prefix /usr: wrote /usr/etc"
grep -q "^ExecStart=/usr/bin/cairn --config /etc/cairn/config.yml" \
    "$work/usr/usr/lib/systemd/system/cairn.service" || fail "prefix /usr: cairn.service ExecStart"
echo "ok: install under $prefix and /usr"
