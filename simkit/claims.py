"""The seed paper's quantitative claims as data, each checked against the paper's own numbers.

Every claim has an id, where it is stated, a short text, the reported value (a number),
what the paper's own printed numbers imply (`recomputed`, computed here, never typed in;
None when the paper does not give what is needed), a verdict and the difference
reported - recomputed.  The numbers are read from `simkit.seedpaper.reported()` at call
time, so editing the transcription changes the verdicts.

The rounding rule (shared by every check)
-----------------------------------------
A value printed with k decimals stands for the closed interval [v - h, v + h] with
h = 0.5 * 10**-k (half a unit in the last printed place).  Closed, because the paper
does not say whether it rounds half up, half even or half down: a value exactly on the
boundary (18.75% printed as 18.7) is consistent.  The number of decimals is taken from
the transcription (an int is printed with 0 decimals, a float with as many as its
shortest repr shows: 10.0 -> 1, 0.0059 -> 4) or stated explicitly where JSON loses a
trailing zero (HR "0.30", power "90%").

Verdicts
--------
- consistent: the recomputed value lies in the reported value's rounding interval
  (counts: equal); for a quantity derived from rounded inputs (a p-value from a CI, a
  CI midpoint) the range the derived quantity takes over a grid on the inputs' rounding
  intervals (endpoints included) overlaps the reported value's rounding interval; for a
  bound (a caliper, an inequality) the bound holds for some inputs within rounding.
- inconsistent: none of the above; `difference` = reported - recomputed gives the size.
- unverifiable: the paper does not give what the check needs; recomputed is None.

Fractions of counts are computed exactly (fractions.Fraction), so boundary cases are
decided without floating-point error.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from numbers import Real

import numpy as np

from . import seedpaper
from .errors import InputError

VERDICTS = ("consistent", "inconsistent", "unverifiable")

# Section (the id's first part) -> heading, in the order the ledger lists them.
SECTIONS = {
    "matching": "Matching (Abstract; Methods: Reference Group; Table 1)",
    "table1": "Table 1: patient characteristics",
    "power": "Power (Methods: Statistical Analysis)",
    "survival": "Survival (Abstract; Results: MSCs Treatment Extends Survival)",
    "progression": "Progression (Abstract; Results: MSCs Reduce ALS Progression Rates; Table 2)",
    "table2": "Table 2: response classes by subgroup",
    "early": "Early response (Results: Early Response Predicts the Final Outcome; Table 3)",
}

# Claims a simulated world can speak to: the audit attaches P(a result at least as
# extreme as the paper's) in each world with `attach_probabilities`.
WORLD_EVENTS = {
    "survival.hr": "HR <= 0.30 with Cox Wald p <= 0.0004",
    "progression.decreased_pct": "21 or more of the 67 treated in the 'decreased progression rate' class",
    "survival.median_ratio": "KM median survival ratio treated / reference >= 1183/640",
    "progression.signed_rank_p": "signed-rank p <= 0.008",
    "progression.ols_p": "OLS treated-indicator p <= 0.0003",
}

Z95 = 1.959963984540054
_FLOAT_TOL = 1e-12   # relative slack for interval tests on floating-point (non-rational) values
_GRID = 11           # grid points per rounded input (endpoints included)


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    claim: str
    reported: float
    recomputed: float | None
    verdict: str
    difference: float | None
    note: str = ""
    decimals: int | None = field(default=None, compare=False)   # printed precision of `reported`

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]


# ============================================================================ rounding rule
def decimals_of(value) -> int:
    """Decimals a transcribed value was printed with: an int 0, a float as its repr shows."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return 0
    exp = Decimal(repr(float(value))).as_tuple().exponent
    return max(0, -int(exp))


def half_unit(decimals: int) -> Fraction:
    """Half a unit in the last printed place: 0.5 * 10**-decimals, exactly."""
    return Fraction(1, 2 * 10 ** int(decimals))


