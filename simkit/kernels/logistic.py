"""Logistic regression by Newton-Raphson: maximum likelihood or Firth's
penalised likelihood (Jeffreys prior), with Wald standard errors."""
import math

import numpy as np
from numba import njit

from .linalg import chol_inverse as _chol_inverse
from .linalg import chol_solve as _chol_solve

from .ols import householder_qr
from .status import (CONSTANT, EMPTY_GROUP, NOT_CONVERGED, OK, SEPARATION,
                     SINGULAR, TOO_FEW)

MAXITER = 100
MAX_HALVINGS = 60
STEP_TOL = 1e-10       # converged when every step is below STEP_TOL * (1 + |beta|)
FIRTH_MAXSTEP = 5.0    # logistf's cap on a Newton step
DIVERGED_ETA = 20.0    # |linear predictor| beyond which a non-converged fit is separated


@njit(cache=True)
def _cholesky(A, L):
    """L L' = A for a symmetric A; False unless A is numerically positive definite."""
    p = A.shape[0]
    for j in range(p):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (s > 1e-14 * A[j, j]) or not (A[j, j] > 0.0):
            return False
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, p):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / d
        for i in range(j):
            L[i, j] = 0.0
    return True


@njit(cache=True)
def _evaluate(X, y, beta, prob, w):
    """One pass: fills prob = expit(X beta) and w = prob (1 - prob); returns the
    log-likelihood (one exp and one log1p per row, stable for any eta)."""
    n, p = X.shape
    ll = 0.0
    for i in range(n):
        eta = 0.0
        for k in range(p):
            eta += X[i, k] * beta[k]
        ex = math.exp(-abs(eta))
        if eta >= 0.0:
            pr = 1.0 / (1.0 + ex)
            ll += (y[i] - 1.0) * eta - math.log1p(ex)
        else:
            pr = ex / (1.0 + ex)
            ll += y[i] * eta - math.log1p(ex)
        prob[i] = pr
        w[i] = pr * (1.0 - pr)
    return ll


@njit(cache=True)
def _fill_information(X, w, A):
    """A = X' W X."""
    n, p = X.shape
    for a in range(p):
        for b in range(a + 1):
            s = 0.0
            for i in range(n):
                s += w[i] * X[i, a] * X[i, b]
            A[a, b] = s
            A[b, a] = s


@njit(cache=True)
def _log_det(L):
    ld = 0.0
    for j in range(L.shape[0]):
        ld += 2.0 * math.log(L[j, j])
    return ld


@njit(cache=True)
def _firth_score_hessian(X, y, prob, w, inv, score, H):
    """Gradient and Hessian of the penalised log-likelihood
    l(b) + 0.5 log det I(b), I = X' W X, given I^-1 at b.

    With htil_i = x_i' I^-1 x_i, a_i = w_i (1 - 2 p_i), I_k = X' diag(a x_k) X:
      d/db_k   = sum_i x_ik (y_i - p_i + w_i htil_i (1/2 - p_i))
      d2/db_kl = -I_kl + 1/2 [sum_i htil_i w_i (1 - 6 w_i) x_ik x_il
                              - tr(I^-1 I_k I^-1 I_l)]"""
    n, p = X.shape
    htil = np.empty(n)
    for i in range(n):
        q = 0.0
        for a in range(p):
            t = 0.0
            for c in range(p):
                t += inv[a, c] * X[i, c]
            q += X[i, a] * t
        htil[i] = q
    for k in range(p):
        score[k] = 0.0
        for l in range(p):
            H[k, l] = 0.0
    for i in range(n):
        r = y[i] - prob[i] + w[i] * htil[i] * (0.5 - prob[i])
        c2 = 0.5 * htil[i] * w[i] * (1.0 - 6.0 * w[i]) - w[i]
        for k in range(p):
            score[k] += X[i, k] * r
            for l in range(p):
                H[k, l] += c2 * X[i, k] * X[i, l]
    # B_k = I^-1 I_k, then H -= 1/2 tr(B_k B_l)
    B = np.zeros((p, p, p))
    Ik = np.empty((p, p))
    for k in range(p):
        for a in range(p):
            for b in range(a + 1):
                s = 0.0
                for i in range(n):
                    s += w[i] * (1.0 - 2.0 * prob[i]) * X[i, k] * X[i, a] * X[i, b]
                Ik[a, b] = s
                Ik[b, a] = s
        for a in range(p):
            for b in range(p):
                s = 0.0
                for c in range(p):
                    s += inv[a, c] * Ik[c, b]
                B[k, a, b] = s
    for k in range(p):
        for l in range(k + 1):
            s = 0.0
            for a in range(p):
                for b in range(p):
                    s += B[k, a, b] * B[l, b, a]
            H[k, l] -= 0.5 * s
            if l != k:
                H[l, k] -= 0.5 * s


