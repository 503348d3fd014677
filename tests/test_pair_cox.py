"""Pair-aware inference (issue 14): the pair-clustered robust SE and the Cox model stratified by pair.

The kernels (kernels/cox.py: cox_binary_score_residuals, cox_binary_robust_se,
cox_pairs_stratified) and the seed analysis' fields that use them are checked against

  * lifelines: `CoxPHFitter().fit(df, cluster_col="pair")` (robust SE) and
    `fit(df, strata=["pair"])` (stratified), to 1e-6 in log HR and SE, on random matched
    tables of 3 to 150 pairs;
  * slow twins written from the definitions below (plain Python loops): the weighted Efron
    partial likelihood with strata, its Newton maximum, and the Efron score residuals
    subject by subject.

lifelines and tied death times: lifelines' score residuals ("TODO: doesn't handle ties"
in `_compute_score_within_strata`) take as risk set of a death the rows from its own
position on in a sort by (time, event), so with a death tied to another row its robust
SE depends on the order of the tied rows and is not Efron's.  simkit's residuals are
Efron's (R survival's coxph(..., cluster = pair) with ties = "efron"); with tied deaths
they are checked as what they are, the infinitesimal jackknife of the Efron estimate:
D_g = d b / d w_g, the derivative of lifelines' own weighted Efron estimate with respect
to pair g's case weight (finite differences of lifelines refits), and sqrt(sum_g D_g^2)
is the robust SE.  `test_lifelines_robust_se_depends_on_row_order_with_tied_deaths`
shows the order dependence.
"""
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from simkit.kernels import seedanalysis as SA
from simkit.kernels import status as st
from simkit.kernels.cox import Z95, cox_binary, cox_binary_robust_se, cox_binary_score_residuals, cox_pairs_stratified

TOL = 1e-6
# lifelines stops on a Newton decrement below `precision`, which leaves ~1e-8 in b at its
# default; these make it iterate to ~1e-12
LL_OPTS = dict(precision=1e-20, r_precision=0.0, max_steps=500)


# ------------------------------------------------------------------ slow twins

def efron(T, E, X, b, w=None, strata=None):
    """Weighted Efron log partial likelihood, score and information of one covariate at b.

    From the definition, stratum by stratum and death time by death time: D the deaths
    at t, R = {time >= t} in the stratum, S_r = sum_R w phi x^r, E_r the same over D,
    wbar the mean weight of D; l = sum_D w b x - wbar sum_{k<d} log(S_0 - k/d E_0)
    (lifelines' and R's weighted Efron).  Returns (l, U, I)."""
    n = len(T)
    w = [1.0] * n if w is None else list(w)
    strata = [0] * n if strata is None else list(strata)
    ll = u = info = 0.0
    for s in sorted(set(strata)):
        rows = [i for i in range(n) if strata[i] == s]
        for t in sorted({T[i] for i in rows if E[i]}):
            dead = [i for i in rows if T[i] == t and E[i]]
            risk = [i for i in rows if T[i] >= t]
            d = len(dead)
            wbar = sum(w[i] for i in dead) / d
            phi = {i: math.exp(b * X[i]) for i in risk}
            s0 = sum(w[i] * phi[i] for i in risk)
            s1 = sum(w[i] * phi[i] * X[i] for i in risk)
            s2 = sum(w[i] * phi[i] * X[i] ** 2 for i in risk)
            e0 = sum(w[i] * phi[i] for i in dead)
            e1 = sum(w[i] * phi[i] * X[i] for i in dead)
            e2 = sum(w[i] * phi[i] * X[i] ** 2 for i in dead)
            for i in dead:
                ll += w[i] * b * X[i]
                u += w[i] * X[i]
            for k in range(d):
                f = k / d
                den = s0 - f * e0
                m1 = (s1 - f * e1) / den
                m2 = (s2 - f * e2) / den
                ll -= wbar * math.log(den)
                u -= wbar * m1
                info += wbar * (m2 - m1 * m1)
    return ll, u, info


