"""Start-up costs: importing simkit, and the first replicate of a fresh install.

Every measurement runs in a new interpreter (subprocess):
  * import time of `simkit`, `simkit.design.replicate` (with the world; numba and the
    kernels' dispatchers, nothing compiled) and the CLI (`simkit --help`);
  * cold: the first replicate with an empty numba cache (a temporary
    NUMBA_CACHE_DIR, as after `pip install`): numba compiles every kernel the
    replicate uses.  Target: under 30 s.
  * warm: a second interpreter on that cache: the compiled code is loaded,
    not compiled again (the cache is reused).
  * --cli adds a cold `simkit run` of a 4-replicate scenario (the runner, the
    store and the truth's kernels compile too).

    .venv/bin/python benchmarks/bench_startup.py [--repeats 3] [--cli]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

FIRST = r"""
import json, time
t0 = time.perf_counter()
import simkit.design.replicate as D
from simkit.world import model as world
t1 = time.perf_counter()
theta = world.build_theta()
D.run_replicates(theta, D.Design(pool_size=POOL), 1, 0, 0, 1)
t2 = time.perf_counter()
D.run_replicates(theta, D.Design(pool_size=POOL), 1, 0, 1, 2)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_replicate_s": t2 - t1, "second_call_s": t3 - t2}))
"""


def _python(code, env=None, timeout=900):
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=C.ROOT, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return p.stdout


def import_time(module, repeats):
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(float(_python(code).strip().splitlines()[-1]) for _ in range(repeats))


def cli_help_time(repeats):
    exe = Path(sys.executable).with_name("simkit")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "simkit.cli", "--help"]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=C.ROOT)
        best = min(best, time.perf_counter() - t0)
    return best, " ".join(os.path.relpath(c, C.ROOT) if os.path.isabs(c) else c for c in cmd)


def first_replicate(cache_dir, pool):
    """In a new interpreter; cache_dir None: numba's usual cache (next to the sources)."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    t0 = time.perf_counter()
    res = json.loads(_python(FIRST.replace("POOL", str(pool)), env).strip().splitlines()[-1])
    res["process_wall_s"] = time.perf_counter() - t0
    return res


def cold_cli(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    exe = Path(sys.executable).with_name("simkit")
    with tempfile.TemporaryDirectory(prefix="simkit-cli-") as d:
        out = os.path.join(d, "s.zarr")
        cmd = [str(exe), "run", str(C.SCENARIO), "--reps", "4", "--jobs", "1", "--out", out, "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=C.ROOT, timeout=1800)
        return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="import timings: best of this many")
    ap.add_argument("--pool-size", type=int, default=10_000)
    ap.add_argument("--no-cold", action="store_true", help="skip the cold compile (a smoke run)")
    ap.add_argument("--cli", action="store_true", help="also a cold `simkit run` of 4 replicates")
    ap.add_argument("--results-dir")
    a = ap.parse_args(argv)
    C.print_header("start-up: import and the first replicate")
    res = {"load_at_start": C.load()}
    res["import_s"] = {m: import_time(m, a.repeats) for m in ("simkit", "simkit.design.replicate", "simkit.cli")}
    res["cli_help_s"], res["cli_help_command"] = cli_help_time(a.repeats)
    for m, t in res["import_s"].items():
        print(f"import {m:14s} {t:6.2f} s   (target < 1 s)")
    print(f"{res['cli_help_command']:27s} {res['cli_help_s']:6.2f} s (a new process, start to exit)")
    tmp = Path(tempfile.mkdtemp(prefix="simkit-numba-cache-"))
    try:
        if not a.no_cold:
            cold = first_replicate(tmp, a.pool_size)
            res["cold"] = cold
            print(f"cold (empty numba cache): first replicate {cold['first_replicate_s']:6.1f} s   (target < 30 s); "
                  f"then {cold['second_call_s'] * 1e3:.1f} ms for the next call")
        warm = first_replicate(None if a.no_cold else tmp, a.pool_size)
        res["warm"] = warm
        print(f"warm (the cache reused) : first replicate {warm['first_replicate_s']:6.2f} s "
              f"(import {warm['import_s']:.2f} s, whole process {warm['process_wall_s']:.2f} s)")
        if a.cli:
            shutil.rmtree(tmp)
            tmp.mkdir()
            res["cold_cli_run_s"] = cold_cli(tmp)
            print(f"cold `simkit run` (4 replicates, incl. the truth's kernels and the store): "
                  f"{res['cold_cli_run_s']:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    path = C.write_result("startup", res, a.results_dir)
    print(f"written {path}")
    return res


if __name__ == "__main__":
    main()
