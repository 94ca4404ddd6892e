#!/usr/bin/env bash
# The simulation sweep of issue 13's "Done when": SEEDS consecutive seeds
# (default 10,000) from FIRST (default 1) of each of TestSim,
# TestSimIncremental, TestSimOneWay, TestSimIgnore and TestSimTwoHosts, on
# one build of the package's test binary, in two processes of one core
# each (a seed runs one goroutine at a time, and two processes with
# GOMAXPROCS=1 spend less CPU than one with two).
#
#   bench/simsweep.sh [SEEDS] [FIRST] [FLAG...]
#
# FLAGs go to every run (-twin, -one-worker, -steps N). Each process runs
# one half of every test's range; the report gives, per test, the seeds
# without a violation, those skipped as known engine bugs (sweepBugs), the
# failed ones with their replay commands, and the CPU time. The logs stay
# in the directory printed at the end; the commit the binary was built
# from is in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-10000}
FIRST=${2:-1}
shift $(($# < 2 ? $# : 2))
extra=("$@")
work=$(mktemp -d /tmp/simsweep.XXXXXX)
go test -c -o "$work/sim.test" ./sync/sim
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo "+changes")
half=$(((SEEDS + 1) / 2))
tests=("TestSim -seeds" "TestSimIncremental -inc-seeds" "TestSimOneWay -oneway-seeds"
  "TestSimIgnore -ignore-seeds" "TestSimTwoHosts -seeds2")

# worker I runs the I-th half (0, 1) of every test's range.
worker() {
  local i=$1 first n t name flag
  if [ "$i" = 0 ]; then first=$FIRST n=$half; else first=$((FIRST + half)) n=$((SEEDS - half)); fi
  [ "$n" -gt 0 ] || return 0
  for t in "${tests[@]}"; do
    read -r name flag <<<"$t"
    # shellcheck disable=SC2016
    /usr/bin/time -f '%U %S %e' -o "$work/$name.$i.time" env GOMAXPROCS=1 sh -c 'cd sync/sim && exec "$@"' sh \
      "$work/sim.test" -test.run "^$name\$" "$flag" "$n" -first-seed "$first" -shrink=false \
      -test.parallel 1 -test.v -test.timeout 0 "${extra[@]}" >"$work/$name.$i.log" 2>&1 || true
  done
}
start=$(date +%s)
worker 0 &
w0=$!
worker 1 &
w1=$!
wait $w0 $w1
wall=$(($(date +%s) - start))

echo "simulation sweep: $SEEDS seeds from $FIRST of each test, commit $commit, flags: ${extra[*]:-none}"
for t in "${tests[@]}"; do
  read -r name _ <<<"$t"
  logs=("$work/$name".*.log)
  pass=$(cat "${logs[@]}" | grep -c "^    --- PASS: $name/" || true)
  skip=$(cat "${logs[@]}" | grep -c "^    --- SKIP: $name/" || true)
  fail=$(cat "${logs[@]}" | grep "^    --- FAIL: $name/" | sed -E "s|.*--- FAIL: $name/([0-9]+).*|\\1|" | tr '\n' ' ' || true)
  cpu=$(cat "$work/$name".*.time | awk '{s += $1 + $2} END {printf "%.1f", s}')
  printf '%-20s %6d clean  %3d skipped (known bugs)  failed: %s  %5s s CPU (%.3f s/seed)\n' \
    "$name" "$pass" "$skip" "${fail:-none}" "$cpu" "$(echo "$cpu $SEEDS" | awk '{print $1 / $2}')"
  if [ "$pass" -eq 0 ] && [ "$skip" -eq 0 ] && [ -z "$fail" ]; then
    echo "  no result: see $work/$name.*.log"
  fi
  cat "${logs[@]}" | grep -E '^\s+replay: ' | sed -E 's/^\s+/  /' | sort -u || true
done
echo "wall time ${wall}s on two processes; logs in $work"