def slow_fit(T, E, X, w=None, strata=None):
    """Newton-Raphson with step halving on `efron` to full convergence: (b, se, status).

    Status from the likelihood itself: no information at b = 0 -> NO_EVENTS (nothing
    informative); the score still positive at b = 20 (or negative at -20) -> the maximum
    is at infinity, SEPARATION."""
    if efron(T, E, X, 0.0, w, strata)[2] <= 0.0:
        return math.nan, math.nan, st.NO_EVENTS
    if efron(T, E, X, 20.0, w, strata)[1] > 0.0 or efron(T, E, X, -20.0, w, strata)[1] < 0.0:
        return math.nan, math.nan, st.SEPARATION
    b = 0.0
    ll, u, info = efron(T, E, X, b, w, strata)
    for _ in range(200):
        step = u / info
        while True:
            ll2, u2, info2 = efron(T, E, X, b + step, w, strata)
            if ll2 >= ll - 1e-12 * (1 + abs(ll)) or abs(step) < 1e-15:
                break
            step /= 2
        b, ll, u, info = b + step, ll2, u2, info2
        if abs(step) < 1e-14:
            return b, 1 / math.sqrt(info), st.OK
    raise AssertionError("slow_fit did not converge")


def slow_score_residuals(T, E, X, b):
    """Efron score residuals, subject by subject from the definition (docstring of
    kernels.cox.cox_binary_score_residuals): r_i = sum over death times t of
      i dies at t:        x_i - mean_k p_k - phi_i sum_k (1 - k/d) (x_i - p_k) / D_k
      i at risk, alive:   - phi_i sum_k (x_i - p_k) / D_k
    with D_k = S_0 - k/d E_0 and p_k = (S_1 - k/d E_1) / D_k."""
    n = len(T)
    r = [0.0] * n
    for t in sorted({T[i] for i in range(n) if E[i]}):
        dead = [i for i in range(n) if T[i] == t and E[i]]
        risk = [i for i in range(n) if T[i] >= t]
        d = len(dead)
        phi = [math.exp(b * X[i]) for i in range(n)]
        s0 = sum(phi[i] for i in risk)
        s1 = sum(phi[i] * X[i] for i in risk)
        e0 = sum(phi[i] for i in dead)
        e1 = sum(phi[i] * X[i] for i in dead)
        den = [s0 - k / d * e0 for k in range(d)]
        p = [(s1 - k / d * e1) / den[k] for k in range(d)]
        for i in risk:
            if i in dead:
                r[i] += X[i] - sum(p) / d - phi[i] * sum((1 - k / d) * (X[i] - p[k]) / den[k] for k in range(d))
            else:
                r[i] -= phi[i] * sum((X[i] - p[k]) / den[k] for k in range(d))
    return r


def slow_robust_se(T, E, X, pair, b, se):
    r = slow_score_residuals(T, E, X, b)
    sums = {}
    for i, g in enumerate(pair):
        sums[g] = sums.get(g, 0.0) + r[i]
    return se * se * math.sqrt(sum(v * v for v in sums.values()))


# ------------------------------------------------------------------ tables

def random_pairs(rng, m, ties):
    """m pairs (t1, e1, t0, e0): treated and reference times and events.

    ties: 'none' (continuous death times; censoring times on a coarse grid, so only
    censored rows tie, never with a death), 'days' (everything rounded to whole 30-day
    months: tied deaths within and across pairs, censoring at death times)."""
    hr = float(rng.choice([0.3, 1.0, 2.5]))
    t1 = rng.exponential(900.0 / hr, m) + 1.0
    t0 = rng.exponential(900.0, m) + 1.0
    cens = float(rng.choice([0.0, 0.3, 0.7]))
    e1 = (rng.random(m) >= cens).astype(np.int64)
    e0 = (rng.random(m) >= cens).astype(np.int64)
    if rng.random() < 0.15:               # all deaths in one arm
        (e0 if rng.random() < 0.5 else e1)[:] = 0
    both = rng.random(m) < 0.1            # pairs censored together
    e1[both] = 0
    e0[both] = 0
    if ties == "days":
        t1 = np.maximum(30.0, np.floor(t1 / 30.0) * 30.0)
        t0 = np.maximum(30.0, np.floor(t0 / 30.0) * 30.0)
    else:
        grid = rng.choice([365.0, 730.0, 1095.0], 2 * m)
        t1 = np.where(e1 == 1, t1, grid[:m])
        t0 = np.where(e0 == 1, t0, grid[m:])
    return t1, e1, t0, e0


def long_arrays(t1, e1, t0, e0):
    m = len(t1)
    return (np.r_[t1, t0].astype(float), np.r_[e1, e0].astype(np.int64), np.r_[np.ones(m), np.zeros(m)],
            np.r_[np.arange(m), np.arange(m)].astype(np.int64))


