#!/usr/bin/env python3
"""The benchmark's tables: issue #11's targets, their verdicts, and details.

render() turns the harness's results into two markdown tables: one row per
job with hbk, restic and rustic side by side, the target and whether it
holds; then every measurement in detail. record() appends them to
docs/benchmarks.md under a dated section. Can also re-render a saved run:
report.py WORK/results.json [--record FILE].
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
from dataclasses import dataclass

TOOLS = ("hbk", "restic", "rustic")
MB = 1_000_000


@dataclass
class Target:
    """hbk's wall time ≤ ratio × the anchor's (and the optional limits).

    anchor is a tool name or "fastest" (the faster of restic and rustic).
    rss_mb limits hbk's peak RSS; requests asks for no more HTTP requests
    than restic makes.
    """

    anchor: str
    ratio: float
    rss_mb: float | None = None
    requests: bool = False

    def text(self):
        """The target as the issue writes it."""
        who = "the faster anchor" if self.anchor == "fastest" else self.anchor
        parts = [f"≤ {self.ratio:g}× {who}"]
        if self.rss_mb:
            parts.append(f"≤ {self.rss_mb:g} MB")
        if self.requests:
            parts.append("requests ≤ restic's")
        return ", ".join(parts)


# (scenario, step, label, target); the label's {size}, {files}, {dirs} and
# {delay} come from the dataset and the run.
ROWS = [
    ("mixed", "backup", "initial backup, {size} mixed homelab data", Target("rustic", 0.45, 120)),
    ("mixed", "noop", "no-op incremental, same data", Target("rustic", 0.4)),
    ("mixed", "restore", "full restore, same data", Target("rustic", 0.5, 100)),
    ("tiny", "backup", "initial backup, {files} tiny files in {dirs} dirs", Target("restic", 0.5)),
    ("tiny", "noop", "no-op incremental, same {files} files", Target("restic", 0.2)),
    ("tiny", "restore", "full restore of the {files} files", Target("rustic", 0.6, 100)),
    (
        "rest",
        "backup",
        "backup, {size}, REST server behind a link adding {delay} ms each way",
        Target("fastest", 0.8, requests=True),
    ),
    ("rest", "noop", "no-op incremental over that link", None),
    (
        "rest",
        "restore",
        "full restore over that link, no local cache",
        Target("fastest", 0.8, requests=True),
    ),
    ("s3", "backup", "backup over that link to S3", Target("restic", 0.6, requests=True)),
    ("s3", "noop", "no-op incremental over that link to S3", None),
    (
        "s3",
        "restore",
        "full restore over that link from S3, no local cache",
        Target("restic", 0.6, requests=True),
    ),
    ("mount", "read", "sequential read of a {size} file through the FUSE mount", None),
    ("scale", "backup", "initial backup, {files} files in {dirs} dirs", None),
    ("scale", "noop", "no-op incremental of the {files}-file tree", Target("restic", 0.3)),
    ("scale", "index-empty", "backup of a tiny directory into an empty repository", None),
    ("scale", "index", "the same into a repository of {blobs} indexed blobs", None),
]

# Issue #11's goals for the index half of the scale case.
INDEX_LOAD_S = 1.5
INDEX_BYTES_PER_BLOB = 60


def index_cost(rows, tool, blobs):
    """(load seconds, bytes per blob) of a tool: its index run over its empty run."""
    full, empty = rows["index"].get(tool), rows["index-empty"].get(tool)
    if not full or not empty or not full["ok"] or not empty["ok"] or not blobs:
        return None
    load = full["wall"] - empty["wall"]
    per_blob = (full["rss_kib"] - empty["rss_kib"]) * 1024 / blobs
    return load, per_blob


def index_row(by, data):
    """The main table's row for the index: load time and memory per blob."""
    rows = {step: by.get(("scale", step), {}) for step in ("index", "index-empty")}
    blobs = data.get("index_blobs")
    if not rows["index"] or not blobs:
        return None
    costs = {t: index_cost(rows, t, blobs) for t in TOOLS}
    h = costs.get("hbk")
    cells = []
    for t in TOOLS:
        c = costs.get(t)
        if c is None:
            cells.append("—" if t not in rows["index"] else "failed")
            continue
        text = f"{c[0]:.2f} s, {c[1]:.0f} B/blob"
        if t != "hbk" and h and c[0] > 0 and c[1] > 0:
            text += f" (hbk {h[0] / c[0]:.2f}× time, {h[1] / c[1]:.2f}× memory)"
        cells.append(text)
    target = f"≤ {INDEX_LOAD_S:g} s, ≤ {INDEX_BYTES_PER_BLOB} B/blob"
    if h is None:
        verdict = "? (no hbk result)"
    else:
        ok = h[0] <= INDEX_LOAD_S and h[1] <= INDEX_BYTES_PER_BLOB
        verdict = f"{'yes' if ok else 'no'} ({h[0]:.2f} s; {h[1]:.0f} B/blob)"
    return (
        f"| index load, {blobs:,} blobs (wall and peak RSS over the empty repository's) | "
        f"{' | '.join(cells)} | {target} | {verdict} |"
    )


