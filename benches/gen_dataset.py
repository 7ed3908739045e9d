#!/usr/bin/env python3
"""Generates the benchmark dataset: a homelab's typical backup sources.

* small/   many small files (configs, source trees, photos' sidecars);
* vm/      VM-image-like files: random blocks, long zero runs and blocks
           repeated within and across images;
* pbs/     a Proxmox Backup Server datastore: .chunks/XXXX/<sha256> files
           of 1-4 MiB plus vm/ID/TIME/ index files.

With --mode tiny it makes instead the many-small-files case: 200,000 files
of tens to a few hundred text-like bytes in about 18,500 directories nested
three levels deep (scaled by S), unevenly filled as real trees are.

Deterministic for a given seed, mode and scale, so runs are comparable.
--parts picks parts of the mixed mode (the WAN benchmark uses vm,pbs: bulk
data in few directories, at S=0.3 about 440 MB).

Usage: gen_dataset.py DIR [--mode mixed|tiny] [--scale S] [--parts small,vm,pbs]
(mixed: S=1 is about 1.5 GiB, S=1.14 about 1.7 GiB).
"""
import argparse
import hashlib
import os
import random


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def small_files(root, rng, count):
    for i in range(count):
        d = os.path.join(root, "small", f"d{i % 97:02d}", f"e{i % 13}")
        size = int(rng.expovariate(1 / 6000)) % 65536
        # Text-like content compresses, as configs and sources do.
        words = [b"alpha", b"beta", b"gamma", b"delta", b"\n", b"=", b"value", b"%d" % i]
        data = b" ".join(rng.choice(words) for _ in range(size // 5 + 1))[:size]
        write(os.path.join(d, f"f{i:06d}.txt"), data)


def vm_images(root, rng, count, size_mib):
    block = 1 << 20
    shared = [rng.randbytes(block) for _ in range(8)]
    for n in range(count):
        path = os.path.join(root, "vm", f"vm-{100 + n}-disk-0.raw")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            for _ in range(size_mib):
                r = rng.random()
                if r < 0.35:
                    f.write(bytes(block))
                elif r < 0.55:
                    f.write(rng.choice(shared))
                else:
                    f.write(rng.randbytes(block))


def pbs_datastore(root, rng, chunks):
    base = os.path.join(root, "pbs")
    digests = []
    for _ in range(chunks):
        data = rng.randbytes(rng.randint(1 << 20, 4 << 20))
        digest = hashlib.sha256(data).hexdigest()
        write(os.path.join(base, ".chunks", digest[:4], digest), data)
        digests.append(digest)
    for vmid in (100, 101, 102):
        for t in ("2026-11-01T02:00:00Z", "2026-11-02T02:00:00Z"):
            idx = "".join(rng.choice(digests) + "\n" for _ in range(64)).encode()
            write(os.path.join(base, "vm", str(vmid), t, "drive-scsi0.img.fidx"), idx)
            write(os.path.join(base, "vm", str(vmid), t, "index.json.blob"), b'{"backup-type":"vm"}')


WORDS = (
    "the of and to in is for on with as at by from port host name user "
    "path value true false enable disable listen server client timeout "
    "# = : { } [ ] - 0 1 2 8 10 80 443 1024 3600 /etc /var/lib /srv"
).split()


def tiny_tree(root, rng, files, dirs):
    """`files` files of 10-600 bytes in about `dirs` directories, 3 levels."""
    side = dirs ** (1 / 3)
    top = max(1, round(side * 0.95))
    mid = max(1, round(side * 1.06))
    leaf = max(1, round((dirs - top - top * mid) / (top * mid)))
    all_dirs = []
    for a in range(top):
        da = os.path.join(root, f"proj{a:02d}")
        all_dirs.append(da)
        for b in range(mid):
            db = os.path.join(da, f"mod{b:02d}")
            all_dirs.append(db)
            for c in range(leaf):
                all_dirs.append(os.path.join(db, f"pkg{c:02d}"))
    for d in all_dirs:
        os.makedirs(d, exist_ok=True)
    # Uneven fill: a few directories hold many files, most hold a few.
    weights = [rng.paretovariate(1.5) for _ in all_dirs]
    targets = rng.choices(range(len(all_dirs)), weights=weights, k=files)
    for i, d in enumerate(targets):
        size = min(600, max(10, int(rng.lognormvariate(4.6, 0.8))))
        text = " ".join(rng.choices(WORDS, k=size // 3 + 1)).encode()[:size]
        with open(os.path.join(all_dirs[d], f"f{i:06d}.conf"), "wb") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--mode", choices=("mixed", "tiny"), default="mixed")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--parts", default="small,vm,pbs", help="parts of the mixed mode")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    s = a.scale
    if a.mode == "tiny":
        tiny_tree(a.dir, random.Random(20261127), max(1, int(200000 * s)), max(4, int(18500 * s)))
        return
    # Each part draws from its own generator, so leaving one out does not
    # change the others.
    if "small" in parts:
        small_files(a.dir, random.Random(20261127), max(1, int(20000 * s)))
    if "vm" in parts:
        vm_images(a.dir, random.Random(20261128), 2, max(1, int(512 * s)))
    if "pbs" in parts:
        pbs_datastore(a.dir, random.Random(20261129), max(1, int(160 * s)))


if __name__ == "__main__":
    main()
