"""The `simkit` command line.

Each subcommand is a thin layer over a module; user errors (SimkitError) are
printed as one line on stderr with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from .errors import SimkitError

# One module per subcommand in simkit/commands/, each with HELP and
# register(subparser) -> handler(args); the subcommand is the module name with
# "-" for "_" (tipping_point -> tipping-point).  Heavy imports happen in the handler so
# that `simkit --help` stays fast.
COMMAND_MODULES = ["audit", "analyze", "simulate", "calibrate", "run", "summarize",
                   "plot", "power", "claims", "tipping_point"]


def _json_default(o):
    import numpy as np
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def clean_json(obj):
    """Replace NaN / inf by None recursively: JSON output never holds them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    try:
        import numpy as np
        if isinstance(obj, np.floating):
            f = float(obj)
            return f if math.isfinite(f) else None
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.ndarray):
            return clean_json(obj.tolist())
    except ImportError:  # pragma: no cover
        pass
    return obj


def print_json(obj):
    print(json.dumps(clean_json(obj), indent=2, allow_nan=False, default=_json_default))


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
        cmd = name.replace("_", "-")
        sp = subs.add_parser(cmd, help=mod.HELP, description=mod.HELP)
        handlers[cmd] = mod.register(sp)
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
