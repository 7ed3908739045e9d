#!/usr/bin/env bash
# Builds the Debian package and checks it on this machine: its contents
# (dpkg-deb), an install (dpkg -i), the installed binary, man page and
# systemd units (systemd-analyze verify), and a removal (dpkg -r). Records
# nothing; fails on the first problem. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(scripts/package-deb.sh)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/hbk ./usr/share/man/man1/hbk.1.gz ./usr/share/man/man1/hbk-plan.1.gz \
  ./usr/share/bash-completion/completions/hbk ./usr/share/zsh/vendor-completions/_hbk \
  ./usr/share/fish/vendor_completions.d/hbk.fish ./lib/systemd/system/hbk-plan@.service \
  ./lib/systemd/system/hbk-plan@.timer ./lib/systemd/system/hbk-plan-drill@.timer \
  ./lib/systemd/system/hbk-plan-serve@.service ./usr/share/doc/hbk/examples/plan.toml; do
  grep -Eq " (\./)?${f#./}\$" <<<"$contents" || { echo "missing in the package: $f" >&2; exit 1; }
done
dpkg-deb -f "$deb" Package Version Depends
trap 'dpkg -r hbk >/dev/null 2>&1 || true' EXIT
dpkg -i "$deb" >/dev/null
/usr/bin/hbk version
MANPAGER=cat man hbk | grep -q "restic" || { echo "man hbk shows nothing useful" >&2; exit 1; }
systemd-analyze verify /lib/systemd/system/hbk-plan@homelab.service /lib/systemd/system/hbk-plan@homelab.timer \
  /lib/systemd/system/hbk-plan-drill@homelab.timer /lib/systemd/system/hbk-plan-serve@homelab.service
dpkg -r hbk >/dev/null
if [ -e /usr/bin/hbk ]; then echo "dpkg -r left /usr/bin/hbk behind" >&2; exit 1; fi
echo "package checked: contents, install, hbk version, man hbk, systemd-analyze verify, removal"
