"""Performance measures of a simulation study, each with its Monte Carlo SE.

Formulas are those of Morris, White & Crowther (2019), "Using simulation studies
to evaluate statistical methods", Statistics in Medicine 38:2074-2102, Table 6.
n is the number of replicates with a usable estimate; degenerate replicates
(NaN estimate) are counted and reported, never silently dropped.

Clustered replicates: when replicates share a registry (pool_policy "block"),
they are not independent, and the formulas above understate the MCSE.  Every
measure then takes `clusters` (one label per replicate) and uses the
cluster-robust variance of the mean of its influence values,
G/(G-1) * sum_g (sum_{i in g} psi_i)^2 / n^2, which reduces to the Morris et al.
form for singleton clusters; quantiles are scaled by the design effect of their
indicator.
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


def bias(est, truth, clusters=None) -> Measure:
    """mean(theta_hat) - theta; MCSE = sqrt(sum (theta_i - mean)^2 / (n (n-1)))."""
    x, g = _valid_c(est, clusters)
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
    x, g = _valid_c(est, clusters)
    n = x.size
    if n == 0:
        return Measure("mse", np.nan, np.nan, 0)
    sq = (x - truth) ** 2
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
    """100 (ModSE / EmpSE - 1), on replicates with both; MCSE as in Morris et al. Table 6."""
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    ok = np.isfinite(est) & np.isfinite(se)
    if clusters is not None and ok.sum() >= 2:
        x, v, g = est[ok], se[ok] ** 2, np.asarray(clusters)[ok]
        emp2 = float(np.var(x, ddof=1))
        mod2 = float(v.mean())
        if emp2 > 0 and mod2 > 0:
            r = math.sqrt(mod2 / emp2)
            # influence of log(r) = log(mod2)/2 - log(emp2)/2
            psi = (v - mod2) / (2 * mod2) - ((x - x.mean()) ** 2 - emp2) / (2 * emp2)
            return Measure("relative_se_error_pct", 100 * (r - 1), 100 * r * cluster_se_of_mean(psi, g), int(ok.sum()))
    n = int(ok.sum())
    if n < 2:
        return Measure("relative_se_error_pct", np.nan, np.nan, n)
    emp = float(np.std(est[ok], ddof=1))
    v = se[ok] ** 2
    mod = math.sqrt(v.mean())
    if emp == 0 or mod == 0:
        return Measure("relative_se_error_pct", np.nan, np.nan, n)
    r = mod / emp
    mcse = 100 * r * math.sqrt(np.var(v, ddof=1) / (4 * n * mod ** 4) + 1 / (2 * (n - 1)))
    return Measure("relative_se_error_pct", 100 * (r - 1), mcse, n)


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


def coverage(lo, hi, truth, name="coverage", clusters=None) -> Measure:
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
    interval: (x_(hi) - x_(lo)) / (2 z), ranks n q -+ z sqrt(n q (1 - q)), z = 1.96;
    with clusters, scaled by the root design effect of the indicator x <= quantile."""
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
    half = z * math.sqrt(n * q * (1 - q))
    lo = int(max(0, math.floor(n * q - half)))
    hi = int(min(n - 1, math.ceil(n * q + half)))
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


# ------------------------------------------------------------------ a store

def _paper():
    from .seedpaper import reported
    r = reported()
    return r["survival"], r["progression"]


