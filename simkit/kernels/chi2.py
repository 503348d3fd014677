"""Pearson chi-square test of independence, as scipy.stats.chi2_contingency."""
import math

import numpy as np
from numba import njit

from .distributions import chi2_sf
from .status import EMPTY_GROUP, OK


@njit(cache=True)
def chi2_independence(table, correction):
    """table f8[r, c] of non-negative counts -> (statistic, p, dof, status).

    As scipy.stats.chi2_contingency(table, correction=correction): expected
    counts row_sum * col_sum / total, dof = (r - 1)(c - 1), Yates' correction
    (each |O - E| reduced by at most 0.5) only when dof == 1 and correction,
    and statistic 0 with p 1 when dof == 0.  Where scipy raises because an
    expected count is 0 (an all-zero row or column, or an empty table), and
    for an all-zero table (where scipy returns NaN), NaN + EMPTY_GROUP.
    """
    r, c = table.shape
    dof = (r - 1) * (c - 1)
    if r == 0 or c == 0:
        return math.nan, math.nan, dof, EMPTY_GROUP
    rows = np.zeros(r)
    cols = np.zeros(c)
    total = 0.0
    for i in range(r):
        for j in range(c):
            v = table[i, j]
            rows[i] += v
            cols[j] += v
            total += v
    for i in range(r):
        if rows[i] == 0.0:
            return math.nan, math.nan, dof, EMPTY_GROUP
    for j in range(c):
        if cols[j] == 0.0:
            return math.nan, math.nan, dof, EMPTY_GROUP
    if dof == 0:
        return 0.0, 1.0, 0, OK
    yates = correction and dof == 1
    stat = 0.0
    for i in range(r):
        for j in range(c):
            e = rows[i] * cols[j] / total
            o = table[i, j]
            if yates:
                diff = e - o
                mag = min(0.5, abs(diff))
                if diff > 0.0:
                    o += mag
                elif diff < 0.0:
                    o -= mag
            stat += (o - e) * (o - e) / e
    return stat, chi2_sf(stat, dof), dof, OK
