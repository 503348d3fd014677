"""Plasmode from a scenario file: `simkit run` on resamples of a real registry.

A scenario with a `[plasmode]` section takes its patients from a registry
directory instead of the synthetic world:

    [plasmode]
    registry = "registry"       # required: a registry directory (docs/registry.md: the contract
                                # or a PRO-ACT download); a relative path is relative to the
                                # folder of the scenario file
    tolerance_days = 14         # reference candidates: visit-day tolerance (0 <= days < one month)
    followup_months = 6         # reference candidates: visits 2, 4, ... and survival this long after
                                # the index (the world's immortal_time_reference); 0 = off
    selection = 0.0             # treated drawn with probability ~ exp(selection x pre-slope)
                                # (the world's regression_to_mean); 0 = at random

Each replicate is `registry.plasmode_replicate` (the one implementation behind
`registry.plasmode` too): n_treated candidates drawn as the treated, [treatment]
hr and rate_change injected into them, matched to the remaining candidates with
the [design] choices, analysed with the seed analysis.  Replicate r of condition
c draws from numpy's generator seeded by (seed, c', r) and its random matching
choices from rng.root_key(seed, c', r), c' = c (or 0 with common random
numbers): a pure function of (scenario, registry contents, seed, r), so a run is
the same for any --jobs and chunk size and resumes like a synthetic one.  The
registry files' SHA-256 enter the scenario hash: a store is refused after the
registry changes.

The runner reaches this module by name (runner/grid.py SOURCES), never by a
module-level import: realdata sits above runner.
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np

from simkit.errors import InputError

SECTION = "plasmode"
KEYS = {
    "registry": "registry directory (the contract or a PRO-ACT download); relative to the scenario file",
    "tolerance_days": "visit-day tolerance of the reference candidates (0 <= days < one month)",
    "followup_months": "visits and survival required after the index, months 0..6 (immortal time)",
    "selection": "log-odds per point/month of observed pre-slope with which a candidate is drawn as treated",
}
DEFAULTS = {"tolerance_days": 14.0, "followup_months": 6.0, "selection": 0.0}

# Keys of a synthetic scenario with a plasmode counterpart: the error says which.
INSTEAD = {
    "mechanisms.regression_to_mean": "plasmode.selection (same unit: log-odds per point/month of observed "
                                     "pre-slope)",
    "mechanisms.immortal_time_reference": "plasmode.followup_months",
    "design.pool_size": "nothing: the pool is the registry's candidates less the drawn treated",
}
# Store fields a plasmode replicate cannot fill (NaN): docs/registry.md.
NAN_FIELDS = {
    "mean_u_treated": "the latent factor u is not observed in a registry",
    "mean_u_reference": "the latent factor u is not observed in a registry",
    "n_applicants": "no enrolment step: the treated are drawn from the candidates directly",
}


@dataclass(frozen=True)
class Spec:
    """One condition's [plasmode] settings (registry resolved to an absolute path)."""
    registry: str
    tolerance_days: float
    followup_months: float
    selection: float

    @property
    def candidates_key(self):
        return (self.registry, self.tolerance_days, self.followup_months)


def _num(v, where, lo, hi, what, hi_open=False):
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and lo <= v \
        and (v < hi if hi_open else v <= hi)
    if not ok:
        raise InputError(where, f"expected {what}, got {v!r}")
    return float(v)


def parse_section(table, scenario_path: str | None, where: str = SECTION) -> Spec:
    """Validate a [plasmode] table; `registry` resolved against the scenario file's folder
    (the working directory for a scenario without a file)."""
    from simkit.realdata.registry import MONTH_DAYS
    if not isinstance(table, dict):
        raise InputError(where, f"expected a [{SECTION}] table, got {table!r}")
    for k in table:
        if k not in KEYS:
            raise InputError(f"{where}.{k}", "unknown key; allowed: " + ", ".join(KEYS))
    if "registry" not in table:
        raise InputError(f"{where}.registry", "missing: name the registry directory the plasmode resamples "
                                              "(docs/registry.md)")
    reg = table["registry"]
    if not isinstance(reg, str) or not reg.strip():
        raise InputError(f"{where}.registry", f"expected a directory path as text, got {reg!r}")
    base = os.path.dirname(os.path.abspath(scenario_path)) if scenario_path else os.getcwd()
    path = os.path.normpath(os.path.join(base, os.path.expanduser(reg)))
    if not os.path.isdir(path):
        raise InputError(f"{where}.registry", f"no such directory {path}"
                         + (f" ({reg!r} is relative to the scenario file's folder {base})"
                            if not os.path.isabs(os.path.expanduser(reg)) else ""))
    v = {**DEFAULTS, **{k: table[k] for k in DEFAULTS if k in table}}
    return Spec(path,
                _num(v["tolerance_days"], f"{where}.tolerance_days", 0, MONTH_DAYS,
                     f"days in [0, {MONTH_DAYS:g}) (less than one month)", hi_open=True),
                _num(v["followup_months"], f"{where}.followup_months", 0, 6, "months in [0, 6]"),
                _num(v["selection"], f"{where}.selection", -math.inf, math.inf,
                     "a number (log-odds per point/month of pre-slope)"))


