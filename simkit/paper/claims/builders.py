"""The claim record and the builders that turn a recomputation into a verdict.

`Claim` is one row of the ledger.  The builders decide its verdict by the rounding rule
of `rounding.py`: `_rounded` (the recomputed value must round to the printed one),
`_count` (a count must equal its recomputation), `_ranged` (a quantity derived from
rounded inputs: its range over the inputs' rounding intervals must overlap the printed
value's interval) and `_unverifiable` (the paper does not give what the check needs;
recomputed is None).  difference = reported - recomputed everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .rounding import _exact, _half_up, decimals_of, on_boundary, overlaps, rounding_interval, rounds_to

VERDICTS = ("consistent", "inconsistent", "unverifiable")

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    claim: str
    reported: float
    recomputed: float | None
    verdict: str
    difference: float | None
    note: str = ""
    decimals: int | None = field(default=None, compare=False)   # printed precision of `reported`

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]


def _f(x):
    return None if x is None else float(x)


def _fmt(x, decimals=None):
    if x is None:
        return "-"
    x = float(x)
    if x.is_integer() and (decimals is None or decimals == 0):
        return str(int(x))
    if decimals is None:
        return f"{x:.6g}"
    return f"{x:.{decimals + 2}f}"


def _rounded(id, where, text, reported, x, decimals=None, note="", how=""):
    """A claim whose recomputed value x must round to `reported` (printed with `decimals`)."""
    d = decimals_of(reported) if decimals is None else decimals
    ok = rounds_to(x, reported, d)
    parts = [how] if how else []
    if ok and on_boundary(x, reported, d):
        up = _half_up(x, d)
        parts.append(f"exactly on the rounding boundary ({float(x):g}): consistent under the "
                     "closed-interval rule" + ("" if up == _exact(reported) else
                                               f"; half-up rounding would print {float(up):.{d}f}"))
    if not ok:
        parts.append(f"{_fmt(x, d)} rounds to {round(float(x), d):.{d}f}, printed {float(reported):.{d}f}")
    if note:
        parts.append(note)
    return Claim(id, where, text, _num(reported), _f(x), "consistent" if ok else "inconsistent",
                 float(_exact(reported) - Fraction(x)) if isinstance(x, (Fraction, int))
                 else float(reported) - float(x), "; ".join(parts), d)


def _num(v):
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else float(v)


def _count(id, where, text, reported, x, note="", how=""):
    """A count that must equal its recomputation exactly."""
    ok = int(reported) == int(x)
    parts = [p for p in (how, note) if p]
    return Claim(id, where, text, int(reported), int(x), "consistent" if ok else "inconsistent",
                 int(reported) - int(x), "; ".join(parts), 0)


def _ranged(id, where, text, reported, decimals, point, rng, note="", how="", range_what=None):
    """A derived quantity: consistent if its range over the inputs' rounding overlaps
    the reported value's rounding interval."""
    rep_iv = rounding_interval(reported, decimals)
    ok = overlaps(rng, rep_iv)
    parts = [how] if how else []
    if range_what is None:
        parts.append(f"at the printed inputs {_fmt(point, decimals)}; over the inputs' rounding "
                     f"intervals {_fmt(rng[0], decimals)} to {_fmt(rng[1], decimals)}")
    else:
        parts.append(f"{range_what} {rng[0]:.5f} to {rng[1]:.5f}")
    parts.append(f"the printed {float(reported):.{decimals}f} stands for {_fmt(rep_iv[0], decimals)} "
                 f"to {_fmt(rep_iv[1], decimals)}")
    if ok and not rounds_to(point, reported, decimals):
        parts.append("consistent only through the rounding of the printed inputs")
    if not ok:
        gap = rep_iv[0] - rng[1] if rng[1] < rep_iv[0] else rng[0] - rep_iv[1]
        parts.append(f"the intervals miss each other by {gap:.3g}")
    if note:
        parts.append(note)
    return Claim(id, where, text, _num(reported), float(point),
                 "consistent" if ok else "inconsistent", float(reported) - float(point),
                 "; ".join(parts), decimals)


def _unverifiable(id, where, text, reported, note, decimals=None):
    d = decimals_of(reported) if decimals is None else decimals
    return Claim(id, where, text, _num(reported), None, "unverifiable", None, note, d)


def _pct(a, n):
    return Fraction(100 * int(a), int(n))


def _wald_p(beta, se):
    from simkit.kernels.cox import wald
    return float(wald(float(beta), float(se))[2])
