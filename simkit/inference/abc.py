"""Approximate Bayesian computation on arrays: the generic part of `simkit infer`.

Summaries are compared with observed *intervals* (a number printed at some
precision stands for an interval, docs/paper-file.md): the gap of a simulated
summary s to an interval [a, b] is 0 inside it and the distance to the nearer end
outside.  Each summary's gap is divided by its scale (by default the normalised
median absolute deviation of the summary over the prior predictive simulations,
so that no number dominates by its unit), and the distance is the Euclidean norm
of the scaled gaps.

- `rejection`: accept the simulations whose distance is within the q-quantile
  (the baseline; Pritchard et al. 1999).
- `regression_adjust`: local-linear regression adjustment (Beaumont, Zhang &
  Balding 2002): within the accepted set, with Epanechnikov weights
  1 - (d / eps)^2, regress each (transformed) parameter on the scaled signed gaps
  and move every accepted parameter to where its summaries would be inside the
  observed intervals; the transforms (logit of a bounded parameter) keep the
  adjusted values inside the prior's support.  The target is the observed interval
  clipped into the range of the accepted summaries (`reachable_target`): where the
  paper's number lies beyond every accepted world, the linear fit is not
  extrapolated past them (an observed point far outside the cloud otherwise drags
  the adjusted posterior to the prior's bounds).
- `semiauto`: semi-automatic summaries (Fearnhead & Prangle 2012): the distance on the
  linear predictions of each parameter from the scaled summaries, fitted on the reference
  table, instead of on the summaries themselves: a summary then weighs as much as it tells
  about the parameters, and a nuisance number the paper's value sits far in the tail of (a
  match diagnostic) no longer decides which worlds are accepted.
- `unreachable`: evidence numbers whose observed interval lies outside the central
  99.8% of the prior predictive: no world of the prior produces them, so they cannot
  be fitted (they only add the same large gap to every distance) and are reported
  as misfit instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAD_NORMAL = 1.482602218505602     # 1 / Phi^-1(3/4): a normal's MAD times this is its SD


def robust_scale(x: np.ndarray) -> float:
    """The normalised MAD of finite x; the IQR / 1.349 or the SD when the MAD is 0 (a summary with
    many ties, as counts near a bound); 1 if x does not vary."""
    x = x[np.isfinite(x)]
    if x.size < 2:
        return 1.0
    mad = MAD_NORMAL * float(np.median(np.abs(x - np.median(x))))
    if mad > 0:
        return mad
    q = np.quantile(x, [0.25, 0.75])
    if q[1] > q[0]:
        return float((q[1] - q[0]) / 1.349)
    sd = float(np.std(x))
    return sd if sd > 0 else 1.0


def gaps(s: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Signed gaps of summaries s (n, m) to the intervals [low, high] (m,): 0 inside, s - high
    above, s - low below (NaN stays NaN)."""
    g = np.where(s > high, s - high, np.where(s < low, s - low, 0.0))
    return np.where(np.isnan(s), np.nan, g)


def distances(s, low, high, scale) -> np.ndarray:
    """Euclidean norm of the scaled gaps; inf for a row with a missing summary."""
    g = gaps(s, low, high) / scale
    d = np.sqrt(np.sum(g * g, axis=1))
    return np.where(np.isfinite(d), d, np.inf)


def unreachable(s: np.ndarray, low, high, tail: float = 0.001) -> np.ndarray:
    """Columns whose observed interval misses the central 1 - 2 tail of the simulated summaries."""
    q = np.nanquantile(s, [tail, 1 - tail], axis=0)
    return (high < q[0]) | (low > q[1])


def rejection(d: np.ndarray, quantile: float, min_accept: int = 10):
    """(accepted indices, eps): the simulations with d <= the `quantile` quantile of the finite
    distances (at least min_accept of them)."""
    ok = np.isfinite(d)
    n = int(ok.sum())
    if n == 0:
        raise ValueError("no simulation has every summary")
    k = min(n, max(min_accept, int(math.ceil(quantile * n))))
    order = np.argsort(np.where(ok, d, np.inf), kind="stable")[:k]
    eps = float(d[order[-1]])
    return np.sort(order), eps


def epanechnikov(d: np.ndarray, eps: float) -> np.ndarray:
    if eps <= 0:
        return np.ones_like(d)
    w = 1.0 - (d / (eps * (1 + 1e-9))) ** 2
    return np.clip(w, 0.0, None)


def regression_adjust(z: np.ndarray, g: np.ndarray, w: np.ndarray, ridge: float = 1e-8) -> np.ndarray:
    """Beaumont et al.'s local-linear adjustment: z (n, p) transformed parameters of the accepted,
    g (n, m) their scaled signed gaps to the observed intervals, w (n,) kernel weights.  Returns
    z - g @ beta with beta the weighted least-squares slopes of z on g (with an intercept)."""
    n, m = g.shape
    X = np.column_stack([np.ones(n), g])
    sw = np.sqrt(w)[:, None]
    A = X * sw
    AtA = A.T @ A
    AtA[np.diag_indices_from(AtA)] += ridge * (1.0 + np.diag(AtA))
    beta = np.linalg.solve(AtA, A.T @ (z * sw))
    return z - g @ beta[1:]


