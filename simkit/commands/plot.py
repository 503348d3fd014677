"""`simkit plot STORE --kind zip|nested-loop|hist|priors --out FILE.png`."""

HELP = ("plot a stored run: zip plot of CIs, nested-loop plot of a measure over the grid, HR histograms, "
        "HR against the magnitudes drawn from priors")


def register(p):
    p.add_argument("store", metavar="STORE", help="a store written by `simkit run`")
    p.add_argument("--kind", required=True, choices=("zip", "nested-loop", "hist", "priors"), help="which plot")
    p.add_argument("--out", required=True, metavar="FILE.png", help="image to write")
    p.add_argument("--measure", default="rejection",
                   help="nested-loop: rejection, bias, bias_conditional, bias_marginal, bias_followup, coverage, "
                        "empirical_se, mse, p_extreme, match_rate (bias and coverage: against the summary's "
                        "default estimand, the marginal HR under the design's follow-up)")
    p.add_argument("--truth", default=None, choices=("followup_marginal", "marginal", "conditional"),
                   help="zip: the true log HR the intervals are judged against (default: the summary's estimand, "
                        "followup_marginal when the store has it)")
    p.add_argument("--condition", type=int, nargs="+", metavar="C", help="zip/hist: which conditions (default: up to 12)")
    return run


def run(args):
    from simkit.report import plots
    if args.kind == "zip":
        plots.zip_plot(args.store, args.out, truth=args.truth, conditions=args.condition)
    elif args.kind == "hist":
        plots.hist_plot(args.store, args.out, conditions=args.condition)
    elif args.kind == "priors":
        plots.prior_plot(args.store, args.out, condition=(args.condition or [0])[0])
    else:
        plots.nested_loop_plot(args.store, args.out, measure=args.measure)
    print(f"wrote {args.out}")
    return 0
