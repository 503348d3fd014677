"""`simkit match TREATED.csv REGISTRY_DIR --out MATCHED.csv`: the seed design's
matching on a real registry, with its report."""

HELP = ("match a treated cohort (CSV) 1:1 to reference candidates of a registry (docs/registry.md: "
        "the contract's tables or a PRO-ACT download); writes the matched-cohort table and prints "
        "the matching report (match rate, the caliper's effect, balance)")


# Registration loads nothing that loads the kernels (`simkit analyze` on a cold cache must
# still be able to switch them to plain Python: warmup.python_kernels_if_cold), so the
# default exact set is written here; tests/test_api.py checks it is CHOICES' default.
DEFAULT_EXACT = ("sex", "race", "onset", "ft9_stage", "riluzole")


def _exact(text):
    from simkit.design.choices import CHOICE
    names = [s.strip() for s in text.split(",") if s.strip()] if text.strip().lower() != "none" else []
    return CHOICE["exact"].check(names, "--exact")


# Literal: registering a command must not import the choice table (it loads the
# kernels, and `analyze` decides before that whether to compile them).
# tests/test_match_cli.py checks each against CHOICES (name and unit).
REMEDIES = {
    "caliper_duration": "also within C months since onset of disease duration at time zero (the treated "
                        "file's duration_months; the registry's from onset_day)",
    "caliper_delta_fs": "also within C ALSFRS-R points/month of delta-FS = (48 - alsfrs_0) / duration",
    "caliper_total": "also within C ALSFRS-R points of the baseline total alsfrs_0 (0 = exact)",
}


def _remedies(args) -> dict:
    from simkit.design.choices import CHOICE
    from simkit.errors import InputError
    out = {}
    for name in REMEDIES:
        flag = "--" + name.replace("_", "-")
        raw = getattr(args, name)
        try:
            v = float(raw)
        except ValueError:
            raise InputError(flag, f"expected {CHOICE[name].allowed()} ({CHOICE[name].unit}), got {raw!r}") from None
        out[name] = CHOICE[name].check(v, flag)
    return out


def register(p):
    p.add_argument("treated", metavar="TREATED.csv",
                   help="one row per treated patient: the matched-cohort contract's columns without "
                        "pair_id and arm (docs/registry.md)")
    p.add_argument("registry", metavar="REGISTRY_DIR",
                   help="patients.csv + visits.csv, or the PROACT_*.csv tables of a PRO-ACT download")
    p.add_argument("--out", required=True, metavar="MATCHED.csv", help="matched-cohort table to write")
    p.add_argument("--caliper", default="0.5", metavar="C",
                   help="largest |pre-slope difference|, ALSFRS-R points/month (default 0.5; inf: none)")
    p.add_argument("--exact", default=",".join(DEFAULT_EXACT), metavar="VARS",
                   help=f"comma-separated variables matched exactly (default {','.join(DEFAULT_EXACT)}; "
                        "'none' for none)")
    p.add_argument("--policy", default="nearest", metavar="P",
                   help="which eligible candidate a treated patient gets: a match_choice (nearest, first, "
                        "random, worst) or optimal (match_order 'optimal'); default nearest (simkit.design.choices)")
    p.add_argument("--order", default="given", metavar="O",
                   help="match_order of a greedy match: given (the file's), random or hardest_first")
    p.add_argument("--match-peek", type=int, default=1, metavar="K",
                   help="match_peek: not available on a registry (its outcomes do not choose); 1")
    for name, text in REMEDIES.items():
        p.add_argument("--" + name.replace("_", "-"), default="inf", metavar="C",
                       help=f"design-side remedy: {text} (default inf = off; the {name} choice)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy / order (default 0)")
    p.add_argument("--tolerance", default="14", metavar="DAYS",
                   help="how far a visit may lie from its target day (6 months before, 2/4/6 after the "
                        "index visit), in days, below one month (default 14)")
    p.add_argument("--followup-months", default="6", metavar="M",
                   help="a candidate needs the visits 2, 4, ... <= M months after its index visit and to be "
                        "alive M months after it (the simulation's immortal_time_reference; default 6, "
                        "0 = off)")
    p.add_argument("--plot", metavar="LOVE.png", help="write a Love plot of the standardised differences")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--candidates", metavar="CANDIDATES.csv",
                   help="also write every reference candidate (index visit, pre visit, outcomes)")
    return run


def run(args):
    import math

    from simkit.commands import print_json
    from simkit.errors import InputError
    from simkit.realdata.registry import match_registry, read_registry, read_treated, reference_candidates

    try:
        caliper = float(args.caliper)
    except ValueError:
        raise InputError("--caliper", f"expected a number >= 0 in ALSFRS-R points/month (or inf), "
                                      f"got {args.caliper!r}") from None
    if math.isnan(caliper) or caliper < 0:
        raise InputError("--caliper", f"expected a number >= 0 in ALSFRS-R points/month, got {args.caliper!r}")
    if args.seed < 0:
        raise InputError("--seed", f"expected an integer >= 0, got {args.seed}")
    exact = _exact(args.exact)
    try:
        tol = float(args.tolerance)
        fu = float(args.followup_months)
    except ValueError:
        raise InputError("--tolerance / --followup-months", "expected numbers (days / months)") from None
    treated = read_treated(args.treated)
    reg = read_registry(args.registry)
    cand = reference_candidates(reg, tol, fu)
    from simkit.design.choices import CHOICE, from_policy
    order = CHOICE["match_order"].check(args.order, "--order")
    if order == "optimal":
        raise InputError("--order", "expected given, random or hardest_first (optimal is a --policy)")
    how = {"match_choice": "nearest", "match_order": order, **from_policy(args.policy)}
    if args.match_peek > 1:
        CHOICE["match_peek"].check(args.match_peek, "--match-peek")
        raise InputError("--match-peek", "a peek needs the candidates' outcomes, which a registry match "
                                         "does not use for choosing; not available in simkit match")
    m = match_registry(treated, cand, exact, caliper, how["match_choice"], how["match_order"], args.seed,
                       reg.drops, reg.notes, **_remedies(args))
    try:
        m.table.write_csv(args.out)
        if args.candidates:
            cand.table.to_csv(args.candidates, index=False, float_format="%.17g")
        if args.plot:
            from simkit.realdata.balance import love_plot
            love_plot(m.balance, args.plot)
    except OSError as e:
        raise InputError("--out / --candidates / --plot", f"cannot write: {e.strerror or e}") from None
    if args.json:
        d = m.to_dict()
        d["out"] = args.out
        print_json(d)
    else:
        print(m.summary())
        print(f"\nwrote {args.out}: {m.table.n_pairs} pairs (simkit analyze {args.out} runs the seed analysis)")
        if args.plot:
            print(f"Love plot written to {args.plot}")
    return 0
