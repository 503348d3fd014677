"""`simkit infer`: the posterior of the true effect and the biases given a paper's reported numbers.

1. The study: the scenario's world, its [priors] (mechanism magnitudes) plus a prior on
   the true conditional HR and on the slope effect (EFFECT_PRIORS, unless the scenario
   has its own), and the design as the paper reports it (n, caliper, exact variables,
   enrolment years, end of follow-up).  One condition, `reps` replicates, each drawing
   its own world from the priors: the prior predictive reference table.
2. The runner runs it into OUT/simulations.zarr (resumable: an interrupted inference
   rerun with the same arguments computes only the missing chunks).
3. The summaries: each evidence number's field (times its scale, logged if its
   transform says so; a KM median not reached counts as CAP_FACTOR times the largest
   median reached in the table, i.e. "beyond follow-up"), compared with the number's
   interval and scaled by the prior predictive normalised MAD (simkit.inference.abc).
4. Rejection ABC (the closest `quantile` of the simulations) and its local-linear
   regression adjustment on logit-transformed parameters (the reported posterior).
5. Posterior predictive checks of every reported number (leave-one-out for evidence
   numbers: the worlds accepted on the other evidence numbers), the effective sample
   size of the kernel weights and a registry-block bootstrap of the whole computation
   for the Monte Carlo error.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.errors import InputError
from simkit.inference import abc

DEFAULT_SCENARIO = "infer-priors.toml"
DEFAULT_REPS = 20_000          # the table methods and smc; marginal: marginal.DEFAULT_REPS (100,000)
DEFAULT_QUANTILE = 0.05
METHODS = ("marginal", "smc", "semiauto", "summaries", "rejection")
DEFAULT_METHOD = "marginal"
TABLE_METHOD = "semiauto"     # what posterior() computes from the reference table alone by default
N_BOOT = 100
MIN_ACCEPTED_FOR_ADJUSTMENT = 200
CAP_FACTOR = 1.25
HR_NULL = 0.9                 # "no meaningful effect": true HR >= this
# The effect's priors when the scenario gives none (stated assumptions, docs/inference.md):
# the true conditional HR log-uniform from a fivefold benefit to a twofold harm (the paper's
# 0.30 and the null both well inside), the slope effect from -1 point/month (slower) to +0.5.
EFFECT_PRIORS = {
    "treatment.hr": {"dist": "loguniform", "low": 0.2, "high": 2.0},
    "treatment.rate_change": {"dist": "uniform", "low": -1.0, "high": 0.5},
}
MEDIAN_FIELDS = ("median_days_treated", "median_days_reference")
METHOD_TEXT = {
    "marginal": "each parameter's marginal posterior by rejection ABC on its own semi-automatic summary (the linear "
                "prediction of the parameter from the summaries, Fearnhead & Prangle 2012), regression-adjusted "
                "(Beaumont et al. 2002), in independent parts of the reference table; joint draws by Nott et al.'s "
                "(2014) marginal adjustment of the semi-automatic joint posterior",
    "smc": "sequential Monte Carlo ABC (adaptive SMC-ABC, Del Moral et al. 2012, with Drovandi & Pettitt's 2011 "
           "replenishment moves) in independent runs, each from its part of the reference table, on the distance of "
           "the "
           "summaries' linear projections onto the parameters (Fearnhead & Prangle 2012), regression-adjusted "
           "(Beaumont et al. 2002)",
    "rejection": "rejection ABC (the baseline): the closest quantile of the reference table on the distance of "
                 "the summaries' linear projections onto the parameters (Fearnhead & Prangle 2012), no adjustment",
    "semiauto": "semi-automatic ABC (Fearnhead & Prangle 2012: distance on the summaries' linear projections "
                "onto each parameter, fitted on the reference table), closest quantile accepted, "
                "local-linear regression adjustment (Beaumont et al. 2002)",
    "summaries": "rejection ABC on the scaled summaries (closest quantile) + local-linear regression "
                 "adjustment (Beaumont et al. 2002)",
}


# ---------------------------------------------------------------- the study

def _flat_priors(table) -> dict:
    flat = {}
    for k, v in (table or {}).items():
        if isinstance(v, dict) and "dist" not in v and k in ("world", "mechanisms", "treatment"):
            for kk, vv in v.items():
                flat[f"{k}.{kk}"] = vv
        else:
            flat[k] = v
    return flat


def _year(text: str, where: str) -> float:
    """'2020-03' -> the end of March 2020 as a decimal year (2020.25); '2020' -> 2021.0."""
    try:
        parts = [int(x) for x in str(text).split("-")]
        if len(parts) == 1:
            return float(parts[0] + 1)
        y, m = parts[:2]
        if not 1 <= m <= 12:
            raise ValueError
        return y + m / 12.0
    except ValueError:
        raise InputError(where, f"expected a date like \"2020-03\" or \"2020\", got {text!r}") from None


def design_overrides(paper) -> tuple[dict, list]:
    """Scenario values the paper's reported design sets: ({'design.n_treated': 67, ...}, notes)."""
    from simkit.design.choices import CALIPER_UNIT, EXACT_VARIABLES
    d = paper.design
    out = {"design.n_treated": d.n_treated}
    notes = [f"n_treated = {d.n_treated} (paper)"]
    if d.get("caliper") is not None:
        unit = d.get("caliper_unit", "")
        if not CALIPER_UNIT.lower().startswith(unit.strip().lower()) or not unit.strip():
            raise InputError("PAPER design.caliper_unit", f"simkit's caliper is in {CALIPER_UNIT}; the paper's "
                                                          f"unit {unit!r} cannot be simulated")
        out["design.caliper"] = float(d.get("caliper"))
        notes.append(f"caliper = {d.get('caliper')} {unit} (paper)")
    if d.get("exact") is not None:
        bad = [v for v in d.get("exact") if v not in EXACT_VARIABLES]
        if bad:
            raise InputError("PAPER design.exact", f"{bad[0]!r} cannot be matched exactly in simkit's world; "
                                                   f"allowed: {', '.join(EXACT_VARIABLES)}")
        out["design.exact"] = list(d.get("exact"))
        notes.append(f"exact = {', '.join(d.get('exact'))} (paper)")
    if d.get("enrolment_years") is not None:
        ys = d.get("enrolment_years")
        if len(ys) != 2 or ys[0] > ys[1]:
            raise InputError("PAPER design.enrolment_years", f"expected [first, last], got {ys}")
        out["world.enrol_start"] = float(ys[0])
        out["world.enrol_end"] = float(ys[1]) + 1.0
        notes.append(f"enrolment {ys[0]} to the end of {ys[1]} (paper)")
    if d.get("followup_end") is not None:
        out["world.censor_date"] = _year(d.get("followup_end"), "PAPER design.followup_end")
        notes.append(f"follow-up ends {d.get('followup_end')} = {out['world.censor_date']:.3f} (paper)")
    return out, notes


