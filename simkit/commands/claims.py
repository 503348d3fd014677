"""`simkit claims`: the seed paper's quantitative claims against its own numbers."""

HELP = ("the claims ledger: every quantitative claim of the seed paper with what its own "
        "printed numbers imply (percentages, table columns, ratios, p from CI, power) and a "
        "verdict (consistent / inconsistent / unverifiable)")

_EPILOG = """\
Each claim's recomputed value is computed from the paper's printed numbers (shipped in
simkit/data/seed_paper.json), never typed in.  Rounding rule: a value printed with k
decimals stands for the closed interval [v - 0.5*10^-k, v + 0.5*10^-k]; quantities
derived from rounded inputs (a p-value from a CI) are checked over a grid on the inputs'
rounding intervals.  difference = reported - recomputed.  See docs/claims.md.
"""


def register(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _EPILOG
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of objects (id, where, claim, reported, recomputed, "
                        "verdict, difference, note, decimals)")
    p.add_argument("--verdict", action="append", metavar="V",
                   help="only claims with this verdict (repeatable): consistent, inconsistent, unverifiable")
    p.add_argument("--notes", choices=("none", "inconsistent", "all"), default="inconsistent",
                   help="which notes to print under their rows in the table (default: those of "
                        "inconsistent and unverifiable claims)")
    return run


def run(args):
    from simkit.paper.claims import VERDICTS, ledger, render, to_records
    from simkit.commands import print_json
    from simkit.errors import InputError

    claims = ledger()
    if args.verdict:
        for v in args.verdict:
            if v not in VERDICTS:
                raise InputError("--verdict", f"unknown verdict {v!r}; expected one of {', '.join(VERDICTS)}")
        claims = [c for c in claims if c.verdict in args.verdict]
    if args.json:
        print_json(to_records(claims))
    else:
        print(render(claims, notes=args.notes))
    return 0
