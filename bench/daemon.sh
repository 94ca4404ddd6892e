#!/usr/bin/env bash
# Measures syncd as operators run it: the binary against `syncd emulator`,
# each in its own process.
#   1. initial upload of FILES small files (folders of 1,000), wall time and peak RSS;
#   2. three no-change `syncd once` passes: wall time and peak RSS;
#   3. `syncd run` idle for IDLE seconds: CPU share, RSS while watching the
#      tree, and the API requests it made (from its Prometheus metrics);
#   4. write-to-synced latency: 10 local writes, each timed until the daemon's
#      metrics count its upload done (debounce 1s).
#
#   bench/daemon.sh [FILES] [IDLE]      (defaults 100000 and 90)
#
# BENCH_KEEP=DIR keeps the emulator's data, the tree and the state in DIR;
# a later run with the same DIR skips building and uploading the tree (at
# 100,000 files the initial upload takes about 20 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="/usr/local/go/bin:$PATH"
N=${1:-100000}
IDLE=${2:-90}
emu=""; daemon=""
if [ -n "${BENCH_KEEP:-}" ]; then
  work=$BENCH_KEEP
  mkdir -p "$work"
  trap 'kill $daemon $emu 2>/dev/null || true; wait 2>/dev/null || true' EXIT
else
  work=$(mktemp -d)
  trap 'kill $daemon $emu 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
fi
reuse=""
[ -f "$work/synced" ] && reuse=1
go build -o "$work/syncd" ./cmd/syncd

start_emulator "$work/syncd" "$work"
[ -z "$reuse" ] && make_tree "$work/local" "$N"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metric() { # sum of the samples of a metric whose line matches $1
  { curl -s "http://127.0.0.1:$mport/metrics" || true; } | awk -v re="$1" '$0 ~ re && !/^#/ {s += $NF} END {printf "%d\n", s}'
}
write_config "$work" "poll_interval: 30s
debounce: 1s
metrics_listen: 127.0.0.1:$mport"

echo "== $N files in $(( (N + 999) / 1000 )) folders"
if [ -z "$reuse" ]; then
  /usr/bin/time -f "initial upload: %e s wall, %M KiB peak RSS" "$work/syncd" once -config "$work/config.yaml" >/dev/null
  touch "$work/synced"
else
  rm -f "$work"/local/d*/latency-*.txt
  "$work/syncd" once -config "$work/config.yaml" >/dev/null
  echo "reusing the synced tree in $work"
fi
for i in 1 2 3; do
  /usr/bin/time -f "no-change once $i: %e s wall (start, state load, scan, listing $(( (N + 999) / 1000 + 2 )) folders), %M KiB peak RSS" \
    "$work/syncd" once -config "$work/config.yaml" >/dev/null
done

"$work/syncd" run -config "$work/config.yaml" 2>"$work/daemon.err" &
daemon=$!
# Wait for the first pass.
for _ in $(seq 600); do
  # The daemon's own answer (a kept tree also has a saved status).
  "$work/syncd" status -json -config "$work/config.yaml" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("source")=="daemon" and d["pairs"][0].get("last_sync") else 1)' && break
  sleep 0.5
done
# Wait for the start-up passes (the first, then the watcher's first full
# batch) to end: no pass for 10 s.
last=-1
for _ in $(seq 120); do
  now=$(metric '^syncd_passes_total')
  [ "$now" = "$last" ] && break
  last=$now
  sleep 10
done
hz=$(getconf CLK_TCK)
r0=$(metric '^syncd_api_responses_total')
t0=$(awk '{print $14 + $15}' /proc/$daemon/stat)
sleep "$IDLE"
t1=$(awk '{print $14 + $15}' /proc/$daemon/stat)
r1=$(metric '^syncd_api_responses_total')
echo "idle daemon over ${IDLE}s: $((r1 - r0)) API requests (poll_interval 30s: root folder info + root listing + hot folders per poll)"
rss=$(awk '/VmRSS/ {print $2}' /proc/$daemon/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$daemon/status)
python3 -c "print('idle daemon over %ds: %.2f%% of one core, RSS %d KiB (peak %d KiB), watching %d files' % ($IDLE, 100.0*($t1-$t0)/$hz/$IDLE, $rss, $hwm, $N))"

lat=()
for i in $(seq 10); do
  done0=$(metric '^syncd_operations_total\\{.*op="upload".*result="done"')
  before=$(date +%s.%N)
  echo "edit $i $before" > "$work/local/d$(printf %03d $(( (i * 7) % ((N + 999) / 1000) )))/latency-$i.txt"
  for _ in $(seq 800); do
    [ "$(metric '^syncd_operations_total\\{.*op="upload".*result="done"')" -gt "$done0" ] && break
    sleep 0.05
  done
  after=$(date +%s.%N)
  lat+=("$(python3 -c "print('%.2f' % ($after - $before))")")
  sleep 2
done
printf 'write-to-synced latency (debounce 1s), 10 writes: %s s\n' "${lat[*]}"
python3 -c "import statistics; v=[float(x) for x in '${lat[*]}'.split()]; print('median %.2f s' % statistics.median(v))"