def scenario_data(scenario=None) -> tuple[str, dict]:
    """(path, parsed dict) of the scenario `simkit infer` uses (default: the shipped infer-priors.toml)."""
    from simkit.runner.scenario import read_toml
    if scenario is None:
        from simkit.report.audit import scenario_dir
        scenario = scenario_dir() / DEFAULT_SCENARIO
    return str(scenario), read_toml(scenario)[1]


def study_for(paper, scenario=None, reps: int = DEFAULT_REPS, hr_prior=None, seed: int | None = None,
              data: dict | None = None):
    """(Study, notes): the scenario (or its parsed `data`) with the effect's priors and the paper's
    design, one condition."""
    from simkit.runner.grid import study_from_dict
    if data is None:
        scenario, data = scenario_data(scenario)
    data = copy.deepcopy(data)
    for k in ("grid", "conditions"):
        if k in data:
            raise InputError(f"{scenario}: {k}", "simkit infer needs one world with priors, not a grid of "
                                                 "conditions: drop the [grid] / [[conditions]]")
    priors = _flat_priors(data.get("priors"))
    notes = []
    effect = dict(EFFECT_PRIORS)
    if hr_prior is not None:
        effect["treatment.hr"] = {"dist": "loguniform", "low": float(hr_prior[0]), "high": float(hr_prior[1])}
        priors.pop("treatment.hr", None)
    for k, spec in effect.items():
        if k not in priors:
            priors[k] = spec
            notes.append(f"prior {k}: {spec['dist']}({spec['low']:g}, {spec['high']:g})"
                         + (" (--hr-prior)" if hr_prior is not None and k == "treatment.hr" else " (default)"))
        else:
            notes.append(f"prior {k}: the scenario's")
    data["priors"] = priors
    # every simulated study its own registry: the registry-side priors (reference_death_selection,
    # differential_followup) are then drawn independently per study, not shared by a block of studies
    # (with blocks of 50 a posterior near a prior's end rested on a handful of registries)
    data.setdefault("design", {})["pool_policy"] = "replicate"
    notes.append("a new registry for every simulated study (pool_policy = replicate)")
    over, dnotes = design_overrides(paper)
    for dotted, v in over.items():
        sec, name = dotted.split(".")
        data.setdefault(sec, {})[name] = v
    data["replicates"] = int(reps)
    if seed is not None:
        data["seed"] = int(seed)
    try:
        study = study_from_dict(data, text=json.dumps(data, sort_keys=True, default=str), path=str(scenario))
    except InputError as e:
        raise InputError(f"{scenario} with the paper's design: {e.where}", e.message) from None
    return study, notes + dnotes


