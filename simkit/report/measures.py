"""Performance measures of a simulation study, each with its Monte Carlo SE.

Generic: nothing here knows simkit (numpy, scipy, pandas and xarray only), so it
serves any simulation study: the functions take arrays of estimates, SEs,
p-values or flags; `simsum` takes a long table (one row per replicate x method)
like R's rsimsum::simsum and returns an xarray.Dataset.

Formulas are those of Morris, White & Crowther (2019), "Using simulation studies
to evaluate statistical methods", Statistics in Medicine 38:2074-2102, Table 6 (the
relative error in ModSE with the ModSE-EmpSE covariance that Table 6 leaves out);
relative precision against a reference method as in rsimsum (Gasparini 2018,
JOSS 3:739).  n is the number of replicates with a usable estimate; degenerate
replicates (NaN estimate) are counted and reported, never silently dropped.

Clustered replicates: when replicates are not independent (e.g. they share a
simulated registry), the formulas above understate the MCSE.  Every measure
then takes `clusters` (one label per replicate) and uses the cluster-robust
variance of the mean of its influence values,
G/(G-1) * sum_g (sum_{i in g} psi_i)^2 / n^2, which reduces to the Morris et al.
form for singleton clusters; quantiles are scaled by the design effect of their
indicator.

The true value may be a number or one value per replicate (an array): bias, MSE
and relative bias are then means of est - truth (their MCSE from the spread of
est - truth, which is Morris et al.'s when the truth is constant).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Measure:
    """A performance measure: estimate, Monte Carlo SE and the n it rests on."""
    name: str
    estimate: float
    mcse: float
    n: int

    def __str__(self):
        return f"{self.name} = {self.estimate:.4g} (MCSE {self.mcse:.2g}, n={self.n})"

    def to_dict(self):
        f = lambda x: float(x) if math.isfinite(x) else None  # noqa: E731
        return {"estimate": f(self.estimate), "mcse": f(self.mcse), "n": int(self.n)}


def _valid(x):
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]


def _valid_c(x, clusters):
    """Finite values of x and their cluster labels (None stays None)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    return x[ok], (None if clusters is None else np.asarray(clusters)[ok])


def cluster_se_of_mean(psi, clusters) -> float:
    """Cluster-robust SE of mean(psi): sqrt(G/(G-1) sum_g (sum_g (psi - mean))^2) / n."""
    psi = np.asarray(psi, dtype=np.float64)
    n = psi.size
    if n < 2:
        return np.nan
    _, inv = np.unique(np.asarray(clusters), return_inverse=True)
    g = inv.max() + 1
    if g < 2:
        return np.nan
    sums = np.bincount(inv, weights=psi - psi.mean(), minlength=g)
    return float(math.sqrt(g / (g - 1) * np.sum(sums ** 2)) / n)


def _truth_along(est, truth):
    """truth as an array of est's finite entries (None if truth is a number)."""
    if np.ndim(truth) == 0:
        return None
    t = np.asarray(truth, dtype=np.float64)
    est = np.asarray(est, dtype=np.float64)
    if t.shape != est.shape:
        raise ValueError(f"truth has shape {t.shape}, the estimates {est.shape}")
    return t[np.isfinite(est)]


def bias(est, truth, clusters=None) -> Measure:
    """mean(theta_hat) - theta; MCSE = sqrt(sum (theta_i - mean)^2 / (n (n-1)))."""
    t = _truth_along(est, truth)
    x, g = _valid_c(est, clusters)
    if t is not None:  # one truth per replicate: the same formulas on est - truth
        x = x - t
        truth = 0.0
    n = x.size
    if n == 0:
        return Measure("bias", np.nan, np.nan, 0)
    m = x.mean() - truth
    if g is not None:
        return Measure("bias", float(m), cluster_se_of_mean(x, g), n)
    mcse = math.sqrt(np.sum((x - x.mean()) ** 2) / (n * (n - 1))) if n > 1 else np.nan
    return Measure("bias", float(m), mcse, n)


