#!/usr/bin/env bash
# Opt-in check (too slow and privileged for `go test`): installs the .deb into
# a fresh Debian root made by debootstrap, then upgrades, removes and purges
# it, checking the account, ownership, conffile handling and `syncd version`.
#
#   sudo packaging/test-install.sh [PATH.deb]
#
# Needs root (chroot), debootstrap and a reachable Debian mirror
# (MIRROR, default http://deb.debian.org/debian). The minbase root is cached
# in SYNCD_DEBROOT (default /var/tmp/syncd-debroot-bookworm) and copied for
# every run, so a second run takes seconds. No systemd runs in the chroot:
# the scripts' systemctl branches are skipped, as in a container.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE=${SYNCD_DEBROOT:-/var/tmp/syncd-debroot-$SUITE}
DEB=${1:-}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

if [ -z "$DEB" ]; then
	out=$(mktemp -d)
	DIST=$out PACKAGES=deb packaging/build.sh 9.9.9 >/dev/null
	DEB=$(ls "$out"/*.deb)
fi
[ -f "$DEB" ] || fail "no package at $DEB"

if [ ! -f "$BASE/.syncd-ok" ]; then
	step "debootstrap $SUITE into $BASE"
	rm -rf "$BASE"
	debootstrap --variant=minbase "$SUITE" "$BASE" "$MIRROR" >/dev/null
	touch "$BASE/.syncd-ok"
fi
ROOT=$(mktemp -d /var/tmp/syncd-install.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
cp -a "$BASE/." "$ROOT/"
cp "$DEB" "$ROOT/tmp/syncd.deb"
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
owner() { in_root stat -c '%U:%G %a' "$1"; }

step "install $(basename "$DEB")"
in_root dpkg -i /tmp/syncd.deb
in_root getent passwd syncd | grep -q ':/var/lib/syncd:/usr/sbin/nologin$' || fail "no syncd system account"
[ "$(owner /var/lib/syncd)" = "syncd:syncd 750" ] || fail "/var/lib/syncd is $(owner /var/lib/syncd)"
[ "$(owner /etc/syncd/config.yaml)" = "root:syncd 640" ] || fail "config is $(owner /etc/syncd/config.yaml)"
in_root /usr/bin/syncd version | tee /dev/stderr | grep -q '^syncd ' || fail "syncd version"
cmp packaging/systemd/syncd.service "$ROOT/lib/systemd/system/syncd.service" || fail "installed unit is not packaging/systemd/syncd.service"
if unit=$(in_root /usr/bin/syncd service unit -packaged 2>/dev/null); then
	[ "$unit" = "$(cat "$ROOT/lib/systemd/system/syncd.service")" ] || fail "installed unit differs from 'syncd service unit -packaged'"
else
	echo "note: this binary has no 'syncd service unit' yet; skipped comparing with it"
fi

step "the drop-in the post-install message describes"
sed -i 's#^  - local: /srv/data$#  - local: /srv/my data#' "$ROOT/etc/syncd/config.yaml"
in_root /usr/bin/syncd service unit -dropin -config /etc/syncd/config.yaml >"$ROOT/tmp/paths.conf" ||
	fail "syncd service unit -dropin failed on the packaged config"
grep -qx 'ReadWritePaths=-"/srv/my data"' "$ROOT/tmp/paths.conf" || fail "drop-in: $(cat "$ROOT/tmp/paths.conf")"

step "reinstall keeps an edited config (noreplace conffile)"
echo "# edited by the operator" >>"$ROOT/etc/syncd/config.yaml"
in_root dpkg -i --force-confold /tmp/syncd.deb
grep -q 'edited by the operator' "$ROOT/etc/syncd/config.yaml" || fail "edited config was replaced"

step "remove keeps config, state and account"
touch "$ROOT/var/lib/syncd/state.db"
in_root dpkg -r syncd
[ ! -e "$ROOT/usr/bin/syncd" ] || fail "binary left after remove"
[ -f "$ROOT/etc/syncd/config.yaml" ] && [ -f "$ROOT/var/lib/syncd/state.db" ] || fail "remove deleted config or state"
in_root getent passwd syncd >/dev/null || fail "remove deleted the account"

step "purge removes state, config and account"
in_root dpkg -P syncd
[ ! -e "$ROOT/var/lib/syncd" ] && [ ! -e "$ROOT/etc/syncd" ] || fail "purge left /var/lib/syncd or /etc/syncd"
! in_root getent passwd syncd >/dev/null || fail "purge left the account"
! in_root getent group syncd >/dev/null || fail "purge left the group"

echo "PASS: install, reinstall, remove and purge in a $SUITE root"
