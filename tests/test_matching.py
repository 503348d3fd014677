"""Matching kernels and match_cohorts against plain-Python twins and brute force."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.stats import chisquare

from oracle_matching import match as naive_match
from simkit.errors import InputError
from simkit.kernels import matching as K
from simkit.kernels.rng import derive, root_key, uniform
from simkit.design.matching import (CALIPER_UNIT, DEFAULT_EXACT, MatchResult, match_cohorts,
                             prepare_pool)

GREEDY = (K.NEAREST, K.FIRST, K.RANDOM, K.WORST)
ORDERS = (K.AS_GIVEN, K.RANDOM_ORDER, K.HARDEST_FIRST)
TOL = 1e-9          # the kernel's documented slack on the caliper


# --------------------------------------------------------------------------- twins
def _eligible(ts, tsl, ps, psl, tol, i, j, extra=None):
    ok = (ts[i] >= 0 and ps[j] == ts[i] and math.isfinite(tsl[i])
          and math.isfinite(psl[j]) and abs(psl[j] - tsl[i]) <= tol)
    if ok and extra is not None:      # (t_extra, p_extra, ecal): every finite caliper holds
        te, pe, ecal = extra
        ok = all(abs(te[i][e] - pe[j][e]) <= ecal[e] + TOL for e in range(len(ecal)) if ecal[e] < math.inf)
    return ok


def twin_greedy(ts, tsl, ps, psl, cal, policy, order, key, bad, peek=1, extra=None):
    """Straightforward loops: visit the treated, list the eligible unused pool
    patients, take one by the policy's rule."""
    tol = cal + TOL
    nt, npool = len(ts), len(ps)
    key = np.uint64(key)
    if order == K.AS_GIVEN:
        visit = list(range(nt))
    elif order == K.RANDOM_ORDER:
        visit = list(range(nt))
        okey = np.uint64(derive(key, 1))
        for i in range(nt - 1, 0, -1):
            j = min(int(uniform(okey, i) * (i + 1)), i)
            visit[i], visit[j] = visit[j], visit[i]
    else:
        counts = [sum(_eligible(ts, tsl, ps, psl, tol, i, j, extra) for j in range(npool))
                  for i in range(nt)]
        visit = sorted(range(nt), key=lambda i: (counts[i], i))
    ckey = np.uint64(derive(key, 2))
    used = set()
    out = [-1] * nt
    for i in visit:
        cands = [j for j in range(npool)
                 if j not in used and _eligible(ts, tsl, ps, psl, tol, i, j, extra)]
        if not cands:
            continue
        if policy == K.NEAREST and peek > 1:
            near = sorted(cands, key=lambda j: (abs(psl[j] - tsl[i]), j))[:peek]

            def b(j):
                return -math.inf if math.isnan(bad[j]) else bad[j]
            j = min(near, key=lambda j: (-b(j), j))
        elif policy == K.NEAREST:
            j = min(cands, key=lambda j: (abs(psl[j] - tsl[i]), j))
        elif policy == K.FIRST:
            j = min(cands)
        elif policy == K.RANDOM:
            ki = np.uint64(derive(ckey, i))
            j = min(cands, key=lambda j: (-uniform(ki, j), j))
        else:
            def b(j):
                return -math.inf if math.isnan(bad[j]) else bad[j]
            j = min(cands, key=lambda j: (-b(j), j))
        used.add(j)
        out[i] = j
    return out


def brute_optimal(ts, tsl, ps, psl, cal, extra=None):
    """(matched count, total |difference|) of the best injective assignment:
    most pairs first, then least total; all assignments enumerated."""
    tol = cal + TOL
    count, total = 0, 0.0
    for s in set(int(x) for x in ts if x >= 0):
        rows = [i for i in range(len(ts)) if ts[i] == s]
        cols = [j for j in range(len(ps)) if ps[j] == s]

        def rec(r, used):
            if r == len(rows):
                return (0, 0.0)
            best = rec(r + 1, used)
            i = rows[r]
            for j in cols:
                if j not in used and _eligible(ts, tsl, ps, psl, tol, i, j, extra):
                    c, t = rec(r + 1, used | {j})
                    c, t = c + 1, t + abs(psl[j] - tsl[i])
                    if c > best[0] or (c == best[0] and t < best[1]):
                        best = (c, t)
            return best
        c, t = rec(0, frozenset())
        count += c
        total += t
    return count, total