def relative_bias(est, truth, clusters=None) -> Measure:
    """(mean - theta) / theta; undefined (NaN) when theta is 0 (e.g. log HR under the null)."""
    t = _truth_along(est, truth)
    if t is not None:
        if np.any(t == 0) or not np.all(np.isfinite(t)):
            return Measure("relative_bias", np.nan, np.nan, t.size)
        x = np.asarray(est, np.float64)
        ok = np.isfinite(x)
        r = bias(np.where(ok, x / np.asarray(truth, np.float64), np.nan), 1.0, clusters)
        return Measure("relative_bias", r.estimate, r.mcse, r.n)
    b = bias(est, truth, clusters)
    if truth == 0 or not math.isfinite(truth):
        return Measure("relative_bias", np.nan, np.nan, b.n)
    return Measure("relative_bias", b.estimate / truth, b.mcse / abs(truth), b.n)


def empirical_se(est, clusters=None) -> Measure:
    """SD of the estimates; MCSE = EmpSE / sqrt(2 (n - 1))."""
    x, g = _valid_c(est, clusters)
    n = x.size
    if n < 2:
        return Measure("empirical_se", np.nan, np.nan, n)
    s = float(np.std(x, ddof=1))
    if g is not None:  # delta method on s^2 = mean of squared deviations * n/(n-1)
        se2 = cluster_se_of_mean((x - x.mean()) ** 2, g) * n / (n - 1)
        return Measure("empirical_se", s, se2 / (2 * s) if s > 0 else np.nan, n)
    return Measure("empirical_se", s, s / math.sqrt(2 * (n - 1)), n)


def mse(est, truth, clusters=None) -> Measure:
    """mean (theta_i - theta)^2; MCSE = sqrt(sum((theta_i - theta)^2 - MSE)^2 / (n (n - 1)))."""
    t = _truth_along(est, truth)
    x, g = _valid_c(est, clusters)
    n = x.size
    if n == 0:
        return Measure("mse", np.nan, np.nan, 0)
    sq = (x - (truth if t is None else t)) ** 2
    m = float(sq.mean())
    if g is not None:
        return Measure("mse", m, cluster_se_of_mean(sq, g), n)
    mcse = math.sqrt(np.sum((sq - m) ** 2) / (n * (n - 1))) if n > 1 else np.nan
    return Measure("mse", m, mcse, n)


def model_se(se, clusters=None) -> Measure:
    """sqrt(mean of the model variances); MCSE = sqrt(Var(var_i) / (4 n ModSE^2))."""
    v, g = _valid_c(se, clusters)
    v = v ** 2
    n = v.size
    if n == 0:
        return Measure("model_se", np.nan, np.nan, 0)
    mod = math.sqrt(v.mean())
    if n < 2 or mod == 0:
        return Measure("model_se", mod, np.nan, n)
    if g is not None:
        return Measure("model_se", mod, cluster_se_of_mean(v, g) / (2 * mod), n)
    return Measure("model_se", mod, math.sqrt(np.var(v, ddof=1) / (4 * n * mod ** 2)), n)


def relative_se_error(est, se, clusters=None) -> Measure:
    """100 (ModSE / EmpSE - 1), on replicates with both; MCSE by the delta method on
    log(ModSE / EmpSE), the ModSE-EmpSE covariance included, alike with and without clusters.

    With r = ModSE / EmpSE, log r = log(mean se^2) / 2 - log(s^2) / 2 has the influence
    psi_i = (v_i - ModSE^2) / (2 ModSE^2) - (d_i^2 - EmpSE^2) / (2 EmpSE^2), v_i = se_i^2,
    d_i = est_i - mean(est), so MCSE = 100 r SE(mean psi): the SD of psi / sqrt(n) for
    independent replicates, cluster_se_of_mean(psi) for clustered ones.  Expanding
    Var(psi) gives Morris et al.'s Table 6 terms (rsimsum's too), Var(v) / (4 n ModSE^4)
    and, for normal estimates, 1 / (2 n), *minus* the covariance term
    Cov(v, d^2) / (2 n ModSE^2 EmpSE^2), which Table 6 and rsimsum leave out (they assume
    a replicate's SE independent of its estimate; Stata's simsum includes it under
    `robust`).  Before issue 14 the clustered branch had it and the independent branch
    did not, so the two disagreed on singleton clusters; where SE and estimate move
    together (a Cox log HR and its SE with few events) or the estimates are heavy-tailed,
    Table 6's MCSE can be off by 25% or more."""
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    ok = np.isfinite(est) & np.isfinite(se)
    n = int(ok.sum())
    if n < 2:
        return Measure("relative_se_error_pct", np.nan, np.nan, n)
    x, v = est[ok], se[ok] ** 2
    emp2 = float(np.var(x, ddof=1))
    mod2 = float(v.mean())
    if emp2 == 0 or mod2 == 0:
        return Measure("relative_se_error_pct", np.nan, np.nan, n)
    r = math.sqrt(mod2 / emp2)
    psi = (v - mod2) / (2 * mod2) - ((x - x.mean()) ** 2 - emp2) / (2 * emp2)
    if clusters is not None:
        se_mean = cluster_se_of_mean(psi, np.asarray(clusters)[ok])
    else:
        se_mean = float(np.std(psi, ddof=1) / math.sqrt(n))
    return Measure("relative_se_error_pct", 100 * (r - 1), 100 * r * se_mean, n)


