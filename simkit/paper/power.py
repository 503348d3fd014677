"""Exact and simulated power of two-sample tests of two proportions.

The seed paper's power statement (Statistical Analysis): the difference in the
proportion alive at the end of observation, about 40% treated vs 0% reference,
"allows to achieve 90% statistical power in the sample size 11 person per one group"
and 100% at 67 per group.  This module computes what that statement can be checked
against: for five two-sided tests of a 2x2 table, the exact power

    power = sum over x1 = 0..n1, x0 = 0..n0 of
            Bin(x1; n1, p1) * Bin(x0; n0, p0) * 1[p-value(x1, x0) <= alpha],

with p-values as `scipy.stats` computes them for the table
[[x1, x0], [n1 - x1, n0 - x0]] (columns are the groups), the same by simulation,
and the smallest n per group reaching a target power.

How each test's p-value is computed for all tables of one (n1, n0) at once:
- fisher: `fisher_exact` two-sided: the sum of the conditional (hypergeometric)
  probabilities of the tables with the same margins that are no more probable than
  the observed one (relative tolerance 1e-14, as scipy); 1 when a margin is zero.
- chi2 / chi2_yates: `chi2_contingency(correction=False / True)`.  A table with a
  zero margin (no successes or no failures at all) has a zero expected count and no
  chi-square statistic (scipy raises): it is counted as not rejected (p = 1).
- barnard / boschloo: `barnard_exact` (pooled=True) / `boschloo_exact`, two-sided.
  The p-value is the supremum over the common proportion pi of the probability of the
  tables at least as extreme as the observed one.  scipy approximates that supremum
  with `shgo` (32 Sobol points and a local optimiser); here it is found on a grid in
  pi = sin^2(theta) fine enough to resolve every binomial bump (spacing about a fifth
  of the bump width), refined by golden-section search.  scipy's value is a maximum
  over a subset of [0, 1] and so can only be smaller; tests/test_power.py checks
  agreement to 1e-6 on whole (n1, n0) table sets, and docs/power.md reports the
  largest difference over all tables with n1, n0 <= 12.
  Both tests order the tables by a statistic (Barnard: |Wald z| with pooled variance;
  Boschloo: the one-sided Fisher p-values, with scipy's 1e-13 tolerance) and the set
  "at least as extreme" grows along that order, so the p-value is non-decreasing
  along it.  The rejection region at level alpha is therefore a prefix of the order,
  found by bisection with a handful of supremum evaluations, which makes exact power
  cheap even for hundreds of patients per group.  As for fisher / chi2, tables whose
  supremum lies within _GUARD_UNCONDITIONAL of the level are decided by scipy itself,
  so that alpha equal to one of scipy's p-values rejects as scipy does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from scipy import special, stats

from simkit.errors import InputError

TESTS = ("fisher", "chi2", "chi2_yates", "barnard", "boschloo")

TEST_LABELS = {
    "fisher": "Fisher's exact",
    "chi2": "Pearson chi-square",
    "chi2_yates": "chi-square, Yates",
    "barnard": "Barnard (pooled)",
    "boschloo": "Boschloo",
}

# Fisher's test in scipy treats probabilities within this relative distance as equal.
_FISHER_GAMMA = 1 + 1e-14
# Boschloo in scipy: "pvalues <= fisher_stat * (1 + 1e-13)" (gh-14178).
_BOSCHLOO_RTOL = 1e-13
# fisher / chi2 p-values this close to alpha are recomputed with scipy itself so that
# the decision p <= alpha is scipy's to the last bit.
_GUARD = 1e-9
# Barnard / Boschloo: a one-sided supremum this close to the level (alpha; alpha / 2 for
# Boschloo) leaves the decision to scipy for the tables at that extremeness level.  Ours
# is the supremum to ~1e-11 and can sit a few ulps above scipy's (2^-9 + 1e-18 against
# 2^-9 at (5, 0) of 5 per group) or, where shgo falls short, up to ~1e-7 above it at
# n <= 12 (docs/power.md): 1e-6 covers both at small n.
_GUARD_UNCONDITIONAL = 1e-6
# Values of ours closer than this (relative) are treated as possibly tied and settled
# with scipy's own numbers: our log-gamma probabilities are accurate to ~1e-11.
_AMBIGUOUS = 1e-9


# ----------------------------------------------------------------------------- validation
def _check_prob(x, flag):
    if isinstance(x, bool) or not isinstance(x, Real):
        raise InputError(flag, f"expected a probability in [0, 1], got {x!r}")
    x = float(x)
    if not (0.0 <= x <= 1.0):
        raise InputError(flag, f"expected a probability in [0, 1], got {x!r}")
    return x


def _check_n(x, flag, minimum=1):
    if isinstance(x, bool):
        raise InputError(flag, f"expected an integer >= {minimum}, got {x!r}")
    if isinstance(x, Integral):
        v = int(x)
    elif isinstance(x, Real) and float(x).is_integer():
        v = int(x)
    else:
        raise InputError(flag, f"expected an integer >= {minimum}, got {x!r}")
    if v < minimum:
        raise InputError(flag, f"expected an integer >= {minimum}, got {x!r}")
    return v


def _check_alpha(a, flag="--alpha"):
    if isinstance(a, bool) or not isinstance(a, Real) or not (0.0 < float(a) < 1.0):
        raise InputError(flag, f"expected a significance level strictly between 0 and 1, got {a!r}")
    return float(a)


def _check_test(test):
    if test not in TESTS:
        raise InputError("--test", f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    return test


# ----------------------------------------------------------------------------- tables
def _grid(n1, n0):
    """x1 along axis 0, x0 along axis 1 (int64), as scipy's Barnard / Boschloo grids."""
    x1 = np.arange(n1 + 1, dtype=np.int64).reshape(-1, 1)
    x0 = np.arange(n0 + 1, dtype=np.int64).reshape(1, -1)
    return x1, x0


