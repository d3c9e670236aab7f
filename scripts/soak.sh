#!/usr/bin/env bash
# Soak: runs the conformance suite N times in a row and says how often it failed, and how.
#
#   scripts/soak.sh N [plugrig run options...]     e.g. scripts/soak.sh 200
#   SOAK_STRESS=1 scripts/soak.sh 50               the same with stress-ng --cpu 2 beside it
#   SOAK_BIN_DIR=DIR scripts/soak.sh N             with plugrig and plug-sim from DIR
#
# plugrig finds the default rig and features/ through the workspace it was built in: to
# soak a frozen copy while the tree changes, name them too, e.g.
#   SOAK_BIN_DIR=/frozen/bin scripts/soak.sh 200 --rig /frozen/rigs/sim.toml /frozen/features
#
# Builds once (release), then runs `plugrig run --report DIR` N times (default rig unless
# --rig is given). Prints a line per run (exit code, closing line, wall time) and at the end
# the counts, the wall times (min / median / max) and every failed scenario of every run
# with the first line of its error, from each run's verdict.txt. Each run's report stays
# in $SOAK_DIR (default: a new temporary directory) for a failure's timeline and capture.
# Exits 1 when any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: scripts/soak.sh N [plugrig run options...]}
shift
# SOAK_BIN_DIR: a directory holding plugrig and plug-sim already built (CI's, or a copy
# that a build during the soak cannot change); otherwise they are built here.
if [ -n "${SOAK_BIN_DIR:-}" ]; then
  bins=$(cd "$SOAK_BIN_DIR" && pwd)
else
  cargo build --release -q -p plugrig -p plug-sim
  bins=$PWD/target/release
fi
bin=$bins/plugrig
export PLUGRIG_SIM_BIN=$bins/plug-sim
dir=${SOAK_DIR:-$(mktemp -d -t plugrig-soak.XXXXXX)}
mkdir -p "$dir"
stress_pid=
if [ -n "${SOAK_STRESS:-}" ]; then
  command -v stress-ng >/dev/null || { echo "soak: SOAK_STRESS needs stress-ng" >&2; exit 2; }
  stress-ng --cpu 2 --timeout 0 --quiet &
  stress_pid=$!
fi
trap '[ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null; true' EXIT
echo "soak: $n runs of plugrig run $*${stress_pid:+ (stress-ng --cpu 2 beside)}; reports in $dir"
failed=0
walls=()
for i in $(seq 1 "$n"); do
  out="$dir/run-$i"
  mkdir -p "$out"
  start=$(date +%s.%N)
  rc=0
  "$bin" run --report "$out" "$@" >"$out/stdout.txt" 2>&1 || rc=$?
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  walls+=("$wall")
  closing=$(grep -E '^conformance: ' "$out/stdout.txt" | tail -1 || true)
  printf 'run %d/%d: exit %d, %s, %.1f s\n' "$i" "$n" "$rc" "${closing:-no closing line}" "$wall"
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
done
echo
echo "soak: $((n - failed)) of $n runs passed, $failed failed"
printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {printf "soak: wall time min %.1f s, median %.1f s, max %.1f s\n", a[1], a[int((NR+1)/2)], a[NR]}'
if [ "$failed" -gt 0 ]; then
  echo "soak: the failures, run by run (the scenario, then the first line of its error):"
  for i in $(seq 1 "$n"); do
    v="$dir/run-$i/verdict.txt"
    if [ -f "$v" ] && ! head -1 "$v" | grep -q ' 0 failed, 0 skipped'; then
      echo "  run $i: $(head -1 "$v")"
      # The failure report: from the second line to the rig's jitter line.
      sed -n '2,/^rig jitter/p' "$v" | grep -v '^rig jitter' | sed 's/^/    /' || true
      grep '^SKIPPED' "$dir/run-$i/stdout.txt" | sed 's/^/    /' || true
    elif [ ! -f "$v" ]; then
      echo "  run $i: no verdict.txt; see $dir/run-$i/stdout.txt:"
      tail -3 "$dir/run-$i/stdout.txt" | sed 's/^/    /'
    fi
  done
  exit 1
fi
