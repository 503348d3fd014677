"""The seed analysis written the straightforward way: pandas + lifelines + scipy + statsmodels.

This is the slow, obviously-correct twin of `simkit.kernels.seedanalysis`, written
from the contract text (matched-cohort table v1.1) without looking at the kernels.
It is also the peer that benchmarks/bench_analysis.py times simkit against.
"""
from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd

Z = 1.959963984540054
NAN = float("nan")


def random_table(rng, n_pairs, *, p_missing=0.0, tie_days=True, censor_frac=0.3, hr=1.0):
    """A random contract-conforming matched table (DataFrame), for tests and benchmarks."""
    rows = []
    for i in range(n_pairs):
        sex = rng.choice(["M", "F"])
        onset = rng.choice(["bulbar", "spinal"], p=[0.25, 0.75])
        ril = int(rng.random() < 0.7)
        ft9 = int(rng.integers(1, 6))
        race = rng.choice(["white", "other"], p=[0.95, 0.05])
        for arm in ("treated", "reference"):
            base = int(rng.integers(20, 47))
            pre = min(48, base + int(rng.integers(0, 13)))
            slope = rng.gamma(2.0, 0.5)
            s = [pre, base]
            for m in (2, 4, 6):
                s.append(int(np.clip(round(base - slope * m + rng.normal(0, 1.5)), 0, 48)))
            scale = 900.0 / (hr if arm == "treated" else 1.0)  # hr: hazard ratio
            t = rng.exponential(scale) + 1.0
            if tie_days:
                t = float(max(1, int(t // 30) * 30))
            ev = int(rng.random() > censor_frac)
            rec = dict(pair_id=i + 1, arm=arm, sex=sex, race=race, onset=onset, riluzole=ril,
                       age=float(np.round(rng.normal(57, 9), 1)), ft9_stage=ft9,
                       alsfrs_pre=s[0], alsfrs_0=s[1], alsfrs_2=s[2], alsfrs_4=s[3], alsfrs_6=s[4],
                       time_days=t, event=ev)
            for c in ("alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6"):
                if p_missing and rng.random() < p_missing:
                    rec[c] = None
            rows.append(rec)
    df = pd.DataFrame(rows)
    for c in ("alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6"):
        df[c] = df[c].astype("Float64")
    return df


def _km_median_exact(time, event):
    order = sorted(set(time))
    s = Fraction(1)
    for t in order:
        d = sum(1 for ti, ei in zip(time, event) if ti == t and ei == 1)
        n = sum(1 for ti in time if ti >= t)
        if d:
            s *= Fraction(n - d, n)
            if s <= Fraction(1, 2):
                return float(t), True
    return NAN, False


def _cox_exists(time, event, x):
    time, event, x = map(np.asarray, (time, event, x))
    a = any(event[i] == 1 and x[i] == 1 and np.any((x == 0) & (time >= time[i])) for i in range(len(time)))
    b = any(event[i] == 1 and x[i] == 0 and np.any((x == 1) & (time >= time[i])) for i in range(len(time)))
    return a and b


def oracle_analyze(df: pd.DataFrame) -> dict:
    from lifelines import CoxPHFitter, KaplanMeierFitter  # noqa: F401
    from lifelines.statistics import logrank_test
    from scipy import stats
    import statsmodels.api as sm

    t = df[df.arm == "treated"].set_index("pair_id").sort_index()
    r = df[df.arm == "reference"].set_index("pair_id").sort_index()
    n = len(t)
    out = {"n_pairs": n}

    # 1. survival
    T = np.concatenate([t.time_days.to_numpy(float), r.time_days.to_numpy(float)])
    E = np.concatenate([t.event.to_numpy(int), r.event.to_numpy(int)])
    X = np.r_[np.ones(n), np.zeros(n)]
    out.update(hr=NAN, hr_ci_low=NAN, hr_ci_high=NAN, hr_p=NAN, log_hr=NAN, log_hr_se=NAN)
    if _cox_exists(T, E, X):
        cph = CoxPHFitter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # lifelines stops on a relative log-likelihood change of 1e-9 by default;
            # the contract asks for full convergence
            cph.fit(pd.DataFrame({"T": T, "E": E, "x": X}), "T", "E",
                    fit_options=dict(precision=1e-13, r_precision=1e-15, max_steps=500))
        b = float(cph.params_["x"])
        se = float(cph.standard_errors_["x"])
        out.update(hr=math.exp(b), hr_ci_low=math.exp(b - Z * se), hr_ci_high=math.exp(b + Z * se),
                   hr_p=math.erfc(abs(b / se) / math.sqrt(2)), log_hr=b, log_hr_se=se)
    m1, r1 = _km_median_exact(list(T[:n]), list(E[:n]))
    m0, r0 = _km_median_exact(list(T[n:]), list(E[n:]))
    out.update(median_days_treated=m1, median_days_reference=m0,
               median_treated_reached=r1, median_reference_reached=r0)
    # the contract: null when the variance is 0, i.e. no death time at which both
    # arms are at risk and not everyone at risk dies
    informative = any(
        E[i] == 1 and np.any((X == 1) & (T >= T[i])) and np.any((X == 0) & (T >= T[i]))
        and np.sum((E == 1) & (T == T[i])) < np.sum(T >= T[i])
        for i in range(2 * n))
    for key, w in (("logrank_p", None), ("gehan_p", "wilcoxon"), ("tarone_ware_p", "tarone-ware"),
                   ("peto_p", "peto")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = logrank_test(T[:n], T[n:], E[:n], E[n:], weightings=w)
            p = float(res.p_value)
        except (ZeroDivisionError, ValueError, FloatingPointError):
            p = NAN
        out[key] = p if np.isfinite(p) and informative else NAN

    # 2. classes
    ch_t = t.alsfrs_6.astype(float) - t.alsfrs_0.astype(float)
    ch_r = r.alsfrs_6.astype(float) - r.alsfrs_0.astype(float)
    d = (ch_t - ch_r).to_numpy(float)
    has = np.isfinite(d)
    cls = np.full(n, None, dtype=object)
    cls[has & (d > 3)] = "decreased"
    cls[has & (d < -3)] = "increased"
    cls[has & (d >= -3) & (d <= 3)] = "no_change"
    out.update(n_decreased=int(np.sum(cls == "decreased")), n_no_change=int(np.sum(cls == "no_change")),
               n_increased=int(np.sum(cls == "increased")))

    # 3. early response
    e = ((t.alsfrs_2.astype(float) - t.alsfrs_0.astype(float))
         - (r.alsfrs_2.astype(float) - r.alsfrs_0.astype(float))).to_numpy(float)
    use = has & np.isfinite(e)
    ee = e[use]
    yy = np.array([0.0 if c == "decreased" else 1.0 for c in cls[use]])
    out.update(early_coef=NAN, early_ci_low=NAN, early_ci_high=NAN, early_p=NAN)
    if len(yy) and 0 < yy.sum() < len(yy) and np.ptp(ee) > 0:
        separated = ee[yy == 0].max() <= ee[yy == 1].min() or ee[yy == 1].max() <= ee[yy == 0].min()
        if not separated:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.Logit(yy, sm.add_constant(ee, has_constant="add")).fit(disp=0, tol=1e-12, maxiter=200)
            b, se = float(fit.params[1]), float(fit.bse[1])
            out.update(early_coef=b, early_ci_low=b - Z * se, early_ci_high=b + Z * se,
                       early_p=math.erfc(abs(b / se) / math.sqrt(2)))

    # 4. signed rank on treated
    D = (t.alsfrs_pre.astype(float) - 2 * t.alsfrs_0.astype(float) + t.alsfrs_6.astype(float)).to_numpy(float)
    D = D[np.isfinite(D)].astype(int)
    out["signed_rank_p"] = NAN
    if len(D) and np.any(D != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(stats.wilcoxon(D).pvalue)
        out["signed_rank_p"] = p if np.isfinite(p) else NAN

    # 5. OLS
    def rates(x):
        return ((x.alsfrs_pre.astype(float) - x.alsfrs_0.astype(float)) / 6,
                (x.alsfrs_0.astype(float) - x.alsfrs_6.astype(float)) / 6)
    pt, dt = rates(t)
    pr_, dr = rates(r)
    ok = (np.isfinite(pt) & np.isfinite(dt) & np.isfinite(pr_) & np.isfinite(dr)).to_numpy(bool)
    y = np.r_[dt.to_numpy(float)[ok], dr.to_numpy(float)[ok]]
    Xo = np.column_stack([np.ones(len(y)), np.r_[np.ones(ok.sum()), np.zeros(ok.sum())],
                          np.r_[pt.to_numpy(float)[ok], pr_.to_numpy(float)[ok]]])
    out.update(treated_coef=NAN, treated_se=NAN, treated_p=NAN)
    if len(y) > 3 and np.linalg.matrix_rank(Xo) == 3:
        fit = sm.OLS(y, Xo).fit()
        out["treated_coef"] = float(fit.params[1])
        if fit.ssr > 1e-20 * max(1.0, float(np.sum((y - y.mean()) ** 2))):
            out["treated_se"] = float(fit.bse[1])
            out["treated_p"] = float(fit.pvalues[1])
            out["treated_ci90"] = [float(x) for x in fit.conf_int(alpha=0.1)[1]]

    # 6. subgroups
    tc = t[has].copy()
    tc["cls"] = cls[has]
    med = float(np.median(tc.age)) if len(tc) else NAN
    pre_rate = (tc.alsfrs_pre.astype(float) - tc.alsfrs_0.astype(float)) / 6
    facs = {
        "sex": [("M", tc.sex == "M"), ("F", tc.sex == "F")],
        "age": [("<median", tc.age < med), (">=median", tc.age >= med)],
        "ft9": [("1-2", tc.ft9_stage <= 2), ("3-5", tc.ft9_stage >= 3)],
        "progression": [("fast", (pre_rate >= 1).fillna(False)), ("slow", (pre_rate < 1).fillna(False))],
        "onset": [("bulbar", tc.onset == "bulbar"), ("spinal", tc.onset == "spinal")],
        "riluzole": [("yes", tc.riluzole == 1), ("no", tc.riluzole == 0)],
    }
    sg = []
    for fac, levels in facs.items():
        tab = np.array([[int(np.sum(tc.cls[np.asarray(mask, bool)] == c))
                         for c in ("decreased", "no_change", "increased")] for _, mask in levels])
        try:
            p = float(stats.chi2_contingency(tab)[1])
        except ValueError:
            p = NAN
        for (lev, _), row in zip(levels, tab):
            sg.append(dict(factor=fac, level=lev, n=int(row.sum()), n_decreased=int(row[0]),
                           n_no_change=int(row[1]), n_increased=int(row[2]),
                           ratio=row[0] / row[2] if row[2] > 0 else NAN, chi2_p=p))
    out["subgroups"] = sg
    out["dropped"] = {"survival": 0, "classes": int(n - has.sum()), "early": int(n - use.sum()),
                      "signed_rank": int(n - np.isfinite((t.alsfrs_pre.astype(float) - 2 * t.alsfrs_0.astype(float)
                                                          + t.alsfrs_6.astype(float)).to_numpy(float)).sum()),
                      "ols": int(n - ok.sum())}
    return out
