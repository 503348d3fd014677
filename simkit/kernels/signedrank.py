"""Wilcoxon signed-rank test, exactly as scipy.stats.wilcoxon(d) with its
defaults in scipy 1.17 (zero_method='wilcox', correction=False,
alternative='two-sided', method='auto').

scipy's 'auto' rule (scipy/stats/_wilcoxon.py), with n = len(d) counting zeros:
- n > 50: normal approximation;
- n <= 50, no zeros and no ties in |d|: exact null distribution;
- n <= 13 with zeros or ties: a permutation test over all 2^n sign flips
  (exhaustive because 2^13 < 9999 resamples), i.e. exact given the tied ranks;
- otherwise the normal approximation with the tie-corrected variance.
Zeros are dropped before ranking; the statistic reported is min(R+, R-).
Both exact paths here count sign patterns in integers (ranks doubled, so tied
mid-ranks stay integral), which is what scipy's float sums approximate.
"""
import math

import numpy as np
from numba import njit

from .distributions import norm_sf
from .status import ALL_ZERO, OK, TOO_FEW

_EXACT_MAX_N = 50      # scipy: method='auto' with len(d) > 50 is asymptotic
_PERM_MAX_N = 13       # scipy: exhaustive permutations when len(d) <= 13


@njit(cache=True)
def _sign_flip_pvalue(r2, obs2):
    """Two-sided p of R+ over all 2^m sign patterns of doubled ranks r2 (ints);
    obs2 = 2 R+ observed.  p = 2 min(P(S <= obs), P(S >= obs)), capped at 1."""
    m = r2.shape[0]
    total = 0
    for i in range(m):
        total += r2[i]
    counts = np.zeros(total + 1, dtype=np.int64)
    counts[0] = 1
    top = 0
    for i in range(m):
        ri = r2[i]
        for s in range(top, -1, -1):
            if counts[s] != 0:
                counts[s + ri] += counts[s]
        top += ri
    le = 0
    ge = 0
    for s in range(total + 1):
        if s <= obs2:
            le += counts[s]
        if s >= obs2:
            ge += counts[s]
    # counts sum to 2^m <= 2^50: exact in int64 and in a double
    p = 2.0 * min(le, ge) / 2.0 ** m
    return min(p, 1.0)


@njit(cache=True)
def signed_rank(d):
    """d i8[n] integer differences -> (statistic, p, n_used, status).

    statistic = min(R+, R-) over the non-zero d, p two-sided, n_used = number of
    non-zero d.  NaN + TOO_FEW for an empty d, NaN + ALL_ZERO when every d is 0
    (scipy then gives p = 1 for n <= 13 and NaN above; the spec wants null).
    A single non-zero d gives p = 1, as scipy does.
    """
    n = d.shape[0]
    if n == 0:
        return math.nan, math.nan, 0, TOO_FEW
    m = 0
    for i in range(n):
        if d[i] != 0:
            m += 1
    if m == 0:
        return math.nan, math.nan, 0, ALL_ZERO
    a = np.empty(m, dtype=np.int64)
    pos = np.empty(m, dtype=np.bool_)
    j = 0
    for i in range(n):
        if d[i] != 0:
            a[j] = abs(d[i])
            pos[j] = d[i] > 0
            j += 1
    order = np.argsort(a, kind='mergesort')
    # doubled mid-ranks: a tie group over sorted positions i..k-1 gets i + k + 1
    r2 = np.empty(m, dtype=np.int64)
    tie_sum = 0.0
    has_ties = False
    i = 0
    while i < m:
        k = i + 1
        while k < m and a[order[k]] == a[order[i]]:
            k += 1
        t = k - i
        if t > 1:
            has_ties = True
            tie_sum += float(t) * t * t - t
        for q in range(i, k):
            r2[order[q]] = i + k + 1
        i = k
    rp2 = 0
    rm2 = 0
    for q in range(m):
        if pos[q]:
            rp2 += r2[q]
        else:
            rm2 += r2[q]
    r_plus = 0.5 * rp2
    stat = 0.5 * min(rp2, rm2)
    n_zero = n - m
    if n <= _EXACT_MAX_N and not has_ties and n_zero == 0:
        return stat, _sign_flip_pvalue(r2, rp2), m, OK
    if n <= _PERM_MAX_N:
        return stat, _sign_flip_pvalue(r2, rp2), m, OK
    fm = float(m)
    mean = fm * (fm + 1.0) * 0.25
    se = math.sqrt((fm * (fm + 1.0) * (2.0 * fm + 1.0) - 0.5 * tie_sum) / 24.0)
    z = (r_plus - mean) / se
    return stat, 2.0 * norm_sf(abs(z)), m, OK