def scipy_optimal(ts, tsl, ps, psl, cal):
    """Per stratum: the maximum matching size from scipy's bipartite matching, and
    the least total from linear_sum_assignment with forbidden pairs at inf and a
    private 'unmatched' column per treated patient."""
    tol = cal + TOL
    count_mbm, count, total = 0, 0, 0.0
    for s in set(int(x) for x in ts if x >= 0):
        rows = [i for i in range(len(ts)) if ts[i] == s]
        cols = [j for j in range(len(ps)) if ps[j] == s]
        if not rows or not cols:
            continue
        allowed = np.array([[_eligible(ts, tsl, ps, psl, tol, i, j) for j in cols]
                            for i in rows])
        mbm = maximum_bipartite_matching(csr_matrix(allowed.astype(np.int8)),
                                         perm_type="column")
        count_mbm += int(np.sum(mbm >= 0))
        d = np.abs(psl[cols][None, :] - tsl[rows][:, None])
        cost = np.where(allowed, d, np.inf)
        dummy = np.full((len(rows), len(rows)), np.inf)
        np.fill_diagonal(dummy, 1000.0)
        r, c = linear_sum_assignment(np.hstack([cost, dummy]))
        real = c < len(cols)
        count += int(real.sum())
        total += float(d[r[real], c[real]].sum())
    return count_mbm, count, total


def check_valid(out, ts, tsl, ps, psl, cal, extra=None):
    """Every pair eligible, no pool patient used twice; returns (count, total)."""
    tol = cal + TOL
    got = [j for j in out if j >= 0]
    assert len(got) == len(set(got))
    total = 0.0
    for i, j in enumerate(out):
        if j >= 0:
            assert _eligible(ts, tsl, ps, psl, tol, i, j, extra)
            total += abs(psl[j] - tsl[i])
    return len(got), total


# ------------------------------------------------------------------ random cases
def random_case(rng, nt_max=12, np_max=40, n_strata=4):
    nt = int(rng.integers(0, nt_max + 1))
    npool = int(rng.integers(0, np_max + 1))
    # strata, some never present on one side, some missing (-1)
    ts = rng.integers(-1, n_strata, nt).astype(np.int64)
    ps = rng.integers(-1, n_strata + 1, npool).astype(np.int64)
    # slopes on the 1/6 grid (many exact ties), sometimes continuous / non-finite
    tsl = rng.integers(0, 13, nt) / 6.0
    psl = rng.integers(0, 13, npool) / 6.0
    if rng.random() < 0.3:
        tsl = tsl + rng.normal(0, 0.05, nt)
        psl = psl + rng.normal(0, 0.05, npool)
    if rng.random() < 0.2 and nt:
        tsl[rng.integers(0, nt)] = np.nan
    if rng.random() < 0.2 and npool:
        psl[rng.integers(0, npool)] = rng.choice([np.nan, np.inf, -np.inf])
    cal = float(rng.choice([0.0, 1 / 6, 0.3, 0.5, 1.0, np.inf]))
    bad = rng.integers(0, 5, npool).astype(float)       # ties in badness
    if npool and rng.random() < 0.3:
        bad[rng.integers(0, npool)] = np.nan
    key = np.uint64(rng.integers(0, 2 ** 63))
    return ts, tsl, ps, psl, cal, bad, key


def run_all(ts, tsl, ps, psl, cal, policy, order, key, bad):
    """The naive scan (oracle_matching) and the kernel match_prepared; asserts they agree."""
    out1, nu1 = naive_match(ts, tsl, ps, psl, cal, policy, order, key, bad)
    perm, ss, sl = K.prepare_pool(ps, psl)
    out2, nu2 = K.match_prepared(ts, tsl, perm, ss, sl, cal, policy, order, key, bad)
    assert out1.dtype == np.int64 and out1.shape == (len(ts),)
    np.testing.assert_array_equal(out1, out2)
    assert nu1 == nu2 == int(np.sum(out1 < 0))
    return out1


