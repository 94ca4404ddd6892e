#!/usr/bin/env bash
# The git-checkout criterion of issue 13: a real source tree (a Go module
# from the module cache) is synced; a `git checkout` of another release in
# the local folder rewrites it (modifications, additions, deletions, and
# new files that reuse deleted files' inodes); one `syncd once` must then
# exit 0, and a fresh download of the remote folder must equal the tree.
#
#   bench/gitcheckout.sh [RUNS] [MODULE] [FROM] [TO]
#       (defaults: 3 golang.org/x/net v0.47.0 v0.62.0)
#
# Both versions come from the module cache (downloaded when missing).
# The binary is built from this checkout; the emulator runs as its own
# process with requests_per_second 0 and default concurrency.
#
# KEEP=1 keeps each failed run as WORK/fail-RUN (moved, so the local
# tree's inodes stay as the pass saw them), with pre/: the state and the
# emulator's data as they were before the failing pass, to replay it.
# LOG=debug logs every operation of that pass. KEEP=all keeps passing runs
# too (as WORK/ok-RUN).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${1:-3}
MOD=${2:-golang.org/x/net}
FROM=${3:-v0.47.0}
TO=${4:-v0.62.0}
cache=$(go env GOMODCACHE)
src_a="$cache/$MOD@$FROM"
src_b="$cache/$MOD@$TO"
for v in "$FROM" "$TO"; do
  [ -d "$cache/$MOD@$v" ] || go mod download "$MOD@$v"
done
work=$(mktemp -d /tmp/gitcheckout.XXXXXX)
emu=""
cleanup() {
  kill $emu 2>/dev/null || true; wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ] && [ -n "$(find "$work" -maxdepth 1 \( -name 'fail-*' -o -name 'ok-*' \) -print -quit)" ]; then
    echo "runs kept: $work" >&2; return
  fi
  chmod -R u+w "$work"; rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/syncd" ./cmd/syncd

# One git repository, outside the synced folder (its .git would be synced
# too): commit A is version FROM, commit B is version TO.
g() { git --git-dir="$work/git" --work-tree="$work/tree" -c user.email=b@x -c user.name=bench "$@"; }
mkdir -p "$work/tree"
git init -q --bare "$work/git"
g config core.bare false
cp -r "$src_a/." "$work/tree/"; chmod -R u+w "$work/tree"
g add -A; g commit -qm A; g tag A
g rm -rq .; rm -rf "$work/tree"/*
cp -r "$src_b/." "$work/tree/"; chmod -R u+w "$work/tree"
g add -A; g commit -qm B; g tag B
echo "tree: $MOD $FROM ($(g ls-tree -r A | wc -l) files) -> $TO ($(g ls-tree -r B | wc -l) files)"

fail=0
for run in $(seq "$RUNS"); do
  d="$work/run"
  rm -rf "$d"; mkdir -p "$d"
  start_emulator "$work/syncd" "$d"
  write_config "$d"
  # The synced folder is a worktree of the repository at A.
  rm -rf "$d/local"; mkdir -p "$d/local"
  git --git-dir="$work/git" --work-tree="$d/local" checkout -qf A -- .
  "$work/syncd" once -config "$d/config.yaml" >"$d/once1.out" 2>&1 || { echo "run $run: first sync failed"; cat "$d/once1.out"; fail=$((fail+1)); kill $emu; wait $emu 2>/dev/null || true; continue; }
  # git checkout B in that folder: git deletes, rewrites and creates files.
  git --git-dir="$work/git" --work-tree="$d/local" read-tree A
  git --git-dir="$work/git" --work-tree="$d/local" checkout -qf B
  code=0
  sed "s/level: warn/level: ${LOG:-info}/" "$d/config.yaml" >"$d/info.yaml"; chmod 600 "$d/info.yaml"
  if [ -n "${KEEP:-}" ]; then rm -rf "$d/pre"; mkdir -p "$d/pre"; cp -a "$d/state" "$d/emu" "$d/pre/"; fi
  "$work/syncd" once -config "$d/info.yaml" >"$d/once2.out" 2>"$d/once2.log" || code=$?
  # Ops of the pass that failed or were skipped: none may be (nothing but
  # syncd touches either side).
  bad=$(grep -cE '"msg":"(skipped|failed)"|\b(skipped|failed)\b.*"op"' "$d/once2.log" || true)
  # Compare with a fresh download of the remote folder.
  sed -e "s|$d/local|$d/check|" -e "s|state_dir: .*|state_dir: $d/state2|" "$d/config.yaml" >"$d/check.yaml"
  chmod 600 "$d/check.yaml"; mkdir -p "$d/check"
  "$work/syncd" once -config "$d/check.yaml" >"$d/check.out" 2>&1 || true
  same=yes
  diff -r -x .syncd "$d/local" "$d/check" >"$d/diff.out" 2>&1 || same=no
  if [ "$code" != 0 ] || [ "$same" != yes ] || [ "$bad" != 0 ]; then
    fail=$((fail+1))
    echo "run $run: once exit $code, identical $same, $bad ops skipped or failed"
    # (|| true: head closing the pipe early must not end the script under pipefail)
    { grep -E 'skipped|failed' "$d/once2.log" | head -10; } || true
    { grep -v '^$' "$d/once2.out" | head -20; } || true
    head -20 "$d/diff.out" || true
    if [ -n "${KEEP:-}" ]; then kill $emu; wait $emu 2>/dev/null || true; mv "$d" "$work/fail-$run"; continue; fi
  else
    echo "run $run: ok: $(grep -v '^$' "$d/once2.out" | tail -1)"
    if [ "${KEEP:-}" = all ]; then kill $emu; wait $emu 2>/dev/null || true; mv "$d" "$work/ok-$run"; continue; fi
  fi
  kill $emu; wait $emu 2>/dev/null || true
done
echo "git checkout $MOD $FROM -> $TO: $((RUNS-fail)) of $RUNS runs clean"
[ "$fail" = 0 ]
