"""`simkit infer` on the seed paper at its default size, twice: wall time and Monte Carlo error.

    .venv/bin/python benchmarks/bench_infer.py [--reps 20000] [--jobs 2] [--out DIR]

Runs `simkit infer papers/barczewska2020.toml --json` as a new process with the
scenario's seed and with a second seed (two independent reference tables, fresh
stores under --out unless they already exist there), and records each run's wall time
against the target "within 10 minutes on 2 cores", the true HR's posterior median and
90% interval, P(true HR >= 0.9) and the bootstrap MCSEs, and the difference of the
interval's ends between the two seeds on the log scale (target: within 0.05).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

TARGET_S = 600.0
SEEDS = (None, 20260101)


def _children_cpu() -> float:
    """CPU seconds of finished child processes (the command and its workers)."""
    t = os.times()
    return t.children_user + t.children_system


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--extra", default="", help="more `simkit infer` arguments, e.g. \"--runs 2 --particles 100\"")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="infer-bench")
    ap.add_argument("--results-dir", default=None)
    a = ap.parse_args(argv)
    paper = C.ROOT / "papers" / "barczewska2020.toml"
    env = {**os.environ, "PYTHONPATH": str(C.ROOT)}
    runs = []
    for seed in SEEDS:
        out = Path(a.out) / f"seed-{seed or 'scenario'}"
        cmd = [sys.executable, "-m", "simkit.cli", "infer", str(paper), "--out", str(out), "--jobs", str(a.jobs),
               "--json", "--quiet", "--no-plot"]
        cmd += ["--reps", str(a.reps)] if a.reps else []
        cmd += ["--seed", str(seed)] if seed is not None else []
        cmd += a.extra.split()
        t0 = time.perf_counter()
        cpu0 = _children_cpu()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr[-2000:])
        res = json.loads(r.stdout)
        runs.append({"seed": seed, "seconds": wall, "chunks_computed": res["run"]["chunks_computed"],
                     "true_hr": res["true_hr"], "p_true_hr_ge_0_9": res["p_true_hr_ge_0_9"],
                     "prior_p_true_hr_ge_0_9": res["prior_p_true_hr_ge_0_9"], "rejection": res["rejection"],
                     "cpu_seconds": _children_cpu() - cpu0,
                     "mcse": res["mcse"], "ess": res["ess"], "n_simulations": res["n_simulations"],
                     "smc": res.get("smc"), "method": res.get("method_name"),
                     "mechanisms": res["mechanisms"], "predictive_checks": res["predictive_checks"]})
    d = {k: abs(math.log(runs[0]["true_hr"][k] / runs[1]["true_hr"][k])) for k in ("median", "low", "high")}
    payload = {"runs": runs, "log_difference_between_seeds": d, "target_seconds": TARGET_S,
               "within_time": all(r["seconds"] <= TARGET_S for r in runs if r["chunks_computed"]),
               "ends_within_0_05": d["low"] <= 0.05 and d["high"] <= 0.05}
    p = C.write_result("infer", payload, a.results_dir)
    for r in runs:
        t = r["true_hr"]
        print(f"seed {r['seed'] or 'scenario'}: {r['seconds']:.0f} s, CPU {r['cpu_seconds']:.0f} s "
              f"({r['n_simulations']:,} studies, "
              f"{r['chunks_computed']} chunks computed); true HR {t['median']:.3f} ({t['low']:.3f} to "
              f"{t['high']:.3f}), P(>= 0.9) {r['p_true_hr_ge_0_9']:.3f}; MCSE of log ends "
              f"{r['mcse']['log_true_hr_low']:.3f} / {r['mcse']['log_true_hr_high']:.3f}")
    print(f"between seeds, log scale: median {d['median']:.3f}, low {d['low']:.3f}, high {d['high']:.3f}; {p}")
    return payload


if __name__ == "__main__":
    main()
