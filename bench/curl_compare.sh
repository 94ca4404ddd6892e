#!/usr/bin/env bash
# Compares remote.Client's upload and download throughput with curl's
# against the same emulator in the same run, at 1 MiB and 256 MiB (or the
# sizes given as arguments, in bytes). The emulator runs in its own process
# (bench/emuserve); bench/curlcmp drives curl and the client alternately and
# reports the client's peak RSS, which must not grow with the file size.
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
for tool in curl md5sum; do command -v $tool >/dev/null || { echo "$tool is required" >&2; exit 2; }; done

work=$(mktemp -d)
emu_pid=""
cleanup() {
	if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/emuserve" ./bench/emuserve
go build -o "$work/curlcmp" ./bench/curlcmp
"$work/emuserve" -listen 127.0.0.1:0 -data "$work/data" >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do
	grep -q '^listening on ' "$work/emu.out" 2>/dev/null && break
	sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/emu.out" | head -1)
[ -n "$url" ] || { echo "emulator did not start:"; cat "$work/emu.err"; exit 1; } >&2
echo "emulator at $url"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=($((1 << 20)) $((256 << 20)))
for size in "${sizes[@]}"; do
	rounds=3
	[ "$size" -le $((16 << 20)) ] && rounds=20
	echo "--- $((size >> 20)) MiB x $rounds rounds"
	"$work/curlcmp" -url "$url" -size "$size" -rounds "$rounds" -dir "$work" | tail -4
done