def _refuse(key: str, where: str | None = None):
    sec = key.split(".")[0]
    if key in INSTEAD:
        msg = f"not used by a plasmode scenario; its counterpart is {INSTEAD[key]}"
    elif sec == "world":
        msg = ("not used by a plasmode scenario: its patients are the registry's ([plasmode] registry), "
               "not the synthetic world's; remove [world] keys")
    elif sec == "mechanisms":
        msg = ("a mechanism of the synthetic world that a plasmode run cannot apply (it acts through latent "
               "quantities or trial conduct a registry does not record); remove it. Counterparts: "
               "plasmode.selection (regression_to_mean), plasmode.followup_months (immortal_time_reference)")
    elif sec == "priors":
        msg = "priors draw synthetic-world parameters per replicate; a plasmode scenario has none"
    else:
        msg = "not applicable to a plasmode scenario"
    raise InputError(where or key, msg)


def check_keys(data: dict, extra: dict, overrides) -> None:
    """Refuse, naming the key, what a registry cannot honour: [world] and [mechanisms]
    keys (set or varied), [priors], patient-level effect SDs, pool size and policy."""
    for sec in ("world", "mechanisms"):
        for k in (data.get(sec) or {}):
            _refuse(f"{sec}.{k}")
    if extra.get("priors"):
        _refuse("priors")
    tr = data.get("treatment") or {}
    des = data.get("design") or {}
    for k in ("log_hr_sd", "rate_change_sd"):
        if k in tr and tr[k] != 0:
            raise InputError(f"treatment.{k}", "a plasmode run injects one effect into every treated "
                                               "patient: patient-level spread is not implemented (set it to 0)")
    if "pool_size" in des:
        _refuse("design.pool_size")
    if des.get("pool_policy", "condition") != "condition":
        raise InputError("design.pool_policy", "a plasmode run has one registry, the real one: only "
                                               f"'condition' applies, got {des['pool_policy']!r}")
    if "pool_block_size" in des:
        raise InputError("design.pool_block_size", "not used by a plasmode scenario (one registry)")
    for where, over in overrides:
        for k, v in over.items():
            w = f"{where}: {k}"
            if k in ("mechanisms", "mechanisms_only"):
                raise InputError(w, "the mechanism shorthands switch synthetic-world mechanisms, which a "
                                    "plasmode scenario does not have; vary plasmode.selection or "
                                    "plasmode.followup_months instead")
            if k.startswith(("world.", "mechanisms.")) or k in ("design.pool_size", "design.pool_block_size"):
                _refuse(k, w)
            if k == "design.pool_policy" and v != "condition":
                raise InputError(w, "only 'condition' applies to a plasmode scenario (one registry)")
            if k in ("treatment.log_hr_sd", "treatment.rate_change_sd") and v != 0:
                raise InputError(w, "patient-level effect spread is not implemented for plasmode")


def _digest(directory: str) -> str:
    """SHA-256 of the registry files read (contract tables or the five PRO-ACT tables)."""
    from simkit.realdata.registry import proact_paths
    names = [os.path.join(directory, f) for f in ("patients.csv", "visits.csv")]
    if not any(os.path.exists(p) for p in names):
        names = sorted((proact_paths(directory) or {}).values())
    h = hashlib.sha256()
    for p in names:
        if os.path.exists(p):
            h.update(os.path.basename(p).encode() + b"\0")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Source:
    """A plasmode study's patients: per condition its Spec and candidate table."""
    specs: tuple                  # per condition
    table_index: tuple            # per condition: index into tables
    tables: tuple                 # candidate tables (pandas), one per (registry, tolerance, follow-up)
    info: tuple                   # per table: dict for the store's attrs
    digest: str                   # of every registry's files

    kind = SECTION


