#!/usr/bin/env bash
# Measures syncd beside current rclone, side by side in one run, on the same
# data and machine, and writes bench/RESULTS.md.
#
#   bench/peers.sh [SETS]        SETS: any of d1 d2 d3 (default: d1 d2)
#
#   D1  10,000 files of 1-16 KiB in 100 folders (generated, deterministic)
#   D2  20 files of 32 MiB
#   D3  100,000 files of 1-16 KiB in 1,000 folders (long: ask for it)
#
# For D1 and D3, at loopback and behind bench/delayproxy (20 ms round trip):
#   initial upload, no-change pass, one-change pass: wall time, client CPU,
#   peak RSS, and for syncd the API requests it sent per file.
#   syncd: `syncd once` with a default configuration against
#   `syncd emulator -concurrent-uploads 100` (the API's sample package).
#   rclone: `rclone copy` (64 transfers, 64 checkers, webdav pacer off) to
#   `rclone serve webdav`.
# For D2, at loopback: upload and download throughput of syncd and of curl
#   against the same emulator (curl with as many parallel transfers).
#
# rclone v1.76.0 is built with `go install` through the module proxy into
# BENCH_TOOLS (default ~/.cache/syncd-bench), once. RTT=0 skips the delayed
# runs; D1_FILES=N shrinks D1 to try the script out. Loopback only; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export PATH="/usr/local/go/bin:$PATH"
for tool in curl python3 /usr/bin/time; do command -v $tool >/dev/null || { echo "peers.sh: $tool is required" >&2; exit 2; }; done
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(d1 d2)
RTT=${RTT:-20}
tools=${BENCH_TOOLS:-$HOME/.cache/syncd-bench}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$tools"
if [ ! -x "$tools/rclone" ]; then
  echo "building rclone v1.76.0 into $tools (once)"
  GOBIN="$tools" go install github.com/rclone/rclone@v1.76.0
fi
rclone=$tools/rclone
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/RESULTS.md' || echo "+dirty")
go build -o "$work/syncd" ./cmd/syncd
go build -o "$work/delayproxy" ./bench/delayproxy
results=$work/results.tsv # set, net, tool, measure, value, unit
: >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_line FILE PATTERN: up to 10 s for PATTERN to appear in FILE.
wait_line() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "peers.sh: '$2' never appeared in $1:" >&2; cat "$1" >&2; return 1
}

# gen DIR FILES FOLDERS MIN MAX: deterministic files of MIN..MAX bytes.
gen() {
  python3 - "$@" <<'PY'
import os, random, sys
root, n, folders, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(1)
per = (n + folders - 1) // folders
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // per))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%06d.bin" % i)
    with open(p, "wb") as f:
        f.write(rnd.randbytes(rnd.randint(lo, hi)))
    os.utime(p, (1700000000, 1700000000))
PY
}

# timed TAG CMD...: runs CMD, sets wall, cpu (user+sys) and rss (KiB).
timed() {
  local tag=$1; shift
  /usr/bin/time -o "$work/time.$tag" -f '%e %U %S %M' "$@" >"$work/out.$tag" 2>&1 || {
    echo "peers.sh: $tag failed:" >&2; tail -20 "$work/out.$tag" >&2; return 1; }
  read -r wall u s rss <"$work/time.$tag"
  cpu=$(python3 -c "print(round($u + $s, 2))")
}

# emulator DIR PORT: starts the emulator on PORT (data in DIR), sets emu_pid.
emulator() {
  "$work/syncd" emulator -listen "127.0.0.1:$2" -data "$1" -concurrent-uploads 100 -log-level info \
    >"$1.out" 2>>"$1.err" &
  emu_pid=$!; pids+=("$emu_pid")
  wait_line "$1.out" listening
}

# stop_emulator DIR: stops it and prints the API requests it served
# (download-host requests and 429s not counted).
stop_emulator() {
  kill -INT "$emu_pid"; wait "$emu_pid" 2>/dev/null || true
  python3 - "$1.err" <<'PY'
import json, sys
total = 0
for line in open(sys.argv[1]):
    if "emulator stopped" in line:
        doc = json.loads(line[line.find("{"):])
        for pair in doc.get("requests", "").split():
            k, v = pair.rsplit("=", 1)
            if k not in ("dl", "429"):
                total += int(v)
print(total)
PY
  : >"$1.err"
}

# proxy PORT: a delayproxy in front of 127.0.0.1:PORT when RTT > 0; sets
# front (the port to use) and proxy_pid.
proxy() {
  proxy_pid=""
  if [ "$net" = loopback ]; then front=$1; return; fi
  "$work/delayproxy" -listen 127.0.0.1:0 -upstream "127.0.0.1:$1" -delay "$((RTT / 2))ms" >"$work/proxy.out" 2>&1 &
  proxy_pid=$!; pids+=("$proxy_pid")
  wait_line "$work/proxy.out" listening
  front=$(sed -n 's/^listening on 127.0.0.1://p' "$work/proxy.out")
}
stop_proxy() { [ -z "$proxy_pid" ] || { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; }; }

