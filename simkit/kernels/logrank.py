"""Weighted log-rank family for two groups (log-rank, Gehan-Breslow, Tarone-Ware, Peto).

At each distinct death time t_j of the pooled sample, with n_j at risk, d_j deaths,
n1_j at risk and d1_j deaths in group 1:
    U = sum_j w_j (d1_j - n1_j d_j / n_j)
    V = sum_j w_j^2 n1_j (n_j - n1_j) d_j (n_j - d_j) / (n_j^2 (n_j - 1))
    chi2 = U^2 / V on 1 df,
as lifelines.statistics.logrank_test computes it for weightings None / "wilcoxon" /
"tarone-ware" / "peto".
"""
import math

import numpy as np
from numba import njit

from .status import EMPTY_GROUP, NO_EVENTS, OK, ZERO_VARIANCE

LOGRANK, GEHAN, TARONE_WARE, PETO = 0, 1, 2, 3


@njit(cache=True)
def weighted_logrank(time, event, group, weighting):
    """(chi2, p, status) of the two-sample weighted log-rank test.

    time f8[n], event i8[n] in {0, 1}, group i8[n] in {0, 1}, weighting one of
    LOGRANK, GEHAN, TARONE_WARE, PETO.  Status EMPTY_GROUP if a group has no
    patient, NO_EVENTS without deaths, ZERO_VARIANCE when V = 0 (no death time
    at which both groups are at risk and not everyone at risk dies).
    """
    if weighting < 0 or weighting > 3:
        raise ValueError("weighting must be LOGRANK, GEHAN, TARONE_WARE or PETO")
    n = time.shape[0]
    r1 = 0
    for i in range(n):
        if group[i] != 0:
            r1 += 1
    if r1 == 0 or r1 == n:
        return np.nan, np.nan, EMPTY_GROUP
    order = np.argsort(time, kind="mergesort")
    r = n
    peto = 1.0
    u = 0.0
    v = 0.0
    any_death = False
    informative = False
    i = 0
    while i < n:
        t = time[order[i]]
        d = 0
        d1 = 0
        g1 = 0
        j = i
        while j < n and time[order[j]] == t:
            k = order[j]
            if group[k] != 0:
                g1 += 1
                if event[k] != 0:
                    d1 += 1
            if event[k] != 0:
                d += 1
            j += 1
        if d > 0:
            any_death = True
            # Peto-Peto survival includes the factor of t_j itself (lifelines' cumprod).
            peto *= 1.0 - d / (r + 1.0)
            if weighting == LOGRANK:
                w = 1.0
            elif weighting == GEHAN:
                w = float(r)
            elif weighting == TARONE_WARE:
                w = math.sqrt(r)
            else:
                w = peto
            u += w * (d1 - r1 * d / r)
            r0 = r - r1
            if r1 > 0 and r0 > 0 and r > d:
                informative = True
                v += w * w * r1 * r0 * d * (r - d) / (r * r * (r - 1.0))
        r -= j - i
        r1 -= g1
        i = j
    if not any_death:
        return np.nan, np.nan, NO_EVENTS
    # Every variance term is >= 0 and > 0 exactly when `informative`, so decide
    # on the integers, not on a float v that might be a rounding residue.
    if not informative:
        return np.nan, np.nan, ZERO_VARIANCE
    chi2 = u * u / v
    return chi2, math.erfc(math.sqrt(0.5 * chi2)), OK