# ---------------------------------------------------------------- summaries

@dataclass(frozen=True)
class Summaries:
    names: tuple
    s: np.ndarray           # (n, m) transformed summaries
    low: np.ndarray         # (m,) observed intervals, transformed
    high: np.ndarray
    caps: dict              # field -> the printed-space value a median not reached counts as


def _printed(number, fields, caps):
    x = number.scale * np.asarray(fields[number.field], float)
    if number.field in MEDIAN_FIELDS:
        x = np.where(np.isnan(x), caps[number.field], x)
    return x


def summaries(numbers, fields: dict, caps: dict | None = None) -> Summaries:
    """The evidence numbers as transformed summaries of the simulations and observed intervals."""
    if caps is None:
        caps = {}
        for n in numbers:
            if n.field in MEDIAN_FIELDS:
                x = n.scale * np.asarray(fields[n.field], float)
                top = float(np.nanmax(x)) if np.isfinite(x).any() else 1.0
                caps[n.field] = CAP_FACTOR * max(top, n.low if math.isfinite(n.low) else 0.0,
                                                 n.high if math.isfinite(n.high) else 0.0)
    cols, lo, hi = [], [], []
    for n in numbers:
        x = _printed(n, fields, caps)
        a, b = n.low, n.high
        if n.transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)
            a, b = math.log(a), (math.log(b) if math.isfinite(b) else math.inf)
        cols.append(x)
        lo.append(a)
        hi.append(b)
    return Summaries(tuple(n.name for n in numbers), np.column_stack(cols), np.array(lo), np.array(hi), caps)


# ---------------------------------------------------------------- the posterior

@dataclass(frozen=True)
class Param:
    name: str
    section: str
    lo: float
    hi: float
    log: bool
    describe: str


def params_of(priors) -> list:
    out = []
    for p in priors.items:
        if p.dist == "fixed":
            continue
        lo, hi = p.support()
        out.append(Param(p.name, p.section, lo, hi, p.dist in ("loguniform", "integer_loguniform"), p.describe()))
    return out


