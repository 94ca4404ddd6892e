#!/usr/bin/env bash
# Measures syncd as operators run it: the binary against `syncd emulator`,
# each in its own process.
#   1. initial upload of FILES small files (folders of 1,000), wall time and peak RSS;
#   2. three no-change `syncd once` passes: wall time and peak RSS;
#   3. `syncd run` idle for IDLE seconds: CPU share and RSS while watching the tree;
#   4. write-to-synced latency: 10 local writes, each timed until status shows
#      it synced (debounce 1s).
#
#   bench/daemon.sh [FILES] [IDLE]      (defaults 100000 and 90)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="/usr/local/go/bin:$PATH"
N=${1:-100000}
IDLE=${2:-90}
work=$(mktemp -d)
emu=""; daemon=""
trap 'kill $daemon $emu 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/syncd" ./cmd/syncd

start_emulator "$work/syncd" "$work"
make_tree "$work/local" "$N"
write_config "$work" $'poll_interval: 30s\ndebounce: 1s'

echo "== $N files in $(( (N + 999) / 1000 )) folders"
/usr/bin/time -f "initial upload: %e s wall, %M KiB peak RSS" "$work/syncd" once -config "$work/config.yaml" >/dev/null
for i in 1 2 3; do
  /usr/bin/time -f "no-change once $i: %e s wall (start, state load, scan, listing $(( (N + 999) / 1000 + 2 )) folders), %M KiB peak RSS" \
    "$work/syncd" once -config "$work/config.yaml" >/dev/null
done

"$work/syncd" run -config "$work/config.yaml" 2>"$work/daemon.err" &
daemon=$!
# Wait for the first pass.
for _ in $(seq 600); do
  "$work/syncd" status -config "$work/config.yaml" 2>/dev/null | grep -q "SYNCD OK" && break
  sleep 0.5
done
sleep 5
hz=$(getconf CLK_TCK)
t0=$(awk '{print $14 + $15}' /proc/$daemon/stat)
sleep "$IDLE"
t1=$(awk '{print $14 + $15}' /proc/$daemon/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$daemon/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)
python3 -c "print('idle daemon over %ds: %.2f%% of one core, RSS %d KiB (peak %d KiB), watching %d files' % ($IDLE, 100.0*($t1-$t0)/$hz/$IDLE, $rss, $hwm, $N))"

lat=()
for i in $(seq 10); do
  before=$(date +%s.%N)
  echo "edit $i $before" > "$work/local/latency-$i.txt"
  for _ in $(seq 400); do
    if "$work/syncd" status -config "$work/config.yaml" -json 2>/dev/null | python3 -c "
import json, sys, datetime
d = json.load(sys.stdin)
p = d['pairs'][0]
ls = p.get('last_sync') or ''
ok = p['pending_ops'] == 0 and not p['transfers'] and ls and datetime.datetime.fromisoformat(ls.replace('Z','+00:00')).timestamp() > $before
sys.exit(0 if ok else 1)"; then break; fi
    sleep 0.05
  done
  after=$(date +%s.%N)
  lat+=("$(python3 -c "print('%.2f' % ($after - $before))")")
  sleep 2
done
printf 'write-to-synced latency (debounce 1s), 10 writes: %s s\n' "${lat[*]}"
python3 -c "import statistics; v=[float(x) for x in '${lat[*]}'.split()]; print('median %.2f s' % statistics.median(v))"
