"""The speed and memory targets, each against the last measurement of it.

    .venv/bin/python benchmarks/targets.py          # the table, from benchmarks/results/*.json
    .venv/bin/python benchmarks/targets.py --run    # first run every benchmark (about 20 minutes)

Reads the JSON files the bench_*.py scripts write; prints for every target the
figure measured, the target, whether it is met and which file and run (date,
command) it comes from.  Exit status 0 whether or not targets are met: this is a
report, not a test (speed depends on the machine and its load, which each JSON
records).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# in the order --run runs them: the cold compile first, on a quiet machine
RUNS = [  # (script and arguments, writes a JSON the table reads)
    (["bench_startup.py", "--cli"], True),
    (["bench_replicate.py"], True),
    (["bench_profile.py"], True),
    (["bench_scaling.py", "--million"], True),
    (["bench_grid.py"], True),
    (["bench_command.py"], True),
    (["bench_world.py"], False),
    (["bench_analysis.py"], False),
]


def _load(name, results_dir):
    p = Path(results_dir) / f"{name}.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())


def _case(res, label):
    return next((c for c in (res or {}).get("cases", []) if c.get("case") == label), None)


def rows(results_dir=RESULTS):
    """[(figure, measured, target text, met: bool | None, source)]"""
    out = []
    rep = _load("replicate", results_dir)
    sca = _load("scaling", results_dir)
    pro = _load("profile", results_dir)
    sta = _load("startup", results_dir)
    gri = _load("grid", results_dir)
    com = _load("command", results_dir)

    def src(res, name):
        return f"{name}.json {res['when'][:16]}" if res else f"{name}.json missing"

    def add(figure, value, fmt, target, ok, source):
        out.append((figure, "n/a" if value is None else fmt.format(value), target,
                    None if value is None else bool(ok(value)), source))

    minutes = gri and (gri["run_s"] + gri["summarize_s"]) / 60
    add("100 conditions x 10,000 replicates (registry per 50), `simkit run` + `summarize`, 2 processes",
        minutes, "{:.1f} min" + (f" ({gri['run_replicates_per_s']:,.0f}/s)" if gri else ""),
        "minutes on a laptop", lambda v: v < 10, src(gri, "grid"))
    procs = {r["pool"]: r for r in (sca or {}).get("processes", [])}
    fixed_run = procs.get("fixed", {}).get("run_end_to_end", {})
    best_fixed = max((v["replicates_per_s"] for k, v in fixed_run.items() if k.startswith("jobs=2")),
                     default=None)
    add("fixed pool, `simkit run` engine + store, 2 processes (best chunk)", best_fixed,
        "{:,.0f}/s", ">= 10,000/s", lambda v: v >= 10_000, src(sca, "scaling"))
    default_fixed = fixed_run.get("jobs=2,chunk=500", {}).get("replicates_per_s")
    add("  the same at the default chunk size 500", default_fixed, "{:,.0f}/s", ">= 10,000/s",
        lambda v: v >= 10_000, src(sca, "scaling"))
    fresh_run = procs.get("fresh", {}).get("run_end_to_end", {}).get("jobs=2,chunk=500", {})
    add("fresh 10,000-patient pool, `simkit run` engine + store, 2 processes", fresh_run.get("replicates_per_s"),
        "{:,.0f}/s", ">= 500/s", lambda v: v >= 500, src(sca, "scaling"))
    for label in ("fixed", "fresh"):
        c = _case(rep, label)
        add(f"ratio to the pandas + lifelines peer, {label} pool, 1 process each",
            c and c["ratio"], "{:,.0f}x",
            ">= 1000x" if label == "fixed" else "(none: both sides draw the pool with simkit's numba world)",
            (lambda v: v >= 1000), src(rep, "replicate"))
    for label in ("fixed", "fresh"):
        c = ((pro or {}).get("cases") or {}).get(label)
        add(f"replicate / estimated limit, {label} pool", c and c["multiple_of_limit"], "{:.2f}x",
            "<= 3x", lambda v: v <= 3, src(pro, "profile"))
    mem = (sca or {}).get("memory") or []
    million = next((m for m in mem if m["replicates"] == 1_000_000), None)
    add("peak memory of the process tree, 1,000,000 replicates", million and million["peak_rss_tree_mib"],
        "{:,.0f} MiB", "< 2 GiB", lambda v: v < 2048, src(sca, "scaling"))
    # runs of at least two chunks (both workers started): the peak must not grow with the count
    busy = [m for m in mem if m["chunks"] >= 2]
    if len(busy) >= 2:
        peaks = [m["peak_rss_tree_mib"] for m in busy]
        add(f"  its growth from {busy[0]['replicates']:,} to {busy[-1]['replicates']:,} replicates",
            max(peaks) - min(peaks), "{:,.0f} MiB", "independent of the count", lambda v: v < 256,
            src(sca, "scaling"))
    imp = (sta or {}).get("import_s") or {}
    add("import simkit / simkit.design.replicate", max(imp.get("simkit", 0), imp.get("simkit.design.replicate", 0)) if imp else None,
        "{:.2f} s", "< 1 s", lambda v: v < 1, src(sta, "startup"))
    cold = (sta or {}).get("cold") or {}
    add("first replicate of a fresh install (empty numba cache)", cold.get("first_replicate_s"),
        "{:.1f} s", "< 30 s", lambda v: v < 30, src(sta, "startup"))
    warm = (sta or {}).get("warm") or {}
    add("  then, the cache reused (new process)", warm.get("first_replicate_s"), "{:.2f} s",
        "(reused)", lambda v: v < 5, src(sta, "startup"))
    # the whole `simkit run` command in a new process (bench_command.py)
    small = (com or {}).get("small") or {}
    add("warm `simkit run` of 200 replicates, fixed registry, --jobs 2: the whole command",
        small.get("wall_s_best"), "{:.2f} s" + (f" (CPU {small['cpu_s_best_run']:.2f} s)" if small else ""),
        "< 1.5 s", lambda v: v < 1.5, src(com, "command"))
    large = (com or {}).get("large") or {}
    for n, target in (("200000", True), ("100000", False)):
        r = large.get(n) or {}
        add(f"  the whole command at {int(n):,} replicates, --jobs 2", r.get("replicates_per_s_best"),
            "{:,.0f}/s" + (f" (CPU {r['cpu_s_best_run']:.1f} s)" if r else ""),
            ">= 12,000/s" if target else "(the 200,000 target: >= 12,000/s)",
            lambda v: v >= 12_000, src(com, "command"))
    pri = (com or {}).get("priors") or {}
    add("priors that leave the registry fixed (benchmarks/priors-fixed.toml), the whole command, --jobs 2",
        pri.get("replicates_per_s_best"),
        "{:,.0f}/s" + (f" at {pri['replicates']:,} replicates (CPU {pri['cpu_s_best_run']:.1f} s)" if pri else ""),
        ">= 5,000/s",
        lambda v: v >= 5_000, src(com, "command"))
    return out


def table(results_dir=RESULTS):
    lines = ["| figure | measured | target | met | from |", "|---|---|---|---|---|"]
    for fig, val, tgt, ok, s in rows(results_dir):
        met = "n/a" if ok is None else ("yes" if ok else "**no**")
        if tgt.startswith("("):
            met = "-"
        lines.append(f"| {fig.strip()} | {val} | {tgt.strip('()') if met == '-' else tgt} | {met} | {s} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run every benchmark first (about 17 minutes)")
    ap.add_argument("--results-dir", default=str(RESULTS))
    a = ap.parse_args(argv)
    if a.run:
        for cmd, writes in RUNS:
            full = [sys.executable, str(HERE / cmd[0])] + cmd[1:] + (["--results-dir", a.results_dir]
                                                                    if writes else [])
            print("$", " ".join(full), flush=True)
            subprocess.run(full, check=True)
    print(table(a.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
