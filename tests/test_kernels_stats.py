"""Non-survival kernels of the seed analysis against statsmodels / scipy twins.

distributions (norm_sf, chi2_sf, t_sf), logistic_fit (ML and Firth), ols_fit,
signed_rank (scipy.stats.wilcoxon defaults) and chi2_independence
(scipy.stats.chi2_contingency).
"""
import math
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as ss
import statsmodels.api as sm

from simkit.kernels import status as st
from simkit.kernels.chi2 import chi2_independence
from simkit.kernels.distributions import chi2_sf, norm_sf, t_sf
from simkit.kernels.logistic import logistic_fit
from simkit.kernels.ols import ols_fit
from simkit.kernels.signedrank import signed_rank

Z95 = 1.959963984540054


def _rel(a, b):
    return abs(a - b) / abs(b)


# ---------------------------------------------------------------- distributions

def test_norm_sf_against_scipy():
    xs = np.concatenate([np.linspace(-10.0, 37.0, 4001), [0.0, 1e-12, -1e-12, 1.959963984540054]])
    for x in xs:
        ref = ss.norm.sf(x)
        assert _rel(norm_sf(x), ref) < 1e-12, x


def test_chi2_sf_against_scipy():
    xs = np.concatenate([np.linspace(1e-3, 5.0, 400), np.geomspace(1e-8, 3000.0, 800)])
    for df in [1, 2, 3, 4, 5, 6, 7, 9, 10, 15, 30, 51, 100, 200, 1000]:
        for x in xs:
            ref = ss.chi2.sf(x, df)
            if ref < 1e-290:
                continue
            assert _rel(chi2_sf(x, df), ref) < 1e-12, (x, df)
    assert chi2_sf(0.0, 2) == 1.0 and chi2_sf(-1.0, 3) == 1.0
    assert math.isnan(chi2_sf(math.nan, 2))
    assert chi2_sf(math.inf, 5) == 0.0


def test_t_sf_against_scipy():
    xs = np.concatenate([np.linspace(-60.0, 60.0, 1201), np.geomspace(1e-3, 1e6, 300),
                         -np.geomspace(1e-3, 1e6, 100)])
    for df in [0.5, 1.0, 1.5, 2.0, 3.0, 4.5, 7.0, 10.0, 30.0, 64.0, 65.0, 130.0, 398.0,
               798.0, 5000.0]:
        for x in xs:
            ref = ss.t.sf(x, df)
            if ref < 1e-290:
                continue
            assert _rel(t_sf(x, df), ref) < 1e-12, (x, df)
    assert t_sf(0.0, 3.0) == 0.5
    assert t_sf(math.inf, 3.0) == 0.0 and t_sf(-math.inf, 3.0) == 1.0


def test_t_sf_closed_forms_near_zero():
    # scipy's t.sf loses digits for tiny |x| at df=1 (gives 0.4999999952568 at 1e-8),
    # so the closed forms of the Cauchy (df=1) and df=2 tails are the twins here.
    for x in np.concatenate([np.geomspace(1e-12, 1e8, 600), -np.geomspace(1e-12, 1e8, 200)]):
        c1 = 0.5 - math.atan(x) / math.pi if x < 1 else math.atan(1.0 / x) / math.pi
        assert _rel(t_sf(x, 1.0), c1) < 1e-13, x
        s = math.sqrt(2.0 + x * x)
        c2 = 0.5 - x / (2.0 * s) if x < 1 else 1.0 / (s * (s + x))
        assert _rel(t_sf(x, 2.0), c2) < 1e-13, x


# ---------------------------------------------------------------- signed rank

def _scipy_wilcoxon(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ss.wilcoxon(d)


def _check_signed_rank(d):
    stat, p, n_used, status = signed_rank(np.asarray(d, dtype=np.int64))
    ref = _scipy_wilcoxon(np.asarray(d, dtype=float))
    assert status == st.OK
    assert n_used == int(np.count_nonzero(d))
    assert stat == ref.statistic           # half-integers: exact
    assert abs(p - ref.pvalue) < 1e-12, (d, p, ref.pvalue)
    return p


def test_signed_rank_random_against_scipy():
    rng = np.random.default_rng(20240501)
    for case in range(400):
        kind = case % 4
        if kind == 0:      # distinct |d|, no zeros, n <= 50: scipy's exact path
            n = int(rng.integers(1, 51))
            d = rng.permutation(np.arange(1, 300))[:n] * rng.choice([-1, 1], n)
        elif kind == 1:    # small, with ties and zeros: exhaustive permutations
            n = int(rng.integers(1, 14))
            d = rng.integers(-5, 6, n)
        elif kind == 2:    # seed-like D = pre - 2*s0 + s6 with ties: normal approximation
            n = int(rng.integers(14, 401))
            d = rng.integers(-20, 21, n)
        else:              # larger distinct samples beyond the exact threshold
            n = int(rng.integers(51, 200))
            d = rng.permutation(np.arange(1, 1000))[:n] * rng.choice([-1, 1], n)
        if not np.any(d):
            continue
        _check_signed_rank(d)


def test_signed_rank_thresholds():
    rng = np.random.default_rng(7)
    # n = 50 distinct: exact; n = 51: asymptotic; both as scipy
    for n in (50, 51):
        d = rng.permutation(np.arange(1, 80))[:n] * rng.choice([-1, 1], n)
        p = _check_signed_rank(d)
        exact = ss.wilcoxon(d, method="exact").pvalue
        asym = ss.wilcoxon(d, method="asymptotic").pvalue
        assert abs(p - (exact if n == 50 else asym)) < 1e-12
        assert abs(exact - asym) > 1e-8      # the two paths are distinguishable here
    # with ties: n = 13 exhaustive permutation, n = 14 asymptotic
    for n in (13, 14):
        d = np.array([1, -1, 2, 3, 3, -4, 5, 6, -6, 7, 8, 9, 10, -11][:n])
        p = _check_signed_rank(d)
        asym = ss.wilcoxon(d, method="asymptotic").pvalue
        assert (abs(p - asym) < 1e-12) == (n == 14)
    # a single zero with otherwise distinct values: n = 13 permutation, n = 14 asymptotic
    for n in (13, 14):
        d = np.concatenate([[0], np.arange(1, n) * np.where(np.arange(1, n) % 3 == 0, -1, 1)])
        _check_signed_rank(d)


def test_signed_rank_degenerate():
    for n in (1, 5, 13, 14, 60):
        stat, p, n_used, status = signed_rank(np.zeros(n, dtype=np.int64))
        assert status == st.ALL_ZERO and math.isnan(p) and math.isnan(stat) and n_used == 0
    stat, p, n_used, status = signed_rank(np.zeros(0, dtype=np.int64))
    assert status == st.TOO_FEW and math.isnan(p) and n_used == 0
    for d in ([3], [-3], [0, 4], [0, 0, -2], [2, -2], [5, 5, 5, 5], [-1, -1, 0, 0, 0]):
        p = _check_signed_rank(d)
        assert 0.0 < p <= 1.0
    assert _check_signed_rank([3]) == 1.0
    # every difference of one sign, 20 tied values: asymptotic with the tie correction
    _check_signed_rank([2] * 20)
    _check_signed_rank([0] * 10 + [1, -2, 3, 4, 5, 6, 7, 8])


# ---------------------------------------------------------------- chi-square

def _check_chi2(table, correction):
    stat, p, dof, status = chi2_independence(np.asarray(table, dtype=float), correction)
    ref = ss.chi2_contingency(np.asarray(table), correction=correction)
    assert status == st.OK
    assert dof == ref.dof
    assert abs(stat - ref.statistic) <= 1e-10 * max(1.0, ref.statistic)
    assert abs(p - ref.pvalue) < 1e-12


def test_chi2_random_against_scipy():
    rng = np.random.default_rng(11)
    done = 0
    while done < 400:
        shape = (2, 3) if done % 3 else (2, 2)
        table = rng.integers(0, rng.integers(1, 40), size=shape)
        if np.any(table.sum(axis=0) == 0) or np.any(table.sum(axis=1) == 0):
            continue
        for correction in (False, True):
            _check_chi2(table, correction)
        done += 1


def test_chi2_degenerate():
    for table in ([[3, 0, 4], [2, 0, 5]],        # an all-zero class column
                  [[0, 0, 0], [2, 6, 5]],        # a 2 x 3 table with a zero row
                  [[0, 0], [0, 0]],
                  [[0, 3], [0, 7]]):
        stat, p, dof, status = chi2_independence(np.asarray(table, dtype=float), True)
        assert status == st.EMPTY_GROUP and math.isnan(p) and math.isnan(stat)
        arr = np.asarray(table)
        if arr.sum() > 0:
            with pytest.raises(ValueError):
                ss.chi2_contingency(arr)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert math.isnan(ss.chi2_contingency(arr).pvalue)
    # dof 0 (one row): scipy's statistic 0, p 1
    _check_chi2([[3, 4, 5]], True)
    # Yates with |O - E| < 0.5 somewhere (correction clamped at the difference)
    _check_chi2([[5, 5], [5, 6]], True)
    _check_chi2([[10, 0], [0, 10]], True)
    _check_chi2([[1, 0, 2], [0, 1, 3]], True)
    _check_chi2([[1, 0, 2], [0, 1, 3]], False)


# ---------------------------------------------------------------- OLS

def _seed_like_ols(rng, pairs):
    n = 2 * pairs
    treated = np.concatenate([np.ones(pairs), np.zeros(pairs)])
    pre = rng.integers(0, 13, n) / 6.0
    during = (rng.integers(0, 8, n) + np.round(rng.normal(0, 3, n)) + 6 * pre * 0.5) / 6.0
    X = np.column_stack([np.ones(n), treated, pre])
    return X, during


def test_ols_random_against_statsmodels():
    rng = np.random.default_rng(3)
    for case in range(220):
        pairs = int(rng.integers(2, 401)) if case % 2 else int(rng.integers(2, 12))
        X, y = _seed_like_ols(rng, pairs)
        beta, se, pv, dfr, status = ols_fit(X, y)
        if np.ptp(X[:, 2]) == 0:
            assert status == st.SINGULAR
            continue
        ref = sm.OLS(y, X).fit()
        assert status == st.OK
        assert dfr == ref.df_resid == X.shape[0] - 3
        np.testing.assert_allclose(beta, ref.params, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(se, ref.bse, rtol=1e-6)
        np.testing.assert_allclose(pv, ref.pvalues, rtol=0, atol=1e-6)
        # and far tighter than the contract, to catch a drift early
        np.testing.assert_allclose(pv, ref.pvalues, rtol=1e-9, atol=1e-14)


def test_ols_edge_cases():
    rng = np.random.default_rng(4)
    # exact fit: beta kept, se and p NaN
    X, _ = _seed_like_ols(rng, 10)
    y = 0.25 + 0.5 * X[:, 1] - 1.5 * X[:, 2]
    beta, se, pv, dfr, status = ols_fit(X, y)
    assert status == st.ZERO_VARIANCE
    np.testing.assert_allclose(beta, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-9, atol=1e-12)
    assert np.all(np.isnan(se)) and np.all(np.isnan(pv))
    # rank-deficient: constant pre_rate (collinear with the intercept), and pre = treated
    X2 = X.copy()
    X2[:, 2] = 0.5
    X3 = X.copy()
    X3[:, 2] = 2.0 * X3[:, 1] / 6.0
    for Xd in (X2, X3):
        yd = rng.normal(size=Xd.shape[0])
        beta, se, pv, dfr, status = ols_fit(Xd, yd)
        assert status == st.SINGULAR and np.all(np.isnan(beta))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert sm.OLS(yd, Xd).fit().model.rank < 3
    # 3 rows or fewer: null; 4 rows: one residual df
    X4 = np.array([[1.0, 1.0, 0.5], [1.0, 0.0, 1.0], [1.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
    y4 = np.array([0.3, 1.0, 0.2, 0.9])
    beta, se, pv, dfr, status = ols_fit(X4[:3], y4[:3])
    assert status == st.TOO_FEW and np.all(np.isnan(beta))
    beta, se, pv, dfr, status = ols_fit(X4, y4)
    ref = sm.OLS(y4, X4).fit()
    assert status == st.OK and dfr == 1
    np.testing.assert_allclose(beta, ref.params, rtol=1e-9)
    np.testing.assert_allclose(se, ref.bse, rtol=1e-9)
    np.testing.assert_allclose(pv, ref.pvalues, atol=1e-12)


# ---------------------------------------------------------------- logistic (ML)

def _separated(e, y):
    """Slow twin of the separation check for failure ~ 1 + e: the class ranges of e
    share at most one point (complete or quasi-complete separation)."""
    e0, e1 = e[y == 0], e[y == 1]
    return e0.max() <= e1.min() or e1.max() <= e0.min()


def _statsmodels_logit(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return sm.Logit(y, X).fit(disp=0)
        except Exception:        # PerfectSeparationError / LinAlgError in some versions
            return None


def _early_data(rng, n):
    e = rng.integers(-15, 16, n).astype(float)
    a = rng.normal(0.5, 1.0)
    b = rng.normal(-0.33, 0.25)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(a + b * e)))).astype(float)
    return np.column_stack([np.ones(n), e]), y


def test_logistic_random_against_statsmodels():
    rng = np.random.default_rng(2020)
    n_ok = n_sep = 0
    for case in range(400):
        n = int(rng.integers(2, 401)) if case % 2 else int(rng.integers(2, 25))
        X, y = _early_data(rng, n)
        beta, se, nit, status = logistic_fit(X, y, False)
        if y.min() == y.max():
            assert status == st.EMPTY_GROUP
            continue
        if np.ptp(X[:, 1]) == 0:
            assert status == st.CONSTANT
            continue
        if _separated(X[:, 1], y):
            assert status == st.SEPARATION and np.all(np.isnan(beta)) and np.all(np.isnan(se))
            ref = _statsmodels_logit(X, y)
            assert ref is None or not ref.mle_retvals["converged"]
            n_sep += 1
            continue
        ref = _statsmodels_logit(X, y)
        assert status == st.OK and ref.mle_retvals["converged"]
        np.testing.assert_allclose(beta, ref.params, rtol=1e-6)
        np.testing.assert_allclose(se, ref.bse, rtol=1e-6)
        # the spec's Wald CI and p from (beta, se)
        lo, hi = beta[1] - Z95 * se[1], beta[1] + Z95 * se[1]
        ci = ref.conf_int(alpha=0.05)[1]
        assert abs(lo - ci[0]) <= 1e-6 * abs(ci[0]) + 1e-9
        assert abs(hi - ci[1]) <= 1e-6 * abs(ci[1]) + 1e-9
        p = 2.0 * norm_sf(abs(beta[1] / se[1]))
        assert abs(p - ref.pvalues[1]) < 1e-6
        n_ok += 1
    assert n_ok >= 200 and n_sep >= 20


def test_logistic_edge_cases():
    e = np.arange(8.0)
    X = np.column_stack([np.ones(8), e])
    nanres = lambda r: np.all(np.isnan(r[0])) and np.all(np.isnan(r[1]))  # noqa: E731
    # complete separation, both directions
    for y in ([0, 0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0, 0]):
        r = logistic_fit(X, np.array(y, float), False)
        assert r[3] == st.SEPARATION and nanres(r)
    # quasi-complete: the classes share exactly one value of e
    Xq = np.column_stack([np.ones(9), [0, 1, 2, 3, 4, 4, 5, 6, 7.0]])
    yq = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1.0])
    r = logistic_fit(Xq, yq, False)
    assert r[3] == st.SEPARATION and nanres(r)
    assert not _statsmodels_logit(Xq, yq).mle_retvals["converged"]
    # overlap in two points: a finite MLE exists, as statsmodels finds
    yo = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1.0])
    r = logistic_fit(Xq, yo, False)
    ref = _statsmodels_logit(Xq, yo)
    assert r[3] == st.OK and ref.mle_retvals["converged"]
    np.testing.assert_allclose(r[0], ref.params, rtol=1e-6)
    np.testing.assert_allclose(r[1], ref.bse, rtol=1e-6)
    # a single class, constant e, two rows
    assert logistic_fit(X, np.ones(8), False)[3] == st.EMPTY_GROUP
    assert logistic_fit(X, np.zeros(8), False)[3] == st.EMPTY_GROUP
    Xc = np.column_stack([np.ones(8), np.full(8, 3.0)])
    assert logistic_fit(Xc, np.array([0, 1, 0, 1, 1, 0, 0, 1.0]), False)[3] == st.CONSTANT
    assert logistic_fit(X[:2], np.array([0, 1.0]), False)[3] == st.SEPARATION
    assert logistic_fit(X[:0], np.zeros(0), False)[3] == st.TOO_FEW
    # rank-deficient design with three columns
    Xs = np.column_stack([np.ones(8), e, 2.0 * e])
    assert logistic_fit(Xs, np.array([0, 1, 0, 1, 1, 0, 0, 1.0]), False)[3] == st.SINGULAR


