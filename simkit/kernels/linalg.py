"""Small dense linear algebra on a Cholesky factor (lower triangular L, A = L L^T),
shared by the Cox and logistic Newton iterations."""
import numpy as np
from numba import njit


@njit(cache=True)
def chol_solve(L, b):
    """x with L L^T x = b (forward then back substitution)."""
    p = L.shape[0]
    z = np.empty(p)
    for i in range(p):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * z[k]
        z[i] = s / L[i, i]
    x = np.empty(p)
    for i in range(p - 1, -1, -1):
        s = z[i]
        for k in range(i + 1, p):
            s -= L[k, i] * x[k]
        x[i] = s / L[i, i]
    return x


@njit(cache=True)
def chol_inverse(L):
    """(L L^T)^-1, column by column."""
    p = L.shape[0]
    inv = np.empty((p, p))
    e = np.zeros(p)
    for j in range(p):
        e[:] = 0.0
        e[j] = 1.0
        col = chol_solve(L, e)
        for i in range(p):
            inv[i, j] = col[i]
    return inv