def test_greedy_equals_twin_small():
    rng = np.random.default_rng(20240501)
    for _ in range(200):
        ts, tsl, ps, psl, cal, bad, key = random_case(rng)
        for policy in GREEDY:
            for order in ORDERS:
                out = run_all(ts, tsl, ps, psl, cal, policy, order, key, bad)
                want = twin_greedy(ts, tsl, ps, psl, cal, policy, order, key, bad)
                assert out.tolist() == want, (policy, order, ts, tsl, ps, psl, cal)
                check_valid(out, ts, tsl, ps, psl, cal)


def test_greedy_equals_twin_medium():
    rng = np.random.default_rng(7)
    for _ in range(2):
        nt, npool = 67, 1500
        ts = rng.integers(0, 12, nt).astype(np.int64)
        ps = rng.integers(0, 14, npool).astype(np.int64)
        tsl = rng.integers(0, 19, nt) / 6.0
        psl = rng.integers(0, 19, npool) / 6.0
        bad = rng.normal(size=npool)
        key = np.uint64(rng.integers(0, 2 ** 63))
        for policy in GREEDY:
            for order in ORDERS:
                out = run_all(ts, tsl, ps, psl, 0.5, policy, order, key, bad)
                want = twin_greedy(ts, tsl, ps, psl, 0.5, policy, order, key, bad)
                assert out.tolist() == want, (policy, order)


def test_large_strata_use_the_sorted_branches():
    # strata of > 24 members (mergesort branch) and sparse huge codes (argsort branch)
    rng = np.random.default_rng(3)
    for codes in (np.array([0, 1, 2]), np.array([5, 10 ** 12, 3 * 10 ** 15])):
        ps = rng.choice(codes, 300).astype(np.int64)
        ts = rng.choice(codes, 30).astype(np.int64)
        psl = rng.integers(0, 7, 300) / 6.0
        tsl = rng.integers(0, 7, 30) / 6.0
        perm, ss, sl = K.prepare_pool(ps, psl)
        want = sorted(range(300), key=lambda j: (ps[j], psl[j], j))
        assert perm.tolist() == want
        np.testing.assert_array_equal(ss, ps[perm])
        np.testing.assert_array_equal(sl, psl[perm])
        bad = rng.random(300)
        for policy in GREEDY:
            for order in ORDERS:
                out = run_all(ts, tsl, ps, psl, 1 / 6, policy, order, np.uint64(9), bad)
                assert out.tolist() == twin_greedy(ts, tsl, ps, psl, 1 / 6, policy, order,
                                                   9, bad)


def test_prepare_pool_order_and_exclusions():
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(0, 60))
        ps = rng.integers(-1, 5, n).astype(np.int64)
        psl = rng.integers(0, 5, n) / 6.0
        if n:
            psl[rng.integers(0, n)] = np.nan
            psl[rng.integers(0, n)] = np.inf
        perm, ss, sl = K.prepare_pool(ps, psl)
        valid = [j for j in range(n) if ps[j] >= 0 and np.isfinite(psl[j])]
        assert perm.tolist() == sorted(valid, key=lambda j: (ps[j], psl[j], j))


# ------------------------------------------------------------------ edge cases
def _k(ts, tsl, ps, psl, cal, policy=K.NEAREST, order=K.AS_GIVEN, key=1, bad=None):
    bad = np.zeros(len(ps)) if bad is None else np.asarray(bad, float)
    out = run_all(np.asarray(ts, np.int64), np.asarray(tsl, float), np.asarray(ps, np.int64),
                  np.asarray(psl, float), cal, policy, order, np.uint64(key), bad)
    return out.tolist()


@pytest.mark.parametrize("policy", GREEDY + (K.OPTIMAL,))
def test_empty_pool_and_empty_treated(policy):
    assert _k([0, 1], [0.5, 1.0], [], [], 0.5, policy) == [-1, -1]
    out, nu = naive_match(np.zeros(2, np.int64), np.zeros(2), np.zeros(0, np.int64),
                      np.zeros(0), 0.5, policy, K.AS_GIVEN, np.uint64(1), np.zeros(0))
    assert nu == 2
    out, nu = naive_match(np.zeros(0, np.int64), np.zeros(0), np.zeros(3, np.int64),
                      np.zeros(3), 0.5, policy, K.AS_GIVEN, np.uint64(1), np.zeros(3))
    assert out.shape == (0,) and nu == 0


