"""How much bias does it take?  Tipping points by stochastic root-finding.

A simulation under assumed bias magnitudes shows that a design *can* produce a
result; to say that it *cannot*, one needs the magnitude it would take.
`tipping_points(data, ...)`: under the null, the magnitude of each bias
mechanism (alone, the others at the scenario's values or off; and one common
scale on all of them) at which the design's median reported HR reaches a
target (the paper's 0.30), and at which P(HR <= target and Cox p <= the
paper's p) reaches 5%, each with a cluster-bootstrap confidence interval.
Conditional on the world's assumptions (docs/sensitivity.md). The closed-form
E-values are in `simkit.sensitivity.evalues`.

The mechanisms searched are `knobs()`: every world mechanism
(`world.MECHANISMS_OFF`, ranges from `world.PARAM`) plus `EXTRA_KNOBS`; a
plausible search cap for unbounded ones lives in `CAPS`.
"""
from __future__ import annotations

import copy
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from simkit.errors import InputError



# ------------------------------------------------------------- mechanisms


@dataclass(frozen=True)
class Knob:
    """A bias magnitude the tipping-point search may turn: where it lives in a
    scenario (section.key), its off value, the range searched, and whether it is a
    ratio (scaled on the log scale)."""
    name: str
    section: str
    key: str
    off: float
    lo: float
    hi: float
    log: bool = False
    integer: bool = False
    unit: str = ""
    cap_note: str = ""

    def clip(self, x: float) -> float:
        x = min(max(x, self.lo), self.hi)
        return float(round(x)) if self.integer else float(x)

    def toward(self, a: float, b: float, t):
        """a + t (b - a), on the log scale for a ratio."""
        if self.log:
            return math.exp(math.log(a) + t * (math.log(b) - math.log(a)))
        return a + t * (b - a)


# Plausible search caps of mechanisms whose valid range is unbounded (or absurdly
# wide): generous on purpose, so that a tipping point is found where there is one
# and the reader judges its plausibility.
CAPS = {
    "era_hr": (0.25, "a recent-era hazard a quarter of the registry's: beyond any era effect reported in ALS"),
    "self_selection": (3.0, "enrolment odds ratio 20 per SD of u"),
    "regression_to_mean": (3.0, "enrolment odds ratio 20 per point/month of observed pre-slope"),
    "retro_noise": (8.0, "retrospective pre-score error SD 8 ALSFRS-R points"),
    "unblinded_shift": (6.0, "6 ALSFRS-R points added to every treated post-baseline total"),
    "treated_loss_rate": (1.0, "every treated patient lost to follow-up at 1 per year"),
    "recall_shift": (6.0, "the month -6 score recalled 6 ALSFRS-R points better than it was"),
    "waiting_months": (12.0, "a mean wait of a year between referral and the first injection"),
}
DEFAULT_CAP_MULTIPLE = 4.0   # unbounded mechanism without a CAPS entry: off + 4 x (default - off)

# Mechanisms that are not world parameters (e.g. an analyst's behaviour as a
# [design] key): one Knob each, e.g. Knob("looks", "design", "looks", 1, 1, 10, integer=True).
EXTRA_KNOBS: tuple = (
    Knob("match_peek", "design", "match_peek", 1.0, 1.0, 20.0, integer=True, unit="candidates",
         cap_note="the worst outcome of the 20 nearest candidates"),
)


def knobs() -> dict:
    """name -> Knob: every world mechanism (world.MECHANISMS_OFF) and EXTRA_KNOBS."""
    from simkit.world.model import MECHANISMS_OFF, PARAM
    out = {}
    for name, off in MECHANISMS_OFF.items():
        p = PARAM[name]
        lo, hi = p.lo, p.hi
        log = p.unit in ("HR", "ratio") and off == 1.0
        note = "valid range"
        on = p.default if p.default != off else None
        cap = None
        if name in CAPS:
            cap, note = CAPS[name]
        elif on is not None and ((on > off and hi == math.inf) or (on < off and lo == -math.inf)
                                 or (log and on < off)):
            cap = (off * (on / off) ** DEFAULT_CAP_MULTIPLE if log
                   else off + DEFAULT_CAP_MULTIPLE * (on - off))
            note = f"{DEFAULT_CAP_MULTIPLE:g} x the default magnitude"
        if cap is not None:      # the same distance from off on the other side
            mirror = off * off / cap if log else 2 * off - cap
            lo, hi = max(lo, min(cap, mirror)), min(hi, max(cap, mirror))
        if p.lo_open and lo == p.lo:
            lo = math.nextafter(lo, math.inf)
        out[name] = Knob(name, p.section, name, float(off), float(lo), float(hi), log, p.integer, p.unit, note)
    for k in EXTRA_KNOBS:
        out[k.name] = k
    return out


