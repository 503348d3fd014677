"""Cox proportional hazards by Newton-Raphson on the Efron partial likelihood.

`cox_binary` is the seed analysis' model (one 0/1 covariate, treated vs
reference); it works on the table of distinct death times with the at-risk and
death counts per arm, so an iteration costs O(number of deaths).
`cox_fit` is the general small-p version on a design matrix.

`cox_binary_robust_se` (the Lin-Wei SE clustered, e.g. on matched pair, from
Efron score residuals) and `cox_pairs_stratified` (the model stratified by
pair, in closed form) are the seed analysis' pair-aware inference
(docs/matched-cohort.md).

With firth=True the log partial likelihood l(b) is replaced by Firth's
penalised l*(b) = l(b) + log|I(b)| / 2 (Heinze & Schemper 2001), I the observed
(Efron) information; its maximum is finite under separation.  As in coxphf, the
covariance is I(b*)^-1, the unpenalised information at the penalised estimate,
and the returned log-likelihood is the penalised one.
"""
import math

import numpy as np
from numba import njit

from .linalg import chol_inverse as _chol_inverse
from .linalg import chol_solve as _chol_solve

from .status import EMPTY_GROUP, NO_EVENTS, NOT_CONVERGED, OK, SEPARATION, SINGULAR, TOO_FEW, ZERO_VARIANCE

Z95 = 1.959963984540054

_STEP_TOL = 1e-10      # converged when every Newton step component is below this
_MAX_ITER = 100
_MAX_HALF = 60
_PIVOT_TOL = 1e-10     # Cholesky pivot below this times the largest diagonal: singular
# Standardised |coefficient| past which an unpenalised general fit is declared
# separated: a hazard ratio of e^50 per SD of a covariate is no finite-sample estimate.
_DIVERGED = 50.0


@njit(cache=True)
def wald(beta, se):
    """(ci_low, ci_high, p): exp(beta -+ Z95 se) and the two-sided Wald p."""
    if not (np.isfinite(beta) and np.isfinite(se)) or se <= 0.0:
        return np.nan, np.nan, np.nan
    return (math.exp(beta - Z95 * se), math.exp(beta + Z95 * se),
            math.erfc(abs(beta / se) / math.sqrt(2.0)))


# ---------------------------------------------------------------- one binary covariate

@njit(cache=True)
def _binary_table(time, event, x):
    """Per distinct death time: treated / reference at risk and dying."""
    n = time.shape[0]
    order = np.argsort(time, kind="mergesort")
    n1 = np.empty(n, np.float64)
    n0 = np.empty(n, np.float64)
    d1 = np.empty(n, np.int64)
    d0 = np.empty(n, np.int64)
    r1 = 0
    r0 = 0
    m = 0
    i = n - 1
    while i >= 0:
        t = time[order[i]]
        e1 = 0
        e0 = 0
        j = i
        while j >= 0 and time[order[j]] == t:
            k = order[j]
            if x[k] > 0.5:
                r1 += 1
                if event[k] != 0:
                    e1 += 1
            else:
                r0 += 1
                if event[k] != 0:
                    e0 += 1
            j -= 1
        if e1 + e0 > 0:
            n1[m] = r1
            n0[m] = r0
            d1[m] = e1
            d0[m] = e0
            m += 1
        i = j
    return n1[:m], n0[:m], d1[:m], d0[:m]


@njit(cache=True)
def _binary_eval(b, n1, n0, d1, d0):
    """Efron log-likelihood l(b), score, information I and I', I''."""
    ll = 0.0
    u = 0.0
    info = 0.0
    info1 = 0.0
    info2 = 0.0
    eb = math.exp(-abs(b))
    for j in range(n1.shape[0]):
        d = d1[j] + d0[j]
        ll += d1[j] * b
        u += d1[j]
        for k in range(d):
            f = k / d
            a1 = n1[j] - f * d1[j]
            a0 = n0[j] - f * d0[j]
            # p = a1 e^b / (a1 e^b + a0) and 1 - p, both without cancellation or overflow.
            if b >= 0.0:
                den = a1 + a0 * eb
                ll -= b + math.log(den)
                p = a1 / den
                pc = a0 * eb / den
            else:
                den = a1 * eb + a0
                ll -= math.log(den)
                p = a1 * eb / den
                pc = a0 / den
            u -= p
            q = p * pc
            info += q
            # d p / d b = q, so d q / d b = q (1 - 2p).
            h = pc - p
            info1 += q * h
            info2 += q * h * h - 2.0 * q * q
    return ll, u, info, info1, info2