def test_logistic_general_design():
    # three columns: no exact separation check, Newton diverging decides
    rng = np.random.default_rng(9)
    for _ in range(30):
        n = 120
        X = np.column_stack([np.ones(n), rng.integers(-15, 16, n), rng.normal(size=n)])
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 - 0.2 * X[:, 1] + 0.5 * X[:, 2])))).astype(float)
        beta, se, nit, status = logistic_fit(X, y, False)
        ref = _statsmodels_logit(X, y)
        assert status == st.OK
        np.testing.assert_allclose(beta, ref.params, rtol=1e-6)
        np.testing.assert_allclose(se, ref.bse, rtol=1e-6)
    # complete separation on the third covariate, quasi-complete on a combination
    n = 40
    X = np.column_stack([np.ones(n), rng.integers(-15, 16, n), np.linspace(-1, 1, n)])
    y = (X[:, 2] > 0).astype(float)
    assert logistic_fit(X, y, False)[3] == st.SEPARATION
    X[:, 2] = np.round(X[:, 2] * 5)
    y = (X[:, 2] > 0).astype(float)
    y[X[:, 2] == 0] = rng.integers(0, 2, np.count_nonzero(X[:, 2] == 0))
    y[np.flatnonzero(X[:, 2] == 0)[:2]] = [0.0, 1.0]
    assert logistic_fit(X, y, False)[3] == st.SEPARATION


