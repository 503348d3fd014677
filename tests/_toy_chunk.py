"""A toy compute function for the Monte Carlo runner tests.

Replicate k of condition c draws from the counter-based stream root_key(seed,
c, k), so its row depends on (seed, c, k) only, whatever the chunking.
"""
import functools
import os
import time

import numpy as np
from numba import njit

from simkit.kernels import rng
from simkit.kernels._cacheguard import guard
from simkit.kernels.status import NO_EVENTS, OK

# the cached kernels below inline simkit's: stale once those change, so clear them then
guard(__file__)

FIELDS = ("estimate", "pvalue", "status", "n_events")
INT_FIELDS = frozenset({"status", "n_events"})


@njit(cache=True)
def _fill(seed, condition, start, stop, mu, out):
    for i in range(stop - start):
        key = rng.root_key(seed, condition, start + i)
        out[i, 0] = mu + rng.normal(key, 0)
        u = rng.uniform(key, 1)
        out[i, 1] = u
        n = int(20.0 * rng.uniform(key, 2))
        out[i, 3] = n
        if n == 0:
            out[i, 0] = np.nan
            out[i, 2] = NO_EVENTS
        else:
            out[i, 2] = OK


def toy_chunk(condition, start, stop, seed, mus, sleep=0.0):
    """Rows of replicates start..stop-1 of `condition` (mean mus[condition])."""
    out = np.empty((stop - start, len(FIELDS)))
    _fill(seed, condition, start, stop, float(mus[condition]), out)
    if sleep:
        time.sleep(sleep)
    return out


def pid_chunk(condition, start, stop, sleep=0.0):
    """The worker's process id for every replicate: shows where chunks ran."""
    time.sleep(sleep)
    return np.full((stop - start, 1), float(os.getpid()))


def expected_rows(seed, mus, condition, n_replicates):
    """The whole condition in one call: the reference the stores are checked against."""
    return toy_chunk(condition, 0, n_replicates, seed, mus)


def make_job(n_replicates=103, chunk_size=10, seed=20240, sleep=0.0, grid=True,
             scenario_hash="toy-hash-1"):
    """A 2 x 3 product grid (policy x hr) plus a non-grid coordinate, or explicit rows."""
    from simkit.runner.montecarlo import Job
    if grid:
        policy = ["greedy"] * 3 + ["optimal"] * 3
        hr = [0.5, 0.7, 1.0] * 2
        coords = {"policy": policy, "hr": hr, "log_hr": list(np.log(hr))}
        grid_dims = ("policy", "hr")
    else:
        coords = {"hr": [0.5, 0.7, 1.0, 0.7, 0.5, 1.0], "n": [10, 10, 10, 20, 20, 30]}
        grid_dims = None
    mus = tuple(float(np.log(h)) + (0.1 if i >= 3 else 0.0) for i, h in enumerate(coords["hr"]))
    return Job(
        scenario_hash=scenario_hash, n_conditions=6, n_replicates=n_replicates,
        chunk_size=chunk_size, fields=FIELDS, int_fields=INT_FIELDS,
        compute=functools.partial(toy_chunk, seed=seed, mus=mus, sleep=sleep),
        condition_coords=coords, grid_dims=grid_dims,
        attrs={"scenario": "toy", "seed": seed},
        field_attrs={"estimate": {"units": "log hazard ratio", "long_name": "estimate"},
                     "status": {"long_name": "reason code"}},
    ), mus


if __name__ == "__main__":
    # python tests/_toy_chunk.py STORE N_REPLICATES CHUNK_SIZE SLEEP: the kill test's child.
    import sys

    import _toy_chunk  # the module proper, not __main__, so the job is the test's job
    from simkit.runner.montecarlo import run
    job, _ = _toy_chunk.make_job(n_replicates=int(sys.argv[2]), chunk_size=int(sys.argv[3]),
                                 sleep=float(sys.argv[4]))
    run(job, sys.argv[1], jobs=1, progress=False)