def kernel_fields(t1, e1, t0, e0, firth=False):
    """The seed analysis kernel on these pairs (no scores: only the survival step matters)."""
    m = len(t1)
    out = np.empty(SA.N_FIELDS)
    SA.analyze_pairs(np.r_[t1, t0].astype(float), np.r_[e1, e0].astype(np.int64), np.full((2 * m, 5), np.nan),
                     np.ones(m, np.int64), np.full(m, 60.0), np.ones(m, np.int64), np.zeros(m, np.int64),
                     np.ones(m, np.int64), firth, out)
    return {name: out[i] for i, name in enumerate(SA.FIELDS)}


def lifelines_fit(t1, e1, t0, e0, **kw):
    from lifelines import CoxPHFitter
    T, E, X, P = long_arrays(t1, e1, t0, e0)
    df = pd.DataFrame({"T": T, "E": E, "x": X, "pair": P})
    if "weights" in kw:
        df["w"] = kw.pop("weights")
        kw["weights_col"] = "w"
    if "cluster_col" not in kw and "strata" not in kw:
        df = df.drop(columns="pair")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = CoxPHFitter().fit(df, "T", "E", fit_options=LL_OPTS, **kw)
    return float(c.params_["x"]), float(c.standard_errors_["x"])


def cases(n, seed):
    rng = np.random.default_rng(seed)
    for c in range(n):
        m = int(np.exp(rng.uniform(np.log(3), np.log(150.5))))      # 3..150 pairs, log-uniform
        yield c, m, rng


# ------------------------------------------------------------------ against lifelines

@pytest.mark.parametrize("block", range(4))
def test_against_lifelines_on_random_tables(block):
    """200 random tables (4 x 50): the stratified fit (with and without tied times) and the
    robust SE (death times untied; the tied case is the next test) to 1e-6; every failed fit
    has the status the likelihood says (slow twin)."""
    worst = {"strat": 0.0, "robust": 0.0}
    statuses = set()
    for c, m, rng in cases(50, 500 + block):
        ties = "days" if c % 2 else "none"
        t1, e1, t0, e0 = random_pairs(rng, m, ties)
        f = kernel_fields(t1, e1, t0, e0)
        T, E, X, P = long_arrays(t1, e1, t0, e0)
        # stratified by pair
        b_s, se_s, code = slow_fit(list(T), list(E), list(X), strata=list(P))
        assert f["cox_strat_status"] == code, (c, m, ties)
        statuses.add(int(code))
        if code == st.OK:
            b_l, se_l = lifelines_fit(t1, e1, t0, e0, strata=["pair"])
            d = max(abs(f["log_hr_strat"] - b_l), abs(f["log_hr_strat_se"] - se_l))
            assert d <= TOL, (c, m, ties, f["log_hr_strat"], b_l, f["log_hr_strat_se"], se_l)
            assert abs(f["log_hr_strat"] - b_s) <= 1e-9 and abs(f["log_hr_strat_se"] - se_s) <= 1e-9
            worst["strat"] = max(worst["strat"], d)
        else:
            assert math.isnan(f["hr_strat"]) and math.isnan(f["log_hr_strat_se"]) and math.isnan(f["hr_strat_p"])
        # robust, clustered on pair
        if f["cox_status"] != st.OK:
            assert f["cox_robust_status"] == f["cox_status"] and math.isnan(f["log_hr_se_robust"])
            continue
        assert f["cox_robust_status"] == st.OK
        se_twin = slow_robust_se(list(T), list(E), list(X), list(P), f["log_hr"], f["log_hr_se"])
        assert abs(f["log_hr_se_robust"] - se_twin) <= 1e-9 * max(1.0, se_twin)
        if ties == "none":
            b_l, se_l = lifelines_fit(t1, e1, t0, e0, cluster_col="pair")
            d = max(abs(f["log_hr"] - b_l), abs(f["log_hr_se_robust"] - se_l))
            assert d <= TOL, (c, m, f["log_hr"], b_l, f["log_hr_se_robust"], se_l)
            worst["robust"] = max(worst["robust"], d)
    print(f"block {block}: max abs diff vs lifelines {worst}; strat statuses {sorted(statuses)}")
    assert worst["strat"] > 0.0 and worst["robust"] > 0.0     # something was compared