def _log_comb(n):
    g = special.gammaln(np.arange(n + 1) + 1)
    return special.gammaln(n + 1) - g - g[::-1]


@lru_cache(maxsize=2)
def _cells(n1, n0):
    """Per table: s = x1 + x0 and the hypergeometric weight C(n1,x1) C(n0,x0) / C(N,s).

    The weight is the conditional probability of the table given its margin s (Fisher's
    pmf).  P_pi(table) = weight * Bin(s; N, pi) when both groups have success
    probability pi, so the probability of any set of tables is sum_s h[s] Bin(s; N, pi)
    with h[s] the total weight of the set's tables with sum s: a mixture of binomial
    pmfs with coefficients in [0, 1], well scaled for any N.  Log-gamma arithmetic:
    relative error below 1e-11 for N <= 4000 (scipy's boost pmf is slower by ~1000x).
    """
    x1, x0 = _grid(n1, n0)
    s = (x1 + x0).ravel()
    lw = (_log_comb(n1)[:, None] + _log_comb(n0)[None, :]).ravel() - _log_comb(n1 + n0)[s]
    return _ro(s), _ro(np.exp(lw))


def _ro(a):
    a.setflags(write=False)
    return a


@lru_cache(maxsize=2)
def _by_margin(n1, n0):
    """The weights laid out by margin: W[s, x1] (0 outside the support), lo[s], hi[s]."""
    N = n1 + n0
    _, w = _cells(n1, n0)
    s = np.arange(N + 1)[:, None]
    x1 = np.arange(n1 + 1)[None, :]
    x0 = s - x1
    ok = (x0 >= 0) & (x0 <= n0)
    W = np.zeros((N + 1, n1 + 1))
    W[ok] = w[(x1 * (n0 + 1) + x0)[ok]]
    lo = np.maximum(0, np.arange(N + 1) - n0)
    hi = np.minimum(n1, np.arange(N + 1))
    return _ro(W), _ro(lo), _ro(hi)


def _ambiguous(srt):
    """Mask over an ascending array: members of clusters of values within _AMBIGUOUS
    (relative) of their neighbour that are not all exactly equal.

    Our log-gamma values carry relative errors of ~1e-11, scipy's ~1e-15, and scipy
    breaks ties with tolerances of 1e-14 / 1e-13: for values this close the order or
    tie is settled with scipy's own numbers.  Runs of exactly equal values are true
    ties (mirror tables when n1 == n0 compute bit-identical) and need no settling.
    """
    if len(srt) < 2:
        return np.zeros(len(srt), dtype=bool)
    close = np.abs(np.diff(srt)) <= _AMBIGUOUS * np.maximum(np.abs(srt[1:]), np.abs(srt[:-1]))
    starts = np.flatnonzero(np.concatenate([[True], ~close]))
    ends = np.concatenate([starts[1:], [len(srt)]]) - 1
    mixed = srt[ends] != srt[starts]
    cid = np.cumsum(np.concatenate([[True], ~close])) - 1
    return mixed[cid]


