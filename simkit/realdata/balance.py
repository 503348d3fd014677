"""Balance diagnostics of a 1:1 match: standardised differences before and after,
the pair shares papers print, and a Love plot.

    bal = balance_of(treated, pool, treated_index, reference_index)
    bal.table                 # pandas DataFrame, one row per variable (level)
    bal.pair_shares()         # slope difference exactly 0 / within 0.3, age within 5 / 10
    love_plot(bal, "love.png")

Standardised difference (Austin 2009): continuous (mean_t - mean_r) /
sqrt((var_t + var_r) / 2) with sample variances (ddof 1); a binary indicator
(p_t - p_r) / sqrt((p_t (1 - p_t) + p_r (1 - p_r)) / 2).  "Before" compares every
treated patient with every pool patient (candidate), "after" the matched treated
with their references; each uses its own sample's variances.  Missing values are
left out of the variable they miss.  Null (NaN) when a side has no values or both
variances are 0 with different means; 0 when both are constant and equal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (variable, kind, level): binary rows are indicators of `level`
CONTINUOUS = ("age", "pre_rate", "alsfrs_pre", "alsfrs_0", "ft9_stage", "duration_months")
BINARY = (("sex", "M"), ("onset", "bulbar"), ("riluzole", 1.0))
SLACK = 1e-9     # pre-slopes are multiples of 1/6: "exactly 0" up to float rounding


def smd(x, y, binary: bool) -> float:
    """Standardised difference of x (treated) vs y (reference), NaN-aware."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return np.nan
    mx, my = x.mean(), y.mean()
    if binary:
        v = (mx * (1 - mx) + my * (1 - my)) / 2
    else:
        if x.size < 2 or y.size < 2:
            return np.nan
        v = (x.var(ddof=1) + y.var(ddof=1)) / 2
    if v <= 0:
        return 0.0 if mx == my else np.nan
    return float((mx - my) / np.sqrt(v))


def _values(df, name):
    """Float values of a variable (pre_rate derived), NaN where missing."""
    import pandas as pd
    if name == "pre_rate":
        return ((pd.to_numeric(df["alsfrs_pre"]) - pd.to_numeric(df["alsfrs_0"])) / 6.0).to_numpy(np.float64)
    if name not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(np.float64)


def _indicator(df, name, level):
    col = df[name].to_numpy(dtype=object)
    out = np.full(col.shape[0], np.nan)
    for i, v in enumerate(col):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        out[i] = 1.0 if (v == level or (isinstance(level, float) and float(v) == level)) else 0.0
    return out


@dataclass(frozen=True)
class Balance:
    """Balance table of a match (`table`: pandas DataFrame) and per-pair differences."""
    table: object
    slope_diff: np.ndarray      # per pair: treated minus reference pre-slope, points/month
    age_diff: np.ndarray        # per pair: treated minus reference age, years

    def pair_shares(self) -> dict:
        """Shares of pairs the seed paper (and others) print: pre-slope difference
        exactly 0 and within 0.3 points/month, age within 5 and 10 years."""
        n = int(self.slope_diff.shape[0])
        s, a = np.abs(self.slope_diff), np.abs(self.age_diff)
        cnt = {"n_pairs": n,
               "n_slope_diff_zero": int(np.sum(s <= SLACK)),
               "n_slope_within_0_3": int(np.sum(s <= 0.3 + SLACK)),
               "n_age_within_5": int(np.sum(a <= 5.0)),
               "n_age_within_10": int(np.sum(a <= 10.0))}
        for k in list(cnt)[1:]:
            cnt["share" + k[1:]] = cnt[k] / n if n else np.nan
        return cnt

    def records(self) -> list:
        return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                for r in self.table.to_dict("records")]

    def render(self) -> str:
        def f(x, spec):
            return "-" if not np.isfinite(x) else format(x, spec)
        out = ["Balance (standardised differences; before: all treated vs all candidates, after: matched pairs):",
               f"  {'variable':<22}{'treated':>9}{'pool':>9}{'SMD':>8}   {'treated':>9}{'matched':>9}{'SMD':>8}"]
        for r in self.table.itertuples():
            out.append(f"  {r.variable:<22}{f(r.mean_treated_before, '.3g'):>9}{f(r.mean_pool_before, '.3g'):>9}"
                       f"{f(r.smd_before, '+.3f'):>8}   {f(r.mean_treated_after, '.3g'):>9}"
                       f"{f(r.mean_reference_after, '.3g'):>9}{f(r.smd_after, '+.3f'):>8}")
        s = self.pair_shares()
        n = s["n_pairs"]
        out.append(f"Pairs: pre-slope difference exactly 0 in {s['n_slope_diff_zero']}/{n}, within 0.3 "
                   f"points/month in {s['n_slope_within_0_3']}/{n}; age within 5 years in "
                   f"{s['n_age_within_5']}/{n}, within 10 in {s['n_age_within_10']}/{n}.")
        return "\n".join(out)