@njit(cache=True)
def _max_abs_eta(X, beta):
    n, p = X.shape
    m = 0.0
    for i in range(n):
        eta = 0.0
        for k in range(p):
            eta += X[i, k] * beta[k]
        m = max(m, abs(eta))
    return m


@njit(cache=True)
def _constant_column(X, j):
    n = X.shape[0]
    for i in range(1, n):
        if X[i, j] != X[0, j]:
            return False
    return True


@njit(cache=True)
def _separated_exact(X, y):
    """Exact test for (quasi-)complete separation when the design is one
    covariate with or without an intercept; returns -1 when it does not apply.

    With an intercept and covariate x, a separating direction is a threshold c
    with x <= c for one class and x >= c for the other, i.e. the class ranges of
    x share at most one point.  Without an intercept (x alone), it is a sign of
    b with b x_i (2 y_i - 1) >= 0 for every i."""
    n, p = X.shape
    if p == 2:
        if _constant_column(X, 0):
            j = 1
        elif _constant_column(X, 1):
            j = 0
        else:
            return -1
        lo0 = np.inf
        hi0 = -np.inf
        lo1 = np.inf
        hi1 = -np.inf
        for i in range(n):
            v = X[i, j]
            if y[i] > 0.5:
                lo1 = min(lo1, v)
                hi1 = max(hi1, v)
            else:
                lo0 = min(lo0, v)
                hi0 = max(hi0, v)
        return 1 if (hi0 <= lo1 or hi1 <= lo0) else 0
    if p == 1:
        nonneg = True
        nonpos = True
        for i in range(n):
            z = X[i, 0] * (2.0 * y[i] - 1.0)
            if z < 0.0:
                nonneg = False
            if z > 0.0:
                nonpos = False
        return 1 if (nonneg or nonpos) else 0
    return -1


