#!/usr/bin/env python3
"""Reports import circles between the source files of each crate.

File A depends on file B when A names an item that B defines: through a
`use` of `crate::`, `super::` or `self::` paths, a path written inline in
code, or a path through one of A's own child modules. Re-exports are
followed to the file that defines the item, so `crate::Error` counts as a
use of `error.rs`, not of `lib.rs`, and a `pub use` alone (a facade)
is no use of the file it re-exports from. Declaring a module (`mod x;`) is not a
use. Test-only modules are left out. Exits 1 when any crate has a circle.

Usage: scripts/import-cycles.py [CRATE_SRC_DIR ...]   (default: crates/*/src, tests/src)
"""

import glob
import os
import re
import sys

MOD_DECL = re.compile(r"^\s*((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
USE_STMT = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
INLINE_PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")


def strip_source(text):
    """The source without comments, string and char literals."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 2)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(src):
    """`src` without inline `#[cfg(test)] mod x { ... }` blocks."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", src)
        if not m:
            return src
        depth, i = 1, m.end()
        while i < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        src = src[: m.start()] + src[i:]


def expand_use_tree(tree):
    """The paths of a use tree, aliases kept as `path@alias`:
    `a::{b, c::{d as e}}` -> a::b, a::c::d@e."""
    tree = re.sub(r"\s+as\s+(\w+)", r"@\1", tree)
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    def walk(prefix, s):
        if "{" in s and s.endswith("}"):
            head, inner = s[: s.index("{")], s[s.index("{") + 1: -1]
            for part in split_top(inner):
                yield from walk(prefix + head, part)
        else:
            yield prefix + s

    for p in walk("", tree):
        yield re.sub(r"(::)?self(?=$|@)", "", p)


class Crate:
    def __init__(self, src_dir):
        self.src = src_dir
        self.files = {}  # module path tuple -> file
        self.modules = {}  # file -> module path tuple
        self.test_files = set()
        roots = [f for f in ("lib.rs", "main.rs") if os.path.exists(os.path.join(src_dir, f))]
        for r in roots[:1]:
            self._load(os.path.join(src_dir, r), (), is_root=True, is_test=False)
        self.text = {}
        for f, path in self.modules.items():
            with open(f, encoding="utf-8") as h:
                self.text[f] = drop_test_modules(strip_source(h.read()))
        self.reexports = {f: self._reexports(f) for f in self.modules}

    def _load(self, file, modpath, is_root, is_test):
        if not os.path.exists(file):
            return
        if is_test:
            self.test_files.add(file)
            return
        self.files[modpath] = file
        self.modules[file] = modpath
        base = os.path.dirname(file) if is_root or file.endswith("mod.rs") else file[:-3]
        with open(file, encoding="utf-8") as h:
            text = strip_source(h.read())
        for m in MOD_DECL.finditer(text):
            attrs, name = m.group(1), m.group(2)
            test = "cfg(test)" in attrs
            path_attr = re.search(r'#\[path\s*=\s*""\]', attrs)
            child = os.path.join(base, name + ".rs")
            if not os.path.exists(child):
                child = os.path.join(base, name, "mod.rs")
            if path_attr:
                continue
            self._load(child, modpath + (name,), False, test)

    def _abs(self, file, path):
        """Absolute module path of a `crate::`/`super::`/`self::` or child path."""
        parts = path.split("::")
        cur = self.modules[file]
        if parts[0] == "crate":
            cur, parts = (), parts[1:]
        elif parts[0] in ("super", "self"):
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    cur = cur[:-1]
                parts = parts[1:]
        elif cur + (parts[0],) in self.files:
            pass
        else:
            return None
        return cur + tuple(p for p in parts if p)

    def _reexports(self, file):
        out = {}
        for m in USE_STMT.finditer(self.text[file]):
            if not m.group(1):
                continue
            for p in expand_use_tree(m.group(2)):
                path, _, alias = p.partition("@")
                absolute = self._abs(file, path)
                if absolute and path:
                    out[alias or path.split("::")[-1]] = absolute
        return out

    def resolve(self, absolute, seen=()):
        """The file defining the item at `absolute`."""
        for k in range(len(absolute), -1, -1):
            prefix = absolute[:k]
            if prefix in self.files:
                f = self.files[prefix]
                rest = absolute[k:]
                if rest and rest[0] in self.reexports.get(f, {}) and (f, rest[0]) not in seen:
                    target = self.reexports[f][rest[0]] + rest[1:]
                    return self.resolve(target, seen + ((f, rest[0]),))
                return f
        return None

    def edges(self):
        for f in self.modules:
            text = self.text[f]
            paths = []
            for m in USE_STMT.finditer(text):
                if m.group(1):
                    continue  # a re-export: followed when resolving, not a use
                paths.extend(p.partition("@")[0] for p in expand_use_tree(m.group(2)))
            text = USE_STMT.sub("", text)
            paths.extend(m.group(1) for m in INLINE_PATH.finditer(text))
            children = [p[-1] for p in self.files if p[:-1] == self.modules[f] and len(p) == len(self.modules[f]) + 1]
            for c in children:
                paths.extend(re.findall(r"(?<![\w:])(%s(?:::\w+)+)" % re.escape(c), text))
            for p in paths:
                absolute = self._abs(f, p)
                if absolute is None:
                    continue
                target = self.resolve(absolute)
                if target and target != f and target not in self.test_files:
                    yield f, target


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out, graph


def main():
    dirs = sys.argv[1:] or sorted(glob.glob("crates/*/src")) + ["tests/src"]
    found = 0
    for d in dirs:
        crate = Crate(d)
        comps, graph = cycles(set(crate.edges()))
        for comp in comps:
            found += 1
            names = set(comp)
            print(f"import circle in {d}:")
            for a in comp:
                for b in sorted(graph[a] & names):
                    print(f"  {os.path.relpath(a, d)} -> {os.path.relpath(b, d)}")
    if found:
        print(f"{found} import circle(s)")
        return 1
    print("no import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