@pytest.mark.parametrize("policy", GREEDY + (K.OPTIMAL,))
def test_all_unmatched_and_strata_without_candidates(policy):
    # stratum 2 has no pool patient, stratum 0's candidates are too far
    assert _k([2, 2, 0], [1, 1, 0], [0, 1, 1], [2, 1, 1], 0.5, policy) == [-1, -1, -1]
    # a missing stratum (-1) never matches, even another -1
    assert _k([-1, 0], [1, 1], [-1, 0], [1, 1], 0.5, policy) == [-1, 1]


@pytest.mark.parametrize("policy", GREEDY + (K.OPTIMAL,))
def test_caliper_zero_and_the_one_sixth_grid(policy):
    # caliper 0: only identical slopes
    assert _k([0], [4 / 6], [0, 0], [5 / 6, 4 / 6], 0.0, policy) == [1]
    assert _k([0], [4 / 6], [0], [5 / 6], 0.0, policy) == [-1]
    # 7/6 - 4/6 rounds to 0.5000000000000001 > 0.5: a difference of exactly the
    # caliper on the grid is within it thanks to the slack
    assert 7 / 6 - 4 / 6 > 0.5
    assert _k([0], [4 / 6], [0], [7 / 6], 0.5, policy) == [0]
    assert _k([0], [4 / 6], [0], [8 / 6], 0.5, policy) == [-1]
    assert _k([0], [1.0], [0], [1.0 + 0.5 + 2e-9], 0.5, policy) == [-1]
    # a difference of exactly caliper + slack is in, on either side
    edge = 0.5 + 1e-9
    assert _k([0], [0.0], [0], [-edge], 0.5, policy) == [0]
    assert _k([0], [0.0], [0], [edge], 0.5, policy) == [0]
    assert _k([0], [0.0], [0, 0], [-np.nextafter(edge, 1), np.nextafter(edge, 1)], 0.5,
              policy) == [-1]


def test_nearest_ties_take_the_lowest_pool_index():
    # same slope: lowest index; equal distance on both sides: lowest index
    assert _k([0], [1.0], [0, 0, 0], [1.0, 1.0, 1.0], 0.5) == [0]
    assert _k([0], [1.0], [0, 0, 0, 1], [1.5, 0.5, 1.5, 1.0], 0.5) == [0]
    assert _k([0], [1.0], [0, 0, 0], [0.5, 0.75, 1.5], 0.5) == [1]
    # the first treated takes the nearest, the second the next
    assert _k([0, 0], [1.0, 1.0], [0, 0, 0], [1.4, 1.1, 0.8], 0.5) == [1, 2]


def test_first_worst_and_hardest_first():
    ps, psl = [0, 0, 0, 0], [0.9, 1.4, 1.0, 1.2]
    assert _k([0], [1.0], ps, psl, 0.5, K.FIRST) == [0]
    assert _k([0], [1.0], ps, psl, 0.5, K.WORST, bad=[1, 3, 3, 2]) == [1]
    assert _k([0], [1.0], ps, psl, 0.5, K.WORST, bad=[np.nan, 0, 3, np.nan]) == [2]
    # treated 0 could take either candidate, treated 1 only candidate 0: as given
    # loses treated 1, hardest-first matches both
    ts, tsl, ps, psl = [0, 0], [1.0, 0.5], [0, 0], [0.9, 1.3]
    assert _k(ts, tsl, ps, psl, 0.45, K.NEAREST, K.AS_GIVEN) == [0, -1]
    assert _k(ts, tsl, ps, psl, 0.45, K.NEAREST, K.HARDEST_FIRST) == [1, 0]


def test_unknown_codes_leave_everyone_unmatched():
    args = (np.zeros(2, np.int64), np.zeros(2), np.zeros(3, np.int64), np.zeros(3), 0.5)
    for policy, order in ((9, K.AS_GIVEN), (-1, K.AS_GIVEN), (K.NEAREST, 7)):
        out, nu = naive_match(*args, policy, order, np.uint64(1), np.zeros(3))
        assert out.tolist() == [-1, -1] and nu == 2
    # optimal ignores the order
    out, nu = naive_match(*args, K.OPTIMAL, 7, np.uint64(1), np.zeros(3))
    assert nu == 0


