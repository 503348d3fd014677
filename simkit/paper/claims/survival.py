"""Claims of the power statement and of the survival results.

Power: "40% vs 0% alive at the end of observation, 90% power with 11 per group",
against exact power (simkit.paper.power).  Survival: the HR against its CI (a Wald CI is
centred on the log scale), the p-value implied by the CI, the risk reduction, the
median survival ratios ("two-fold") and the subgroup p-values the paper gives no data for.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .builders import Z95, _count, _ranged, _rounded, _unverifiable, _wald_p
from .rounding import _exact, decimals_of, range_over_rounding

def _power(r):
    from simkit.paper.power import APPROXIMATIONS, TESTS, approx_power, exact_power, sample_size

    pc = r["power_claim"]
    where = "Methods: Statistical Analysis"
    p1, p0, n, alpha = pc["p_treated"], pc["p_reference"], pc["n_per_group"], pc["alpha"]
    out = [_count("power.n_total", where, f"{n} per group = {pc['n_total']} persons in the whole study",
                  pc["n_total"], 2 * n, how=f"2 * {n} = {2 * n}")]

    ex = {t: exact_power(p1, p0, n, test=t, alpha=alpha) for t in TESTS}
    ap = {m: approx_power(p1, p0, n, method=m, alpha=alpha) for m in APPROXIMATIONS}
    best = max(ex, key=ex.get)
    note = ("exact two-sided power at alpha " f"{alpha:g}: "
            + ", ".join(f"{t} {ex[t]:.4f}" for t in TESTS)
            + "; normal approximations (not exact tests): "
            + ", ".join(f"{m} {ap[m]:.4f}" for m in APPROXIMATIONS)
            + f"; recomputed = the largest exact power ({best}); the arcsine (Cohen's h) "
              "approximation is the only computation near the claim")
    c = _rounded("power.at_11", where,
                 f"{100 * p1:.0f}% vs {100 * p0:.0f}% alive at end of observation: "
                 f"{100 * pc['power']:.0f}% power with {n} per group",
                 pc["power"], ex[best], decimals=2, note=note)
    out.append(c)

    nn = {t: sample_size(p1, p0, power=pc["power"], alpha=alpha, test=t) for t in TESTS}
    firsts = {t: s.n_first for t, s in nn.items() if s.n_first is not None}
    nmin = min(firsts.values()) if firsts else None
    desc = ", ".join(f"{t} {s.n_first}" + (f" (stays from {s.n_stable})" if s.n_stable != s.n_first else "")
                     for t, s in nn.items())
    if nmin is None:
        out.append(_unverifiable("power.n_for_90", where, f"{n} per group suffice for "
                                 f"{100 * pc['power']:.0f}% power", n, "no test reaches the power"))
    else:
        out.append(_count("power.n_for_90", where,
                          f"{n} per group suffice for {100 * pc['power']:.0f}% power "
                          f"({100 * p1:.0f}% vs {100 * p0:.0f}%)", n, nmin,
                          how=f"smallest n per group with exact power >= {pc['power']:g}: {desc}"))

    nf = pc["n_per_group_full"]
    exf = {t: exact_power(p1, p0, nf, test=t, alpha=alpha) for t in TESTS}
    worst = min(exf, key=exf.get)
    out.append(_rounded("power.at_67", where, f"{100 * pc['power_full']:.0f}% power with {nf} per group",
                        pc["power_full"], exf[worst], decimals=2,
                        how=f"smallest exact power over the five tests ({worst}) {exf[worst]:.10f}"))
    out.append(_unverifiable("power.observed_proportions", where,
                             f"observed about {100 * p1:.0f}% vs {100 * p0:.0f}% alive at the end of "
                             "observation", p1,
                             "no counts of patients alive at the end of observation are printed "
                             "(and treated and reference follow-up differ in length)", decimals=2))
    return out


def _survival(r):
    from simkit.kernels.cox import wald

    s = r["survival"]
    where = "Abstract; Results: MSCs Treatment Extends Survival"
    hr, lo, hi, p = s["hr"], s["hr_ci_low"], s["hr_ci_high"], s["hr_p"]
    dhr = 2   # printed "0.30": JSON drops the trailing zero
    dci = max(decimals_of(lo), decimals_of(hi), 2)
    dp = decimals_of(p)
    out = []

    mid = math.sqrt(lo * hi)
    rng = range_over_rounding(lambda a, b: math.sqrt(a * b), (lo, dci), (hi, dci))
    out.append(_ranged("survival.hr", "Results: MSCs Treatment Extends Survival",
                       f"HR {hr:.2f} (95% CI {lo:.2f} to {hi:.2f}): a Wald CI is centred on the HR "
                       "on the log scale", hr, dhr, mid, rng,
                       how=f"HR implied by the CI = sqrt({lo} * {hi}) = {mid:.4f}"))

    def p_from(h, a, b):
        se = (math.log(b) - math.log(a)) / (2 * Z95)
        return _wald_p(math.log(h), se)

    se0 = (math.log(hi) - math.log(lo)) / (2 * Z95)
    point = p_from(hr, lo, hi)
    rng = range_over_rounding(p_from, (hr, dhr), (lo, dci), (hi, dci))
    ci_only = float(wald((math.log(lo) + math.log(hi)) / 2, se0)[2])
    out.append(_ranged("survival.hr_p", "Results: MSCs Treatment Extends Survival",
                       f"p = {p} for HR {hr:.2f} (95% CI {lo:.2f} to {hi:.2f})", p, dp, point, rng,
                       how=f"Wald on the log scale: SE = (ln {hi} - ln {lo}) / (2 * 1.96) = {se0:.4f}, "
                           f"z = ln {hr:.2f} / SE = {math.log(hr) / se0:.3f}",
                       note=f"with the CI's own midpoint as the estimate p = {ci_only:.6f}"))

    rr = s["risk_reduction_pct"]
    drr = decimals_of(rr)
    x = 100 * (1 - _exact(hr))
    out.append(_rounded("survival.risk_reduction", "Results: MSCs Treatment Extends Survival",
                        f"risk of death decreased by {rr}% (HR {hr:.2f})", rr, x, decimals=drr,
                        how=f"100 * (1 - {hr:.2f}) = {float(x):g}"))

    fold = s["median_fold_claimed"]
    mt, mr = s["median_days_treated"], s["median_days_reference"]
    out.append(_rounded("survival.median_ratio", "Abstract; Results: MSCs Treatment Extends Survival",
                        f"median survival 'increased two-fold' / 'almost twice longer' ({mt} vs {mr} days)",
                        fold, Fraction(mt, mr),
                        how=f"{mt}/{mr} = {mt / mr:.4f}",
                        note="'two-fold' read as the integer 2 (0 decimals, 1.5 to 2.5); read strictly "
                             f"(at least double) it fails: {mt / mr:.3f} < 2, {100 * (mt / mr - 1):.0f}% longer"))
    for key, label in (("subgroup_decreased_medians_days", "decreased"),
                       ("subgroup_no_change_medians_days", "no_change")):
        a, b = s[key]
        out.append(_rounded(f"survival.median_ratio_{label}", "Abstract; Results: MSCs Treatment Extends Survival",
                            f"'two-fold in all groups': {label.replace('_', ' ')} subgroup {a} vs {b} days",
                            fold, Fraction(a, b), how=f"{a}/{b} = {a / b:.4f}",
                            note="" if a / b >= 2 else
                            f"read strictly (at least double) it fails: {a / b:.3f} < 2"))
    out.append(_unverifiable("survival.median_ratio_other_groups", "Abstract",
                             "'two-fold in all groups': FT9 1-2, FT9 3-5 and increased-progression "
                             "subgroups", fold,
                             "no medians printed for these groups (FT9 groups only in Fig. 1; the "
                             "increased-progression group nowhere)"))
    out.append(_unverifiable("survival.median_p", "Results: MSCs Treatment Extends Survival",
                             f"medians {mt} vs {mr} days, p = {s['median_p']}", s["median_p"],
                             "needs the survival data; the test is not named (log-rank or Cox-Mantel)"))
    out.append(_unverifiable("survival.ft9_1_2_p", "Results: MSCs Treatment Extends Survival",
                             f"similar effect in FT9 1-2, p = {s['subgroup_ft9_1_2_p']}",
                             s["subgroup_ft9_1_2_p"], "needs the subgroup survival data"))
    out.append(_unverifiable("survival.ft9_3_5_p", "Results: MSCs Treatment Extends Survival",
                             f"similar effect in FT9 3-5, p = {s['subgroup_ft9_3_5_p']}",
                             s["subgroup_ft9_3_5_p"], "needs the subgroup survival data"))
    out.append(_unverifiable("survival.decreased_subgroup_p", "Results: MSCs Treatment Extends Survival",
                             f"decreased-progression subgroup: p < {s['subgroup_decreased_p_below']} in all "
                             f"{s['subgroup_decreased_n_tests']} tests", s["subgroup_decreased_p_below"],
                             "needs the subgroup survival data; Methods name only two tests "
                             "(log-rank, Cox-Mantel), the Results five"))
    out.append(_unverifiable("survival.no_change_subgroup_p", "Results: MSCs Treatment Extends Survival",
                             f"no-change subgroup: p < {s['subgroup_no_change_p_below']} in the Cox-Mantel test",
                             s["subgroup_no_change_p_below"], "needs the subgroup survival data"))
    return out
