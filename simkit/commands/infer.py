"""`simkit infer PAPER.toml`: which worlds (true effect, bias magnitudes) could have produced a paper."""

HELP = ("likelihood-free inference of the true HR and the bias mechanisms from a paper file's reported "
        "numbers (docs/inference.md)")


def register(p):
    p.add_argument("paper", metavar="PAPER.toml", help="paper file (docs/paper-file.md), e.g. "
                   "papers/barczewska2020.toml")
    p.add_argument("--scenario", metavar="S", help="scenario whose world and [priors] are used (default: the "
                   "shipped infer-priors.toml: every mechanism over its full tipping-point range; the effect's default priors are added unless it has its own)")
    p.add_argument("--reps", type=int, metavar="N", help="simulated studies in the reference table "
                   "(the prior's; default 100,000 for marginal, 20,000 for the others)")
    p.add_argument("--out", metavar="DIR", default="infer-out", help="directory of the resumable store and "
                   "the outputs (default infer-out; rerun the same command to resume)")
    p.add_argument("--jobs", type=int, metavar="J", help="worker processes (default: all cores)")
    p.add_argument("--quantile", type=float, metavar="Q", help="share of the closest simulations accepted "
                   "(default 0.05; marginal: per part and parameter, at least 200 studies)")
    p.add_argument("--method", choices=("marginal", "smc", "semiauto", "summaries", "rejection"),
                   help="marginal (default): each parameter's posterior from its own semi-automatic summary, in "
                        "independent parts of the reference table; "
                        "smc: sequential Monte Carlo ABC in independent runs from the reference table; "
                        "semiauto: the closest --quantile of the table on the distance of the summaries' "
                        "projections onto the parameters, regression-adjusted; summaries: the same on the scaled "
                        "summaries; rejection: the baseline, semiauto's accepted studies unadjusted")
    p.add_argument("--runs", type=int, metavar="K", help="marginal: independent parts of the reference table; "
                   "smc: independent runs; their spread is the Monte Carlo error (default 4)")
    p.add_argument("--particles", type=int, metavar="N", help="smc: particles per run (default 1,000)")
    p.add_argument("--budget", type=int, metavar="B", help="smc: most simulated studies after the reference "
                   "table, all runs together (default 80,000)")
    p.add_argument("--predictive", type=int, metavar="M", help="fresh studies at posterior draws for the "
                   "predictive checks (default 500; 0: none)")
    p.add_argument("--hr-prior", metavar="LOW,HIGH", help="log-uniform prior of the true HR (default 0.2,2.0)")
    p.add_argument("--seed", type=int, help="the reference table's seed (default: the scenario's)")
    p.add_argument("--no-plot", action="store_true", help="skip the pairs plot")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress")
    return run


def run(args):
    from simkit.commands import print_json
    from simkit.errors import InputError
    from simkit.inference import fit

    hr_prior = None
    if args.hr_prior:
        try:
            lo, hi = (float(x) for x in args.hr_prior.split(","))
        except ValueError:
            raise InputError("--hr-prior", f"expected LOW,HIGH like 0.2,2.0, got {args.hr_prior!r}") from None
        if not 0 < lo < hi:
            raise InputError("--hr-prior", f"expected 0 < LOW < HIGH, got {args.hr_prior!r}")
        hr_prior = (lo, hi)
    res = fit.run_inference(args.paper, scenario=args.scenario, reps=args.reps,
                            out=args.out, jobs=args.jobs, quantile=args.quantile or fit.DEFAULT_QUANTILE,
                            hr_prior=hr_prior, seed=args.seed, progress=False if args.quiet else None,
                            plot=not args.no_plot, method=args.method, runs=args.runs, particles=args.particles,
                            budget=args.budget, predictive=args.predictive)
    if args.json:
        print_json(fit.public(res))
    else:
        print(fit.render(res))
        print(f"\nwritten: {args.out}/posterior.json, posterior.csv" + ("" if args.no_plot else ", pairs.png"))
    return 0