def log_prior_unbounded(params: list, priors):
    """log density of the priors of `params` on the real line of abc.to_unbounded (the logit of each support,
    on the log scale for log-uniform ones): the prior's density of u = the position in the support, times
    u (1 - u)."""
    from scipy import stats
    items = {p.name: p for p in priors.items}
    parts = []
    for q in params:
        pr = items[q.name]
        a = pr.args
        if pr.dist == "normal":
            parts.append(lambda z, a=a: stats.norm.logpdf(z, a[0], a[1]))
            continue
        if pr.dist in ("uniform", "loguniform", "integer_uniform", "integer_loguniform"):
            f = None
        elif pr.dist == "triangular":
            f = stats.triang((a[1] - a[0]) / (a[2] - a[0])).logpdf
        elif pr.dist == "truncnormal":
            f = (lambda u, a=a: stats.truncnorm.logpdf(a[2] + u * (a[3] - a[2]), (a[2] - a[0]) / a[1],
                                                        (a[3] - a[0]) / a[1], a[0], a[1]) + math.log(a[3] - a[2]))
        elif pr.dist == "beta":
            f = stats.beta(a[0], a[1]).logpdf
        else:
            raise ValueError(f"no density for a {pr.dist} prior")

        def part(z, f=f):
            ls = -np.logaddexp(0.0, -z)          # log u
            l1 = -np.logaddexp(0.0, z)           # log (1 - u)
            return ls + l1 + (0.0 if f is None else f(np.exp(ls)))
        parts.append(part)

    def log_prior(z: np.ndarray) -> np.ndarray:
        return np.sum([parts[i](z[:, i]) for i in range(z.shape[1])], axis=0)
    return log_prior


@dataclass(frozen=True)
class Table:
    """The reference table as the methods use it: the parameters with priors, their draws (theta) and on the
    real line (z), the reachable evidence numbers' summaries and their scales."""
    params: list
    names: list
    theta: np.ndarray
    z: np.ndarray
    S: Summaries
    numbers: list
    scale: np.ndarray
    unreachable: list


def table_of(paper, priors, fields: dict) -> Table:
    """The reference table's parameters and summaries; evidence numbers no world reaches are dropped (named in
    `unreachable`)."""
    params = params_of(priors)
    names = [q.name for q in params]
    if "hr" not in names:
        raise InputError("--scenario", "the study has no prior on treatment.hr: nothing to infer about the "
                                       "true effect")
    evidence = paper.evidence()
    theta = np.column_stack([np.asarray(fields[f"prior_{n}"], float) for n in names])
    S = summaries(evidence, fields)
    far = abc.unreachable(S.s, S.low, S.high)
    if far.all():
        raise InputError("PAPER", "no evidence number is within the prior predictive range of the simulated "
                                  "studies: " + ", ".join(S.names))
    numbers = [n for n, f in zip(evidence, far) if not f]
    S = summaries(numbers, fields, S.caps)
    scale = np.array([abc.robust_scale(S.s[:, j]) for j in range(S.s.shape[1])])
    z = np.column_stack([abc.to_unbounded(theta[:, i], q.lo, q.hi, q.log) for i, q in enumerate(params)])
    return Table(params, names, theta, z, S, numbers, scale, [n.name for n, f in zip(evidence, far) if f])


def fill_parameters(res: dict, params: list, theta: np.ndarray, S: Summaries, posterior_of) -> np.ndarray:
    """The parts of a result every table-split method shares: the rejection baseline on the whole table,
    each parameter's prior and posterior (median, 90% interval; posterior_of(j) -> (values, weights)),
    filed as the slope effect, a mechanism (the analyst's peek among them) or a world parameter.  Returns the
    baseline's accepted rows."""
    ih = [q.name for q in params].index("hr")
    idx, _, _, _, _, _ = _core(S, theta, params, DEFAULT_QUANTILE)
    res["rejection"] = {"true_hr": _three(theta[idx, ih], np.ones(idx.size)),
                        "p_true_hr_ge_0_9": float(np.mean(theta[idx, ih] >= HR_NULL))}
    for j, q in enumerate(params):
        res["prior"][q.name] = _three(theta[:, j], np.ones(theta.shape[0]))
        if q.name == "hr":
            continue
        three = _three(*posterior_of(j))
        if q.name == "rate_change":
            res["slope_effect"] = three
        elif q.section in ("mechanisms", "design"):
            res["mechanisms"][q.name] = three
        else:
            res["world"][q.name] = three
    return idx