def make_source(specs, scenarios, labels=None) -> Source:
    """Read each registry once, its candidates once per (tolerance, follow-up); check n_treated.
    An error in a registry's tables names plasmode.registry and the file, row and column;
    labels[c] prefixes the keys of condition c in errors (its grid label, or "")."""
    labels = labels or [""] * len(specs)
    from simkit.realdata.registry import read_registry, reference_candidates
    regs, keys, tables, info, idx = {}, {}, [], [], []
    for c, (sp, sc) in enumerate(zip(specs, scenarios)):
        if sp.registry not in regs:
            try:
                regs[sp.registry] = read_registry(sp.registry)
            except InputError as e:
                raise InputError(f"{labels[c]}plasmode.registry: {e.where}", e.message) from None
        if sp.candidates_key not in keys:
            cand = reference_candidates(regs[sp.registry], sp.tolerance_days, sp.followup_months)
            keys[sp.candidates_key] = len(tables)
            tables.append(cand.table.reset_index(drop=True))
            info.append({"registry": sp.registry, "sha256": _digest(sp.registry), "patients": cand.n_patients,
                         "candidates": cand.n, "tolerance_days": sp.tolerance_days,
                         "followup_months": sp.followup_months, "not_candidates": dict(cand.excluded)})
        k = keys[sp.candidates_key]
        n_cand = len(tables[k])
        n_t = sc.design["n_treated"]
        if n_t >= n_cand:
            where = f"{labels[c]}design.n_treated"
            raise InputError(where, f"{n_t} treated cannot be drawn from the registry's {n_cand} reference "
                                    f"candidates (plasmode.registry {sp.registry}): expected fewer than "
                                    f"{n_cand}")
        idx.append(k)
    digest = hashlib.sha256("".join(sorted(i["sha256"] for i in info)).encode()).hexdigest()
    return Source(tuple(specs), tuple(idx), tuple(tables), tuple(info), digest)


@dataclass(frozen=True)
class CondParams:
    """What compute_chunk needs of one condition (picklable, small)."""
    table: int
    selection: float
    n_treated: int
    hr: float
    rate_change: float           # plasmode sign: points/month added to the treated scores (+ = slower)
    exact: tuple
    caliper: float
    match_choice: str
    match_order: str
    match_peek: int
    firth: bool
    remedies: dict               # the design-side remedy calipers (inf = off)


def cond_params(study, c: int) -> CondParams:
    sc = study.conditions[c].scenario
    d = study.design(c)
    src = study.source
    return CondParams(src.table_index[c], src.specs[c].selection, int(d.n_treated), float(sc.treatment["hr"]),
                      # the world's rate_change is added to the progression rate (points lost per month):
                      # the scores fall by rate_change x months; plasmode raises them by its argument
                      -float(sc.treatment["rate_change"]), tuple(d.exact), float(d.caliper), d.match_choice,
                      d.match_order, int(d.match_peek), bool(d.firth),
                      {n: float(getattr(d, n)) for n in ("caliper_duration", "caliper_delta_fs", "caliper_total")})