def test_random_tables_cover_the_edge_cases():
    """The random tables above include separation, nothing informative, both censored,
    tied deaths within a pair and a death tied to a censoring in the other arm."""
    seen = set()
    for block in range(4):
        for c, m, rng in cases(50, 500 + block):
            ties = "days" if c % 2 else "none"
            t1, e1, t0, e0 = random_pairs(rng, m, ties)
            f = kernel_fields(t1, e1, t0, e0)
            seen.add(("strat", int(f["cox_strat_status"])))
            seen.add(("cox", int(f["cox_status"])))
            if np.any((e1 == 0) & (e0 == 0)):
                seen.add("both censored")
            if np.any((e1 == 1) & (e0 == 1) & (t1 == t0)):
                seen.add("tied deaths in a pair")
            if np.any((e1 == 1) & (e0 == 0) & (t1 == t0)):
                seen.add("death tied to the other's censoring")
            if e1.sum() == 0 or e0.sum() == 0:
                seen.add("all deaths in one arm")
    want = {("strat", st.OK), ("strat", st.SEPARATION), ("cox", st.SEPARATION), "both censored",
            "tied deaths in a pair", "death tied to the other's censoring", "all deaths in one arm"}
    assert want <= seen, want - seen


@pytest.mark.parametrize("seed", range(8))
def test_robust_se_with_tied_deaths_is_the_jackknife_of_lifelines_estimate(seed):
    """With tied death times: robust SE = sqrt(sum_g D_g^2), D_g = d b / d w_g the derivative of
    lifelines' weighted Efron estimate with respect to the case weight of pair g (central
    differences, h = 1e-4), to 1e-6."""
    rng = np.random.default_rng(900 + seed)
    m = int(rng.integers(4, 25))
    while True:
        t1, e1, t0, e0 = random_pairs(rng, m, "days")
        f = kernel_fields(t1, e1, t0, e0)
        T, E, _, P = long_arrays(t1, e1, t0, e0)
        tied = any(np.sum((T == t) & (E == 1)) > 1 for t in T[E == 1])
        if f["cox_status"] == st.OK and tied:
            break
    h = 1e-4
    dg = []
    for g in range(m):
        bs = []
        for s in (1.0, -1.0):
            w = np.ones(2 * m)
            w[P == g] += s * h
            bs.append(lifelines_fit(t1, e1, t0, e0, weights=w)[0])
        dg.append((bs[0] - bs[1]) / (2 * h))
    ij = math.sqrt(sum(d * d for d in dg))
    print(f"tied deaths, {m} pairs: robust SE {f['log_hr_se_robust']:.10f}, jackknife of lifelines {ij:.10f}")
    assert abs(f["log_hr_se_robust"] - ij) <= TOL, (f["log_hr_se_robust"], ij)
    # and lifelines' own cluster SE is not this (its residuals ignore the ties)
    assert abs(lifelines_fit(t1, e1, t0, e0, cluster_col="pair")[1] - f["log_hr_se_robust"]) > TOL


def test_weighted_efron_twin_is_lifelines():
    """The slow twin's weighted Efron likelihood is lifelines' (its maximum, with tied deaths
    and uneven weights), so the jackknife identity below rests on lifelines' definition."""
    rng = np.random.default_rng(4)
    for _ in range(5):
        m = int(rng.integers(5, 30))
        t1, e1, t0, e0 = random_pairs(rng, m, "days")
        T, E, X, _ = long_arrays(t1, e1, t0, e0)
        w = rng.uniform(0.5, 2.0, 2 * m)
        b, se, code = slow_fit(list(T), list(E), list(X), w=list(w))
        if code != st.OK:
            continue
        b_l, _ = lifelines_fit(t1, e1, t0, e0, weights=w)
        assert abs(b - b_l) <= 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_score_residuals_are_the_weight_derivative_of_the_score(seed):
    """Twin-free check of the residuals, ties included: r_i = d U_w(b) / d w_i at w = 1 (the
    weighted Efron score of `efron`, central differences), at any b; they sum to U(b)."""
    rng = np.random.default_rng(700 + seed)
    t1, e1, t0, e0 = random_pairs(rng, int(rng.integers(2, 12)), "days" if seed % 3 else "none")
    T, E, X, _ = long_arrays(t1, e1, t0, e0)
    if E.sum() == 0:
        E[0] = 1
    b = float(rng.normal(0, 1))
    r = cox_binary_score_residuals(T, E, X, b)
    n = len(T)
    h = 1e-6
    for i in range(n):
        w = np.ones(n)
        w[i] = 1 + h
        up = efron(list(T), list(E), list(X), b, w=list(w))[1]
        w[i] = 1 - h
        dn = efron(list(T), list(E), list(X), b, w=list(w))[1]
        assert abs(r[i] - (up - dn) / (2 * h)) <= 1e-7, i
    assert abs(r.sum() - efron(list(T), list(E), list(X), b)[1]) <= 1e-10
    np.testing.assert_allclose(r, slow_score_residuals(list(T), list(E), list(X), b), rtol=0, atol=1e-12)