def spread_mcse(answers: list, by: str) -> dict:
    """The Monte Carlo error of K independent answers' pooled result: SD over them / sqrt(K) of the log true
    HR's median and 90% ends and of P(true HR >= 0.9) (answers: dicts with "true_hr" and "p_true_hr_ge_0_9")."""
    k = len(answers)
    stats = np.array([[math.log(r["true_hr"]["median"]), math.log(r["true_hr"]["low"]),
                       math.log(r["true_hr"]["high"]), r["p_true_hr_ge_0_9"]] for r in answers])
    sd = stats.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.full(4, np.nan)
    return {"log_true_hr_median": float(sd[0]), "log_true_hr_low": float(sd[1]),
            "log_true_hr_high": float(sd[2]), "p_true_hr_ge_0_9": float(sd[3]),
            "by": f"{k} independent {by} (SD of their answers / sqrt({k}))", "runs": k}


def _core(S: Summaries, theta: np.ndarray, params: list, quantile: float, scale=None, method=None):
    """One ABC pass: (accepted idx, eps, kernel weights, adjusted theta of the accepted, scale, distances)."""
    method = method or TABLE_METHOD
    zall = np.column_stack([abc.to_unbounded(theta[:, i], p.lo, p.hi, p.log) for i, p in enumerate(params)])
    if scale is None:
        scale = np.array([abc.robust_scale(S.s[:, j]) for j in range(S.s.shape[1])])
    if method in ("semiauto", "rejection"):
        P, p_obs, pscale = abc.semiauto(S.s, S.low, S.high, scale, zall)
        d = abc.distances(P, p_obs, p_obs, pscale)
    else:
        d = abc.distances(S.s, S.low, S.high, scale)
    idx, eps = abc.rejection(d, quantile)
    if method == "rejection":
        return idx, eps, np.ones(idx.size), theta[idx], scale, d
    w = abc.epanechnikov(d[idx], eps)
    if w.sum() <= 0:
        w = np.ones(idx.size)
    if method == "semiauto":
        lo_t, hi_t = abc.reachable_target(P[idx], p_obs, p_obs)
        g = abc.gaps(P[idx], lo_t, hi_t) / pscale
    else:
        lo_t, hi_t = abc.reachable_target(S.s[idx], S.low, S.high)
        g = abc.gaps(S.s[idx], lo_t, hi_t) / scale
    z = zall[idx]
    za = abc.regression_adjust(z, g, w)
    adj = np.column_stack([abc.from_unbounded(za[:, i], p.lo, p.hi, p.log) for i, p in enumerate(params)])
    return idx, eps, w, adj, scale, d


def _three(x, w):
    q = abc.weighted_quantile(x, w, [0.5, 0.05, 0.95])
    return {"median": float(q[0]), "low": float(q[1]), "high": float(q[2])}