@lru_cache(maxsize=2)
def _pvalues_fisher(n1, n0):
    N = n1 + n0
    W, lo, hi = _by_margin(n1, n0)
    p = np.ones((n1 + 1, n0 + 1))
    flagged = []
    for s in range(1, N):  # s = 0 or N: a zero margin, p = 1 (scipy)
        x = np.arange(lo[s], hi[s] + 1)
        pm = W[s, lo[s]:hi[s] + 1]
        order = np.argsort(pm, kind="stable")
        srt = pm[order]
        csum = np.cumsum(srt)
        k = np.searchsorted(srt, pm * _FISHER_GAMMA, side="right")
        pv = np.minimum(csum[k - 1], 1.0)
        mode = int((n1 + 1) * (s + 1) / (N + 2))
        pmode = W[s, mode]
        pv[np.abs(pm - pmode) / np.maximum(pm, pmode) <= 1e-14] = 1.0
        p[x, s - x] = pv
        # tables whose probability is within 1e-9 of another one's but not equal in our
        # arithmetic: whether scipy's 1e-14 tie rule includes the other is decided by
        # scipy itself (exact ties, e.g. mirror tables when n1 == n0, compute equal)
        for j in order[_ambiguous(srt)]:
            flagged.append((int(x[j]), int(s - x[j])))
    for a, b in flagged:
        p[a, b] = _scipy_pvalue(a, b, n1, n0, "fisher")
    return _ro(p)