def test_lifelines_robust_se_depends_on_row_order_with_tied_deaths():
    """Why tied deaths are not compared with lifelines' cluster SE: reversing the rows of the
    same table changes it; simkit's does not change."""
    from lifelines import CoxPHFitter
    t1 = np.array([30.0, 60, 60, 90, 120, 150, 150, 180])
    e1 = np.array([1, 1, 0, 1, 1, 0, 1, 1])
    t0 = np.array([60.0, 30, 60, 90, 60, 150, 120, 30])
    e0 = np.array([1, 1, 1, 1, 0, 1, 1, 1])
    T, E, X, P = long_arrays(t1, e1, t0, e0)
    df = pd.DataFrame({"T": T, "E": E, "x": X, "pair": P})
    ses = []
    for d in (df, df.iloc[::-1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ses.append(float(CoxPHFitter().fit(d, "T", "E", cluster_col="pair", fit_options=LL_OPTS)
                             .standard_errors_["x"]))
    assert abs(ses[0] - ses[1]) > 1e-3
    mine = kernel_fields(t1, e1, t0, e0)["log_hr_se_robust"]
    rev = kernel_fields(t1[::-1], e1[::-1], t0[::-1], e0[::-1])["log_hr_se_robust"]
    assert mine == pytest.approx(rev, rel=1e-13)


# ------------------------------------------------------------------ edge cases by hand

def test_stratified_closed_form_by_hand():
    # pairs: treated dies first (A) x3, reference first (B) x1, a non-informative pair
    # (the reference dies after the treated was censored) and a pair censored together
    t1 = np.array([10.0, 20, 30, 40, 5, 50])
    e1 = np.array([1, 1, 1, 0, 0, 0])
    t0 = np.array([15.0, 25, 30, 10, 8, 50])
    e0 = np.array([0, 1, 0, 1, 1, 0])
    b, se, n_inf, code = cox_pairs_stratified(t1, e1, t0, e0)
    assert code == st.OK and n_inf == 4
    assert b == pytest.approx(math.log(3.0), abs=1e-15)
    assert se == pytest.approx(math.sqrt(1 / 3 + 1), abs=1e-15)
    f = kernel_fields(t1, e1, t0, e0)
    assert f["hr_strat"] == pytest.approx(3.0, rel=1e-15)
    assert f["hr_strat_ci_low"] == pytest.approx(math.exp(math.log(3) - Z95 * se), rel=1e-14)
    assert f["hr_strat_ci_high"] == pytest.approx(math.exp(math.log(3) + Z95 * se), rel=1e-14)
    assert f["hr_strat_p"] == pytest.approx(math.erfc(abs(math.log(3) / se) / math.sqrt(2)), rel=1e-14)
    assert f["n_pairs_informative"] == 4
    assert lifelines_fit(t1, e1, t0, e0, strata=["pair"]) == pytest.approx((math.log(3), se), abs=TOL)


def test_tied_deaths_in_a_pair_pull_towards_one():
    # Efron: a pair whose patients die on the same day gives l = b - 2 log(1 + e^b) + log 2,
    # so it is informative (C) and pulls b to 0: b = log((A + C) / (B + C)); lifelines agrees
    t1 = np.array([10.0, 20, 30, 30])
    e1 = np.array([1, 1, 1, 1])
    t0 = np.array([15.0, 25, 30, 30])
    e0 = np.array([0, 1, 1, 1])
    b, se, n_inf, code = cox_pairs_stratified(t1, e1, t0, e0)
    assert code == st.OK and n_inf == 4
    assert b == pytest.approx(math.log(4 / 2), abs=1e-15) and se == pytest.approx(math.sqrt(1 / 4 + 1 / 2))
    assert lifelines_fit(t1, e1, t0, e0, strata=["pair"]) == pytest.approx((b, se), abs=TOL)


def test_one_pair():
    # tied deaths: the stratified model is b = 0, se = sqrt(2) (as lifelines); the unstratified
    # fit exists (b = 0) but one cluster leaves no variance for the robust SE: too_few
    f = kernel_fields(np.array([30.0]), np.array([1]), np.array([30.0]), np.array([1]))
    assert f["cox_status"] == st.OK and f["log_hr"] == 0.0
    assert f["cox_robust_status"] == st.TOO_FEW and math.isnan(f["log_hr_se_robust"])
    assert math.isnan(f["hr_ci_low_robust"]) and math.isnan(f["hr_p_robust"])
    assert f["cox_strat_status"] == st.OK and f["log_hr_strat"] == 0.0
    assert f["log_hr_strat_se"] == pytest.approx(math.sqrt(2.0), rel=1e-15)
    assert lifelines_fit(np.array([30.0]), np.array([1]), np.array([30.0]), np.array([1]), strata=["pair"]) \
        == pytest.approx((0.0, math.sqrt(2.0)), abs=TOL)
    # the treated dies first: an infinite HR in both models
    f = kernel_fields(np.array([10.0]), np.array([1]), np.array([30.0]), np.array([1]))
    assert f["cox_status"] == st.SEPARATION and f["cox_robust_status"] == st.SEPARATION
    assert f["cox_strat_status"] == st.SEPARATION and f["n_pairs_informative"] == 1
    assert all(math.isnan(f[k]) for k in ("hr_strat", "log_hr_strat", "log_hr_strat_se", "log_hr_se_robust"))


def test_no_events():
    t = np.array([10.0, 20, 30])
    f = kernel_fields(t, np.zeros(3, np.int64), t + 1, np.zeros(3, np.int64))
    assert f["cox_status"] == st.NO_EVENTS and f["cox_robust_status"] == st.NO_EVENTS
    assert f["cox_strat_status"] == st.NO_EVENTS and f["n_pairs_informative"] == 0
    assert math.isnan(f["hr_strat"]) and math.isnan(f["log_hr_se_robust"])


def test_no_informative_pairs_but_an_estimable_unstratified_fit():
    # in every pair the death comes after the other patient was censored: nothing for the
    # stratified model (no_events: no death usable by the method), while across pairs the
    # unstratified model has information
    t1 = np.array([5.0, 40, 12, 50])
    e1 = np.array([0, 1, 0, 1])
    t0 = np.array([40.0, 5, 50, 12])
    e0 = np.array([1, 0, 1, 0])
    f = kernel_fields(t1, e1, t0, e0)
    assert f["cox_strat_status"] == st.NO_EVENTS and f["n_pairs_informative"] == 0
    assert math.isnan(f["hr_strat"])
    assert f["cox_status"] == st.OK and f["cox_robust_status"] == st.OK and f["log_hr_se_robust"] > 0
    assert slow_fit(*map(list, long_arrays(t1, e1, t0, e0)[:3]), strata=list(range(4)) * 2)[2] == st.NO_EVENTS


def test_separation_in_the_pairs_only():
    # across pairs both arms die while the other is at risk (a finite unstratified HR), but
    # within every informative pair the treated dies first: the stratified HR is infinite
    t1 = np.array([10.0, 30, 50, 70])
    e1 = np.array([1, 1, 1, 0])
    t0 = np.array([20.0, 40, 60, 5])
    e0 = np.array([0, 0, 1, 0])
    f = kernel_fields(t1, e1, t0, e0)
    assert f["cox_status"] == st.OK and np.isfinite(f["log_hr_se_robust"])
    assert f["cox_strat_status"] == st.SEPARATION and f["n_pairs_informative"] == 3
    assert math.isnan(f["hr_strat"]) and math.isnan(f["hr_strat_p"])
    T, E, X, P = long_arrays(t1, e1, t0, e0)
    assert slow_fit(list(T), list(E), list(X), strata=list(P))[2] == st.SEPARATION
    # lifelines runs off towards infinity until its Hessian is singular
    from lifelines.exceptions import ConvergenceError
    with pytest.raises(ConvergenceError, match="singular"):
        lifelines_fit(t1, e1, t0, e0, strata=["pair"])


def test_all_deaths_in_one_arm():
    t1 = np.array([10.0, 20, 30, 40])
    t0 = np.array([50.0, 60, 70, 80])
    f = kernel_fields(t1, np.ones(4, np.int64), t0, np.zeros(4, np.int64))
    for k in ("cox_status", "cox_robust_status", "cox_strat_status"):
        assert f[k] == st.SEPARATION, k
    assert math.isnan(f["hr"]) and math.isnan(f["log_hr_se_robust"]) and math.isnan(f["hr_strat"])


def test_no_pairs_and_missing_survival():
    f = kernel_fields(np.empty(0), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))
    assert f["cox_robust_status"] == st.MISSING and f["cox_strat_status"] == st.MISSING
    assert f["n_pairs_informative"] == 0
    # a pair with a missing time is left out of both (as of the Cox fit), its pair index too
    rng = np.random.default_rng(11)
    t1, e1, t0, e0 = random_pairs(rng, 40, "none")
    full = kernel_fields(t1, e1, t0, e0)
    t1m, e1m = t1.copy(), e1.copy()
    t1m[[3, 17]] = np.nan
    e1m[25] = -1
    part = kernel_fields(t1m, e1m, t0, e0)
    keep = np.ones(40, bool)
    keep[[3, 17, 25]] = False
    sub = kernel_fields(t1[keep], e1[keep], t0[keep], e0[keep])
    assert part["dropped_survival"] == 3
    for k in ("log_hr", "log_hr_se_robust", "log_hr_strat", "log_hr_strat_se", "n_pairs_informative",
              "cox_robust_status", "cox_strat_status"):
        assert part[k] == sub[k] or (math.isnan(part[k]) and math.isnan(sub[k])), k
    assert full["log_hr_se_robust"] != part["log_hr_se_robust"]


# ------------------------------------------------------------------ properties of the fields

def test_fields_are_consistent_and_order_free():
    rng = np.random.default_rng(12)
    for _ in range(30):
        m = int(rng.integers(3, 80))
        t1, e1, t0, e0 = random_pairs(rng, m, "days")
        f = kernel_fields(t1, e1, t0, e0)
        perm = rng.permutation(m)
        g = kernel_fields(t1[perm], e1[perm], t0[perm], e0[perm])
        for k in ("log_hr_se_robust", "log_hr_strat", "log_hr_strat_se", "n_pairs_informative"):
            assert g[k] == pytest.approx(f[k], rel=1e-12, abs=1e-14, nan_ok=True), k
        if f["cox_robust_status"] == st.OK:
            b, s = f["log_hr"], f["log_hr_se_robust"]
            assert f["hr_ci_low_robust"] == pytest.approx(math.exp(b - Z95 * s), rel=1e-14)
            assert f["hr_ci_high_robust"] == pytest.approx(math.exp(b + Z95 * s), rel=1e-14)
            assert f["hr_p_robust"] == pytest.approx(math.erfc(abs(b / s) / math.sqrt(2)), rel=1e-13)
        if f["cox_strat_status"] == st.OK:
            assert f["hr_strat"] == pytest.approx(math.exp(f["log_hr_strat"]), rel=1e-15)


def test_firth_leaves_the_pair_fields_alone():
    """With the firth option the robust and stratified outputs are the unpenalised fits
    (docs/matched-cohort.md): bit for bit those without it."""
    rng = np.random.default_rng(13)
    names = ("log_hr_se_robust", "hr_ci_low_robust", "hr_ci_high_robust", "hr_p_robust", "cox_robust_status",
             "hr_strat", "hr_strat_ci_low", "hr_strat_ci_high", "hr_strat_p", "log_hr_strat", "log_hr_strat_se",
             "n_pairs_informative", "cox_strat_status")
    for _ in range(20):
        t1, e1, t0, e0 = random_pairs(rng, int(rng.integers(3, 60)), "days")
        a = kernel_fields(t1, e1, t0, e0, firth=False)
        b = kernel_fields(t1, e1, t0, e0, firth=True)
        for k in names:
            assert a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])), k


