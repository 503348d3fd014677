"""The first `simkit analyze` after a plain install (issue 15: 35.6 s, target < 5 s).

Builds the wheel of this tree, installs it into a fresh venv (the running
environment's dependencies through a .pth file, as tests/test_packaging.py
does), so numba's cache is empty, and times in new processes:
  * cold: the first `simkit analyze` of a 67-pair table (plain-Python kernels,
    simkit.kernels.warmup.python_kernels_if_cold);
  * again: the second one (still cold for the analysis: nothing was compiled);
  * compiled: `analyze` after the analysis kernels were compiled into that
    install's cache (python -m simkit.kernels.warmup analysis), i.e. the warm path.

    .venv/bin/python benchmarks/bench_cold_analyze.py
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _common as C  # noqa: E402


def _timed(cmd, cwd, env):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed: {r.stderr[-2000:]}")
    return dt, r.stdout


def _max_rel_diff(a, b) -> float:
    """Largest relative difference between the numbers of two equal-shaped JSON
    documents (inf if anything but a float differs)."""
    if isinstance(a, dict):
        return max([_max_rel_diff(a[k], b.get(k)) for k in a] + [0.0]) if a.keys() == b.keys() else math.inf
    if isinstance(a, list):
        return max([_max_rel_diff(x, y) for x, y in zip(a, b)] + [0.0]) if len(a) == len(b) else math.inf
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) / max(1.0, abs(a))
    return 0.0 if a == b else math.inf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results-dir", help="where to write cold_analyze.json (default benchmarks/results)")
    a = ap.parse_args(argv)
    import numpy as np
    from oracle_analysis import random_table
    from test_packaging import build_wheel, fresh_install

    C.print_header("the first simkit analyze after a plain install")
    res = {"load_at_start": C.load()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        whl = build_wheel(tmp / "dist")
        py, simkit, env = fresh_install(whl, tmp)
        csv = tmp / "pairs.csv"
        random_table(np.random.default_rng(2020), 67).to_csv(csv, index=False)
        cmd = [str(simkit), "analyze", str(csv), "--json"]
        res["cold_s"], out_cold = _timed(cmd, tmp, env)
        res["again_s"], _ = _timed(cmd, tmp, env)
        res["compile_analysis_s"], _ = _timed([str(py), "-m", "simkit.kernels.warmup", "analysis"], tmp, env)
        res["compiled_s"], out_warm = _timed(cmd, tmp, env)
        res["identical_output"] = out_cold == out_warm
        res["max_rel_diff"] = _max_rel_diff(json.loads(out_cold), json.loads(out_warm))
    for k in ("cold_s", "again_s", "compile_analysis_s", "compiled_s"):
        print(f"{k:<20} {res[k]:7.2f} s")
    print(f"JSON cold vs compiled: identical {res['identical_output']}, "
          f"largest relative difference {res['max_rel_diff']:.2g}")
    print(f"wrote {C.write_result('cold_analyze', res, a.results_dir)}")


if __name__ == "__main__":
    main()