syncd_config() { # DIR FRONT LOCAL: a default configuration
  cat >"$1/config.yaml" <<YAML
api:
  url: http://127.0.0.1:$2/api/v2/
  key1: "$(grep -m1 '^  key1:' "$1/emu.err0" | awk '{print $2}')"
  key2: "$(grep -m1 '^  key2:' "$1/emu.err0" | awk '{print $2}')"
state_dir: $1/state
log:
  level: warn
pairs:
  - local: $3
    remote: /bench
YAML
  chmod 600 "$1/config.yaml"
}

# small SET FILES FOLDERS: the initial / no-change / one-change rounds.
small() {
  local set=$1 n=$2
  local data=$work/$set.data
  [ -d "$data" ] || gen "$data" "$2" "$3" 1024 16384
  for net in loopback rtt$RTT; do
    [ "$net" = rtt0 ] && continue
    echo "== $set, $net"
    # syncd
    local d=$work/$set.$net.syncd; mkdir -p "$d"
    cp -a "$data" "$d/local"
    local port; port=$(freeport)
    emulator "$d/emu" "$port"; cp "$d/emu.err" "$d/emu.err0"
    proxy "$port"
    syncd_config "$d" "$front" "$d/local"
    timed s-init "$work/syncd" once -config "$d/config.yaml"
    record "$set" "$net" syncd initial "$wall" s; record "$set" "$net" syncd "initial CPU" "$cpu" s
    record "$set" "$net" syncd "initial peak RSS" "$((rss / 1024))" MiB
    stop_proxy
    local reqs; reqs=$(stop_emulator "$d/emu")
    record "$set" "$net" syncd "initial API requests per file" "$(python3 -c "print(round($reqs / $n, 3))")" ""
    emulator "$d/emu" "$port"; proxy "$port"
    syncd_config "$d" "$front" "$d/local" # a new proxy listens elsewhere
    timed s-none "$work/syncd" once -config "$d/config.yaml"
    record "$set" "$net" syncd no-change "$wall" s
    python3 -c "import sys; open(sys.argv[1], 'ab').write(b'one more line\n')" "$d/local/d0000/f000000.bin"
    timed s-one "$work/syncd" once -config "$d/config.yaml"
    record "$set" "$net" syncd one-change "$wall" s
    stop_proxy; stop_emulator "$d/emu" >/dev/null
    # rclone
    d=$work/$set.$net.rclone; mkdir -p "$d/served"
    cp -a "$data" "$d/local"
    port=$(freeport)
    "$rclone" serve webdav "$d/served" --addr "127.0.0.1:$port" >"$d/serve.out" 2>&1 &
    local rpid=$!; pids+=("$rpid")
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    proxy "$port"
    local rc=("$rclone" copy "$d/local" :webdav: --webdav-url "http://127.0.0.1:$front/" --webdav-pacer-min-sleep 0
      --transfers 64 --checkers 64 --config /dev/null)
    timed r-init "${rc[@]}"
    record "$set" "$net" rclone initial "$wall" s; record "$set" "$net" rclone "initial CPU" "$cpu" s
    record "$set" "$net" rclone "initial peak RSS" "$((rss / 1024))" MiB
    timed r-none "${rc[@]}"
    record "$set" "$net" rclone no-change "$wall" s
    python3 -c "import sys; open(sys.argv[1], 'ab').write(b'one more line\n')" "$d/local/d0000/f000000.bin"
    timed r-one "${rc[@]}"
    record "$set" "$net" rclone one-change "$wall" s
    stop_proxy; kill "$rpid"; wait "$rpid" 2>/dev/null || true
    rm -rf "$work/$set.$net.syncd" "$work/$set.$net.rclone"
  done
}