@lru_cache(maxsize=2)
def _pvalues_chi2(n1, n0, yates):
    x1, x0 = _grid(n1, n0)
    x1 = np.broadcast_to(x1, (n1 + 1, n0 + 1)).astype(np.float64)
    x0 = np.broadcast_to(x0, (n1 + 1, n0 + 1)).astype(np.float64)
    obs = [x1, x0, n1 - x1, n0 - x0]           # row-major 2x2, as scipy sums it
    r0, r1 = x1 + x0, (n1 - x1) + (n0 - x0)
    c0, c1 = float(n1), float(n0)
    tot = float(n1 + n0)
    exp_ = [r0 * c0 / tot, r0 * c1 / tot, r1 * c0 / tot, r1 * c1 / tot]
    zero = (r0 == 0) | (r1 == 0)
    stat = np.zeros_like(x1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for o, e in zip(obs, exp_):
            if yates:
                d = e - o
                o = o + np.minimum(0.5, np.abs(d)) * np.sign(d)
            stat = stat + (o - e) ** 2 / e
    p = special.chdtrc(1, stat)
    p[zero] = 1.0  # no chi-square statistic: not rejected
    return _ro(p)


def _scipy_pvalue(x1, x0, n1, n0, test):
    """One table's p-value by scipy.stats itself (the reference definition)."""
    table = [[int(x1), int(x0)], [int(n1 - x1), int(n0 - x0)]]
    if test == "fisher":
        return float(stats.fisher_exact(table).pvalue)
    if test in ("chi2", "chi2_yates"):
        if x1 + x0 == 0 or x1 + x0 == n1 + n0:
            return 1.0
        return float(stats.chi2_contingency(table, correction=(test == "chi2_yates")).pvalue)
    if test == "barnard":
        return float(stats.barnard_exact(table).pvalue)
    if test == "boschloo":
        return float(stats.boschloo_exact(table).pvalue)
    raise AssertionError(test)


# ----------------------------------------------------------------------------- sup over pi
@lru_cache(maxsize=2)
def _nuisance_grid(N):
    # In theta (pi = sin^2 theta) a Bin(s; N, pi) bump is about 1/(2 sqrt N) wide
    # wherever it sits, so a uniform theta grid resolves all of them equally: the
    # spacing is about a fifth of a bump.
    G = 257 + 2 * int(8 * math.sqrt(N + 1))
    theta = np.linspace(0.0, math.pi / 2, G)
    pi = np.sin(theta) ** 2
    pi[0], pi[-1] = 0.0, 1.0
    s = np.arange(N + 1)[:, None]
    B = np.exp(_log_comb(N)[:, None] + special.xlogy(s, pi[None, :])
               + special.xlog1py(N - s, -pi[None, :]))
    return _ro(theta), _ro(B)


def _mixture_at(H, theta, N, lc):
    """sum_s H[r, s] Bin(s; N, sin^2 theta[r]) for each row r."""
    pi = np.sin(theta) ** 2
    s = np.arange(N + 1)
    logb = (lc[None, :] + special.xlogy(s[None, :], pi[:, None])
            + special.xlog1py((N - s)[None, :], -pi[:, None]))
    return np.einsum("rs,rs->r", H, np.exp(logb))


def _sup(H, N):
    """sup over pi in [0, 1] of sum_s H[r, s] Bin(s; N, pi), for each row of H."""
    H = np.atleast_2d(H)
    theta, B = _nuisance_grid(N)
    F = H @ B
    i = np.argmax(F, axis=1)
    best = F[np.arange(len(i)), i]
    G = len(theta)
    a = theta[np.maximum(i - 1, 0)]
    b = theta[np.minimum(i + 1, G - 1)]
    lc = _log_comb(N)
    # golden-section search for the maximum inside the two grid cells around the best point
    g = (math.sqrt(5) - 1) / 2
    c = b - g * (b - a)
    d = a + g * (b - a)
    fc = _mixture_at(H, c, N, lc)
    fd = _mixture_at(H, d, N, lc)
    for _ in range(40):
        left = fc >= fd            # maximum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        nc = np.where(left, b - g * (b - a), d)
        nd = np.where(left, c, a + g * (b - a))
        fnew = _mixture_at(H, np.where(left, nc, nd), N, lc)
        fc, fd = np.where(left, fnew, fd), np.where(left, fc, fnew)
        c, d = nc, nd
        best = np.maximum(best, np.maximum(fc, fd))
    return np.minimum(best, 1.0)


# ----------------------------------------------------------------------------- orderings
def _boschloo_statistics(n1, n0):
    """The one-sided Fisher p-values scipy's boschloo_exact orders the tables by, flat.

    'less': hypergeom.cdf(x1, N, s, n1); 'greater': hypergeom.cdf(x0, N, s, n0), the
    latter = P(X1 >= x1 | s).  Computed by cumulative sums of the margin's pmf (from
    the nearer end, so values near 1 are accurate too); values within 1e-9 of another
    (not exactly equal) are replaced by scipy's own cdf so ties are broken as scipy does.
    """
    N = n1 + n0
    W, lo, hi = _by_margin(n1, n0)
    left = np.cumsum(W, axis=1)                            # P(X1 <= x1 | s)
    right_incl = np.cumsum(W[:, ::-1], axis=1)[:, ::-1]    # P(X1 >= x1 | s)
    right_excl = np.zeros_like(right_incl)                 # P(X1 >  x1 | s)
    right_excl[:, :-1] = right_incl[:, 1:]
    left_excl = left - W                                   # P(X1 <  x1 | s)
    less = np.where(left <= 0.5, left, 1.0 - right_excl)
    greater = np.where(right_incl <= 0.5, right_incl, 1.0 - left_excl)
    x1, x0 = _grid(n1, n0)
    s = x1 + x0
    x1b = np.broadcast_to(x1, s.shape)
    out = []
    for V, scipy_v in ((less, lambda a, ss: stats.hypergeom.cdf(a, N, ss, n1)),
                       (greater, lambda a, ss: stats.hypergeom.cdf(ss - a, N, ss, n0))):
        v2 = V[s, x1b]
        if n1 == n0:
            # swapping both rows and columns maps a table to (n - x0, n - x1) with the
            # same statistic: make such mirror pairs bit-identical (true ties)
            m = v2[::-1, ::-1].T
            v2 = 0.5 * (v2 + m)
        v = v2.ravel().copy()
        v[(s.ravel() == 0) | (s.ravel() == N)] = 1.0
        # above 0.5 the value comes from the small tail, accurate to ~1e-16 absolute,
        # far inside scipy's 1e-13 tie tolerance: only smaller values need settling
        small = np.flatnonzero(v <= 0.5)
        order = small[np.argsort(v[small], kind="stable")]
        amb = order[_ambiguous(v[order])]
        if len(amb):
            v[amb] = scipy_v(x1b.ravel()[amb], s.ravel()[amb])
        out.append(v)
    return out


@lru_cache(maxsize=2)
def _orderings(n1, n0, test):
    """For Barnard / Boschloo, per one-sided part: (prefix_len per table, the cells'
    margins and weights in extremeness order).

    Each table's "at least as extreme" set is the first prefix_len cells of the order.
    Barnard has one part; Boschloo two ('less' and 'greater', p = 2 min of the two).
    """
    x1, x0 = _grid(n1, n0)
    K = (n1 + 1) * (n0 + 1)
    parts = []
    if test == "barnard":
        # the Wald statistic exactly as scipy.stats.barnard_exact(pooled=True) computes it
        p1, p2 = x1 / n1, x0 / n0
        p = (x1 + x0) / (n1 + n0)
        variances = p * (1 - p) * (1 / n1 + 1 / n0)
        with np.errstate(divide="ignore", invalid="ignore"):
            wald = np.divide((p1 - p2), np.sqrt(variances))
        wald[np.broadcast_to(p1 == p2, wald.shape)] = 0
        v = np.abs(wald).ravel()
        asc = np.sort(v)
        plen = K - np.searchsorted(asc, v, side="left")   # cells with |W| >= |W_obs|
        order = np.argsort(-v, kind="stable")
        parts.append((plen, order))
    elif test == "boschloo":
        for v in _boschloo_statistics(n1, n0):
            asc = np.sort(v)
            plen = np.searchsorted(asc, v * (1 + _BOSCHLOO_RTOL), side="right")
            order = np.argsort(v, kind="stable")
            parts.append((plen, order))
    else:
        raise AssertionError(test)
    s, w = _cells(n1, n0)
    # cells' margins and weights in extremeness order, so that prefixes are slices
    return tuple((_ro(pl.astype(np.int32)), _ro(s[o].astype(np.int32)), _ro(w[o])) for pl, o in parts)


def _prefix_h(s_o, w_o, L, N):
    return np.bincount(s_o[:L], weights=w_o[:L], minlength=N + 1)


def _sup_of_prefixes(s_o, w_o, N, lengths, chunk_cells=2_000_000):
    """sup_pi P_pi(first L cells of the order) for each L in `lengths` (ascending, >= 1)."""
    out = np.empty(len(lengths))
    running = np.zeros(N + 1)
    done = 0                                    # cells already in `running`
    rows = max(1, chunk_cells // (N + 1))
    for start in range(0, len(lengths), rows):
        Ls = lengths[start:start + rows]
        D = np.zeros((len(Ls), N + 1))
        cells = np.arange(done, Ls[-1])
        r = np.searchsorted(Ls, cells, side="right")   # first row whose prefix holds the cell
        np.add.at(D, (r, s_o[cells]), w_o[cells])
        Hc = running[None, :] + np.cumsum(D, axis=0)
        out[start:start + len(Ls)] = _sup(Hc, N)
        running = Hc[-1].copy()
        done = Ls[-1]
    return out


@lru_cache(maxsize=2)
def _pvalues_unconditional(n1, n0, test):
    p = None
    for plen, s_o, w_o in _orderings(n1, n0, test):
        Ls, inv = np.unique(plen, return_inverse=True)
        g = _sup_of_prefixes(s_o, w_o, n1 + n0, Ls)[inv]
        if test == "boschloo":
            g = np.minimum(2 * g, 1.0)
        p = g if p is None else np.minimum(p, g)
    return _ro(p.reshape(n1 + 1, n0 + 1))


def pvalues(n1, n0, test="fisher"):
    """Two-sided p-values of all (n1 + 1) x (n0 + 1) tables, indexed [x1, x0] (read-only).

    Cached per (n1, n0, test).  For Barnard / Boschloo this evaluates the supremum for
    every distinct extremeness level (about (n1 + 1)(n0 + 1) / 2 of them): seconds for
    a few hundred per group.  `exact_power` does not need it.
    """
    n1 = _check_n(n1, "n1")
    n0 = _check_n(n0, "n0")
    _check_test(test)
    if test == "fisher":
        return _pvalues_fisher(n1, n0)
    if test in ("chi2", "chi2_yates"):
        return _pvalues_chi2(n1, n0, test == "chi2_yates")
    return _pvalues_unconditional(n1, n0, test)


@lru_cache(maxsize=64)
def _region(n1, n0, alpha, test):
    """Boolean (n1+1, n0+1): tables whose two-sided p-value is <= alpha."""
    if test in ("fisher", "chi2", "chi2_yates"):
        p = pvalues(n1, n0, test)
        rej = p <= alpha
        for x1, x0 in zip(*np.nonzero(np.abs(p - alpha) <= _GUARD)):
            rej[x1, x0] = _scipy_pvalue(x1, x0, n1, n0, test) <= alpha
        return _ro(rej)
    # Barnard / Boschloo: p is non-decreasing in the prefix length, so the region is
    # {prefix_len <= L*} with L* the longest prefix whose supremum is <= level.
    level = alpha / 2 if test == "boschloo" else alpha
    guard = _GUARD_UNCONDITIONAL / 2 if test == "boschloo" else _GUARD_UNCONDITIONAL
    rej = np.zeros((n1 + 1) * (n0 + 1), dtype=bool)
    near = []                                   # tables whose decision scipy settles
    for plen, s_o, w_o in _orderings(n1, n0, test):
        Ls = np.unique(plen)
        g = lambda k: _sup(_prefix_h(s_o, w_o, Ls[k], n1 + n0), n1 + n0)[0]  # noqa: E731
        lo, hi = -1, len(Ls) - 1                # invariant: g(Ls[lo]) <= level < g(Ls[hi+1])
        while lo < hi:
            mid = (lo + hi + 1) // 2
            h = _prefix_h(s_o, w_o, Ls[mid], n1 + n0)
            # the grid maximum is a lower bound: when it is above the level already the
            # refinement cannot change the answer
            above = (h @ _nuisance_grid(n1 + n0)[1]).max() > level or _sup(h, n1 + n0)[0] > level
            if not above:
                lo = mid
            else:
                hi = mid - 1
        if lo >= 0:
            rej |= plen <= Ls[lo]
        # as for fisher / chi2: levels whose supremum is within the guard of the level go
        # to scipy (g is non-decreasing in k, so they are contiguous around the boundary)
        k = lo
        while k >= 0 and g(k) >= level - guard:
            near.append(np.flatnonzero(plen == Ls[k]))
            k -= 1
        k = lo + 1
        while k < len(Ls) and g(k) <= level + guard:
            near.append(np.flatnonzero(plen == Ls[k]))
            k += 1
    if near:
        for i in np.unique(np.concatenate(near)):
            x1, x0 = divmod(int(i), n0 + 1)
            rej[i] = _scipy_pvalue(x1, x0, n1, n0, test) <= alpha
    return _ro(rej.reshape(n1 + 1, n0 + 1))


def rejection_region(n1, n0=None, alpha=0.05, test="fisher"):
    """Boolean array [x1, x0]: True where the two-sided test rejects at level alpha."""
    n1 = _check_n(n1, "--n")
    n0 = n1 if n0 is None else _check_n(n0, "n0")
    return _region(n1, n0, _check_alpha(alpha), _check_test(test))


# ----------------------------------------------------------------------------- power
def exact_power(p1, p0, n1, n0=None, alpha=0.05, test="fisher") -> float:
    """Exact two-sided power (the rejection probability; the size when p1 == p0).

    p1, p0: success probabilities in group 1 (treated) and group 0 (control);
    n1, n0: group sizes (n0 defaults to n1).
    """
    p1 = _check_prob(p1, "--p-treated")
    p0 = _check_prob(p0, "--p-control")
    n1 = _check_n(n1, "--n")
    n0 = n1 if n0 is None else _check_n(n0, "n0")
    return _exact_power(p1, p0, n1, n0, _check_alpha(alpha), _check_test(test))


@lru_cache(maxsize=20000)
def _exact_power(p1, p0, n1, n0, alpha, test):
    rej = _region(n1, n0, alpha, test)
    b1 = stats.binom.pmf(np.arange(n1 + 1), n1, p1)
    b0 = stats.binom.pmf(np.arange(n0 + 1), n0, p0)
    return float(min(1.0, b1 @ rej.astype(np.float64) @ b0))


APPROXIMATIONS = ("arcsine", "pooled_z", "wald")


def approx_power(p1, p0, n1, n0=None, alpha=0.05, method="arcsine") -> float:
    """Large-sample normal approximations to two-sided power (not exact; for comparison).

    arcsine: Cohen's h = 2 asin(sqrt p1) - 2 asin(sqrt p0), power =
    Phi(|h| sqrt(n1 n0 / N) - z) + Phi(-|h| sqrt(n1 n0 / N) - z), z = z_{1-alpha/2}
    (the usual G*Power / pwr.2p2n.test computation).
    pooled_z: the z test with pooled variance under H0 and unpooled under H1 (Fleiss,
    no continuity correction).  wald: unpooled variance under both.
    """
    p1 = _check_prob(p1, "--p-treated")
    p0 = _check_prob(p0, "--p-control")
    n1 = _check_n(n1, "--n")
    n0 = n1 if n0 is None else _check_n(n0, "n0")
    alpha = _check_alpha(alpha)
    if method not in APPROXIMATIONS:
        raise InputError("method", f"unknown approximation {method!r}; expected one of {', '.join(APPROXIMATIONS)}")
    z = stats.norm.isf(alpha / 2)
    if p1 == p0:
        return alpha
    if method == "arcsine":
        e = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))) * math.sqrt(n1 * n0 / (n1 + n0))
        return float(stats.norm.cdf(e - z) + stats.norm.cdf(-e - z))
    d = abs(p1 - p0)
    sd1 = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    if sd1 == 0:       # both proportions 0 or 1 and different: every trial rejects
        return 1.0
    if method == "wald":
        sd0 = sd1
    else:
        pbar = (n1 * p1 + n0 * p0) / (n1 + n0)
        sd0 = math.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n0))
    return float(stats.norm.cdf((d - z * sd0) / sd1) + stats.norm.cdf((-d - z * sd0) / sd1))


