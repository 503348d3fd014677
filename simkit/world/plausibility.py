"""Before a run: can this world fill its design at all, and within seconds?

The world draws registry patients and clinic applicants by rejection: a
candidate is kept if the inclusion criteria (and, for applicants, enrolment
and the immortal-time requirement) accept them.  A world in which almost
nobody is accepted makes those loops run to their caps: minutes of full CPU
and no output (issue 15: `rate_log_mean = 7.5` ran 90 s before being stopped,
most of it in the 100,000-patient truth of `grid.truths`).

`probe(theta, design)` draws candidates of each population with the same
kernels the run uses (a stream of its own, so nothing about the run changes)
until PROBE_ACCEPTED are accepted or the kernel's cap is hit (51,000 registry
candidates, 510,000 applicants: well under a second), and estimates the
acceptance rates.  `check_study` refuses, with an InputError naming the rate
and the parameters that drive it, a world whose expected draws exceed the
budgets below.  The verdict is a pure function of the scenario (fixed key),
never of the machine's speed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.world import model as W
from simkit.errors import InputError
from simkit.kernels import history as H

PROBE_ACCEPTED = 50            # accepted candidates the probe stops at
PROBE_KEY = 0x9A0BE            # the probe's stream, apart from every replicate's and the truth's
TRUTH_N = 100_000              # treated patients grid.truths simulates (world.true_effects)
# About 0.2 us per rejected candidate: 2 M registry draws per pool is under a
# second, 20 M applicants for the truth a few seconds.
POOL_BUDGET = 2_000_000        # registry candidates drawn per pool
TREATED_BUDGET = 20_000_000    # applicants drawn for the truth (the largest cohort drawn)

# The parameters that decide whether a candidate is accepted, by population.
_DISEASE = ["rate_log_mean", "rate_log_sd", "rate_bulbar", "rate_age10", "rate_u",
            "duration_elasticity", "weibull_shape", "weibull_scale", "beta_log_rate",
            "beta_age10", "beta_bulbar", "beta_u", "wiggle_sd", "rater_sd", "resp_weight",
            "onset_weight"]
REGISTRY_DRIVERS = (["reg_age_min", "reg_age_max", "reg_min_score", "reg_max_duration",
                     "reg_min_resp", "reg_age_mean", "reg_age_sd", "reg_rate_log_shift",
                     "reg_duration_log_mean", "reg_duration_log_sd"] + _DISEASE)
TREATED_DRIVERS = (["clin_age_min", "clin_age_max", "clin_min_score", "clin_max_duration",
                    "clin_min_resp", "clin_age_mean", "clin_age_sd", "clin_rate_log_shift",
                    "clin_duration_log_mean", "clin_duration_log_sd", "case_mix",
                    "self_selection", "regression_to_mean", "immortal_time_treated",
                    "retro_noise",
                    # the treated's index visit comes after their first (month -6): the course counts
                    "curvature_mean", "curvature_sd", "plateau_share", "plateau_months"] + _DISEASE)


@dataclass(frozen=True)
class Acceptance:
    """Estimated share of candidates a population's rejection loop keeps."""
    population: str        # "registry" | "treated"
    accepted: int
    drawn: int

    @property
    def rate(self) -> float:
        return self.accepted / self.drawn if self.drawn else float("nan")

    def describe(self) -> str:
        if self.accepted == 0:
            return f"0 of {self.drawn:,} candidates accepted (< {1 / self.drawn:.2g})"
        return f"{self.accepted} of {self.drawn:,} candidates accepted ({self.rate:.3g})"


def probe(theta: np.ndarray) -> tuple[Acceptance, Acceptance]:
    """(registry inclusion, treated enrolment) acceptance of a world."""
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    key = np.uint64(PROBE_KEY)
    out = np.empty((PROBE_ACCEPTED, H.N_PB))
    keys = np.empty(PROBE_ACCEPTED, np.uint64)
    filled, drawn = H.pool_baseline(theta, key, out, keys)
    reg = Acceptance("registry", int(filled), int(drawn))
    tout = np.empty((PROBE_ACCEPTED, H.N_TC))
    filled, drawn = H.treated_cohort_only(theta, key, tout)
    return reg, Acceptance("treated", int(filled), int(drawn))


def _drivers(params: dict, names: list) -> str:
    changed = [f"{n} = {params[n]:g}" for n in names
               if n in params and params[n] != W.PARAM[n].default]
    if changed:
        return "set away from their defaults here: " + ", ".join(changed)
    return "driven by " + ", ".join(names[:10]) + ", ..."


def check_world(params: dict, pool_size: int, where: str = "world") -> tuple[Acceptance, Acceptance]:
    """Raise InputError if the world cannot fill a pool of `pool_size` or the
    treated cohorts within the budgets; else return the two acceptances."""
    theta = W.build_theta(params)
    from simkit.world.memo import memo
    # a pure function of theta: read back from disk when this world ran before
    reg, tr = (Acceptance(*a) for a in memo("plausibility", (theta, PROBE_ACCEPTED, PROBE_KEY),
                                            lambda: [[a.population, a.accepted, a.drawn]
                                                     for a in probe(theta)]))
    for acc, what, n, target, unit, budget, drivers in (
            (reg, "registry inclusion", pool_size, f"a {pool_size:,}-patient registry", "draws",
             POOL_BUDGET, REGISTRY_DRIVERS),
            (tr, "treated enrolment", TRUTH_N, f"the {TRUTH_N:,} treated patients of the truth",
             "applicants", TREATED_BUDGET, TREATED_DRIVERS)):
        need = n / acc.rate if acc.accepted else float("inf")
        if need > budget:
            raise InputError(where, f"implausible world: {what} {acc.describe()}, so drawing {target} takes "
                                    f"about {_fmt_need(need)} {unit} (budget {budget:,}); the "
                                    f"{what.split()[1]} rate is {_drivers(params, drivers)}")
    return reg, tr


def _fmt_need(x: float) -> str:
    return "infinitely many" if not np.isfinite(x) else f"{x:,.0f}"


def check_study(study) -> list[tuple[Acceptance, Acceptance]]:
    """check_world for every distinct world of a study (grid.Study); the
    InputError names the grid condition."""
    seen: dict = {}
    out = []
    for c in study.conditions:
        sc = c.scenario
        k = (sc.theta().tobytes(), sc.design["pool_size"])
        if k not in seen:
            where = "world" if len(study.conditions) == 1 else (
                f"grid condition {c.index} ({', '.join(f'{n}={v}' for n, v in c.coords.items())})")
            seen[k] = check_world(sc.params(), sc.design["pool_size"], where)
        out.append(seen[k])
    return out
