"""Scaling of the full replicate: processes, pool size, treated size, fixed vs fresh pool, memory.

Sections (each also written to benchmarks/results/scaling.json, and drawn in
benchmarks/results/scaling.png):

  processes  replicates/s at 1 and 2 processes, three ways: the kernel alone
             in this process (design.run_replicates, 1 process only); the
             chunks computed by a pool of worker processes and sent back
             (compute + inter-process transfer, no store); and `simkit run`'s
             engine end to end (montecarlo.run: workers, transfer, the Zarr
             store), at the default chunk size (500) and a larger one.  The
             peak resident memory of the whole process tree is sampled.
  pool       replicates/s vs pool size (1,000 .. 100,000), fixed and fresh pool,
             one process.
  treated    replicates/s vs treated cohort size (11 .. 1,000), fixed and fresh
             pool, one process.
  memory     peak memory of a whole run (a fresh process running
             montecarlo.run with 2 workers, its tree sampled) at several
             replicate counts: memory is bounded by the chunk, not the run.
             --million adds a 1,000,000-replicate run (a cheap design: fixed
             1,000-patient pool; about 2 minutes on 2 cores).

    .venv/bin/python benchmarks/bench_scaling.py [--quick] [--million] [--sections processes,pool,treated,memory]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

SEED = C.SEED
study = C.study
job = C.job


def kernel_rate(pool_policy, pool_size, n_treated, seconds, start=10_000):
    """Replicates/s of run_replicates in this process, per replicate at the
    margin: (t(1 + n) - t(1)) / n, so a fixed pool's one-off generation (once
    per condition in a real run) is not charged to the n replicates.  Best of 2."""
    from simkit.design.replicate import run_replicates
    st = study(pool_policy, pool_size, n_treated)
    theta, d = st.conditions[0].scenario.theta(), st.design(0)
    run_replicates(theta, d, SEED, 0, 0, 1)

    def t(a, b):
        t0 = time.perf_counter()
        run_replicates(theta, d, SEED, 0, a, b)
        return time.perf_counter() - t0
    per = max((t(start, start + 11) - t(start, start + 1)) / 10, 1e-6)
    n = max(3, int(seconds / 2 / per))
    best = np.inf
    for r in range(2):
        s0 = start + 100 + r * (n + 1)
        best = min(best, max(t(s0, s0 + 1 + n) - t(s0, s0 + 1), 1e-9) / n)
    return 1.0 / best, n


def _warm(compute):
    compute(0, 0, 2)
    time.sleep(1.0)


def workers_rate(jb, jobs):
    """Replicates/s of job.compute over all chunks on `jobs` worker processes
    (loky, as montecarlo.run uses it), results sent back, nothing stored."""
    import concurrent.futures as cf

    from joblib.externals.loky import get_reusable_executor
    ex = get_reusable_executor(max_workers=jobs)
    # warm every worker (start, load the compiled code): each warm task holds
    # its worker for a second, so the `jobs` tasks land on `jobs` workers
    list(ex.map(_warm, [jb.compute] * jobs))
    chunks = [(c, s, min(s + jb.chunk_size, jb.n_replicates))
              for c in range(jb.n_conditions) for s in range(0, jb.n_replicates, jb.chunk_size)]
    t0 = time.perf_counter()
    futs = [ex.submit(jb.compute, *t) for t in chunks]
    n = sum(f.result().shape[0] for f in cf.as_completed(futs))
    return n / (time.perf_counter() - t0)


def run_rate(jb, jobs):
    """montecarlo.run end to end into a fresh store: replicates/s and memory."""
    from simkit.runner import montecarlo
    with tempfile.TemporaryDirectory(prefix="simkit-bench-") as d:
        if jobs > 1:  # start the workers and load the compiled code once, untimed
            montecarlo.run(job(study(), 4, 2), os.path.join(d, "warm.zarr"), jobs=jobs, progress=False)
        with C.TreeMemory() as mem:
            t0 = time.perf_counter()
            montecarlo.run(jb, os.path.join(d, "s.zarr"), jobs=jobs, progress=False)
            dt = time.perf_counter() - t0
        return jb.n_replicates * jb.n_conditions / dt, mem.result()


def section_processes(a):
    out = []
    for label, pp, reps in (("fixed", "condition", a.fixed_reps), ("fresh", "replicate", a.fresh_reps)):
        if label not in a.pools:
            continue
        k1, _ = kernel_rate(pp, 10_000, 67, a.seconds)
        row = {"pool": label, "pool_size": 10_000, "n_treated": 67, "replicates": reps,
               "kernel_1_process": k1}
        st = study(pp, replicates=reps)
        big = 5000 if label == "fixed" else 500
        row["workers_no_store"] = {str(j): workers_rate(job(st, reps, big), j) for j in (1, 2)}
        row["chunk_for_workers"] = big
        row["run_end_to_end"] = {}
        for chunk in sorted({500, big}):
            for j in (1, 2):
                rate, mem = run_rate(job(st, reps, chunk), j)
                row["run_end_to_end"][f"jobs={j},chunk={chunk}"] = {"replicates_per_s": rate, "memory": mem}
                print(f"  {label:5s} montecarlo.run jobs={j} chunk={chunk:5d}: {rate:9,.0f} replicates/s, "
                      f"peak tree RSS {mem['peak_rss_tree_mib']} MiB")
        print(f"  {label:5s} kernel, 1 process: {k1:9,.0f}/s; workers without store: "
              + ", ".join(f"{j} -> {v:,.0f}/s" for j, v in row["workers_no_store"].items()))
        out.append(row)
    return out


def section_sweep(name, values, a):
    out = []
    for label, pp in (("fixed", "condition"), ("fresh", "replicate")):
        if label not in a.pools:
            continue
        for v in values:
            kw = {"pool_size": v, "n_treated": 67} if name == "pool" else {"pool_size": 10_000, "n_treated": v}
            rate, n = kernel_rate(pp, kw["pool_size"], kw["n_treated"], a.sweep_seconds)
            out.append({"pool": label, **kw, "replicates_per_s": rate, "replicates_timed": n})
            print(f"  {label:5s} pool_size={kw['pool_size']:7,d} n_treated={kw['n_treated']:5d}: "
                  f"{rate:10,.1f} replicates/s ({1e6 / rate:9.1f} us each)")
    return out


def memory_run(n, jobs, chunk):
    """Child mode: one montecarlo.run of n replicates; prints a JSON line."""
    from simkit.runner import montecarlo
    st = study("condition", pool_size=1000, replicates=n)
    jb = job(st, n, chunk)
    with tempfile.TemporaryDirectory(prefix="simkit-mem-") as d:
        t0 = time.perf_counter()
        info = montecarlo.run(jb, os.path.join(d, "m.zarr"), jobs=jobs, progress=False)
        dt = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())
    print(json.dumps({"replicates": n, "seconds": dt, "replicates_per_s": n / dt,
                      "chunks": info.n_chunks_computed, "store_mib": size / 2**20}))


def section_memory(a):
    counts = [2_000, 20_000, 100_000] if not a.quick else [300]
    if a.million:
        counts.append(1_000_000)
    out = []
    for n in counts:
        cmd = [sys.executable, __file__, "--memory-run", str(n), "--jobs", "2", "--chunk", str(a.memory_chunk)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=C.ROOT)
        with C.TreeMemory(interval=0.1, pid=p.pid) as mem:
            stdout, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed")
        row = json.loads(stdout.strip().splitlines()[-1])
        row.update(mem.result())
        row["command"] = " ".join(os.path.relpath(c, C.ROOT) if c == __file__ else c for c in cmd)
        out.append(row)
        print(f"  {n:9,d} replicates (fixed 1,000-patient pool, 2 workers, chunk {a.memory_chunk}): "
              f"peak RSS of the process tree {row['peak_rss_tree_mib']:7.1f} MiB, "
              f"{row['replicates_per_s']:,.0f}/s, store {row['store_mib']:.0f} MiB")
    return out


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    colors = {"fixed": "tab:blue", "fresh": "tab:orange"}
    for key, axis, xlab in (("pool", ax[0, 0], "pool size (patients)"),
                            ("treated", ax[0, 1], "treated cohort size (patients)")):
        rows = res.get(key) or []
        for label in ("fixed", "fresh"):
            r = [x for x in rows if x["pool"] == label]
            if r:
                xs = [x["pool_size"] if key == "pool" else x["n_treated"] for x in r]
                axis.plot(xs, [x["replicates_per_s"] for x in r], "o-", color=colors[label],
                          label=f"{label} pool")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(xlab)
        axis.set_ylabel("replicates per second (1 process)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    ax[0, 0].set_title("pool size (67 treated)")
    ax[0, 1].set_title("treated size (10,000-patient pool)")
    procs = res.get("processes") or []
    axis = ax[1, 0]
    for r in procs:
        c = colors[r["pool"]]
        w = r["workers_no_store"]
        axis.plot([1, 2], [w["1"], w["2"]], "o-", color=c, label=f"{r['pool']}: workers, no store")
        runs = r["run_end_to_end"]
        for chunk in sorted({500, r["chunk_for_workers"]}):
            style = ":" if chunk == 500 else "--"
            k1, k2 = runs.get(f"jobs=1,chunk={chunk}"), runs.get(f"jobs=2,chunk={chunk}")
            if k1 and k2:
                axis.plot([1, 2], [k1["replicates_per_s"], k2["replicates_per_s"]], "s" + style, color=c,
                          label=f"{r['pool']}: simkit run, chunk {chunk}")
        axis.plot([1], [r["kernel_1_process"]], "*", color=c, markersize=12, label=f"{r['pool']}: kernel alone")
    for y, lab in ((10_000, "target fixed"), (500, "target fresh")):
        axis.axhline(y, color="grey", lw=0.8, ls="-.")
        axis.text(1.02, y * 1.05, lab, color="grey", fontsize=8)
    axis.set_yscale("log")
    axis.set_xticks([1, 2])
    axis.set_xlabel("worker processes")
    axis.set_ylabel("replicates per second")
    axis.set_title("processes (seed design, 10,000-patient pool)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)
    axis = ax[1, 1]
    mem = res.get("memory") or []
    if mem:
        axis.plot([m["replicates"] for m in mem], [m["peak_rss_tree_mib"] for m in mem], "o-", color="tab:green")
        axis.axhline(2048, color="grey", lw=0.8, ls="-.")
        axis.text(mem[0]["replicates"], 2048 * 0.9, "2 GiB target", color="grey", fontsize=8, va="top")
        axis.set_xscale("log")
        axis.set_ylim(0, max(2300, 1.2 * max(m["peak_rss_tree_mib"] for m in mem)))
    axis.set_xlabel("replicates in the run")
    axis.set_ylabel("peak resident memory of the process tree (MiB)")
    axis.set_title("memory vs run length (2 workers + parent)")
    axis.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"simkit scaling — {C.cpu_model()}, {os.cpu_count()} cores (shared); "
                 f"load {C.load()['loadavg_1_5_15'][0]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="processes,pool,treated,memory")
    ap.add_argument("--pools", default="fixed,fresh", help="fixed, fresh or both")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not a measurement)")
    ap.add_argument("--million", action="store_true", help="add a 1,000,000-replicate memory run")
    ap.add_argument("--seconds", type=float, default=4.0, help="kernel timing per process case")
    ap.add_argument("--sweep-seconds", type=float, default=1.5, help="kernel timing per sweep point")
    ap.add_argument("--fixed-reps", type=int, default=40_000)
    ap.add_argument("--fresh-reps", type=int, default=1_500)
    ap.add_argument("--memory-chunk", type=int, default=5000)
    ap.add_argument("--results-dir")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from the JSON")
    ap.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, default=5000, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.pools = a.pools.split(",")
    if a.plot_only:
        path = (Path(a.results_dir) if a.results_dir else C.RESULTS) / ("scaling" + ("_quick" if a.quick else "") + ".json")
        plot(json.loads(path.read_text()), path.with_suffix(".png"))
        return None
    if a.memory_run:
        memory_run(a.memory_run, a.jobs, a.chunk)
        return None
    pools = [1_000, 3_000, 10_000, 30_000, 100_000]
    treated = [11, 33, 67, 200, 500, 1_000]
    if a.quick:
        a.seconds, a.sweep_seconds = 0.2, 0.1
        a.fixed_reps, a.fresh_reps, a.memory_chunk = 200, 10, 100
        pools, treated = [1_000, 3_000], [11, 67]
    C.print_header("scaling of the full replicate")
    res = {"load_at_start": C.load(), "quick": a.quick}
    sections = a.sections.split(",")
    if "processes" in sections:
        print("processes (replicates/s):")
        res["processes"] = section_processes(a)
    if "pool" in sections:
        print("pool size (one process):")
        res["pool"] = section_sweep("pool", pools, a)
    if "treated" in sections:
        print("treated size (one process):")
        res["treated"] = section_sweep("treated", treated, a)
    if "memory" in sections:
        print("memory vs number of replicates:")
        res["memory"] = section_memory(a)
    name = "scaling" + ("_quick" if a.quick else "")
    old = (Path(a.results_dir) if a.results_dir else C.RESULTS) / f"{name}.json"
    if old.exists() and set(sections) != {"processes", "pool", "treated", "memory"}:
        # a partial run: keep the other sections of the last full one (their
        # own load and command are in "kept_from")
        prev = json.loads(old.read_text())
        kept = [k for k in ("processes", "pool", "treated", "memory") if k not in sections and k in prev]
        for k in kept:
            res[k] = prev[k]
        if kept:
            res["kept_from"] = {"sections": kept, "command": prev.get("command"), "when": prev.get("when"),
                                "load_at_start": prev.get("load_at_start"),
                                "load_at_end": prev.get("load_at_end")}
    path = C.write_result(name, res, a.results_dir)
    png = path.with_suffix(".png")
    plot(res, png)
    print(f"written {path} and {png}")
    return res


if __name__ == "__main__":
    main()
