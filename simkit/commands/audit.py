"""`simkit audit`: the main job."""

HELP = ("audit the seed design: which worlds could have produced the paper (simkit infer), the seed world, the null-world bias decomposition, power, the caliper "
        "sweep and the claims ledger, and write DIR/report.md and report.html with figures")


def register(p):
    p.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="the seed-design scenario (default: scenarios/seed-design.toml); the other scenario "
                        "files (null-world, power, caliper, claim-11-per-group) are read from its folder")
    p.add_argument("--out", default="audit-report", metavar="DIR", help="report folder (default: audit-report)")
    p.add_argument("--reps", type=int, default=5000, metavar="N",
                   help="replicates in the seed world; the null world gets N/2 per condition, power N/4, "
                        "caliper N/8 (default 5000)")
    p.add_argument("--jobs", type=int, metavar="J", help="worker processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-inference", action="store_true",
                   help="skip the first section, which worlds could have produced the paper (simkit infer on "
                        "papers/barczewska2020.toml with 4 x N simulated studies)")
    return run


def run(args):
    from simkit.report.audit import run_audit
    first = ()
    if not args.no_inference:
        from simkit.inference.audit import section
        first = (section,)
    run_audit(args.scenario, out=args.out, reps=args.reps, jobs=args.jobs,
              progress=False if args.quiet else None, first=first)
    return 0
