"""`simkit tipping-point SCENARIO`: how large each bias would have to be, and the paper's E-values."""

HELP = ("how large each bias mechanism (alone, and all on one common scale) would have to be, "
        "with no treatment effect, for the design to report the paper's HR; and the paper's E-values")

_EPILOG = """\
Under the null (treatment hr 1, no rate change) each mechanism is moved from its
off value towards (and beyond) the scenario's value up to its allowed range or a
documented plausible cap, the others at the scenario's values and, separately,
off; then every mechanism together on one scale s (each magnitude = off + s x
(scenario - off), on the log scale for ratios such as era_hr).  For each, the
magnitude at which the median reported HR reaches --target-hr, and at which
P(HR <= target and Cox p <= the paper's 0.0004) reaches --level, with a
cluster-bootstrap CI (registry blocks resampled).  Common random numbers: every
magnitude uses the same seed, patients and registries.  See docs/sensitivity.md.
"""


def register(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML); its grid, if any, is ignored")
    p.add_argument("--target-hr", type=float, metavar="HR",
                   help="the HR to reach (default: the paper's, 0.30)")
    p.add_argument("--level", type=float, default=0.05, metavar="P",
                   help="P(HR <= target and p <= the paper's p) to reach (default 0.05)")
    p.add_argument("--mechanism", action="append", metavar="NAME",
                   help="only this mechanism (repeatable; the common scale then moves these)")
    p.add_argument("--others", choices=("both", "scenario", "off"), default="both",
                   help="the other mechanisms at the scenario's values, off, or both (default)")
    p.add_argument("--reps", type=int, metavar="N", help="replicates per magnitude (default: the scenario's)")
    p.add_argument("--jobs", type=int, metavar="J", help="processes (default: the CPUs this process may use)")
    p.add_argument("--bootstrap", type=int, default=400, metavar="B",
                   help="bootstrap resamples for the CIs (default 400)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    p.add_argument("--out", metavar="DIR", help="write tipping-points.md, .json and .png here")
    return run


def _num(x, nd=3):
    return "-" if x is None else f"{x:.{nd}g}"


def cell(r) -> str:
    """'magnitude (low-high)', or why there is none; an open CI end (resamples that never
    reach the target) shows as '-'."""
    if r["reachable"]:
        s = f"{_num(r['magnitude'])} ({_num(r['low'])}-{_num(r['high'])})"
        return s + (" already with it off" if r["status"] == "met with it off" else "")
    s = f"not reached by {_num(r['cap'])}"
    near = r["low"] if r["low"] is not None else r["high"]
    return s + (f" (within MC error at {_num(near)})" if near is not None else "")


def markdown(res, ev, lu) -> str:
    t = res.target
    out = [f"# Tipping points: {res.scenario_name or 'scenario'}", "",
           f"Null world (true HR 1), {res.reps} replicates per magnitude, seed {res.seed}, a new registry "
           f"every {res.block_size} replicates; {res.ci_level:.0%} CIs from {res.n_boot} cluster-bootstrap "
           f"resamples.", "",
           f"E-values of the paper's HR {ev.hr:g} ({ev.ci_low:g}-{ev.ci_high:g}): {ev.estimate:.2f} "
           f"(CI limit {ev.ci_limit:.2f}) for a common outcome, {ev.estimate_rare:.2f} "
           f"({ev.ci_limit_rare:.2f}) for a rare one.", "", lu.sentence, "",
           f"| mechanism | others | median HR <= {t.hr:g} | P(HR <= {t.hr:g}, p <= {t.p:g}) >= {t.level:g} "
           f"| off | unit |", "|---|---|---|---|---|---|"]
    rows = res.rows()
    for i in range(0, len(rows), 2):
        a, b = rows[i], rows[i + 1]
        out.append(f"| {a['mechanism']} | {a['others']} | {cell(a)} | {cell(b)} | {_num(a['off'])} | {a['unit']} |")
    return "\n".join(out) + "\n"


def run(args):
    import json
    import os
    from pathlib import Path

    from simkit.commands import clean_json, print_json
    from simkit.errors import InputError
    from simkit.runner.scenario import read_toml
    from simkit.sensitivity.evalues import e_values, latent_u
    from simkit.sensitivity.tipping import Target, tipping_points
    from simkit.paper.seed import reported

    if args.target_hr is not None and not 0 < args.target_hr < 1:
        raise InputError("--target-hr", f"expected a hazard ratio in (0, 1), got {args.target_hr}")
    if not 0 < args.level < 1:
        raise InputError("--level", f"expected a probability in (0, 1), got {args.level}")
    if args.reps is not None and args.reps < 2:
        raise InputError("--reps", f"expected an integer >= 2, got {args.reps}")
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs", f"expected an integer >= 1, got {args.jobs}")
    if args.bootstrap < 20:
        raise InputError("--bootstrap", f"expected an integer >= 20, got {args.bootstrap}")
    jobs = args.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    s = reported()["survival"]
    ev = e_values(s["hr"], s["hr_ci_low"], s["hr_ci_high"])
    lu = latent_u(ev)
    _, data = read_toml(args.scenario)
    others = ("scenario", "off") if args.others == "both" else (args.others,)
    res = tipping_points(data, target=Target.paper(args.target_hr, args.level), mechanisms=args.mechanism,
                         reps=args.reps, others=others, jobs=jobs, n_boot=args.bootstrap)
    doc = {"scenario": args.scenario, "e_values": ev.to_dict(), "latent_u": lu.to_dict(), **res.to_dict()}
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        (d / "tipping-points.md").write_text(markdown(res, ev, lu))
        (d / "tipping-points.json").write_text(json.dumps(clean_json(doc), indent=2) + "\n")
        from simkit.report.plots import tipping_plot
        tipping_plot(res, d / "tipping-points.png")
    if args.json:
        print_json(doc)
    else:
        print(markdown(res, ev, lu), end="")
        if args.out:
            print(f"\nwritten: {args.out}/tipping-points.md, .json, .png")
    return 0
