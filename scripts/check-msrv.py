#!/usr/bin/env python3
"""Checks that the workspace's `rust-version` is at least the newest
`rust-version` any locked dependency of the workspace declares, so the MSRV
we publish is one that really builds. Exits 1 and names the offenders when
it is not."""

import json
import subprocess
import sys


def version(s):
    return tuple(int(x) for x in s.split(".")[:3]) + (0,) * (3 - len(s.split(".")))


def main():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--locked"]))
    tree = subprocess.check_output(
        ["cargo", "tree", "--workspace", "--locked", "-e", "normal,build,dev",
         "--prefix", "none", "--format", "{p}"], text=True)
    used = {tuple(line.split()[:2]) for line in tree.splitlines() if line.strip()}
    members = set(meta["workspace_members"])
    ours = {version(p["rust_version"]) for p in meta["packages"]
            if p["id"] in members and p.get("rust_version")}
    if len(ours) != 1:
        print(f"error: workspace members declare {len(ours)} different rust-versions; "
              "inherit the workspace's (rust-version.workspace = true)")
        return 1
    msrv = ours.pop()
    need = [(version(p["rust_version"]), p["name"], p["version"]) for p in meta["packages"]
            if p.get("rust_version") and p["id"] not in members
            and (p["name"], "v" + p["version"]) in used]
    too_new = sorted(n for n in need if n[0] > msrv)
    if too_new:
        for v, name, ver in too_new:
            print(f"error: {name} {ver} needs Rust {'.'.join(map(str, v))}, "
                  f"above the workspace's rust-version {'.'.join(map(str, msrv))}")
        return 1
    top = max(need) if need else None
    print(f"rust-version {'.'.join(map(str, msrv))} covers every locked dependency"
          + (f" (newest: {top[1]} {top[2]} needs {'.'.join(map(str, top[0]))})" if top else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
