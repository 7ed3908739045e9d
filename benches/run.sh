#!/usr/bin/env bash
# Runs hbk, restic and rustic on the same dataset in one run and prints wall
# time, CPU time, peak RSS and repository size for: initial backup, no-op
# incremental backup, restore; plus the ratios hbk/restic and hbk/rustic.
#
# Usage: benches/run.sh [--scale S] [--work DIR]
# Installs what is missing: GNU time and restic (Debian), rustic (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=1
WORK=target/bench
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v restic >/dev/null || missing+=(restic)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
if ! command -v rustic >/dev/null; then
  echo "installing rustic (cargo install rustic-rs): this takes a while" >&2
  cargo install --locked rustic-rs >&2
fi
cargo build --release -p hbk-cli >&2
HBK=$PWD/target/release/hbk

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DATA=$WORK/data
if [ ! -f "$DATA/.complete-$SCALE" ]; then
  rm -rf "$DATA"
  python3 benches/gen_dataset.py "$DATA" --scale "$SCALE"
  touch "$DATA/.complete-$SCALE"
fi
echo bench > "$WORK/pass"
export RESTIC_PASSWORD_FILE=$WORK/pass RUSTIC_PASSWORD_FILE=$WORK/pass
export RESTIC_CACHE_DIR=$WORK/cache-restic XDG_CACHE_HOME=$WORK/cache-xdg

# measure NAME -- CMD...: appends "NAME wall cpu rss_kib" to results
RESULTS=$WORK/results.txt
: > "$RESULTS"
measure() {
  local name=$1; shift; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.out" "$@" > "$WORK/$name.log" 2>&1 || {
    echo "FAILED: $name" >&2; tail -20 "$WORK/$name.log" >&2; exit 1; }
  read -r wall user sys rss < "$WORK/time.out"
  echo "$name $wall $(awk "BEGIN{print $user + $sys}") $rss" >> "$RESULTS"
}

for tool in hbk restic rustic; do
  repo=$WORK/repo-$tool
  target=$WORK/restore-$tool
  rm -rf "$repo" "$target" "$WORK/cache-restic" "$WORK/cache-xdg"
  case $tool in
    hbk)
      $HBK -r "$repo" init -q
      measure hbk-backup -- $HBK -r "$repo" -q backup "$DATA"
      measure hbk-noop -- $HBK -r "$repo" -q backup "$DATA"
      measure hbk-restore -- $HBK -r "$repo" -q restore latest --target "$target" ;;
    restic)
      restic -r "$repo" init -q
      measure restic-backup -- restic -r "$repo" -q backup "$DATA"
      measure restic-noop -- restic -r "$repo" -q backup "$DATA"
      measure restic-restore -- restic -r "$repo" -q restore latest --target "$target" ;;
    rustic)
      rustic -r "$repo" init >/dev/null 2>&1
      measure rustic-backup -- rustic -r "$repo" --no-progress backup "$DATA"
      measure rustic-noop -- rustic -r "$repo" --no-progress backup "$DATA"
      measure rustic-restore -- rustic -r "$repo" --no-progress restore latest "$target" ;;
  esac
  echo "$tool-repo $(du -sb "$repo" | cut -f1)" > "$WORK/sizes.txt.$tool"
  diff -rq "$DATA" "$target$DATA" >/dev/null || diff -rq "$DATA" "$target" >/dev/null || {
    echo "WARNING: $tool restore differs from the source" >&2; }
  rm -rf "$target"
done

python3 - "$RESULTS" "$WORK" "$SCALE" <<'PY'
import sys, os, platform, datetime, subprocess
res, work, scale = sys.argv[1], sys.argv[2], sys.argv[3]
rows = {}
for line in open(res):
    name, wall, cpu, rss = line.split()
    tool, op = name.split("-", 1)
    rows[(tool, op)] = (float(wall), float(cpu), int(rss) / 1024)
size = {}
for t in ("hbk", "restic", "rustic"):
    p = os.path.join(work, f"sizes.txt.{t}")
    if os.path.exists(p):
        size[t] = int(open(p).read().split()[1]) / (1 << 20)
data = int(subprocess.check_output(["du", "-sb", os.path.join(work, "data")]).split()[0]) / (1 << 20)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Date: {datetime.date.today()}  Machine: {os.cpu_count()} cores, {cpu}, scale {scale}, dataset {data:.0f} MiB\n")
print("| operation | tool | wall s | CPU s | peak RSS MiB | hbk/tool wall | hbk/tool RSS |")
print("|---|---|---|---|---|---|---|")
for op in ("backup", "noop", "restore"):
    h = rows.get(("hbk", op))
    for t in ("hbk", "restic", "rustic"):
        r = rows.get((t, op))
        if not r:
            continue
        ratio = f"{h[0] / r[0]:.2f}" if h and t != "hbk" else ""
        rss = f"{h[2] / r[2]:.2f}" if h and t != "hbk" else ""
        print(f"| {op} | {t} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.0f} | {ratio} | {rss} |")
print("\n| tool | repository MiB |\n|---|---|")
for t, s in size.items():
    print(f"| {t} | {s:.0f} |")
PY
