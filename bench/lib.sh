# Shared by the benchmark scripts (sourced, not run): the emulator as its
# own process and a tree of small synced-to-be files.

# start_emulator BINARY DIR: serves the demo account from DIR/emu; sets emu
# (its pid), url, key1 and key2. EMULATOR=BINARY runs the emulator of that
# binary instead (before/after comparisons against one server).
start_emulator() {
  "${EMULATOR:-$1}" emulator -listen 127.0.0.1:0 -data "$2/emu" -log-level warn >"$2/emu.out" 2>"$2/emu.err" &
  emu=$!
  for _ in $(seq 100); do grep -q listening "$2/emu.out" 2>/dev/null && break; sleep 0.1; done
  url=$(head -1 "$2/emu.out" | sed 's/^listening on //')
  key1=$(grep -m1 '^  key1:' "$2/emu.err" | awk '{print $2}')
  key2=$(grep -m1 '^  key2:' "$2/emu.err" | awk '{print $2}')
}

# make_tree DIR N: N small files in folders of 1,000, all with one old mtime.
make_tree() {
  mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
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
}

# write_config DIR [YAML]: DIR/config.yaml pairing DIR/local with /bench on
# the emulator start_emulator started, plus the extra top-level YAML lines.
write_config() {
  cat >"$1/config.yaml" <<YAML
api:
  url: $url
  key1: "$key1"
  key2: "$key2"
state_dir: $1/state
requests_per_second: 0
${2:-}
log:
  level: warn
pairs:
  - local: $1/local
    remote: /bench
YAML
  chmod 600 "$1/config.yaml"
}