def balance_of(treated, pool, treated_index, reference_index) -> Balance:
    """Balance of every baseline variable the two tables share (binary sex, onset,
    riluzole; one indicator per race label; continuous age, pre-slope, ALSFRS-R
    before and at baseline, FT9 stage, disease duration where given)."""
    import pandas as pd
    ti = np.asarray(treated_index, np.int64)
    ri = np.asarray(reference_index, np.int64)
    rows = []

    def add(name, x, y, binary):
        rows.append({"variable": name, "kind": "binary" if binary else "continuous",
                     "n_treated_before": int(np.sum(~np.isnan(x))), "n_pool_before": int(np.sum(~np.isnan(y))),
                     "mean_treated_before": float(np.nanmean(x)) if np.any(~np.isnan(x)) else np.nan,
                     "mean_pool_before": float(np.nanmean(y)) if np.any(~np.isnan(y)) else np.nan,
                     "smd_before": smd(x, y, binary),
                     "mean_treated_after": float(np.nanmean(x[ti])) if np.any(~np.isnan(x[ti])) else np.nan,
                     "mean_reference_after": float(np.nanmean(y[ri])) if np.any(~np.isnan(y[ri])) else np.nan,
                     "smd_after": smd(x[ti], y[ri], binary)})

    for name, level in BINARY:
        add(f"{name}={level:g}" if isinstance(level, float) else f"{name}={level}",
            _indicator(treated, name, level), _indicator(pool, name, level), True)
    levels = sorted({str(v) for df in (treated, pool) for v in df["race"] if v is not None and v == v})
    for lv in levels:
        add(f"race={lv}", _indicator(treated, "race", lv), _indicator(pool, "race", lv), True)
    for name in CONTINUOUS:
        x, y = _values(treated, name), _values(pool, name)
        if np.all(np.isnan(x)) and np.all(np.isnan(y)):
            continue
        add(name, x, y, False)
    table = pd.DataFrame(rows)
    ts, rs = _values(treated, "pre_rate"), _values(pool, "pre_rate")
    ta, ra = _values(treated, "age"), _values(pool, "age")
    return Balance(table, ts[ti] - rs[ri], ta[ti] - ra[ri])


def love_plot(bal: Balance, path, threshold: float = 0.1) -> None:
    """Absolute standardised differences before (open) and after (filled) matching."""
    from simkit.report.plots import pyplot
    plt = pyplot()
    t = bal.table
    y = np.arange(len(t))[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(t) + 1.4))
    ax.scatter(np.abs(t["smd_before"]), y, facecolors="none", edgecolors="tab:red", label="before matching")
    ax.scatter(np.abs(t["smd_after"]), y, color="tab:blue", label="after matching")
    ax.axvline(threshold, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(t["variable"])
    ax.set_xlabel("|standardised difference|")
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Balance of {bal.slope_diff.shape[0]} matched pairs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