def _exact(v) -> Fraction:
    """A printed decimal (float from JSON, int or Fraction) as an exact fraction."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, int):
        return Fraction(v)
    return Fraction(Decimal(repr(float(v))))


def rounding_interval(value, decimals: int) -> tuple[float, float]:
    """The closed interval a value printed with `decimals` decimals stands for."""
    v, h = _exact(value), half_unit(decimals)
    return float(v - h), float(v + h)


def rounds_to(x, value, decimals: int) -> bool:
    """True if x lies in the closed rounding interval of `value` printed with `decimals`.

    Exact when x is a Fraction or int (counts); a float x gets a 1e-12 relative slack.
    """
    v, h = _exact(value), half_unit(decimals)
    if isinstance(x, (Fraction, int)):
        return abs(Fraction(x) - v) <= h
    x = float(x)
    if not math.isfinite(x):
        return False
    return abs(x - float(v)) <= float(h) + _FLOAT_TOL * max(1.0, abs(float(v)))


def on_boundary(x, value, decimals: int) -> bool:
    """x exactly half a unit from the printed value (round-half conventions disagree)."""
    if not isinstance(x, (Fraction, int)):
        return False
    return abs(Fraction(x) - _exact(value)) == half_unit(decimals)


def _half_up(x, decimals: int) -> Fraction:
    """x (exact) rounded half away from zero to `decimals` decimals, exactly."""
    q = Fraction(10 ** int(decimals))
    y = abs(Fraction(x)) * q
    r = Fraction(math.floor(y + Fraction(1, 2))) / q
    return r if x >= 0 else -r


def grid(value, decimals: int, points: int = _GRID) -> np.ndarray:
    """Evenly spaced points over the closed rounding interval (both ends included)."""
    lo, hi = rounding_interval(value, decimals)
    return np.linspace(lo, hi, points)


def range_over_rounding(f, *inputs, points: int = _GRID) -> tuple[float, float]:
    """(min, max) of f(*xs) over the grid of each input's rounding interval.

    inputs: (printed value, decimals) pairs.  The derived quantities used here are
    monotone in each input, so the grid's corners already give the extremes; the
    interior points guard against a non-monotone f.
    """
    axes = [grid(v, d, points) for v, d in inputs]
    mesh = np.meshgrid(*axes, indexing="ij")
    vals = np.array([f(*xs) for xs in zip(*(m.ravel() for m in mesh))], dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return math.nan, math.nan
    return float(vals.min()), float(vals.max())


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    slack = _FLOAT_TOL * max(1.0, abs(a[0]), abs(a[1]), abs(b[0]), abs(b[1]))
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


# ============================================================================ claim builders
def _f(x):
    return None if x is None else float(x)


def _fmt(x, decimals=None):
    if x is None:
        return "-"
    x = float(x)
    if x.is_integer() and (decimals is None or decimals == 0):
        return str(int(x))
    if decimals is None:
        return f"{x:.6g}"
    return f"{x:.{decimals + 2}f}"


def _rounded(id, where, text, reported, x, decimals=None, note="", how=""):
    """A claim whose recomputed value x must round to `reported` (printed with `decimals`)."""
    d = decimals_of(reported) if decimals is None else decimals
    ok = rounds_to(x, reported, d)
    parts = [how] if how else []
    if ok and on_boundary(x, reported, d):
        up = _half_up(x, d)
        parts.append(f"exactly on the rounding boundary ({float(x):g}): consistent under the "
                     "closed-interval rule" + ("" if up == _exact(reported) else
                                               f"; half-up rounding would print {float(up):.{d}f}"))
    if not ok:
        parts.append(f"{_fmt(x, d)} rounds to {round(float(x), d):.{d}f}, printed {float(reported):.{d}f}")
    if note:
        parts.append(note)
    return Claim(id, where, text, _num(reported), _f(x), "consistent" if ok else "inconsistent",
                 float(_exact(reported) - Fraction(x)) if isinstance(x, (Fraction, int))
                 else float(reported) - float(x), "; ".join(parts), d)


def _num(v):
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else float(v)


def _count(id, where, text, reported, x, note="", how=""):
    """A count that must equal its recomputation exactly."""
    ok = int(reported) == int(x)
    parts = [p for p in (how, note) if p]
    return Claim(id, where, text, int(reported), int(x), "consistent" if ok else "inconsistent",
                 int(reported) - int(x), "; ".join(parts), 0)


def _ranged(id, where, text, reported, decimals, point, rng, note="", how="", range_what=None):
    """A derived quantity: consistent if its range over the inputs' rounding overlaps
    the reported value's rounding interval."""
    rep_iv = rounding_interval(reported, decimals)
    ok = overlaps(rng, rep_iv)
    parts = [how] if how else []
    if range_what is None:
        parts.append(f"at the printed inputs {_fmt(point, decimals)}; over the inputs' rounding "
                     f"intervals {_fmt(rng[0], decimals)} to {_fmt(rng[1], decimals)}")
    else:
        parts.append(f"{range_what} {rng[0]:.5f} to {rng[1]:.5f}")
    parts.append(f"the printed {float(reported):.{decimals}f} stands for {_fmt(rep_iv[0], decimals)} "
                 f"to {_fmt(rep_iv[1], decimals)}")
    if ok and not rounds_to(point, reported, decimals):
        parts.append("consistent only through the rounding of the printed inputs")
    if not ok:
        gap = rep_iv[0] - rng[1] if rng[1] < rep_iv[0] else rng[0] - rep_iv[1]
        parts.append(f"the intervals miss each other by {gap:.3g}")
    if note:
        parts.append(note)
    return Claim(id, where, text, _num(reported), float(point),
                 "consistent" if ok else "inconsistent", float(reported) - float(point),
                 "; ".join(parts), decimals)


