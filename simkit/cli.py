"""The `simkit` command line.

Each subcommand is a thin layer over a module; user errors (SimkitError) are
printed as one line on stderr with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import sys

from .errors import SimkitError

# One module per subcommand in simkit/commands/, each with HELP and
# register(subparser) -> handler(args).  Heavy imports happen in the handler so
# that `simkit --help` stays fast.
COMMAND_MODULES = ["audit", "analyze", "simulate", "calibrate", "run", "summarize",
                   "plot", "power", "claims", "match"]


def build_parser():
    import importlib
    import importlib.util

    p = argparse.ArgumentParser(prog="simkit", description=__doc__.splitlines()[0])
    from . import __version__
    p.add_argument("--version", action="version", version=f"simkit {__version__}")
    subs = p.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for name in COMMAND_MODULES:
        modname = f"simkit.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue  # not built yet
        mod = importlib.import_module(modname)
        sp = subs.add_parser(name, help=mod.HELP, description=mod.HELP)
        handlers[name] = mod.register(sp)
    return p, handlers


def main(argv=None):
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        rc = handlers[args.command](args)
    except SimkitError as e:
        print(f"simkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `simkit ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"simkit {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0 if rc is None else int(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