def test_same_key_same_match_other_key_differs():
    rng = np.random.default_rng(5)
    ts = rng.integers(0, 2, 30).astype(np.int64)
    ps = rng.integers(0, 2, 200).astype(np.int64)
    tsl, psl = rng.integers(0, 12, 30) / 6, rng.integers(0, 12, 200) / 6
    for policy, order in ((K.RANDOM, K.AS_GIVEN), (K.NEAREST, K.RANDOM_ORDER)):
        a = _k(ts, tsl, ps, psl, 0.5, policy, order, key=123)
        assert a == _k(ts, tsl, ps, psl, 0.5, policy, order, key=123)
        others = [_k(ts, tsl, ps, psl, 0.5, policy, order, key=k) for k in range(124, 130)]
        assert any(o != a for o in others)


def test_random_choice_is_uniform():
    # one treated patient, candidates 1, 2, 4, 5 eligible, 0 and 3 not
    ts, tsl = np.zeros(1, np.int64), np.array([1.0])
    ps = np.array([0, 0, 0, 1, 0, 0], np.int64)
    psl = np.array([2.0, 1.0, 1.5, 1.0, 0.5, 1.25])
    counts = np.zeros(6)
    for k in range(4000):
        out, _ = naive_match(ts, tsl, ps, psl, 0.5, K.RANDOM, K.AS_GIVEN,
                         np.uint64(root_key(99, 0, k)), np.zeros(0))
        counts[out[0]] += 1
    assert counts[0] == counts[3] == 0
    assert chisquare(counts[[1, 2, 4, 5]]).pvalue > 1e-3


def test_random_order_is_uniform():
    # three treated compete for one candidate; FIRST takes it for whoever goes first
    ts, tsl = np.zeros(3, np.int64), np.ones(3)
    ps, psl = np.zeros(1, np.int64), np.ones(1)
    winner = np.zeros(3)
    for k in range(3000):
        out, _ = naive_match(ts, tsl, ps, psl, 0.5, K.FIRST, K.RANDOM_ORDER,
                         np.uint64(root_key(7, 0, k)), np.zeros(0))
        winner[int(np.flatnonzero(out == 0)[0])] += 1
    assert chisquare(winner).pvalue > 1e-3


# ------------------------------------------------------------------ optimal
def test_optimal_against_brute_force():
    rng = np.random.default_rng(42)
    n_cases = 0
    for _ in range(300):
        ts, tsl, ps, psl, cal, bad, key = random_case(rng, nt_max=9, np_max=14, n_strata=3)
        # brute force stays small: at most 4 treated and 6 candidates per stratum
        if any(np.sum(ts == s) > 4 or np.sum(ps == s) > 6 for s in range(4)):
            continue
        n_cases += 1
        out = run_all(ts, tsl, ps, psl, cal, K.OPTIMAL, K.AS_GIVEN, key, bad)
        got = check_valid(out, ts, tsl, ps, psl, cal)
        want = brute_optimal(ts, tsl, ps, psl, cal)
        assert got[0] == want[0]
        assert got[1] == pytest.approx(want[1], abs=1e-9)
    assert n_cases > 100


def test_optimal_against_scipy_and_greedy():
    rng = np.random.default_rng(8)
    for case in range(12):
        nt, npool = int(rng.integers(10, 68)), int(rng.integers(20, 400))
        ts = rng.integers(0, 3, nt).astype(np.int64)
        ps = rng.integers(0, 4, npool).astype(np.int64)
        if case % 2:
            tsl, psl = rng.integers(0, 19, nt) / 6, rng.integers(0, 19, npool) / 6
        else:
            tsl, psl = rng.gamma(2, 0.5, nt), rng.gamma(2, 0.5, npool)
        cal = float(rng.choice([0.1, 0.3, 0.5, 1.0]))
        out = run_all(ts, tsl, ps, psl, cal, K.OPTIMAL, K.AS_GIVEN, np.uint64(1), np.zeros(0))
        got = check_valid(out, ts, tsl, ps, psl, cal)
        mbm, count, total = scipy_optimal(ts, tsl, ps, psl, cal)
        assert mbm == count == got[0]
        assert got[1] == pytest.approx(total, abs=1e-9)
        # no greedy policy matches more, or as many at a smaller total
        for policy in GREEDY:
            for order in ORDERS:
                g = check_valid(run_all(ts, tsl, ps, psl, cal, policy, order, np.uint64(3),
                                        rng.random(npool)), ts, tsl, ps, psl, cal)
                assert g[0] < got[0] or (g[0] == got[0] and g[1] >= got[1] - 1e-9)