# ---------------------------------------------------------- tipping points

CRITERIA = ("median_hr", "p_as_extreme")
SCALE = "scale"          # the mechanism name of the common scale factor on all of them
SCALE_CAP = 4.0          # s searched on [0, 4]; each magnitude clipped to its range
_BASE_SECTIONS = ("seed", "replicates", "name", "description", "world", "mechanisms", "treatment",
                  "design")


@dataclass(frozen=True)
class Target:
    hr: float = 0.30          # the paper's HR (seedpaper.reported()["survival"]["hr"])
    p: float = 0.0004         # the paper's Cox p
    level: float = 0.05       # P(as extreme as the paper) to reach

    @classmethod
    def paper(cls, hr: float | None = None, level: float = 0.05) -> Target:
        from simkit.paper.seed import reported
        s = reported()["survival"]
        return cls(float(s["hr"] if hr is None else hr), float(s["hr_p"]), float(level))


def criterion_values(hr, p, target: Target) -> dict:
    """The two criteria from per-replicate reported HRs and Cox p-values (last axis:
    replicates), signed so that >= 0 means 'reached'.  Replicates without an HR are
    left out, as the summaries do."""
    hr = np.asarray(hr, float)
    p = np.asarray(p, float)
    ok = np.isfinite(hr)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)     # a magnitude where no replicate has an HR
        med = np.median(hr, axis=-1) if ok.all() else np.nanmedian(np.where(ok, hr, np.nan), axis=-1)
        hit = ok & (hr <= target.hr) & (p <= target.p)
    prob = hit.sum(-1) / np.maximum(ok.sum(-1), 1)
    return {"median_hr": (target.hr - med, med), "p_as_extreme": (prob - target.level, prob)}


def first_crossing(t, g):
    """The first t at which g (sorted by t) reaches >= 0, by linear interpolation
    between the bracketing points: t[0] if g[0] >= 0, inf if never."""
    t = np.asarray(t, float)
    g = np.asarray(g, float)
    ok = np.isfinite(g)
    t, g = t[ok], g[ok]
    hit = np.nonzero(g >= 0)[0]
    if hit.size == 0:
        return math.inf
    i = hit[0]
    if i == 0:
        return float(t[0])
    a, b = g[i - 1], g[i]
    return float(t[i - 1] + (t[i] - t[i - 1]) * (-a) / (b - a))


@dataclass(frozen=True)
class Search:
    """One root search: a path from 'off' (t = 0) to the cap (t = 1)."""
    mechanism: str           # a knob name, or SCALE
    others: str              # "scenario" | "off" | "-" (the scale moves all)
    start: dict              # knob -> value at t = 0 (all knobs of the search)
    end: dict                # knob -> value at t = 1
    moving: tuple            # the knobs that move with t
    magnitude_lo: float      # the reported magnitude at t = 0 and t = 1
    magnitude_hi: float
    log: bool                # the reported magnitude interpolates on the log scale

    def values(self, t: float, kn: dict) -> dict:
        f = SCALE_CAP if self.mechanism == SCALE else 1.0
        v = dict(self.start)
        for k in self.moving:
            v[k] = kn[k].clip(kn[k].toward(self.start[k], self.end[k], t * f))
        return v

    def magnitude(self, t):
        t = np.asarray(t, float)
        if self.log:
            return np.exp(np.log(self.magnitude_lo) + t * (np.log(self.magnitude_hi) - np.log(self.magnitude_lo)))
        return self.magnitude_lo + t * (self.magnitude_hi - self.magnitude_lo)


def base_dict(data: dict) -> dict:
    """The base scenario of a parsed scenario file: its grid, conditions and run
    settings dropped (a tipping-point search sets its own conditions)."""
    return {k: copy.deepcopy(v) for k, v in data.items() if k in _BASE_SECTIONS}


def null_world(data: dict, block_size: int | None = None) -> dict:
    """The scenario under the null (treatment hr 1, no rate change, no heterogeneity),
    with a new registry per block of replicates so results rest on many registries."""
    d = base_dict(data)
    d["treatment"] = {"hr": 1.0, "log_hr_sd": 0.0, "rate_change": 0.0, "rate_change_sd": 0.0}
    des = d.setdefault("design", {})
    if block_size is not None:
        des.update(pool_policy="block", pool_block_size=int(block_size))
    elif des.get("pool_policy") != "block":
        des.update(pool_policy="block", pool_block_size=50)
    return d


