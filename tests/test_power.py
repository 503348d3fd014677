"""Exact power of two-proportion tests (simkit.paper.power) against slow, obvious twins.

The twin of exact power is a plain double loop over all outcomes that calls
scipy.stats' own test on each table; the twin of the Barnard / Boschloo supremum over
the nuisance parameter is a dense grid over pi in the textbook formula; simulation is
checked against the exact value within 3 Monte Carlo SEs.
"""
import json
import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from simkit.paper import power as P
from simkit.cli import main
from simkit.errors import InputError


# ----------------------------------------------------------------------------- twins
def scipy_p(x1, x0, n1, n0, test):
    """scipy.stats' p-value of the table [[x1, x0], [n1-x1, n0-x0]] (columns = groups)."""
    table = [[x1, x0], [n1 - x1, n0 - x0]]
    if test == "fisher":
        return stats.fisher_exact(table).pvalue
    if test in ("chi2", "chi2_yates"):
        try:
            return stats.chi2_contingency(table, correction=(test == "chi2_yates")).pvalue
        except ValueError:        # a zero margin: no statistic, documented as not rejected
            return 1.0
    if test == "barnard":
        return stats.barnard_exact(table).pvalue
    return stats.boschloo_exact(table).pvalue


_P_CACHE = {}


def scipy_table(n1, n0, test):
    key = (n1, n0, test)
    if key not in _P_CACHE:
        _P_CACHE[key] = [[scipy_p(a, b, n1, n0, test) for b in range(n0 + 1)] for a in range(n1 + 1)]
    return _P_CACHE[key]


def brute_power(p1, p0, n1, n0, alpha, test):
    """sum over all outcomes of P(outcome) * [scipy p-value <= alpha], in plain Python."""
    pv = scipy_table(n1, n0, test)
    total = 0.0
    for a in range(n1 + 1):
        pa = math.comb(n1, a) * p1 ** a * (1 - p1) ** (n1 - a)
        for b in range(n0 + 1):
            if pv[a][b] <= alpha:
                total += pa * math.comb(n0, b) * p0 ** b * (1 - p0) ** (n0 - b)
    return total


def dense_sup(n1, n0, in_set, grid=20001):
    """max over a dense pi grid of P_pi(tables in in_set): the textbook definition."""
    pis = np.linspace(0, 1, grid)
    b1 = stats.binom.pmf(np.arange(n1 + 1)[:, None], n1, pis[None, :])
    b0 = stats.binom.pmf(np.arange(n0 + 1)[:, None], n0, pis[None, :])
    prob = np.einsum("ag,bg,ab->g", b1, b0, in_set.astype(float))
    return prob.max()


# ----------------------------------------------------------------------------- p-values
@pytest.mark.parametrize("n1,n0", [(1, 1), (1, 4), (5, 8), (11, 11), (12, 3), (20, 20), (25, 9)])
@pytest.mark.parametrize("test", ["fisher", "chi2", "chi2_yates"])
def test_pvalues_equal_scipy_conditional_and_chi2(n1, n0, test):
    mine = P.pvalues(n1, n0, test)
    ref = np.array(scipy_table(n1, n0, test))
    assert mine.shape == (n1 + 1, n0 + 1)
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n1,n0", [(1, 1), (2, 6), (5, 8), (8, 8), (11, 11), (12, 3)])
@pytest.mark.parametrize("test", ["barnard", "boschloo"])
def test_pvalues_equal_scipy_unconditional(n1, n0, test):
    mine = P.pvalues(n1, n0, test)
    ref = np.array(scipy_table(n1, n0, test))
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-6)
    # ours is the supremum itself, scipy's a maximum found by shgo: never larger
    assert np.all(mine >= ref - 1e-12)


