#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and fails on a crash:
#   bash fuzz/run.sh [SECONDS]
# Installs cargo-fuzz if needed. cargo-fuzz passes nightly-only flags
# (sanitizers, coverage); RUSTC_BOOTSTRAP=1 lets the pinned stable compiler
# accept them.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
mkdir -p target
for target in $(cargo fuzz list); do
  echo "fuzz: $target for ${seconds}s" >&2
  log=target/fuzz-$target.log
  status=0
  cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^stat::number_of_executed_units|^#[0-9]+ +DONE" "$log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $target failed (exit $status); the input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