def rss_mb(r):
    """Peak RSS in MB (10^6 bytes, as the targets are written)."""
    return r["rss_kib"] * 1024 / MB


def cell(r, step):
    """hbk's, restic's or rustic's entry in the main table."""
    if r is None:
        return "—"
    if not r["ok"]:
        return "failed"
    s = f"{r['wall']:.2f} s, {r['cpu']:.2f} CPU-s, {rss_mb(r):.0f} MB"
    if r.get("requests") is not None:
        s += f", {r['requests']} req"
        if step == "restore":
            s += f", {r['bytes_down'] / MB:.0f} MB down"
        else:
            s += f", {r['bytes_up'] / MB:.0f} MB up"
    if r.get("note", "").startswith("restore differs"):
        s += " (DIFFERS)"
    return s


def ratio_note(rows, tool):
    """", hbk 0.64×": hbk's wall time over this tool's, for a tool's cell."""
    h, r = rows.get("hbk"), rows.get(tool)
    if tool == "hbk" or not h or not r or not h["ok"] or not r["ok"] or r["wall"] <= 0:
        return ""
    return f" (hbk {h['wall'] / r['wall']:.2f}×)"


def verdict(target, rows):
    """(holds?, why) for one job: "yes"/"no"/"?" and the measured ratios."""
    h = rows.get("hbk")
    if target is None:
        return "", ""
    if not h or not h["ok"]:
        return "?", "no hbk result"
    if target.anchor == "fastest":
        anchors = [rows[t] for t in ("restic", "rustic") if rows.get(t) and rows[t]["ok"]]
        anchor = min(anchors, key=lambda r: r["wall"]) if anchors else None
    else:
        anchor = rows.get(target.anchor)
        anchor = anchor if anchor and anchor["ok"] else None
    why, ok = [], True
    if anchor is None or anchor["wall"] <= 0:
        why.append(f"no {target.anchor} result")
        ok = None
    else:
        ratio = h["wall"] / anchor["wall"]
        why.append(f"{ratio:.2f}× {anchor['tool']}")
        ok = ok and ratio <= target.ratio
    if target.rss_mb:
        why.append(f"{rss_mb(h):.0f} MB")
        ok = ok if ok is None else ok and rss_mb(h) <= target.rss_mb
    if target.requests:
        rr = rows.get("restic")
        if rr and rr["ok"] and rr.get("requests") is not None and h.get("requests") is not None:
            why.append(f"{h['requests']} vs {rr['requests']} req")
            ok = ok if ok is None else ok and h["requests"] <= rr["requests"]
        else:
            ok = None
    if h.get("note", "").startswith("restore differs"):
        why.append("restore differs")
        ok = False
    return {True: "yes", False: "no", None: "?"}[ok], "; ".join(why)


def label(template, scenario, data):
    """Fills a row label with the size and counts of the scenario's dataset."""
    name = data["scenario_data"].get(scenario)
    ds = data["datasets"].get(name) or {"bytes": 0, "files": 0, "dirs": 0}
    b = ds["bytes"]
    size = f"{b / (1 << 30):.2f} GiB" if b >= 1 << 30 else f"{b / MB:.0f} MB"
    return template.format(
        size=size,
        files=f"{ds['files']:,}",
        dirs=f"{ds['dirs']:,}",
        delay=f"{data['meta']['delay_ms']:g}",
        blobs=f"{data.get('index_blobs') or 0:,}",
    )