def _unverifiable(id, where, text, reported, note, decimals=None):
    d = decimals_of(reported) if decimals is None else decimals
    return Claim(id, where, text, _num(reported), None, "unverifiable", None, note, d)


def _pct(a, n):
    return Fraction(100 * int(a), int(n))


# ============================================================================ sections
_T1_VARIABLES = [
    ("sex", [("men", "men"), ("women", "women")]),
    ("riluzole", [("riluzole_yes", "riluzole yes"), ("riluzole_no", "riluzole no")]),
    ("onset", [("onset_spinal", "spinal onset"), ("onset_bulbar", "bulbar onset")]),
    ("ft9", [("ft9_1_2", "less advanced (FT9 1-2)"), ("ft9_3_5", "more advanced (FT9 3-5)")]),
    ("progression", [("fast", "fast progression (>= 1 point/month)"),
                     ("slow", "slow progression (< 1 point/month)")]),
]


def _matching(r):
    mq, t1 = r["matching_quality"], r["table1"]
    n = r["design"]["n_treated"]
    where = "Methods: Reference Group"
    out = []
    for key, pkey, what in [
        ("slope_diff_zero", "pct_slope_diff_zero", "pre-slope difference exactly 0"),
        ("slope_diff_within_0_3", "pct_slope_within_0_3", "pre-slope difference within +-0.3 point/month"),
        ("age_within_5y", "pct_age_within_5y", "age difference within +-5 years"),
        ("age_within_10y", "pct_age_within_10y", "age difference within +-10 years"),
    ]:
        c, p = mq[key], mq[pkey]
        out.append(_rounded(f"matching.{pkey.replace('pct_', '')}_pct", where,
                            f"{what} in {c} of {n} pairs ({p}%)", p, _pct(c, n),
                            how=f"100 * {c}/{n} = {float(_pct(c, n)):.3f}"))

    # The caliper against Table 1's pre-slope ranges: a treated patient at the treated
    # minimum has a partner no lower than the reference minimum (and vice versa), so
    # some pair differs by at least |min_t - min_r| (likewise for the maxima).
    cal = mq["slope_diff_max"]
    (tlo, thi), (rlo, rhi) = t1["pre_slope_range"]
    d = max(decimals_of(v) for v in (tlo, thi, rlo, rhi))
    h = 2 * float(half_unit(d))
    lb = max(abs(tlo - rlo), abs(thi - rhi))
    lb_min = max(0.0, lb - h)             # the smallest bound the printed ranges allow
    ok = lb_min <= cal
    note = (f"Table 1 pre-slope ranges: treated {tlo} to {thi}, reference {rlo} to {rhi} point/month; "
            f"the extreme patient's partner lies inside the other arm's range, so some pair differs "
            f"by at least {lb:.1f} ({lb_min:.2f} allowing for the rounding of both ends)")
    out.append(Claim("matching.caliper_vs_table1", "Abstract; Methods: Reference Group; Table 1",
                     f"pre-slopes matched within +-{cal} point/month ('no patient exceeded {cal}')",
                     float(cal), float(lb), "consistent" if ok else "inconsistent",
                     float(cal) - float(lb), note, decimals_of(cal)))

    # "fully matched" on the exact-match variables that Table 1 shows
    diffs = []
    for _, cats in _T1_VARIABLES[:4]:
        for key, _ in cats:
            a, b = t1[key]
            diffs.append(abs(int(a) - int(b)))
    out.append(_count("matching.exact_match_table1", "Abstract; Methods: Reference Group; Table 1",
                      "fully matched on sex, riluzole, onset, FT9 stage: Table 1 counts equal in "
                      "both arms (total count difference 0)", 0, sum(diffs),
                      how="sum over the 8 categories of |treated - reference|",
                      note="race, also an exact-match variable, is not in Table 1"))
    return out


