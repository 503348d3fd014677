"""An on-disk memo of the world's pure computations that every run repeats.

`simkit run` computes, before its first replicate, the truth of each world
(100,000 counterfactual twins and a Cox fit: about 0.2 s of CPU) and the
plausibility probe (which loads two kernels).  Both are pure functions of the
world's parameter vector and a few integers, so a run of a scenario already run
once (or of any scenario with the same world) reads them back instead.

A value is keyed by the function's name, its arguments (theta's bytes, n, seed,
...) and a fingerprint of everything that could change it: the bytes of every
source file in simkit/kernels and simkit/world, simkit's version and numpy's
(the truth's Cox fit is numpy).  An edit of any of those gives new keys, so an
old value is never read; nothing is ever invalidated in place.  Values are JSON
(floats written with repr, which reads back bit for bit).

Where: $SIMKIT_CACHE_DIR, else $XDG_CACHE_HOME/simkit, else ~/.cache/simkit;
SIMKIT_CACHE_DIR set to the empty string turns the memo off.  Best effort: a
directory that cannot be read or written, or a damaged file, only means the
value is computed again (files are written atomically: temporary + rename).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_fingerprint = None


def cache_dir() -> Path | None:
    d = os.environ.get("SIMKIT_CACHE_DIR")
    if d is not None:
        return Path(d) if d else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "simkit"


def fingerprint() -> str:
    """sha256 of the kernel and world sources, simkit's and numpy's versions."""
    global _fingerprint
    if _fingerprint is None:
        import numpy as np

        from simkit import __version__
        from simkit.kernels._cacheguard import source_fingerprint
        here = Path(__file__).resolve().parent
        files = [p for d in (here, here.parent / "kernels") for p in d.glob("*.py")]
        _fingerprint = hashlib.sha256(
            f"{source_fingerprint(files)}\0{__version__}\0{np.__version__}".encode()).hexdigest()
    return _fingerprint


def _key(name: str, parts) -> str:
    h = hashlib.sha256(fingerprint().encode())
    h.update(name.encode())
    for p in parts:
        b = p.tobytes() if hasattr(p, "tobytes") else repr(p).encode()
        h.update(b"\0%d\0" % len(b))
        h.update(b)
    return h.hexdigest()[:32]


def memo(name: str, parts, compute):
    """compute() (a JSON-serialisable value), or the value stored for (name, parts)."""
    d = cache_dir()
    if d is None:
        return compute()
    path = d / f"{name}-{_key(name, parts)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}.{os.urandom(4).hex()}")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        try:
            tmp.unlink()
        except (OSError, NameError):
            pass
    return value