def summarize_condition(v: dict, conditional_log_hr: float, truth: dict | None, alpha: float = 0.05,
                        clusters=None) -> dict:
    """Measures for one condition from its per-replicate arrays `v` (field -> array).

    clusters: one label per replicate for replicates that share a registry (MCSEs are
    then cluster-robust), or None for independent replicates."""
    s, p = _paper()
    c = clusters
    est, se = v["log_hr"], v["log_hr_se"]
    lo, hi = np.log(v["hr_ci_low"]), np.log(v["hr_ci_high"])
    out = {"n_replicates": int(len(est))}
    out["vs_conditional"] = {k: m.to_dict() for k, m in
                             estimator_measures(est, se, conditional_log_hr, lo, hi, v["hr_p"], alpha, clusters=c).items()}
    out["truth"] = {"conditional_log_hr": conditional_log_hr}
    if truth is not None:
        out["truth"].update(truth)
        out["vs_marginal"] = {k: m.to_dict() for k, m in
                              estimator_measures(est, se, truth["marginal_log_hr"], lo, hi, clusters=c).items()}
    hr = v["hr"]
    out["hr_quantiles"] = {f"q{q:g}": quantile(hr, q, clusters=c).to_dict() for q in (0.025, 0.25, 0.5, 0.75, 0.975)}
    out["rejection_min_of_5_tests"] = rejection(v["min_survival_p"], alpha, "rejection_min5", c).to_dict()
    out["rejection_any_subgroup"] = rejection(v["min_subgroup_p"], alpha, "rejection_subgroup", c).to_dict()
    out["mean_classes"] = {k: mean(v[k], k, c).to_dict() for k in ("n_decreased", "n_no_change", "n_increased")}
    ok = np.isfinite(hr)
    ratio = v["median_days_treated"] / v["median_days_reference"]
    out["p_as_extreme_as_paper"] = {
        "hr_and_p": proportion(np.where(ok, (hr <= s["hr"]) & (v["hr_p"] <= s["hr_p"]), np.nan), clusters=c).to_dict(),
        "hr": proportion(np.where(ok, hr <= s["hr"], np.nan), clusters=c).to_dict(),
        "n_decreased_ge_21": proportion(v["n_decreased"] >= p["n_decreased"], clusters=c).to_dict(),
        "median_ratio_ge_paper": proportion(np.where(np.isfinite(ratio), ratio >= s["median_days_treated"]
                                                     / s["median_days_reference"], np.nan), clusters=c).to_dict(),
        "signed_rank_p": proportion(np.where(np.isfinite(v["signed_rank_p"]),
                                             v["signed_rank_p"] <= p["signed_rank_p"], np.nan), clusters=c).to_dict(),
        # same direction as the paper (treated decline slower) and p at most the paper's
        "ols_p": proportion(np.where(np.isfinite(v["treated_p"]),
                                     (v["treated_p"] <= p["ols_treated_p"]) & (v["treated_coef"] < 0), np.nan),
                            clusters=c).to_dict(),
    }
    out["match_rate"] = mean(v["match_rate"], "match_rate", c).to_dict()
    out["degenerate_cox"] = proportion(v["cox_status"] != 0, "degenerate_cox", c).to_dict()
    out["nothing_matched"] = proportion(v["replicate_status"] != 0, "nothing_matched", c).to_dict()
    return out


def registry_clusters(attrs: dict, c: int, n_replicates: int):
    """(cluster labels or None, note): how condition c's replicates share registries."""
    pools = attrs.get("pool_policies")
    if not pools:
        return None, "replicates treated as independent (store without pool-policy record)"
    policy, block = pools[c]
    if policy == "block":
        return (np.arange(n_replicates) // int(block),
                f"cluster-robust: {int(block)} replicates share each registry")
    if policy == "condition":
        return None, ("one registry for all replicates: MCSEs are conditional on that registry and do not "
                      "include registry-to-registry variation")
    return None, "replicates independent (a new registry each)"


def summarize_store(path) -> dict:
    """Per-condition performance of a finished `simkit run` store."""
    from .store import read_fields
    names = ["log_hr", "log_hr_se", "hr", "hr_ci_low", "hr_ci_high", "hr_p", "min_survival_p", "min_subgroup_p",
             "n_decreased", "n_no_change", "n_increased", "median_days_treated", "median_days_reference",
             "match_rate", "cox_status", "replicate_status", "signed_rank_p", "treated_p", "treated_coef"]
    attrs, data = read_fields(path, names)
    truths = attrs.get("truth")
    cond_lhr = attrs["conditional_log_hr"]
    coords = attrs["condition_coords"]
    alpha = float(attrs.get("alpha", 0.05))
    res = []
    for c in range(len(cond_lhr)):
        row = {"condition": c, "coords": {k: v[c] for k, v in coords.items()}}
        clusters, note = registry_clusters(attrs, c, data["hr"].shape[1])
        row["mcse_note"] = note
        row.update(summarize_condition({n: a[c] for n, a in data.items()}, cond_lhr[c],
                                       truths[c] if truths else None, alpha, clusters))
        res.append(row)
    return {"store": str(path), "seed": attrs.get("seed"), "replicates": attrs.get("replicates"),
            "alpha": alpha, "conditions": res}
