#!/usr/bin/env bash
# Measures `syncd once` on a large tree, as a separate process against
# `syncd emulator`: the initial upload, then a pass with no change (wall
# time, peak RSS of the syncd process alone, scan/list split from -json).
#
#   bench/nochange.sh [FILES]      (default 100000, in folders of 1,000)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
N=${1:-100000}
work=$(mktemp -d)
trap 'kill $emu 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/syncd" ./cmd/syncd

"$work/syncd" emulator -listen 127.0.0.1:0 -data "$work/emu" >"$work/emu.out" 2>"$work/emu.err" &
emu=$!
for _ in $(seq 50); do grep -q listening "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
url=$(head -1 "$work/emu.out" | sed 's/^listening on //')
key1=$(grep -m1 '^  key1:' "$work/emu.err" | awk '{print $2}')
key2=$(grep -m1 '^  key2:' "$work/emu.err" | awk '{print $2}')

mkdir -p "$work/local"
python3 - "$work/local" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%06d.txt" % i)
    with open(p, "w") as f:
        f.write("file %d\n" % i)
    os.utime(p, (1700000000, 1700000000))
PY
cat >"$work/config.yaml" <<YAML
api:
  url: $url
  key1: "$key1"
  key2: "$key2"
state_dir: $work/state
requests_per_second: 0
log:
  level: warn
pairs:
  - local: $work/local
    remote: /bench
YAML
chmod 600 "$work/config.yaml"

echo "files: $N"
/usr/bin/time -f "initial upload: %e s wall, %M KiB peak RSS" "$work/syncd" once -config "$work/config.yaml" >/dev/null
for i in 1 2 3; do
  /usr/bin/time -f "no-change pass $i: %e s wall (process start, DB load, scan, listings), %M KiB peak RSS" \
    "$work/syncd" once -config "$work/config.yaml" -json >"$work/once.json"
done
python3 - "$work/once.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for p in r["pairs"]:
    print("converged:", p["converged"], "ops done:", p["done"])
PY
