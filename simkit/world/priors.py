"""Probabilistic bias analysis: world, mechanism and treatment parameters drawn from priors.

A scenario's `[priors]` section gives a distribution for any parameter of
`[world]`, `[mechanisms]` or `[treatment]`, and for the analyst's peek
(`design.match_peek`, an integer distribution):

    [priors]
    "mechanisms.reference_death_selection" = { dist = "uniform", low = 0.0, high = 1.0 }
    "mechanisms.era_hr" = { dist = "loguniform", low = 0.6, high = 1.0 }
    "treatment.hr" = { dist = "truncnormal", mean = 1.0, sd = 0.2, low = 0.3, high = 2.0 }
    "design.match_peek" = { dist = "integer_loguniform", low = 1, high = 20 }

Each replicate draws its own values, by the inverse CDF of keyed uniforms, so a
run stays a pure function of (scenario, seed): the same numbers for any number
of workers, any chunk size and after a resume.  A parameter that changes the
registry (simkit.world.model.changes_registry) is drawn once per registry (per
condition, per block or per replicate, as the pool policy says), since one
registry serves every replicate that shares it.  The drawn values are stored
with each replicate as `prior_<name>`; summaries then integrate over them.
An integer prior's stored value is its continuous draw x (the choice is floor(x)),
so that inference can treat it as a continuous parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simkit.errors import InputError

# distribution -> (its parameters, what it is)
DISTS = {
    "fixed": (("value",), "the value itself"),
    "uniform": (("low", "high"), "uniform on [low, high]"),
    "loguniform": (("low", "high"), "log-uniform on [low, high], 0 < low"),
    "normal": (("mean", "sd"), "normal (only for parameters without bounds)"),
    "truncnormal": (("mean", "sd", "low", "high"), "normal truncated to [low, high]"),
    "beta": (("a", "b"), "beta(a, b) on [low, high] (default [0, 1]; low and high optional)"),
    "triangular": (("low", "mode", "high"), "triangular on [low, high] with its mode"),
    # for an integer design choice (design.match_peek): x drawn on [low, high + 1), the choice floor(x)
    "integer_uniform": (("low", "high"), "each integer of low..high equally likely (a design choice)"),
    "integer_loguniform": (("low", "high"), "the integer part of a log-uniform on [low, high + 1), "
                                            "P(k) proportional to log((k + 1) / k) (a design choice)"),
}
# design choices a prior may draw per replicate: scenario key -> the kernel's design slot.  Only the
# analyst's peek: it acts on each replicate's match alone, never on the registry or the treated cohort.
# (the same choice's rows in simkit/design/choices.py: slot "peek", at least 1; the world layer does not
# import the design layer, a test checks the two agree)
DESIGN_PRIORS = {"match_peek": "peek"}
DESIGN_PRIOR_MIN = {"match_peek": 1}
INTEGER_DISTS = ("integer_uniform", "integer_loguniform")
# registry-draw counters sit apart from per-replicate ones when both key by the replicate
_REGISTRY_COUNTER0 = 1000


@dataclass(frozen=True)
class Prior:
    name: str              # theta parameter
    dist: str
    args: tuple            # floats, in DISTS order (beta: a, b, low, high)
    index: int             # position in theta (a design prior: in the kernel's design vector)
    registry: bool         # drawn once per registry
    section: str = ""      # world, mechanisms, treatment or design

    def support(self) -> tuple:
        a = self.args
        if self.dist == "fixed":
            return a[0], a[0]
        if self.dist in ("uniform", "loguniform"):
            return a[0], a[1]
        if self.dist in INTEGER_DISTS:
            return a[0], a[1] + 1.0      # the continuous draw x; the choice is floor(x)
        if self.dist == "normal":
            return -math.inf, math.inf
        if self.dist == "truncnormal":
            return a[2], a[3]
        if self.dist == "beta":
            return a[2], a[3]
        return a[0], a[2]   # triangular

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The inverse CDF at u (0 < u < 1)."""
        a = self.args
        if self.dist == "fixed":
            return np.full_like(u, a[0])
        if self.dist == "uniform":
            return a[0] + u * (a[1] - a[0])
        if self.dist == "loguniform":
            return np.exp(math.log(a[0]) + u * (math.log(a[1]) - math.log(a[0])))
        if self.dist == "integer_uniform":     # the continuous x; floor(x) is the choice
            return np.minimum(a[0] + u * (a[1] + 1.0 - a[0]), np.nextafter(a[1] + 1.0, 0.0))
        if self.dist == "integer_loguniform":
            return np.minimum(np.exp(math.log(a[0]) + u * (math.log(a[1] + 1.0) - math.log(a[0]))),
                              np.nextafter(a[1] + 1.0, 0.0))
        if self.dist == "normal":
            from scipy import stats  # only here: importing scipy.stats costs a worker 0.5 s
            return a[0] + a[1] * stats.norm.ppf(u)
        if self.dist == "truncnormal":
            from scipy import stats  # only here: importing scipy.stats costs a worker 0.5 s
            lo, hi = (a[2] - a[0]) / a[1], (a[3] - a[0]) / a[1]
            return np.clip(stats.truncnorm.ppf(u, lo, hi, loc=a[0], scale=a[1]), a[2], a[3])
        if self.dist == "beta":
            from scipy import stats  # only here: importing scipy.stats costs a worker 0.5 s
            return a[2] + (a[3] - a[2]) * stats.beta.ppf(u, a[0], a[1])
        lo, mode, hi = a
        c = (mode - lo) / (hi - lo) if hi > lo else 0.5
        return np.where(u < c, lo + np.sqrt(u * (hi - lo) * (mode - lo)),
                        hi - np.sqrt((1 - u) * (hi - lo) * (hi - mode)))

    def describe(self) -> str:
        names = DISTS[self.dist][0] + (("low", "high") if self.dist == "beta" else ())
        return f"{self.dist}(" + ", ".join(f"{n}={v:g}" for n, v in zip(names, self.args)) + ")"


