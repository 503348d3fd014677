"""`simkit simulate`: one replicate's treated cohort and registry pool as CSV."""

HELP = "write the treated cohort and the registry pool of one replicate as CSV (layout: docs/world.md)"


def register(p):
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML)")
    p.add_argument("--replicate", type=int, default=0, metavar="K", help="replicate index (default 0)")
    p.add_argument("--condition", type=int, default=0, metavar="C", help="condition index (default 0)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV")
    return run


def run(args):
    from ..errors import InputError
    from ..scenario import load_scenario
    from ..world import replicate_table
    if args.replicate < 0:
        raise InputError("--replicate", f"expected an integer >= 0, got {args.replicate}")
    if args.condition < 0:
        raise InputError("--condition", f"expected an integer >= 0, got {args.condition}")
    sc = load_scenario(args.scenario)
    d = sc.design
    df = replicate_table(sc.theta(), sc.seed, args.condition, args.replicate,
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