def proportion(flags, name="proportion", clusters=None) -> Measure:
    """Share of True among replicates where the flag is defined; MCSE sqrt(p(1-p)/n)."""
    f, g = _valid_c(flags, clusters)
    n = f.size
    if n == 0:
        return Measure(name, np.nan, np.nan, 0)
    p = float(f.mean())
    if g is not None:
        return Measure(name, p, cluster_se_of_mean(f, g), n)
    return Measure(name, p, math.sqrt(p * (1 - p) / n), n)


@dataclass(frozen=True)
class ProportionInterval:
    """A proportion with an exact (Clopper-Pearson) interval on its effective sample size."""
    estimate: float
    low: float
    high: float
    n: int               # replicates with the flag defined
    n_effective: float   # n / design effect of shared clusters (n when independent or not estimable)
    note: str

    def __str__(self):
        return f"{self.estimate:.3g} (95% CI {self.low:.2g} to {self.high:.2g})"


def clopper_pearson(k: float, n: float, level: float = 0.95) -> tuple:
    """Exact binomial interval for k successes of n (beta quantiles; k, n may be
    non-integer effective counts)."""
    from scipy.stats import beta
    if n <= 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    lo = 0.0 if k <= 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(1 - a, k + 1, n - k))
    return (lo, hi)


def proportion_interval(flags, clusters=None, level: float = 0.95) -> ProportionInterval:
    """A rare event's probability with an exact interval, where a Wald MCSE would say 0.

    With clusters (replicates sharing a registry) the count and n are scaled to the
    effective sample size n / deff, deff the design effect of the clustered MCSE;
    when no (or every) replicate has the event deff cannot be estimated and n is
    used, which understates the interval's width if the event clusters."""
    f, g = _valid_c(flags, clusters)
    n = f.size
    if n == 0:
        return ProportionInterval(math.nan, math.nan, math.nan, 0, 0.0, "no replicate")
    p = float(f.mean())
    n_eff, note = float(n), "independent replicates"
    if g is not None:
        if 0 < p < 1:
            deff = (cluster_se_of_mean(f, g) / math.sqrt(p * (1 - p) / n)) ** 2
            if math.isfinite(deff) and deff > 0:
                n_eff = n / max(deff, 1.0)
                note = f"effective n {n_eff:.0f} (design effect {deff:.2f} of shared registries)"
        else:
            note = "design effect not estimable with no (or only) events: n used"
    lo, hi = clopper_pearson(p * n_eff, n_eff, level)
    return ProportionInterval(p, lo, hi, n, n_eff, note)


