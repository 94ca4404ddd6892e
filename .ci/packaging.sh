#!/usr/bin/env bash
# Packaging CI step: build the .deb and .rpm, inspect the .deb (go test), and,
# when running as root with debootstrap available, install it into a Debian
# root (SYNCD_INSTALL_TEST=1 to require that step).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
go test -count=1 -run 'TestBuildDeb|TestScriptsParse|TestCommittedFilesMatchTemplates' ./packaging
packaging/build.sh "${1:-}"
if [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null; then
	packaging/test-install.sh "$(ls dist/*.deb | tail -1)"
elif [ "${SYNCD_INSTALL_TEST:-}" = 1 ]; then
	echo "install test needs root and debootstrap" >&2
	exit 1
fi
