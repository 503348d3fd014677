"""The seed summary of a simkit store: performance measures per condition as an xarray.Dataset.

`summarize(store)` gives, for every condition of a finished `simkit run`, the
measures of simkit.report.measures (each with its Monte Carlo SE and the n of
replicates it rests on) of the seed design's estimates: the log HR against the
estimand the analysis targets (`ESTIMANDS`; by default the marginal HR under the
design's own follow-up) and, in families named by their estimand, against each
truth the store has (conditional, marginal without censoring, marginal under
follow-up); HR quantiles, rejection rates, mean response classes, P(a result as extreme as the paper's), the match rate, and the share of
each status code of every `*_status` field.  Layout: docs/summary.md.

`to_json(ds)` turns it into the nested dict of `simkit summarize --json`.
"""
from __future__ import annotations

import re

import numpy as np

from simkit.report.measures import Measure, estimator_measures, mean, proportion, quantile, rejection
from simkit.kernels.status import NAMES as STATUS_NAMES

FIELDS = ["log_hr", "log_hr_se", "hr", "hr_ci_low", "hr_ci_high", "hr_p", "min_survival_p", "min_subgroup_p",
          "n_decreased", "n_no_change", "n_increased", "median_days_treated", "median_days_reference",
          "match_rate", "signed_rank_p", "treated_p", "treated_coef"]
ESTIMATOR = ("bias", "relative_bias", "empirical_se", "model_se", "relative_se_error_pct", "mse", "degenerate",
             "coverage", "be_coverage")
HR_QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
CLASSES = ("n_decreased", "n_no_change", "n_increased")
EXTREME = ("hr_and_p", "hr", "n_decreased_ge_21", "median_ratio_ge_paper", "signed_rank_p", "ols_p")
# pair-aware inference (issue 14), read where the store has the fields (stores written before do not):
# the Efron log HR with the pair-clustered robust SE (robust_*) and the Cox model stratified by pair (strat_*)
PAIR_FIELDS = ["log_hr_se_robust", "hr_ci_low_robust", "hr_ci_high_robust", "hr_p_robust",
               "log_hr_strat", "log_hr_strat_se", "hr_strat_ci_low", "hr_strat_ci_high", "hr_strat_p"]
ROBUST = ("model_se", "relative_se_error_pct", "coverage", "be_coverage", "rejection")
MARGINAL_ROBUST = ("coverage", "be_coverage")

# The estimands the design's log HR can be judged against (`simkit summarize --estimand`):
# name -> (key of the store's attrs["truth"] entries, None = the scenario's conditional log HR;
# what it is).  The headline measures (bias, coverage, ...) are against the chosen one, and
# each estimand's family (<name>_bias, ...) against its own.  docs/summary.md says why.
ESTIMANDS = {
    "followup_marginal": ("marginal_log_hr_followup",
                          "the marginal log HR under the design's follow-up (counterfactual twins, each pair "
                          "censored at its treated patient's administrative censoring): what a fair study with "
                          "this entry and follow-up targets"),
    "marginal": ("marginal_log_hr", "the marginal log HR without censoring (counterfactual twins followed to death)"),
    "conditional": (None, "the conditional log HR (the scenario's treatment.hr)"),
}
DEFAULT_ESTIMAND = "followup_marginal"
FAMILIES = ("conditional", "marginal", "followup_marginal")     # the Dataset's order of the families

def pair_paths(families) -> dict:
    """{measure: JSON path} of the pair-aware measures (docs/summary.md): against the conditional
    truth (robust_*, strat_*) and each other estimand in `families` (<estimand>_robust_*, ...)."""
    if isinstance(families, bool):    # the former signature: marginal truth or not
        families = ("conditional", "marginal") if families else ("conditional",)
    out = {f"robust_{k}": ("pair_robust", "vs_conditional", k) for k in ROBUST}
    for f in ("marginal", "followup_marginal"):
        if f in families:
            out.update({f"{f}_robust_{k}": ("pair_robust", f"vs_{f}", k) for k in MARGINAL_ROBUST})
    out.update({f"strat_{k}": ("pair_stratified", "vs_conditional", k) for k in ESTIMATOR + ("rejection",)})
    for f in ("marginal", "followup_marginal"):
        if f in families:
            out.update({f"{f}_strat_{k}": ("pair_stratified", f"vs_{f}", k) for k in ESTIMATOR})
    return out


def pair_measures(v: dict, conditional_log_hr, marginal_log_hr, alpha, clusters, followup_log_hr=None) -> dict:
    """The pair-aware measures of one condition: the robust CI of the same log HR (its ModSE,
    coverage, rejection) and the stratified estimate's estimator measures, against the same truths."""
    c = clusters
    est, se = v["log_hr"], v["log_hr_se_robust"]
    lo, hi = np.log(v["hr_ci_low_robust"]), np.log(v["hr_ci_high_robust"])
    out = {}
    for prefix, truth, p, keep in (("robust_", conditional_log_hr, v["hr_p_robust"], ROBUST),
                                   ("marginal_robust_", marginal_log_hr, None, MARGINAL_ROBUST),
                                   ("followup_marginal_robust_", followup_log_hr, None, MARGINAL_ROBUST)):
        if truth is not None:
            ms = estimator_measures(est, se, truth, lo, hi, p, alpha, prefix=prefix, clusters=c)
            out.update({prefix + k: ms[prefix + k] for k in keep if prefix + k in ms})
    est, se = v["log_hr_strat"], v["log_hr_strat_se"]
    lo, hi = np.log(v["hr_strat_ci_low"]), np.log(v["hr_strat_ci_high"])
    out.update(estimator_measures(est, se, conditional_log_hr, lo, hi, v["hr_strat_p"], alpha, prefix="strat_",
                                  clusters=c))
    for prefix, truth in (("marginal_strat_", marginal_log_hr), ("followup_marginal_strat_", followup_log_hr)):
        if truth is not None:
            out.update(estimator_measures(est, se, truth, lo, hi, prefix=prefix, clusters=c))
    return out

def available_estimands(truths) -> list:
    """The estimands a store's attrs["truth"] (a list per condition, or None) can judge against."""
    out = ["conditional"]
    if truths:
        out += [e for e in ("marginal", "followup_marginal")
                if all(t.get(ESTIMANDS[e][0]) is not None for t in truths)]
    return out


def choose_estimand(requested, truths, truth_note: str = "") -> tuple:
    """(estimand, note): the requested one, or by default the first of followup_marginal, marginal,
    conditional that the store has, with a note saying why when it is not the default.  An
    unknown or unavailable request is an InputError naming --estimand."""
    from simkit.errors import InputError
    have = available_estimands(truths)
    why = (truth_note or "the store has no counterfactual truth") if not truths else (
        "nobody dies within the design's follow-up in some condition: the follow-up HR does not exist"
        if any(ESTIMANDS["followup_marginal"][0] in t for t in truths) else
        "the store's truth was computed before the follow-up estimand existed (re-run the scenario into a new store)")
    if requested is None:
        chosen = next(e for e in ("followup_marginal", "marginal", "conditional") if e in have)
        note = "" if chosen == DEFAULT_ESTIMAND else (
            f"no marginal truth under the design's follow-up: {why}; bias and coverage are against {chosen}")
        return chosen, note
    if requested not in ESTIMANDS:
        raise InputError("--estimand", f"expected one of {', '.join(ESTIMANDS)}, got {requested!r}")
    if requested not in have:
        raise InputError("--estimand", f"{requested}: this store has no such truth ({why}); "
                                       f"available: {', '.join(have)}")
    return requested, ""


