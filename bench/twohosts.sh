#!/usr/bin/env bash
# Issue 14's two-host figures.
#
#   bench/twohosts.sh [RUNS] [IDLE_MINUTES] [MODULE] [FROM] [TO]
#       (defaults: 3 3 golang.org/x/net v0.47.0 v0.62.0)
#
# Convergence: a real source tree (a Go module from the module cache) at
# release FROM is synced by host A and host B (two state dirs, two local
# folders, one emulator account, one remote folder). Then:
#   single: host A alone runs `syncd once` after `git checkout TO` in its
#           folder; its wall time is the single-host time of the burst;
#   two:    on a fresh account, A and B both run `syncd run` (poll 2 s);
#           after the same checkout in A's folder, the time until B's folder
#           equals TO's tree is the two-host time.
# Each run prints both, their ratio (target <= 3), and checks that no folder
# and no fresh download of the remote holds a server-made name ("x (2).go",
# ".syncd-TAG-") or a conflict copy.
# Token churn: two idle daemons (poll 30 s) on one account for IDLE_MINUTES;
# the "authorized" log lines of both, per minute (target: far below one
# per poll, i.e. far below 4 per minute for two hosts).
# KEEP=1 keeps the work dir (logs of both daemons) for a look afterwards,
# and a copy of each failed run's dir as fail-RUN;
# LOG=debug logs every operation of both daemons. A run ends as soon as a
# server-made name or a conflict copy appears in B's folder (a failure
# whatever happens next), rather than at the 600 s limit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${1:-3}
IDLE=${2:-3}
MOD=${3:-golang.org/x/net}
FROM=${4:-v0.47.0}
TO=${5:-v0.62.0}
cache=$(go env GOMODCACHE)
for v in "$FROM" "$TO"; do
  [ -d "$cache/$MOD@$v" ] || go mod download "$MOD@$v"
