"""Ordinary least squares by Householder QR, with t-test p-values."""
import math

import numpy as np
from numba import njit

from .distributions import t_sf
from .status import OK, SINGULAR, TOO_FEW, ZERO_VARIANCE

# column j counts as a linear combination of the columns before it when the
# part of it orthogonal to them is below this fraction of its norm
RANK_TOL = 1e-10
# an exact fit: residual norm below this fraction of the norm of y
EXACT_FIT_TOL = 1e-10


@njit(cache=True)
def householder_qr(X):
    """QR of X f8[n, p] (n >= p) -> (R f8[p, p], V f8[n, p] Householder vectors,
    full_rank).  full_rank is False when some column's component orthogonal to
    the earlier columns is below RANK_TOL of its own norm (scale-free per
    column, so an intercept next to a large covariate is judged fairly)."""
    n, p = X.shape
    A = X.copy()
    V = np.zeros((n, p))
    R = np.zeros((p, p))
    full = True
    for j in range(p):
        cn = 0.0
        for i in range(n):
            cn += X[i, j] * X[i, j]
        cn = math.sqrt(cn)
        s = 0.0
        for i in range(j, n):
            s += A[i, j] * A[i, j]
        s = math.sqrt(s)
        if not (s > RANK_TOL * cn) or cn == 0.0:
            full = False
            break
        # reflect A[j:, j] onto -sign(A[j, j]) * s e_j (no cancellation)
        alpha = -s if A[j, j] >= 0.0 else s
        vn = 0.0
        for i in range(j, n):
            V[i, j] = A[i, j]
        V[j, j] -= alpha
        for i in range(j, n):
            vn += V[i, j] * V[i, j]
        vn = math.sqrt(vn)
        for i in range(j, n):
            V[i, j] /= vn
        for k in range(j, p):
            dot = 0.0
            for i in range(j, n):
                dot += V[i, j] * A[i, k]
            for i in range(j, n):
                A[i, k] -= 2.0 * dot * V[i, j]
        for k in range(j, p):
            R[j, k] = A[j, k]
    return R, V, full


@njit(cache=True)
def _apply_qt(V, y):
    """Q' y from the Householder vectors."""
    n, p = V.shape
    z = y.copy()
    for j in range(p):
        dot = 0.0
        for i in range(j, n):
            dot += V[i, j] * z[i]
        for i in range(j, n):
            z[i] -= 2.0 * dot * V[i, j]
    return z


@njit(cache=True)
def upper_inverse(R):
    """Inverse of an upper-triangular R with a non-zero diagonal."""
    p = R.shape[0]
    Ri = np.zeros((p, p))
    for j in range(p):
        Ri[j, j] = 1.0 / R[j, j]
        for i in range(j - 1, -1, -1):
            s = 0.0
            for k in range(i + 1, j + 1):
                s += R[i, k] * Ri[k, j]
            Ri[i, j] = -s / R[i, i]
    return Ri


@njit(cache=True)
def ols_fit(X, y):
    """X f8[n, p] (with the intercept column), y f8[n] ->
    (beta f8[p], se f8[p], p_values f8[p], df_resid, status).

    NaN everything + TOO_FEW when n <= 3 or n <= p; NaN + SINGULAR when the
    design is rank-deficient.  On an exact fit (residual norm <= EXACT_FIT_TOL
    * |y|) beta is kept and se, p are NaN with status ZERO_VARIANCE.
    p-values two-sided from Student t with df_resid = n - p.
    """
    n, p = X.shape
    beta = np.full(p, np.nan)
    se = np.full(p, np.nan)
    pv = np.full(p, np.nan)
    dfr = n - p
    if n <= 3 or n <= p:
        return beta, se, pv, dfr, TOO_FEW
    R, V, full = householder_qr(X)
    if not full:
        return beta, se, pv, dfr, SINGULAR
    z = _apply_qt(V, y)
    for i in range(p - 1, -1, -1):
        s = z[i]
        for k in range(i + 1, p):
            s -= R[i, k] * beta[k]
        beta[i] = s / R[i, i]
    # residuals from the data, not from Q'y, so an exact fit shows as ~0
    rss = 0.0
    yy = 0.0
    for i in range(n):
        f = 0.0
        for k in range(p):
            f += X[i, k] * beta[k]
        r = y[i] - f
        rss += r * r
        yy += y[i] * y[i]
    if math.sqrt(rss) <= EXACT_FIT_TOL * math.sqrt(yy):
        return beta, se, pv, dfr, ZERO_VARIANCE
    s2 = rss / dfr
    Ri = upper_inverse(R)
    for i in range(p):
        v = 0.0
        for k in range(i, p):
            v += Ri[i, k] * Ri[i, k]
        se[i] = math.sqrt(s2 * v)
        pv[i] = 2.0 * t_sf(abs(beta[i] / se[i]), float(dfr))
    return beta, se, pv, dfr, OK
