#!/bin/sh
# deb postinst: configure [old-version]; rpm %post: 1 (install) | 2 (upgrade).
# Makes sure the account exists (a package manager may skip preinst), fixes
# ownership, reloads systemd, restarts an upgraded running service. A fresh
# install is not started: the configuration must be edited first.
set -e

if ! getent passwd syncd >/dev/null 2>&1 || ! getent group syncd >/dev/null 2>&1; then
	if ! getent group syncd >/dev/null 2>&1; then
		groupadd --system syncd 2>/dev/null || addgroup --system syncd
	fi
	useradd --system --gid syncd --home-dir /var/lib/syncd --no-create-home \
		--shell /usr/sbin/nologin --comment "syncd sync daemon" syncd 2>/dev/null ||
		adduser --system --ingroup syncd --home /var/lib/syncd --no-create-home --shell /usr/sbin/nologin syncd
fi
chown syncd:syncd /var/lib/syncd
chmod 0750 /var/lib/syncd
chown root:syncd /etc/syncd /etc/syncd/config.yaml
chmod 0750 /etc/syncd

upgrade=no
case "$1" in
configure) [ -n "$2" ] && upgrade=yes ;;
2) upgrade=yes ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ "$upgrade" = yes ]; then
		systemctl try-restart syncd.service || true
	fi
fi

if [ "$upgrade" = no ]; then
	cat <<'MSG'
syncd installed. Next:
  1. edit /etc/syncd/config.yaml (keys: key1_file/key2_file or /etc/syncd/env),
     then check it offline: syncd config check
  2. give the syncd user write access to each pair's local root, and make the
     roots writable in the sandbox:
       syncd service unit -dropin -config /etc/syncd/config.yaml \
         > /etc/systemd/system/syncd.service.d/paths.conf   (mkdir it first)
  3. systemctl daemon-reload && systemctl enable --now syncd
MSG
fi
exit 0