def _table1(r):
    t1 = r["table1"]
    ns = [r["design"]["n_treated"], r["design"]["n_reference"]]
    arms = t1["columns"]
    out = []
    for var, cats in _T1_VARIABLES:
        for j, arm in enumerate(arms):
            same = j > 0 and all(t1[k][j] == t1[k][0] and t1[k + "_pct"][j] == t1[k + "_pct"][0]
                                 for k, _ in cats) and ns[j] == ns[0]
            if same:
                continue   # the reference column prints the same numbers: one claim each
            suffix = "" if j == 0 else f".{arm}"
            both = j == 0 and all(t1[k][1] == t1[k][0] and t1[k + "_pct"][1] == t1[k + "_pct"][0]
                                  for k, _ in cats) and ns[1] == ns[0]
            col = "both arms" if both else f"{arm} arm"
            counts = [t1[k][j] for k, _ in cats]
            out.append(_count(f"table1.{var}_total{suffix}", "Table 1",
                              f"{var}: {' + '.join(str(c) for c in counts)} = N = {ns[j]} ({col})",
                              ns[j], sum(counts), how=f"{' + '.join(str(c) for c in counts)} = {sum(counts)}"))
            pct_sum = sum(_exact(t1[k + "_pct"][j]) for k, _ in cats)
            for k, label in cats:
                c, p = t1[k][j], t1[k + "_pct"][j]
                note = ""
                if abs(pct_sum - 100) > len(cats) * half_unit(decimals_of(p)):
                    note = f"the printed {var} percentages sum to {float(pct_sum):.1f}%"
                out.append(_rounded(f"table1.{k}_pct{suffix}", "Table 1",
                                    f"{label}: {c} ({p}%) of {ns[j]} ({col})", p, _pct(c, ns[j]),
                                    how=f"100 * {c}/{ns[j]} = {float(_pct(c, ns[j])):.3f}", note=note))
    return out


def _power(r):
    from .power import APPROXIMATIONS, TESTS, approx_power, exact_power, sample_size

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


def _wald_p(beta, se):
    from .kernels.cox import wald
    return float(wald(float(beta), float(se))[2])


def _survival(r):
    from .kernels.cox import wald

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


_T2_LABELS = {
    "general": ("general", "general population"),
    "sex=M": ("men", "men"), "sex=F": ("women", "women"),
    "age=<median": ("age_below_median", "age < median"),
    "age=>=median": ("age_from_median", "age >= median"),
    "ft9=1-2": ("ft9_1_2", "less advanced (FT9 1-2)"),
    "ft9=3-5": ("ft9_3_5", "more advanced (FT9 3-5)"),
    "progression=fast": ("fast", "fast progression"),
    "progression=slow": ("slow", "slow progression"),
    "onset=bulbar": ("bulbar", "bulbar onset"), "onset=spinal": ("spinal", "spinal onset"),
    "riluzole=yes": ("riluzole_yes", "riluzole yes"), "riluzole=no": ("riluzole_no", "riluzole no"),
}
# Table 2 row -> Table 1 key for the subgroup's size
_T2_TO_T1 = {"sex=M": "men", "sex=F": "women", "ft9=1-2": "ft9_1_2", "ft9=3-5": "ft9_3_5",
             "progression=fast": "fast", "progression=slow": "slow", "onset=bulbar": "onset_bulbar",
             "onset=spinal": "onset_spinal", "riluzole=yes": "riluzole_yes", "riluzole=no": "riluzole_no"}


def _row_label(key):
    if key in _T2_LABELS:
        return _T2_LABELS[key]
    slug = "".join(ch if ch.isalnum() else "_" for ch in key.lower()).strip("_")
    return slug, key


def _t2rows(r):
    t2 = r["table2"]
    cols = t2["columns"]
    return {k: dict(zip(cols, v)) for k, v in t2["rows"].items()}