def measure_paths(families, status_fields, pair: bool = False) -> dict:
    """{measure name in the Dataset: its path in the JSON summary}, in the Dataset's order.

    families: the estimands with a truth in the store (FAMILIES order); the headline
    measures are under "vs_estimand", each family under "vs_<estimand>" (the
    conditional one keeps "vs_conditional" with the Cox test's rejection rate)."""
    if isinstance(families, bool):    # the former signature: marginal truth or not
        families = ("conditional", "marginal") if families else ("conditional",)
    out = {k: ("vs_estimand", k) for k in ESTIMATOR}
    out.update({f"conditional_{k}": ("vs_conditional", k) for k in ESTIMATOR})
    out["rejection"] = ("vs_conditional", "rejection")
    for f in FAMILIES[1:]:
        if f in families:
            out.update({f"{f}_{k}": (f"vs_{f}", k) for k in ESTIMATOR})
    out.update({f"hr_q{q:g}": ("hr_quantiles", f"q{q:g}") for q in HR_QUANTILES})
    out["rejection_min_of_5_tests"] = ("rejection_min_of_5_tests",)
    out["rejection_any_subgroup"] = ("rejection_any_subgroup",)
    out.update({f"mean_{k}": ("mean_classes", k) for k in CLASSES})
    out.update({f"p_extreme_{k}": ("p_as_extreme_as_paper", k) for k in EXTREME})
    for k in ("match_rate", "degenerate_cox", "nothing_matched"):
        out[k] = (k,)
    for f in status_fields:
        out.update({f"{f}={r}": ("status_shares", f, r) for r in STATUS_NAMES.values()})
    if pair:
        out.update(pair_paths(families))
    return out


def _paper():
    from simkit.paper.seed import reported
    r = reported()
    return r["survival"], r["progression"]


def extreme_definitions() -> dict:
    """{measure name: what "as extreme as the paper" means} for the p_extreme_* measures.

    Each is the share of replicates (where the quantity is defined) with a result at least
    as extreme as the paper's.  Note the directions: the HR, class and median measures are
    one-sided by construction; the signed-rank measure has no direction (the store keeps
    only its two-sided p), while the OLS one also requires the paper's direction, a
    negative treated coefficient (treated decline slower)."""
    s, p = _paper()
    ratio = s["median_days_treated"] / s["median_days_reference"]
    return {
        "p_extreme_hr_and_p": f"P(Cox HR <= {s['hr']:g} and its Wald p <= {s['hr_p']:g}), the paper's HR and p; "
                              "over replicates with a finite HR",
        "p_extreme_hr": f"P(Cox HR <= {s['hr']:g}), the paper's HR; over replicates with a finite HR",
        "p_extreme_n_decreased_ge_21": f"P(at least {p['n_decreased']} patients in the decreased class), "
                                       "the paper's count",
        "p_extreme_median_ratio_ge_paper": f"P(median days treated / reference >= {s['median_days_treated']}"
                                           f"/{s['median_days_reference']} = {ratio:.3f}), the paper's ratio",
        "p_extreme_signed_rank_p": f"P(signed-rank p <= {p['signed_rank_p']:g}), the paper's p, in either "
                                   "direction (two-sided p, no sign required)",
        "p_extreme_ols_p": f"P(OLS p of the treated coefficient <= {p['ols_treated_p']:g}, the paper's p, AND "
                           "the coefficient < 0, the paper's direction: treated decline slower); one direction "
                           "only, unlike p_extreme_signed_rank_p",
    }


