"""Time the world's truth (simkit.world.truth.true_effects) against the truth as it was before
the follow-up estimand (issue 14): twins and one uncensored Cox fit with its model-based SE.

    .venv/bin/python benchmarks/bench_truth.py [--n 100000 200000] [--repeats 5]

The two are timed alternately, so both see the same load; prints the best and median of
each, the machine's load, and writes benchmarks/results/bench_truth.json.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, write_result  # noqa: E402


def before(theta, n, seed=0):
    """The truth before issue 14: the same twins, one Cox fit without censoring, the slope."""
    from simkit.kernels import history as H
    from simkit.world import model as W
    from simkit.world.truth import cox_fit
    th = np.array(theta, dtype=np.float64, copy=True)
    th[H.IMMORTAL_TIME_TREATED] = 0.0
    th[H.EARLY_EXCLUSION] = 0.0
    tr = W.generate_treated(th, H.derive(np.uint64(0xE57A4D), np.uint64(seed)), n)
    t1, t0 = tr.data[:, H.TC_DEATH_DAYS], tr.twin[:, H.TC_DEATH_DAYS]
    beta, _, _ = cox_fit(np.r_[t1, t0], np.ones(2 * n), np.r_[np.ones(n), np.zeros(n)])
    return beta, np.mean(tr.data[:, H.TC_TRUE_6] - tr.twin[:, H.TC_TRUE_6]), np.median(t1), np.median(t0)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 200_000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--results-dir", default=None)
    args = ap.parse_args(argv)
    from simkit.world import model as W
    from simkit.world.truth import true_effects
    theta = W.build_theta(hr=0.5)
    true_effects(theta, n=1000)          # compile / load the kernels
    before(theta, 1000)
    rows = []
    for n in args.n:
        a, b = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            before(theta, n)
            a.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            true_effects(theta, n=n)
            b.append(time.perf_counter() - t0)
        rows.append({"n": n, "before_best_s": min(a), "before_median_s": float(np.median(a)),
                     "after_best_s": min(b), "after_median_s": float(np.median(b))})
        print(f"true_effects, {n:,} twins: before {min(a):.3f} s (median {np.median(a):.3f}), "
              f"after {min(b):.3f} s (median {np.median(b):.3f})")
    ld = load()
    print(f"load average {ld['loadavg_1_5_15']}")
    write_result("bench_truth", {"rows": rows}, args.results_dir)
    return rows


if __name__ == "__main__":
    main()
