#!/usr/bin/env bash
# Builds the Debian package: the release binary, then what the binary
# writes about itself (man pages, shell completions, systemd template
# units), then `cargo deb` (installed if missing, pinned). Prints the
# package's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null 2>&1 || cargo install -q --locked cargo-deb --version 3.6.0 >&2
target=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p hbk-cli >&2
hbk="$target/release/hbk"
assets=crates/hbk-cli/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions" "$assets/systemd"
"$hbk" generate --man "$assets/man" \
  --bash-completion "$assets/completions/hbk.bash" \
  --zsh-completion "$assets/completions/_hbk" \
  --fish-completion "$assets/completions/hbk.fish" >&2
"$hbk" plan install-timer --template --exe /usr/bin/hbk --dir "$assets/systemd" >&2
cargo deb -q -p hbk-cli --no-build --no-strip >&2
ls -t "$target"/debian/hbk_*.deb | head -n 1