def _progression(r):
    pr = r["progression"]
    rows = _t2rows(r)
    gen = rows.get("general", {})
    n = r["design"]["n_treated"]
    dec, nc, inc = pr["n_decreased"], pr["n_no_change"], pr["n_increased"]
    where = "Abstract; Results: MSCs Reduce ALS Progression Rates"
    if gen and [gen["decreased"], gen["no_change"], gen["increased"]] == [dec, nc, inc]:
        where += "; Table 2 (general population)"
    out = [_count("progression.classes_total", where,
                  f"response classes {dec} + {nc} + {inc} cover the {n} treated", n, dec + nc + inc,
                  how=f"{dec} + {nc} + {inc} = {dec + nc + inc}",
                  note="the class definitions (>3, <3 and >-3, <-3 points) leave a difference of "
                       "exactly +-3 points in no class")]
    for key, c, pk, label in (("decreased", dec, "pct_decreased", "decreased progression rate"),
                              ("no_change", nc, "pct_no_change", "no change in progression rate"),
                              ("increased", inc, "pct_increased", "increased progression rate")):
        p = pr[pk]
        w = where if not gen or gen[key + "_pct"] == p else "Abstract; Results"
        out.append(_rounded(f"progression.{key}_pct", w, f"{label}: n = {c} ({p}%) of {n}", p,
                            _pct(c, n), how=f"100 * {c}/{n} = {float(_pct(c, n)):.3f}"))
    out.append(_unverifiable("progression.signed_rank_p", "Results: MSCs Reduce ALS Progression Rates",
                             f"monthly score loss lower during than before therapy, signed-rank p = "
                             f"{pr['signed_rank_p']}", pr["signed_rank_p"],
                             "needs the patient-level scores"))

    b, se, p = pr["ols_treated_coef"], pr["ols_treated_se"], pr["ols_treated_p"]
    db, dse, dp = decimals_of(b), decimals_of(se), decimals_of(p)
    rng = range_over_rounding(_wald_p, (b, db), (se, dse))
    out.append(_ranged("progression.ols_p", "Results: MSCs Reduce ALS Progression Rates",
                       f"linear regression: treatment beta = {b}, SE {se}, p = {p}", p, dp,
                       _wald_p(b, se), rng, how=f"two-sided normal p of z = {b}/{se} = {b / se:.3f}",
                       note="the residual degrees of freedom are not printed; a t reference "
                            "would give a somewhat larger p"))

    out.append(_sex_test(r, rows))

    sub = {k: v for k, v in rows.items() if k != "general"}
    fav = sum(1 for v in sub.values() if v["decreased"] > v["increased"])
    ties = [f"{_row_label(k)[1]} {v['decreased']} vs {v['increased']} (printed 1:{v['ratio']})"
            for k, v in sub.items() if v["decreased"] <= v["increased"]]
    out.append(_count("progression.risk_benefit_favourable", "Abstract; Results; Table 2",
                      f"risk-benefit ratio favourable (more decreased than increased) in all "
                      f"{len(sub)} subgroups", len(sub), fav,
                      how="number of Table 2 subgroup rows with decreased > increased",
                      note=("not favourable: " + "; ".join(ties)) if ties else ""))
    return out


