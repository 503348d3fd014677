"""Time the world's generators, per core (one thread).

    .venv/bin/python benchmarks/bench_world.py [--repeats R]

Prints, for each task, the median and the best time over R repeats (each repeat
a fresh key, so nothing is reused): the registry pool's matching variables for
10,000 patients (target: under 2 ms), the outcomes of 67 selected pool patients,
the outcomes of all 10,000, and a 67-patient treated cohort with its twin.
"""
import argparse
import os
import platform
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    from simkit.world import model as W
    from simkit.kernels import history as H

    theta = W.build_theta()
    n_pool, n_tr = 10_000, 67
    out = np.empty((n_pool, H.N_PB))
    keys = np.empty(n_pool, np.uint64)
    o67 = np.empty((n_tr, H.N_PO))
    oall = np.empty((n_pool, H.N_PO))
    t_out = np.empty((n_tr, H.N_TC))
    t_twin = np.empty((n_tr, H.N_TC))
    rng = np.random.default_rng(0)
    pick = rng.choice(n_pool, n_tr, replace=False)

    # compile / load from cache
    H.pool_baseline(theta, np.uint64(1), out, keys)
    H.pool_outcomes(theta, keys[pick], o67)
    H.treated_cohort(theta, np.uint64(1), t_out, t_twin)

    def timeit(fn, reps):
        ts = []
        for r in range(reps):
            t0 = time.perf_counter()
            fn(r)
            ts.append(time.perf_counter() - t0)
        return np.median(ts), np.min(ts)

    pkeys = [W.pool_key(9, 0, r, "replicate") for r in range(args.repeats)]
    tkeys = [W.treated_key(9, 0, r) for r in range(args.repeats)]
    res = {}
    res["pool, matching variables (10,000)"] = timeit(
        lambda r: H.pool_baseline(theta, pkeys[r], out, keys), args.repeats)
    sel = keys[pick].copy()
    res["pool outcomes, 67 selected"] = timeit(lambda r: H.pool_outcomes(theta, sel, o67), args.repeats)
    res["pool outcomes, all 10,000"] = timeit(lambda r: H.pool_outcomes(theta, keys, oall),
                                              max(args.repeats // 10, 5))
    res["treated cohort + twin (67)"] = timeit(
        lambda r: H.treated_cohort(theta, tkeys[r], t_out, t_twin), args.repeats)

    cmd = "python benchmarks/bench_world.py" + ("" if args.repeats == 200 else f" --repeats {args.repeats}")
    print(f"$ {cmd}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"python {platform.python_version()}, one thread, load average {os.getloadavg()[0]:.2f}")
    for k, (med, best) in res.items():
        print(f"{k:38s} median {med * 1e3:8.3f} ms   best {best * 1e3:8.3f} ms")
    med = res["pool, matching variables (10,000)"][0]
    print(f"fresh 10,000-patient pool (matching variables): {med * 1e3:.2f} ms "
          f"({'meets' if med < 2e-3 else 'misses'} the 2 ms target)")


if __name__ == "__main__":
    main()