done
work=$(mktemp -d /tmp/twohosts.XXXXXX)
emu=""
pids=()
cleanup() {
  for p in "${pids[@]}" $emu; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "work dir kept: $work" >&2; return; fi
  chmod -R u+w "$work"; rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/syncd" ./cmd/syncd
bin="$work/syncd"

# One git repository outside the synced folders: tag A is FROM, tag B is TO.
g() { git --git-dir="$work/git" --work-tree="$work/tree" -c user.email=b@x -c user.name=bench "$@"; }
mkdir -p "$work/tree"
git init -q --bare "$work/git"
g config core.bare false
cp -r "$cache/$MOD@$FROM/." "$work/tree/"; chmod -R u+w "$work/tree"
g add -A; g commit -qm A; g tag A
g rm -rq .; rm -rf "$work/tree"/*
cp -r "$cache/$MOD@$TO/." "$work/tree/"; chmod -R u+w "$work/tree"
g add -A; g commit -qm B; g tag B
changes=$(git --git-dir="$work/git" diff --name-only A B | wc -l)
echo "tree: $MOD $FROM ($(g ls-tree -r A | wc -l) files) -> $TO ($(g ls-tree -r B | wc -l) files), $changes paths change"

checkout() { git --git-dir="$work/git" --work-tree="$1" "${@:2}"; }
host() { # host DIR POLL: a host's folder at A and its config (log level info)
  mkdir -p "$1/local"
  write_config "$1" "poll_interval: $2
max_delete: 100%"
  sed -i "s/level: warn/level: ${LOG:-info}/" "$1/config.yaml"
  checkout "$1/local" checkout -qf A -- .
}
now() { date +%s.%N; }
# bad DIR: server-made names or conflict copies below DIR (outside .syncd).
bad() { find "$1" -path '*/.syncd' -prune -o \( -name '* ([0-9]*)*' -o -name '*.syncd-*' -o -name '*(conflict *' \) -print | head -5; }
same() { diff -rq -x .syncd "$1" "$2" >/dev/null 2>&1; }
verify() { # verify DIR: a fresh download of the remote folder equals DIR and has no bad name
  local c="$d/check"; rm -rf "$c"; mkdir -p "$c/local"
  sed -e "s|$d/A/local|$c/local|" -e "s|state_dir: .*|state_dir: $c/state|" "$d/A/config.yaml" >"$c/config.yaml"; chmod 600 "$c/config.yaml"
  "$bin" once -config "$c/config.yaml" >"$c/out" 2>&1 || true
  same "$1" "$c/local" && [ -z "$(bad "$c/local")" ]
}

fail=0
ratios=()
for run in $(seq "$RUNS"); do
  # single host
  d="$work/single"; rm -rf "$d"; mkdir -p "$d"
  start_emulator "$bin" "$d"
  host "$d/A" 2s
  "$bin" once -config "$d/A/config.yaml" >"$d/once1" 2>&1
  checkout "$d/A/local" read-tree A; checkout "$d/A/local" checkout -qf B
  t0=$(now)
  "$bin" once -config "$d/A/config.yaml" >"$d/once2" 2>&1 || true
  single=$(echo "$(now) - $t0" | bc)
  kill $emu; wait $emu 2>/dev/null || true

  # two hosts
  d="$work/two"; rm -rf "$d"; mkdir -p "$d"
  start_emulator "$bin" "$d"
  host "$d/A" 2s; host "$d/B" 2s
  "$bin" once -config "$d/A/config.yaml" >"$d/onceA" 2>&1
  "$bin" once -config "$d/B/config.yaml" >"$d/onceB" 2>&1
  "$bin" run -config "$d/A/config.yaml" >"$d/runA.out" 2>"$d/runA.log" & pa=$!
  "$bin" run -config "$d/B/config.yaml" >"$d/runB.out" 2>"$d/runB.log" & pb=$!
  pids=($pa $pb)
  sleep 5 # both daemons past their first pass
  checkout "$d/A/local" read-tree A; checkout "$d/A/local" checkout -qf B
  t0=$(now)
  ok=no
  while [ "$(echo "$(now) - $t0 < 600" | bc)" = 1 ]; do
    if same "$work/tree" "$d/B/local"; then ok=yes; break; fi
    [ -z "$(bad "$d/B/local")" ] || break
    sleep 0.2
  done
  two=$(echo "$(now) - $t0" | bc)
  sleep 3 # let A finish its own bookkeeping
  kill $pa $pb; wait $pa $pb 2>/dev/null || true; pids=()
  names="$(bad "$d/A/local")$(bad "$d/B/local")"
  remote_ok=yes; verify "$work/tree" || remote_ok=no
  gens=$(grep -c '"authorized"\|authorized.*token_generation' "$d/runA.log" "$d/runB.log" | awk -F: '{s+=$2} END {print s}')
  kill $emu; wait $emu 2>/dev/null || true
  ratio=$(echo "scale=2; $two / $single" | bc)
  ratios+=("$ratio")
  verdict=ok
  if [ "$ok" != yes ] || [ -n "$names" ] || [ "$remote_ok" != yes ] || [ "$(echo "$ratio > 3" | bc)" = 1 ]; then
    verdict=FAIL; fail=$((fail+1))
    [ -z "${KEEP:-}" ] || cp -a "$d" "$work/fail-$run" # both daemons' logs and state of this run
  fi
  printf 'run %d: single %.1fs, two hosts %.1fs (B converged: %s), ratio %s, authorizations %s, remote ok %s, bad names [%s]: %s\n' \
    "$run" "$single" "$two" "$ok" "$ratio" "$gens" "$remote_ok" "$names" "$verdict"
done
echo "convergence: $((RUNS-fail)) of $RUNS runs within 3x; ratios ${ratios[*]}"

# Idle token churn.
if [ "$IDLE" != 0 ]; then
  d="$work/idle"; rm -rf "$d"; mkdir -p "$d"
  start_emulator "$bin" "$d"
  host "$d/A" 30s; host "$d/B" 30s
  "$bin" once -config "$d/A/config.yaml" >"$d/onceA" 2>&1
  "$bin" once -config "$d/B/config.yaml" >"$d/onceB" 2>&1
  "$bin" run -config "$d/A/config.yaml" >"$d/runA.out" 2>"$d/runA.log" & pa=$!
  "$bin" run -config "$d/B/config.yaml" >"$d/runB.out" 2>"$d/runB.log" & pb=$!
  pids=($pa $pb)
  sleep 40 # past both first passes
  a0=$(grep -c 'authorized' "$d/runA.log" || true); b0=$(grep -c 'authorized' "$d/runB.log" || true)
  sleep $((IDLE*60))
  a1=$(grep -c 'authorized' "$d/runA.log" || true); b1=$(grep -c 'authorized' "$d/runB.log" || true)
  kill $pa $pb; wait $pa $pb 2>/dev/null || true; pids=()
  n=$(( (a1-a0) + (b1-b0) ))
  echo "idle: $n token changes in $IDLE min between two daemons polling every 30 s: $(echo "scale=2; $n / $IDLE" | bc) per minute (polls: $((4*IDLE)))"
fi
exit $fail
