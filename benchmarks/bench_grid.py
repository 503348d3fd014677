"""A 100-condition grid x 10,000 replicates, end to end, as a user runs it.

    .venv/bin/python benchmarks/bench_grid.py [--reps 10000] [--jobs 2] [--scenario benchmarks/grid-100.toml]

Runs `simkit run SCENARIO --out TMP --jobs J --quiet` and then `simkit summarize
TMP --json` as new processes (start-up, the truth, the runner and its store
included; numba's cache warm, as on any run after the first), and records the
wall times, replicates/s, the peak memory of the process tree and the store's
size.  The yardstick of the issue: such a grid "in minutes on a laptop".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

GRID = C.HERE / "grid-100.toml"


def _simkit():
    exe = Path(sys.executable).with_name("simkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simkit.cli"]


def timed(cmd):
    """(seconds, peak RSS of the process tree in MiB, stdout) of a command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=C.ROOT)
    with C.TreeMemory(interval=0.1, pid=p.pid) as mem:
        out, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return dt, mem.result()["peak_rss_tree_mib"], out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=os.path.relpath(GRID, C.ROOT))
    ap.add_argument("--reps", type=int, default=10_000, help="replicates per condition")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--results-dir")
    a = ap.parse_args(argv)
    C.print_header("a 100-condition grid end to end: simkit run + simkit summarize")
    res = {"load_at_start": C.load(), "scenario": os.path.relpath(a.scenario, C.ROOT),
           "replicates_per_condition": a.reps, "jobs": a.jobs}
    with tempfile.TemporaryDirectory(prefix="simkit-grid-") as d:
        out = os.path.join(d, "grid.zarr")
        # compile (if the cache is cold) outside the timing: a 1-replicate run elsewhere
        subprocess.run(_simkit() + ["run", a.scenario, "--reps", "1", "--jobs", "1", "--quiet",
                                    "--out", os.path.join(d, "warm.zarr")],
                       check=True, capture_output=True, cwd=C.ROOT)
        run_cmd = _simkit() + ["run", a.scenario, "--reps", str(a.reps), "--jobs", str(a.jobs),
                               "--out", out, "--quiet"]
        t_run, mem_run, _ = timed(run_cmd)
        from simkit.runner.store import read_status
        st = read_status(out)
        n = st["attrs"]["n_conditions"] * st["attrs"]["n_replicates"]
        size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
        t_sum, mem_sum, js = timed(_simkit() + ["summarize", out, "--json"])
        n_summaries = len(json.loads(js)["conditions"]) if js.strip().startswith("{") else None
    res.update({
        "conditions": st["attrs"]["n_conditions"], "replicates": n, "complete": st["complete"],
        "run_s": t_run, "run_replicates_per_s": n / t_run, "run_peak_rss_tree_mib": mem_run,
        "store_mib": size / 2**20, "summarize_s": t_sum, "summarize_peak_rss_tree_mib": mem_sum,
        "summarized_conditions": n_summaries,
        "run_command": "simkit run " + " ".join(run_cmd[len(_simkit()) + 1:]).replace(out, "TMP/grid.zarr"),
    })
    print(f"simkit run      : {res['conditions']} conditions x {a.reps:,} replicates = {n:,} in "
          f"{t_run:6.1f} s ({n / t_run:,.0f} replicates/s), peak tree RSS {mem_run:,.0f} MiB, "
          f"store {size / 2**20:,.0f} MiB")
    print(f"simkit summarize: {t_sum:6.1f} s, peak RSS {mem_sum:,.0f} MiB")
    print(f"together        : {(t_run + t_sum) / 60:.1f} minutes")
    path = C.write_result("grid", res, a.results_dir)
    print(f"written {path}")
    return res


if __name__ == "__main__":
    main()