def test_optimal_scarce_candidates_maximises_count():
    # nearest-first would give treated 0 the shared candidate and lose treated 1
    ts, tsl = [0, 0], [1.0, 1.4]
    ps, psl = [0, 0], [1.2, 0.8]
    assert _k(ts, tsl, ps, psl, 0.25, K.NEAREST) == [0, -1]
    assert _k(ts, tsl, ps, psl, 0.25, K.OPTIMAL) == [1, 0]


def test_stratum_codes():
    rng = np.random.default_rng(1)
    radix = np.array([2, 4, 3], np.int64)
    cols = np.column_stack([rng.integers(-1, r + 1, 200) for r in radix]).astype(np.int64)
    got = K.stratum_codes(cols, radix)
    for row, g in zip(cols, got):
        if np.any(row < 0) or np.any(row >= radix):
            assert g == -1
        else:
            assert g == row[0] + 2 * row[1] + 8 * row[2]
    ok = got >= 0
    assert len(set(got[ok])) == len({tuple(r) for r in cols[ok]})
    assert K.stratum_codes(np.zeros((5, 0), np.int64), np.zeros(0, np.int64)).tolist() == [0] * 5


# ------------------------------------------------------------------ match_cohorts
def cohort(rng, n, races=("White", "Black", "Asian")):
    return {
        "sex": rng.choice(["M", "F"], n),
        "race": rng.choice(list(races), n, p=None),
        "onset": rng.choice(["bulbar", "spinal"], n),
        "ft9_stage": rng.integers(1, 4, n),
        "riluzole": rng.integers(0, 2, n),
        "alsfrs_pre": rng.integers(30, 46, n),
        "alsfrs_0": rng.integers(25, 40, n),
        "time_days": rng.uniform(100, 1500, n),
    }


def _python_strata(treated, pool, exact):
    """Strata by tuples of the raw values: the twin of the encoding."""
    keys = {}
    def codes(tab, n):
        out = []
        for r in range(n):
            key = tuple(str(tab[v][r]) for v in exact)
            out.append(keys.setdefault(key, len(keys)))
        return np.array(out, np.int64)
    return codes(treated, len(treated["sex"])), codes(pool, len(pool["sex"]))


def test_match_cohorts_equals_twin_and_reports_drops():
    rng = np.random.default_rng(2)
    for case in range(20):
        treated = cohort(rng, int(rng.integers(1, 40)), races=("White", "Black", "Other"))
        pool = cohort(rng, int(rng.integers(0, 300)), races=("White", "Black", "Asian"))
        exact = DEFAULT_EXACT if case % 3 else ("sex", "race")
        cal = [0.0, 0.5, 1.0][case % 3]
        policy = ["nearest", "first", "random", "worst", "optimal"][case % 5]
        order = ["given", "random", "hardest_first"][case % 3]
        res = match_cohorts(treated, pool, exact=exact, caliper=cal,
                            match_choice=policy if policy != "optimal" else "nearest",
                            match_order=order if policy != "optimal" else "optimal",
                            seed=case, badness="time_days")
        tsl = (treated["alsfrs_pre"] - treated["alsfrs_0"]) / 6
        psl = (pool["alsfrs_pre"] - pool["alsfrs_0"]) / 6
        ts, ps = _python_strata(treated, pool, exact)
        if policy == "optimal":
            _, count, total = scipy_optimal(ts, tsl, ps, psl, cal)
            assert res.n_matched == count
            assert np.abs(res.slope_diff).sum() == pytest.approx(total, abs=1e-9)
        else:
            pol = {"nearest": K.NEAREST, "first": K.FIRST, "random": K.RANDOM,
                   "worst": K.WORST}[policy]
            ordc = {"given": K.AS_GIVEN, "random": K.RANDOM_ORDER,
                    "hardest_first": K.HARDEST_FIRST}[order]
            want = twin_greedy(ts, tsl, ps, psl, cal, pol, ordc, np.uint64(root_key(case, 0, 0)),
                               np.asarray(pool["time_days"], float))
            assert res.match_index.tolist() == want
        n = len(treated["sex"])
        assert res.n_treated == n
        assert res.n_matched + res.n_dropped == n
        assert res.n_dropped == int(np.sum(res.match_index < 0))
        assert res.caliper == cal and res.caliper_unit == CALIPER_UNIT
        assert res.match_choice == (policy if policy != "optimal" else "nearest")
        assert res.exact == tuple(exact)
        for ti, ri in zip(res.treated_index, res.reference_index):
            for v in exact:
                assert treated[v][ti] == pool[v][ri]
            assert abs(tsl[ti] - psl[ri]) <= cal + TOL
        np.testing.assert_allclose(res.slope_diff, tsl[res.treated_index]
                                   - psl[res.reference_index])


