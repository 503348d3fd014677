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
def logrank_family_sorted(time, event, group, chi2, p):
    """All four weightings in one pass over rows already sorted by time.

    Fills chi2[w] and p[w] for w = LOGRANK, GEHAN, TARONE_WARE, PETO and returns
    the status, which is the same for every weighting (the weights are > 0).
    """
    n = time.shape[0]
    r1 = 0
    for i in range(n):
        if group[i] != 0:
            r1 += 1
    if r1 == 0 or r1 == n:
        return EMPTY_GROUP
    r = n
    peto = 1.0
    u = np.zeros(4)
    v = np.zeros(4)
    w = np.empty(4)
    any_death = False
    informative = False
    i = 0
    while i < n:
        t = time[i]
        d = 0
        d1 = 0
        g1 = 0
        j = i
        while j < n and time[j] == t:
            if group[j] != 0:
                g1 += 1
                if event[j] != 0:
                    d1 += 1
            if event[j] != 0:
                d += 1
            j += 1
        if d > 0:
            any_death = True
            # Peto-Peto survival includes the factor of t_j itself (lifelines' cumprod).
            peto *= 1.0 - d / (r + 1.0)
            w[LOGRANK] = 1.0
            w[GEHAN] = float(r)
            w[TARONE_WARE] = math.sqrt(r)
            w[PETO] = peto
            r0 = r - r1
            inf_j = r1 > 0 and r0 > 0 and r > d
            if inf_j:
                informative = True
            for k in range(4):
                u[k] += w[k] * (d1 - r1 * d / r)
                if inf_j:
                    v[k] += w[k] * w[k] * r1 * r0 * d * (r - d) / (r * r * (r - 1.0))
        r -= j - i
        r1 -= g1
        i = j
    if not any_death:
        return NO_EVENTS
    # Every variance term is >= 0 and > 0 exactly when `informative`, so decide
    # on the integers, not on a float v that might be a rounding residue.
    if not informative:
        return ZERO_VARIANCE
    for k in range(4):
        chi2[k] = u[k] * u[k] / v[k]
        p[k] = math.erfc(math.sqrt(0.5 * chi2[k]))
    return OK


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
    order = np.argsort(time, kind="mergesort")
    chi2 = np.empty(4)
    p = np.empty(4)
    status = logrank_family_sorted(time[order], event[order], group[order], chi2, p)
    if status != OK:
        return np.nan, np.nan, status
    return chi2[weighting], p[weighting], OK