@dataclass(frozen=True)
class Priors:
    """The priors of a scenario (possibly none); `draw` gives per-replicate worlds."""
    items: tuple = ()

    @property
    def fields(self) -> tuple:
        return tuple(f"prior_{p.name}" for p in self.items)

    def names(self) -> tuple:
        return tuple(p.name for p in self.items)

    def peeks(self, drawn: np.ndarray) -> np.ndarray:
        """The analyst's peek of each replicate from `draw`'s values (floor of the continuous draw of an
        integer prior), for the kernel's run_chunk; empty when match_peek has no prior."""
        for j, p in enumerate(self.items):
            if p.section == "design" and p.name == "match_peek":
                return np.floor(drawn[:, j]) if p.dist in INTEGER_DISTS else np.asarray(drawn[:, j], float).copy()
        return np.empty(0)

    def draw(self, theta, dvec, seed, condition, start, stop):
        """(thetas (n, N_THETA), drawn (n, n_priors)) for replicates start..stop-1 of a
        condition keyed `condition`, the registry parameters constant per registry."""
        from simkit.kernels import history as H
        from simkit.kernels import replicate as R
        from simkit.kernels.rng import keyed_uniforms
        n = stop - start
        k = np.arange(start, stop, dtype=np.int64)
        policy = int(dvec[R.D_POOL_POLICY])
        block = max(int(dvec[R.D_BLOCK_SIZE]), 1)
        if policy == H.POOL_PER_REPLICATE:
            reg_labels, c0 = k, _REGISTRY_COUNTER0
        elif policy == H.POOL_PER_BLOCK:
            reg_labels, c0 = H.POOL_LABEL + 1 + k // block, 0
        else:
            reg_labels, c0 = np.full(n, H.POOL_LABEL, dtype=np.int64), 0
        m = len(self.items)
        u_rep = np.empty((n, m))
        u_reg = np.empty((n, c0 + m))
        keyed_uniforms(np.uint64(seed), np.uint64(condition), k.astype(np.uint64), np.uint64(H.STREAM_PRIOR),
                       m, u_rep)
        keyed_uniforms(np.uint64(seed), np.uint64(condition), reg_labels.astype(np.uint64),
                       np.uint64(H.STREAM_PRIOR), c0 + m, u_reg)
        thetas = np.repeat(np.asarray(theta, np.float64)[None, :], n, axis=0)
        drawn = np.empty((n, m))
        for j, p in enumerate(self.items):
            u = u_reg[:, c0 + j] if p.registry else u_rep[:, j]
            v = p.ppf(u)
            drawn[:, j] = v
            if p.section != "design":       # a design choice goes to the kernel through `peeks`
                thetas[:, p.index] = v
        return thetas, drawn