def reachable_target(s_acc: np.ndarray, low, high) -> tuple[np.ndarray, np.ndarray]:
    """The observed intervals clipped into the range the accepted summaries span (per column): the
    point the regression adjustment moves the accepted worlds to is never beyond every accepted world,
    so a number no world reaches does not extrapolate the linear fit."""
    a = np.nanmin(s_acc, axis=0)
    b = np.nanmax(s_acc, axis=0)
    return np.clip(low, a, b), np.clip(high, a, b)


@dataclass(frozen=True)
class Projection:
    """Fearnhead & Prangle's fitted projection: summaries -> linear predictions of the parameters."""
    centre: np.ndarray      # (m,) the summaries' medians on the fitting table
    scale: np.ndarray       # (m,) the summaries' scales
    beta: np.ndarray        # (m + 1, p) least-squares coefficients
    pscale: np.ndarray      # (p,) each projection's robust scale on the fitting table
    p_obs: np.ndarray       # (p,) the observed point's projection

    def __call__(self, s: np.ndarray) -> np.ndarray:
        ok = np.all(np.isfinite(s), axis=1)
        X = np.column_stack([np.ones(s.shape[0]), (s - self.centre) / self.scale])
        return np.where(ok[:, None], X @ self.beta, np.nan)

    def distances(self, s: np.ndarray) -> np.ndarray:
        return distances(self(s), self.p_obs, self.p_obs, self.pscale)


def fit_projection(s: np.ndarray, low, high, scale, z: np.ndarray) -> Projection:
    """Semi-automatic summaries (Fearnhead & Prangle 2012): the least-squares linear prediction of each
    transformed parameter z (n, p) from the scaled summaries s (n, m), fitted on the rows with every
    summary, as an object that projects any simulations the same way.  The observed point is each
    interval's midpoint (its lower end if unbounded above)."""
    ok = np.all(np.isfinite(s), axis=1)
    c = np.nanmedian(s, axis=0)
    scale = np.asarray(scale, float)
    X = np.column_stack([np.ones(s.shape[0]), (s - c) / scale])
    beta, *_ = np.linalg.lstsq(X[ok], z[ok], rcond=None)
    P = X[ok] @ beta
    mid = np.where(np.isfinite(high), 0.5 * (low + high), low)
    p_obs = np.concatenate([[1.0], (mid - c) / scale]) @ beta
    pscale = np.array([robust_scale(P[:, j]) for j in range(P.shape[1])])
    return Projection(c, scale, beta, pscale, p_obs)


def semiauto(s: np.ndarray, low, high, scale, z: np.ndarray):
    """(projected summaries P (n, p), the observed point's projection (p,), the scale of each projection)
    of `fit_projection` fitted on these simulations."""
    pr = fit_projection(s, low, high, scale, z)
    return pr(s), pr.p_obs, pr.pscale


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles of x under weights w (the weighted ECDF, interpolated at mid-steps)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    o = np.argsort(x)
    x, w = x[o], w[o]
    c = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return np.interp(np.atleast_1d(q), c, x)


def marginal_adjust(x: np.ndarray, w: np.ndarray, xm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Nott et al.'s (2014) marginal adjustment: the joint sample's column x (weights w) moved onto the
    marginal sample xm (weights wm) at its weighted mid-ranks, so the joint draws keep their dependence
    (ranks) and take the marginal's distribution.  Ties in x keep one value each."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    o = np.argsort(x, kind="stable")
    c = (np.cumsum(w[o]) - 0.5 * w[o]) / np.sum(w)
    out = np.empty_like(x)
    out[o] = weighted_quantile(xm, wm, c)
    return out


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights w."""
    s2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def predictive_p(x: np.ndarray, w: np.ndarray, low: float, high: float) -> float:
    """Two-sided predictive p-value of an observed interval [low, high] against the weighted draws x:
    2 x the smaller of P(x <= high) and P(x >= low), at most 1 (an interval inside the bulk gives 1)."""
    ok = np.isfinite(x)
    if not ok.any() or np.sum(w[ok]) <= 0:
        return float("nan")
    x, w = x[ok], w[ok] / np.sum(w[ok])
    return float(min(1.0, 2.0 * min(np.sum(w[x <= high]), np.sum(w[x >= low]))))


# ---------------------------------------------------------------- parameter transforms

def to_unbounded(x: np.ndarray, lo: float, hi: float, log: bool) -> np.ndarray:
    """A parameter on its support [lo, hi] (log: on the log scale) to the real line (logit)."""
    if log:
        x, lo, hi = np.log(x), math.log(lo), math.log(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.asarray(x, float)
    u = (np.asarray(x, float) - lo) / (hi - lo)
    u = np.clip(u, 1e-9, 1 - 1e-9)
    return np.log(u) - np.log1p(-u)


def from_unbounded(z: np.ndarray, lo: float, hi: float, log: bool) -> np.ndarray:
    if log:
        lo, hi = math.log(lo), math.log(hi)
    if math.isfinite(lo) and math.isfinite(hi):
        x = lo + (hi - lo) / (1.0 + np.exp(-z))
    else:
        x = z
    return np.exp(x) if log else x
