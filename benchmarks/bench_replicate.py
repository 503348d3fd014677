"""A full replicate of the seed design: simkit vs the straightforward pandas + lifelines way.

Both sides run in this one process, one core each, on the same replicates
(same seed, condition and replicate indices, so the same patients): the peer
(benchmarks/peer.py: pandas filtering for the matching, CoxPHFitter,
KaplanMeierFitter, logrank_test, Logit, wilcoxon, OLS, chi2_contingency) and
simkit's replicate kernel (design.run_replicates).  Printed: replicates/s of
each, their ratio (target >= 1000), and how well the peer's numbers agree
with simkit's on the replicates both computed.  Two registries: a fixed pool
(one per condition; the peer builds its DataFrame once, outside the timing)
and a fresh 10,000-patient pool per replicate (both sides generate it with
simkit's world generator, the peer then makes a DataFrame of it).

    .venv/bin/python benchmarks/bench_replicate.py [--peer-reps 10] [--seconds 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import peer  # noqa: E402

# fields compared between the peer and simkit, and the agreement expected:
# lifelines stops its Newton iterations at a relative change of 1e-7 in the
# log-likelihood by default, statsmodels' Logit at 1e-8 in the parameters, so
# their estimates agree to about 1e-4 / 1e-6 relative, not to the last digit
COMPARED = {
    "hr": 1e-3, "hr_p": 1e-3, "logrank_p": 1e-9, "gehan_p": 1e-9, "tarone_ware_p": 1e-9,
    "peto_p": 1e-9, "median_days_treated": 1e-12, "median_days_reference": 1e-12,
    "n_decreased": 0, "n_no_change": 0, "n_increased": 0, "early_coef": 1e-5,
    "signed_rank_p": 1e-9, "treated_coef": 1e-9, "treated_p": 1e-9, "min_subgroup_p": 1e-9,
}


def _rel(a, b):
    if np.isnan(a) and np.isnan(b):
        return 0.0
    if np.isnan(a) or np.isnan(b):
        return np.inf
    return abs(a - b) / max(abs(b), 1e-300) if b != 0 else abs(a)


def simkit_rate(theta, design, seed, seconds, start=1000):
    """Replicates/s of design.run_replicates in this process (best of 3 runs of
    about `seconds` / 3 each, after one warm-up that loads the compiled code)."""
    from simkit.design.replicate import run_replicates
    run_replicates(theta, design, seed, 0, 0, 2)
    t0 = time.perf_counter()
    run_replicates(theta, design, seed, 0, 2, 12)
    per = max((time.perf_counter() - t0) / 10, 1e-6)
    n = max(20, int(seconds / 3 / per))
    best = np.inf
    for r in range(3):
        t0 = time.perf_counter()
        run_replicates(theta, design, seed, 0, start + r * n, start + (r + 1) * n)
        best = min(best, time.perf_counter() - t0)
    return n / best, n


def compare(theta, design, seed, peer_results):
    from simkit.design.replicate import replicate_data
    worst = {f: 0.0 for f in COMPARED}
    pairs_equal = 0
    for k, res in peer_results.items():
        rd = replicate_data(theta, design, seed, 0, k)
        mine = list(zip(rd.matched_treated.tolist(), rd.matched_pool.tolist()))
        pairs_equal += mine == [(int(a), int(b)) for a, b in res["pairs"]]
        for f in COMPARED:
            worst[f] = max(worst[f], _rel(float(res[f]), float(rd.value(f))))
    ok = all(worst[f] <= tol for f, tol in COMPARED.items())
    return {"replicates_compared": len(peer_results), "matched_pairs_identical": pairs_equal,
            "max_relative_difference": worst, "tolerance": COMPARED, "agree": bool(ok)}


def run_case(theta, label, pool_policy, a, seed=20200331):
    from simkit.world import model as world
    from simkit.design.replicate import Design

    design = Design(n_treated=a.n_treated, pool_size=a.pool_size, pool_policy=pool_policy)
    rate, n = simkit_rate(theta, design, seed, a.seconds)
    pool = None
    t_pool = 0.0
    if pool_policy == "condition":
        t0 = time.perf_counter()
        pool = peer.pool_frame(theta, world.pool_key(seed, 0, 0, "condition"), a.pool_size)
        t_pool = time.perf_counter() - t0
    peer.replicate(theta, seed, 0, 0, pool=pool, n_treated=a.n_treated, pool_size=a.pool_size)  # imports
    results = {}
    t0 = time.perf_counter()
    for k in range(1, 1 + a.peer_reps):
        results[k] = peer.replicate(theta, seed, 0, k, pool=pool, n_treated=a.n_treated,
                                    pool_size=a.pool_size)
    peer_s = (time.perf_counter() - t0) / a.peer_reps
    agreement = compare(theta, design, seed, results)
    return {
        "case": label, "pool_policy": pool_policy, "n_treated": a.n_treated, "pool_size": a.pool_size,
        "simkit_replicates_per_s": rate, "simkit_us_per_replicate": 1e6 / rate,
        "simkit_replicates_timed": n,
        "peer_replicates_per_s": 1.0 / peer_s, "peer_ms_per_replicate": peer_s * 1e3,
        "peer_replicates_timed": a.peer_reps, "peer_pool_frame_once_s": t_pool,
        "ratio": rate * peer_s, "agreement": agreement,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-reps", type=int, default=10, help="replicates the peer computes per case")
    ap.add_argument("--seconds", type=float, default=3.0, help="time spent timing simkit per case")
    ap.add_argument("--n-treated", type=int, default=67)
    ap.add_argument("--pool-size", type=int, default=10_000)
    ap.add_argument("--cases", default="fixed,fresh", help="fixed, fresh or both (comma-separated)")
    ap.add_argument("--results-dir", help="where to write replicate.json (default benchmarks/results)")
    a = ap.parse_args(argv)
    from simkit.world import model as world

    C.print_header("full replicate of the seed design: simkit vs pandas + lifelines + statsmodels + scipy")
    load0 = C.load()
    theta = world.build_theta()
    rows = []
    for label in a.cases.split(","):
        pp = {"fixed": "condition", "fresh": "replicate"}[label]
        r = run_case(theta, label, pp, a)
        rows.append(r)
        ag = r["agreement"]
        print(f"\n{label} pool ({a.pool_size:,} patients, {a.n_treated} treated), one process each:")
        print(f"  simkit : {r['simkit_replicates_per_s']:12,.0f} replicates/s  "
              f"({r['simkit_us_per_replicate']:.1f} us each)")
        print(f"  peer   : {r['peer_replicates_per_s']:12,.2f} replicates/s  "
              f"({r['peer_ms_per_replicate']:.1f} ms each"
              + (f"; its pool DataFrame once: {r['peer_pool_frame_once_s'] * 1e3:.0f} ms)" if pp == "condition"
                 else ")"))
        print(f"  ratio  : {r['ratio']:12,.0f} x   (target >= 1000)")
        print(f"  agreement on {ag['replicates_compared']} replicates: matched pairs identical in "
              f"{ag['matched_pairs_identical']}; largest relative differences: "
              + ", ".join(f"{f} {v:.1e}" for f, v in ag["max_relative_difference"].items() if v > 0)
              + ("" if ag["agree"] else "  <-- OUTSIDE TOLERANCE"))
    path = C.write_result("replicate", {"load_at_start": load0, "cases": rows}, a.results_dir)
    print(f"\nwritten {path}")
    return rows


if __name__ == "__main__":
    main()
