"""`simkit summarize STORE | TABLE.csv`: performance measures, each with its Monte Carlo SE."""

HELP = ("performance measures (bias, coverage, rejection, ...) with Monte Carlo SEs of a finished run, "
        "or of any simulation study's long table of estimates (CSV)")

TABLE_FLAGS = ("estimate", "se", "true", "method", "ref", "by", "ci", "p", "rep", "cluster")


def register(p):
    p.add_argument("store", metavar="STORE|TABLE.csv",
                   help="a store written by `simkit run`, or a CSV with one row per replicate (x method x "
                        "condition): the measures of simkit.report.measures.simsum (docs/summary.md)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--estimand", metavar="E",
                   help="a store: what bias, coverage and MSE of the log HR are measured against: followup_marginal "
                        "(default: the marginal HR under the design's own follow-up, from counterfactual twins), "
                        "marginal (the same without censoring) or conditional (the scenario's treatment.hr); "
                        "every estimand also has its own measures (conditional_bias, marginal_bias, "
                        "followup_marginal_bias, ...)")
    g = p.add_argument_group("a CSV table (like rsimsum::simsum)")
    g.add_argument("--estimate", metavar="COL", help="column of point estimates (required for a CSV)")
    g.add_argument("--true", metavar="VALUE|COL", help="the true value: a number or a column (required for a CSV)")
    g.add_argument("--se", metavar="COL", help="column of model SEs")
    g.add_argument("--method", metavar="COL", help="column naming the method")
    g.add_argument("--ref", metavar="METHOD", help="reference method for the relative precision (default: the first)")
    g.add_argument("--by", metavar="COL", nargs="+", help="column(s) naming the condition")
    g.add_argument("--ci", metavar="COL", nargs=2, help="columns of the CI limits (default: estimate -+ z se)")
    g.add_argument("--p", metavar="COL", help="column of p-values (default: from estimate / se)")
    g.add_argument("--rep", metavar="COL", help="column identifying the replicate, to pair methods")
    g.add_argument("--cluster", metavar="COL", help="column of cluster labels (cluster-robust MCSEs)")
    g.add_argument("--alpha", type=float, default=0.05, help="level of the tests (default 0.05)")
    g.add_argument("--level", type=float, default=0.95, help="level of the computed CIs (default 0.95)")
    return run


def _m(d, digits=3):
    if d is None or d.get("estimate") is None:
        return "-"
    e, s = d["estimate"], d["mcse"]
    return f"{e:.{digits}g} ({s:.1g})" if s is not None else f"{e:.{digits}g}"


LABELS = {"followup_marginal": "marginal under follow-up", "marginal": "marginal, no censoring",
          "conditional": "conditional"}


def _truth_line(t) -> str:
    parts = [f"conditional log HR {t['conditional_log_hr']:.3f}"]
    if t.get("marginal_log_hr") is not None:
        parts.append(f"marginal log HR {t['marginal_log_hr']:.3f} (no censoring)")
    if t.get("marginal_log_hr_followup") is not None:
        parts.append(f"{t['marginal_log_hr_followup']:.3f} (under the design's follow-up)")
    line = "  truth: " + ", ".join(parts)
    if t.get("rmst_difference_3y") is not None:
        line += (f"\n  true fixed-horizon effects (treated - untreated): RMST to 3 years "
                 f"{t['rmst_difference_3y']:.1f} days, survival at 2 years {t['survival_difference_2y']:.3f}, "
                 f"6-month ALSFRS-R change {t['change_difference_6m']:.2f} points")
    return line


