#!/usr/bin/env python3
"""A freshly made ext4 file system per restore, and the size of a tree.

Restoring into a directory where files were just deleted measures ext4's
inode and block allocators in a worn state, and a second tool would find a
warmer or more fragmented file system than the first. So each restore gets
its own loop-mounted ext4 image, made just before and thrown away just
after. The inode tables are written by mkfs (lazy_itable_init=0) so no
background initialisation thread competes with the measured restore.
Needs root (mount).
"""
import os
import subprocess
from dataclasses import dataclass


@dataclass
class TreeStats:
    """What a restore of a tree needs: bytes, files and directories."""

    bytes: int
    files: int
    dirs: int


def tree_stats(root):
    """Counts the regular files, their bytes and the directories under root."""
    st = TreeStats(0, 0, 0)
    for dirpath, dirnames, filenames in os.walk(root):
        st.dirs += 1
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                st.files += 1
                st.bytes += os.path.getsize(path)
    return st


def tree_bytes(root):
    """Bytes of all regular files under root (a repository's size)."""
    return tree_stats(root).bytes


class FreshFs:
    """Context manager: a new ext4 file system mounted for one restore."""

    def __init__(self, work, stats):
        self.image = os.path.join(work, "restore.img")
        self.mnt = os.path.join(work, "mnt")
        blocks = stats.bytes + 4096 * (stats.files + stats.dirs)
        # Room for three times the data: ext4 starts writing delayed
        # allocations back as soon as half of its free blocks are dirty
        # (ext4_nonda_switch), so an image sized close to the data makes
        # every restore wait for the disk near its end, which measures the
        # disk, the same for every tool, rather than the tool. A user
        # restores onto a disk with room to spare. The image is sparse.
        self.size = 3 * blocks + (1 << 30)
        self.inodes = int((stats.files + stats.dirs) * 1.3) + 10000

    def __enter__(self):
        self._cleanup()
        os.makedirs(self.mnt, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        run(["mkfs.ext4", "-q", "-F", "-N", str(self.inodes)]
            + ["-E", "lazy_itable_init=0,lazy_journal_init=0", self.image])
        run(["mount", "-o", "loop", self.image, self.mnt])
        return self.mnt

    def __exit__(self, *exc):
        self._cleanup()
        return False

    def _cleanup(self):
        if os.path.ismount(self.mnt):
            run(["umount", self.mnt])
        if os.path.exists(self.image):
            os.remove(self.image)


def run(argv):
    """Runs a setup command, failing loudly."""
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


