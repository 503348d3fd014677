"""`simkit power`: exact and simulated power of the seed paper's end-of-observation comparison."""

HELP = ("exact and simulated power of two-proportion tests (Fisher, chi-square with and "
        "without Yates, Barnard, Boschloo) for the seed paper's claim of 90 percent power with "
        "11 per group (40 vs 0 percent alive), and n per group for 80 / 90 percent power")

_EPILOG = """\
The proportions are those alive at the end of observation.  The defaults are the
paper's claim (Statistical Analysis): about 40% treated vs 0% reference, "90%
statistical power in the sample size 11 person per one group", 100% at 67 per group.
0% reference survival is not what the reference population gives: pass the reference
survival proportion the engine's simulated world gives at the end of observation as
--p-control (the audit will wire that in), or an untreated "responder" rate (about
20% by a +-3-point rule) with the treated rate as --p-treated.

Power is the exact sum over all (n+1)^2 outcomes of the two binomials of
P(outcome) * [p-value <= alpha], two-sided, with p-values as scipy.stats computes
them; the simulated power uses scipy.stats' own test functions on each simulated
table.  See docs/power.md.
"""


def register(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG
    p.add_argument("--p-treated", type=float, default=0.40, metavar="P1",
                   help="proportion alive at the end of observation, treated (default 0.40, the paper's)")
    p.add_argument("--p-control", type=float, default=0.0, metavar="P0",
                   help="proportion alive at the end of observation, reference (default 0.0, the "
                        "paper's; a realistic value is the reference survival the engine's world gives)")
    p.add_argument("--n", type=int, default=11, metavar="N",
                   help="patients per group (default 11, the paper's)")
    p.add_argument("--alpha", type=float, default=0.05, metavar="A",
                   help="two-sided significance level (default 0.05)")
    p.add_argument("--reps", type=int, default=10000, metavar="R",
                   help="simulated trials per test (default 10000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="simulation seed (default 0)")
    p.add_argument("--test", action="append", metavar="NAME",
                   help="only this test (repeatable): fisher, chi2, chi2_yates, barnard, boschloo")
    p.add_argument("--n-max", type=int, default=2000, metavar="N",
                   help="largest n per group searched for 80%% / 90%% power (default 2000)")
    p.add_argument("--fast-sim", action="store_true",
                   help="simulate with the exact rejection regions instead of calling scipy's test "
                        "on every distinct table (fast, but then the simulation checks only the sum)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    return run


def _pct(x):
    import math
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}%"


def _n(ss):
    if ss.n_first is None:
        return f"> {ss.checked_up_to}" if ss.checked_up_to else "never"
    if ss.n_stable == ss.n_first:
        return str(ss.n_first)
    if ss.n_stable is None:
        return f"{ss.n_first} (dips to {ss.checked_up_to})"
    return f"{ss.n_first} (stays from {ss.n_stable})"


def render(res) -> str:
    from simkit.paper.power import PAPER_CLAIM, TEST_LABELS
    d = res.to_dict()
    other = sorted(res.exact_at)
    head = (f"simkit power: alive at end of observation {_pct(res.p_treated)} treated vs "
            f"{_pct(res.p_control)} reference, {res.n_per_group} per group, two-sided alpha {res.alpha:g}")
    sim_how = ("exact rejection regions" if res.engine == "table"
               else "scipy.stats' own test on each simulated table")
    cols = ["test", f"exact, n={res.n_per_group}", "simulated (MCSE)"]
    cols += [f"exact, n={m}" for m in other]
    cols += ["n/group 80%", "n/group 90%"]
    rows = []
    for t, pw in res.exact.items():
        sp, se = res.simulated[t]
        r = [TEST_LABELS[t], _pct(pw), f"{_pct(sp)} ({100 * se:.1f})"]
        r += [_pct(res.exact_at[m][t]) for m in other]
        r += [_n(res.sample_size_80[t]), _n(res.sample_size_90[t])]
        rows.append(r)
    w = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = lambda r: "  ".join(x.ljust(w[0]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r))
    out = [head, f"simulation: {res.reps} trials per test, seed {res.seed}, {sim_how}", "",
           line(cols), "-" * len(line(cols))]
    out += [line(r) for r in rows]
    ap = res.approximate
    out += ["",
            "normal approximations (not exact tests): arcsine / Cohen's h "
            f"{_pct(ap['arcsine'])}, pooled z {_pct(ap['pooled_z'])}, Wald {_pct(ap['wald'])}",
            "", f"the paper's claim: {_pct(PAPER_CLAIM['claimed_power'])} power at "
            f"{PAPER_CLAIM['n_per_group']} per group and {_pct(PAPER_CLAIM['claimed_power_full'])} at "
            f"{PAPER_CLAIM['n_per_group_full']} per group for about "
            f"{_pct(PAPER_CLAIM['p_treated'])} vs {_pct(PAPER_CLAIM['p_control'])} (Statistical Analysis)"]
    notes = []
    if any(ss.n_stable != ss.n_first for ss in list(res.sample_size_80.values())
           + list(res.sample_size_90.values()) if ss.n_first is not None):
        notes.append("'stays from m': power reaches the target at the first n but falls below it "
                     "again before m (exact tests' power saw-tooths in n)")
    if res.p_control == 0.0 or res.p_control == 1.0:
        notes.append("with a reference proportion of exactly 0 (or 1) only the treated count varies: "
                     "each test rejects from some number of treated survivors on")
    if notes:
        out += [""] + [f"note: {x}" for x in notes]
    return "\n".join(out)


def run(args):
    from simkit.commands import print_json
    from simkit.errors import InputError
    from simkit.paper.power import TESTS, power_analysis
    tests = tuple(args.test) if args.test else TESTS
    for t in tests:
        if t not in TESTS:
            raise InputError("--test", f"unknown test {t!r}; expected one of {', '.join(TESTS)}")
    if args.n_max < 1:
        raise InputError("--n-max", f"expected an integer >= 1, got {args.n_max}")
    if args.seed < 0:
        raise InputError("--seed", f"expected an integer >= 0, got {args.seed}")
    res = power_analysis(args.p_treated, args.p_control, args.n, alpha=args.alpha, reps=args.reps,
                         seed=args.seed, tests=tests, engine="table" if args.fast_sim else "scipy",
                         n_max=args.n_max)
    if args.json:
        print_json(res.to_dict())
    else:
        print(render(res))
    return 0