def _sex_test(r, rows):
    """Table 2's asterisk on the women's row (and the Interpretation: female sex a
    significant predictor): the smallest two-sided p of the usual tests on the counts."""
    from scipy import stats

    t2 = r["table2"]
    thr = t2.get("significant_p_below", 0.05)
    m, f = rows.get("sex=M"), rows.get("sex=F")
    where = "Abstract (Interpretation); Table 2; Discussion"
    text = f"women vs men response classes differ, p < {thr} (Table 2 asterisk)"
    if m is None or f is None:
        return _unverifiable("progression.female_significant", where, text, thr, "no sex rows")
    cl = lambda v: [int(v["decreased"]), int(v["no_change"]), int(v["increased"])]
    M, F = cl(m), cl(f)
    ps = {}
    ps["chi-square 2x3"] = stats.chi2_contingency([M, F], correction=False).pvalue
    inc = [[M[2], M[0] + M[1]], [F[2], F[0] + F[1]]]
    dec = [[M[0], M[1] + M[2]], [F[0], F[1] + F[2]]]
    rb = [[M[0], M[2]], [F[0], F[2]]]
    ps["chi-square increased vs not"] = stats.chi2_contingency(inc, correction=False).pvalue
    ps["Fisher increased vs not"] = stats.fisher_exact(inc).pvalue
    ps["Fisher decreased vs not"] = stats.fisher_exact(dec).pvalue
    ps["Fisher decreased vs increased"] = stats.fisher_exact(rb).pvalue
    ps["chi-square decreased vs increased"] = stats.chi2_contingency(rb, correction=False).pvalue
    ps["Mann-Whitney on the ordered classes"] = stats.mannwhitneyu(
        [0] * M[0] + [1] * M[1] + [2] * M[2], [0] * F[0] + [1] * F[1] + [2] * F[2]).pvalue
    ps[f"binomial {F[0]} vs {F[2]} in women"] = stats.binomtest(F[0], F[0] + F[2]).pvalue
    best = min(ps, key=ps.get)
    pmin = float(ps[best])
    ok = pmin < thr
    note = ("two-sided p of the tests the counts allow (the paper names none): "
            + ", ".join(f"{k} {float(v):.3f}" for k, v in ps.items())
            + f"; recomputed = the smallest ({best}); one-sided, the chi-square increased vs not "
              f"would give {float(ps['chi-square increased vs not']) / 2:.3f}; the Results also say "
              "no demographic factor predicted the response type")
    return Claim("progression.female_significant", where, text, float(thr), pmin,
                 "consistent" if ok else "inconsistent", float(thr) - pmin, note, decimals_of(thr))


def _one_moved(v) -> bool:
    """Whether a Table 2 row's derived columns are wrong for the printed counts but right
    for (decreased, no change + 1, increased - 1): both the decreased-or-no-change count
    and the risk-benefit ratio (at its printed precision)."""
    d, c, i, ratio = v["decreased"], v["no_change"], v["increased"], v["ratio"]
    if i < 2:
        return False
    printed_ok = v["dec_or_nc"] == d + c and rounds_to(Fraction(d, i), ratio, decimals_of(ratio))
    alt_ok = v["dec_or_nc"] == d + c + 1 and rounds_to(Fraction(d, i - 1), ratio, decimals_of(ratio))
    return alt_ok and not printed_ok


