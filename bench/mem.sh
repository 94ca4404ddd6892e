#!/usr/bin/env bash
# Peak RSS and CPU of a no-change `syncd once` over a large synced tree, the
# binary against `syncd emulator`, each in its own process (issue #3: under
# 150 MB at 100,000 files).
#
#   bench/mem.sh DIR [FILES] [RUNS]      (defaults 100000 and 3)
#
# The first run in DIR builds the tree (folders of 1,000) and syncs it once;
# later runs reuse DIR, so a rebuilt binary is measured against the same
# synced state without uploading again. GOGC and GOMEMLIMIT pass through;
# BIN=path measures that binary instead of the one built from this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="/usr/local/go/bin:$PATH"
work=${1:?usage: bench/mem.sh DIR [FILES] [RUNS]}
N=${2:-100000}
RUNS=${3:-3}
mkdir -p "$work"
work=$(cd "$work" && pwd)
emu=""
trap 'kill $emu 2>/dev/null || true; wait 2>/dev/null || true' EXIT
go build -o "$work/syncd" ./cmd/syncd

start_emulator "$work/syncd" "$work"
if [ ! -d "$work/local" ]; then
  make_tree "$work/local" "$N"
  fresh=1
fi
write_config "$work"

if [ -n "${fresh:-}" ]; then
  /usr/bin/time -f "initial upload of $N files: %e s wall, %M KiB peak RSS" "$work/syncd" once -config "$work/config.yaml" >/dev/null
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
bin=${BIN:-$work/syncd}
for i in $(seq "$RUNS"); do
  /usr/bin/time -f "no-change once $i: %M KiB peak RSS, %U s user %S s sys %e s wall" \
    "$bin" once -config "$work/config.yaml" >/dev/null
done