def coverage(lo, hi, truth, name="coverage", clusters=None) -> Measure:
    """Share of intervals [lo, hi] that contain the truth (a number or one per replicate)."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    flags = np.where(ok, (lo <= truth) & (truth <= hi), np.nan)
    return proportion(flags, name, clusters)


def rejection(p, alpha=0.05, name="rejection", clusters=None) -> Measure:
    """Type I error or power: share of usable p-values <= alpha."""
    p = np.asarray(p, float)
    flags = np.where(np.isfinite(p), p <= alpha, np.nan)
    return proportion(flags, name, clusters)


def mean(x, name="mean", clusters=None) -> Measure:
    x, g = _valid_c(x, clusters)
    n = x.size
    if n == 0:
        return Measure(name, np.nan, np.nan, 0)
    if g is not None:
        return Measure(name, float(x.mean()), cluster_se_of_mean(x, g), n)
    return Measure(name, float(x.mean()), float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else np.nan, n)


def quantile(x, q, name=None, clusters=None) -> Measure:
    """Sample quantile with a distribution-free MCSE from the binomial order-statistic
    interval: (x_(s) - x_(r)) / (2 z), z = 1.96, with the 1-based ranks of Campbell &
    Gardner (1988), r = n q - z sqrt(n q (1 - q)) and s = 1 + n q + z sqrt(n q (1 - q)),
    each rounded to the nearest integer and clipped to 1..n; with clusters, scaled by
    the root design effect of the indicator x <= quantile."""
    xv, g = _valid_c(x, clusters)
    m = quantile(xv, q, name) if g is not None else None
    if m is not None:
        n = xv.size
        if n < 2 or not math.isfinite(m.mcse):
            return m
        ind = (xv <= m.estimate).astype(float)
        iid = float(np.std(ind, ddof=1) / math.sqrt(n))
        deff = (cluster_se_of_mean(ind, g) / iid) if iid > 0 else 1.0
        return Measure(m.name, m.estimate, m.mcse * deff, n)
    x = np.sort(xv)
    n = x.size
    name = name or f"q{q:g}"
    if n == 0:
        return Measure(name, np.nan, np.nan, 0)
    est = float(np.quantile(x, q))
    z = 1.959963984540054
    # Distribution-free CI of a quantile: Campbell MJ, Gardner MJ (1988), "Calculating
    # confidence intervals for some non-parametric analyses", BMJ 296:1454-1456 (also in
    # Altman et al., Statistics with Confidence, 2nd ed., ch. 5): the 1-based ranks
    #     r = n q - z sqrt(n q (1 - q)),   s = 1 + n q + z sqrt(n q (1 - q)),
    # rounded to the nearest integer (halves up).  Ranks outside 1..n are clipped to the
    # sample's extremes.  (Before: 0-based floor / ceil of n q -+ half, i.e. ranks
    # floor(.) + 1 and ceil(.) + 1, one above the textbook's whenever the fraction < 0.5.)
    half = z * math.sqrt(n * q * (1 - q))
    r = math.floor(n * q - half + 0.5)
    s = math.floor(1 + n * q + half + 0.5)
    lo = min(max(r, 1), n) - 1               # 0-based indices into the sorted sample
    hi = min(max(s, 1), n) - 1
    return Measure(name, est, float((x[hi] - x[lo]) / (2 * z)), n)


def estimator_measures(est, se, truth, lo=None, hi=None, p=None, alpha=0.05, prefix="", clusters=None):
    """The standard set for one estimand: bias, relative bias, EmpSE, ModSE, MSE, coverage,
    bias-eliminated coverage, rejection rate, share degenerate.  est/lo/hi on the same scale
    as truth (e.g. log HR); clusters: one label per replicate, or None if independent."""
    est = np.asarray(est, float)
    c = clusters
    out = {
        "bias": bias(est, truth, c),
        "relative_bias": relative_bias(est, truth, c),
        "empirical_se": empirical_se(est, c),
        "model_se": model_se(se, c),
        "relative_se_error_pct": relative_se_error(est, se, c),
        "mse": mse(est, truth, c),
        "degenerate": proportion(~np.isfinite(est), "degenerate", c),
    }
    if lo is not None and hi is not None:
        out["coverage"] = coverage(lo, hi, truth, clusters=c)
        v = _valid(est)
        if v.size:
            out["be_coverage"] = coverage(lo, hi, float(v.mean()), "be_coverage", c)
    if p is not None:
        out["rejection"] = rejection(p, alpha, clusters=c)
    return {prefix + k: Measure(prefix + k, m.estimate, m.mcse, m.n) for k, m in out.items()}


def relative_precision(est, est_ref, clusters=None) -> Measure:
    """100 ((EmpSE_ref / EmpSE)^2 - 1): the % gain in precision of a method over a reference
    method on the same replicates (Morris et al. Table 6); positive = more precise than ref.

    est and est_ref are paired (entry i of both from replicate i).  Each EmpSE is over its own
    finite estimates and the correlation rho over replicates where both are finite, as in
    rsimsum; MCSE = 200 (EmpSE_ref / EmpSE)^2 sqrt((1 - rho^2) / (n - 1)), n = this method's
    usable replicates.  With clusters: the cluster-robust SE of the mean of the influence of
    log of the variance ratio, psi_i = (d_ref,i^2 - v_ref) / v_ref - (d_i^2 - v) / v (on the
    paired replicates), times 100 x the ratio, which for independent normal estimates is
    the formula above with n in place of n - 1."""
    x = np.asarray(est, np.float64)
    r = np.asarray(est_ref, np.float64)
    if x.shape != r.shape:
        raise ValueError(f"est has shape {x.shape}, est_ref {r.shape}: they must be paired")
    name = "relative_precision_pct"
    xv, rv = x[np.isfinite(x)], r[np.isfinite(r)]
    n = xv.size
    both = np.isfinite(x) & np.isfinite(r)
    if n < 2 or rv.size < 2 or both.sum() < 3:
        return Measure(name, np.nan, np.nan, n)
    v, v_ref = float(np.var(xv, ddof=1)), float(np.var(rv, ddof=1))
    if v == 0 or v_ref == 0:
        return Measure(name, np.nan, np.nan, n)
    ratio = v_ref / v
    if np.array_equal(x, r, equal_nan=True):  # the reference itself: exactly 0, without rounding noise in rho
        return Measure(name, 0.0, 0.0, n)
    if clusters is not None:
        xb, rb, g = x[both], r[both], np.asarray(clusters)[both]
        psi = ((rb - rb.mean()) ** 2 - v_ref) / v_ref - ((xb - xb.mean()) ** 2 - v) / v
        return Measure(name, 100 * (ratio - 1), 100 * ratio * cluster_se_of_mean(psi, g), n)
    rho = float(np.corrcoef(x[both], r[both])[0, 1])
    return Measure(name, 100 * (ratio - 1), 200 * ratio * math.sqrt(max(0.0, 1 - rho ** 2) / (n - 1)), n)


# ------------------------------------------------------------------ a long table

SIMSUM_MEASURES = ("mean", "median", "bias", "relative_bias", "empirical_se", "model_se", "relative_se_error_pct",
                   "mse", "coverage", "be_coverage", "rejection", "relative_precision_pct", "degenerate")


class SimsumError(ValueError):
    """A bad argument of simsum: `where` names the argument or column."""

    def __init__(self, where: str, message: str):
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


_RESERVED_DIMS = ("estimate", "mcse", "n", "method", "measure")


def _numeric(df, col, what):
    import pandas as pd
    if col not in df.columns:
        raise SimsumError(what, f"no column {col!r}; the table has {', '.join(map(str, df.columns))}")
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SimsumError(what, f"column {col!r} must hold numbers (empty = missing), row {i + 1} "
                                f"has {df[col].iloc[i]!r}")
    return v.to_numpy(np.float64)


def _cell_measures(est, se, truth, lo, hi, p, alpha, ref_est, clusters):
    """All SIMSUM_MEASURES of one (by, method) cell, as {name: Measure}."""
    out = estimator_measures(est, se, truth, lo, hi, p, alpha, clusters=clusters) if se is not None else {
        "bias": bias(est, truth, clusters), "relative_bias": relative_bias(est, truth, clusters),
        "empirical_se": empirical_se(est, clusters), "mse": mse(est, truth, clusters),
        "degenerate": proportion(~np.isfinite(est), "degenerate", clusters)}
    if se is None and lo is not None:
        out["coverage"] = coverage(lo, hi, truth, clusters=clusters)
        v = _valid(est)
        if v.size:
            out["be_coverage"] = coverage(lo, hi, float(v.mean()), "be_coverage", clusters)
    if se is None and p is not None:
        out["rejection"] = rejection(p, alpha, clusters=clusters)
    out["mean"] = mean(est, "mean", clusters)
    out["median"] = quantile(est, 0.5, "median", clusters)
    if ref_est is not None:
        out["relative_precision_pct"] = relative_precision(est, ref_est, clusters)
    return out


def simsum(data, estvarname: str, true, se: str | None = None, methodvar: str | None = None,
           ref=None, by=None, ci_limits=None, level: float = 0.95, p: str | None = None,
           alpha: float = 0.05, repvar: str | None = None, cluster: str | None = None):
    """Performance measures with Monte Carlo SEs of a long table of simulation results.

    In the spirit of rsimsum::simsum (Gasparini 2018).  `data`: a pandas DataFrame with
    one row per replicate (x method, x condition).
      estvarname  column of point estimates (NaN / empty = not estimable: counted in
                  `degenerate`, left out of the other measures)
      true        the true value: a number, or the name of a column
      se          column of model SEs (model SE, relative error in ModSE; CIs and tests
                  computed from it when not given)
      methodvar   column naming the method; ref: the reference method (default: the first
                  in order of appearance) for the relative precision
      by          column name or list of names of the conditions (the grid)
      ci_limits   two column names (lower, upper); default est -+ z se with z the
                  (1 + level) / 2 normal quantile, if se is given
      p           column of p-values; default 2 (1 - Phi(|est / se|)) if se is given;
                  rejection = share of p <= alpha
      repvar      column identifying the replicate, to pair methods for the relative
                  precision; without it, rows are paired by order within each condition
                  (as rsimsum does) and every method must have the same number of rows
      cluster     column of cluster labels for cluster-robust MCSEs (replicates that are
                  not independent)

    Returns an xarray.Dataset with dims (*by, "method", "measure"), method only with a
    methodvar, and variables `estimate`, `mcse` and `n` (replicates each measure rests on).
    Measures: """ + ", ".join(SIMSUM_MEASURES) + """; those a table cannot give (e.g. model SE
    without se) are left out.  Raises SimsumError naming the argument or column."""
    import pandas as pd
    import xarray as xr
    from scipy.stats import norm

    if not isinstance(data, pd.DataFrame):
        raise SimsumError("data", f"expected a pandas DataFrame, got {type(data).__name__}")
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for col, what in [(c, "by") for c in by] + [(methodvar, "methodvar"), (repvar, "repvar"),
                                                (cluster, "cluster")]:
        if col is not None and col not in data.columns:
            raise SimsumError(what, f"no column {col!r}; the table has {', '.join(map(str, data.columns))}")
    if not 0 < alpha < 1:
        raise SimsumError("alpha", f"expected a number in (0, 1), got {alpha!r}")
    if not 0 < level < 1:
        raise SimsumError("level", f"expected a number in (0, 1), got {level!r}")
    if len(data) == 0:
        raise SimsumError("data", "the table has no rows")
    est = _numeric(data, estvarname, "estvarname")
    if isinstance(true, str):
        truth = _numeric(data, true, "true")
        if np.isnan(truth).any():
            raise SimsumError("true", f"column {true!r} has missing values")
    else:
        try:
            truth = float(true)
        except (TypeError, ValueError):
            raise SimsumError("true", f"expected a number or a column name, got {true!r}") from None
        if not math.isfinite(truth):
            raise SimsumError("true", f"expected a finite number, got {true!r}")
        truth = np.full(len(data), truth)
    sev = None if se is None else _numeric(data, se, "se")
    if ci_limits is not None:
        if isinstance(ci_limits, str) or len(ci_limits) != 2:
            raise SimsumError("ci_limits", f"expected two column names (lower, upper), got {ci_limits!r}")
        lo, hi = _numeric(data, ci_limits[0], "ci_limits"), _numeric(data, ci_limits[1], "ci_limits")
    elif sev is not None:
        z = norm.ppf((1 + level) / 2)
        lo, hi = est - z * sev, est + z * sev
    else:
        lo = hi = None
    if p is not None:
        pv = _numeric(data, p, "p")
    elif sev is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            pv = np.where(sev > 0, 2 * norm.sf(np.abs(est / sev)), np.nan)
    else:
        pv = None
    methods = [None] if methodvar is None else list(pd.unique(data[methodvar]))
    if methodvar is not None:
        if ref is None:
            ref = methods[0]
        else:
            match = [m for m in methods if m == ref or str(m) == str(ref)]
            if not match:
                raise SimsumError("ref", f"no method {ref!r} in column {methodvar!r}; "
                                         f"methods: {', '.join(map(str, methods))}")
            ref = match[0]
    keys = [tuple(k) if isinstance(k, tuple) else (k,) for k in
            (pd.unique(pd.MultiIndex.from_frame(data[by])) if by else [()])]
    records = []
    for key in keys:
        in_cell = np.ones(len(data), bool)
        for col, val in zip(by, key):
            in_cell &= (data[col] == val).to_numpy()
        ref_rows = None
        if methodvar is not None:
            ref_rows = _rows_of(data, in_cell & (data[methodvar] == ref).to_numpy(), repvar)
        for m in methods:
            rows = in_cell if m is None else in_cell & (data[methodvar] == m).to_numpy()
            if not rows.any():
                continue
            idx = _rows_of(data, rows, repvar)
            ref_est = None
            if ref_rows is not None:
                ref_est = _paired(data, est, idx, ref_rows, repvar, key, m, ref)
            t = truth[idx]
            tt = t[0] if np.all(t == t[0]) else t  # a constant truth keeps the scalar formulas
            g = None if cluster is None else data[cluster].to_numpy()[idx]
            ms = _cell_measures(est[idx], None if sev is None else sev[idx], tt,
                                None if lo is None else lo[idx], None if hi is None else hi[idx],
                                None if pv is None else pv[idx], alpha, ref_est, g)
            for name in SIMSUM_MEASURES:
                if name in ms:
                    r = {"_key": key}
                    if methodvar is not None:
                        r["method"] = m
                    r.update(measure=name, estimate=ms[name].estimate, mcse=ms[name].mcse, n=ms[name].n)
                    records.append(r)
    # a by column named like a variable or dim of the result gets the dim "by_<name>"
    dims = [f"by_{c}" if c in _RESERVED_DIMS else str(c) for c in by]
    for r in records:
        r.update(zip(dims, r.pop("_key")))
    df = pd.DataFrame.from_records(records)
    index = dims + (["method"] if methodvar is not None else []) + ["measure"]
    # keep the order of appearance (from_dataframe would sort the levels)
    levels = {c: list(pd.unique(df[c])) for c in index}
    ds = xr.Dataset.from_dataframe(df.set_index(index))
    ds = ds.reindex({c: levels[c] for c in index})
    for c, d in zip(by, dims):
        ds[d].attrs["column"] = str(c)
    ds["estimate"].attrs["long_name"] = "performance measure"
    ds["mcse"].attrs["long_name"] = "Monte Carlo SE of the estimate"
    ds["n"].attrs["long_name"] = "replicates the measure rests on"
    ds.attrs.update({"estvarname": estvarname, "true": true if isinstance(true, str) else float(true),
                     "alpha": alpha, "level": level, "ref": None if ref is None else str(ref),
                     "reference": "Morris, White & Crowther (2019) Stat Med 38:2074, Table 6"})
    if methodvar is not None:
        ds.attrs["methodvar"] = methodvar
    return ds


def _rows_of(data, mask, repvar):
    """Row indices of a cell, ordered by replicate id if given (for pairing)."""
    idx = np.flatnonzero(mask)
    if repvar is not None:
        ids = data[repvar].to_numpy()[idx]
        if len(set(ids.tolist())) != len(ids):
            raise SimsumError("repvar", f"column {repvar!r} repeats a replicate id within a method and condition")
        idx = idx[np.argsort(ids, kind="stable")]
    return idx


def _paired(data, est, idx, ref_idx, repvar, key, method, ref):
    """The reference method's estimates on the same replicates as idx."""
    if repvar is None:
        if len(idx) != len(ref_idx):
            raise SimsumError("methodvar", f"condition {key}: method {method!r} has {len(idx)} rows and the "
                                           f"reference {ref!r} {len(ref_idx)}; give repvar to pair them by replicate")
        return est[ref_idx]
    ids, ref_ids = data[repvar].to_numpy()[idx], data[repvar].to_numpy()[ref_idx]
    pos = {v: i for i, v in enumerate(ref_ids.tolist())}
    return np.array([est[ref_idx[pos[v]]] if v in pos else np.nan for v in ids.tolist()])
