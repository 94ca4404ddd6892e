#!/bin/sh
# deb postrm: remove|purge|upgrade|...; rpm %postun: 0 (erase) | 1 (upgrade).
# Only a deb purge deletes the state and the account: rpm has no purge, and
# removing data on a plain erase would surprise operators.
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
	rm -rf /var/lib/syncd
	rm -rf /etc/syncd
	if getent passwd syncd >/dev/null 2>&1; then
		userdel syncd 2>/dev/null || deluser --system syncd 2>/dev/null || true
	fi
	if getent group syncd >/dev/null 2>&1; then
		groupdel syncd 2>/dev/null || delgroup --system syncd 2>/dev/null || true
	fi
fi
exit 0