def test_cox_binary_robust_se_arguments():
    rng = np.random.default_rng(14)
    t1, e1, t0, e0 = random_pairs(rng, 30, "none")
    T, E, X, P = long_arrays(t1, e1, t0, e0)
    b, se, _, _, code = cox_binary(T, E, X, False)
    assert code == st.OK
    s, c = cox_binary_robust_se(T, E, X, P, 30, b, se)
    assert c == st.OK and s > 0
    # every row its own cluster: the unclustered sandwich (lifelines' robust=True)
    s1, c1 = cox_binary_robust_se(T, E, X, np.arange(60, dtype=np.int64), 60, b, se)
    from lifelines import CoxPHFitter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = CoxPHFitter().fit(pd.DataFrame({"T": T, "E": E, "x": X}), "T", "E", robust=True, fit_options=LL_OPTS)
    assert c1 == st.OK and abs(s1 - float(c.standard_errors_["x"])) <= TOL
    assert cox_binary_robust_se(T, E, X, np.zeros(60, np.int64), 1, b, se)[1] == st.TOO_FEW


# ------------------------------------------------------------------ the summary of a store

def test_summary_measures_of_the_pair_fields(tmp_path):
    """`simkit summarize`: the robust and stratified measures are the generic measures of the
    stored fields, against the same truths as the model-SE measures (conditional and marginal),
    with cluster-robust MCSEs; the existing measures are unchanged by them."""
    from simkit.cli import main
    from simkit.report import measures as M
    from simkit.report.summary import flat, measure, summarize, to_json
    from simkit.runner.store import open_results, read_status
    f = tmp_path / "s.toml"
    f.write_text('seed = 3\nreplicates = 24\n[design]\npool_size = 1500\nn_treated = 30\n'
                 'pool_policy = "block"\npool_block_size = 4\n[run]\nchunk_size = 8\n'
                 '[grid]\n"treatment.hr" = [1.0, 0.5]\n')
    store = tmp_path / "s.zarr"
    assert main(["run", str(f), "--out", str(store), "--jobs", "1", "--quiet"]) == 0
    ds = summarize(store)
    names = ["log_hr", "log_hr_se_robust", "hr_ci_low_robust", "hr_ci_high_robust", "hr_p_robust",
             "log_hr_strat", "log_hr_strat_se", "hr_strat_ci_low", "hr_strat_ci_high", "hr_strat_p"]
    raw = open_results(store, variables=names)
    v = {k: flat(raw, k).astype(float) for k in names}
    attrs = read_status(store)["attrs"]
    clusters = np.arange(24) // 4
    for c in range(2):
        cond = attrs["conditional_log_hr"][c]
        marg = attrs["truth"][c]["marginal_log_hr"]
        want = {
            "robust_coverage": M.coverage(np.log(v["hr_ci_low_robust"][c]), np.log(v["hr_ci_high_robust"][c]), cond,
                                          clusters=clusters),
            "marginal_robust_coverage": M.coverage(np.log(v["hr_ci_low_robust"][c]),
                                                   np.log(v["hr_ci_high_robust"][c]), marg, clusters=clusters),
            "robust_model_se": M.model_se(v["log_hr_se_robust"][c], clusters),
            "robust_rejection": M.rejection(v["hr_p_robust"][c], 0.05, clusters=clusters),
            "strat_bias": M.bias(v["log_hr_strat"][c], cond, clusters),
            "marginal_strat_bias": M.bias(v["log_hr_strat"][c], marg, clusters),
            "strat_empirical_se": M.empirical_se(v["log_hr_strat"][c], clusters),
            "strat_model_se": M.model_se(v["log_hr_strat_se"][c], clusters),
            "strat_coverage": M.coverage(np.log(v["hr_strat_ci_low"][c]), np.log(v["hr_strat_ci_high"][c]), cond,
                                         clusters=clusters),
            "marginal_strat_coverage": M.coverage(np.log(v["hr_strat_ci_low"][c]), np.log(v["hr_strat_ci_high"][c]),
                                                  marg, clusters=clusters),
            "strat_rejection": M.rejection(v["hr_strat_p"][c], 0.05, clusters=clusters),
        }
        for k, m in want.items():
            got = measure(ds, k, c=c)
            assert got.n == m.n and got.estimate == pytest.approx(m.estimate, rel=1e-12, nan_ok=True), k
            assert got.mcse == pytest.approx(m.mcse, rel=1e-12, nan_ok=True), k
        assert measure(ds, "strat_bias", c=c).n > 12      # most replicates have a stratified estimate
        assert measure(ds, "robust_coverage", c=c).n == measure(ds, "coverage", c=c).n
    j = to_json(ds)["conditions"][1]
    assert j["pair_stratified"]["vs_marginal"]["bias"] == measure(ds, "marginal_strat_bias", c=1).to_dict()
    assert j["pair_robust"]["vs_conditional"]["coverage"] == measure(ds, "robust_coverage", c=1).to_dict()
    assert "cox_strat_status=separation" in ds["measure"].values
    assert "cox_robust_status=ok" in ds["measure"].values