def scenario_values(data: dict, kn: dict) -> dict:
    """Each knob's value in the (validated) scenario."""
    from simkit.runner.grid import study_from_dict
    sc = study_from_dict(base_dict(data)).base
    return {k: float(sc.sections[v.section][v.key]) for k, v in kn.items()}


def searches(data: dict, mechanisms=None, others=("scenario", "off"), scale: bool = True) -> list[Search]:
    """The root searches of a tipping-point run: each mechanism alone (the others at the
    scenario's values and / or off) from its off value to its cap in the direction of
    its scenario value (or default, if the scenario has it off), and the common scale
    on all of them."""
    from simkit.world.model import PARAM
    kn = knobs()
    names = list(kn) if not mechanisms else list(mechanisms)
    for m in names:
        if m not in kn:
            raise InputError("--mechanism", f"unknown mechanism {m!r}; allowed: {', '.join(kn)}")
    scen = scenario_values(data, kn)
    off = {k: v.off for k, v in kn.items()}
    out = []
    for m in names:
        k = kn[m]
        on = scen[m] if scen[m] != k.off else (PARAM[m].default if m in PARAM else k.hi)
        if on == k.off:
            # off in the scenario and by default: search the side where the range lies
            # (a mechanism that is off at an end of its range, e.g. a share at 0)
            on = k.hi if k.hi > k.off else k.lo
        if on == k.off:
            continue          # no direction to search in
        end = k.lo if on < k.off else k.hi
        if not math.isfinite(end):
            continue          # no cap on that side: nothing to search up to
        for o in others:
            start = dict(scen if o == "scenario" else off)
            start[m] = k.off
            out.append(Search(m, o, start, {**start, m: end}, (m,), k.off, end, k.log))
    moving = tuple(m for m in names if scen[m] != kn[m].off)
    if scale and moving:
        start = {k: (kn[k].off if k in moving else scen[k]) for k in kn}
        end = {k: scen[k] for k in kn}
        out.append(Search(SCALE, "-", start, end, moving, 0.0, SCALE_CAP, False))
    return out


def _evaluate(base: dict, values: dict, kn: dict, reps: int) -> np.ndarray:
    """(2, reps): reported HR and Cox p of replicates 0..reps-1 of the null scenario
    with these magnitudes; condition key 0 for every magnitude (common random numbers)."""
    from simkit.design.replicate import OUT_FIELDS, run_replicates
    from simkit.runner.grid import study_from_dict
    d = copy.deepcopy(base)
    for k, v in values.items():
        d.setdefault(kn[k].section, {})[kn[k].key] = int(v) if kn[k].integer else float(v)
    st = study_from_dict(d)
    rows = run_replicates(st.base.theta(), st.design(0), st.seed, 0, 0, reps)
    return rows[:, [OUT_FIELDS.index("hr"), OUT_FIELDS.index("hr_p")]].T.copy()


def search_points(evaluate, target: Target, n_grid: int = 5, n_bisect: int = 3, n_refine: int = 2,
                  block: int = 50, n_boot: int = 400, seed: int = 0, ci_level: float = 0.95) -> dict:
    """The stochastic root search on t in [0, 1]: evaluate(t) -> (2, reps) array of
    per-replicate reported HRs and Cox p-values, with common random numbers (the same
    replicates at every t).

    A grid of n_grid points from off (0) to the cap (1); for each criterion n_bisect
    bisection steps in the bracket where the full-sample criterion first reaches its
    target; then up to n_refine rounds that halve the evaluated interval holding
    each bootstrap CI limit while it is wider than the last bisection bracket (a
    bootstrap root is interpolated between evaluated points, and a chord across a
    wide interval of a curved criterion would bias the CI).  Returns {t: (2, reps)}."""
    pts = {}

    def ev(t):
        t = float(t)
        if t not in pts:
            pts[t] = np.asarray(evaluate(t), dtype=float)
        return pts[t]

    for t in np.linspace(0.0, 1.0, n_grid):
        ev(t)
    for c in CRITERIA:
        for _ in range(n_bisect):
            ts = np.array(sorted(pts))
            g = np.array([criterion_values(*pts[t], target)[c][0] for t in ts])
            hit = np.nonzero(g >= 0)[0]
            if hit.size == 0 or hit[0] == 0:
                break
            ev(0.5 * (ts[hit[0] - 1] + ts[hit[0]]))
    width = 1.0 / (n_grid - 1) / 2 ** n_bisect
    for _ in range(n_refine):
        ts = np.array(sorted(pts))
        new = set()
        for t0, lo, hi, _u in root_ci(pts, target, block, n_boot, seed, ci_level).values():
            for x in (lo, hi):
                i = int(np.searchsorted(ts, x, side="left"))
                if math.isfinite(x) and 0 < i < len(ts) and ts[i] - ts[i - 1] > width * 1.001:
                    new.add(0.5 * (ts[i - 1] + ts[i]))
        if not new:
            break
        for t in sorted(new):
            ev(t)
    return pts


