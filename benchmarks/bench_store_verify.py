"""Reopening a store checks every chunk flagged done (crc32c): its cost.

A 10-condition x 20,000-replicate store of 144 float fields (random values, so
it compresses like real results at worst), written once, then reopened as a
resumed run would.

    .venv/bin/python benchmarks/bench_store_verify.py
"""
import functools, time, os, numpy as np, shutil
from simkit.runner.montecarlo import Job, run
from simkit.runner import store
def comp(c, a, b, nf):
    rng = np.random.default_rng(c * 1_000_003 + a)
    out = rng.normal(size=(b - a, nf)); out[:, :40] = np.round(out[:, :40] * 3)  # some int-like columns
    return out
nf, nc, nr = 144, 10, 20000
job = Job(scenario_hash="v", n_conditions=nc, n_replicates=nr, chunk_size=500, fields=tuple(f"f{i}" for i in range(nf)),
          int_fields=frozenset(), compute=functools.partial(comp, nf=nf), condition_coords={"c": list(range(nc))},
          grid_dims=None, attrs={})
import tempfile
p = os.path.join(tempfile.mkdtemp(), "verify.zarr")
run(job, p, jobs=1, progress=False)
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)
for k in range(3):
    t = time.perf_counter(); st = store.open_for_run(p, job); dt = time.perf_counter() - t; st.close()
    print(f"store {size/1e6:.0f} MB on disk, {nc*nr*nf*8/1e6:.0f} MB raw: reopen with verification {dt:.2f} s")
shutil.rmtree(os.path.dirname(p))
