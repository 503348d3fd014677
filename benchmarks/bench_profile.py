"""Where a replicate's time goes, stage by stage, and how far it is from the limit.

For the seed design with a fixed and with a fresh 10,000-patient pool:
  * the replicate's stages timed inside the real loop (stages.profile_chunk,
    checked to give run_chunk's rows): pool, treated cohort, matching, outcomes
    of the matched reference patients, assembly, the analysis' steps;
  * the storage of a chunk in the Zarr store (write_chunk) and the
    inter-process round trip of a chunk's rows (a loky worker returning an
    array of that shape), both per replicate at chunk sizes 500 and 5,000;
  * the limit (limit.py): the random numbers and arithmetic the same
    replicates need at minimum, counted from the model's own gates, as a
    kernel that does only that; the replicate's time as a multiple of it
    (target: within 3x).

    .venv/bin/python benchmarks/bench_profile.py [--replicates 3000] [--fresh-replicates 150]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import limit as L  # noqa: E402
import stages as S  # noqa: E402


def stage_profile(theta, design, n, seed=C.SEED, start=100):
    from simkit.design.replicate import run_replicates
    from simkit.kernels import replicate as R
    dv = design.vector()
    out = np.empty((n, R.N_OUT))
    T = np.zeros(S.N_STAGES)
    S.profile_chunk(theta, dv, np.uint64(seed), np.uint64(0), 0, 2, out[:2], T)  # compile
    T[:] = 0.0
    t0 = time.perf_counter()
    c0 = time.process_time()
    S.profile_chunk(theta, dv, np.uint64(seed), np.uint64(0), start, start + n, out, T)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    ref = run_replicates(theta, design, seed, 0, start, start + min(n, 50))
    same = np.array_equal(np.nan_to_num(out[:len(ref)], nan=-8.8e300), np.nan_to_num(ref, nan=-8.8e300))
    # the plain kernel, for the replicate's own time (no clocks)
    t0 = time.perf_counter()
    c0 = time.process_time()
    run_replicates(theta, design, seed, 0, start, start + n)
    k_wall = time.perf_counter() - t0
    k_cpu = time.process_time() - c0
    T = T / S.ticks_per_ns()
    return {"replicates": n, "stages_us": {s: T[i] / n / 1e3 for i, s in enumerate(S.STAGES)},
            "profiled_wall_us": wall / n * 1e6, "profiled_cpu_us": cpu / n * 1e6,
            "kernel_wall_us": k_wall / n * 1e6, "kernel_cpu_us": k_cpu / n * 1e6,
            "profile_rows_equal_run_chunk": bool(same)}


def limit_inputs(theta, design, n_rep, seed=C.SEED, fresh=False):
    """Per replicate: the stage counts, the matched table, the fits' iterations."""
    from simkit.world import model as world
    from simkit.design.replicate import replicate_data
    from simkit.kernels import history as H
    names = ["applicant_inclusion", "applicant_visits", "applicant_accept", "applicant_survival",
             "enrolled_observed"]
    if fresh:
        names += ["candidate_inclusion", "candidate_entry", "member_baseline", "reference_outcomes"]
    n_t = design.n_treated
    counts = np.zeros((n_rep, len(names)), np.int64)
    times = np.zeros((n_rep, 2 * n_t))
    events = np.zeros((n_rep, 2 * n_t), np.int64)
    scores = np.zeros((n_rep, 2 * n_t, 5))
    ms = np.zeros(n_rep, np.int64)
    its = np.zeros((n_rep, 2), np.int64)
    t_slopes = np.zeros((n_rep, n_t))
    for k in range(n_rep):
        rd = replicate_data(theta, design, seed, 0, k)
        time_, event, sc, *_ = rd.table.kernel_inputs()
        m = len(time_) // 2
        ms[k] = m
        times[k, :2 * m] = time_
        events[k, :2 * m] = event
        scores[k, :2 * m] = sc
        its[k] = L.iterations(time_, event, sc, m)
        c = np.zeros(4, np.int64)
        L.replay_applicants(theta, np.uint64(world.treated_key(seed, 0, k)), int(rd.value("n_applicants")), c)
        counts[k, :4] = c
        counts[k, 4] = int(rd.value("n_treated"))
        t_slopes[k] = (rd.treated[:, H.TC_ALSFRS_PRE] - rd.treated[:, H.TC_ALSFRS_0]) / 6.0
        if fresh:
            pk = world.pool_key(seed, 0, k, "replicate")
            pool = world.generate_pool(theta, pk, design.pool_size)
            pc = np.zeros(3, np.int64)
            L.replay_pool(theta, np.uint64(pk), pool.n_candidates, pc)
            counts[k, 5:8] = pc
            counts[k, 8] = m
    work = np.array([L.STAGE_WORK[n] for n in names], np.int64)
    st = np.zeros(H.N_S)
    # a typical patient's domain shares and loss breakpoints for the rated visits
    st[H.S_A0:H.S_A0 + 4] = (0.4, 0.25, 0.2, 0.15)
    st[H.S_BRK:H.S_BRK + 3] = (30.0, 40.0, 45.0)
    st[H.S_TAIL:H.S_TAIL + 4] = (1.0, 0.6, 0.35, 0.15)
    s_slope = np.sort(np.round(np.random.default_rng(1).normal(0.9, 0.5, 60) * 6) / 6)
    return {"names": names, "counts": counts, "work": work, "st": st, "times": times, "events": events,
            "scores": scores, "ms": ms, "its": its, "t_slopes": t_slopes, "s_slope": s_slope}