def _table2(r):
    t1 = r["table1"]
    rows = _t2rows(r)
    pr = r["progression"]
    out = []
    for key, v in rows.items():
        slug, label = _row_label(key)
        base = f"table2.{slug}"
        n, d, c, i = v["n"], v["decreased"], v["no_change"], v["increased"]
        gen_dupe = key == "general" and [d, c, i] == [pr["n_decreased"], pr["n_no_change"], pr["n_increased"]]
        if not gen_dupe:
            out.append(_count(f"{base}.total", "Table 2", f"{label}: {d} + {c} + {i} = n = {n}", n, d + c + i,
                              how=f"{d} + {c} + {i} = {d + c + i}"))
            for col, cnt, what in (("decreased", d, "decreased"), ("no_change", c, "no change"),
                                   ("increased", i, "increased")):
                if key == "general" and v[col + "_pct"] == pr["pct_" + col]:
                    continue
                p = v[col + "_pct"]
                out.append(_rounded(f"{base}.{col}_pct", "Table 2", f"{label}: {what} {cnt} ({p}%) of {n}",
                                    p, _pct(cnt, n), how=f"100 * {cnt}/{n} = {float(_pct(cnt, n)):.3f}"))
        moved = _one_moved(v)
        moved_note = ("the printed decreased-or-no-change count and ratio both fit counts with one "
                      f"patient fewer increased and one more no change ({d}/{c + 1}/{i - 1}): as if "
                      "they were computed before one patient was moved from no change to increased"
                      if moved else "")
        for col, parts, what in (("dec_or_nc", (d, c), "decreased or no change"),
                                 ("nc_or_inc", (c, i), "no change or increased")):
            printed = v[col]
            out.append(_count(f"{base}.{col}", "Table 2",
                              f"{label}: {what} = {parts[0]} + {parts[1]}, printed {printed}",
                              printed, sum(parts), how=f"{parts[0]} + {parts[1]} = {sum(parts)}",
                              note=moved_note if col == "dec_or_nc" else ""))
            p = v[col + "_pct"]
            out.append(_rounded(f"{base}.{col}_pct", "Table 2", f"{label}: {what} {printed} ({p}%) of {n}",
                                p, _pct(printed, n),
                                how=f"100 * {printed}/{n} (the printed count) = {float(_pct(printed, n)):.3f}"))
        ratio = v["ratio"]
        if i == 0:
            out.append(_unverifiable(f"{base}.ratio", "Table 2", f"{label}: risk-benefit 1:{ratio}", ratio,
                                     "no increased-progression patients: the ratio is undefined"))
        else:
            out.append(_rounded(f"{base}.ratio", "Table 2",
                                f"{label}: risk-benefit ratio 1:{ratio} (increased:decreased)", ratio,
                                Fraction(d, i), how=f"decreased / increased = {d}/{i} = {d / i:.4f}",
                                note=moved_note))
        t1k = _T2_TO_T1.get(key)
        if t1k is not None and t1k in t1:
            n1 = t1[t1k][0]
            note = ""
            if n != n1:
                other = [k2 for k2, v2 in _T2_TO_T1.items()
                         if k2 != key and k2.split("=")[0] == key.split("=")[0] and t1[v2][0] == n]
                if other:
                    note = (f"Table 1 gives {n} for {_row_label(other[0])[1]}: the two tables swap "
                            "the subgroup sizes")
            out.append(_count(f"{base}.n_vs_table1", "Table 2; Table 1",
                              f"{label}: n = {n} in Table 2, {n1} in Table 1", n, n1,
                              how="Table 2's n against Table 1's treated count", note=note))

    # subgroups partition the 67: n and each class add up to the general row
    gen = rows.get("general")
    if gen is not None:
        groups = {}
        for key in rows:
            if "=" in key:
                groups.setdefault(key.split("=")[0], []).append(key)
        for var, keys in groups.items():
            for col, what in (("n", "n"), ("decreased", "decreased"), ("no_change", "no change"),
                              ("increased", "increased")):
                vals = [rows[k][col] for k in keys]
                out.append(_count(f"table2.{var}.{col}_sum", "Table 2",
                                  f"{var} subgroups: {what} {' + '.join(map(str, vals))} = general {gen[col]}",
                                  gen[col], sum(vals), how=f"{' + '.join(map(str, vals))} = {sum(vals)}"))

    # "< median" / ">= median" against Table 1's median age of the n treated
    if "age=<median" in rows:
        n = r["design"]["n_treated"]
        below = rows["age=<median"]["n"]
        above = rows.get("age=>=median", {}).get("n")
        bound = (n - 1) // 2 if n % 2 == 1 else n // 2
        ok = below <= bound
        note = (f"of {n} ages at most {bound} lie strictly below their median (Table 1: {t1['age_median'][0]} "
                f"years)" + (f", and at least {n - bound} at or above it (printed {above})" if above is not None else "")
                + "; a split at another value (e.g. the reference median, "
                f"{t1['age_median'][1]}) could give {below}")
        out.append(Claim("table2.age_below_median.n_bound", "Table 2; Table 1",
                         f"age < median: n = {below} of {n}", below, bound,
                         "consistent" if ok else "inconsistent", below - bound, note, 0))
    return out


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


# ============================================================================ API
def ledger(data: dict | None = None) -> list[Claim]:
    """Every quantitative claim of the seed paper with its recomputation and verdict.

    data: the transcription (default `simkit.seedpaper.reported()`, read at call time).
    """
    r = seedpaper.reported() if data is None else data
    claims = (_matching(r) + _table1(r) + _power(r) + _survival(r) + _progression(r)
              + _table2(r) + _early(r))
    ids = [c.id for c in claims]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:  # pragma: no cover - a programming error
        raise AssertionError(f"duplicate claim ids: {sorted(dup)}")
    order = {s: k for k, s in enumerate(SECTIONS)}
    return sorted(claims, key=lambda c: order.get(c.section, len(order)))  # stable within a section


_RECORD_KEYS = ("id", "where", "claim", "reported", "recomputed", "verdict", "difference", "note",
                "decimals")


def to_records(claims: list[Claim]) -> list[dict]:
    """Plain dicts (JSON-ready: numbers are int / float, missing values None)."""
    out = []
    for c in claims:
        d = asdict(c)
        rec = {k: d[k] for k in _RECORD_KEYS}
        for k in ("reported", "recomputed", "difference"):
            v = rec[k]
            if v is not None and not isinstance(v, int):
                v = float(v)
                rec[k] = v if math.isfinite(v) else None
        out.append(rec)
    return out


