#!/bin/sh
# deb prerm: remove|upgrade|deconfigure; rpm %preun: 0 (erase) | 1 (upgrade).
# Stops and disables the service when the package goes away, not on upgrade.
set -e

case "$1" in
remove|deconfigure|0)
	if [ -d /run/systemd/system ]; then
		systemctl stop syncd.service || true
	fi
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable syncd.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