# large: D2 through syncd and through curl, at loopback.
large() {
  local data=$work/d2.data
  [ -d "$data" ] || gen "$data" 20 1 $((32 << 20)) $((32 << 20))
  local bytes=$((20 * (32 << 20)))
  net=loopback
  echo "== d2, loopback"
  local d=$work/d2.syncd; mkdir -p "$d"
  cp -a "$data" "$d/local"
  local port; port=$(freeport)
  emulator "$d/emu" "$port"; cp "$d/emu.err" "$d/emu.err0"
  syncd_config "$d" "$port" "$d/local"
  timed d2-up "$work/syncd" once -config "$d/config.yaml"
  record d2 loopback syncd "upload MB/s" "$(python3 -c "print(round($bytes / $wall / 1e6))")" ""
  record d2 loopback syncd "upload peak RSS" "$((rss / 1024))" MiB
  mkdir -p "$d/down"
  sed -i "s#local: $d/local#local: $d/down#; s#state_dir: $d/state#state_dir: $d/state2#" "$d/config.yaml"
  timed d2-down "$work/syncd" once -config "$d/config.yaml"
  record d2 loopback syncd "download MB/s" "$(python3 -c "print(round($bytes / $wall / 1e6))")" ""
  # curl, same emulator, same parallelism (every file at once)
  local api=http://127.0.0.1:$port/api/v2
  local auth; auth=$(curl -s "$api/authorize" -d "key1=$(grep -m1 '^  key1:' "$d/emu.err0" | awk '{print $2}')" \
    -d "key2=$(grep -m1 '^  key2:' "$d/emu.err0" | awk '{print $2}')")
  local tok acct
  tok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["access_token"])' "$auth")
  acct=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["account_id"])' "$auth")
  : >"$work/curl-up.cfg"
  # "next" between entries only: a trailing one is an entry without a URL,
  # which curl refuses.
  local sep=""
  for f in "$data"/d0000/*.bin; do
    printf '%surl = "%s/file/upload"\nform = "access_token=%s"\nform = "account_id=%s"\nform = "upload_file=@%s"\noutput = "/dev/null"\n' \
      "$sep" "$api" "$tok" "$acct" "$f" >>"$work/curl-up.cfg"
    sep="next"$'\n'
  done
  timed c-up curl -s --parallel --parallel-max 20 --config "$work/curl-up.cfg"
  record d2 loopback curl "upload MB/s" "$(python3 -c "print(round($bytes / $wall / 1e6))")" ""
  python3 - "$api" "$tok" "$acct" "$work/curl-down.cfg" "$d/curl-down" <<'PY'
import json, os, sys, urllib.parse, urllib.request
api, tok, acct, cfg, out = sys.argv[1:]
os.makedirs(out, exist_ok=True)
def call(ep, **kw):
    kw.update(access_token=tok, account_id=acct)
    return json.load(urllib.request.urlopen(api + "/" + ep, urllib.parse.urlencode(kw).encode()))
with open(cfg, "w") as f:
    entries = []
    for e in call("folder/listing", parent_folder_id="")["data"]["files"]:
        if e.get("status", "active") != "active":
            continue
        u = call("file/download", file_id=e["id"])["data"]["download_url"]
        entries.append('url = "%s"\noutput = "%s/%s"\n' % (u, out, e["filename"]))
    f.write("next\n".join(entries))
PY
  timed c-down curl -s --parallel --parallel-max 20 --config "$work/curl-down.cfg"
  record d2 loopback curl "download MB/s" "$(python3 -c "print(round($bytes / $wall / 1e6))")" ""
  stop_emulator "$d/emu" >/dev/null
  rm -rf "$d"
}

for s in "${sets[@]}"; do
  case $s in
    d1) small d1 "${D1_FILES:-10000}" 100 ;;
    d2) large ;;
    d3) small d3 100000 1000 ;;
    *) echo "peers.sh: unknown set $s (d1, d2, d3)" >&2; exit 2 ;;
  esac
done

python3 - "$results" "$commit" "$RTT" "$(nproc)" >bench/RESULTS.md <<'PY'
import collections, sys, time
path, commit, rtt, cores = sys.argv[1:]
rows = collections.OrderedDict()
for line in open(path):
    s, net, tool, measure, value, unit = line.rstrip("\n").split("\t")
    rows.setdefault((s, net, measure, unit), {})[tool] = float(value)
print("# syncd beside its peers\n")
print("Written by `bench/peers.sh` on %s, commit %s, %s cores; loopback and a %s ms round trip "
      "through `bench/delayproxy`. syncd: `syncd once`, default configuration, against `syncd emulator "
      "-concurrent-uploads 100`. rclone v1.76.0: `rclone copy`, 64 transfers and checkers, webdav pacer "
      "off, to `rclone serve webdav`. curl: the same emulator, all files in parallel. Lower is better "
      "for times, RSS and requests; higher for MB/s. The ratio is syncd / peer.\n" % (time.strftime("%Y-%m-%d"), commit, cores, rtt))
print("| set | network | measure | syncd | peer | peer's | ratio |")
print("|---|---|---|---|---|---|---|")
for (s, net, measure, unit), v in rows.items():
    peer = "rclone" if "rclone" in v else ("curl" if "curl" in v else "")
    sv = v.get("syncd")
    pv = v.get(peer) if peer else None
    fmt = lambda x: "" if x is None else ("%g %s" % (x, unit)).strip()
    ratio = "%.2f" % (sv / pv) if sv is not None and pv else ""
    print("| %s | %s | %s | %s | %s | %s | %s |" % (s.upper(), net, measure, fmt(sv), peer, fmt(pv), ratio))
PY
cat bench/RESULTS.md
