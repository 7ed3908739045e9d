#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/,
# and the fixture repositories' keys into fuzz/keys/,
# from the restic-made fixture repositories (fixtures/restic-0.14) and
# docs/plan.example.toml. The seeds are committed (about 60 KB); run this
# again when the fixtures or the targets' input format change.
#
# Every input starts with the prefix byte of fuzz/src/lib.rs: bit 0 set
# for a repository of format 2, bit 1 set when the rest is the file as
# stored (sealed with the fixture's master key) rather than its plaintext.
# Plaintexts are the stored files decrypted here with openssl (AES-256-CTR;
# the MAC is not checked) with the master key restic prints, so they are
# the exact bytes restic wrote (for v2 unpacked files, the 0x02 + zstd
# frame); the decompressed JSON comes from `restic cat`.
#
# Needs restic (0.14), openssl, curl, python3, and rclone for real REST
# listings (the test servers' venv, scripts/install-test-servers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/seeds
fixtures=fixtures/restic-0.14
rclone=${HBK_TEST_RCLONE:-$HOME/.cache/hbk/test-venv/bin/rclone}
tmp=$(mktemp -d)
restic_pid=
rclone_pid=
cleanup() {
  [ -n "$restic_pid" ] && kill "$restic_pid" 2>/dev/null || true
  [ -n "$rclone_pid" ] && kill "$rclone_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

rm -rf "$out"
mkdir -p fuzz/keys
for t in pack index key tree snapshot config lock rest_listing plan; do
  mkdir -p "$out/$t"
done

# seed TARGET NAME PREFIX FILE: PREFIX (a byte, in octal) then FILE.
seed() {
  { printf "\\$3"; cat "$4"; } > "$out/$1/$2"
}

# decrypt KEYHEX FILE: the plaintext of a sealed file (IV || data || MAC).
decrypt() {
  local size iv
  size=$(stat -c %s "$2")
  iv=$(head -c 16 "$2" | od -An -tx1 | tr -d ' \n')
  tail -c +17 "$2" | head -c $((size - 32)) |
    openssl enc -d -aes-256-ctr -K "$1" -iv "$iv"
}

export RESTIC_PASSWORD=testpass
for v in 1 2; do
  repo="$tmp/repo-v$v"
  cp -r "$fixtures/repo-v$v" "$repo"
  r() { restic --no-cache --no-lock -q -r "$repo" "$@"; }
  plain=$(printf '%o' $((v - 1)))
  sealed=$(printf '%o' $((v - 1 + 2)))
  r cat masterkey > "$tmp/masterkey"
  key=$(python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(open(sys.argv[1]))["encrypt"]).hex())' "$tmp/masterkey")

  # The fixture's keys for the targets, so no process spends seconds in
  # scrypt: the user key (scrypt of the password) then the master key,
  # 64 bytes each (AES key, MAC k, MAC r); fuzz/src/lib.rs checks that
  # the one opens the key file to the other.
  python3 - "$repo"/keys/* "$tmp/masterkey" > fuzz/keys/v$v.bin <<'PY'
import base64, hashlib, json, sys
kf = json.load(open(sys.argv[1]))
mk = json.load(open(sys.argv[2]))
b = base64.b64decode
user = hashlib.scrypt(b"testpass", salt=b(kf["salt"]), n=kf["N"], r=kf["r"],
                      p=kf["p"], maxmem=1 << 30, dklen=64)
sys.stdout.buffer.write(user + b(mk["encrypt"]) + b(mk["mac"]["k"]) + b(mk["mac"]["r"]))
PY

  seed config "v$v-sealed" "$sealed" "$repo/config"
  decrypt "$key" "$repo/config" > "$tmp/plain"
  seed config "v$v-plain" "$plain" "$tmp/plain"

  for kind in index snapshots; do
    target=${kind%s}
    for f in "$repo/$kind"/*; do
      id=$(basename "$f")
      seed "$target" "v$v-sealed-${id:0:8}" "$sealed" "$f"
      decrypt "$key" "$f" > "$tmp/plain"
      seed "$target" "v$v-stored-${id:0:8}" "$plain" "$tmp/plain"
      r cat "$target" "$id" > "$tmp/json"
      seed "$target" "v$v-json-${id:0:8}" "$plain" "$tmp/json"
    done
  done

  for f in "$repo/keys"/*; do
    seed key "v$v-file" "$plain" "$f"
  done
  seed key "v$v-masterkey" "$sealed" "$tmp/masterkey"

  # Packs: the small (tree) packs whole; every pack's header decrypted.
  for f in "$repo"/data/*/*; do
    id=$(basename "$f")
    size=$(stat -c %s "$f")
    if [ "$size" -lt 65536 ]; then
      seed pack "v$v-sealed-${id:0:8}" "$sealed" "$f"
    fi
    hlen=$(tail -c 4 "$f" | od -An -tu4 | tr -d ' ')
    tail -c $((hlen + 4)) "$f" | head -c "$hlen" > "$tmp/header"
    decrypt "$key" "$tmp/header" > "$tmp/plain"
    seed pack "v$v-header-${id:0:8}" "$plain" "$tmp/plain"
  done

  # Trees: every tree blob's plaintext, no prefix.
  r list blobs | awk '$1 == "tree" { print $2 }' | while read -r id; do
    r cat blob "$id" > "$out/tree/v$v-${id:0:8}"
  done

  # A lock: a backup from a stdin that stays open holds one.
  sleep 120 | restic --no-cache -q -r "$repo" backup --stdin --stdin-filename x &
  restic_pid=$!
  for _ in $(seq 100); do
    ls "$repo/locks"/* >/dev/null 2>&1 && break
    sleep 0.1
  done
  lock=$(ls "$repo/locks"/* | head -1)
  cp "$lock" "$tmp/lock"
  kill "$restic_pid"
  wait "$restic_pid" 2>/dev/null || true
  restic_pid=
  seed lock "v$v-sealed" "$sealed" "$tmp/lock"
  decrypt "$key" "$tmp/lock" > "$tmp/plain"
  seed lock "v$v-stored" "$plain" "$tmp/plain"
  r cat lock "$(basename "$lock")" > "$tmp/json"
  seed lock "v$v-json" "$plain" "$tmp/json"
  rm -f "$repo/locks"/*
done

# REST listings as rclone's restic server sends them, both versions.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$rclone" serve restic --addr "127.0.0.1:$port" "$tmp/repo-v2" >/dev/null 2>&1 &
rclone_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/config" -o /dev/null && break
  sleep 0.1
done
for dir in data index snapshots keys; do
  curl -sf -H 'Accept: application/vnd.x.restic.rest.v2' "http://127.0.0.1:$port/$dir/" > "$tmp/json"
  seed rest_listing "v2-$dir" 1 "$tmp/json"
  # rclone speaks only version 2: the version 1 listing is its names.
  python3 -c 'import json,sys; print(json.dumps([e["name"] for e in json.load(open(sys.argv[1]))]))' "$tmp/json" > "$tmp/names"
  seed rest_listing "v1-$dir" 0 "$tmp/names"
done

cp docs/plan.example.toml "$out/plan/example.toml"

# Records of directories as a backup writes them (hbk-engine's
# backup/dir_states.rs): none, and three with 0, 1 and 2 subdirectories
# depending on two index files.
mkdir -p "$out/dir_states"
python3 - "$out/dir_states" <<'PY'
import hashlib, struct, sys
def h(s):
    return hashlib.sha256(s.encode()).digest()
def record_file(records, fingerprint, index_files):
    body = b"".join(key + digest + struct.pack("<I", len(children)) + b"".join(children)
                    for key, digest, children in records)
    trailer = fingerprint + struct.pack("<I", len(index_files)) + b"".join(index_files)
    return body + trailer + struct.pack("<Q", len(body)) + b"hbkdirs1"
out = sys.argv[1]
open(f"{out}/empty", "wb").write(record_file([], h("options"), []))
records = [(h(f"key {i}"), h(f"digest {i}"), [h(f"child {i} {j}") for j in range(i)]) for i in range(3)]
open(f"{out}/three", "wb").write(record_file(records, h("options"), [h("index a"), h("index b")]))
PY

for t in "$out"/*; do
  printf '%-14s %3d files %7d bytes\n' "$(basename "$t")" "$(ls "$t" | wc -l)" "$(cat "$t"/* | wc -c)"
done
