"""Reason codes carried by every fit and every replicate.

A kernel never raises on degenerate data: it returns NaN for the quantity and
one of these codes, so a replicate never fails silently.  Codes are small ints
so they can live in numba kernels and in integer arrays of a store.
"""

OK = 0
NO_EVENTS = 1          # no death in the data, or none usable by the method
EMPTY_GROUP = 2        # an arm / class / level has no observations
SEPARATION = 3         # monotone likelihood: the maximum is at infinity
SINGULAR = 4           # rank-deficient design / zero information
NOT_CONVERGED = 5      # iterations exhausted without meeting the tolerance
TOO_FEW = 6            # too few observations for the method
ZERO_VARIANCE = 7      # a test statistic's variance is 0
ALL_ZERO = 8           # every signed-rank difference is 0
NOTHING_MATCHED = 9    # no treated patient found a match
CONSTANT = 10          # a covariate (or the outcome) is constant
MISSING = 11           # the inputs needed by this step are all missing

NAMES = {
    OK: "ok",
    NO_EVENTS: "no_events",
    EMPTY_GROUP: "empty_group",
    SEPARATION: "separation",
    SINGULAR: "singular",
    NOT_CONVERGED: "not_converged",
    TOO_FEW: "too_few",
    ZERO_VARIANCE: "zero_variance",
    ALL_ZERO: "all_zero",
    NOTHING_MATCHED: "nothing_matched",
    CONSTANT: "constant",
    MISSING: "missing",
}


def name(code: int) -> str:
    """Human-readable name of a reason code."""
    return NAMES.get(int(code), f"unknown({int(code)})")
