"""`simkit calibrate`: the world's marginals against the published targets."""

HELP = ("compare the simulated world's marginals with the published calibration targets "
        "(exit status 1 if any is outside its tolerance)")


def register(p):
    p.add_argument("--n", type=int, default=100_000, metavar="N",
                   help="registry patients and treated patients simulated (default 100000)")
    p.add_argument("--seed", type=int, default=20200331, metavar="S", help="seed (default 20200331)")
    p.add_argument("--batches", type=int, default=10, metavar="B",
                   help="independent batches the Monte Carlo SE is computed from (default 10)")
    p.add_argument("--scenario", metavar="FILE", help="take the world from this scenario file "
                   "(default: the built-in defaults)")
    p.add_argument("--json", action="store_true",
                   help="print a list of {name, target, value, mcse, low, high, ok}")
    return run


def run(args):
    from simkit.errors import InputError
    if args.n < 1000:
        raise InputError("--n", f"expected an integer >= 1000, got {args.n}")
    if not 2 <= args.batches <= args.n // 200:
        raise InputError("--batches", f"expected an integer in [2, n / 200], got {args.batches}")
    if args.seed < 0:
        raise InputError("--seed", f"expected an integer >= 0, got {args.seed}")
    from simkit.world import calibration
    from simkit.world import model as world
    if args.scenario:
        from simkit.runner.scenario import load_scenario
        theta = load_scenario(args.scenario).theta()
    else:
        theta = world.build_theta()
    rows = calibration.run_calibration(theta, n=args.n, seed=args.seed, batches=args.batches)
    if args.json:
        from simkit.commands import print_json
        print_json([{k: r[k] for k in ("name", "target", "value", "mcse", "low", "high", "ok")}
                    for r in rows])
    else:
        print(f"simkit calibrate --n {args.n} --seed {args.seed} --batches {args.batches}"
              + (f" --scenario {args.scenario}" if args.scenario else ""))
        print(f"{'target':32s} {'published':>9s} {'engine':>9s} {'MCSE':>7s}   {'tolerance':<17s} ok")
        for r in rows:
            tol = f"[{r['low']:.3g}, {r['high']:.3g}]"
            print(f"{r['name']:32s} {r['target']:9.3f} {r['value']:9.3f} {r['mcse']:7.3f}   "
                  f"{tol:<17s} {'ok' if r['ok'] else 'NOT OK'}")
        n_bad = sum(not r["ok"] for r in rows)
        print(f"{len(rows) - n_bad} of {len(rows)} targets within tolerance")
    return 0 if all(r["ok"] for r in rows) else 1
