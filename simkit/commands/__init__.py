"""One module per `simkit` subcommand: HELP and register(subparser) -> handler.

Helpers the commands share live here (not in cli.py, which imports the
commands: importing back from it would be a cycle).
"""
import json
import math


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
