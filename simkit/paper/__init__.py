"""What the seed paper reports, and its claims recomputed.

`seed` loads the paper's reported numbers (package data, with the citation);
`power` is the exact and simulated power of a two-proportion claim (the paper's
"90% power with 11 per group"); `claims` is the ledger that recomputes each claim
from the paper's own numbers. No simulation runs here.
"""
