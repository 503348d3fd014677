"""`simkit analyze FILE`: the seed paper's analysis of a user's matched table."""

HELP = "run the seed paper's analysis on a matched-cohort table (CSV/Parquet, contract v1.1)"


def register(p):
    p.add_argument("file", metavar="FILE", help="matched-cohort table (see docs/matched-cohort.md)")
    p.add_argument("--json", action="store_true", help="print the contract's JSON object instead of a table")
    p.add_argument("--firth", action="store_true",
                   help="also fit Firth-penalised Cox and logistic models (finite under separation)")
    p.add_argument("--plot", metavar="OUT.png", help="draw Kaplan-Meier curves with numbers at risk "
                   "and the response-class bar chart")
    p.add_argument("--paper-out", metavar="PAPER.toml",
                   help="also write the table's reported numbers as a paper file (docs/paper-file.md), "
                        "for `simkit infer`")
    p.add_argument("--paper-template", metavar="PAPER.toml",
                   help="the paper file whose design, numbers and precisions --paper-out follows "
                        "(default: the shipped seed paper, papers/barczewska2020.toml)")
    return run


def _fmt(x, spec=".3g"):
    import math
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, str)):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return format(x, spec)


def render(res, source) -> str:
    from simkit.paper.seed import reported
    rep = reported()
    d = res.to_dict()
    s, pr = rep["survival"], rep["progression"]
    e = rep["early_response"]
    rows = [
        ("pairs", d["n_pairs"], rep["design"]["n_treated"]),
        ("Cox HR (Efron)", d["hr"], s["hr"]),
        ("  95% CI", f"{_fmt(d['hr_ci_low'])} to {_fmt(d['hr_ci_high'])}", f"{s['hr_ci_low']} to {s['hr_ci_high']}"),
        ("  Wald p", d["hr_p"], s["hr_p"]),
        ("  deaths treated / reference", f"{d['n_events_treated']} / {d['n_events_reference']}", "-"),
        ("  95% CI, SE robust to pairing", f"{_fmt(d['hr_ci_low_robust'])} to {_fmt(d['hr_ci_high_robust'])}", "-"),
        ("  Wald p, SE robust to pairing", d["hr_p_robust"], "-"),
        ("Cox HR stratified by pair", d["hr_strat"], "-"),
        ("  95% CI", f"{_fmt(d['hr_strat_ci_low'])} to {_fmt(d['hr_strat_ci_high'])}", "-"),
        ("  Wald p", d["hr_strat_p"], "-"),
        ("  informative pairs", d["n_pairs_informative"], "-"),
        ("KM median treated, days", d["median_days_treated"] if d["median_treated_reached"] else "not reached",
         s["median_days_treated"]),
        ("KM median reference, days", d["median_days_reference"] if d["median_reference_reached"] else "not reached",
         s["median_days_reference"]),
        ("log-rank p", d["logrank_p"], s["median_p"]),
        ("Gehan-Breslow p", d["gehan_p"], "-"),
        ("Tarone-Ware p", d["tarone_ware_p"], "-"),
        ("Peto-Peto p", d["peto_p"], "-"),
        ("decreased / no change / increased",
         f"{d['n_decreased']} / {d['n_no_change']} / {d['n_increased']}",
         f"{pr['n_decreased']} / {pr['n_no_change']} / {pr['n_increased']}"),
        ("early response coef (logit)", d["early_coef"], e["coef"]),
        ("  95% CI", f"{_fmt(d['early_ci_low'])} to {_fmt(d['early_ci_high'])}", f"{e['ci_low']} to {e['ci_high']}"),
        ("  p", d["early_p"], e["p"]),
        ("signed-rank p (pre vs during rate)", d["signed_rank_p"], pr["signed_rank_p"]),
        ("OLS treated coef", d["treated_coef"], pr["ols_treated_coef"]),
        ("  SE", d["treated_se"], pr["ols_treated_se"]),
        ("  p", d["treated_p"], pr["ols_treated_p"]),
    ]
    if "firth" in d:
        f = d["firth"]
        rows += [("Firth Cox HR", f["hr"], "-"),
                 ("  95% CI", f"{_fmt(f['hr_ci_low'])} to {_fmt(f['hr_ci_high'])}", "-"),
                 ("Firth early coef", f["early_coef"], "-")]
    w0 = max(len(r[0]) for r in rows) + 2
    out = [f"simkit analyze: {source}", "",
           f"{'quantity':<{w0}}{'this file':>18}  {'seed paper':>14}",
           "-" * (w0 + 34)]
    for name, mine, theirs in rows:
        out.append(f"{name:<{w0}}{_fmt(mine):>18}  {_fmt(theirs):>14}")
    out += ["", "subgroups of the treated (decreased / no change / increased, ratio, chi-square p):"]
    for g in d["subgroups"]:
        out.append(f"  {g['factor']:<12}{g['level']:<10} n={g['n']:<4} "
                   f"{g['n_decreased']:>3} / {g['n_no_change']:>3} / {g['n_increased']:>3}   "
                   f"ratio {_fmt(g['ratio']):>6}   p {_fmt(g['chi2_p'])}")
    dropped = {k: v for k, v in d["dropped"].items() if v}
    out.append("")
    out.append("pairs left out of a step (missing values): " +
               (", ".join(f"{k} {v}" for k, v in dropped.items()) if dropped else "none"))
    bad = {k: v for k, v in d["status"].items() if v != "ok"}
    if bad:
        out.append("steps without a result: " + ", ".join(f"{k} ({v})" for k, v in bad.items()))
    return "\n".join(out)