_NO_PRIOR = ("reg_age_min", "reg_age_max", "clin_age_min", "clin_age_max", "trial_months_min", "trial_months_max",
             "ref_baseline_month", "followup_years_min", "followup_years_max", "enrol_start", "enrol_end",
             "censor_date")


def _number(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(where, f"expected a finite number, got {v!r}")
    return float(v)


def parse_priors(table, where: str = "priors") -> Priors:
    """Validate a scenario's [priors] table: {"section.name": {dist = ..., ...}} (or nested
    [priors.section] tables)."""
    from simkit.world import model as W
    if table is None:
        return Priors()
    if not isinstance(table, dict):
        raise InputError(where, "expected a [priors] table of 'section.name' = { dist = ..., ... }")
    flat = {}
    for k, v in table.items():
        if isinstance(v, dict) and "dist" not in v and k in ("world", "mechanisms", "treatment", "design"):
            for kk, vv in v.items():
                flat[f"{k}.{kk}"] = vv
        else:
            flat[k] = v
    items = []
    names = W.PARAM
    for key, spec in flat.items():
        w = f"{where}.{key}"
        sec, _, name = key.partition(".")
        if sec == "design":
            items.append(_design_prior(name, spec, w))
            continue
        if sec not in ("world", "mechanisms", "treatment") or name not in names or names[name].section != sec:
            raise InputError(w, "expected a key 'section.name' of a [world], [mechanisms] or [treatment] "
                                "parameter (docs/world.md lists them), or design.match_peek")
        if dist_of(spec, w) in INTEGER_DISTS:
            raise InputError(f"{w}.dist", f"{spec['dist']} is for an integer design choice (design.match_peek)")
        if name in _NO_PRIOR or names[name].integer:
            raise InputError(w, f"{name} cannot have a prior (an integer, or tied to another parameter); "
                                "vary it in a [grid] instead")
        if not isinstance(spec, dict) or "dist" not in spec:
            raise InputError(w, f"expected {{ dist = ..., ... }} with dist one of {', '.join(DISTS)}")
        dist = spec["dist"]
        if dist not in DISTS:
            raise InputError(f"{w}.dist", f"expected one of {', '.join(DISTS)}, got {dist!r}")
        need = DISTS[dist][0]
        allowed = set(need) | {"dist"} | ({"low", "high"} if dist == "beta" else set())
        extra = set(spec) - allowed
        if extra:
            raise InputError(f"{w}.{sorted(extra)[0]}", f"unknown for {dist}; expected {', '.join(need)}")
        missing = [a for a in need if a not in spec]
        if missing:
            raise InputError(f"{w}.{missing[0]}", f"{dist} needs {', '.join(need)}")
        args = [_number(spec[a], f"{w}.{a}") for a in need]
        if dist == "beta":
            args += [_number(spec.get("low", 0.0), f"{w}.low"), _number(spec.get("high", 1.0), f"{w}.high")]
        _check_shape(dist, args, w)
        p = Prior(name, dist, tuple(args), W.THETA_INDEX[name], W.changes_registry(name), sec)
        lo, hi = p.support()
        par = names[name]
        for end, v in (("lower", lo), ("upper", hi)):
            try:
                par.validate(v, name) if math.isfinite(v) else _unbounded(par, w)
            except InputError as e:
                raise InputError(w, f"the prior's {end} end {v:g} is outside the parameter's range: "
                                    f"{e.message}") from None
        items.append(p)
    return Priors(tuple(items))


def dist_of(spec, where) -> str:
    if not isinstance(spec, dict) or "dist" not in spec:
        raise InputError(where, f"expected {{ dist = ..., ... }} with dist one of {', '.join(DISTS)}")
    if spec["dist"] not in DISTS:
        raise InputError(f"{where}.dist", f"expected one of {', '.join(DISTS)}, got {spec['dist']!r}")
    return spec["dist"]


def _design_prior(name, spec, w) -> Prior:
    """A prior on a design choice: only match_peek, with a fixed value or an integer distribution whose
    ends are allowed peeks (simkit/design/choices.py)."""
    from simkit.kernels import replicate as R
    if name not in DESIGN_PRIORS:
        raise InputError(w, f"a design choice with a prior must be one of {', '.join(DESIGN_PRIORS)} (the "
                            f"analyst's look among near candidates); vary the others in a [grid]")
    dist = dist_of(spec, w)
    if dist not in INTEGER_DISTS + ("fixed",):
        raise InputError(f"{w}.dist", f"design.{name} is a whole number of candidates: expected one of "
                                      f"{', '.join(INTEGER_DISTS)} or fixed, got {dist!r}")
    need = DISTS[dist][0]
    extra = set(spec) - set(need) - {"dist"}
    if extra:
        raise InputError(f"{w}.{sorted(extra)[0]}", f"unknown for {dist}; expected {', '.join(need)}")
    missing = [a for a in need if a not in spec]
    if missing:
        raise InputError(f"{w}.{missing[0]}", f"{dist} needs {', '.join(need)}")
    args = []
    for a in need:
        v = spec[a]
        where = f"{w}.{a}"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != math.floor(v):
            raise InputError(where, f"expected a whole number of candidates, got {v!r}")
        if v < DESIGN_PRIOR_MIN[name]:
            raise InputError(where, f"expected an integer >= {DESIGN_PRIOR_MIN[name]} (candidates), got {v!r}")
        args.append(float(v))
    if dist != "fixed" and not args[0] <= args[1]:
        raise InputError(w, f"{dist}: low must not exceed high, got {args}")
    return Prior(name, dist, tuple(args), R.DESIGN_NAMES.index(DESIGN_PRIORS[name]), False, "design")


def _unbounded(par, where):
    if par.lo != -math.inf or par.hi != math.inf:
        raise InputError(where, f"a normal prior is unbounded but {par.name} must lie in "
                                f"[{par.lo:g}, {par.hi:g}]: use truncnormal")


def _check_shape(dist, a, where):
    bad = None
    if dist in ("uniform", "loguniform") and not a[0] <= a[1]:
        bad = "low must not exceed high"
    elif dist == "loguniform" and not a[0] > 0:
        bad = "low must be > 0"
    elif dist in ("normal", "truncnormal") and not a[1] > 0:
        bad = "sd must be > 0"
    elif dist == "truncnormal" and not a[2] < a[3]:
        bad = "low must be below high"
    elif dist == "beta" and not (a[0] > 0 and a[1] > 0 and a[2] < a[3]):
        bad = "a and b must be > 0 and low below high"
    elif dist == "triangular" and not (a[0] <= a[1] <= a[2] and a[0] < a[2]):
        bad = "expected low <= mode <= high with low < high"
    if bad:
        raise InputError(where, f"{dist}: {bad}, got {a}")