def condition_measures(v: dict, conditional_log_hr: float, marginal_log_hr: float | None, alpha: float = 0.05,
                       clusters=None, status_fields=(), followup_log_hr: float | None = None,
                       estimand: str = "conditional") -> dict:
    """{measure name: Measure} of one condition from its per-replicate arrays `v` (field -> array).

    The headline estimator measures (bias, coverage, ...) are against `estimand` (ESTIMANDS),
    each estimand's family (conditional_*, marginal_*, followup_marginal_*) against its truth
    when given.  clusters: one label per replicate for replicates that share a registry (MCSEs
    are then cluster-robust), or None for independent replicates."""
    s, p = _paper()
    c = clusters
    est, se = v["log_hr"], v["log_hr_se"]
    lo, hi = np.log(v["hr_ci_low"]), np.log(v["hr_ci_high"])
    cond = estimator_measures(est, se, conditional_log_hr, lo, hi, v["hr_p"], alpha, clusters=c)
    fam = {"conditional": {k: m for k, m in cond.items() if k != "rejection"}}
    for name, t in (("marginal", marginal_log_hr), ("followup_marginal", followup_log_hr)):
        if t is not None:
            fam[name] = estimator_measures(est, se, t, lo, hi, clusters=c)
    out = dict(fam[estimand])
    out["rejection"] = cond["rejection"]          # the Cox Wald test: no truth enters
    for name, ms in fam.items():
        out.update({f"{name}_{k}": m for k, m in ms.items()})
    hr = v["hr"]
    out.update({f"hr_q{q:g}": quantile(hr, q, clusters=c) for q in HR_QUANTILES})
    out["rejection_min_of_5_tests"] = rejection(v["min_survival_p"], alpha, "rejection_min5", c)
    out["rejection_any_subgroup"] = rejection(v["min_subgroup_p"], alpha, "rejection_subgroup", c)
    out.update({f"mean_{k}": mean(v[k], k, c) for k in CLASSES})
    ok = np.isfinite(hr)
    ratio = v["median_days_treated"] / v["median_days_reference"]
    ext = {
        "hr_and_p": np.where(ok, (hr <= s["hr"]) & (v["hr_p"] <= s["hr_p"]), np.nan),
        "hr": np.where(ok, hr <= s["hr"], np.nan),
        "n_decreased_ge_21": v["n_decreased"] >= p["n_decreased"],
        "median_ratio_ge_paper": np.where(np.isfinite(ratio), ratio >= s["median_days_treated"]
                                          / s["median_days_reference"], np.nan),
        "signed_rank_p": np.where(np.isfinite(v["signed_rank_p"]), v["signed_rank_p"] <= p["signed_rank_p"], np.nan),
        # same direction as the paper (treated decline slower) and p at most the paper's;
        # the signed-rank one above has no direction (extreme_definitions, docs/summary.md)
        "ols_p": np.where(np.isfinite(v["treated_p"]),
                          (v["treated_p"] <= p["ols_treated_p"]) & (v["treated_coef"] < 0), np.nan),
    }
    out.update({f"p_extreme_{k}": proportion(f, clusters=c) for k, f in ext.items()})
    out["match_rate"] = mean(v["match_rate"], "match_rate", c)
    out["degenerate_cox"] = proportion(v["cox_status"] != 0, "degenerate_cox", c)
    out["nothing_matched"] = proportion(v["replicate_status"] != 0, "nothing_matched", c)
    for f in status_fields:
        for code, reason in STATUS_NAMES.items():
            out[f"{f}={reason}"] = proportion(v[f] == code, f"{f}={reason}", c)
    if "log_hr_strat" in v:
        out.update(pair_measures(v, conditional_log_hr, marginal_log_hr, alpha, c, followup_log_hr))
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


def identifier(key: str) -> str:
    """A store coordinate's name as a Python identifier: 'treatment.hr' -> 'treatment_hr'."""
    name = re.sub(r"\W", "_", str(key))
    return name if name.isidentifier() else f"_{name}"


def condition_dims(ds) -> list:
    """The dims of a summary (or store) Dataset that index conditions (all but measure/replicate)."""
    return [d for d in ds.dims if d not in ("measure", "replicate")]


def flat(ds, name):
    """Variable or coordinate `name` per condition, in the store's condition order (C-order of the grid)."""
    cd = condition_dims(ds)
    a = ds[name].broadcast_like(ds["condition"]).transpose(*cd, ...)
    return a.values.reshape((ds["condition"].size,) + a.shape[len(cd):])