def counts(claims) -> dict:
    """{verdict: number of claims} for the three verdicts (records or Claim objects)."""
    get = (lambda c: c["verdict"]) if claims and isinstance(claims[0], dict) else (lambda c: c.verdict)
    n = {v: 0 for v in VERDICTS}
    for c in claims:
        n[get(c)] += 1
    return n


def attach_probabilities(records: list[dict], probs: dict) -> list[dict]:
    """Add `probability_in_worlds` to the records of the claims in WORLD_EVENTS.

    probs: {claim id: {world name: (p, mcse)}}, P(a result at least as extreme as the
    paper's) in each simulated world with its Monte Carlo SE.  The records are changed
    in place (and returned); each gets {"world_event": description,
    "probability_in_worlds": {world: {"p": p, "mcse": mcse}}}.  An id not in
    WORLD_EVENTS or not in the records, or a p outside [0, 1] / a negative MCSE, is an
    InputError.
    """
    by_id = {r["id"]: r for r in records}
    for cid, worlds in probs.items():
        if cid not in WORLD_EVENTS:
            raise InputError("probabilities", f"{cid!r} is not a claim a world can speak to; "
                             f"expected one of {', '.join(WORLD_EVENTS)}")
        if cid not in by_id:
            raise InputError("probabilities", f"claim {cid!r} is not in the records")
        entry = {}
        for world, val in dict(worlds).items():
            try:
                p, se = (float(v) for v in val)
            except (TypeError, ValueError):
                raise InputError("probabilities", f"{cid} / {world}: expected (p, mcse), got {val!r}") from None
            if not (0.0 <= p <= 1.0) or not (se >= 0.0) or not math.isfinite(se):
                raise InputError("probabilities", f"{cid} / {world}: expected 0 <= p <= 1 and a finite "
                                 f"mcse >= 0, got ({p!r}, {se!r})")
            entry[str(world)] = {"p": p, "mcse": se}
        by_id[cid]["world_event"] = WORLD_EVENTS[cid]
        by_id[cid]["probability_in_worlds"] = entry
    return records


# ============================================================================ rendering
def render(claims: list[Claim], notes: str = "inconsistent") -> str:
    """A readable table grouped by section, with the verdict counts at the end.

    notes: which notes to print under their rows: "none", "inconsistent" (default:
    inconsistent and unverifiable claims) or "all".
    """
    hdr = ["id", "claim", "reported", "recomputed", "verdict", "difference"]
    rows_by_sec = {}
    for c in claims:
        rows_by_sec.setdefault(c.section, []).append(c)
    def cells(c):
        rd = c.decimals
        return [c.id, c.claim, _fmt(c.reported, rd) if rd is None or float(c.reported) == int(c.reported) and rd == 0
                else f"{float(c.reported):.{rd}f}", _fmt(c.recomputed, rd), c.verdict, _fmt(c.difference, rd)]
    allrows = [cells(c) for c in claims]
    w = [max([len(h)] + [len(r[i]) for r in allrows]) for i, h in enumerate(hdr)]
    w[1] = min(w[1], 70)
    def line(r):
        claim = r[1] if len(r[1]) <= w[1] else r[1][: w[1] - 3] + "..."
        rr = [r[0], claim] + r[2:]
        return "  ".join(x.ljust(w[i]) if i in (0, 1, 4) else x.rjust(w[i]) for i, x in enumerate(rr)).rstrip()
    out = [f"simkit claims: {len(claims)} quantitative claims of the seed paper against its own numbers",
           f"({seedpaper.citation()})",
           "rounding rule: a value printed with k decimals stands for [v - 0.5*10^-k, v + 0.5*10^-k]; "
           "difference = reported - recomputed", ""]
    secs = list(SECTIONS) + [s for s in rows_by_sec if s not in SECTIONS]
    for s in secs:
        if s not in rows_by_sec:
            continue
        out.append(f"== {SECTIONS.get(s, s)} ==")
        out.append(line(hdr))
        for c in rows_by_sec[s]:
            out.append(line(cells(c)))
            show = (notes == "all" or (notes == "inconsistent" and c.verdict != "consistent"))
            if show and c.note:
                out.append(f"    note: {c.note}")
        out.append("")
    n = counts(claims)
    out.append("verdicts: " + ", ".join(f"{n[v]} {v}" for v in VERDICTS) + f" ({len(claims)} claims)")
    return "\n".join(out)
