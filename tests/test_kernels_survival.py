"""Survival kernels (Cox, Kaplan-Meier, weighted log-rank) against slow oracles.

Oracles: lifelines (CoxPHFitter with Efron ties, KaplanMeierFitter,
statistics.logrank_test), a fractions.Fraction product-limit twin for the
exact-0.5 median rule, and a plain-numpy Efron partial likelihood maximised by
scipy.optimize for the Firth penalty.

lifelines' Newton-Raphson stops on a Newton decrement below 1e-7 (or a
relative log-likelihood change below 1e-9), and returns the point before that
last step: with its defaults the coefficient is off by up to 6e-4 (absolute,
beta = -0.35, se = 1.4) on these tables.  The kernels iterate until the Newton
step is below 1e-10.  The comparisons therefore run lifelines with TIGHT (stop
only when the log-likelihood no longer moves); the checks that separation is
flagged use lifelines' defaults, as a user would see them.
"""
import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test

from simkit.kernels import status as st
from simkit.kernels.cox import Z95, cox_binary, cox_fit, wald
from simkit.kernels.km import km_curve, km_median
from simkit.kernels.logrank import GEHAN, LOGRANK, PETO, TARONE_WARE, weighted_logrank

TIGHT = dict(precision=1e-20, r_precision=1e-15, max_steps=500)
WEIGHTINGS = [(LOGRANK, None), (GEHAN, "wilcoxon"), (TARONE_WARE, "tarone-ware"), (PETO, "peto")]
N_TABLES = 200


# ------------------------------------------------------------------ data

def random_table(seed):
    """A matched-cohort survival table: 2..400 pairs, first half treated.

    Styles: continuous times, integer days (some ties), integer days on a
    coarse grid (heavy ties), and tiny tables; censoring from none to heavy.
    """
    rng = np.random.default_rng([20240611, seed])
    size = rng.random()
    if size < 0.2:
        pairs = int(rng.integers(2, 6))
    elif size < 0.45:
        pairs = int(rng.integers(6, 16))
    elif size < 0.85:
        pairs = int(rng.integers(16, 120))
    else:
        pairs = int(rng.integers(120, 401))
    n = 2 * pairs
    x = np.r_[np.ones(pairs), np.zeros(pairs)]
    hr = math.exp(rng.normal(0.0, 0.8))
    t_event = rng.exponential(600.0, n) / np.where(x == 1, hr, 1.0)
    censor_level = rng.choice([0.0, 0.3, 1.0, 3.0])
    if censor_level == 0.0:
        c = np.full(n, np.inf)
    else:
        c = rng.uniform(0.0, 1500.0 / censor_level, n) + rng.exponential(600.0, n) * (rng.random(n) < 0.5)
    t = np.minimum(t_event, c)
    e = (t_event <= c).astype(np.int64)
    style = int(rng.integers(4))
    if style == 1:
        t = np.ceil(t)                      # integer days
    elif style == 2:
        t = np.ceil(t / 150.0)              # a handful of distinct times: heavy ties
    elif style == 3:
        t = np.ceil(t / 30.0) * 30.0        # whole months, in days
    else:
        t = t + 1e-3                        # continuous, > 0
    return t.astype(np.float64), e, x


# ------------------------------------------------------------------ oracles

