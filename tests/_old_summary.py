"""The store summary as it was before simkit.report.summary (simkit/performance.py at 355bd49), kept
only to check that the Dataset summary gives the same numbers.  Measures come from
simkit.report.measures, which holds performance.py's measure functions unchanged."""
import numpy as np

from simkit.report.measures import estimator_measures, mean, proportion, quantile, rejection
from simkit.report.summary import registry_clusters


def _paper():
    from simkit.paper.seed import reported
    r = reported()
    return r["survival"], r["progression"]


def summarize_condition(v: dict, conditional_log_hr: float, truth: dict | None, alpha: float = 0.05,
                        clusters=None) -> dict:
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
        "ols_p": proportion(np.where(np.isfinite(v["treated_p"]),
                                     (v["treated_p"] <= p["ols_treated_p"]) & (v["treated_coef"] < 0), np.nan),
                            clusters=c).to_dict(),
    }
    out["match_rate"] = mean(v["match_rate"], "match_rate", c).to_dict()
    out["degenerate_cox"] = proportion(v["cox_status"] != 0, "degenerate_cox", c).to_dict()
    out["nothing_matched"] = proportion(v["replicate_status"] != 0, "nothing_matched", c).to_dict()
    return out


def summarize_store(path) -> dict:
    from simkit.runner.store import read_fields
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
