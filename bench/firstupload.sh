#!/usr/bin/env bash
# Wall time of an initial upload, then of the initial download to a second
# folder: FILES files of 1-16 KiB in FOLDERS
# folders, one `syncd once` against `syncd emulator` (requests_per_second 0).
#   bench/firstupload.sh [SYNCD-BINARY] [FILES] [FOLDERS]   (defaults: built here, 10000, 100)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
work=$(mktemp -d /tmp/firstupload.XXXXXX)
emu=""
trap 'kill $emu 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
bin=${1:-}
if [ -z "$bin" ]; then bin=$work/syncd; go build -o "$bin" ./cmd/syncd; fi
N=${2:-10000}
F=${3:-100}
python3 - "$work/local" "$N" "$F" <<'PY'
import os, random, sys
root, n, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % nf))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.bin" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 16384)))
PY
start_emulator "$bin" "$work"
write_config "$work"
t0=$(date +%s.%N)
"$bin" once -config "$work/config.yaml" >"$work/once.out" 2>&1
t1=$(date +%s.%N)
tail -1 "$work/once.out"
echo "initial upload of $N files in $F folders: $(echo "$t1 - $t0" | bc) s"
# The same tree down into an empty folder (a second host).
sed -e "s|$work/local|$work/down|" -e "s|state_dir: .*|state_dir: $work/state2|" "$work/config.yaml" >"$work/down.yaml"
chmod 600 "$work/down.yaml"; mkdir -p "$work/down"
t0=$(date +%s.%N)
"$bin" once -config "$work/down.yaml" >"$work/down.out" 2>&1
t1=$(date +%s.%N)
tail -1 "$work/down.out"
echo "initial download of $N files in $F folders: $(echo "$t1 - $t0" | bc) s"
