#!/bin/sh
# Creates the syncd system account before the package's files (owned by it)
# are unpacked. deb preinst: install|upgrade; rpm %pre: 1|2.
set -e

ensure_account() {
	if ! getent group syncd >/dev/null 2>&1; then
		if command -v groupadd >/dev/null 2>&1; then
			groupadd --system syncd
		else
			addgroup --system syncd
		fi
	fi
	if ! getent passwd syncd >/dev/null 2>&1; then
		if command -v useradd >/dev/null 2>&1; then
			useradd --system --gid syncd --home-dir /var/lib/syncd --no-create-home \
				--shell /usr/sbin/nologin --comment "syncd sync daemon" syncd
		else
			adduser --system --ingroup syncd --home /var/lib/syncd --no-create-home \
				--shell /usr/sbin/nologin syncd
		fi
	fi
}

ensure_account
exit 0