def summarize(store, estimand: str | None = None):
    """Performance of a finished `simkit run` store as an xarray.Dataset.

    estimand: what the headline measures (bias, coverage, mse, ...) judge the log HR against,
    one of ESTIMANDS; None = followup_marginal when the store's truth has it, else the best
    it has (a store written before the follow-up truth: marginal), with a note in
    attrs["estimand_note"].  attrs["estimand"] names the one used.

    Dims: the grid's parameters (as identifiers, the scenario's dotted key in each dim's
    attrs["key"]) or `condition` for explicit rows, then `measure`.  Variables: `estimate`,
    `mcse`, `n` (replicates the measure rests on) and `n_valid` (replicates with a finite log
    HR).  Coordinates per condition: the store's condition index and coordinates, the truths
    (`conditional_log_hr`, `truth_<key>` from the world's counterfactual twins) and
    `mcse_note` (how replicates share registries); per measure, `definition`: what each
    p_extreme_* measure counts (e.g. p_extreme_ols_p requires a negative coefficient,
    p_extreme_signed_rank_p no direction), empty for the others."""
    import xarray as xr

    from simkit.runner.store import open_results, read_status
    st = read_status(store)
    status_fields = [f for f in st["attrs"]["fields"] if f.endswith("_status")]
    fields = FIELDS + (PAIR_FIELDS if set(PAIR_FIELDS) <= set(st["attrs"]["fields"]) else [])
    src = open_results(store, variables=fields + status_fields)
    attrs = st["attrs"]
    nc, nr = int(attrs["n_conditions"]), int(attrs["n_replicates"])
    truths = attrs.get("truth")
    cond_lhr = attrs["conditional_log_hr"]
    if "prior_hr" in attrs["fields"]:
        # the treatment HR drawn per replicate: each replicate is judged against its own
        drawn = flat(open_results(store, variables=["prior_hr"]), "prior_hr").astype(np.float64)
        cond_lhr = list(np.log(drawn))
    alpha = float(attrs.get("alpha", 0.05))
    chosen, estimand_note = choose_estimand(estimand, truths, attrs.get("truth_note", ""))
    families = [f for f in FAMILIES if f in available_estimands(truths)]
    paths = measure_paths(families, status_fields, fields != FIELDS)
    names = list(paths)
    data = {f: flat(src, f).astype(np.float64) for f in fields + status_fields}
    est = np.full((nc, len(names)), np.nan)
    mcse = np.full((nc, len(names)), np.nan)
    n = np.zeros((nc, len(names)), dtype=np.int64)
    notes = []
    for c in range(nc):
        clusters, note = registry_clusters(attrs, c, nr)
        notes.append(note)
        ms = condition_measures({f: a[c] for f, a in data.items()}, cond_lhr[c],
                                truths[c]["marginal_log_hr"] if truths else None, alpha, clusters, status_fields,
                                followup_log_hr=(truths[c][ESTIMANDS["followup_marginal"][0]]
                                                 if "followup_marginal" in families else None),
                                estimand=chosen)
        for j, k in enumerate(names):
            if k in ms:  # be_coverage is absent when no estimate is finite
                est[c, j], mcse[c, j], n[c, j] = ms[k].estimate, ms[k].mcse, ms[k].n
    cd = condition_dims(src)
    shape = tuple(src.sizes[d] for d in cd)
    grid = lambda a: (cd, np.asarray(a).reshape(shape + np.asarray(a).shape[1:]))  # noqa: E731
    full = lambda a: (cd + ["measure"], a.reshape(shape + (len(names),)))  # noqa: E731
    coords = {d: src[d].values for d in cd}
    coords["measure"] = names
    coords["condition"] = grid(np.arange(nc))
    for k in attrs["condition_coords"]:
        if k not in cd:
            coords[k] = grid(flat(src, k))
    # a drawn HR: the coordinate holds the mean of the replicates' log HRs
    coords["conditional_log_hr"] = grid([float(np.mean(x)) if np.ndim(x) else x for x in cond_lhr])
    truth_keys = list(truths[0]) if truths else []
    for k in truth_keys:
        coords[f"truth_{k}"] = grid([np.nan if t[k] is None else t[k] for t in truths])
    coords["mcse_note"] = grid(notes)
    defs = extreme_definitions()
    coords["definition"] = ("measure", [defs.get(k, "") for k in names])
    n_valid = np.isfinite(data["log_hr"]).sum(axis=1)
    ds = xr.Dataset({"estimate": full(est), "mcse": full(mcse), "n": full(n), "n_valid": grid(n_valid)},
                    coords=coords)
    ds["estimate"].attrs["long_name"] = "performance measure"
    ds["mcse"].attrs["long_name"] = "Monte Carlo SE of the estimate"
    ds["n"].attrs["long_name"] = "replicates the measure rests on"
    ds["n_valid"].attrs["long_name"] = "replicates with a finite log HR (Cox estimable)"
    ds["definition"].attrs["long_name"] = ("what a p_extreme_* measure counts as 'as extreme as the paper' "
                                           "(empty for the other measures)")
    ds["conditional_log_hr"].attrs["long_name"] = "true conditional log HR (the scenario's treatment.hr)"
    from simkit.world.truth import TRUTH_DOCS
    for k in truth_keys:
        unit, meaning = TRUTH_DOCS.get(k, ("", k))
        ds[f"truth_{k}"].attrs["long_name"] = f"true {meaning} (truth.true_effects: counterfactual twins)"
        if unit:
            ds[f"truth_{k}"].attrs["units"] = unit
    keys = list(attrs["condition_coords"])
    ds = ds.rename({k: identifier(k) for k in keys if identifier(k) != k})
    for k in keys:
        ds[identifier(k)].attrs["key"] = k
    ds.attrs.update({"store": str(store), "seed": attrs.get("seed"), "replicates": attrs.get("replicates"),
                     "n_replicates": nr, "alpha": alpha, "condition_coords": [identifier(k) for k in keys],
                     "truth_keys": truth_keys,
                     "estimand": chosen, "estimand_description": ESTIMANDS[chosen][1],
                     "estimand_truth": ("conditional_log_hr" if ESTIMANDS[chosen][0] is None
                                        else f"truth_{ESTIMANDS[chosen][0]}"),
                     "estimand_note": estimand_note, "estimands": families,
                     "truth": (f"bias, relative_bias, mse, coverage, ... against {chosen} ("
                               + ("conditional_log_hr" if ESTIMANDS[chosen][0] is None
                                  else f"truth_{ESTIMANDS[chosen][0]}")
                               + "); conditional_* against conditional_log_hr"
                               + ("; marginal_* against truth_marginal_log_hr" if "marginal" in families else "")
                               + ("; followup_marginal_* against truth_marginal_log_hr_followup"
                                  if "followup_marginal" in families else "")),
                     "reference": "Morris, White & Crowther (2019) Stat Med 38:2074, Table 6"})
    return ds


