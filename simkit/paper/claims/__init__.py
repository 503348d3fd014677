"""The seed paper's quantitative claims as data, each checked against the paper's own numbers.

Every claim has an id, where it is stated, a short text, the reported value (a number),
what the paper's own printed numbers imply (`recomputed`, computed here, never typed in;
None when the paper does not give what is needed), a verdict and the difference
reported - recomputed.  The numbers are read from `simkit.paper.seed.reported()` at call
time, so editing the transcription changes the verdicts.

Verdicts
--------
- consistent: the recomputed value lies in the reported value's rounding interval
  (counts: equal); for a quantity derived from rounded inputs (a p-value from a CI, a
  CI midpoint) the range the derived quantity takes over a grid on the inputs' rounding
  intervals (endpoints included) overlaps the reported value's rounding interval; for a
  bound (a caliper, an inequality) the bound holds for some inputs within rounding.
- inconsistent: none of the above; `difference` = reported - recomputed gives the size.
- unverifiable: the paper does not give what the check needs; recomputed is None.

Modules: `rounding` (the rounding rule every check shares), `builders` (the Claim record
and the verdict builders), one module per part of the paper (`baseline`: matching and
Table 1; `survival`: power and survival; `progression`: progression and Table 2;
`early`: early response and Table 3) and `ledger` (the ledger, its records, the world
probabilities and the table).  See docs/claims.md.
"""
from .builders import VERDICTS, Z95, Claim
from .ledger import SECTIONS, WORLD_EVENTS, attach_probabilities, counts, ledger, render, to_records
from .rounding import (decimals_of, grid, half_unit, on_boundary, overlaps, range_over_rounding,
                       rounding_interval, rounds_to)

__all__ = ["VERDICTS", "SECTIONS", "WORLD_EVENTS", "Z95", "Claim", "ledger", "to_records", "counts",
           "attach_probabilities", "render", "decimals_of", "half_unit", "rounding_interval",
           "rounds_to", "on_boundary", "grid", "range_over_rounding", "overlaps"]
