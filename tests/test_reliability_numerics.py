"""Cox and logistic fits on near-separated data, extreme covariates and huge n
converge or say why (issue 15)."""
import math
import time

import numpy as np
import pytest

from simkit.analysis.matched import analyze, table_from_columns
from simkit.kernels import cox as C
from simkit.kernels import logistic as L
from simkit.kernels import status as S


def big_columns(n, hr=0.7, seed=0):
    """A contract table of n pairs, vectorised (random_table loops in Python)."""
    rng = np.random.default_rng(seed)
    arm = np.tile(["treated", "reference"], n)
    base = rng.integers(20, 47, 2 * n)
    pre = np.minimum(48, base + rng.integers(0, 13, 2 * n))
    slope = rng.gamma(2.0, 0.5, 2 * n)
    scores = {"alsfrs_pre": pre, "alsfrs_0": base}
    for m in (2, 4, 6):
        scores[f"alsfrs_{m}"] = np.clip(np.round(base - slope * m + rng.normal(0, 1.5, 2 * n)), 0, 48).astype(int)
    t = rng.exponential(np.where(arm == "treated", 900.0 / hr, 900.0)) + 1.0
    return {"pair_id": np.repeat(np.arange(1, n + 1), 2), "arm": arm,
            "sex": np.repeat(rng.choice(["M", "F"], n), 2), "race": np.repeat(rng.choice(["White", "Other"], n), 2),
            "onset": np.repeat(rng.choice(["spinal", "bulbar"], n), 2), "riluzole": np.repeat(rng.integers(0, 2, n), 2),
            "age": np.round(rng.normal(57, 9, 2 * n), 1).clip(18, 90), "ft9_stage": np.repeat(rng.integers(1, 6, n), 2),
            **scores, "time_days": t, "event": (rng.random(2 * n) > 0.3).astype(int)}


@pytest.mark.parametrize("n", [1_000, 30_000, 100_000])
def test_binary_cox_converges_at_any_n(n):
    c = big_columns(n)
    x = (c["arm"] == "treated").astype(float)
    beta, se, ll, it, status = C.cox_binary(c["time_days"], c["event"].astype(np.int64), x, False)
    assert status == S.OK and it <= 10          # was NOT_CONVERGED after 100 iterations at 100,000
    assert abs(beta - math.log(0.7)) < 5 * se
    b2, se2, _, _, st2 = C.cox_binary(c["time_days"], c["event"].astype(np.int64), x, True)
    assert st2 == S.OK and abs(b2 - beta) < 0.01 * se


@pytest.mark.slow
def test_the_whole_analysis_of_100000_pairs():
    c = big_columns(100_000, seed=3)
    t0 = time.monotonic()
    d = analyze(table_from_columns(c)).to_dict()
    assert time.monotonic() - t0 < 300
    assert d["n_pairs"] == 100_000
    assert all(v == "ok" for v in d["status"].values()), d["status"]
    assert d["hr_ci_low"] < 0.7 < d["hr_ci_high"]


def _cox(time_, event, x, firth=False):
    return C.cox_binary(np.asarray(time_, float), np.asarray(event, np.int64), np.asarray(x, float), firth)


def test_cox_on_separated_and_near_separated_data():
    # every treated death before every reference death: monotone likelihood
    t = np.r_[np.arange(1, 21), np.arange(101, 121)].astype(float)
    x = np.r_[np.ones(20), np.zeros(20)]
    e = np.ones(40, np.int64)
    assert _cox(t, e, x)[4] == S.SEPARATION
    b, se, _, _, st = _cox(t, e, x, firth=True)
    assert st == S.OK and np.isfinite(b) and b > 2 and np.isfinite(se)
    # one reference death among the early ones: a finite, large estimate
    t2 = t.copy()
    t2[20] = 0.5
    b, se, _, it, st = _cox(t2, e, x)
    assert st == S.OK and 2 < b < 20 and np.isfinite(se)
    # extreme times: days 1e-6 to 1e9 behave like any others (rank-based)
    b3, se3, _, _, st3 = _cox(np.where(t2 > 50, t2 * 1e7, t2 * 1e-6), e, x)
    assert st3 == S.OK and b3 == pytest.approx(b, rel=1e-9)


def test_logistic_on_separation_extremes_and_huge_n():
    rng = np.random.default_rng(5)
    n = 200
    x = rng.normal(size=n)
    X = np.c_[np.ones(n), x]
    y = (x > 0).astype(float)                       # complete separation
    assert L.logistic_fit(X, y, False)[3] == S.SEPARATION
    beta, se, it, st = L.logistic_fit(X, y, True)
    assert st == S.OK and np.isfinite(beta).all() and np.isfinite(se).all()
    y2 = y.copy()
    y2[np.argmin(np.abs(x))] = 1 - y2[np.argmin(np.abs(x))]   # one point across: quasi / near separation
    st2 = L.logistic_fit(X, y2, False)[3]
    assert st2 in (S.OK, S.SEPARATION)
    # an extreme covariate scale (ages in days, or 1e6 times larger) changes beta by the scale only
    b1 = L.logistic_fit(X, (rng.random(n) < 1 / (1 + np.exp(-x))).astype(float), False)
    Xs = np.c_[np.ones(n), x * 1e6]
    ys = (rng.random(n) < 0.5).astype(float)
    r1 = L.logistic_fit(np.c_[np.ones(n), x], ys, False)
    r2 = L.logistic_fit(Xs, ys, False)
    assert b1[3] == S.OK and r1[3] == S.OK and r2[3] == S.OK
    assert r2[0][1] * 1e6 == pytest.approx(r1[0][1], rel=1e-6)
    # huge n
    m = 200_000
    xm = rng.normal(size=m)
    ym = (rng.random(m) < 1 / (1 + np.exp(-(0.3 + 0.8 * xm)))).astype(float)
    bm, sem, itm, stm = L.logistic_fit(np.c_[np.ones(m), xm], ym, False)
    assert stm == S.OK and abs(bm[1] - 0.8) < 5 * sem[1]