def render(data):
    """Both markdown tables with a header naming the machine and versions."""
    meta = data["meta"]
    by = {}
    for r in data["results"]:
        by.setdefault((r["scenario"], r["step"]), {})[r["tool"]] = r
    out = [
        f"Date: {meta['date']}. Machine: {meta['machine']}. Versions: {meta['versions']}. "
        f"Run: {meta['run']}.",
        "",
        "| job | hbk | restic | rustic | target | holds? |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, step, template, target in ROWS:
        rows = by.get((scenario, step))
        if not rows:
            continue
        holds, why = verdict(target, rows)
        cells = [cell(rows.get(t), step) + ratio_note(rows, t) for t in TOOLS]
        tgt = target.text() if target else "—"
        if scenario == "tiny" and step == "restore" and rows.get("tar"):
            tgt += f" (`tar x` of the same tree: {rows['tar']['wall']:.2f} s)"
        out.append(
            f"| {label(template, scenario, data)} | {' | '.join(cells)} | {tgt} | "
            f"{holds}{f' ({why})' if why else ''} |"
        )
        if scenario == "tiny" and step == "restore" and rows.get("tar"):
            out.append(
                f"| reference: `tar x` of the same tree | {cell(rows['tar'], step)} | | | | |"
            )
        for tool in TOOLS:
            r = rows.get(tool)
            if r and r.get("note", "").startswith("restore differs"):
                out.append(f"| WARNING: {tool}'s {r['note']} | | | | | |")
    row = index_row(by, data)
    if row:
        out.append(row)
    out += [
        "",
        "| scenario | step | tool | wall s | CPU s | peak RSS MB | requests | MB up | MB down "
        "| proxy CPU s | hbk/tool wall | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, step, _, _ in ROWS:
        rows = by.get((scenario, step), {})
        h = rows.get("hbk")
        for tool in TOOLS + ("tar",):
            r = rows.get(tool)
            if r is None:
                continue
            ratio = ""
            if h and h["ok"] and r["ok"] and tool != "hbk" and r["wall"] > 0:
                ratio = f"{h['wall'] / r['wall']:.2f}"
            req = up = down = pcpu = ""
            if r.get("requests") is not None:
                methods = ", ".join(f"{m} {n}" for m, n in sorted(r["methods"].items()))
                req = f"{r['requests']} ({methods})"
                up, down = f"{r['bytes_up'] / MB:.1f}", f"{r['bytes_down'] / MB:.1f}"
                if r.get("proxy_cpu") is not None:
                    pcpu = f"{r['proxy_cpu']:.2f}"
            note = r["note"] if r["ok"] or r["note"] else "failed"
            out.append(
                f"| {scenario} | {step} | {tool} | {r['wall']:.2f} | {r['cpu']:.2f} | "
                f"{rss_mb(r):.0f} | {req} | {up} | {down} | {pcpu} | {ratio} | {note} |"
            )
    out.append("")
    if data.get("index_blobs"):
        out.append(
            f"Index case: a repository of {data['index_blobs']:,} data blobs of 16–64 bytes "
            "written by benches/scale-repo; load = wall over the empty repository's, "
            "memory = peak RSS over the empty repository's, per blob."
        )
    if not data["datasets"]:
        return "\n".join(out)
    out.append("Datasets: " + "; ".join(
        f"{k}: {v['bytes'] / MB:.0f} MB in {v['files']:,} files, {v['dirs']:,} dirs"
        for k, v in sorted(data["datasets"].items())
    ) + ".")
    return "\n".join(out)


def first_line(argv):
    """The first output line of a command, or "?"."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine(bins, args):
    """Date, machine (cores, CPU, RAM, kernel), versions and hbk's commit."""
    cpu = "?"
    ram = 0
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            kib = next((l.split()[1] for l in f if l.startswith("MemTotal:")), "0")
            ram = int(kib) / (1 << 20)
    except OSError:
        pass
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = first_line(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    versions = ", ".join(
        [
            f"{first_line([bins['hbk'], '--version'])} (commit {commit}"
            + (", with uncommitted changes)" if dirty else ")"),
            first_line([bins["restic"], "version"]),
            first_line([bins["rustic"], "--version"]) if "rustic" in args.tools else "no rustic",
        ]
    )
    run = (
        f"size factor {args.size_factor:g}, repeat {args.repeat}, scenarios {args.only}, "
        f"tools {args.tools}, delay {args.delay_ms:g} ms each way"
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores ({cpu}), {ram:.0f} GiB RAM, "
        f"Linux {platform.release()}",
        "versions": versions,
        "run": run,
        "delay_ms": args.delay_ms,
        "size_factor": args.size_factor,
    }


def record(path, text, meta):
    """Appends the tables to a markdown file under a new dated section."""
    with open(path, "a") as f:
        f.write(
            f"\n## {meta['date'][:10]} — benches/run.sh, size factor {meta['size_factor']:g}\n\n"
        )
        f.write(text.rstrip() + "\n")


def main():
    ap = argparse.ArgumentParser(description="re-renders a saved benchmark run")
    ap.add_argument("results", help="results.json written by the harness")
    ap.add_argument("--record", metavar="FILE", help="append to this markdown file")
    a = ap.parse_args()
    with open(a.results) as f:
        data = json.load(f)
    text = render(data)
    print(text)
    if a.record:
        record(a.record, text, data["meta"])


if __name__ == "__main__":
    main()