def posterior(paper, fields: dict, priors, quantile: float = DEFAULT_QUANTILE, groups=None,
              n_boot: int = N_BOOT, seed: int = 0, drop_unreachable: bool = True, method: str | None = None) -> dict:
    """The inference from a reference table: fields = {store field: f8[n]} holding every number's field
    and prior_<name> for every prior; groups = registry labels of the rows (for the bootstrap)."""
    numbers = paper.evidence()
    params = params_of(priors)
    names = [p.name for p in params]
    if "hr" not in names:
        raise InputError("--scenario", "the study has no prior on treatment.hr: nothing to infer about the "
                                       "true effect")
    theta = np.column_stack([np.asarray(fields[f"prior_{n}"], float) for n in names])
    S = summaries(numbers, fields)
    far = abc.unreachable(S.s, S.low, S.high) if drop_unreachable else np.zeros(len(numbers), bool)
    if far.all():
        raise InputError("PAPER", "no evidence number is within the prior predictive range of the simulated "
                                  "studies: " + ", ".join(S.names))
    if far.any():
        numbers = [n for n, f in zip(numbers, far) if not f]
        S = summaries(numbers, fields, S.caps)
    idx, eps, w, adj, scale, d = _core(S, theta, params, quantile, method=method)
    ih = names.index("hr")
    n_valid = int(np.isfinite(d).sum())
    res = {
        "paper": paper.citation,
        "method": METHOD_TEXT[method or TABLE_METHOD],
        "n_simulations": int(theta.shape[0]), "n_valid": n_valid, "n_accepted": int(idx.size),
        "acceptance_rate": idx.size / max(theta.shape[0], 1), "quantile": quantile, "eps": eps,
        "ess": abc.ess(w),
        "true_hr": _three(adj[:, ih], w),
        "p_true_hr_ge_0_9": float(np.sum(w * (adj[:, ih] >= HR_NULL)) / np.sum(w)),
        "prior_p_true_hr_ge_0_9": float(np.mean(theta[np.isfinite(d), ih] >= HR_NULL)),
        "rejection": {"true_hr": _three(theta[idx, ih], np.ones(idx.size)),
                      "p_true_hr_ge_0_9": float(np.mean(theta[idx, ih] >= HR_NULL))},
        "mechanisms": {}, "world": {}, "prior": {},
        "unreachable_evidence": [n for n, f in zip([x.name for x in paper.evidence()], far) if f],
        "warnings": [],
    }
    if idx.size < MIN_ACCEPTED_FOR_ADJUSTMENT:
        res["warnings"].append(
            f"only {idx.size} simulations accepted: the regression adjustment needs a few hundred (simulation-"
            f"based calibration: 90% intervals covered 0.83 with 100 accepted, 0.91 with 500); read the "
            f"rejection posterior or raise --reps")
    for i, p in enumerate(params):
        three = _three(adj[:, i], w)
        res["prior"][p.name] = _three(theta[np.isfinite(d), i], np.ones(n_valid))
        if p.name == "hr":
            continue
        if p.name == "rate_change":
            res["slope_effect"] = three
        elif p.section == "mechanisms":
            res["mechanisms"][p.name] = three
        else:
            res["world"][p.name] = three      # world (and other treatment) parameters with priors
    res["summaries"] = [{"name": n.name, "field": n.field, "interval": [n.low, n.high], "transform": n.transform,
                         "scale_of_distance": float(s)} for n, s in zip(numbers, scale)]
    res["predictive_checks"] = {}         # run_inference: fresh studies at posterior draws (sequential.py)
    res["mcse"] = _bootstrap(S, theta, params, quantile, groups, n_boot, seed, method) if n_boot else {}
    res["_samples"] = {"names": names, "adjusted": adj, "weights": w, "accepted_prior": theta[idx],
                       "prior": theta[np.isfinite(d)]}
    return res


def _bootstrap(S, theta, params, quantile, groups, n_boot, seed, method=None) -> dict:
    """SDs over a bootstrap of the reference table (by registry block when registries are shared) of the
    log true HR's posterior median and 90% ends and of P(true HR >= 0.9): the answer's Monte Carlo error."""
    rng = np.random.default_rng(seed)
    n = theta.shape[0]
    labels = np.arange(n) if groups is None else np.asarray(groups)
    uniq, inv = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(uniq.size)]
    ih = [p.name for p in params].index("hr")
    rows = []
    for _ in range(n_boot):
        pick = np.concatenate([members[g] for g in rng.integers(0, uniq.size, uniq.size)])
        Sb = Summaries(S.names, S.s[pick], S.low, S.high, S.caps)
        try:
            _, _, w, adj, _, _ = _core(Sb, theta[pick], params, quantile, method=method)
        except ValueError:
            continue
        q = abc.weighted_quantile(np.log(adj[:, ih]), w, [0.5, 0.05, 0.95])
        rows.append([*q, np.sum(w * (adj[:, ih] >= HR_NULL)) / np.sum(w)])
    r = np.array(rows)
    return {"log_true_hr_median": float(r[:, 0].std(ddof=1)), "log_true_hr_low": float(r[:, 1].std(ddof=1)),
            "log_true_hr_high": float(r[:, 2].std(ddof=1)), "p_true_hr_ge_0_9": float(r[:, 3].std(ddof=1)),
            "n_boot": len(rows), "by": "registry block" if groups is not None else "replicate"}


# ---------------------------------------------------------------- from a store

def store_fields(paper, store, priors) -> tuple[dict, np.ndarray | None]:
    """(fields, registry labels) read from a complete inference store."""
    from simkit.report.summary import registry_clusters
    from simkit.runner.store import read_fields
    names = sorted({n.field for n in paper.numbers.values()} | {f"prior_{p.name}" for p in priors.items})
    attrs, data = read_fields(store, names)
    fields = {k: v[0] for k, v in data.items()}
    groups, _ = registry_clusters(attrs, 0, attrs["n_replicates"])
    return fields, groups