def simulated_power(p1, p0, n1, n0=None, alpha=0.05, test="fisher", reps=10000, seed=0,
                    engine="scipy"):
    """Monte Carlo power: (rejection rate, its Monte Carlo SE) over `reps` simulated trials.

    x1 ~ Bin(n1, p1) and x0 ~ Bin(n0, p0) from numpy's default_rng(seed).  With
    engine="scipy" (default) each distinct simulated table is tested by scipy.stats'
    own function (fisher_exact, chi2_contingency, barnard_exact, boschloo_exact),
    independently of the exact machinery of this module; Barnard / Boschloo take a few
    to a few tens of ms per distinct table.  engine="table" looks the decisions up in
    the exact rejection region (fast; it checks only the summation).
    """
    p1 = _check_prob(p1, "--p-treated")
    p0 = _check_prob(p0, "--p-control")
    n1 = _check_n(n1, "--n")
    n0 = n1 if n0 is None else _check_n(n0, "n0")
    alpha = _check_alpha(alpha)
    _check_test(test)
    reps = _check_n(reps, "--reps")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise InputError("--seed", f"expected an integer >= 0, got {seed!r}")
    if engine not in ("scipy", "table"):
        raise InputError("engine", f"expected 'scipy' or 'table', got {engine!r}")
    rng = np.random.default_rng(int(seed))
    x1 = rng.binomial(n1, p1, reps)
    x0 = rng.binomial(n0, p0, reps)
    codes, counts = np.unique(x1 * (n0 + 1) + x0, return_counts=True)
    u1, u0 = codes // (n0 + 1), codes % (n0 + 1)
    if engine == "table":
        rej = _region(n1, n0, alpha, test)[u1, u0]
    else:
        rej = np.array([_scipy_pvalue(a, b, n1, n0, test) <= alpha for a, b in zip(u1, u0)],
                       dtype=bool)
    pw = int(counts[rej].sum()) / reps
    return pw, math.sqrt(pw * (1 - pw) / reps)