def test_match_cohorts_dataframes_text_and_missing():
    treated = pd.DataFrame({"sex": ["M", "F", "M", None, "M"],
                            "race": ["White", "White", "Asian", "White", "White"],
                            "onset": ["spinal"] * 5, "ft9_stage": [1, 2, 1, 1, 1],
                            "riluzole": [1, 1, 1, 1, 1],
                            "pre_rate": [0.5, 1.0, 0.5, 0.5, np.nan]})
    pool = pd.DataFrame({"sex": ["F", "M", "M", "F"], "race": ["White", "White", "White", "Black"],
                         "onset": ["spinal"] * 4, "ft9_stage": [2, 1, 1, 2],
                         "riluzole": [1, 1, 0, 1], "pre_rate": [1.5, 4 / 6, 0.5, 1.0]})
    res = match_cohorts(treated, pool)
    # treated 0 -> pool 1 (0.5 vs 4/6); treated 1 -> pool 0 (1.0 vs 1.5, the
    # caliper edge); treated 2 'Asian' is in no pool stratum; treated 3 has no
    # sex, treated 4 no pre-slope
    assert res.match_index.tolist() == [1, 0, -1, -1, -1]
    assert res.treated_index.tolist() == [0, 1] and res.reference_index.tolist() == [1, 0]
    assert (res.n_treated, res.n_matched, res.n_dropped, res.n_missing) == (5, 2, 3, 2)
    s = res.summary()
    assert "caliper 0.5 ALSFRS-R points/month" in s
    assert "Treated 5, matched 2, dropped 3 (2 with a missing matching variable)" in s
    assert "exactly 0 in 0 of 2 pairs" in s
    assert isinstance(res, MatchResult)


def test_prepared_pool_gives_the_same_result():
    rng = np.random.default_rng(4)
    pool = cohort(rng, 2000)
    prep = prepare_pool(pool)
    for seed in range(5):
        treated = cohort(rng, 67)
        for choice, order in (("nearest", "random"), ("random", "random"), ("nearest", "optimal")):
            a = match_cohorts(treated, pool, match_choice=choice, match_order=order, seed=seed)
            b = match_cohorts(treated, prep, match_choice=choice, match_order=order, seed=seed)
            np.testing.assert_array_equal(a.match_index, b.match_index)
    with pytest.raises(InputError) as e:
        match_cohorts(cohort(rng, 3), prep, exact=("sex",))
    assert e.value.where == "exact"
    p2 = prepare_pool(pool, exact=("sex", "onset"))
    assert match_cohorts(cohort(rng, 3), p2).exact == ("sex", "onset")


def test_slope_from_scores_and_worst_badness():
    treated = {"sex": np.array(["M"]), "alsfrs_pre": np.array([40]), "alsfrs_0": np.array([37])}
    pool = {"sex": np.array(["M", "M", "M", "F"]), "alsfrs_pre": np.array([40, 41, 40, 40]),
            "alsfrs_0": np.array([37, 37, 34, 37]), "t": np.array([900., 100., 50., 1.])}
    # slopes 0.5 vs pool 0.5, 4/6, 1.0 (and a woman)
    r = match_cohorts(treated, pool, exact=("sex",), match_choice="worst", badness=-pool["t"])
    assert r.reference_index.tolist() == [2]
    r = match_cohorts(treated, pool, exact=("sex",), match_choice="worst", badness="t")
    assert r.reference_index.tolist() == [0]
    r = match_cohorts(treated, pool, exact=(), caliper=0.0)
    assert r.reference_index.tolist() == [0] and "exactly 0 in 1 of 1" in r.summary()


