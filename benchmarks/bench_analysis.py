"""The whole seed analysis of one 67-pair table: simkit's kernel vs the straightforward way.

The peer is tests/oracle_analysis.py (pandas + lifelines + scipy + statsmodels,
written from the contract): the same quantities, computed as a competent analyst
would.  Both run in this one process on the same tables; the ratio is printed.

    .venv/bin/python benchmarks/bench_analysis.py [--tables 200] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from oracle_analysis import oracle_analyze, random_table  # noqa: E402

from simkit.analysis.matched import table_from_columns  # noqa: E402
from simkit.kernels import seedanalysis as SA  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=200, help="distinct random tables (67 pairs each)")
    ap.add_argument("--peer-tables", type=int, default=20, help="tables for the slow peer")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(2020)
    frames = [random_table(rng, 67, p_missing=0.02) for _ in range(a.tables)]
    inputs = [table_from_columns({c: f[c].tolist() for c in f.columns}).kernel_inputs() for f in frames]
    out = np.empty(SA.N_FIELDS)
    SA.analyze_pairs(*inputs[0], False, out)  # compile / load the cache
    reps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        for inp in inputs:
            SA.analyze_pairs(*inp, False, out)
        reps += len(inputs)
    kernel_s = (time.perf_counter() - t0) / reps

    t0 = time.perf_counter()
    for f in frames[: a.peer_tables]:
        oracle_analyze(f)
    peer_s = (time.perf_counter() - t0) / a.peer_tables
    res = {
        "benchmark": "seed analysis of one 67-pair table",
        "simkit_us_per_table": kernel_s * 1e6,
        "peer_ms_per_table": peer_s * 1e3,
        "ratio": peer_s / kernel_s,
        "target_us": 50, "target_ratio": 500,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor(), "cpus": os.cpu_count()},
        "command": "python benchmarks/bench_analysis.py",
    }
    print(f"simkit kernel : {res['simkit_us_per_table']:9.1f} us per table   (target < 50 us)")
    print(f"pandas+lifelines+scipy+statsmodels: {res['peer_ms_per_table']:9.1f} ms per table")
    print(f"ratio         : {res['ratio']:9.0f} x   (target > 500)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main()
