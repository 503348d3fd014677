"""Claims of the progression results and of Table 2 (response classes by subgroup).

The response classes against the 67 treated, the OLS p against its coefficient and SE,
the asterisk on the women's row (the smallest p of the usual tests on the counts), the
"favourable in all subgroups" risk-benefit claim, and every Table 2 row: totals,
percentages, the derived columns and ratios, sizes against Table 1, subgroups adding up
to the general row and the "< median" split.
"""
from __future__ import annotations

from fractions import Fraction

from .builders import Claim, _count, _pct, _ranged, _rounded, _unverifiable, _wald_p
from .rounding import decimals_of, range_over_rounding, rounds_to

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