def test_supremum_is_the_true_supremum_where_scipy_falls_short():
    # at 67 per group shgo misses the maximum of some tables (near pi = 0.99); the dense
    # grid over the textbook formula shows ours is the supremum
    n = 67
    x1, x0 = np.arange(n + 1)[:, None], np.arange(n + 1)[None, :]
    p1, p2 = x1 / n, x0 / n
    pbar = (x1 + x0) / (2 * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = (p1 - p2) / np.sqrt(pbar * (1 - pbar) * (2 / n))
    wald[np.broadcast_to(p1 == p2, wald.shape)] = 0
    mine = P.pvalues(n, n, "barnard")
    for a, b in [(58, 55), (40, 30), (10, 3)]:
        in_set = np.abs(wald) >= abs(wald[a, b])
        d = dense_sup(n, n, in_set)
        assert d - 1e-12 <= mine[a, b] <= d + 1e-6
        assert mine[a, b] >= scipy_p(a, b, n, n, "barnard") - 1e-12
    # Boschloo: twice the smaller of the two one-sided suprema, on the dense grid
    a, b = 30, 20
    parts = []
    for stat in (stats.hypergeom.cdf(x1, 2 * n, x1 + x0, n), stats.hypergeom.cdf(x0, 2 * n, x1 + x0, n)):
        parts.append(dense_sup(n, n, stat <= stat[a, b] * (1 + 1e-13)))
    assert P.pvalues(n, n, "boschloo")[a, b] == pytest.approx(min(1.0, 2 * min(parts)), abs=2e-6)


@pytest.mark.parametrize("n1,n0", [(11, 11), (20, 15), (30, 30), (67, 67), (7, 40)])
@pytest.mark.parametrize("test", ["fisher", "chi2", "chi2_yates", "barnard", "boschloo"])
def test_region_is_pvalue_below_alpha(n1, n0, test):
    # Barnard / Boschloo regions come from a bisection over the extremeness order
    p = P.pvalues(n1, n0, test)
    for alpha in (0.01, 0.05, 0.1):
        assert np.array_equal(P.rejection_region(n1, n0, alpha, test), p <= alpha)


def test_zero_margin_tables_are_not_rejected():
    for test in P.TESTS:
        p = P.pvalues(6, 4, test)
        assert p[0, 0] == 1.0 and p[6, 4] == 1.0
        assert P.exact_power(0.0, 0.0, 6, 4, test=test) == 0.0
        assert P.exact_power(1.0, 1.0, 6, 4, test=test) == 0.0


# ----------------------------------------------------------------------------- exact power
def test_exact_power_against_brute_force_conditional_and_chi2():
    rng = np.random.default_rng(2024)
    for test in ("fisher", "chi2", "chi2_yates"):
        for _ in range(12):
            n1, n0 = (int(v) for v in rng.integers(1, 26, 2))
            p1, p0 = (float(v) for v in rng.uniform(0, 1, 2))
            alpha = float(rng.choice([0.01, 0.05, 0.1]))
            assert P.exact_power(p1, p0, n1, n0, alpha, test) == pytest.approx(
                brute_power(p1, p0, n1, n0, alpha, test), abs=1e-12)


@pytest.mark.parametrize("n1,n0", [(1, 1), (2, 6), (5, 8), (8, 8), (11, 11)])
@pytest.mark.parametrize("test", ["barnard", "boschloo"])
def test_exact_power_against_brute_force_unconditional(n1, n0, test):
    rng = np.random.default_rng(n1 * 100 + n0)
    cases = [(0.4, 0.0), (0.3, 0.3), (1.0, 0.0)] + [tuple(rng.uniform(0, 1, 2)) for _ in range(5)]
    for p1, p0 in cases:
        for alpha in (0.05, 0.1):
            assert P.exact_power(p1, p0, n1, n0, alpha, test) == pytest.approx(
                brute_power(p1, p0, n1, n0, alpha, test), abs=1e-12)


def test_the_papers_case_by_hand():
    # with 0% reference survival only the treated count varies: each test rejects from
    # some number k of treated survivors on, and power = P(Bin(11, 0.4) >= k)
    n = 11
    for test in P.TESTS:
        rej = P.rejection_region(n, n, 0.05, test)[:, 0]
        k = int(np.argmax(rej))
        assert rej[k:].all() and not rej[:k].any()
        tail = sum(math.comb(n, j) * 0.4 ** j * 0.6 ** (n - j) for j in range(k, n + 1))
        assert P.exact_power(0.4, 0.0, n, test=test) == pytest.approx(tail, abs=1e-14)
    # and nothing reaches the claimed 90% at 11 per group
    assert max(P.exact_power(0.4, 0.0, 11, test=t) for t in P.TESTS) < 0.9


@pytest.mark.parametrize("test", ["fisher", "chi2_yates", "barnard", "boschloo"])
def test_size_at_most_alpha_for_exact_tests(test):
    # p1 == p0: power is the size.  Barnard / Boschloo p-values are suprema over the
    # common proportion, so their size is <= alpha at every pi if the supremum is right
    for n in (5, 11, 25):
        for p in np.linspace(0.0, 1.0, 21):
            assert P.exact_power(p, p, n, test=test) <= 0.05 + 1e-12
        assert P.exact_power(0.37, 0.37, n, 2 * n, 0.01, test) <= 0.01 + 1e-12


def test_size_of_pearson_chi2_is_close_to_alpha():
    # not an exact test: liberal by up to about 1-1.5 points at these sizes, and never
    # below the conservative Fisher test's size
    for n in (5, 11, 25, 40):
        for p in np.linspace(0.1, 0.9, 9):
            s = P.exact_power(p, p, n, test="chi2")
            assert s <= 0.05 + 0.015
            assert s >= P.exact_power(p, p, n, test="fisher") - 1e-12


def test_unequal_groups_and_default_n0():
    assert P.exact_power(0.5, 0.2, 15) == P.exact_power(0.5, 0.2, 15, 15)
    assert P.exact_power(0.5, 0.2, 15, 30, test="barnard") == pytest.approx(
        P.exact_power(0.2, 0.5, 30, 15, test="barnard"), abs=1e-12)


# ----------------------------------------------------------------------------- simulation
@pytest.mark.parametrize("p1,p0,n,tests", [
    (0.4, 0.0, 11, P.TESTS),
    (0.45, 0.15, 14, ("fisher", "chi2", "chi2_yates")),
    (0.5, 0.2, 9, ("barnard", "boschloo")),
])
def test_simulated_power_within_3_mcse(p1, p0, n, tests):
    for i, test in enumerate(tests):
        ex = P.exact_power(p1, p0, n, test=test)
        sim, mcse = P.simulated_power(p1, p0, n, test=test, reps=4000, seed=11 + i)
        se = math.sqrt(ex * (1 - ex) / 4000)
        assert abs(sim - ex) <= 3 * se
        assert mcse == pytest.approx(math.sqrt(sim * (1 - sim) / 4000))
        # the fast engine draws the same tables and must agree with scipy's decisions
        assert P.simulated_power(p1, p0, n, test=test, reps=4000, seed=11 + i, engine="table")[0] == sim


def test_simulated_power_reproducible():
    a = P.simulated_power(0.4, 0.1, 20, reps=500, seed=3)
    assert a == P.simulated_power(0.4, 0.1, 20, reps=500, seed=3)
    assert a != P.simulated_power(0.4, 0.1, 20, reps=500, seed=4)


# ----------------------------------------------------------------------------- sample size
@pytest.mark.parametrize("p1,p0,tests", [(0.4, 0.0, P.TESTS), (0.55, 0.2, ("fisher", "chi2", "barnard"))])
def test_sample_size_consistency(p1, p0, tests):
    for test in tests:
        for target in (0.8, 0.9):
            ss = P.sample_size(p1, p0, target, test=test)
            pw = [P.exact_power(p1, p0, n, test=test) for n in range(1, ss.checked_up_to + 1)]
            f = ss.n_first
            assert pw[f - 1] >= target and ss.power_at_first == pw[f - 1]
            assert all(v < target for v in pw[:f - 1])
            assert ss.checked_up_to >= f + 20
            assert all(v >= target for v in pw[ss.n_stable - 1:])
            if ss.n_stable > f:
                assert pw[ss.n_stable - 2] < target
            assert ss.dips == tuple(n for n in range(f + 1, ss.checked_up_to + 1) if pw[n - 1] < target)


def test_sample_size_reports_non_monotone_power():
    # Boschloo at 40% vs 0%: 90% is first reached at some n, lost, and regained later
    ss = P.sample_size(0.4, 0.0, 0.9, test="boschloo")
    assert ss.n_stable > ss.n_first and ss.dips
    assert all(P.exact_power(0.4, 0.0, n, test="boschloo") < 0.9 for n in ss.dips)


def test_sample_size_unreachable():
    ss = P.sample_size(0.3, 0.3, 0.8)
    assert ss.n_first is None and ss.n_stable is None and ss.checked_up_to == 0
    ss = P.sample_size(0.5, 0.4, 0.9, n_max=30)
    assert ss.n_first is None and ss.checked_up_to == 30


# ----------------------------------------------------------------------------- approximations
def test_normal_approximations_by_hand():
    z = NormalDist().inv_cdf(0.975)
    h = 2 * math.asin(math.sqrt(0.4))
    e = h * math.sqrt(11 / 2)
    want = NormalDist().cdf(e - z) + NormalDist().cdf(-e - z)
    assert P.approx_power(0.4, 0.0, 11, method="arcsine") == pytest.approx(want, rel=1e-12)
    sd1 = math.sqrt(0.4 * 0.6 / 11)
    assert P.approx_power(0.4, 0.0, 11, method="wald") == pytest.approx(
        NormalDist().cdf(0.4 / sd1 - z) + NormalDist().cdf(-0.4 / sd1 - z), rel=1e-12)
    sd0 = math.sqrt(0.2 * 0.8 * 2 / 11)
    assert P.approx_power(0.4, 0.0, 11, method="pooled_z") == pytest.approx(
        NormalDist().cdf((0.4 - z * sd0) / sd1) + NormalDist().cdf((-0.4 - z * sd0) / sd1), rel=1e-12)


# ----------------------------------------------------------------------------- analysis / CLI
def test_power_analysis_fields():
    r = P.power_analysis(0.4, 0.0, 11, reps=500, seed=1, engine="table")
    assert (r.p_treated, r.p_control, r.n_per_group, r.alpha) == (0.4, 0.0, 11, 0.05)
    assert set(r.exact) == set(P.TESTS) == set(r.simulated) == set(r.sample_size_80) == set(r.sample_size_90)
    assert r.exact["fisher"] == P.exact_power(0.4, 0.0, 11)
    assert r.exact_at[67]["barnard"] == P.exact_power(0.4, 0.0, 67, test="barnard")
    assert r.sample_size_90["fisher"].n_first == P.sample_size(0.4, 0.0, 0.9).n_first


@pytest.mark.parametrize("call,flag", [
    (lambda: P.exact_power(1.5, 0.0, 11), "--p-treated"),
    (lambda: P.exact_power(float("nan"), 0.0, 11), "--p-treated"),
    (lambda: P.exact_power(0.4, -0.1, 11), "--p-control"),
    (lambda: P.exact_power(0.4, "0", 11), "--p-control"),
    (lambda: P.exact_power(0.4, 0.0, 0), "--n"),
    (lambda: P.exact_power(0.4, 0.0, 2.5), "--n"),
    (lambda: P.exact_power(0.4, 0.0, True), "--n"),
    (lambda: P.exact_power(0.4, 0.0, 11, alpha=0.0), "--alpha"),
    (lambda: P.exact_power(0.4, 0.0, 11, alpha=1.0), "--alpha"),
    (lambda: P.exact_power(0.4, 0.0, 11, test="t"), "--test"),
    (lambda: P.simulated_power(0.4, 0.0, 11, reps=0), "--reps"),
    (lambda: P.simulated_power(0.4, 0.0, 11, seed=-1), "--seed"),
    (lambda: P.sample_size(0.4, 0.0, power=1.2), "power"),
    (lambda: P.power_analysis(0.4, 0.0, 11, tests=("fisher", "x")), "--test"),
])
def test_bad_arguments_name_the_flag(call, flag):
    with pytest.raises(InputError) as e:
        call()
    assert e.value.where == flag


def test_cli_json(capsys):
    assert main(["power", "--json", "--reps", "1000", "--seed", "5"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["inputs"]["p_treated"] == 0.4 and d["inputs"]["p_control"] == 0.0
    assert d["inputs"]["n_per_group"] == 11 and d["inputs"]["alpha"] == 0.05
    for t in P.TESTS:
        assert d["exact"][t] == pytest.approx(P.exact_power(0.4, 0.0, 11, test=t), abs=1e-15)
        sim, mcse = P.simulated_power(0.4, 0.0, 11, test=t, reps=1000, seed=5)
        assert d["simulated"][t] == {"power": sim, "mcse": pytest.approx(mcse)}
        for key, target in (("power_80", 0.8), ("power_90", 0.9)):
            assert d["sample_size"][t][key]["n_first"] == P.sample_size(0.4, 0.0, target, test=t).n_first
    assert d["exact_at_n"]["67"]["fisher"] > 0.99
    assert d["paper_claim"]["claimed_power"] == 0.9


def test_cli_table_and_errors(capsys):
    assert main(["power", "--p-control", "0.1", "--n", "20", "--test", "fisher", "--reps", "500"]) == 0
    out = capsys.readouterr().out
    assert "Fisher's exact" in out and "Barnard" not in out
    assert "90.0% power at 11 per group" in out
    assert main(["power", "--n", "0"]) == 2
    assert "--n" in capsys.readouterr().err
    assert main(["power", "--alpha", "1.5"]) == 2
    assert "--alpha" in capsys.readouterr().err
    assert main(["power", "--test", "welch"]) == 2
    assert "--test" in capsys.readouterr().err


# ----------------------------------------------------------------------------- alpha = a p-value
@pytest.mark.parametrize("test", ["barnard", "boschloo"])
def test_unconditional_decision_at_alpha_equal_to_scipys_pvalue(test):
    # issue 14.4: ours is 2^-9 + 1e-18 at (5, 0) of 5 per group, scipy's exactly 2^-9; at
    # alpha = 2^-9 the table must be rejected, as scipy rejects it
    alpha = scipy_p(5, 0, 5, 5, test)
    assert alpha == 2.0 ** -9
    assert P.rejection_region(5, 5, alpha, test)[5, 0]
    assert P.exact_power(0.4, 0.0, 5, 5, alpha, test) == pytest.approx(0.4 ** 5)     # (5, 0) only
    assert P.exact_power(0.4, 0.0, 5, 5, alpha, test) == pytest.approx(brute_power(0.4, 0.0, 5, 5, alpha, test))


@pytest.mark.parametrize("test", ["barnard", "boschloo"])
def test_unconditional_region_agrees_with_scipy_at_alpha_equal_to_a_pvalue(test):
    # random small (n1, n0) and a random table whose scipy p-value is alpha: the region
    # must be scipy's p <= alpha on every table
    rng = np.random.default_rng(14)
    checked = 0
    while checked < 8:
        n1, n0 = (int(v) for v in rng.integers(2, 8, 2))
        ref = np.array(scipy_table(n1, n0, test))
        a, b = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n0 + 1))
        alpha = float(ref[a, b])
        if not 0 < alpha < 1:
            continue
        checked += 1
        assert np.array_equal(P.rejection_region(n1, n0, alpha, test), ref <= alpha), (n1, n0, a, b, alpha)