def render(summary) -> str:
    est = summary.get("estimand", "conditional")
    lines = [f"{summary['store']}: seed {summary['seed']}, {summary['replicates']} replicates per condition, "
             f"alpha {summary['alpha']}",
             f"estimate (Monte Carlo SE); bias, coverage and MSE of the log HR against the estimand {est}: "
             f"{summary.get('estimand_description', '')} (--estimand)"]
    if summary.get("estimand_note"):
        lines.append(f"note: {summary['estimand_note']}")
    lines.append("")
    for c in summary["conditions"]:
        coords = ", ".join(f"{k}={v}" for k, v in c["coords"].items()) or "the scenario"
        lines.append(f"condition {c['condition']}: {coords}")
        lines.append(_truth_line(c["truth"]))
        if c.get("mcse_note"):
            # a fixed registry's MCSEs leave out registry-to-registry variation: without this line its
            # offset (SD about 0.05 in log HR in the fair world) reads as a design bias
            lines.append(f"  MCSEs: {c['mcse_note']}")
        vc, ve = c["vs_conditional"], c.get("vs_estimand", c["vs_conditional"])
        lines.append(f"  HR median {_m(c['hr_quantiles']['q0.5'])}, 95% range "
                     f"{_m(c['hr_quantiles']['q0.025'])} to {_m(c['hr_quantiles']['q0.975'])}")
        lines.append(f"  vs {LABELS[est]} truth ({est}): bias of log HR {_m(ve['bias'])}, empirical SE "
                     f"{_m(ve['empirical_se'])}, model SE {_m(ve['model_se'])}, MSE {_m(ve['mse'])}, "
                     f"coverage {_m(ve.get('coverage'))}")
        lines.append(f"  rejection (Cox Wald) {_m(vc.get('rejection'))}, "
                     f"smallest of 5 tests {_m(c['rejection_min_of_5_tests'])}")
        others = [f"{LABELS[f]} bias {_m(c[f'vs_{f}']['bias'])}, coverage {_m(c[f'vs_{f}'].get('coverage'))}"
                  for f in ("conditional", "marginal", "followup_marginal") if f != est and f"vs_{f}" in c]
        if others:
            lines.append("  vs the other truths: " + "; ".join(others))
        if "pair_robust" in c:
            # the robust SE and the stratified fit: coverage against the chosen estimand where the
            # store has it, the model SE and rejection (no truth) from the conditional family
            pr, ps = c["pair_robust"], c["pair_stratified"]
            prc, psc = pr["vs_conditional"], ps["vs_conditional"]
            pre, pse = pr.get(f"vs_{est}", prc), ps.get(f"vs_{est}", psc)
            lines.append(f"  robust SE (clustered on pair) {_m(prc['model_se'])}, its coverage vs {est} "
                         f"{_m(pre.get('coverage'))}, rejection {_m(prc.get('rejection'))}")
            lines.append(f"  stratified by pair: bias vs {est} {_m(pse['bias'])}, empirical SE "
                         f"{_m(psc['empirical_se'])}, model SE {_m(psc['model_se'])}, coverage vs {est} "
                         f"{_m(pse.get('coverage'))}, rejection {_m(psc.get('rejection'))}")
        mc = c["mean_classes"]
        lines.append(f"  classes decreased / no change / increased: {_m(mc['n_decreased'])} / "
                     f"{_m(mc['n_no_change'])} / {_m(mc['n_increased'])}")
        pe = c["p_as_extreme_as_paper"]
        lines.append(f"  P(as extreme as the paper): HR<=0.30 & p<=0.0004 {_m(pe['hr_and_p'])}, "
                     f">=21 decreased {_m(pe['n_decreased_ge_21'])}, median ratio {_m(pe['median_ratio_ge_paper'])}")
        lines.append(f"    signed-rank p<=0.008 either direction {_m(pe['signed_rank_p'])}, "
                     f"OLS p<=0.0003 with a negative treated coefficient (the paper's direction) {_m(pe['ols_p'])}")
        lines.append(f"  match rate {_m(c['match_rate'])}, Cox not estimable {_m(c['degenerate_cox'])}, "
                     f"nothing matched {_m(c['nothing_matched'])}")
        other = [f"{f}: " + ", ".join(f"{r} {_m(m)}" for r, m in sh.items() if r != "ok" and m["estimate"])
                 for f, sh in c.get("status_shares", {}).items()
                 if any(m["estimate"] for r, m in sh.items() if r != "ok")]
        if other:
            lines.append("  status codes other than ok: " + "; ".join(other))
        lines.append("")
    return "\n".join(lines)