def run(args):
    from simkit.kernels.warmup import python_kernels_if_cold
    python_kernels_if_cold(args.file)   # a first, small analysis: no 35 s of compilation
    from simkit.analysis.matched import analyze, read_table
    from simkit.commands import print_json

    table = read_table(args.file)
    res = analyze(table, firth=args.firth)
    if args.json:
        print_json(res.to_dict())
    else:
        print(render(res, args.file))
    if args.paper_out:
        missing = write_paper(table, res, args.file, args.paper_out, args.paper_template)
        if not args.json:
            print(f"\npaper file written to {args.paper_out}"
                  + (f" (left out, no value: {', '.join(missing)})" if missing else ""))
    if args.plot:
        from simkit.report.plots import plot_analysis
        plot_analysis(table, res, args.plot)
        if not args.json:
            print(f"\nplot written to {args.plot}")
    return 0


def write_paper(table, res, source, out, template=None) -> list:
    """The table's numbers as a paper file (the template's numbers at its precisions); returns the
    names of the numbers left out (no value).  A KM median not reached is written as at least the
    arm's last follow-up time."""
    import math
    from pathlib import Path

    from simkit.analysis.observed import design_fields
    from simkit.errors import InputError
    from simkit.kernels import seedanalysis as SA
    from simkit.paper.file import dumps_paper, load_paper, paper_with_numbers, shipped

    tpl = load_paper(template or shipped())
    values = {name: float(res.vector[i]) for i, name in enumerate(SA.FIELDS)}
    values.update(design_fields(table))
    bounds = {}
    for a, arm in enumerate(("treated", "reference")):
        if not values.get(f"median_{arm}_reached", 1) == 1 and table.n_pairs:
            last = float(max(table.time_days[:, a]))
            bounds[f"median_days_{arm}"] = (last, f"not reached: the {arm} KM curve stays above 0.5 up to "
                                                  f"the last follow-up, {last:.0f} days")
            values[f"median_days_{arm}"] = math.nan
    paper, missing = paper_with_numbers(tpl, values, citation=f"simkit analyze {Path(source).name}",
                                        where=f"simkit analyze {Path(source).name}",
                                        n_treated=table.n_pairs or None, lower_bounds=bounds)
    if not paper.evidence():
        raise InputError("--paper-out", "the table gives none of the template's evidence numbers")
    text = dumps_paper(paper, header=f"Written by `simkit analyze {source} --paper-out {out}`: the table's numbers\n"
                                     f"in the format of docs/paper-file.md, at the precisions of\n{tpl.citation[:90]}")
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError("--paper-out", f"cannot write {out}: {e.strerror or e}") from None
    return missing