def run_search(base: dict, s: Search, reps: int, target: Target, n_grid: int = 5,
               n_bisect: int = 3, n_refine: int = 2, n_boot: int = 400, ci_level: float = 0.95) -> dict:
    """`search_points` of one search of the null scenario `base`: every evaluation uses
    the scenario's seed and condition key 0 (common random numbers), so the
    criterion's curve is smooth in the magnitude and the steps are paired."""
    from simkit.runner.grid import study_from_dict
    kn = knobs()
    st = study_from_dict(base)
    return search_points(lambda t: _evaluate(base, s.values(t, kn), kn, reps), target, n_grid, n_bisect,
                         n_refine, int(st.base.design["pool_block_size"]), n_boot, st.seed, ci_level)


def bootstrap_roots(pts: dict, target: Target, block: int, n_boot: int, seed: int) -> dict:
    """criterion -> (root t of the full sample, bootstrap roots (n_boot,)): the
    replicates resampled by registry block (replicates sharing a registry are not
    independent), the same resample at every magnitude (paired)."""
    ts = np.array(sorted(pts))
    arr = np.stack([pts[t] for t in ts])          # (K, 2, reps)
    reps = arr.shape[2]
    clusters = np.arange(reps) // block
    members = [np.nonzero(clusters == g)[0] for g in range(clusters.max() + 1)]
    rng = np.random.default_rng([seed, 0x7199])
    full = criterion_values(arr[:, 0], arr[:, 1], target)
    out = {c: (first_crossing(ts, full[c][0]), np.empty(n_boot)) for c in CRITERIA}
    hr, p = arr[:, 0][:, None, :], arr[:, 1][:, None, :]
    for b0 in range(0, n_boot, 50):        # 50 resamples at a time: (K, 50, reps) arrays
        nb = min(50, n_boot - b0)
        pick = rng.integers(0, len(members), (nb, len(members)))
        idx = np.stack([np.concatenate([members[g] for g in row]) for row in pick])
        cv = criterion_values(np.take_along_axis(hr, idx[None], 2), np.take_along_axis(p, idx[None], 2), target)
        for c in CRITERIA:
            out[c][1][b0:b0 + nb] = [first_crossing(ts, cv[c][0][:, j]) for j in range(nb)]
    return out


@dataclass
class TippingPoints:
    """The result of `tipping_points`: `table` (pandas DataFrame, one row per search x
    criterion: mechanism, others, criterion, magnitude, low, high, reachable, status,
    ...), `curves` (xarray Dataset: each criterion's value at every evaluated magnitude)
    and the settings."""
    table: object
    curves: object
    target: Target
    reps: int
    seed: int
    block_size: int
    n_boot: int
    ci_level: float
    scenario_name: str = ""

    def rows(self) -> list[dict]:
        """The table's rows as dicts, None where there is no value (not NaN)."""
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]

    def to_dict(self) -> dict:
        return {"target": dict(self.target.__dict__), "reps": self.reps, "seed": self.seed,
                "registry_block_size": self.block_size, "bootstrap": self.n_boot,
                "ci_level": self.ci_level, "scenario_name": self.scenario_name,
                "tipping_points": self.rows(),
                "curves": self.curves.to_dataframe().to_dict(orient="records")}


def root_ci(pts: dict, target: Target, block: int, n_boot: int, seed: int, ci_level: float = 0.95) -> dict:
    """criterion -> (root t, CI low t, CI high t, share of resamples never reaching it);
    inf where the root is not reached in [0, 1]; percentile CI of the bootstrap roots."""
    a = (1.0 - ci_level) / 2.0
    out = {}
    for c, (t0, bt) in bootstrap_roots(pts, target, block, n_boot, seed).items():
        # no interpolation: inf (a resample that never reaches it) sorts last
        lo, hi = np.quantile(bt, [a, 1 - a], method="inverted_cdf")
        out[c] = (t0, float(lo), float(hi), float(np.mean(~np.isfinite(bt))))
    return out