@njit(cache=True)
def logistic_fit(X, y, firth):
    """X f8[n, p] (caller includes the intercept column), y f8[n] in {0, 1},
    firth bool -> (beta f8[p], se f8[p], n_iter, status).

    Maximum likelihood (firth False) by Newton-Raphson with step halving, se
    from the inverse information at the estimate.  NaN + status when there is
    no finite estimate: TOO_FEW (n == 0 or n < p), EMPTY_GROUP (y has one
    class; plain fit only), CONSTANT (two or more constant columns, e.g. an
    intercept and a constant covariate), SINGULAR (rank-deficient X),
    SEPARATION (complete or quasi-complete; decided exactly for one covariate
    with or without an intercept; otherwise by Newton diverging: no convergence
    in MAXITER iterations with some |linear predictor| > DIVERGED_ETA),
    NOT_CONVERGED.

    firth True: the maximum of Firth's penalised likelihood l(b) + 0.5 log det
    I(b) (finite under separation and with a single class), by Newton with the
    exact Hessian of the penalised likelihood where it is negative definite and
    logistf's Fisher-scoring step (I^-1 times the modified score) elsewhere;
    steps capped at 5 and halved until the penalised likelihood does not fall.
    se = sqrt(diag(I(b)^-1)) at the penalised estimate (logistf's Wald se).
    """
    n, p = X.shape
    beta = np.full(p, np.nan)
    se = np.full(p, np.nan)
    if n == 0 or n < p:
        return beta, se, 0, TOO_FEW
    n1 = 0
    for i in range(n):
        if y[i] > 0.5:
            n1 += 1
    if not firth and (n1 == 0 or n1 == n):
        return beta, se, 0, EMPTY_GROUP
    nconst = 0
    for j in range(p):
        if _constant_column(X, j):
            nconst += 1
    if nconst >= 2:
        return beta, se, 0, CONSTANT
    _, _, full = householder_qr(X)
    if not full:
        return beta, se, 0, SINGULAR
    if not firth and _separated_exact(X, y) == 1:
        return beta, se, 0, SEPARATION

    b = np.zeros(p)
    nb = np.empty(p)
    prob = np.empty(n)
    w = np.empty(n)
    prob2 = np.empty(n)
    w2 = np.empty(n)
    A = np.empty((p, p))
    L = np.zeros((p, p))
    A2 = np.empty((p, p))
    L2 = np.zeros((p, p))
    score = np.empty(p)
    H = np.empty((p, p))
    negH = np.empty((p, p))
    LH = np.zeros((p, p))
    obj = _evaluate(X, y, b, prob, w)
    _fill_information(X, w, A)
    if not _cholesky(A, L):
        return beta, se, 0, SINGULAR
    if firth:
        obj += 0.5 * _log_det(L)
    converged = False
    it = 0
    while it < MAXITER:
        it += 1
        # here prob, w, A = I(b) and its Cholesky factor L are those of b
        if firth:
            inv = _chol_inverse(L)
            _firth_score_hessian(X, y, prob, w, inv, score, H)
            for k in range(p):
                for l in range(p):
                    negH[k, l] = -H[k, l]
            if _cholesky(negH, LH):
                step = _chol_solve(LH, score)
            else:
                step = _chol_solve(L, score)
            mx = 0.0
            for k in range(p):
                mx = max(mx, abs(step[k]))
            if mx > FIRTH_MAXSTEP:
                for k in range(p):
                    step[k] *= FIRTH_MAXSTEP / mx
        else:
            for k in range(p):
                score[k] = 0.0
            for i in range(n):
                r = y[i] - prob[i]
                for k in range(p):
                    score[k] += X[i, k] * r
            step = _chol_solve(L, score)
        bmax = 0.0
        for k in range(p):
            bmax = max(bmax, abs(b[k]))
        small = True
        for k in range(p):
            if abs(step[k]) > STEP_TOL * (1.0 + bmax):
                small = False
        # step halving: accept the first trial that does not lower the objective
        # (up to rounding, which matters only at the optimum)
        t = 1.0
        accepted = False
        nobj = obj
        for _ in range(MAX_HALVINGS):
            for k in range(p):
                nb[k] = b[k] + t * step[k]
            nobj = _evaluate(X, y, nb, prob2, w2)
            _fill_information(X, w2, A2)
            pd = _cholesky(A2, L2)
            if firth:
                nobj = nobj + 0.5 * _log_det(L2) if pd else -np.inf
            # (X has full rank, so I is singular only where the weights vanish)
            if pd and nobj >= obj - 1e-13 * (1.0 + abs(obj)):
                accepted = True
                break
            t *= 0.5
        if accepted:
            b, nb = nb, b
            prob, prob2 = prob2, prob
            w, w2 = w2, w
            A, A2 = A2, A
            L, L2 = L2, L
            obj = nobj
        if small:
            # a negligible full Newton step: the score is zero up to rounding
            converged = True
            break
        if not accepted:
            break
    if not converged:
        if not firth and _max_abs_eta(X, b) > DIVERGED_ETA:
            return beta, se, it, SEPARATION
        return beta, se, it, NOT_CONVERGED
    # prob, w, A, L are those of the final b
    inv = _chol_inverse(L)
    for k in range(p):
        beta[k] = b[k]
        se[k] = math.sqrt(inv[k, k])
    return beta, se, it, OK
