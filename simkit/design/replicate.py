"""The seed design as a pipeline: enrol -> match -> analyse, for one replicate or a chunk.

`Design` holds the analyst's choices (one field per row of simkit/design/choices.py:
matching variables, caliper, match order and choice, registry policy, ...) and
turns them into the flat vector the numba replicate kernel reads.  The
world (theta) comes from `simkit.world.model`.  Everything heavy runs in
`kernels.replicate`; this module validates, labels and converts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

import numpy as np

from simkit.analysis.matched import MatchedTable
from simkit.design.choices import CHOICES, check_together, design_vector
from simkit.kernels import history as H
from simkit.kernels import replicate as R
from simkit.kernels.warmup import warm_up

OUT_FIELDS = R.OUT_FIELDS
NO_PEEKS = np.empty(0)      # run_chunk's peeks: every replicate takes the design vector's


def _design_class():
    # fields, defaults and checks from the one table of choices (simkit/design/choices.py)
    fields = [(c.name, object, field(default=c.default)) for c in CHOICES]

    def __post_init__(self):
        for c in CHOICES:
            object.__setattr__(self, c.name, c.check(getattr(self, c.name), f"{c.section}.{c.name}"))
        check_together(self.values())

    def vector(self) -> np.ndarray:
        """The flat float64 vector the replicate kernel reads (choices.design_vector)."""
        return design_vector(self.values())

    def values(self) -> dict:
        return {c.name: getattr(self, c.name) for c in CHOICES}

    doc = ("The analyst's side of the seed design: one field per row of simkit.design.choices.CHOICES.\n\n"
           + "\n".join(f"    {c.name} = {c.default!r}: {c.doc}" + (f" [{c.unit}]" if c.unit else "")
                       for c in CHOICES))
    return make_dataclass("Design", fields, frozen=True, namespace={
        "__post_init__": __post_init__, "vector": vector, "values": values, "__doc__": doc,
        "__module__": __name__})


Design = _design_class()


def design_of(scenario, firth: bool | None = None) -> Design:
    """The Design of a validated scenario ([design] section, and [analysis] firth)."""
    vals = dict(scenario.design)
    if firth is not None:
        vals["firth"] = firth
    return Design(**vals)


def run_replicates(theta, design: Design, seed: int, condition: int, start: int, stop: int) -> np.ndarray:
    """Rows (stop - start, len(OUT_FIELDS)) for replicates start..stop-1."""
    warm_up()
    out = np.empty((stop - start, R.N_OUT))
    R.run_chunk(np.asarray(theta, np.float64).reshape(1, -1), design.vector(), np.uint64(seed), np.uint64(condition),
                np.int64(start), np.int64(stop), out, NO_PEEKS)
    return out


def compute_chunk(thetas, dvecs, seed, key_conditions, condition, start, stop, priors=None):
    """`montecarlo.Job.compute`: thetas (n_conditions, N_THETA), dvecs (n_conditions, N_DESIGN).

    key_conditions[c] is the condition index the random streams of condition c are
    keyed by: c itself, or 0 for every condition under common random numbers (the
    same patients and registries in every condition, so conditions compare paired).
    priors (simkit.world.priors.Priors or None): parameters drawn per replicate (per
    registry for those that change it), appended to each row as prior_<name>; a prior
    on design.match_peek gives each replicate its own peek."""
    kc = key_conditions[condition]
    dvec = dvecs[condition]
    if priors is None or not priors.items:
        out = np.empty((stop - start, R.N_OUT))
        R.run_chunk(thetas[condition].reshape(1, -1), dvec, np.uint64(seed), np.uint64(kc),
                    np.int64(start), np.int64(stop), out, NO_PEEKS)
        return out
    th, drawn = priors.draw(thetas[condition], dvec, seed, kc, start, stop)
    out = np.empty((stop - start, R.N_OUT + drawn.shape[1]))
    rows = np.empty((stop - start, R.N_OUT))
    R.run_chunk(th, dvec, np.uint64(seed), np.uint64(kc), np.int64(start), np.int64(stop), rows,
                priors.peeks(drawn))
    out[:, :R.N_OUT] = rows
    out[:, R.N_OUT:] = drawn
    return out


def preload():
    """Load the replicate loop's compiled code from numba's cache (a worker's set-up,
    run when the process starts: `montecarlo.Job.worker_setup`)."""
    from simkit.kernels.warmup import compile_group
    compile_group("loop")


def seconds_per_replicate(design: Design) -> float:
    """A rough CPU cost of one replicate of a design, for scheduling only (whether to
    start worker processes, how many chunks a task holds): the treated cohort, the
    matching and the analysis (about 120 us for 67 treated) and the registry pool
    (about 0.25 us a patient) shared by the replicates that use it.  Never a value."""
    per = 20e-6 + 1.5e-6 * design.n_treated
    pool = 0.25e-6 * design.pool_size
    if design.pool_policy == "replicate":
        per += pool
    elif design.pool_policy == "block":
        per += pool / max(design.pool_block_size, 1)
    return per


@dataclass
class ReplicateData:
    """One replicate laid open: the matched table, its analysis row, and what lies behind it."""
    table: MatchedTable
    row: np.ndarray
    treated: np.ndarray        # (n_treated, N_TC) every enrolled treated patient
    twin: np.ndarray           # their untreated twins
    matched_treated: np.ndarray  # indices into `treated`
    matched_pool: np.ndarray     # indices into the pool
    references: np.ndarray = None  # (m, N_PB) the matched references' pool rows (baseline, hidden truth)
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
    return ReplicateData(table, row, tr, twin, ti, ri, b.copy())
