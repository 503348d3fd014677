"""Kaplan-Meier product-limit estimate and its median.

The median is the first time t with S(t) <= 0.5, where a product that equals
0.5 exactly counts as reached (4 patients, 2 deaths: 3/4 * 2/3 = 1/2).  The float
product can land on either side of 0.5 in that case, so a float result within its
rounding bound of 0.5 is settled by comparing the two integer products
2 * prod(n_i - d_i) and prod(n_i) exactly, through their prime factorisations.
"""
import numpy as np
from numba import njit

# Relative rounding of one float factor (n - d) / n and of one product step.
_EPS = 2.220446049250313e-16


@njit(cache=True)
def km_curve(time, event):
    """Product-limit estimate at the distinct observed times, increasing.

    time f8[n], event i8[n] (1 death, 0 censored).  Returns (t f8[m],
    n_at_risk i8[m], n_events i8[m], n_censored i8[m], surv f8[m]), surv being
    S just after t.
    """
    n = time.shape[0]
    order = np.argsort(time, kind="mergesort")
    t_out = np.empty(n, np.float64)
    r_out = np.empty(n, np.int64)
    d_out = np.empty(n, np.int64)
    c_out = np.empty(n, np.int64)
    s_out = np.empty(n, np.float64)
    at_risk = n
    s = 1.0
    m = 0
    i = 0
    while i < n:
        t = time[order[i]]
        d = 0
        c = 0
        j = i
        while j < n and time[order[j]] == t:
            if event[order[j]] != 0:
                d += 1
            else:
                c += 1
            j += 1
        if d > 0:
            s *= (at_risk - d) / at_risk
        t_out[m] = t
        r_out[m] = at_risk
        d_out[m] = d
        c_out[m] = c
        s_out[m] = s
        m += 1
        at_risk -= d + c
        i = j
    return t_out[:m].copy(), r_out[:m].copy(), d_out[:m].copy(), c_out[:m].copy(), s_out[:m].copy()


@njit(cache=True)
def _add_factors(expo, x, sign):
    # Trial division is enough: x <= n, and this runs at most a few times per call.
    p = 2
    while p * p <= x:
        while x % p == 0:
            expo[p] += sign
            x //= p
        p += 1
    if x > 1:
        expo[x] += sign


@njit(cache=True)
def _product_is_half(nums, dens, k, nmax):
    """True iff 2 * prod(nums[:k]) == prod(dens[:k]) exactly (all entries >= 1)."""
    expo = np.zeros(nmax + 3, np.int64)
    expo[2] += 1
    for i in range(k):
        _add_factors(expo, nums[i], 1)
        _add_factors(expo, dens[i], -1)
    for v in expo:
        if v != 0:
            return False
    return True


@njit(cache=True)
def km_median(time, event):
    """(median, reached): first t with S(t) <= 0.5, S evaluated exactly.

    (nan, False) if S never reaches 0.5, including n == 0.
    """
    n = time.shape[0]
    if n == 0:
        return np.nan, False
    order = np.argsort(time, kind="mergesort")
    nums = np.empty(n, np.int64)
    dens = np.empty(n, np.int64)
    k = 0
    at_risk = n
    s = 1.0
    i = 0
    while i < n:
        t = time[order[i]]
        d = 0
        j = i
        while j < n and time[order[j]] == t:
            if event[order[j]] != 0:
                d += 1
            j += 1
        if d > 0:
            nums[k] = at_risk - d
            dens[k] = at_risk
            k += 1
            s *= (at_risk - d) / at_risk
            # Bound on the relative error of s: two roundings per factor.
            tol = max(1e-12, 4.0 * k * _EPS)
            if s <= 0.5 * (1.0 - tol):
                return t, True
            if s < 0.5 * (1.0 + tol):
                if at_risk == d or _product_is_half(nums, dens, k, n):
                    return t, True
                # Not exactly 1/2 and closer than the float error bound: the
                # float product is the best available answer.
                if s <= 0.5:
                    return t, True
        at_risk -= j - i
        i = j
    return np.nan, False
