"""One full replicate of the seed design, written the straightforward way.

This is what a competent analyst would write with pandas, lifelines, statsmodels
and scipy: the data come from simkit's world generators (numba; the same
patients simkit's replicate sees, so both sides analyse the same data), then
matching with pandas filtering (1:1 nearest pre-slope within the caliper, exact
on sex, race, onset, FT9 stage and riluzole, treated in the order given,
without replacement), the matched table as a DataFrame, and the seed analysis:
CoxPHFitter (Efron), Kaplan-Meier medians, logrank_test with the four
weightings, response classes, Logit, scipy's wilcoxon, OLS and
chi2_contingency per subgroup factor.  bench_replicate.py times it against
simkit's replicate and checks that both report the same numbers.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from simkit.world import model as world
from simkit.kernels import history as H

Z = 1.959963984540054
EXACT = ("sex", "race", "onset", "ft9_stage", "riluzole")


def pool_frame(theta, key, n: int) -> pd.DataFrame:
    """The registry pool as a DataFrame (index = pool index), with patient keys."""
    p = world.generate_pool(theta, key, n)
    df = pd.DataFrame(p.data, columns=list(H.PB_NAMES))
    df["key"] = p.keys
    return df


def candidates(pool: pd.DataFrame) -> pd.DataFrame:
    """Pool members who can serve as a reference: a baseline with every visit the
    design needs, and no missing matching variable."""
    ok = (pool["eligible"] > 0.5) & pool["pre_slope"].notna()
    for c in EXACT:
        ok &= pool[c].notna()
    return pool[ok]


def match_nearest(treated: pd.DataFrame, cand: pd.DataFrame, caliper: float) -> list[tuple[int, int]]:
    """Greedy 1:1 nearest-neighbour matching without replacement, as an analyst
    writes it: filter the candidates of each treated patient, take the nearest."""
    taken = np.zeros(len(cand), dtype=bool)
    cand = cand.assign(_pos=np.arange(len(cand)))
    pairs = []
    for i, t in treated.iterrows():
        c = cand[(cand.sex == t.sex) & (cand.race == t.race) & (cand.onset == t.onset)
                 & (cand.ft9_stage == t.ft9_stage) & (cand.riluzole == t.riluzole)]
        c = c[~taken[c["_pos"].to_numpy()]]
        dist = (c.pre_slope - t.pre_slope).abs()
        dist = dist[dist <= caliper + 1e-9]   # slopes are multiples of 1/6: a caliper of 0.5 means <= 0.5
        if len(dist):
            j = dist.idxmin()                 # first (lowest pool index) among ties
            taken[c.loc[j, "_pos"]] = True
            pairs.append((i, j))
    return pairs


def matched_table(tr: pd.DataFrame, pool: pd.DataFrame, outcomes: pd.DataFrame, pairs) -> pd.DataFrame:
    """Long table: one row per patient, pair_id, arm and the contract's columns."""
    ti = [i for i, _ in pairs]
    pj = [j for _, j in pairs]
    t = tr.loc[ti].reset_index(drop=True)
    r = pool.loc[pj].reset_index(drop=True)
    o = outcomes.reset_index(drop=True)
    n = len(pairs)
    common = ["sex", "race", "onset", "riluzole", "age", "ft9_stage", "alsfrs_pre", "alsfrs_0"]
    a = t[common + ["alsfrs_2", "alsfrs_4", "alsfrs_6", "time_days", "event"]].assign(arm="treated")
    b = pd.concat([r[common], o[["alsfrs_2", "alsfrs_4", "alsfrs_6", "time_days", "event"]]], axis=1)
    b = b.assign(arm="reference")
    a["pair_id"] = np.arange(1, n + 1)
    b["pair_id"] = np.arange(1, n + 1)
    return pd.concat([a, b], ignore_index=True)


