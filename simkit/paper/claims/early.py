"""Claims of the early response (Results: Early Response Predicts the Final Outcome; Table 3).

The logistic coefficient against its CI (midpoint, p from the CI) and against Table 3:
whether one logistic curve reproduces every printed failure probability within rounding
(a linear programme on the logit scale) and which slopes such curves have.
"""
from __future__ import annotations

import math

import numpy as np

from .builders import Z95, _count, _ranged, _rounded, _wald_p
from .rounding import decimals_of, range_over_rounding, rounding_interval, rounds_to

def _table3_feasible(t3, decimals):
    """The range of slopes b (and the intercepts) of logistic curves 100 / (1 + exp(-(a + b x)))
    that reproduce every printed probability of Table 3 within rounding: a linear programme
    on the logit scale.  None if no curve does."""
    from scipy.optimize import linprog

    x = np.array([row[0] for row in t3], dtype=float)
    lo = np.array([rounding_interval(row[1], decimals)[0] for row in t3]) / 100
    hi = np.array([rounding_interval(row[1], decimals)[1] for row in t3]) / 100
    lo = np.clip(lo, 1e-300, None)
    hi = np.clip(hi, None, 1 - 1e-16)
    L, H = np.log(lo / (1 - lo)), np.log(hi / (1 - hi))
    A = np.vstack([np.column_stack([-np.ones_like(x), -x]), np.column_stack([np.ones_like(x), x])])
    ub = np.concatenate([-L, H])
    res = []
    for c in ([0.0, 1.0], [0.0, -1.0]):
        sol = linprog(c, A_ub=A, b_ub=ub, bounds=[(None, None), (None, None)], method="highs")
        if sol.status != 0:
            return None
        res.append(sol.x)
    return (float(res[0][1]), float(res[1][1])), (float(res[0][0]), float(res[1][0]))


def _early(r):
    e = r["early_response"]
    where = "Results: Early Response Predicts the Final Outcome"
    b, lo, hi, p = e["coef"], e["ci_low"], e["ci_high"], e["p"]
    db, dlo, dhi, dp = decimals_of(b), decimals_of(lo), decimals_of(hi), decimals_of(p)
    out = []
    mid = (lo + hi) / 2
    rng = range_over_rounding(lambda a, c: (a + c) / 2, (lo, dlo), (hi, dhi))
    out.append(_ranged("early.ci_midpoint", where,
                       f"estimate {b} (95% CI {lo} to {hi}): a Wald CI is centred on the estimate",
                       b, db, mid, rng, how=f"({lo} + {hi}) / 2 = {mid:.4f}",
                       note=f"the upper limit is printed with {dhi} decimal(s)"))

    def p_from(bb, a, c):
        return _wald_p(bb, (c - a) / (2 * Z95))

    se0 = (hi - lo) / (2 * Z95)
    rng = range_over_rounding(p_from, (b, db), (lo, dlo), (hi, dhi))
    out.append(_ranged("early.p_from_ci", where, f"p = {p} for {b} (95% CI {lo} to {hi})", p, dp,
                       p_from(b, lo, hi), rng,
                       how=f"SE = ({hi} - ({lo})) / (2 * 1.96) = {se0:.4f}, z = {b / se0:.3f}"))

    t3 = e["table3"]
    d3 = max(decimals_of(row[1]) for row in t3)
    feas = _table3_feasible(t3, d3)
    xs = np.array([row[0] for row in t3], dtype=float)
    ps = np.array([row[1] for row in t3], dtype=float) / 100
    ls_b, ls_a = np.polyfit(xs, np.log(ps / (1 - ps)), 1)
    if feas is not None:
        n_ok = len(t3)
        how = (f"a linear programme on the logit scale finds logistic curves reproducing all "
               f"{len(t3)} printed probabilities (slopes {feas[0][0]:.5f} to {feas[0][1]:.5f})")
    else:
        fitted = 100 / (1 + np.exp(-(ls_a + ls_b * xs)))
        n_ok = int(sum(rounds_to(float(fv), row[1], d3) for fv, row in zip(fitted, t3)))
        how = (f"no logistic curve reproduces all rows; the least-squares curve on the logits "
               f"reproduces {n_ok}")
    out.append(_count("early.table3_logistic", "Table 3",
                      f"Table 3's {len(t3)} failure probabilities come from one logistic regression",
                      len(t3), n_ok, how=how))

    if feas is not None:
        (b_lo, b_hi), _ = feas
        out.append(_ranged("early.table3_slope", "Results; Table 3",
                           f"logistic coefficient of the early response {b}, against Table 3's curve",
                           b, db, (b_lo + b_hi) / 2, (b_lo, b_hi),
                           how="recomputed = the middle of the slopes of the logistic curves that "
                               "reproduce Table 3",
                           range_what=f"every curve 100 / (1 + exp(-(a + b x))) that reproduces all "
                                      f"{len(t3)} printed probabilities within rounding (a linear "
                                      "programme on the logit scale) has b from",
                           note=f"least squares on the logits gives {ls_b:.4f}; the CI's midpoint is "
                                f"{mid:.2f}; truncating instead of rounding {(b_lo + b_hi) / 2:.4f} "
                                f"would print {math.trunc((b_lo + b_hi) / 2 * 10 ** db) / 10 ** db:.{db}f}; "
                                "the text calls the outcome a better score, Table 3 a failure: the sign "
                                "fits the failure"))
    else:
        out.append(_rounded("early.table3_slope", "Results; Table 3",
                            f"logistic coefficient of the early response {b}, against Table 3's curve",
                            b, float(ls_b), decimals=db, how="least squares on the logits of Table 3"))
    return out
