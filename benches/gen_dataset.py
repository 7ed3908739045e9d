#!/usr/bin/env python3
"""Generates the benchmark dataset: a homelab's typical backup sources.

* small/   many small files (configs, source trees, photos' sidecars);
* vm/      VM-image-like files: random blocks, long zero runs and blocks
           repeated within and across images;
* pbs/     a Proxmox Backup Server datastore: .chunks/XXXX/<sha256> files
           of 1-4 MiB plus vm/ID/TIME/ index files.

Deterministic for a given seed and scale, so runs are comparable.
Usage: gen_dataset.py DIR [--scale S] (S=1 is about 1.5 GiB).
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    rng = random.Random(20261127)
    s = a.scale
    small_files(a.dir, rng, int(20000 * s))
    vm_images(a.dir, rng, 2, int(512 * s))
    pbs_datastore(a.dir, rng, int(160 * s))


if __name__ == "__main__":
    main()
