#!/usr/bin/env bash
# The main job, end to end on this machine: build hbk, then restore the
# fixture repository made by restic 0.14 into target/demo and check that
# every file came back byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p hbk-cli
HBK=target/release/hbk
DEMO=target/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
cp -r fixtures/restic-0.14/repo-v2 "$DEMO/repo"
chmod -R u+w "$DEMO/repo"
export RESTIC_REPOSITORY="$DEMO/repo" RESTIC_PASSWORD=testpass

"$HBK" snapshots
"$HBK" check --read-data
"$HBK" restore latest --target "$DEMO/restore" --verify
# The fixture's source copy stores the symlink `link` as a plain file.
diff -r --exclude=link fixtures/restic-0.14/source/data "$DEMO/restore/data"
[ "$(readlink "$DEMO/restore/data/link")" = hello.txt ]
echo "demo: restore of $RESTIC_REPOSITORY into $DEMO/restore is identical to the source"