@dataclass(frozen=True)
class SampleSize:
    """Smallest n per group with exact power >= target, and from where it stays there.

    Exact tests' power is not monotone in n (it saw-tooths as the discrete rejection
    region jumps), so power can reach the target at n_first and fall below it again
    at a larger n.  Every n from 1 to checked_up_to = min(n_max, n_first +
    max(20, n_first // 4)) is evaluated; n_stable is the smallest n such that power
    >= target at every n from n_stable to checked_up_to, and `dips` lists the n above
    n_first where power is below target.  n_first = None: not reached up to n_max
    (or p1 == p0, when nothing is scanned and checked_up_to = 0).
    """
    target: float
    n_first: int | None
    n_stable: int | None
    checked_up_to: int
    power_at_first: float | None = None
    dips: tuple = field(default=())

    def to_dict(self):
        return {"target": self.target, "n_first": self.n_first, "n_stable": self.n_stable,
                "checked_up_to": self.checked_up_to, "power_at_first": self.power_at_first,
                "dips": list(self.dips)}


def sample_size(p1, p0, power=0.8, alpha=0.05, test="fisher", n_max=2000) -> SampleSize:
    """Smallest equal n per group with exact two-sided power >= `power` (see SampleSize).

    Scans n = 1, 2, ... because power is not monotone in n (powers are cached, so the
    80% and 90% scans share their work).  When p1 == p0 there is no difference to
    detect: returns n_first = None without scanning.  Cost grows with n: about 0.1-0.4 s
    per n at 800 per group for Barnard / Boschloo, much less for the others.
    """
    p1 = _check_prob(p1, "--p-treated")
    p0 = _check_prob(p0, "--p-control")
    if isinstance(power, bool) or not isinstance(power, Real) or not (0.0 < power < 1.0):
        raise InputError("power", f"expected a target power strictly between 0 and 1, got {power!r}")
    alpha = _check_alpha(alpha)
    _check_test(test)
    n_max = _check_n(n_max, "n_max")
    power = float(power)
    if p1 == p0:
        return SampleSize(power, None, None, 0)
    first = None
    pw = {}
    n = 1
    while n <= n_max:
        pw[n] = _exact_power(p1, p0, n, n, alpha, test)
        if first is None and pw[n] >= power:
            first = n
        if first is not None and n >= min(n_max, first + max(20, first // 4)):
            break
        n += 1
    if first is None:
        return SampleSize(power, None, None, n_max)
    top = max(pw)
    stable = None
    if pw[top] >= power:
        stable = top
        while stable - 1 >= first and pw[stable - 1] >= power:
            stable -= 1
    dips = tuple(m for m in range(first + 1, top + 1) if pw[m] < power)
    return SampleSize(power, first, stable, top, pw[first], dips)


# ----------------------------------------------------------------------------- the analysis
PAPER_CLAIM = {
    "p_treated": 0.40, "p_control": 0.0, "n_per_group": 11, "alpha": 0.05,
    "claimed_power": 0.90, "n_per_group_full": 67, "claimed_power_full": 1.00,
    "where": "Statistical Analysis: 'difference in survival rate that we observed at the end "
             "of the observation (approx. 40% vs 0%) allows to achieve 90% statistical power "
             "in the sample size 11 person per one group ... In case of 67 patients per group, "
             "the statistical power for such proportions equals 100%'",
}


@dataclass(frozen=True)
class PowerResult:
    p_treated: float
    p_control: float
    n_per_group: int
    alpha: float
    exact: dict                 # test -> exact power at n_per_group
    simulated: dict             # test -> (power, mcse)
    sample_size_80: dict        # test -> SampleSize
    sample_size_90: dict        # test -> SampleSize
    approximate: dict = field(default_factory=dict)   # method -> normal-approximation power
    exact_at: dict = field(default_factory=dict)      # other n per group -> {test: power}
    reps: int = 0
    seed: int = 0
    engine: str = "scipy"

    def to_dict(self):
        return {
            "inputs": {"p_treated": self.p_treated, "p_control": self.p_control,
                       "n_per_group": self.n_per_group, "alpha": self.alpha,
                       "alternative": "two-sided", "reps": self.reps, "seed": self.seed,
                       "simulation_engine": self.engine},
            "exact": dict(self.exact),
            "simulated": {t: {"power": v[0], "mcse": v[1]} for t, v in self.simulated.items()},
            "sample_size": {t: {"power_80": self.sample_size_80[t].to_dict(),
                                "power_90": self.sample_size_90[t].to_dict()}
                            for t in self.exact},
            "approximate": dict(self.approximate),
            "exact_at_n": {str(k): dict(v) for k, v in self.exact_at.items()},
            "paper_claim": {k: v for k, v in PAPER_CLAIM.items()},
        }


def power_analysis(p1, p0, n, alpha=0.05, reps=10000, seed=0, tests=TESTS,
                   engine="scipy", n_max=2000, also_n=(67,)) -> PowerResult:
    """Exact and simulated power of each test at n per group, n for 80% / 90% power,
    the normal approximations, and exact power at the sizes in `also_n` (the paper's 67)."""
    p1 = _check_prob(p1, "--p-treated")
    p0 = _check_prob(p0, "--p-control")
    n = _check_n(n, "--n")
    alpha = _check_alpha(alpha)
    tests = tuple(_check_test(t) for t in tests)
    exact = {t: _exact_power(p1, p0, n, n, alpha, t) for t in tests}
    sim = {t: simulated_power(p1, p0, n, n, alpha, t, reps, seed, engine) for t in tests}
    s80 = {t: sample_size(p1, p0, 0.8, alpha, t, n_max) for t in tests}
    s90 = {t: sample_size(p1, p0, 0.9, alpha, t, n_max) for t in tests}
    approx = {m: approx_power(p1, p0, n, n, alpha, m) for m in APPROXIMATIONS}
    at = {int(m): {t: _exact_power(p1, p0, int(m), int(m), alpha, t) for t in tests}
          for m in also_n if int(m) != n}
    return PowerResult(p1, p0, n, alpha, exact, sim, s80, s90, approx, at,
                       int(reps), int(seed), engine)