@njit(cache=True)
def _binary_objective(b, n1, n0, d1, d0, firth):
    ll, u, info, info1, info2 = _binary_eval(b, n1, n0, d1, d0)
    if not firth:
        return ll, u, -info, info
    if info <= 0.0:
        return -np.inf, np.nan, np.nan, info
    g = u + 0.5 * info1 / info
    hess = -info + 0.5 * (info2 / info - (info1 / info) ** 2)
    return ll + 0.5 * math.log(info), g, hess, info


@njit(cache=True)
def cox_binary(time, event, x, firth):
    """Cox model with one 0/1 covariate, Efron ties.

    time f8[n] > 0, event i8[n] in {0, 1}, x f8[n] in {0, 1}, firth bool.
    Returns (beta, se, loglik, n_iter, status).  Unpenalised, a finite maximum
    exists only if some treated death occurs with a reference patient at risk
    and some reference death with a treated patient at risk; otherwise status
    SEPARATION and NaN.  Other statuses: EMPTY_GROUP (an arm has no patient),
    NO_EVENTS, SINGULAR (firth: no death time with both arms at risk, so the
    information is 0 everywhere), NOT_CONVERGED.
    """
    n = time.shape[0]
    nt = 0
    ne = 0
    for i in range(n):
        if x[i] > 0.5:
            nt += 1
        if event[i] != 0:
            ne += 1
    if nt == 0 or nt == n:
        return np.nan, np.nan, np.nan, 0, EMPTY_GROUP
    if ne == 0:
        return np.nan, np.nan, np.nan, 0, NO_EVENTS
    n1, n0, d1, d0 = _binary_table(time, event, x)
    treated_vs_ref = False
    ref_vs_treated = False
    both = False
    for j in range(n1.shape[0]):
        if d1[j] > 0 and n0[j] > 0:
            treated_vs_ref = True
        if d0[j] > 0 and n1[j] > 0:
            ref_vs_treated = True
        if n1[j] > 0 and n0[j] > 0:
            both = True
    if firth:
        if not both:
            return np.nan, np.nan, np.nan, 0, SINGULAR
    elif not (treated_vs_ref and ref_vs_treated):
        return np.nan, np.nan, np.nan, 0, SEPARATION

    b = 0.0
    obj, g, hess, info = _binary_objective(b, n1, n0, d1, d0, firth)
    it = 0
    converged = False
    while it < _MAX_ITER:
        it += 1
        # Newton on l*; where l* is not concave, the scoring step g / I still ascends.
        if hess < 0.0:
            step = -g / hess
        else:
            step = g / info
        if abs(step) < _STEP_TOL:
            converged = True
            break
        # A Newton step from far away can overshoot by a lot; the cap only shortens
        # early steps and never moves the fixed point.
        if step > 10.0:
            step = 10.0
        elif step < -10.0:
            step = -10.0
        accepted = False
        for _ in range(_MAX_HALF):
            bn = b + step
            objn, gn, hessn, infon = _binary_objective(bn, n1, n0, d1, d0, firth)
            slack = 1e-13 * (1.0 + abs(obj))
            # a step whose predicted gain g * step is below the rounding of l
            # cannot be judged by comparing l (100,000 pairs: l ~ -1.6e6 and the
            # last Newton step was rejected for ever): take it
            if objn >= obj - slack or abs(g * step) < slack:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            # No ascent along a step below rounding: already at the maximum.
            converged = abs(step) < 1e-6
            break
        b, obj, g, hess, info = bn, objn, gn, hessn, infon
    if not converged or not (info > 0.0):
        return np.nan, np.nan, np.nan, it, NOT_CONVERGED
    return b, 1.0 / math.sqrt(info), obj, it, OK


# ---------------------------------------------------------------- general small p

