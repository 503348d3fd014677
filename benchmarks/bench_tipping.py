"""Every tipping point of a scenario, end to end, as a user runs it.

    .venv/bin/python benchmarks/bench_tipping.py [--scenario scenarios/null-world.toml] [--jobs 2] [--reps N]

Runs `simkit tipping-point SCENARIO --json --jobs J` as a new process (numba's
cache warm, as on any run after the first): every world mechanism alone, with the
others at the scenario's values and with them off, and the common scale on all
of them, each for both criteria (median HR and P(as extreme as the paper)).
Records the wall time against the target "within 3 minutes on 2 cores", the
number of searches and of evaluated magnitudes, replicates/s, the peak memory
of the process tree, and the tipping-point table itself.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

TARGET_S = 180.0


def _simkit():
    exe = Path(sys.executable).with_name("simkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simkit.cli"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="scenarios/null-world.toml")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reps", type=int, help="replicates per magnitude (default: the scenario's)")
    ap.add_argument("--mechanism", action="append", help="only these (a smoke run)")
    ap.add_argument("--bootstrap", type=int, default=400)
    ap.add_argument("--results-dir")
    a = ap.parse_args(argv)
    C.print_header("tipping points of every mechanism: simkit tipping-point")
    cmd = _simkit() + ["tipping-point", a.scenario, "--json", "--jobs", str(a.jobs),
                       "--bootstrap", str(a.bootstrap)]
    if a.reps:
        cmd += ["--reps", str(a.reps)]
    for m in a.mechanism or ():
        cmd += ["--mechanism", m]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(C.ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    load0 = C.load()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=C.ROOT, env=env)
    with C.TreeMemory(interval=0.2, pid=p.pid) as mem:
        out, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    doc = json.loads(out)
    n_search = len({(r["mechanism"], r["others"]) for r in doc["tipping_points"]})
    # the evaluated magnitudes, from the progress lines ("... : K magnitudes")
    n_eval = sum(int(line.rsplit(":", 1)[1].split()[0]) for line in err.splitlines() if line.endswith("magnitudes"))
    reps = doc["reps"]
    res = {"load_at_start": load0, "scenario": a.scenario, "jobs": a.jobs, "reps_per_magnitude": reps,
           "cli": " ".join(cmd[len(_simkit()):]), "seconds": round(dt, 1), "target_seconds": TARGET_S,
           "met": dt <= TARGET_S, "searches": n_search, "evaluated_magnitudes": n_eval,
           "replicates": n_eval * reps, "replicates_per_second": round(n_eval * reps / dt),
           "peak_rss_tree_mib": mem.result()["peak_rss_tree_mib"],
           "e_values": doc["e_values"], "tipping_points": doc["tipping_points"]}
    print(f"{n_search} searches, {n_eval} magnitudes x {reps} replicates in {dt:.1f} s "
          f"({res['replicates_per_second']}/s); target {TARGET_S:.0f} s: {'met' if res['met'] else 'NOT met'}")
    C.write_result("tipping", res, a.results_dir)
    return res


if __name__ == "__main__":
    main()