def run_inference(paper_path, scenario=None, reps=None, out="infer-out", jobs=None, quantile=DEFAULT_QUANTILE,
                  hr_prior=None, seed=None, progress=None, plot=True, n_boot=N_BOOT, method=None, runs=None,
                  particles=None, budget=None, predictive=None) -> dict:
    """`simkit infer`: run (or resume) the reference table under OUT and, for the SMC method, its sequential
    runs under OUT/smc, and return the posterior (also written to OUT/posterior.json, OUT/posterior.csv and
    OUT/pairs.png)."""
    from simkit.inference import marginal as MG
    from simkit.inference import sequential as SQ
    from simkit.paper.file import load_paper
    from simkit.runner.grid import build_job
    from simkit.runner.montecarlo import run as mc_run
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise InputError("--method", f"expected one of {', '.join(METHODS)}, got {method!r}")
    if not 0 < quantile < 1:
        raise InputError("--quantile", f"expected a number in (0, 1), got {quantile}")
    if reps is None:
        reps = MG.DEFAULT_REPS if method == "marginal" else DEFAULT_REPS
    if reps < 100:
        raise InputError("--reps", f"expected at least 100 simulations, got {reps}")
    if runs is None:
        runs = MG.DEFAULT_PARTS if method == "marginal" else SQ.DEFAULT_RUNS
    particles = SQ.DEFAULT_PARTICLES if particles is None else particles
    budget = SQ.DEFAULT_BUDGET if budget is None else budget
    predictive = SQ.PREDICTIVE_DRAWS if predictive is None else predictive
    for flag, v, lo in (("--runs", runs, 2), ("--particles", particles, 10), ("--budget", budget, 0),
                        ("--predictive", predictive, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(flag, f"expected a whole number >= {lo}, got {v!r}")
    paper = load_paper(paper_path)
    study, notes = study_for(paper, scenario, reps, hr_prior, seed)
    outd = Path(out)
    try:
        outd.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError("--out", f"cannot create {out}: {e.strerror or e}") from None
    job = build_job(study, replicates=reps, with_truth=False)
    info = mc_run(job, outd / "simulations.zarr", jobs=jobs, progress=progress)
    fields, groups = store_fields(paper, outd / "simulations.zarr", study.priors)
    if method == "marginal":
        res = MG.infer(paper, study, fields, outd, parts=runs, quantile=quantile, jobs=jobs, progress=progress,
                       predictive=predictive)
    elif method == "smc":
        res = SQ.infer(paper, study, fields, groups, outd, runs=runs, particles=particles, budget=budget,
                       jobs=jobs, progress=progress, predictive=predictive)
    else:
        res = posterior(paper, fields, study.priors, quantile, groups, n_boot, method=method)
        if predictive:
            smp = res["_samples"]
            sim = SQ.Simulator(study, params_of(study.priors), outd / "smc", jobs, progress)
            (outd / "smc").mkdir(exist_ok=True)
            need = sorted({n.field for n in paper.numbers.values()})
            res["predictive_checks"], res["predictive_draws"] = SQ.predictive_checks(
                paper, sim, smp["adjusted"], smp["weights"], predictive, SQ._seed(study.seed, 3), need)
    res["method_name"] = method
    res["scenario"] = str(study.base.path)
    res["study_notes"] = notes
    res["store"] = str(outd / "simulations.zarr")
    res["run"] = {"chunks_computed": info.n_chunks_computed, "chunks_already_done": info.n_chunks_skipped,
                  "seconds": info.seconds}
    write_outputs(res, outd, plot)
    return res


def clean(obj):
    """JSON-able: numpy scalars as Python numbers, NaN and inf as None."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def public(res: dict) -> dict:
    return {k: v for k, v in res.items() if not k.startswith("_")}


def write_outputs(res: dict, outd: Path, plot: bool = True):
    (outd / "posterior.json").write_text(json.dumps(clean(public(res)), indent=2, allow_nan=False) + "\n")
    smp = res["_samples"]
    head = ",".join(["weight"] + smp["names"])
    body = np.column_stack([smp["weights"], smp["adjusted"]])
    np.savetxt(outd / "posterior.csv", body, delimiter=",", header=head, comments="", fmt="%.6g")
    if plot:
        from simkit.report.plots import pairs_plot
        pairs_plot(smp, outd / "pairs.png", title=res["paper"][:80])


def render(res: dict) -> str:
    """The answer as text."""
    def three(t, f="{:.3g}"):
        return f"{f.format(t['median'])} (90% interval {f.format(t['low'])} to {f.format(t['high'])})"
    m = res.get("mcse", {})
    lines = [f"simkit infer: {res['paper'][:100]}", ""]
    lines += [f"  {x}" for x in res.get("study_notes", [])]
    if "smc" in res:
        sm = res["smc"]
        lines += ["", f"{res['n_simulations']:,} simulated studies: the reference table's {res['n_reference']:,} "
                      f"({res['n_valid']:,} with every evidence number) and {sm['simulations_after_table']:,} in "
                      f"{len(sm['runs'])} independent SMC runs of {sm['particles_per_run']:,} particles ("
                      f"generations {', '.join(str(r['generations']) for r in sm['runs'])}; last moves accepted "
                      f"{res['acceptance_rate']:.3f}; effective sample size {res['ess']:.0f}); {res['method']}", ""]
    elif "marginal" in res:
        mg = res["marginal"]
        lines += ["", f"{res['n_simulations']:,} simulated studies ({res['n_valid']:,} with every evidence number) "
                      f"in {len(mg['parts'])} independent parts of {mg['part_size']:,}; in each part the closest "
                      f"{mg['quantile_per_part']:.3g} accepted per parameter (for the true HR {res['n_accepted']:,} "
                      f"in all, effective sample size {res['ess']:.0f}); {res['method']}", ""]
    else:
        lines += ["", f"{res['n_simulations']:,} simulated studies ({res['n_valid']:,} with every evidence number), "
                      f"{res['n_accepted']:,} accepted (acceptance rate {res['acceptance_rate']:.3f}, "
                      f"effective sample size {res['ess']:.0f}); {res['method']}", ""]
    for wtext in res.get("warnings", []):
        lines += [f"warning: {wtext}", ""]
    if res.get("unreachable_evidence"):
        lines += ["evidence numbers no world of the prior reaches (outside the central 99.8% of the simulated "
                  "studies; not fitted, see their checks): " + ", ".join(res["unreachable_evidence"]), ""]
    lines.append("true HR:                 " + three(res["true_hr"])
                 + (f"; MCSE of log ends {m.get('log_true_hr_low', float('nan')):.3f} / "
                    f"{m.get('log_true_hr_high', float('nan')):.3f} ({m.get('by', '')})" if m else ""))
    lines.append("  rejection only:        " + three(res["rejection"]["true_hr"]))
    lines.append(f"P(true HR >= 0.9):       {res['p_true_hr_ge_0_9']:.3f} posterior (MCSE "
                 f"{m.get('p_true_hr_ge_0_9', float('nan')):.3f}) vs {res['prior_p_true_hr_ge_0_9']:.3f} prior")
    if "slope_effect" in res:
        lines.append("slope effect (points/month): " + three(res["slope_effect"]))
    lines += ["", "mechanisms (posterior median, 90% interval; prior 90% interval):"]
    for k, t in res["mechanisms"].items():
        pr = res["prior"][k]
        lines.append(f"  {k:<28}{three(t)};  prior {pr['low']:.3g} to {pr['high']:.3g}")
    lines += ["", f"posterior predictive checks (p against {res.get('predictive_draws', 0)} fresh studies at "
                  f"posterior draws; * evidence; ! p < 0.05):"]
    ev = {s["name"] for s in res["summaries"]}
    for k, p in res["predictive_checks"].items():
        ok = p is not None and math.isfinite(p)
        flag = "!" if ok and p < 0.05 else " "
        lines.append(f"  {flag} {k:<34}{'*' if k in ev else ' '} {p:.3f}" if ok else f"    {k:<34}  -")
    return "\n".join(lines)