def _summarise(s: Search, pts: dict, target: Target, kn: dict, block: int, n_boot: int, seed: int,
               ci_level: float) -> tuple[list[dict], list[dict]]:
    unit = "x (scenario - off)" if s.mechanism == SCALE else kn[s.mechanism].unit
    rows = []
    for c, (t0, lo_t, hi_t, unreached) in root_ci(pts, target, block, n_boot, seed, ci_level).items():
        reach = math.isfinite(t0)
        mag = lambda t: float(s.magnitude(t)) if math.isfinite(t) else None  # noqa: E731
        if not reach:
            status = "not reached within the range"
        elif t0 == 0.0:
            status = "met with it off"
        else:
            status = "reached"
        low, high = mag(lo_t), mag(hi_t)
        if s.magnitude_hi < s.magnitude_lo:
            low, high = high, low          # searched downwards (e.g. era_hr): report low <= high
        rows.append({"mechanism": s.mechanism, "others": s.others, "criterion": c,
                     "magnitude": mag(t0), "low": low, "high": high, "reachable": reach,
                     "status": status, "off": float(s.magnitude_lo), "cap": float(s.magnitude_hi),
                     "unit": unit, "share_boot_unreached": unreached})
    ts = sorted(pts)
    cv = [criterion_values(*pts[t], target) for t in ts]
    curve = [{"mechanism": s.mechanism, "others": s.others, "t": t, "magnitude": float(s.magnitude(t)),
              "median_hr": float(v["median_hr"][1]), "p_as_extreme": float(v["p_as_extreme"][1])}
             for t, v in zip(ts, cv)]
    return rows, curve


def tipping_points(data: dict, *, target: Target | None = None, mechanisms=None, reps: int | None = None,
                   others=("scenario", "off"), scale: bool = True, jobs: int = 1, n_grid: int = 5,
                   n_bisect: int = 3, n_refine: int = 2, n_boot: int = 400, ci_level: float = 0.95,
                   block_size: int | None = None, progress=None) -> TippingPoints:
    """Tipping points of every (or the named) mechanism of a parsed scenario under the null.

    A pure function of (scenario, seed, reps, settings): the search points are chosen
    from the data, every evaluation is keyed by the scenario's seed and condition 0,
    and `jobs` only spreads searches over processes.
    """
    import pandas as pd
    import xarray as xr
    target = target or Target.paper()
    if reps is not None and (isinstance(reps, bool) or not isinstance(reps, int) or reps < 2):
        raise InputError("--reps", f"expected an integer >= 2, got {reps!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError("--jobs", f"expected an integer >= 1, got {jobs!r}")
    if not 0 < target.hr < 1:
        raise InputError("--target-hr", f"expected a hazard ratio in (0, 1), got {target.hr!r}")
    base = null_world(data, block_size)
    from simkit.runner.grid import study_from_dict
    st = study_from_dict(base)           # validates the scenario once, with its path-free keys
    reps = reps or st.replicates
    block = int(st.base.design["pool_block_size"])
    kn = knobs()
    todo = searches(base, mechanisms, others, scale)
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    asked = list(mechanisms) if mechanisms else list(kn)
    skipped = [m for m in asked if m not in {s.mechanism for s in todo}]
    if skipped:
        say(f"tipping points: no search for {', '.join(skipped)} (off in the scenario and by default, "
            f"or no cap in its direction)")
    say(f"tipping points: {len(todo)} searches x up to {n_grid + 2 * n_bisect + 4 * n_refine} magnitudes x {reps} "
        f"replicates, {jobs} process(es)")
    from simkit.kernels.warmup import warm_up
    warm_up(quiet=True)
    args = (reps, target, n_grid, n_bisect, n_refine, n_boot, ci_level)
    if jobs == 1:
        done = (run_search(base, s, *args) for s in todo)
    else:
        # loky's reusable executor directly, as montecarlo.py does: mixing it with
        # joblib.Parallel in one process breaks joblib's reuse of the pool
        from joblib.externals.loky import get_reusable_executor
        ex = get_reusable_executor(max_workers=jobs)
        done = (f.result() for f in [ex.submit(run_search, base, s, *args) for s in todo])
    results = []
    for i, (s, pts) in enumerate(zip(todo, done)):
        results.append(pts)
        say(f"  [{i + 1}/{len(todo)}] {s.mechanism} (others {s.others}): {len(pts)} magnitudes")
    rows, curves = [], []
    for s, pts in zip(todo, results):
        r, c = _summarise(s, pts, target, kn, block, n_boot, st.seed, ci_level)
        rows += r
        curves += c
    table = pd.DataFrame(rows)
    cdf = pd.DataFrame(curves)
    ds = xr.Dataset.from_dataframe(cdf.rename_axis("point"))
    ds.attrs.update({"target_hr": target.hr, "target_p": target.p, "level": target.level, "reps": reps,
                     "seed": st.seed})
    return TippingPoints(table, ds, target, reps, st.seed, block, n_boot, ci_level, st.base.name)
