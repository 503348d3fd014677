"""Golden digests with the course of decline on: speed work on it must not change a number.

tests/test_replicate_golden.py pins the world with a linear course (the world as
it was before the course of decline), so it cannot see a change in how the course
is drawn or evaluated.  The digests below were computed from the kernels as they
stood when the course was added (git 6b6aef5, compiled afresh), before the course
was drawn lazily: curvature and plateaus at their defaults of that revision, and
two harder worlds (negative curvature that reaches a zero rate; frequent short
plateaus that hit the switch cap, with an aligned time zero and a wait before the
first injection, so the entry visit comes before month -6).  Each covers whole
replicates (fixed and fresh pools) and the world kernels the replicate does not
call with the twin (treated_cohort's twin, pool_outcomes of every member,
pool_visit_domains, pool_monthly), bit for bit (NaN mapped to one sentinel).
`python tests/test_golden_course.py` prints the digests of the current code.
"""
import hashlib
import sys

import numpy as np
import pytest

from simkit.design.replicate import OUT_FIELDS, Design, run_replicates
from simkit.kernels import history as H
from test_replicate_golden import BASE, _bytes

# the course at the defaults of the golden revision, and two harder courses
COURSE = dict(curvature_mean=0.1, curvature_sd=0.3, plateau_share=0.45, plateau_months=10.0)
WORLDS = {
    "course": dict(BASE, **COURSE),
    "curved": dict(BASE, curvature_mean=-0.8, curvature_sd=1.0, plateau_share=0.0, rate_change=-0.5,
                   rate_change_sd=0.4, slope_hazard_link=1.0),
    "plateaus": dict(BASE, curvature_mean=0.0, curvature_sd=0.0, plateau_share=0.8, plateau_months=1.0,
                     time_zero_misalignment=0.0, waiting_months=8.0, rate_change=-2.0, slope_hazard_link=0.5),
}

# output fields at the golden revision (new fields are appended and not digested)
N_FIELDS = 176
FIELDS_DIGEST = "88f674f6f0ee0bcc"


def theta_of(name):
    from simkit.world.model import default_params
    vals = {**default_params(), **WORLDS[name]}
    assert set(WORLDS[name]) <= set(H.THETA_NAMES), "a golden parameter was removed or renamed"
    return np.array([vals[n] for n in H.THETA_NAMES], dtype=np.float64)


# (id, world, design kwargs, seed, condition, start, stop)
RUNS = [
    ("course-cond", "course", {}, 20200331, 0, 0, 30),
    ("course-repl", "course", {"pool_policy": "replicate"}, 7, 1, 3, 6),
    ("curved-cond", "curved", {"pool_size": 3000}, 5, 2, 10, 25),
    ("plateaus-cond", "plateaus", {"pool_size": 3000}, 6, 0, 0, 15),
]


def digest_run(cid):
    _, world, kw, seed, cond, a, b = next(c for c in RUNS if c[0] == cid)
    rows = run_replicates(theta_of(world), Design(**kw), seed, cond, a, b)
    return hashlib.sha256(_bytes(rows[:, :N_FIELDS])).hexdigest()[:24]


def digest_world(world):
    theta = theta_of(world)
    h = hashlib.sha256()
    for key in (11, 2**62 + 5):
        tr = np.empty((67, H.N_TC))
        tw = np.empty((67, H.N_TC))
        filled, n_appl = H.treated_cohort(theta, np.uint64(key), tr, tw)
        h.update(_bytes([filled, n_appl]))
        h.update(_bytes(tr[:filled]))
        h.update(_bytes(tw[:filled]))
    n = 400
    pool = np.empty((n, H.N_PB))
    keys = np.empty(n, np.uint64)
    h.update(_bytes(H.pool_baseline(theta, np.uint64(17), pool, keys)))
    h.update(_bytes(pool))
    h.update(keys.tobytes())
    po = np.empty((n, H.N_PO))
    H.pool_outcomes(theta, keys, po)
    dom = np.empty((n, H.N_DOMAIN_VISITS, 4))
    H.pool_visit_domains(theta, keys, dom)
    mon = np.empty((n, H.POOL_MONTHLY_LAST + 1))
    H.pool_monthly(theta, keys, mon)
    for x in (po, dom, mon):
        h.update(_bytes(x))
    return h.hexdigest()[:24]


GOLDEN_RUNS = {
    'course-cond': 'cd52e1f1ca5386b4b17586f8',
    'course-repl': '932e4941bcca7464e7a9f848',
    'curved-cond': 'f81f7ab818972add3886ef58',
    'plateaus-cond': '94b611f6e32cbeae81176a37',
}
GOLDEN_WORLDS = {
    'course': 'e74626cd6dcf9714e126f859',
    'curved': 'a9e5e2ab1752a4eed017a2c1',
    'plateaus': '9dd6194ffc867d45c89c005f',
}


def test_output_fields_digested_are_unchanged():
    names = "\0".join(OUT_FIELDS[:N_FIELDS]).encode()
    assert hashlib.sha256(names).hexdigest()[:16] == FIELDS_DIGEST


@pytest.mark.parametrize("cid", [c[0] for c in RUNS])
def test_runs_unchanged(cid):
    assert digest_run(cid) == GOLDEN_RUNS[cid]


@pytest.mark.parametrize("world", list(WORLDS))
def test_world_kernels_unchanged(world):
    assert digest_world(world) == GOLDEN_WORLDS[world]


if __name__ == "__main__":
    print("N_FIELDS =", len(OUT_FIELDS), " FIELDS_DIGEST =",
          repr(hashlib.sha256("\0".join(OUT_FIELDS[:N_FIELDS]).encode()).hexdigest()[:16]))
    print("GOLDEN_RUNS = {")
    for c in RUNS:
        print(f"    {c[0]!r}: {digest_run(c[0])!r},")
    print("}")
    print("GOLDEN_WORLDS = {")
    for w in WORLDS:
        print(f"    {w!r}: {digest_world(w)!r},")
    print("}")
    sys.stdout.flush()
