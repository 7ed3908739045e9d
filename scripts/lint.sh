#!/usr/bin/env bash
# Static checks CI runs before the tests: formatting, clippy with warnings
# as errors, the docs (broken links and missing docs fail), the MSRV
# against the locked dependencies, and import circles between files.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== rust-version"
python3 scripts/check-msrv.py
echo "== import circles"
python3 scripts/import-cycles.py
