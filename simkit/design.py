"""The seed design as a pipeline: enrol -> match -> analyse, for one replicate or a chunk.

`Design` holds the analyst's choices (matching variables, caliper, policy, ...)
and turns them into the flat vector the numba replicate kernel reads.  The
world (theta) comes from `simkit.world`.  Everything heavy runs in
`kernels.replicate`; this module validates, labels and converts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .analysis import MatchedTable
from .errors import InputError
from .kernels import history as H
from .kernels import replicate as R
from .warmup import warm_up

POLICIES = {"nearest": 0, "first": 1, "random": 2, "worst": 3, "optimal": 4}
ORDERS = {"as_given": 0, "random": 1, "hardest_first": 2}
EXACT_VARS = ("sex", "race", "onset", "ft9_stage", "riluzole")
POOL_POLICIES = {"condition": H.POOL_PER_CONDITION, "replicate": H.POOL_PER_REPLICATE,
                 "block": H.POOL_PER_BLOCK}
OUT_FIELDS = R.OUT_FIELDS
CALIPER_UNIT = "ALSFRS-R points/month (absolute difference in pre-slope)"


@dataclass(frozen=True)
class Design:
    """The analyst's side of the seed design.

    caliper is an absolute difference in pre-slope, in ALSFRS-R points/month
    (the seed paper: 0.5).  exact: the variables matched exactly.  policy:
    nearest / first / random / worst (the analyst who peeks at outcomes) /
    optimal.  order: the order greedy policies visit the treated.
    pool_policy: one registry per condition (the real registry is one fixed
    database), per replicate, or per block of block_size replicates.
    """
    n_treated: int = 67
    pool_size: int = 10000
    caliper: float = 0.5
    exact: tuple = EXACT_VARS
    policy: str = "nearest"
    order: str = "as_given"
    firth: bool = False
    pool_policy: str = "condition"
    block_size: int = 100

    def __post_init__(self):
        def bad(name, msg):
            raise InputError(f"design.{name}", msg)
        if not isinstance(self.n_treated, (int, np.integer)) or isinstance(self.n_treated, bool) \
                or not 1 <= self.n_treated <= 100_000:
            bad("n_treated", f"expected an integer 1..100000, got {self.n_treated!r}")
        if not isinstance(self.pool_size, (int, np.integer)) or isinstance(self.pool_size, bool) \
                or not 1 <= self.pool_size <= 10_000_000:
            bad("pool_size", f"expected an integer 1..10000000, got {self.pool_size!r}")
        if isinstance(self.caliper, bool) or not isinstance(self.caliper, (int, float)) \
                or not np.isfinite(self.caliper) or self.caliper < 0:
            bad("caliper", f"expected a number >= 0 in {CALIPER_UNIT}, got {self.caliper!r}")
        ex = tuple(self.exact)
        unknown = [v for v in ex if v not in EXACT_VARS]
        if unknown:
            bad("exact", f"unknown variable(s) {unknown}; expected a subset of {list(EXACT_VARS)}")
        object.__setattr__(self, "exact", ex)
        if self.policy not in POLICIES:
            bad("policy", f"expected one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.order not in ORDERS:
            bad("order", f"expected one of {', '.join(ORDERS)}, got {self.order!r}")
        if not isinstance(self.firth, bool):
            bad("firth", f"expected true or false, got {self.firth!r}")
        if self.pool_policy not in POOL_POLICIES:
            bad("pool_policy", f"expected one of {', '.join(POOL_POLICIES)}, got {self.pool_policy!r}")
        if not isinstance(self.block_size, (int, np.integer)) or self.block_size < 1:
            bad("block_size", f"expected an integer >= 1, got {self.block_size!r}")

    def vector(self) -> np.ndarray:
        d = np.zeros(R.N_DESIGN)
        d[R.D_N_TREATED] = self.n_treated
        d[R.D_POOL_SIZE] = self.pool_size
        d[R.D_CALIPER] = self.caliper
        d[R.D_POLICY] = POLICIES[self.policy]
        d[R.D_ORDER] = ORDERS[self.order]
        for k, v in enumerate(EXACT_VARS):
            d[R.D_EXACT0 + k] = 1.0 if v in self.exact else 0.0
        d[R.D_FIRTH] = 1.0 if self.firth else 0.0
        d[R.D_POOL_POLICY] = POOL_POLICIES[self.pool_policy]
        d[R.D_BLOCK_SIZE] = self.block_size
        return d


def run_replicates(theta, design: Design, seed: int, condition: int, start: int, stop: int) -> np.ndarray:
    """Rows (stop - start, len(OUT_FIELDS)) for replicates start..stop-1."""
    warm_up()
    out = np.empty((stop - start, R.N_OUT))
    R.run_chunk(np.asarray(theta, np.float64), design.vector(), np.uint64(seed), np.uint64(condition),
                np.int64(start), np.int64(stop), out)
    return out


def compute_chunk(thetas, dvecs, seed, key_conditions, condition, start, stop):
    """`montecarlo.Job.compute`: thetas (n_conditions, N_THETA), dvecs (n_conditions, N_DESIGN).

    key_conditions[c] is the condition index the random streams of condition c are
    keyed by: c itself, or 0 for every condition under common random numbers (the
    same patients and registries in every condition, so conditions compare paired)."""
    out = np.empty((stop - start, R.N_OUT))
    R.run_chunk(thetas[condition], dvecs[condition], np.uint64(seed), np.uint64(key_conditions[condition]),
                np.int64(start), np.int64(stop), out)
    return out


@dataclass
class ReplicateData:
    """One replicate laid open: the matched table, its analysis row, and what lies behind it."""
    table: MatchedTable
    row: np.ndarray
    treated: np.ndarray        # (n_treated, N_TC) every enrolled treated patient
    twin: np.ndarray           # their untreated twins
    matched_treated: np.ndarray  # indices into `treated`
    matched_pool: np.ndarray     # indices into the pool
    fields: tuple = field(default=OUT_FIELDS)

    def value(self, name):
        return self.row[self.fields.index(name)]


def replicate_data(theta, design: Design, seed: int, condition: int, k: int) -> ReplicateData:
    """Replicate k exactly as `run_replicates` computes it, with its matched table."""
    theta = np.asarray(theta, np.float64)
    dvec = design.vector()
    # a kernel returns a uint64 to Python as int: re-wrap it, or numba would type a
    # key >= 2**63 as int64 and overflow
    pk = np.uint64(H.pool_key(np.uint64(seed), np.uint64(condition), np.uint64(k),
                              np.int64(dvec[R.D_POOL_POLICY]), np.int64(dvec[R.D_BLOCK_SIZE])))
    pool = np.empty((design.pool_size, H.N_PB))
    pkeys = np.empty(design.pool_size, np.uint64)
    strata, slope = R._make_pool(theta, dvec, pk, pool, pkeys)
    perm, s_stratum, s_slope = R.prepare_pool(strata, slope)
    tr = np.empty((design.n_treated, H.N_TC))
    twin = np.empty((design.n_treated, H.N_TC))
    row = np.empty(R.N_OUT)
    ti, ri, po = R.replicate(theta, dvec, np.uint64(seed), np.uint64(condition), np.uint64(k), pool, pkeys,
                             strata, slope, perm, s_stratum, s_slope, tr, twin, row)
    m = len(ti)
    a, b = tr[ti], pool[ri]

    def both(x, y):
        return np.column_stack([x, y])

    def lab(codes, one, zero):
        return np.where(codes > 0.5, one, zero).astype(object)

    table = MatchedTable(
        pair_id=np.arange(1, m + 1, dtype=np.int64),
        sex=both(lab(a[:, H.TC_SEX], "M", "F"), lab(b[:, H.PB_SEX], "M", "F")),
        race=both(lab(a[:, H.TC_RACE], "Other", "White"), lab(b[:, H.PB_RACE], "Other", "White")),
        onset=both(lab(a[:, H.TC_ONSET], "bulbar", "spinal"), lab(b[:, H.PB_ONSET], "bulbar", "spinal")),
        riluzole=both(a[:, H.TC_RILUZOLE], b[:, H.PB_RILUZOLE]).astype(np.int64),
        age=both(a[:, H.TC_AGE], b[:, H.PB_AGE]),
        ft9_stage=both(a[:, H.TC_FT9], b[:, H.PB_FT9]).astype(np.int64),
        scores_treated=a[:, [H.TC_ALSFRS_PRE, H.TC_ALSFRS_0, H.TC_ALSFRS_2, H.TC_ALSFRS_4, H.TC_ALSFRS_6]].copy(),
        scores_reference=np.column_stack([b[:, H.PB_ALSFRS_PRE], b[:, H.PB_ALSFRS_0], po[:, H.PO_ALSFRS_2],
                                          po[:, H.PO_ALSFRS_4], po[:, H.PO_ALSFRS_6]]),
        time_days=both(a[:, H.TC_TIME_DAYS], po[:, H.PO_TIME_DAYS]),
        event=both(a[:, H.TC_EVENT], po[:, H.PO_EVENT]).astype(np.int64),
        source=f"simulated replicate {k} of condition {condition}, seed {seed}",
    )
    return ReplicateData(table, row, tr, twin, ti, ri)