# ---------------------------------------------------------------- logistic (Firth)

def _penalised(b, X, y):
    eta = X @ b
    pr = 1.0 / (1.0 + np.exp(-eta))
    ll = np.sum(y * eta - np.logaddexp(0.0, eta))
    sign, logdet = np.linalg.slogdet(X.T @ (X * (pr * (1 - pr))[:, None]))
    return ll + 0.5 * logdet


def _firth_twin(X, y):
    """Maximise l(b) + 0.5 log det I(b) numerically; se from I(b)^-1 at the optimum."""
    f = lambda b: -_penalised(b, X, y)  # noqa: E731
    res = so.minimize(f, np.zeros(X.shape[1]), method="BFGS", options={"gtol": 1e-10})
    res = so.minimize(f, res.x, method="Nelder-Mead",
                      options={"xatol": 1e-11, "fatol": 1e-15, "maxiter": 20000})
    b = res.x
    pr = 1.0 / (1.0 + np.exp(-(X @ b)))
    info = X.T @ (X * (pr * (1 - pr))[:, None])
    return b, np.sqrt(np.diag(np.linalg.inv(info)))


def test_firth_against_optimiser():
    rng = np.random.default_rng(77)
    kinds = {"sep": 0, "ok": 0, "single": 0}
    for case in range(60):
        n = int(rng.integers(4, 41))
        X, y = _early_data(rng, n)
        if np.ptp(X[:, 1]) == 0:
            continue
        if case % 10 == 0:
            y[:] = float(case % 20 == 0)
        if case % 10 == 5:
            # force complete separation
            y = (X[:, 1] > np.median(X[:, 1])).astype(float)
            if y.min() == y.max():
                continue
        beta, se, nit, status = logistic_fit(X, y, True)
        assert status == st.OK
        tb, tse = _firth_twin(X, y)
        np.testing.assert_allclose(beta, tb, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(se, tse, rtol=1e-5)
        if y.min() == y.max():
            kinds["single"] += 1
        elif _separated(X[:, 1], y):
            kinds["sep"] += 1
        else:
            kinds["ok"] += 1
    assert min(kinds.values()) >= 3, kinds


def test_firth_literal_example():
    # complete separation, e = 0..7: the Firth estimate is finite and the plain fit is not
    X = np.column_stack([np.ones(8), np.arange(8.0)])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    beta, se, nit, status = logistic_fit(X, y, True)
    tb, tse = _firth_twin(X, y)
    assert status == st.OK and np.all(np.isfinite(beta))
    np.testing.assert_allclose(beta, tb, rtol=1e-5)
    np.testing.assert_allclose(se, tse, rtol=1e-5)
    # symmetric data: the intercept/slope make p(3.5) = 1/2 exactly
    assert abs(beta[0] + 3.5 * beta[1]) < 1e-9