def analyze(df: pd.DataFrame) -> dict:
    """The seed analysis of a matched table, with the standard libraries."""
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from scipy import stats
    import statsmodels.api as sm

    t = df[df.arm == "treated"].set_index("pair_id").sort_index()
    r = df[df.arm == "reference"].set_index("pair_id").sort_index()
    out = {"n_pairs": len(t)}

    # survival: pairs with both times
    ok = t.time_days.notna() & r.time_days.notna() & t.event.notna() & r.event.notna()
    st, sr = t[ok], r[ok]
    surv = pd.DataFrame({"T": np.r_[st.time_days, sr.time_days], "E": np.r_[st.event, sr.event],
                         "treated": np.r_[np.ones(len(st)), np.zeros(len(sr))]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cph = CoxPHFitter().fit(surv, "T", "E")
            b = float(cph.params_["treated"])
            se = float(cph.standard_errors_["treated"])
            out.update(hr=math.exp(b), hr_ci_low=math.exp(b - Z * se), hr_ci_high=math.exp(b + Z * se),
                       hr_p=float(cph.summary.loc["treated", "p"]))
        except Exception:  # convergence failure, separation
            out.update(hr=np.nan, hr_ci_low=np.nan, hr_ci_high=np.nan, hr_p=np.nan)
        for arm, s in (("treated", st), ("reference", sr)):
            km = KaplanMeierFitter().fit(s.time_days, s.event)
            med = km.median_survival_time_
            out[f"median_days_{arm}"] = float(med) if np.isfinite(med) else np.nan
        for name, w in (("logrank", None), ("gehan", "wilcoxon"), ("tarone_ware", "tarone-ware"),
                        ("peto", "peto")):
            res = logrank_test(st.time_days, sr.time_days, st.event, sr.event, weightings=w)
            out[f"{name}_p"] = float(res.p_value)

    # response classes
    d = (t.alsfrs_6 - t.alsfrs_0) - (r.alsfrs_6 - r.alsfrs_0)
    cls = pd.Series(np.select([d > 3, d < -3], ["decreased", "increased"], "no_change"), index=t.index)
    cls = cls[d.notna()]
    counts = cls.value_counts()
    for c in ("decreased", "no_change", "increased"):
        out[f"n_{c}"] = int(counts.get(c, 0))

    # early response: failure ~ 1 + e
    e = ((t.alsfrs_2 - t.alsfrs_0) - (r.alsfrs_2 - r.alsfrs_0))[cls.index].dropna()
    y = (cls[e.index] != "decreased").astype(float)
    out["early_coef"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = sm.Logit(y, sm.add_constant(e.rename("e"))).fit(disp=0)
            out["early_coef"] = float(fit.params["e"])
            out["early_p"] = float(fit.pvalues["e"])
        except Exception:  # perfect separation, singular matrix
            out["early_p"] = np.nan

    # treated: signed rank of pre-rate vs during-rate (integer differences)
    D = (t.alsfrs_pre - 2 * t.alsfrs_0 + t.alsfrs_6).dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out["signed_rank_p"] = float(stats.wilcoxon(D).pvalue)
        except ValueError:
            out["signed_rank_p"] = np.nan

    # OLS: during_rate ~ 1 + treated + pre_rate over complete pairs
    both = pd.concat([t.assign(treated=1.0), r.assign(treated=0.0)])
    both = both.assign(pre_rate=(both.alsfrs_pre - both.alsfrs_0) / 6,
                       during_rate=(both.alsfrs_0 - both.alsfrs_6) / 6)
    complete = both.groupby(level=0)[["pre_rate", "during_rate"]].transform(lambda s: s.notna().all())
    both = both[complete.all(axis=1)]
    ols = sm.OLS(both.during_rate, sm.add_constant(both[["treated", "pre_rate"]])).fit()
    out["treated_coef"] = float(ols.params["treated"])
    out["treated_p"] = float(ols.pvalues["treated"])

    # subgroups of the treated with a class: chi-square per factor
    tc = t.loc[cls.index].assign(cls=cls)
    med_age = tc.age.median()
    factors = {
        "sex": np.where(tc.sex > 0.5, "M", "F"),
        "age": np.where(tc.age < med_age, "<median", ">=median"),
        "ft9": np.where(tc.ft9_stage <= 2, "1-2", "3-5"),
        "progression": np.where((tc.alsfrs_pre - tc.alsfrs_0) / 6 >= 1, "fast", "slow"),
        "onset": np.where(tc.onset > 0.5, "bulbar", "spinal"),
        "riluzole": np.where(tc.riluzole > 0.5, "yes", "no"),
    }
    ps = []
    for f, lv in factors.items():
        tab = pd.crosstab(lv, tc.cls)
        try:
            p = float(stats.chi2_contingency(tab)[1])
        except ValueError:   # a zero expected count
            p = np.nan
        out[f"subgroup_{f}_p"] = p
        ps.append(p)
    out["min_subgroup_p"] = float(np.nanmin(ps)) if np.any(np.isfinite(ps)) else np.nan
    return out


def replicate(theta, seed: int, condition: int, k: int, *, pool: pd.DataFrame | None = None,
              n_treated: int = 67, pool_size: int = 10_000, caliper: float = 0.5) -> dict:
    """Replicate k: treated cohort, pool (given = fixed registry, else a fresh one
    with the replicate's key), matching, the matched outcomes, the analysis."""
    trt = world.generate_treated(theta, world.treated_key(seed, condition, k), n_treated)
    tr = pd.DataFrame(trt.data, columns=list(H.TC_NAMES))
    tr["pre_slope"] = (tr.alsfrs_pre - tr.alsfrs_0) / 6.0
    if pool is None:
        pool = pool_frame(theta, world.pool_key(seed, condition, k, "replicate"), pool_size)
    pairs = match_nearest(tr, candidates(pool), caliper)
    keys = pool.loc[[j for _, j in pairs], "key"].to_numpy(np.uint64)
    outcomes = pd.DataFrame(world.pool_outcomes(theta, keys))
    res = analyze(matched_table(tr, pool, outcomes, pairs))
    res["n_matched"] = len(pairs)
    res["pairs"] = pairs
    return res