def lifelines_cox(t, e, X, fit_options=None):
    """(params, se, loglik, warned) or None if lifelines raises."""
    X = np.asarray(X, float).reshape(len(t), -1)
    cols = [f"x{j}" for j in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    df["T"] = t
    df["E"] = e
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(df, "T", "E", fit_options=fit_options)
        except Exception:  # noqa: BLE001 - any failure is what we look for
            return None
    warned = any("Convergence" in type(w.message).__name__ for w in caught)
    return cph, warned


def finite_max_exists(t, e, x):
    """The spec's rule, by brute force over the death times."""
    a = b = False
    for tj in np.unique(t[e == 1]):
        at_risk = t >= tj
        dead = (t == tj) & (e == 1)
        if np.any(dead & (x == 1)) and np.any(at_risk & (x == 0)):
            a = True
        if np.any(dead & (x == 0)) and np.any(at_risk & (x == 1)):
            b = True
    return a and b


def lifelines_flags_separation(t, e, x):
    """lifelines with its defaults raises, warns, or returns a huge coefficient."""
    out = lifelines_cox(t, e, x)
    if out is None:
        return True
    cph, warned = out
    return warned or abs(cph.params_.iloc[0]) > 8.0


def efron_loglik(b, t, e, X):
    """Plain Efron log partial likelihood, one death time at a time."""
    X = np.asarray(X, float).reshape(len(t), -1)
    eta = X @ np.atleast_1d(b)
    ll = 0.0
    for tj in np.unique(t[e == 1]):
        risk = t >= tj
        dead = (t == tj) & (e == 1)
        d = int(dead.sum())
        ll += eta[dead].sum()
        for k in range(d):
            ll -= math.log(np.exp(eta[risk]).sum() - k / d * np.exp(eta[dead]).sum())
    return ll


def efron_info(b, t, e, X):
    """Observed information of the Efron partial likelihood (weighted covariances)."""
    X = np.asarray(X, float).reshape(len(t), -1)
    p = X.shape[1]
    w = np.exp(X @ np.atleast_1d(b))
    info = np.zeros((p, p))
    for tj in np.unique(t[e == 1]):
        risk = t >= tj
        dead = (t == tj) & (e == 1)
        d = int(dead.sum())
        for k in range(d):
            wk = w * risk - k / d * w * dead
            total = wk.sum()
            mean = (wk[:, None] * X).sum(0) / total
            second = (wk[:, None, None] * X[:, :, None] * X[:, None, :]).sum(0) / total
            info += second - np.outer(mean, mean)
    return info


def firth_objective(b, t, e, X):
    info = efron_info(b, t, e, X)
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return -np.inf
    return efron_loglik(b, t, e, X) + 0.5 * logdet


def firth_oracle(t, e, X):
    """Maximise the penalised likelihood with scipy, then polish the gradient root.

    The search runs on c = b * sd(X) so that all coordinates are on one scale
    (a reparametrisation: the maximiser in b is the same).
    """
    X = np.asarray(X, float).reshape(len(t), -1)
    p = X.shape[1]
    sd = X.std(0)
    f = lambda c: -firth_objective(np.atleast_1d(c) / sd, t, e, X)  # noqa: E731
    if p == 1:
        res = optimize.minimize_scalar(f, bounds=(-15.0, 15.0), method="bounded",
                                       options={"xatol": 1e-9})
        start = np.array([res.x])
    else:
        res = optimize.minimize(f, np.zeros(p), method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
        start = res.x
    # The objective is flat at the maximum, so its argmax is only known to
    # ~sqrt(eps); the root of a five-point difference gradient (truncation
    # O(h^4) ~ 1e-12, rounding ~1e-10) pins it down far better.
    h = 1e-3

    def grad(c):
        g = np.empty(p)
        for j in range(p):
            dh = np.zeros(p)
            dh[j] = h
            g[j] = (f(c - 2 * dh) - 8 * f(c - dh) + 8 * f(c + dh) - f(c + 2 * dh)) / (12 * h)
        return g

    root = optimize.root(grad, start, method="hybr", tol=1e-12)
    # hybr may stop with "not making good progress" once it is at the gradient's
    # rounding floor; what matters is that the gradient vanishes there.
    assert np.abs(grad(root.x)).max() < 1e-8
    assert np.abs(root.x - start).max() < 1e-4     # a polish, not a different point
    beta = root.x / sd
    cov = np.linalg.inv(efron_info(beta, t, e, X))
    return beta, cov, firth_objective(beta, t, e, X)


def km_median_fraction(t, e):
    """Product-limit median in exact rationals: first t with S(t) <= 1/2."""
    s = Fraction(1)
    for tj in np.unique(t):
        n = int((t >= tj).sum())
        d = int(((t == tj) & (e == 1)).sum())
        if d:
            s *= Fraction(n - d, n)
            if s <= Fraction(1, 2):
                return float(tj), True, s == Fraction(1, 2)
    return math.nan, False, False


def logrank_informative(t, e, g):
    """Variance > 0: a death time with both groups at risk and a survivor."""
    for tj in np.unique(t[e == 1]):
        risk = t >= tj
        d = ((t == tj) & (e == 1)).sum()
        if risk[g == 1].any() and risk[g == 0].any() and risk.sum() > d:
            return True
    return False


# ------------------------------------------------------------------ comparisons

def check_cox_against_lifelines(t, e, x):
    beta, se, ll, n_iter, code = cox_binary(t, e, x, False)
    assert code == st.OK, st.name(code)
    out = lifelines_cox(t, e, x, TIGHT)
    assert out is not None
    cph, _ = out
    ref_beta = cph.params_.iloc[0]
    ref_se = cph.standard_errors_.iloc[0]
    np.testing.assert_allclose(beta, ref_beta, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(math.exp(beta), math.exp(ref_beta), rtol=1e-6)
    np.testing.assert_allclose(se, ref_se, rtol=1e-6)
    np.testing.assert_allclose(ll, cph.log_likelihood_, rtol=1e-9, atol=1e-9)
    lo, hi, p = wald(beta, se)
    ci = cph.confidence_intervals_.iloc[0].to_numpy()   # lifelines uses the exact normal quantile
    np.testing.assert_allclose([lo, hi], np.exp(ci), rtol=1e-6)
    np.testing.assert_allclose([lo, hi], np.exp([ref_beta - Z95 * ref_se, ref_beta + Z95 * ref_se]), rtol=1e-6)
    assert abs(p - cph.summary["p"].iloc[0]) < 1e-6
    return beta


# ------------------------------------------------------------------ random tables

@pytest.mark.parametrize("seed", range(N_TABLES))
def test_cox_binary_random_tables(seed):
    t, e, x = random_table(seed)
    beta, se, ll, n_iter, code = cox_binary(t, e, x, False)
    if e.sum() == 0:
        assert code == st.NO_EVENTS and math.isnan(beta)
        return
    if not finite_max_exists(t, e, x):
        assert code == st.SEPARATION
        assert math.isnan(beta) and math.isnan(se) and all(map(math.isnan, wald(beta, se)))
        assert lifelines_flags_separation(t, e, x)
        return
    check_cox_against_lifelines(t, e, x)
    # The same model through the general kernel.
    b2, cov2, ll2, _, code2 = cox_fit(t, e, x[:, None], False)
    assert code2 == st.OK
    np.testing.assert_allclose(b2[0], beta, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(math.sqrt(cov2[0, 0]), se, rtol=1e-8)
    np.testing.assert_allclose(ll2, ll, rtol=1e-12)


@pytest.mark.parametrize("seed", range(N_TABLES))
def test_logrank_random_tables(seed):
    t, e, x = random_table(seed)
    g = x.astype(np.int64)
    for code_w, name in WEIGHTINGS:
        chi2, p, code = weighted_logrank(t, e, g, code_w)
        ref = logrank_test(t[g == 0], t[g == 1], e[g == 0], e[g == 1], weightings=name)
        if e.sum() == 0:
            assert code == st.NO_EVENTS and math.isnan(chi2) and math.isnan(p)
        elif not logrank_informative(t, e, g):
            # lifelines' pseudo-inverse turns V = 0 into a statistic of 0.
            assert code == st.ZERO_VARIANCE and math.isnan(chi2) and math.isnan(p)
            assert abs(ref.test_statistic) < 1e-12
        else:
            assert code == st.OK
            np.testing.assert_allclose(chi2, ref.test_statistic, rtol=1e-6, atol=1e-12)
            assert abs(p - ref.p_value) < 1e-6


@pytest.mark.parametrize("seed", range(N_TABLES))
def test_km_random_tables(seed):
    t, e, x = random_table(seed)
    for arm in (1, 0):
        ta, ea = t[x == arm], e[x == arm]
        med, reached = km_median(ta, ea)
        exact, exact_reached, hits_half = km_median_fraction(ta, ea)
        assert reached == exact_reached
        assert (med == exact) if reached else math.isnan(med)
        kmf = KaplanMeierFitter().fit(ta, ea)
        if not hits_half:
            ref = kmf.median_survival_time_
            assert (med == ref) if reached else ref == np.inf
        # The curve.
        tt, n_risk, n_ev, n_cens, surv = km_curve(ta, ea)
        table = kmf.event_table.loc[kmf.event_table["removed"] > 0]
        np.testing.assert_array_equal(tt, table.index.to_numpy())
        np.testing.assert_array_equal(n_risk, table["at_risk"].to_numpy())
        np.testing.assert_array_equal(n_ev, table["observed"].to_numpy())
        np.testing.assert_array_equal(n_cens, table["censored"].to_numpy())
        np.testing.assert_allclose(surv, kmf.survival_function_.loc[tt].to_numpy().ravel(), rtol=1e-12)


def test_random_tables_cover_the_cases():
    """The random tables must exercise both fits and separations, ties, exact halves."""
    n_ok = n_sep = n_exact_half = n_heavy_ties = n_unreached = 0
    sizes = []
    for seed in range(N_TABLES):
        t, e, x = random_table(seed)
        sizes.append(len(t) // 2)
        code = cox_binary(t, e, x, False)[4]
        n_ok += code == st.OK
        n_sep += code == st.SEPARATION
        n_heavy_ties += len(np.unique(t)) <= len(t) / 4
        for arm in (0, 1):
            _, reached, half = km_median_fraction(t[x == arm], e[x == arm])
            n_exact_half += half
            n_unreached += not reached
    assert min(sizes) == 2 and max(sizes) > 300
    assert n_ok >= 120 and n_sep >= 10
    assert n_heavy_ties >= 20 and n_exact_half >= 3 and n_unreached >= 10


# ------------------------------------------------------------------ edge cases

def arr(t, e, x):
    return np.asarray(t, float), np.asarray(e, np.int64), np.asarray(x, float)


def test_cox_heavy_ties_all_at_one_time():
    t, e, x = arr([5] * 8, [1, 1, 1, 0, 1, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0])
    check_cox_against_lifelines(t, e, x)


def test_cox_heavy_ties_few_times():
    rng = np.random.default_rng(7)
    n = 120
    x = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    t = rng.integers(1, 4, n).astype(float)
    e = (rng.random(n) < 0.8).astype(np.int64)
    check_cox_against_lifelines(t, e, x)


def test_all_censored():
    t, e, x = arr([1, 2, 3, 4], [0, 0, 0, 0], [1, 1, 0, 0])
    assert cox_binary(t, e, x, False)[4] == st.NO_EVENTS
    assert cox_binary(t, e, x, True)[4] == st.NO_EVENTS
    for code_w, _ in WEIGHTINGS:
        chi2, p, code = weighted_logrank(t, e, x.astype(np.int64), code_w)
        assert code == st.NO_EVENTS and math.isnan(chi2) and math.isnan(p)
    assert km_median(t, e)[1] is False
    assert KaplanMeierFitter().fit(t, e).median_survival_time_ == np.inf


def test_no_events_in_one_arm_is_separation():
    t, e, x = arr([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0])
    beta, se, ll, _, code = cox_binary(t, e, x, False)
    assert code == st.SEPARATION and math.isnan(beta) and math.isnan(se) and math.isnan(ll)
    assert lifelines_flags_separation(t, e, x)


def test_deaths_only_after_the_other_arm_is_gone_is_separation():
    # The reference arm dies at 3 with treated at risk; every treated death is
    # after the last reference patient left.
    t, e, x = arr([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1])
    assert cox_binary(t, e, x, False)[4] == st.SEPARATION
    assert lifelines_flags_separation(t, e, x)
    # The reference arm is all censored before the first death: no death time
    # has both arms at risk, so the information is 0 for every beta.
    t, e, x = arr([1, 2, 3, 4], [0, 0, 1, 1], [0, 0, 1, 1])
    assert cox_binary(t, e, x, False)[4] == st.SEPARATION
    assert cox_binary(t, e, x, True)[4] == st.SINGULAR
    for code_w, name in WEIGHTINGS:
        assert weighted_logrank(t, e, x.astype(np.int64), code_w)[2] == st.ZERO_VARIANCE


def test_single_death_is_separation():
    t, e, x = arr([1, 2, 3, 4], [1, 0, 0, 0], [1, 1, 0, 0])
    assert cox_binary(t, e, x, False)[4] == st.SEPARATION
    assert lifelines_flags_separation(t, e, x)
    chi2, p, code = weighted_logrank(t, e, x.astype(np.int64), LOGRANK)
    ref = logrank_test(t[x == 0], t[x == 1], e[x == 0], e[x == 1])
    assert code == st.OK and abs(chi2 - ref.test_statistic) < 1e-12 and abs(p - ref.p_value) < 1e-12


def test_n2():
    # One pair dying at different times: the treated death at 1 has the reference
    # at risk, the reference death at 2 has no treated patient at risk.
    t, e, x = arr([1, 2], [1, 1], [1, 0])
    assert cox_binary(t, e, x, False)[4] == st.SEPARATION
    assert lifelines_flags_separation(t, e, x)
    # Tied deaths: a finite maximum at beta = 0.
    t, e, x = arr([3, 3], [1, 1], [1, 0])
    assert check_cox_against_lifelines(t, e, x) == 0.0
    assert weighted_logrank(t, e, x.astype(np.int64), LOGRANK)[2] == st.ZERO_VARIANCE
    assert km_median(t[:1], e[:1]) == (3.0, True)


def test_empty_arm():
    t, e, x = arr([1, 2, 3], [1, 1, 0], [0, 0, 0])
    assert cox_binary(t, e, x, False)[4] == st.EMPTY_GROUP
    assert cox_binary(t, e, x, True)[4] == st.EMPTY_GROUP
    assert weighted_logrank(t, e, x.astype(np.int64), PETO)[2] == st.EMPTY_GROUP
    assert weighted_logrank(t[:0], e[:0], x[:0].astype(np.int64), LOGRANK)[2] == st.EMPTY_GROUP
    assert cox_binary(t[:0], e[:0], x[:0], False)[4] == st.EMPTY_GROUP


def test_km_median_exactly_half():
    # 4 patients, 2 deaths: S(2) = 3/4 * 2/3 = 1/2 exactly.
    t, e = np.array([1.0, 2, 3, 4]), np.array([1, 1, 0, 0])
    assert km_median(t, e) == (2.0, True)
    assert km_median_fraction(t, e) == (2.0, True, True)
    # 6 patients, 3 deaths: 5/6 * 4/5 * 3/4 = 1/2 exactly, but lifelines'
    # exp(sum(log(...))) lands just above 0.5 and reports the median as not reached.
    t, e = np.array([1.0, 2, 3, 4, 5, 6]), np.array([1, 1, 1, 0, 0, 0])
    assert km_median(t, e) == (3.0, True)
    assert KaplanMeierFitter().fit(t, e).median_survival_time_ == np.inf
    # Many factors telescoping to 1/2: (n-1)/n * (n-2)/(n-1) * ... = (n/2)/n.
    for n in (10, 50, 400, 2000):
        t = np.arange(1.0, n + 1)
        e = np.r_[np.ones(n // 2, np.int64), np.zeros(n - n // 2, np.int64)]
        assert km_median(t, e) == (n // 2, True)
        # One death fewer: S = (n/2 + 1) / n > 1/2.
        e2 = e.copy()
        e2[n // 2 - 1] = 0
        assert km_median(t, e2)[1] is False
    # Tied deaths: 10 at risk, 5 die at once: 1/2.
    t = np.r_[np.full(5, 7.0), np.arange(8.0, 13.0)]
    e = np.r_[np.ones(5, np.int64), np.zeros(5, np.int64)]
    assert km_median(t, e) == (7.0, True)


def test_km_median_not_reached_and_degenerate():
    assert km_median(np.zeros(0), np.zeros(0, np.int64))[1] is False
    assert math.isnan(km_median(np.zeros(0), np.zeros(0, np.int64))[0])
    t, e = np.array([1.0, 2, 3, 4, 5]), np.array([1, 0, 1, 0, 0])   # S = 4/5 * 3/4 = 3/5
    med, reached = km_median(t, e)
    assert math.isnan(med) and reached is False
    assert km_median(np.array([4.0]), np.array([1])) == (4.0, True)
    tt, nr, nd, nc, s = km_curve(np.zeros(0), np.zeros(0, np.int64))
    assert len(tt) == 0


def test_wald():
    lo, hi, p = wald(-1.2, 0.3)
    assert lo == pytest.approx(math.exp(-1.2 - Z95 * 0.3), rel=1e-15)
    assert hi == pytest.approx(math.exp(-1.2 + Z95 * 0.3), rel=1e-15)
    assert p == pytest.approx(2 * stats.norm.sf(4.0), rel=1e-12)
    assert Z95 == stats.norm.ppf(0.975)
    assert all(map(math.isnan, wald(math.nan, 0.3)))
    assert all(map(math.isnan, wald(0.1, 0.0)))


# ------------------------------------------------------------------ Firth

FIRTH_CASES = {
    "no reference deaths": ([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]),
    "single death": ([1, 2, 3, 4], [1, 0, 0, 0], [1, 1, 0, 0]),
    "after the other arm": ([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]),
    "one pair": ([1, 2], [1, 1], [1, 0]),
    "all treated die first": (list(range(1, 21)), [1] * 20, [1] * 10 + [0] * 10),
    "ties and separation": ([2, 2, 2, 3, 3, 5, 5, 5], [1, 1, 0, 1, 0, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0]),
    "no separation": ([1, 2, 2, 3, 4, 4, 6, 7, 8, 9], [1, 1, 0, 1, 1, 1, 0, 1, 1, 0], [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]),
}


@pytest.mark.parametrize("case", FIRTH_CASES)
def test_firth_binary_against_scipy(case):
    t, e, x = arr(*FIRTH_CASES[case])
    beta, se, ll, n_iter, code = cox_binary(t, e, x, True)
    assert code == st.OK
    ref_beta, ref_cov, ref_obj = firth_oracle(t, e, x)
    np.testing.assert_allclose(beta, ref_beta[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(se, math.sqrt(ref_cov[0, 0]), rtol=1e-6)
    np.testing.assert_allclose(ll, ref_obj, rtol=1e-9)
    b2, cov2, ll2, _, code2 = cox_fit(t, e, x[:, None], True)
    assert code2 == st.OK
    np.testing.assert_allclose(b2[0], beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov2[0, 0], se * se, rtol=1e-8)
    np.testing.assert_allclose(ll2, ll, rtol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_firth_binary_random_small(seed):
    t, e, x = random_table(1000 + seed)
    keep = np.r_[np.arange(6), len(t) // 2 + np.arange(6)] if len(t) > 12 else np.arange(len(t))
    t, e, x = t[keep], e[keep], x[keep]
    beta, se, ll, _, code = cox_binary(t, e, x, True)
    if e.sum() == 0:
        assert code == st.NO_EVENTS
        return
    assert code == st.OK
    ref_beta, ref_cov, ref_obj = firth_oracle(t, e, x)
    np.testing.assert_allclose(beta, ref_beta[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(se, math.sqrt(ref_cov[0, 0]), rtol=1e-6)


def small_design(seed, p, n, separate=False):
    rng = np.random.default_rng([99, seed])
    X = np.column_stack([
        (np.arange(n) < n // 2).astype(float),
        rng.normal(57.0, 8.0, n),
        rng.integers(1, 6, n).astype(float),
    ])[:, :p]
    lin = X @ np.array([-0.5, 0.03, 0.3])[:p]
    t = rng.exponential(500.0, n) * np.exp(-(lin - lin.mean()))
    if seed % 2:
        t = np.ceil(t / 20.0)        # ties
    c = rng.uniform(0, 1500, n)
    e = (t <= c).astype(np.int64)
    t = np.minimum(t, c) + (0.0 if seed % 2 else 1e-3)
    t = np.maximum(t, 1e-3)
    if separate:
        # A covariate that orders the deaths perfectly: monotone likelihood.
        X[:, -1] = -t
        e[:] = 1
    return t, e, X


def test_firth_general_against_scipy():
    for seed, p, n in [(0, 2, 15), (1, 2, 20), (2, 3, 25), (3, 2, 12)]:
        t, e, X = small_design(seed, p, n)
        beta, cov, ll, _, code = cox_fit(t, e, X, True)
        assert code == st.OK
        ref_beta, ref_cov, ref_obj = firth_oracle(t, e, X)
        np.testing.assert_allclose(beta, ref_beta, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(cov, ref_cov, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(ll, ref_obj, rtol=1e-9)
    # Separated: the unpenalised fit diverges, the penalised one is finite.
    t, e, X = small_design(4, 2, 12, separate=True)
    assert cox_fit(t, e, X, False)[4] in (st.SEPARATION, st.NOT_CONVERGED)
    beta, cov, ll, _, code = cox_fit(t, e, X, True)
    assert code == st.OK
    ref_beta, ref_cov, _ = firth_oracle(t, e, X)
    np.testing.assert_allclose(beta, ref_beta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-6, atol=1e-12)


def test_efron_twin_information_is_the_hessian():
    """The oracle's information is minus the numerical Hessian of its log-likelihood."""
    t, e, X = small_design(1, 2, 20)
    b = np.array([-0.3, 0.02])
    h = 1e-4
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            di, dj = np.eye(2)[i] * h, np.eye(2)[j] * h
            hess[i, j] = (efron_loglik(b + di + dj, t, e, X) - efron_loglik(b + di - dj, t, e, X)
                          - efron_loglik(b - di + dj, t, e, X) + efron_loglik(b - di - dj, t, e, X)) / (4 * h * h)
    np.testing.assert_allclose(efron_info(b, t, e, X), -hess, rtol=1e-5)


# ------------------------------------------------------------------ general cox_fit

@pytest.mark.parametrize("seed", range(16))
def test_cox_fit_against_lifelines(seed):
    p = 2 + seed % 2
    n = [30, 80, 200, 400][seed % 4]
    t, e, X = small_design(seed, p, n)
    beta, cov, ll, _, code = cox_fit(t, e, X, False)
    assert code == st.OK
    cph, _ = lifelines_cox(t, e, X, TIGHT)
    np.testing.assert_allclose(beta, cph.params_.to_numpy(), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), cph.standard_errors_.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(cov, cph.variance_matrix_.to_numpy(), rtol=1e-6, atol=1e-14)
    np.testing.assert_allclose(ll, cph.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(ll, efron_loglik(beta, t, e, X), rtol=1e-10)


def test_cox_fit_singular_and_separated():
    t, e, X = small_design(5, 2, 40)
    for bad in (np.column_stack([X, X[:, 1]]),                 # duplicated column
                np.column_stack([X, X[:, 0] + 2.0 * X[:, 1]]),  # exact linear combination
                np.column_stack([X, np.full(len(t), 3.0)])):   # constant column
        beta, cov, ll, _, code = cox_fit(t, e, bad, False)
        assert code == st.SINGULAR and np.isnan(beta).all() and np.isnan(cov).all()
        assert cox_fit(t, e, bad, True)[4] == st.SINGULAR
    # No events.
    assert cox_fit(t, np.zeros_like(e), X, False)[4] == st.NO_EVENTS
    # Monotone likelihood: NaN with a reason, where lifelines warns or runs off.
    t, e, X = small_design(6, 2, 30, separate=True)
    beta, cov, ll, _, code = cox_fit(t, e, X, False)
    assert code in (st.SEPARATION, st.NOT_CONVERGED) and np.isnan(beta).all()
    out = lifelines_cox(t, e, X)
    assert out is None or out[1] or np.abs(out[0].params_.to_numpy()).max() > 8.0
