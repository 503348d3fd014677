"""The rounding rule every check of the ledger shares.

A value printed with k decimals stands for the closed interval [v - h, v + h] with
h = 0.5 * 10**-k (half a unit in the last printed place).  Closed, because the paper
does not say whether it rounds half up, half even or half down: a value exactly on the
boundary (18.75% printed as 18.7) is consistent.  The number of decimals is taken from
the transcription (an int is printed with 0 decimals, a float with as many as its
shortest repr shows: 10.0 -> 1, 0.0059 -> 4) or stated explicitly where JSON loses a
trailing zero (HR "0.30", power "90%").  Printed values are handled as exact fractions
(fractions.Fraction), so boundary cases are decided without floating-point error;
derived quantities are checked over a grid on their inputs' rounding intervals.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from numbers import Real

import numpy as np

_FLOAT_TOL = 1e-12   # relative slack for interval tests on floating-point (non-rational) values
_GRID = 11           # grid points per rounded input (endpoints included)


def decimals_of(value) -> int:
    """Decimals a transcribed value was printed with: an int 0, a float as its repr shows."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return 0
    exp = Decimal(repr(float(value))).as_tuple().exponent
    return max(0, -int(exp))


def half_unit(decimals: int) -> Fraction:
    """Half a unit in the last printed place: 0.5 * 10**-decimals, exactly."""
    return Fraction(1, 2 * 10 ** int(decimals))


def _exact(v) -> Fraction:
    """A printed decimal (float from JSON, int or Fraction) as an exact fraction."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, int):
        return Fraction(v)
    return Fraction(Decimal(repr(float(v))))


def rounding_interval(value, decimals: int) -> tuple[float, float]:
    """The closed interval a value printed with `decimals` decimals stands for."""
    v, h = _exact(value), half_unit(decimals)
    return float(v - h), float(v + h)


def rounds_to(x, value, decimals: int) -> bool:
    """True if x lies in the closed rounding interval of `value` printed with `decimals`.

    Exact when x is a Fraction or int (counts); a float x gets a 1e-12 relative slack.
    """
    v, h = _exact(value), half_unit(decimals)
    if isinstance(x, (Fraction, int)):
        return abs(Fraction(x) - v) <= h
    x = float(x)
    if not math.isfinite(x):
        return False
    return abs(x - float(v)) <= float(h) + _FLOAT_TOL * max(1.0, abs(float(v)))


def on_boundary(x, value, decimals: int) -> bool:
    """x exactly half a unit from the printed value (round-half conventions disagree)."""
    if not isinstance(x, (Fraction, int)):
        return False
    return abs(Fraction(x) - _exact(value)) == half_unit(decimals)


def _half_up(x, decimals: int) -> Fraction:
    """x (exact) rounded half away from zero to `decimals` decimals, exactly."""
    q = Fraction(10 ** int(decimals))
    y = abs(Fraction(x)) * q
    r = Fraction(math.floor(y + Fraction(1, 2))) / q
    return r if x >= 0 else -r


def grid(value, decimals: int, points: int = _GRID) -> np.ndarray:
    """Evenly spaced points over the closed rounding interval (both ends included)."""
    lo, hi = rounding_interval(value, decimals)
    return np.linspace(lo, hi, points)


def range_over_rounding(f, *inputs, points: int = _GRID) -> tuple[float, float]:
    """(min, max) of f(*xs) over the grid of each input's rounding interval.

    inputs: (printed value, decimals) pairs.  The derived quantities used here are
    monotone in each input, so the grid's corners already give the extremes; the
    interior points guard against a non-monotone f.
    """
    axes = [grid(v, d, points) for v, d in inputs]
    mesh = np.meshgrid(*axes, indexing="ij")
    vals = np.array([f(*xs) for xs in zip(*(m.ravel() for m in mesh))], dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return math.nan, math.nan
    return float(vals.min()), float(vals.max())


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    slack = _FLOAT_TOL * max(1.0, abs(a[0]), abs(a[1]), abs(b[0]), abs(b[1]))
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack
