"""The simulated world over the `kernels.history` kernels.

PARAMS is the single table of world parameters: name, default, unit, valid
range, scenario section and what it means; `build_theta` turns (validated)
values into the flat vector the kernels read, in the order of
`kernels.history.THETA_NAMES` (checked at import).  docs/world.md gives every
equation and the source of every default.

Public names:
    PARAMS, PARAM, MECHANISMS_OFF
    build_theta(params=None, **overrides) -> np.ndarray;  theta_dict(theta) -> dict
    default_params() -> dict;  fair_params(params=None) -> dict
    pool_key(seed, condition, replicate, pool_policy="condition", pool_block_size=1) -> np.uint64
    treated_key(seed, condition, replicate) -> np.uint64
    generate_pool(theta, key, n) -> Pool
    pool_outcomes(theta, keys) -> dict of arrays
    pool_domains(theta, keys) -> (m, 6, 4) observed domain scores at the pool's visits
    generate_treated(theta, key, n) -> Treated  (cohort and counterfactual twin)
    true_effects(theta, n=200_000, seed=0) -> dict  (in simkit.world.truth; re-exported)

The truth (estimands and their Cox fit) is `simkit.world.truth`; the replicate as a table
(`simkit simulate`) is `simkit.world.export`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simkit.errors import InputError
from simkit.kernels import history as H

# ------------------------------------------------------------------- params


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    unit: str
    lo: float = -math.inf        # inclusive bounds ...
    hi: float = math.inf
    lo_open: bool = False        # ... unless open
    integer: bool = False
    section: str = "world"
    doc: str = ""
    off: float | None = None     # mechanisms: the value that switches it off (a fair design)

    def expected(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.lo == 0 and self.hi == 1 and not self.lo_open:
            return "a probability in [0, 1]"
        if self.lo == -math.inf and self.hi == math.inf:
            return f"{kind}"
        lb = "(" if self.lo_open else "["
        lo = "-inf" if self.lo == -math.inf else f"{self.lo:g}"
        hi = "inf" if self.hi == math.inf else f"{self.hi:g}"
        return f"{kind} in {lb}{lo}, {hi}" + ("]" if self.hi != math.inf else ")")

    def validate(self, value, where: str | None = None) -> float:
        where = where or self.name
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InputError(where, f"expected {self.expected()}, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise InputError(where, f"expected {self.expected()}, got {value!r}")
        if self.integer and v != math.floor(v):
            raise InputError(where, f"expected {self.expected()}, got {value!r}")
        if v < self.lo or v > self.hi or (self.lo_open and v == self.lo):
            raise InputError(where, f"expected {self.expected()}, got {value!r}")
        return v


_INF = math.inf


def _p(name, default, unit, lo=-_INF, hi=_INF, doc="", *, section="world", lo_open=False, integer=False,
       off=None):
    return Param(name, float(default), unit, float(lo), float(hi), lo_open, integer, section, doc,
                 None if off is None else float(off))


def _prob(name, default, doc, section="world", off=None):
    return _p(name, default, "probability", 0, 1, doc, section=section, off=off)


def _sd(name, default, unit, doc, section="world", off=None):
    return _p(name, default, unit, 0, _INF, doc, section=section, off=off)


_POP_DOC = {
    "p_male": ("probability", "share of men"),
    "p_white": ("probability", "share of white patients (race 'White', else 'Other')"),
    "p_bulbar": ("probability", "share with bulbar onset"),
    "p_riluzole": ("probability", "share taking riluzole"),
    "age_mean": ("years", "mean age at the index visit (trial entry / first injection)"),
    "age_sd": ("years", "SD of age at the index visit"),
    "rate_log_shift": ("log points/month", "shift of the log progression rate"),
    "duration_log_mean": ("log months", "intercept of log months since onset at the index visit"),
    "duration_log_sd": ("log months", "residual SD of log months since onset at the index visit"),
    "age_min": ("years", "inclusion: minimum age"),
    "age_max": ("years", "inclusion: maximum age"),
    "min_score": ("points", "inclusion: minimum observed ALSFRS-R total at the index visit"),
    "max_duration": ("months", "inclusion: maximum months since onset at the index visit"),
    "min_resp": ("points", "inclusion: minimum observed respiratory domain (ventilatory independence)"),
}


def _pop(prefix, who, vals):
    out = []
    for f in H.POP_FIELDS:
        unit, doc = _POP_DOC[f]
        v = vals[f]
        doc = f"{who}: {doc}"
        if unit == "probability":
            out.append(_prob(prefix + f, v, doc))
        elif f in ("age_sd", "duration_log_sd"):
            out.append(_sd(prefix + f, v, unit, doc))
        elif f in ("min_score",):
            out.append(_p(prefix + f, v, unit, 0, 48, doc))
        elif f in ("min_resp",):
            out.append(_p(prefix + f, v, unit, 0, 12, doc))
        elif f in ("age_min", "age_max", "age_mean"):
            out.append(_p(prefix + f, v, unit, 0, 120, doc))
        elif f == "max_duration":
            out.append(_p(prefix + f, v, unit, 0, _INF, doc, lo_open=True))
        else:
            out.append(_p(prefix + f, v, unit, doc=doc))
    return out


_REG = dict(p_male=0.63, p_white=0.96, p_bulbar=0.20, p_riluzole=0.70, age_mean=55.0, age_sd=11.0,
            rate_log_shift=0.0,
            duration_log_mean=2.41, duration_log_sd=0.39, age_min=18.0, age_max=80.0,
            min_score=26.0, max_duration=36.0, min_resp=6.0)
_CLIN = dict(p_male=0.55, p_white=1.0, p_bulbar=0.24, p_riluzole=0.75, age_mean=57.5, age_sd=7.5,
             rate_log_shift=-0.42,
             duration_log_mean=2.72, duration_log_sd=0.55, age_min=20.0, age_max=78.0,
             min_score=0.0, max_duration=120.0, min_resp=4.0)

PARAMS: tuple[Param, ...] = tuple([
    # natural history ---------------------------------------------------
    _p("rate_log_mean", 0.0, "log points/month",
       doc="log progression rate of a spinal-onset patient aged 55 with u = 0"),
    _sd("rate_log_sd", 0.63, "log points/month", "residual SD of the log progression rate"),
    _p("rate_bulbar", 0.15, "log points/month", doc="log-rate shift for bulbar onset"),
    _p("rate_age10", 0.10, "log points/month", doc="log-rate shift per 10 years of age"),
    _p("rate_u", -0.20, "log points/month", doc="log-rate shift per SD of the latent factor u"),
    _sd("wiggle_sd", 1.0, "points", "SD of the within-patient deviation w (stationary OU)"),
    _p("wiggle_months", 6.0, "months", 0, _INF, "time constant of w (correlation exp(-dt/this))",
       lo_open=True),
    _sd("rater_sd", 0.68, "points", "SD of rater noise per domain (triangular)"),
    _p("share_spread", 0.5, "", 0, 0.95, "domain weights times independent factors uniform on "
       "[1 - this, 1 + this] (patient heterogeneity of spread)"),
    _p("onset_weight", 3.0, "ratio", 0, _INF, "weight of the onset region's domain in the loss",
       lo_open=True),
    _p("resp_weight", 0.5, "ratio", 0, _INF, "weight of the respiratory domain in the loss",
       lo_open=True),
    _p("duration_elasticity", 0.10, "", doc="log duration at the index falls by this per unit of log rate"),
    _p("weibull_shape", 1.5, "", 0, _INF, "Weibull shape of the hazard in months since onset",
       lo_open=True),
    _p("weibull_scale", 38.6, "months", 0, _INF, "Weibull scale (rate 1 point/month, age 55, u 0)",
       lo_open=True),
    _p("beta_log_rate", 1.0, "log HR", doc="log HR per unit of log progression rate"),
    _p("beta_age10", 0.30, "log HR", doc="log HR per 10 years of age"),
    _p("beta_bulbar", 0.47, "log HR", doc="log HR of bulbar onset"),
    _p("beta_riluzole", -0.22, "log HR", doc="log HR of riluzole"),
    _p("beta_u", -0.40, "log HR", doc="log HR per SD of the latent factor u"),
    # the course of decline (kernels/patient.py draw_course; docs/world.md section 1b)
    _p("curvature_mean", 0.1, "1/year", -2, 2, "mean patient curvature kappa: the rate of loss changes "
       "by 100 kappa % per year after the first visit (positive = accelerating); 0 with curvature_sd 0 "
       "= linear"),
    _sd("curvature_sd", 0.3, "1/year", "SD of the patient curvature kappa"),
    _p("plateau_share", 0.45, "share of time", 0, 0.8, "long-run share of time in a plateau (no "
       "progression); 0 = no plateaus"),
    _p("plateau_months", 10.0, "months", 1, 120, "mean length of a plateau (exponential); progressing "
       "spells last plateau_months (1 - plateau_share) / plateau_share on average"),
    *_pop("reg_", "registry", _REG),
    *_pop("clin_", "clinic applicants", _CLIN),
    # registry trials ---------------------------------------------------
    _p("trial_months_min", 12, "months", 1, 120, "shortest trial", integer=True),
    _p("trial_months_max", 18, "months", 1, 120, "longest trial", integer=True),
    _p("ref_baseline_month", 6, "trial month", 6, 60,
       "reference baseline visit (pre visit 6 months before it)", integer=True),
    _sd("dropout_rate", 0.015, "1/month", "rate of dropping out of the trial (visits stop)"),
    _p("followup_years_min", 2.0, "years", 0, _INF, "long survival follow-up after entry: minimum"),
    _p("followup_years_max", 6.0, "years", 0, _INF, "long survival follow-up after entry: maximum"),
    # treated programme --------------------------------------------------
    _p("enrol_start", 2015.0, "year", doc="first injections from (decimal year)"),
    _p("enrol_end", 2019.0, "year", doc="first injections until (decimal year)"),
    _p("censor_date", 2020.25, "year", doc="administrative censoring (last survival update)"),
    # mechanisms -----------------------------------------------------------
    _p("case_mix", 1.0, "", 0, 1, "applicants' population: 0 = the registry's, 1 = the clinic's",
       section="mechanisms", off=0.0),
    _p("immortal_time_treated", 6.0, "months", 0, 6,
       "treated analysed only if alive (with every visit) at this month; 0 = off", section="mechanisms", off=0.0),
    _p("immortal_time_reference", 6.0, "months", 0, 6,
       "reference eligible only if alive and in the trial this long after baseline; 0 = off",
       section="mechanisms", off=0.0),
    _p("era_hr", 0.85, "HR", 0, _INF, "hazard ratio of the recent era (treated); 1 = off",
       section="mechanisms", off=1.0, lo_open=True),
    _p("self_selection", 0.5, "log-odds per SD", doc="enrolment log-odds per SD of u; 0 = off",
       section="mechanisms", off=0.0),
    _p("regression_to_mean", 0.5, "log-odds per point/month",
       doc="enrolment log-odds per point/month of observed pre-slope; 0 = off", section="mechanisms", off=0.0),
    _sd("retro_noise", 2.0, "points", "extra SD of the retrospective treated alsfrs_pre; 0 = off",
        section="mechanisms", off=0.0),
    _p("unblinded_shift", 1.0, "points", doc="added to treated post-baseline totals; 0 = off",
       section="mechanisms", off=0.0),
    _prob("differential_followup", 0.5, "share of registry patients whose survival follow-up "
          "ends with the trial (or dropout); 0 = off", section="mechanisms", off=0.0),
    _sd("treated_loss_rate", 0.05, "1/year", "treated lost to follow-up (censored alive); 0 = off",
        section="mechanisms", off=0.0),
    _prob("death_ascertainment", 0.15, "share of treated deaths never learnt (censored at last "
          "contact); 0 = off", section="mechanisms", off=0.0),
    _prob("reference_death_selection", 0.0, "share of registry candidates without a recorded death "
          "removed before matching (one reading of the paper's 'about 0% alive' reference arm); 0 = off",
          section="mechanisms", off=0.0),
    _p("recall_shift", 0.0, "points", doc="systematic shift of the recalled (retrospective) treated "
       "alsfrs_pre; positive = recalled as better, a steeper pre-slope; 0 = off", section="mechanisms", off=0.0),
    _prob("early_exclusion", 0.0, "probability that a treated patient who loses >= 4 points by month 4 "
          "is excluded before the third injection for reasons other than death; 0 = off",
          section="mechanisms", off=0.0),
    _p("waiting_months", 0.0, "months", 0, 60, "mean (exponential) wait between referral and the first "
       "injection; deaths during it are never treated; 0 = off", section="mechanisms", off=0.0),
    _prob("time_zero_misalignment", 1.0, "share of the treated built as published: inclusion and time "
          "zero at the first injection, duration unmatched; 0 = the fair construction (the treated "
          "generated like a registry patient, inclusion at an entry visit ref_baseline_month months "
          "before the index); off = 0", section="mechanisms", off=0.0),
    # treatment -------------------------------------------------------------
    _p("hr", 1.0, "HR", 0, _INF, "conditional hazard ratio of treatment (from month 0)",
       section="treatment", lo_open=True),
    _sd("log_hr_sd", 0.0, "log HR", "SD of the patient-level log HR", section="treatment"),
    _p("rate_change", 0.0, "points/month",
       doc="added to the progression rate from month 0 (negative = slower)", section="treatment"),
    _sd("rate_change_sd", 0.0, "points/month", "SD of the patient-level rate change",
        section="treatment"),
    _p("slope_hazard_link", 0.0, "", 0, 1, "share of the world's prognostic gradient in log rate that is "
       "causal: a treatment that changes the rate by the factor f multiplies the hazard after month 0 by "
       "f^(this x beta_log_rate); 0 = off (a slowed decline does not change survival)", section="treatment"),
])

PARAM = {p.name: p for p in PARAMS}
assert tuple(p.name for p in PARAMS) == H.THETA_NAMES, "PARAMS out of step with THETA_NAMES"

# Values that switch every world bias mechanism off (a fair design).
THETA_INDEX = {n: i for i, n in enumerate(H.THETA_NAMES)}

# Mechanisms that act on the registry side (the rest act on the treated).
_REGISTRY_MECHANISMS = frozenset({"immortal_time_reference", "differential_followup",
                                  "reference_death_selection"})


def changes_registry(name: str) -> bool:
    """True if parameter `name` changes the registry pool (natural history, the
    registry population, its trials and the registry-side mechanisms); False if
    it acts only on the clinic, the treated or the treatment."""
    p = PARAM[name]
    if p.section == "world":
        return not (name.startswith("clin_") or name in ("enrol_start", "enrol_end", "censor_date"))
    return name in _REGISTRY_MECHANISMS


MECHANISMS_OFF = {p.name: p.off for p in PARAMS if p.section == "mechanisms"}
assert None not in MECHANISMS_OFF.values(), "every mechanism needs its off value"


def default_params() -> dict:
    return {p.name: p.default for p in PARAMS}


def fair_params(params: dict | None = None) -> dict:
    """`params` (default: the defaults) with every bias mechanism off."""
    out = default_params() if params is None else dict(params)
    out.update(MECHANISMS_OFF)
    return out


def _check_order(vals, a, b, strict=False):
    if vals[a] > vals[b] or (strict and vals[a] == vals[b]):
        rel = "<" if strict else "<="
        raise InputError(b, f"expected {a} {rel} {b}, got {a} = {vals[a]:g}, {b} = {vals[b]:g}")


def build_theta(params: dict | None = None, **overrides) -> np.ndarray:
    """Validated parameter vector: defaults, updated by `params`, then `overrides`.

    Raises InputError naming the parameter for an unknown name, a value of the
    wrong type or out of range, or an inconsistent pair (e.g. enrol_end after
    censor_date).
    """
    vals = default_params()
    for src in (params or {}), overrides:
        for k, v in src.items():
            if k not in PARAM:
                raise InputError(k, "unknown world parameter; allowed: " + ", ".join(PARAM))
            vals[k] = PARAM[k].validate(v, k)
    for pre in ("reg_", "clin_"):
        _check_order(vals, pre + "age_min", pre + "age_max")
    _check_order(vals, "trial_months_min", "trial_months_max")
    _check_order(vals, "followup_years_min", "followup_years_max")
    _check_order(vals, "enrol_start", "enrol_end")
    _check_order(vals, "enrol_end", "censor_date", strict=True)
    return np.array([vals[n] for n in H.THETA_NAMES], dtype=np.float64)


def theta_dict(theta: np.ndarray) -> dict:
    return {n: float(theta[i]) for i, n in enumerate(H.THETA_NAMES)}


# --------------------------------------------------------------------- keys

def pool_key(seed: int, condition: int, replicate: int, pool_policy: str = "condition",
             pool_block_size: int = 1) -> np.uint64:
    """Pool key under a pool policy: one registry per condition, per replicate or
    per block of `pool_block_size` replicates (numba twin: kernels.history.pool_key)."""
    # the policy names are the kernels' (H.POOL_POLICIES), which design/choices.py also reads
    if not isinstance(pool_policy, str) or pool_policy not in H.POOL_POLICIES:
        raise InputError("pool_policy", f"expected one of {', '.join(map(repr, H.POOL_POLICIES))}, "
                         f"got {pool_policy!r}")
    if isinstance(pool_block_size, bool) or not isinstance(pool_block_size, (int, np.integer)) or pool_block_size < 1:
        raise InputError("pool_block_size", f"expected an integer >= 1 (replicates), got {pool_block_size!r}")
    return np.uint64(H.pool_key(np.uint64(seed), np.uint64(condition), np.uint64(replicate),
                                H.POOL_POLICIES[pool_policy], np.int64(pool_block_size)))


def treated_key(seed: int, condition: int, replicate: int) -> np.uint64:
    return np.uint64(H.treated_key(np.uint64(seed), np.uint64(condition), np.uint64(replicate)))


# -------------------------------------------------------------- generation


@dataclass
class Pool:
    """Registry pool, matching variables only (kernels.history PB_* columns)."""
    data: np.ndarray            # (n, N_PB) float64
    keys: np.ndarray            # (n,) uint64 patient keys, for pool_outcomes
    n_candidates: int           # trial candidates drawn (inclusion rejects the rest)

    def __getitem__(self, name):
        return self.data[:, H.PB_NAMES.index(name)]

    @property
    def eligible(self):
        return self.data[:, H.PB_ELIGIBLE] > 0.5


@dataclass
class Treated:
    """Treated cohort and its counterfactual twin (kernels.history TC_* columns)."""
    data: np.ndarray            # (n, N_TC)
    twin: np.ndarray            # (n, N_TC): the same patients without treatment
    n_applicants: int

    def __getitem__(self, name):
        return self.data[:, H.TC_NAMES.index(name)]


def generate_pool(theta: np.ndarray, key, n: int) -> Pool:
    out = np.empty((n, H.N_PB))
    keys = np.empty(n, np.uint64)
    filled, cand = H.pool_baseline(theta, np.uint64(key), out, keys)
    if filled < n:
        raise InputError("world", f"the registry inclusion criteria admit almost no one "
                                  f"({filled} of {n} after {cand} candidates)")
    return Pool(out, keys, int(cand))


def pool_outcomes(theta: np.ndarray, keys: np.ndarray) -> dict:
    """Outcomes (PO_* names -> arrays) of the pool patients with these keys."""
    out = np.empty((len(keys), H.N_PO))
    H.pool_outcomes(theta, np.ascontiguousarray(keys, dtype=np.uint64), out)
    return {name: out[:, i] for i, name in enumerate(H.PO_NAMES)}


DOMAIN_NAMES = ("bulbar", "fine_motor", "gross_motor", "respiratory")
DOMAIN_VISITS = ("entry", "pre", "baseline", "baseline_2", "baseline_4", "baseline_6")


def pool_domains(theta: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Observed ALSFRS-R domain scores (m, 6, 4) of the pool patients with these keys at
    the visit slots DOMAIN_VISITS (trial month 0, b0 - 6, b0, b0 + 2, 4, 6), domains
    DOMAIN_NAMES; each slot sums to the total the pool's tables report where that
    visit exists (kernels/pool.py pool_visit_domains)."""
    out = np.empty((len(keys), H.N_DOMAIN_VISITS, 4))
    H.pool_visit_domains(theta, np.ascontiguousarray(keys, dtype=np.uint64), out)
    return out


def generate_treated(theta: np.ndarray, key, n: int) -> Treated:
    out = np.empty((n, H.N_TC))
    twin = np.empty((n, H.N_TC))
    filled, appl = H.treated_cohort(theta, np.uint64(key), out, twin)
    if filled < n:
        raise InputError("world", f"enrolment admits almost no applicant "
                                  f"({filled} of {n} after {appl} applicants)")
    return Treated(out, twin, int(appl))


def true_effects(theta: np.ndarray, n: int = 200_000, seed: int = 0) -> dict:
    """The world's estimands: `simkit.world.truth.true_effects` (kept here for callers of world)."""
    from simkit.world.truth import true_effects as _true_effects   # truth imports world: import on call
    return _true_effects(theta, n=n, seed=seed)
