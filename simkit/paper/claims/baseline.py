"""Claims of the matching and of Table 1 (patient characteristics).

The matching quality percentages, the +-0.3 point/month caliper against Table 1's
pre-slope ranges, "fully matched" against Table 1's counts, and every Table 1 column:
categories that add up to N and percentages that round from their counts.
"""
from __future__ import annotations

from .builders import Claim, _count, _pct, _rounded
from .rounding import _exact, decimals_of, half_unit

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