def table_records(ds) -> list:
    """A simsum Dataset as one record per (condition, method, measure), for JSON."""
    df = ds[["estimate", "mcse", "n"]].to_dataframe().reset_index()
    df = df[df["n"].notna()]
    return df.astype({"n": int}).to_dict(orient="records")


def render_table(ds, source) -> str:
    import numpy as np
    index = [d for d in ds["estimate"].dims if d != "measure"]
    lines = [f"{source}: estimate (Monte Carlo SE) [n]; true value {ds.attrs['true']}"
             + (f", reference method {ds.attrs['ref']}" if ds.attrs.get("ref") is not None else ""), ""]
    stacked = ds.stack(_cell=index) if index else ds.expand_dims(_cell=[0])
    for i in range(stacked.sizes["_cell"]):
        cell = stacked.isel(_cell=i)
        if index:
            lines.append(", ".join(f"{ds[d].attrs.get('column', d)}={cell[d].item()}" for d in index))
        for m in ds["measure"].values:
            e, s, n = (cell[v].sel(measure=m).item() for v in ("estimate", "mcse", "n"))
            if n != n:  # no such cell (NaN n): a method absent in this condition
                continue
            es = f"{e:.4g}" if np.isfinite(e) else "-"
            ss = f"{s:.2g}" if np.isfinite(s) else "n/a"
            lines.append(f"  {m:<24} {es} ({ss}) [{int(n)}]")
        lines.append("")
    return "\n".join(lines)


def _run_table(args):
    import pandas as pd

    from simkit.commands import print_json
    from simkit.errors import InputError
    from simkit.report.measures import SimsumError, simsum
    where = args.store
    for flag in ("estimate", "true"):
        if getattr(args, flag) is None:
            raise InputError(f"--{flag}", f"required for a CSV table ({where}): "
                                          "the column of estimates (--estimate) and the truth (--true)")
    try:
        df = pd.read_csv(where)
    except (OSError, ValueError) as e:
        raise InputError(where, f"cannot read the CSV: {e}") from None
    true = args.true
    try:
        true = float(true)
    except ValueError:
        pass  # a column name
    flag = {"estvarname": "--estimate", "true": "--true", "se": "--se", "methodvar": "--method", "ref": "--ref",
            "by": "--by", "ci_limits": "--ci", "p": "--p", "repvar": "--rep", "cluster": "--cluster",
            "alpha": "--alpha", "level": "--level", "data": where}
    try:
        ds = simsum(df, args.estimate, true, se=args.se, methodvar=args.method, ref=args.ref, by=args.by,
                    ci_limits=args.ci, p=args.p, alpha=args.alpha, level=args.level, repvar=args.rep,
                    cluster=args.cluster)
    except SimsumError as e:
        raise InputError(flag.get(e.where, e.where), e.message) from None
    if args.json:
        print_json({"table": where, **{k: v for k, v in ds.attrs.items()}, "measures": table_records(ds)})
    else:
        print(render_table(ds, where))
    return 0


def _is_table(path) -> bool:
    from pathlib import Path
    p = Path(path)
    return p.is_file() and p.suffix.lower() in (".csv", ".txt", ".gz")


def run(args):
    from simkit.commands import print_json
    from simkit.errors import InputError
    from simkit.report.summary import summarize, to_json
    from simkit.report.summary import ESTIMANDS
    if args.estimand is not None and args.estimand not in ESTIMANDS:
        raise InputError("--estimand", f"expected one of {', '.join(ESTIMANDS)}, got {args.estimand!r}")
    if _is_table(args.store):
        if args.estimand is not None:
            raise InputError("--estimand", f"only for a store written by `simkit run`; for a CSV table "
                                           f"({args.store}) give the truth with --true")
        return _run_table(args)
    used = [f for f in TABLE_FLAGS if getattr(args, f) is not None]
    if used:
        raise InputError(f"--{used[0]}", f"only for a CSV table; {args.store} is not a .csv file")
    s = to_json(summarize(args.store, estimand=args.estimand))
    if args.json:
        print_json(s)
    else:
        print(render(s))
    return 0