def time_limit(inp, repeats=3):
    """Seconds per replicate of the limit kernel: (total, {part: seconds})."""
    keys = np.arange(1, len(inp["ms"]) + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    args = (keys, inp["counts"], inp["work"], inp["st"], inp["times"], inp["events"], inp["scores"],
            inp["ms"], inp["its"][:, 0].copy(), inp["its"][:, 1].copy(), inp["t_slopes"], inp["s_slope"])
    L.limit_loop(*args, 1, 7)
    parts = {}
    for name, mask in (("all", 7), ("world", 1), ("matching", 2), ("analysis", 4)):
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            L.limit_loop(*args, 3, mask)
            best = min(best, (time.perf_counter() - t0) / (3 * len(keys)))
        parts[name] = best
    return parts.pop("all"), parts


def bucket_time(n, repeats=5):
    """Stratum codes and a counting sort of a fresh pool's n members."""
    from numba import njit

    @njit(cache=False)
    def bucket(codes, cnt):
        cnt[:] = 0
        for j in range(codes.shape[0]):
            cnt[codes[j]] += 1
        s = 0
        for c in range(1, cnt.shape[0]):
            cnt[c] += cnt[c - 1]
        return cnt[-1] + s
    codes = np.random.default_rng(2).integers(0, 96, n)
    cnt = np.zeros(96, np.int64)
    bucket(codes, cnt)
    t0 = time.perf_counter()
    for _ in range(repeats):
        bucket(codes, cnt)
    return (time.perf_counter() - t0) / repeats


def storage_and_transfer(chunks=(500, 5000), n_writes=4):
    """Per-replicate cost of writing a chunk to the store and of a chunk's rows
    crossing from a worker process to the parent."""
    from joblib.externals.loky import get_reusable_executor

    from simkit.runner import store
    from simkit.kernels import replicate as R
    out = {}
    ex = get_reusable_executor(max_workers=1)
    ex.submit(np.zeros, 1).result()
    for chunk in chunks:
        reps = chunk * (n_writes + 1)
        jb = C.job(C.study(replicates=reps), reps, chunk)
        rows = np.random.default_rng(0).normal(size=(chunk, R.N_OUT))
        for f in jb.int_fields:
            rows[:, jb.fields.index(f)] = 0.0
        with tempfile.TemporaryDirectory(prefix="simkit-store-") as d:
            rs = store.open_for_run(os.path.join(d, "s.zarr"), jb)
            try:
                rs.write_chunk(0, 0, rows)
                t0 = time.perf_counter()
                for j in range(1, n_writes + 1):
                    rs.write_chunk(0, j, rows)
                w = (time.perf_counter() - t0) / n_writes
            finally:
                rs.close()
        t0 = time.perf_counter()
        for _ in range(n_writes):
            ex.submit(np.ones, (chunk, R.N_OUT)).result()
        x = (time.perf_counter() - t0) / n_writes
        out[chunk] = {"store_write_ms_per_chunk": w * 1e3, "store_us_per_replicate": w / chunk * 1e6,
                      "transfer_ms_per_chunk": x * 1e3, "transfer_us_per_replicate": x / chunk * 1e6}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=3000, help="fixed-pool replicates profiled")
    ap.add_argument("--fresh-replicates", type=int, default=150, help="fresh-pool replicates profiled")
    ap.add_argument("--limit-replicates", type=int, default=60, help="replicates the limit is counted on")
    ap.add_argument("--chunks", default="500,5000", help="chunk sizes for the store and transfer costs")
    ap.add_argument("--results-dir")
    a = ap.parse_args(argv)
    from simkit.design.replicate import Design

    C.print_header("profile of one replicate and its limit")
    load0 = C.load()
    st = C.study()
    theta = st.conditions[0].scenario.theta()
    res = {"load_at_start": load0, "cases": {}}
    for label, pp, n in (("fixed", "condition", a.replicates), ("fresh", "replicate", a.fresh_replicates)):
        design = Design(pool_policy=pp)
        prof = stage_profile(theta, design, n)
        inp = limit_inputs(theta, design, a.limit_replicates, fresh=label == "fresh")
        lim, parts = time_limit(inp)
        if label == "fresh":
            parts["pool strata and buckets"] = bucket_time(design.pool_size)
            lim += parts["pool strata and buckets"]
        prof["limit_us"] = lim * 1e6
        prof["limit_parts_us"] = {k: v * 1e6 for k, v in parts.items()}
        prof["multiple_of_limit"] = prof["kernel_wall_us"] / prof["limit_us"]
        prof["multiple_of_limit_cpu"] = prof["kernel_cpu_us"] / prof["limit_us"]
        prof["limit_counts_mean"] = dict(zip(inp["names"], inp["counts"].mean(axis=0).round(1).tolist()))
        prof["limit_work_per_stage"] = {k: dict(zip(("keys", "uniforms", "quantiles", "exp_log", "visits"), v))
                                        for k, v in L.STAGE_WORK.items() if k in inp["names"]}
        prof["fit_iterations_mean"] = {"cox": float(inp["its"][:, 0].mean()),
                                       "logistic": float(inp["its"][:, 1].mean())}
        res["cases"][label] = prof
    res["storage_and_transfer"] = storage_and_transfer(tuple(int(c) for c in a.chunks.split(",")))

    fx, fr = res["cases"]["fixed"], res["cases"]["fresh"]
    print(f"\n{'stage (us per replicate)':40s} {'fixed pool':>12s} {'fresh pool':>12s}")
    for s in S.STAGES:
        print(f"{s:40s} {fx['stages_us'][s]:12.2f} {fr['stages_us'][s]:12.2f}")
    for lab, key in (("sum (profiled run, wall)", "profiled_wall_us"), ("replicate kernel, wall", "kernel_wall_us"),
                     ("replicate kernel, CPU", "kernel_cpu_us"), ("limit (minimum work)", "limit_us")):
        print(f"{lab:40s} {fx[key]:12.2f} {fr[key]:12.2f}")
    print(f"{'replicate / limit (target <= 3)':40s} {fx['multiple_of_limit']:12.2f} {fr['multiple_of_limit']:12.2f}")
    print(f"profiled rows equal run_chunk's: fixed {fx['profile_rows_equal_run_chunk']}, "
          f"fresh {fr['profile_rows_equal_run_chunk']}")
    print("\nper replicate, outside the kernel:")
    for chunk, v in res["storage_and_transfer"].items():
        print(f"  chunk {chunk:5d}: store write {v['store_write_ms_per_chunk']:7.1f} ms/chunk "
              f"= {v['store_us_per_replicate']:6.1f} us/replicate; worker -> parent transfer "
              f"{v['transfer_ms_per_chunk']:6.1f} ms/chunk = {v['transfer_us_per_replicate']:5.2f} us/replicate")
    print(f"limit counted on {a.limit_replicates} replicates; mean work counts: fixed {fx['limit_counts_mean']}")
    for lab, c in (("fixed", fx), ("fresh", fr)):
        print(f"limit parts, {lab}: " + ", ".join(f"{k} {v:.1f} us" for k, v in c["limit_parts_us"].items()))
    path = C.write_result("profile", res, a.results_dir)
    print(f"written {path}")
    return res


if __name__ == "__main__":
    main()