@njit(cache=True)
def _cholesky(a, tol_scale):
    """Lower Cholesky factor of a, ok=False when a pivot is <= _PIVOT_TOL * tol_scale."""
    p = a.shape[0]
    low = np.zeros((p, p))
    for j in range(p):
        s = a[j, j]
        for k in range(j):
            s -= low[j, k] * low[j, k]
        if not (s > _PIVOT_TOL * tol_scale):
            return low, False
        low[j, j] = math.sqrt(s)
        for i in range(j + 1, p):
            s = a[i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = s / low[j, j]
    return low, True


@njit(cache=True)
def _fit_eval(b, xs, ev, starts, firth):
    """Efron l(b), score, information and (firth) dI/db_r on rows sorted by time.

    starts[g]:starts[g+1] are the rows of the g-th distinct time, increasing.
    """
    n, p = xs.shape
    eta = xs @ b
    c = eta.max()
    w = np.exp(eta - c)     # the shift cancels in l(b)
    s0 = 0.0
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    s3 = np.zeros((p, p, p)) if firth else np.zeros((1, 1, 1))
    ll = 0.0
    u = np.zeros(p)
    info = np.zeros((p, p))
    dinfo = np.zeros((p, p, p)) if firth else np.zeros((1, 1, 1))
    e1 = np.zeros(p)
    e2 = np.zeros((p, p))
    e3 = np.zeros((p, p, p)) if firth else np.zeros((1, 1, 1))
    a = np.zeros(p)
    cm = np.zeros((p, p))
    for g in range(starts.shape[0] - 2, -1, -1):
        e0 = 0.0
        e1[:] = 0.0
        e2[:] = 0.0
        if firth:
            e3[:] = 0.0
        nd = 0
        for i in range(starts[g], starts[g + 1]):
            wi = w[i]
            s0 += wi
            for r in range(p):
                s1[r] += wi * xs[i, r]
                for s in range(p):
                    s2[r, s] += wi * xs[i, r] * xs[i, s]
                    if firth:
                        for t in range(p):
                            s3[r, s, t] += wi * xs[i, r] * xs[i, s] * xs[i, t]
            if ev[i] != 0:
                nd += 1
                ll += eta[i] - c
                e0 += wi
                for r in range(p):
                    u[r] += xs[i, r]
                    e1[r] += wi * xs[i, r]
                    for s in range(p):
                        e2[r, s] += wi * xs[i, r] * xs[i, s]
                        if firth:
                            for t in range(p):
                                e3[r, s, t] += wi * xs[i, r] * xs[i, s] * xs[i, t]
        for k in range(nd):
            f = k / nd
            bb = s0 - f * e0
            ll -= math.log(bb)
            for r in range(p):
                a[r] = (s1[r] - f * e1[r]) / bb
            for r in range(p):
                u[r] -= a[r]
                for s in range(p):
                    cm[r, s] = (s2[r, s] - f * e2[r, s]) / bb
                    info[r, s] += cm[r, s] - a[r] * a[s]
            if firth:
                # d/db_t of (C/B - A A'/B^2), with A, C already divided by B.
                for t in range(p):
                    for r in range(p):
                        for s in range(p):
                            dinfo[t, r, s] += ((s3[r, s, t] - f * e3[r, s, t]) / bb
                                               - cm[r, s] * a[t]
                                               - cm[r, t] * a[s] - a[r] * cm[s, t]
                                               + 2.0 * a[r] * a[s] * a[t])
    return ll, u, info, dinfo


@njit(cache=True)
def _fit_objective(b, xs, ev, starts, firth, scale):
    """Objective, its gradient, Cholesky factor of I, ok flag."""
    ll, u, info, dinfo = _fit_eval(b, xs, ev, starts, firth)
    low, ok = _cholesky(info, scale)
    if not ok:
        return -np.inf, u, low, False
    if not firth:
        return ll, u, low, True
    p = b.shape[0]
    inv = _chol_inverse(low)
    logdet = 0.0
    for r in range(p):
        logdet += 2.0 * math.log(low[r, r])
    g = u.copy()
    for t in range(p):
        tr = 0.0
        for r in range(p):
            for s in range(p):
                tr += inv[r, s] * dinfo[t, s, r]
        g[t] += 0.5 * tr
    return ll + 0.5 * logdet, g, low, True


@njit(cache=True)
def _firth_neg_hessian(b, xs, ev, starts, scale):
    """Minus the central-difference Jacobian of the penalised score, symmetrised."""
    p = b.shape[0]
    h = 1e-4
    neg_h = np.empty((p, p))
    for j in range(p):
        bp = b.copy()
        bp[j] += h
        _, gp, _, okp = _fit_objective(bp, xs, ev, starts, True, scale)
        bm = b.copy()
        bm[j] -= h
        _, gm, _, okm = _fit_objective(bm, xs, ev, starts, True, scale)
        if not (okp and okm):
            return neg_h, False
        for r in range(p):
            neg_h[r, j] = -(gp[r] - gm[r]) / (2.0 * h)
    for r in range(p):
        for j in range(r):
            m = 0.5 * (neg_h[r, j] + neg_h[j, r])
            neg_h[r, j] = m
            neg_h[j, r] = m
    return neg_h, True


@njit(cache=True)
def cox_fit(time, event, X, firth):
    """General small-p Efron Cox model.  X f8[n, p].

    Returns (beta f8[p], cov f8[p, p], loglik, n_iter, status).  Status
    NO_EVENTS, SINGULAR (a constant or collinear column, or no information at
    the start), SEPARATION (unpenalised and the coefficients run off to
    infinity: monotone likelihood), NOT_CONVERGED; beta and cov are NaN then.
    Columns are standardised internally (the estimate is equivariant).
    """
    n, p = X.shape
    nan_beta = np.full(p, np.nan)
    nan_cov = np.full((p, p), np.nan)
    ne = 0
    for i in range(n):
        if event[i] != 0:
            ne += 1
    if ne == 0:
        return nan_beta, nan_cov, np.nan, 0, NO_EVENTS
    order = np.argsort(time, kind="mergesort")
    mean = np.zeros(p)
    sd = np.zeros(p)
    for r in range(p):
        for i in range(n):
            mean[r] += X[i, r]
        mean[r] /= n
        constant = True
        for i in range(n):
            sd[r] += (X[i, r] - mean[r]) ** 2
            if X[i, r] != X[0, r]:
                constant = False
        sd[r] = math.sqrt(sd[r] / n)
        if constant or not (sd[r] > 0.0):
            return nan_beta, nan_cov, np.nan, 0, SINGULAR
    xs = np.empty((n, p))
    ev = np.empty(n, np.int64)
    starts = np.empty(n + 1, np.int64)
    ng = 0
    for i in range(n):
        k = order[i]
        for r in range(p):
            xs[i, r] = (X[k, r] - mean[r]) / sd[r]
        ev[i] = event[k]
        if i == 0 or time[k] != time[order[i - 1]]:
            starts[ng] = i
            ng += 1
    starts[ng] = n
    starts = starts[:ng + 1]

    b = np.zeros(p)
    _, _, info0, _ = _fit_eval(b, xs, ev, starts, False)
    scale = 0.0
    for r in range(p):
        scale = max(scale, info0[r, r])
    if not (scale > 0.0):
        return nan_beta, nan_cov, np.nan, 0, SINGULAR
    obj, g, low, ok = _fit_objective(b, xs, ev, starts, firth, scale)
    if not ok:
        return nan_beta, nan_cov, np.nan, 0, SINGULAR
    it = 0
    status = NOT_CONVERGED
    while it < _MAX_ITER:
        it += 1
        step = _chol_solve(low, g)
        if firth:
            # The penalty's curvature can be as large as I itself in small or
            # separated samples, and the scoring step g / I then zigzags; Newton
            # on l* with a difference Hessian of the analytic gradient converges
            # almost quadratically.  The fixed point is g = 0 either way.
            neg_h, ok_h = _firth_neg_hessian(b, xs, ev, starts, scale)
            if ok_h:
                low_h, ok_h = _cholesky(neg_h, scale)
                if ok_h:
                    step = _chol_solve(low_h, g)
        big = 0.0
        for r in range(p):
            big = max(big, abs(step[r]))
        if big < _STEP_TOL:
            status = OK
            break
        if big > 10.0:
            step *= 10.0 / big
            big = 10.0
        accepted = False
        for _ in range(_MAX_HALF):
            bn = b + step
            objn, gn, lown, okn = _fit_objective(bn, xs, ev, starts, firth, scale)
            slack = 1e-13 * (1.0 + abs(obj))
            gain = 0.0
            for r in range(p):
                gain += g[r] * step[r]
            # as in cox_binary: a gain below the rounding of l is taken, not judged
            if okn and (objn >= obj - slack or abs(gain) < slack):
                accepted = True
                break
            step *= 0.5
            big *= 0.5
        if not accepted:
            if big < 1e-6:
                status = OK
            break
        b, obj, g, low = bn, objn, gn, lown
        if not firth:
            bmax = 0.0
            for r in range(p):
                bmax = max(bmax, abs(b[r]))
            if bmax > _DIVERGED:
                status = SEPARATION
                break
    if status != OK:
        return nan_beta, nan_cov, np.nan, it, status
    cov_s = _chol_inverse(low)
    beta = np.empty(p)
    cov = np.empty((p, p))
    for r in range(p):
        beta[r] = b[r] / sd[r]
        for s in range(p):
            cov[r, s] = cov_s[r, s] / (sd[r] * sd[s])
    if firth:
        # Report l* with |I| in the original parametrisation: I = D I_s D, D = diag(sd).
        for r in range(p):
            obj += math.log(sd[r])
    return beta, cov, obj, it, OK


# ---------------------------------------------------------------- pair-aware inference

@njit(cache=True)
def _residual_sums_sorted(time, event, x, cluster, n_clusters, b):
    """Efron score residuals of rows sorted by time, summed by cluster (f8[n_clusters])."""
    n = time.shape[0]
    sums = np.zeros(n_clusters)
    r1 = 0.0   # at risk, treated / reference
    r0 = 0.0
    for i in range(n):
        if x[i] > 0.5:
            r1 += 1.0
        else:
            r0 += 1.0
    eb = math.exp(-abs(b))
    c1 = 0.0   # h1 / h0 below summed over the earlier death times
    c0 = 0.0
    i = 0
    while i < n:
        t = time[i]
        j = i
        d1 = 0
        d0 = 0
        g1 = 0.0
        g0 = 0.0
        while j < n and time[j] == t:
            if x[j] > 0.5:
                g1 += 1.0
                if event[j] != 0:
                    d1 += 1
            else:
                g0 += 1.0
                if event[j] != 0:
                    d0 += 1
            j += 1
        d = d1 + d0
        h1 = 0.0    # sum_k phi (x - p_k) / D_k for a patient alive at t, treated / reference
        h0 = 0.0
        f1 = 0.0    # the same with the weights (1 - k/d) of a patient dying at t
        f0 = 0.0
        pbar = 0.0  # mean_k p_k
        for kk in range(d):
            f = kk / d
            a1 = r1 - f * d1
            a0 = r0 - f * d0
            # p = a1 e^b / D; w1 = e^b / D, w0 = 1 / D, D = a1 e^b + a0, without
            # overflow (as _binary_eval)
            if b >= 0.0:
                inv = 1.0 / (a1 + a0 * eb)
                p = a1 * inv
                w1 = inv
                w0 = eb * inv
            else:
                inv = 1.0 / (a1 * eb + a0)
                p = a1 * eb * inv
                w1 = eb * inv
                w0 = inv
            pbar += p
            h1 += w1 * (1.0 - p)
            h0 -= w0 * p
            f1 += (1.0 - f) * w1 * (1.0 - p)
            f0 -= (1.0 - f) * w0 * p
        if d > 0:
            pbar /= d
        for q in range(i, j):
            if x[q] > 0.5:
                if event[q] != 0:
                    sums[cluster[q]] += -c1 + (1.0 - pbar) - f1
                else:
                    sums[cluster[q]] -= c1 + h1
            else:
                if event[q] != 0:
                    sums[cluster[q]] += -c0 - pbar - f0
                else:
                    sums[cluster[q]] -= c0 + h0
        c1 += h1
        c0 += h0
        r1 -= g1
        r0 -= g0
        i = j
    return sums


@njit(cache=True)
def cox_binary_score_residuals(time, event, x, b):
    """Efron score residuals r_i of the one-covariate model at b (rows in any order).

    r_i = int (x_i - xbar(t)) dM_i(t) with Efron's split of each tied death time:
    at a time with d deaths, k = 0..d-1 are d pseudo-deaths with the risk set's
    weights, the dying ones' reduced to (1 - k/d); p_k is the treated share of
    the k-th, D_k its denominator.  Then, phi_i = exp(b x_i),
        alive at the time:  r_i -= phi_i sum_k (x_i - p_k) / D_k
        dying at it:        r_i += x_i - mean_k p_k - phi_i sum_k (1 - k/d) (x_i - p_k) / D_k
    (Therneau & Grambsch 2000, sec. 7.2; R survival's coxph score / dfbeta
    residuals with ties="efron").  They sum to the Efron score U(b): 0 at the
    maximum.  Rows with equal times: a patient censored at a death time is at
    risk at it.  time f8[n], event i8[n], x f8[n] in {0, 1}; returns f8[n].
    """
    n = time.shape[0]
    order = np.argsort(time, kind="mergesort")
    rs = _residual_sums_sorted(time[order], event[order], x[order], np.arange(n), n, b)
    r = np.empty(n)
    r[order] = rs
    return r


@njit(cache=True)
def cox_binary_robust_se(time, event, x, cluster, n_clusters, b, se):
    """Lin & Wei's (1989) robust SE of the one-covariate Efron fit (b, se), clustered.

    cluster i8[n] in 0..n_clusters-1.  With V = se^2 the model variance and
    R_g the sum of the score residuals (cox_binary_score_residuals) of cluster
    g: var = V^2 sum_g R_g^2, the sandwich V (sum_g R_g R_g') V of lifelines'
    `cluster_col` and R's `cluster()` (no small-sample factor).  Rows in any
    order; sorted by time (as the seed analysis has them) they are not sorted
    again.  Returns (se_robust, status): TOO_FEW with fewer than 2 clusters
    (the R_g sum to U(b) = 0: one cluster has no variance to estimate),
    ZERO_VARIANCE when the sum is not > 0.
    """
    if n_clusters < 2:
        return np.nan, TOO_FEW
    n = time.shape[0]
    ordered = True
    for i in range(1, n):
        if time[i] < time[i - 1]:
            ordered = False
            break
    if ordered:
        big = _residual_sums_sorted(time, event, x, cluster, n_clusters, b)
    else:
        order = np.argsort(time, kind="mergesort")
        big = _residual_sums_sorted(time[order], event[order], x[order], cluster[order], n_clusters, b)
    s = 0.0
    for g in range(n_clusters):
        s += big[g] * big[g]
    v = se * se
    var = v * v * s
    if not (var > 0.0) or not np.isfinite(var):
        return np.nan, ZERO_VARIANCE
    return math.sqrt(var), OK


@njit(cache=True)
def cox_pairs_stratified(t1, e1, t0, e0):
    """Cox model of treated vs reference stratified by pair (Efron ties), in closed form.

    Pair g: treated (t1[g], e1[g]), reference (t0[g], e0[g]), events 0/1.  Each
    pair is a stratum with its own baseline hazard, so its only information is
    which patient dies first while the other is still at risk (at risk at t:
    time >= t).  With A pairs where the treated does, B where the reference
    does and C where both die at the same time (Efron: l_g = b - 2 log(1 + e^b)
    + log 2), the partial likelihood is
        l(b) = (A + C) b - (A + B + 2C) log(1 + e^b) + const,
    maximal at b = log((A + C) / (B + C)) with information
    (A + C)(B + C) / (A + B + 2C): var = 1 / (A + C) + 1 / (B + C) (Holt &
    Prentice 1974).  Returns (beta, se, n_informative = A + B + C, status):
    NO_EVENTS when no pair is informative (no death, or every death after the
    pair's other patient left), SEPARATION when A + C or B + C is 0 (the
    maximum is at -+ infinity).  No iteration, so never NOT_CONVERGED.
    """
    a = 0
    bb = 0
    c = 0
    for g in range(t1.shape[0]):
        if e1[g] != 0 and e0[g] != 0 and t1[g] == t0[g]:
            c += 1
        elif e1[g] != 0 and t0[g] >= t1[g]:
            a += 1
        elif e0[g] != 0 and t1[g] >= t0[g]:
            bb += 1
    n_inf = a + bb + c
    if n_inf == 0:
        return np.nan, np.nan, n_inf, NO_EVENTS
    if a + c == 0 or bb + c == 0:
        return np.nan, np.nan, n_inf, SEPARATION
    beta = math.log((a + c) / (bb + c))
    se = math.sqrt(1.0 / (a + c) + 1.0 / (bb + c))
    return beta, se, n_inf, OK