def measure(ds, name: str, c: int | None = None) -> Measure:
    """One measure of a one-condition selection of a summary (or of condition c)."""
    sel = ds.sel(measure=name)
    if c is not None:
        e, s, k = (flat(sel, v)[c] for v in ("estimate", "mcse", "n"))
    else:
        e, s, k = sel["estimate"].item(), sel["mcse"].item(), sel["n"].item()
    return Measure(name, float(e), float(s), int(k))


def to_json(ds) -> dict:
    """The nested dict of `simkit summarize --json` (keys as before the Dataset, plus `status_shares`)."""
    nc = ds["condition"].size
    estimand = ds.attrs.get("estimand", "conditional")
    families = ds.attrs.get("estimands") or [f for f in FAMILIES if f"{f}_bias" in ds["measure"].values]
    paths = measure_paths(families, _status_fields(ds), "strat_bias" in ds["measure"].values)
    names = list(ds["measure"].values)
    est, mcse, n = (flat(ds, v) for v in ("estimate", "mcse", "n"))
    keys = ds.attrs["condition_coords"]
    coord_vals = {ds[k].attrs["key"]: flat(ds, k) for k in keys}
    truth = {"conditional_log_hr": flat(ds, "conditional_log_hr")}
    truth.update({k: flat(ds, f"truth_{k}") for k in ds.attrs["truth_keys"]})
    notes = flat(ds, "mcse_note")
    rows = []
    for c in range(nc):
        row = {"condition": c, "coords": {k: v[c].item() for k, v in coord_vals.items()},
               "mcse_note": str(notes[c]), "n_replicates": int(ds.attrs["n_replicates"]),
               "estimand": estimand, "vs_estimand": {}, "vs_conditional": {},
               "truth": {k: v[c].item() for k, v in truth.items()}}
        for j, name in enumerate(names):
            path = paths[name]
            if path[-1] == "be_coverage" and n[c, j] == 0:
                continue  # as before: no bias-eliminated coverage without a finite estimate
            d = row
            for p in path[:-1]:
                d = d.setdefault(p, {})
            d[path[-1]] = Measure(name, est[c, j], mcse[c, j], n[c, j]).to_dict()
        rows.append(row)
    return {"store": ds.attrs["store"], "seed": ds.attrs["seed"], "replicates": ds.attrs["replicates"],
            "alpha": ds.attrs["alpha"], "estimand": estimand,
            "estimand_description": ds.attrs.get("estimand_description", ESTIMANDS[estimand][1]),
            "estimand_note": ds.attrs.get("estimand_note", ""), "conditions": rows}


def _status_fields(ds):
    return list(dict.fromkeys(str(m).split("=")[0] for m in ds["measure"].values if "=" in str(m)))
