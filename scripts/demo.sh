#!/usr/bin/env bash
# The main job, end to end on this machine: build hbk, back up fixtures/
# into a new local repository under target/demo, list snapshots, run an
# incremental backup, check the repository, restore the latest snapshot
# and compare it byte for byte with the source.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p hbk-cli
HBK=$PWD/target/release/hbk
DEMO=$PWD/target/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
export HBK_REPOSITORY="$DEMO/repo"
printf 'demo password\n' > "$DEMO/password"
export HBK_PASSWORD_FILE="$DEMO/password"
SOURCE=$PWD/fixtures

"$HBK" init
"$HBK" backup "$SOURCE" --tag demo
"$HBK" backup "$SOURCE" --tag demo    # incremental: nothing is read again
"$HBK" snapshots
"$HBK" check --read-data
"$HBK" restore latest --target "$DEMO/restore" --verify
diff -r --no-dereference "$SOURCE" "$DEMO/restore$SOURCE"
echo "demo: backup of $SOURCE restored identically from $HBK_REPOSITORY"
