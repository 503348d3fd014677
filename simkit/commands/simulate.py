"""`simkit simulate`: one replicate's treated cohort and registry pool as CSV."""

HELP = ("write one replicate as CSV: the treated cohort and the registry pool (layout: docs/world.md), "
        "or with --matched its matched-cohort table (docs/matched-cohort.md)")


def register(p):
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML)")
    p.add_argument("--replicate", type=int, default=0, metavar="K", help="replicate index (default 0)")
    p.add_argument("--condition", type=int, default=0, metavar="C", help="condition index (default 0)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV")
    p.add_argument("--matched", action="store_true",
                   help="write the replicate's matched pairs as a matched-cohort table; "
                        "`simkit analyze` on it reproduces the replicate's stored results")
    return run


def run(args):
    from simkit.errors import InputError
    from simkit.runner.grid import design_of, load_study
    from simkit.world.export import replicate_table
    if args.replicate < 0:
        raise InputError("--replicate", f"expected an integer >= 0, got {args.replicate}")
    if args.condition < 0:
        raise InputError("--condition", f"expected an integer >= 0, got {args.condition}")
    study = load_study(args.scenario)
    if study.source is not None:
        raise InputError(args.scenario, f"a [{study.source.kind}] scenario draws its patients from a registry, "
                                        "not the synthetic world: nothing to simulate; run it with simkit run "
                                        "(docs/registry.md)")
    if args.condition >= len(study.conditions):
        raise InputError("--condition", f"the scenario has {len(study.conditions)} condition(s): "
                                        f"expected 0..{len(study.conditions) - 1}, got {args.condition}")
    sc = study.conditions[args.condition].scenario
    if args.matched:
        from simkit.design.replicate import replicate_data
        rd = replicate_data(sc.theta(), design_of(sc, study.firth), sc.seed,
                            study.key_condition(args.condition), args.replicate)
        try:
            rd.table.write_csv(args.out)
        except OSError as e:
            raise InputError("--out", f"cannot write {args.out}: {e.strerror or e}") from None
        n_t = int(rd.value("n_treated"))
        print(f"wrote {args.out}: {rd.table.n_pairs} matched pairs of {n_t} treated "
              f"({n_t - rd.table.n_pairs} dropped by the exact set / caliper of "
              f"{design_of(sc).caliper} ALSFRS-R points/month), seed {sc.seed}, "
              f"condition {args.condition}, replicate {args.replicate}")
        return 0
    d = sc.design
    df = replicate_table(sc.theta(), sc.seed, study.key_condition(args.condition), args.replicate,
                         n_treated=d["n_treated"], pool_size=d["pool_size"],
                         pool_policy=d["pool_policy"], pool_block_size=d["pool_block_size"])
    try:
        df.to_csv(args.out, index=False)
    except OSError as e:
        raise InputError("--out", f"cannot write {args.out}: {e.strerror or e}") from None
    nt = int((df["cohort"] == "treated").sum())
    npool = len(df) - nt
    nel = int(df.loc[df["cohort"] == "pool", "eligible"].sum())
    print(f"wrote {args.out}: {nt} treated, {npool} pool ({nel} eligible as reference), "
          f"seed {sc.seed}, condition {args.condition}, replicate {args.replicate}")
