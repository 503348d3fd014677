"""The `simkit` command line.

Each subcommand is a thin layer over a module; user errors (SimkitError) are
printed as one line on stderr with exit status 2, system errors (disk, memory)
and bugs as one line with status 1; `--debug` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import sys

from simkit.errors import SimkitError

# One module per subcommand in simkit/commands/, each with HELP and
# register(subparser) -> handler(args); the subcommand is the module name with
# "-" for "_" (tipping_point -> tipping-point).  Heavy imports happen in the handler so
# that `simkit --help` stays fast.
COMMAND_MODULES = ["audit", "analyze", "simulate", "calibrate", "run", "summarize",
                   "plot", "power", "claims", "match", "tipping_point", "infer"]


def build_parser():
    import importlib
    import importlib.util

    p = argparse.ArgumentParser(prog="simkit", description=__doc__.splitlines()[0])
    from simkit import __version__
    p.add_argument("--version", action="version", version=f"simkit {__version__}")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error (any position on the command line)")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        rc = handlers[args.command](args)
    except SimkitError as e:
        if debug:
            raise
        print(f"simkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `simkit ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"simkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        print(f"simkit {args.command}: error: out of memory; use fewer --jobs or a smaller input",
              file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, ... outside a store write
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"simkit {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - a bug: one line, the traceback on request
        if debug:
            raise
        print(f"simkit {args.command}: internal error: {type(e).__name__}: {e} "
              "(rerun with --debug for the traceback and report it)", file=sys.stderr)
        return 1
    return 0 if rc is None else int(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