def design_row(res, tr, pool, n_treated: int, out: np.ndarray) -> None:
    """The design fields of a replicate's output row (kernels/outputs.py DESIGN) from
    its match: what the kernel's stage_assemble computes, NaN where a registry has no
    value (NAN_FIELDS)."""
    from simkit.kernels import replicate as R
    from simkit.kernels import status as st
    ti, ri = res.treated_index, res.reference_index
    m = int(ti.shape[0])
    t_ps = ((tr["alsfrs_pre"] - tr["alsfrs_0"]) / 6.0).to_numpy(np.float64)[ti]
    r_ps = ((pool["alsfrs_pre"] - pool["alsfrs_0"]) / 6.0).to_numpy(np.float64)[ri]
    t_age = tr["age"].to_numpy(np.float64)[ti]
    r_age = pool["age"].to_numpy(np.float64)[ri]
    ds = np.abs(t_ps - r_ps)
    da = np.abs(t_age - r_age)
    out[R.O_N_TREATED] = n_treated
    out[R.O_N_MATCHED] = m
    out[R.O_N_UNMATCHED] = n_treated - m
    out[R.O_MATCH_RATE] = m / n_treated
    out[R.O_SLOPE0] = np.sum(ds < 1e-9)
    out[R.O_SLOPE03] = np.sum(ds <= 0.3 + 1e-9)
    out[R.O_AGE5] = np.sum(da <= 5.0)
    out[R.O_AGE10] = np.sum(da <= 10.0)
    out[R.O_U_T] = out[R.O_U_R] = np.nan
    out[R.O_PS_T] = t_ps.mean() if m else np.nan
    out[R.O_PS_R] = r_ps.mean() if m else np.nan
    out[R.O_APPLICANTS] = np.nan
    out[R.O_POOL_MATCHABLE] = len(pool)
    out[R.O_STATUS] = st.OK if m else st.NOTHING_MATCHED
    i64 = lambda x: np.ascontiguousarray(x, dtype=np.int64)  # noqa: E731
    R._table1(m, i64((tr["sex"].to_numpy()[ti] == "M")), np.ascontiguousarray(t_age),
              i64(tr["ft9_stage"].to_numpy(np.float64)[ti]), i64(tr["onset"].to_numpy()[ti] == "bulbar"),
              i64(tr["riluzole"].to_numpy(np.float64)[ti]), np.ascontiguousarray(r_age),
              np.ascontiguousarray(t_ps), np.ascontiguousarray(r_ps), out)


def compute_chunk(params, tables, seed, key_conditions, condition, start, stop):
    """`montecarlo.Job.compute` of a plasmode study: rows (stop - start, len(OUT_FIELDS))."""
    from simkit.kernels import replicate as R
    from simkit.kernels import seedanalysis as SA
    from simkit.kernels.rng import root_key
    from simkit.realdata.registry import Candidates, plasmode_replicate, plasmode_setup
    p = params[condition]
    kc = int(key_conditions[condition])
    table = tables[p.table]
    setup = plasmode_setup(Candidates(table, len(table), {}, math.nan, math.nan), p.selection)
    out = np.full((stop - start, R.N_OUT), np.nan)
    for i, r in enumerate(range(start, stop)):
        rng = np.random.default_rng([int(seed), kc, int(r)])
        mkey = np.uint64(root_key(np.uint64(seed), np.uint64(kc), np.uint64(r)))
        vec, res, tr, pool = plasmode_replicate(setup, rng, p.n_treated, p.hr, p.rate_change, p.exact, p.caliper,
                                                p.match_choice, p.match_order, 0, mkey, p.match_peek, p.firth,
                                                p.remedies)
        out[i, :SA.N_FIELDS] = vec
        design_row(res, tr, pool, p.n_treated, out[i])
    return out


def job_parts(study) -> dict:
    """The plasmode pieces of runner.grid.build_job: compute, attrs, field notes."""
    src = study.source
    params = tuple(cond_params(study, c.index) for c in study.conditions)
    keys = np.array([study.key_condition(c.index) for c in study.conditions])
    return {
        "compute": functools.partial(compute_chunk, params, src.tables, study.seed, keys),
        "attrs": {
            "source": SECTION,
            "plasmode": {"registries": list(src.info), "conditions": [
                {"registry_table": p.table, "selection": p.selection,
                 "injected_rate_change_points_per_month": p.rate_change} for p in params]},
            "seed_scheme": ("plasmode: replicate (c, k) draws from numpy.random.default_rng([seed, c, k]), its "
                            "random matching choices from rng.root_key(seed, c, k)"
                            + ("; common random numbers: c = 0 for every condition"
                               if study.common_random_numbers else "")),
            "truth_note": ("plasmode: no counterfactual twins; the true effect is the injected conditional HR "
                           "(treatment.hr), approximate when the registry's patients differ in hazard"),
            "pool_policies": [["condition", 1] for _ in study.conditions],
            "nan_fields": dict(NAN_FIELDS),
        },
        "field_notes": {f: f"NaN in a plasmode run: {why}" for f, why in NAN_FIELDS.items()},
        # the runner's scheduling estimate: 400 replicates took 11.3 s on 2 busy cores
        # (pandas tables and a match per replicate), about 100 times a synthetic one
        "seconds_per_replicate": 0.03,
    }
