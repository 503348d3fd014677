"""The numbers a paper prints about its matched table beyond the seed analysis.

The match diagnostics (pairs whose pre-slopes are equal or within 0.3 points/month,
whose ages are within 5 or 10 years) and the matched cohort's Table 1, computed from
a matched-cohort table's own columns exactly as the replicate kernel computes them
from the world (kernels/replicate.py `stage_assemble`, `_table1`), under the same
output field names (kernels/outputs.py).  Pre-slope = (alsfrs_pre - alsfrs_0) / 6
points lost per month (the pre visit is 6 months before month 0).
"""
from __future__ import annotations

import numpy as np

PRE_MONTHS = 6.0


def pre_slopes(table) -> tuple[np.ndarray, np.ndarray]:
    """(treated, reference) pre-slopes in points lost per month (NaN where a score is missing)."""
    t = (table.scores_treated[:, 0] - table.scores_treated[:, 1]) / PRE_MONTHS
    r = (table.scores_reference[:, 0] - table.scores_reference[:, 1]) / PRE_MONTHS
    return t, r


def design_fields(table) -> dict:
    """{output field: value} of the match diagnostics and Table 1 of a MatchedTable (NaN without pairs)."""
    m = table.n_pairs
    ts, rs = pre_slopes(table)
    ta, ra = table.age[:, 0].astype(float), table.age[:, 1].astype(float)
    ds, da = np.abs(ts - rs), np.abs(ta - ra)
    out = {
        "n_slope_diff_zero": float(np.sum(ds < 1e-9)),
        "n_slope_within_0_3": float(np.sum(ds <= 0.3 + 1e-9)),
        "n_age_within_5": float(np.sum(da <= 5.0)),
        "n_age_within_10": float(np.sum(da <= 10.0)),
    }
    if m == 0:
        return {**out, **{k: np.nan for k in _T1}}
    out.update({
        "t1_male_treated": float(np.mean(table.sex[:, 0] == "M")),
        "t1_riluzole_treated": float(np.mean(table.riluzole[:, 0] == 1)),
        "t1_bulbar_treated": float(np.mean(table.onset[:, 0] == "bulbar")),
        "t1_ft9_1_2_treated": float(np.mean(table.ft9_stage[:, 0] <= 2)),
        "t1_fast_treated": float(np.mean(ts >= 1.0 - 1e-9)),
    })
    for name, x in (("age", ta), ("age", ra), ("pre_slope", ts), ("pre_slope", rs)):
        arm = "treated" if x is ta or x is ts else "reference"
        x = x[np.isfinite(x)]
        q = np.quantile(x, [0.5, 0.25, 0.75]) if x.size else np.full(3, np.nan)
        for v, s in zip(q, ("median", "q25", "q75")):
            out[f"t1_{name}_{s}_{arm}"] = float(v)
    return out


_T1 = ("t1_male_treated", "t1_riluzole_treated", "t1_bulbar_treated", "t1_ft9_1_2_treated", "t1_fast_treated",
       *(f"t1_{n}_{s}_{a}" for n in ("age", "pre_slope") for a in ("treated", "reference")
         for s in ("median", "q25", "q75")))