@pytest.mark.parametrize("kwargs, where, words", [
    ({"match_choice": "closest"}, "match_choice", ["nearest", "first", "random", "worst"]),
    ({"match_order": "sorted"}, "match_order", ["given", "random", "hardest_first", "optimal"]),
    ({"exact": ("sex", "age")}, "exact", ["'age'", "ft9_stage", "riluzole"]),
    ({"exact": ("sex", "sex")}, "exact", ["repeat"]),
    ({"caliper": -0.1}, "caliper", [">= 0", CALIPER_UNIT]),
    ({"caliper": float("nan")}, "caliper", [">= 0"]),
    ({"caliper": "wide"}, "caliper", [">= 0"]),
    ({"match_choice": "worst"}, "badness", ["pool column"]),
    ({"match_choice": "worst", "badness": [1.0]}, "badness", ["1 values for a pool of 4"]),
    ({"match_choice": "worst", "badness": "nope"}, "badness", ["'nope'"]),
    ({"seed": -1}, "seed", ["integer"]),
])
def test_invalid_arguments(kwargs, where, words):
    rng = np.random.default_rng(0)
    with pytest.raises(InputError) as e:
        match_cohorts(cohort(rng, 3), cohort(rng, 4), **kwargs)
    assert e.value.where == where
    for w in words:
        assert w in str(e.value)


def test_invalid_tables():
    rng = np.random.default_rng(0)
    t, p = cohort(rng, 3), cohort(rng, 4)
    del t["race"]
    with pytest.raises(InputError, match="treated: missing column 'race'"):
        match_cohorts(t, p)
    t = cohort(rng, 3)
    t["riluzole"] = np.array(["yes", "no", "yes"])
    with pytest.raises(InputError, match="treated column 'riluzole'.*text.*numbers"):
        match_cohorts(t, p)
    t = cohort(rng, 3)
    del t["alsfrs_pre"]
    with pytest.raises(InputError, match="no pre-slope"):
        match_cohorts(t, p)


@pytest.mark.parametrize("peek", [1, 2, 3, 5, 1000])
def test_peek_among_nearest_matches_twin(peek):
    """The analyst's look among the peek nearest candidates (issue 12), against the
    plain twin, on random pools with many ties in slope and badness; peek 1 is
    nearest, a huge peek is worst within the caliper."""
    rng = np.random.default_rng(50 + peek)
    for case in range(30):
        nt, npool = int(rng.integers(1, 30)), int(rng.integers(0, 200))
        ts = rng.integers(-1, 3, nt)
        ps = rng.integers(-1, 3, npool)
        tsl = rng.integers(0, 13, nt) / 6.0
        psl = rng.integers(0, 13, npool) / 6.0
        bad = np.where(rng.random(npool) < 0.1, np.nan, rng.integers(0, 5, npool).astype(float))
        cal = [0.0, 0.5, 1.0][case % 3]
        order = [K.AS_GIVEN, K.RANDOM_ORDER, K.HARDEST_FIRST][case % 3]
        key = np.uint64(1000 + case)
        perm, ss, sl = K.prepare_pool(ps, psl)
        got, _ = K.match_prepared(ts, tsl, perm, ss, sl, cal, K.NEAREST, order, key, bad, np.int64(peek))
        want = twin_greedy(ts, tsl, ps, psl, cal, K.NEAREST, order, key, bad, peek=peek)
        assert got.tolist() == want
        if peek == 1:
            near, _ = K.match_prepared(ts, tsl, perm, ss, sl, cal, K.NEAREST, order, key, bad)
            assert got.tolist() == near.tolist()
        if peek == 1000:
            worst, _ = K.match_prepared(ts, tsl, perm, ss, sl, cal, K.WORST, order, key, bad)
            assert got.tolist() == worst.tolist()
