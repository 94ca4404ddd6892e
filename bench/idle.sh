#!/usr/bin/env bash
# Memory and CPU of an idle daemon over a large synced tree (issue #15:
# D3, 100,000 files, at most 50 MiB RSS and under 0.5 % of a core).
#
#   bench/idle.sh DIR [IDLE] [FILES] [FOLDERS]   (defaults 180 s, 100000, 1000)
#
# DIR keeps the tree (D3 of bench/peers.sh: FILES files of 1-16 KiB in
# FOLDERS folders, deterministic), the emulator's data and the state: the
# first run generates the tree and lets the daemon upload it (its first
# pass, timed with its peak RSS); later runs start the daemon over the
# synced tree. Either way the script then waits for the start-up passes to
# end (no pass for 10 s, status idle), and samples the daemon's RSS every 10 s for IDLE
# seconds and its CPU over them. `syncd emulator -concurrent-uploads 100`, a
# default configuration but for poll_interval (30 s, so that an idle
# period holds polls) and the metrics listener. BIN=path measures that binary
# instead of one built from this tree (the emulator stays this tree's).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="/usr/local/go/bin:$PATH"
work=${1:?usage: bench/idle.sh DIR [IDLE] [FILES] [FOLDERS]}
IDLE=${2:-180}
N=${3:-100000}
F=${4:-1000}
mkdir -p "$work"
work=$(cd "$work" && pwd)
emu=""; daemon=""
# The daemon first: it disables its token at the emulator as it stops.
stop() {
  [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; }
  kill $emu 2>/dev/null || true; wait 2>/dev/null || true
}
trap stop EXIT
go build -o "$work/syncd.bench" ./cmd/syncd
bin=${BIN:-$work/syncd.bench}

if [ ! -d "$work/local" ]; then
  python3 - "$work/local.tmp" "$N" "$F" <<'PY'
import os, random, sys
root, n, folders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(1)
per = (n + folders - 1) // folders
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // per))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%06d.bin" % i)
    with open(p, "wb") as f:
        f.write(rnd.randbytes(rnd.randint(1024, 16384)))
    os.utime(p, (1700000000, 1700000000))
PY
  mv "$work/local.tmp" "$work/local"
fi
"$work/syncd.bench" emulator -listen 127.0.0.1:0 -data "$work/emu" -concurrent-uploads 100 -log-level warn \
  >"$work/emu.out" 2>"$work/emu.err" &
emu=$!
for _ in $(seq 100); do grep -q listening "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
url=$(head -1 "$work/emu.out" | sed 's/^listening on //')
# The emulator prints the demo keys on its first start only.
[ -s "$work/keys" ] || grep -E '^  key[12]:' "$work/emu.err" >"$work/keys"
key1=$(awk '/key1:/ {print $2}' "$work/keys")
key2=$(awk '/key2:/ {print $2}' "$work/keys")
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# SWEEP=2m (say) brings the sweep of every folder (default 10m) into a short window.
write_config "$work" "poll_interval: 30s
metrics_listen: 127.0.0.1:$mport
${SWEEP:+sweep_interval: $SWEEP}"
sed -i '/^requests_per_second: 0$/d' "$work/config.yaml" # the default pacing
# LOG_LEVEL=info (say) shows the daemon's passes in DIR/daemon.out.
[ -z "${LOG_LEVEL:-}" ] || sed -i "s/^  level: warn$/  level: $LOG_LEVEL/" "$work/config.yaml"
metric() { # sum of the samples of the metrics whose line matches $1
  { curl -s "http://127.0.0.1:$mport/metrics" || true; } | awk -v re="$1" '$0 ~ re && !/^#/ {s += $NF} END {printf "%d\n", s}'
}
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$daemon/status"; }
hwm() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$daemon/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
hz=$(getconf CLK_TCK)

fresh=""
[ -f "$work/synced" ] || fresh=1
start=$(date +%s.%N)
"$bin" run -config "$work/config.yaml" >"$work/daemon.out" 2>&1 &
daemon=$!
# The first pass is done when the daemon's status has a last sync.
for _ in $(seq 7200); do
  "$bin" status -json -config "$work/config.yaml" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("source")=="daemon" and d["pairs"][0].get("last_sync") else 1)' && break
  kill -0 "$daemon" 2>/dev/null || { echo "idle.sh: the daemon exited:" >&2; tail -20 "$work/daemon.out" >&2; exit 1; }
  sleep 0.5
done
first=$(python3 -c "import time; print('%.1f' % (time.time() - $start))")
if [ -n "$fresh" ]; then
  touch "$work/synced"
  echo "first pass (initial upload of $N files in $F folders): ${first} s, peak RSS $(hwm) MiB"
else
  echo "first pass over the synced tree of $N files: ${first} s, peak RSS $(hwm) MiB"
fi
# The start-up passes (the first, the watcher's first full batch, after an
# upload the pass that lists every folder it wrote to) end: no pass for
# 10 s, and the daemon says it is idle.
idle() {
  "$bin" status -json -config "$work/config.yaml" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("state")=="idle" else 1)'
}
last=-1
for _ in $(seq 120); do
  now=$(metric '^syncd_passes_total')
  [ "$now" = "$last" ] && idle && break
  last=$now
  sleep 10
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
r0=$(metric '^syncd_api_responses_total')
p0=$(metric '^syncd_passes_total')
c0=$(cpu)
samples=()
for _ in $(seq $((IDLE / 10))); do
  samples+=("$(rss)")
  sleep 10
done
c1=$(cpu)
r1=$(metric '^syncd_api_responses_total')
p1=$(metric '^syncd_passes_total')
samples+=("$(rss)")
echo "idle RSS every 10 s (MiB): ${samples[*]}"
python3 -c "print('idle daemon over %d s: %.2f%% of one core, %d passes, %d API requests, RSS %d MiB (peak of the process %d MiB)' % ($IDLE, 100.0 * ($c1 - $c0) / $hz / $IDLE, $p1 - $p0, $r1 - $r0, $(rss), $(hwm)))"
