#!/usr/bin/env bash
# Runs hbk's fuzz targets (fuzz/, cargo-fuzz on nightly; see
# docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh --smoke                    every target briefly (CI)
#   scripts/fuzz.sh --long SECONDS [TARGET…]   SECONDS per target
#
# --smoke builds the targets without sanitizers in the dev profile (the
# cheapest build libFuzzer runs on; HBK_FUZZ_SMOKE_SECONDS a target,
# default 8) and fuzzes from the committed seeds (fuzz/seeds) into a
# throw-away corpus. --long builds optimised with debug assertions
# (cargo-fuzz's release build) but without AddressSanitizer: hbk's crates
# forbid unsafe code and the C libraries (zstd, aws-lc) are not
# instrumented by it anyway, so it would only halve the inputs tried. It
# grows fuzz/corpus/TARGET (not committed) from run to run. Each target runs as one process (one core) with a
# 10-second limit per input, so a hang counts as a crash.
#
# A crash stops that target, leaves its input in fuzz/artifacts/TARGET/
# and makes the script exit 1 after the others ran; reproduce it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# Installs cargo-fuzz (the Rust package registry) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(pack index key tree snapshot config lock rest_listing plan pbs_chunk dir_states)
usage() {
  echo "usage: $0 --smoke | --long SECONDS [TARGET…]" >&2
  exit 2
}
mode=${1:-}
case "$mode" in
  --smoke)
    seconds=${HBK_FUZZ_SMOKE_SECONDS:-8}
    build=(--sanitizer none --dev)
    ;;
  --long)
    seconds=${2:-}
    [[ "$seconds" =~ ^[0-9]+$ ]] || usage
    build=(--sanitizer none)
    if [ $# -gt 2 ]; then targets=("${@:3}"); fi
    ;;
  *) usage ;;
esac

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Outside the clone, like the test servers' venv: a clean clone on a
# machine that ran this before rebuilds only what changed.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/hbk/fuzz-target}
cd fuzz
start=$(date +%s)
cargo +nightly fuzz build "${build[@]}" --features libfuzzer
echo "fuzz build: $(($(date +%s) - start)) s"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()
printf '%-14s %12s %8s %8s %s\n' target execs seconds corpus result > "$tmp/table"
for t in "${targets[@]}"; do
  if [ "$mode" = --smoke ]; then
    corpus="$tmp/corpus-$t"
  else
    corpus="corpus/$t"
  fi
  mkdir -p "$corpus"
  result=ok
  cargo +nightly fuzz run "${build[@]}" --features libfuzzer "$t" "$corpus" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    > "$tmp/$t.log" 2>&1 || result=CRASH
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$tmp/$t.log" | tail -1)
  printf '%-14s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${took:-?}" \
    "$(find "$corpus" -type f | wc -l)" "$result" >> "$tmp/table"
  if [ "$result" != ok ]; then
    failed+=("$t")
    echo "== $t: the end of its log"
    tail -40 "$tmp/$t.log"
  fi
done
cat "$tmp/table"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}; inputs in fuzz/artifacts/" >&2
  exit 1
fi
echo "fuzz: $((${#targets[@]})) targets, no crash ($(($(date +%s) - start)) s with the build)"
