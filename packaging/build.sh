#!/usr/bin/env bash
# Builds syncd for Linux and its .deb and .rpm packages.
#
#   packaging/build.sh [VERSION]
#
# VERSION defaults to the exact git tag (without "v"), else 0.0.0-dev+COMMIT.
# Environment: GOARCH (default: the host's), DIST (output directory, default
# dist/), PACKAGES (default "deb rpm"; empty builds only the binary).
# The binary carries -X main.version/commit/date; nfpm runs as a pinned tool
# (go run ...@v2.45.2), never as a dependency in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

NFPM="github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2"
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ $# -ge 1 ] && [ -n "$1" ]; then
	VERSION=$1
elif tag=$(git describe --tags --exact-match 2>/dev/null); then
	VERSION=$tag
else
	VERSION="0.0.0-dev+$COMMIT"
fi
VERSION=${VERSION#v}
# Reproducible: the date is the commit's unless SOURCE_DATE_EPOCH says otherwise.
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
DATE=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
ARCH=${GOARCH:-$(go env GOARCH)}
DIST=${DIST:-dist}
PACKAGES=${PACKAGES-deb rpm}
mkdir -p "$DIST/linux-$ARCH"
DIST=$(cd "$DIST" && pwd)
BIN="$DIST/linux-$ARCH/syncd"

echo "building syncd $VERSION ($COMMIT, $DATE) for linux/$ARCH"
CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
	-o "$BIN" ./cmd/syncd

# /usr/share/doc/syncd and the man page, compressed as Debian policy asks
# (gzip -9n: no name or time stamp, so the package stays reproducible;
# copyright stays plain). The changelog is the git history of this version.
DOC="$DIST/doc"
rm -rf "$DOC" && mkdir -p "$DOC"
gzip -9nc README.md >"$DOC/README.md.gz"
gzip -9nc packaging/syncd.1 >"$DOC/syncd.1.gz"
cp packaging/copyright "$DOC/copyright"
{
	echo "syncd $VERSION ($DATE)"
	echo
	git log --no-merges --format='  * %s' -n 500 2>/dev/null || echo "  * (built outside a git checkout: no history)"
} | gzip -9n >"$DOC/changelog.gz"

for p in $PACKAGES; do
	SYNCD_VERSION=$VERSION SYNCD_ARCH=$ARCH SYNCD_BIN=$BIN SYNCD_DOC=$DOC SOURCE_DATE_EPOCH=$EPOCH \
		go run "$NFPM" package --config packaging/nfpm.yaml --packager "$p" --target "$DIST/"
done
ls -l "$DIST" "$DIST/linux-$ARCH"
