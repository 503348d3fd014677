"""A scenario's grid of conditions, and the Monte Carlo job it defines.

On top of the base scenario (scenario.py: [world], [mechanisms], [treatment],
[design]) a scenario file may hold:

    [grid]                      # product of listed values, one dim per key
    "treatment.hr" = [1.0, 0.7, 0.5]
    "design.caliper" = [0.25, 0.5, 1.0]

    [[conditions]]              # or explicit rows (not both)
    label = "immortal time only"
    "mechanisms.immortal_time_treated" = 4.0

    [analysis]
    firth = false               # also fit Firth-penalised models
    alpha = 0.05                # two-sided level for rejection rates

    [run]
    chunk_size = 500            # replicates per chunk (the store's layout only)
    common_random_numbers = false   # true: every condition draws the same patients and
                                    # registries (streams keyed by replicate only), so
                                    # differences between conditions are paired

Two shorthands switch the bias mechanisms as a set: in a [grid],
`mechanisms = ["off", "on"]` (off = every mechanism at its "off" value, on = the
base scenario's values); in a [[conditions]] row, `mechanisms = "off"` or "on",
or `mechanisms_only = ["era_hr", ...]` (all off except these, kept at the base
values): the bias decomposition.

Every condition is the base scenario with its values replaced, validated by
the same rules, so a bad grid value is reported with its dotted key.

A scenario whose patients do not come from the synthetic world names its source
in a section of SOURCES: `[plasmode] registry = "DIR"` resamples a real registry
(simkit/realdata/plasmode_run.py, docs/registry.md).  Its grid may vary
`plasmode.*` keys as well.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import itertools
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit import __version__
from simkit.design.choices import CHOICE
from simkit.design.replicate import OUT_FIELDS, Design, compute_chunk, design_of
from simkit.errors import InputError
from simkit.kernels import outputs as OUT
from simkit.runner.scenario import Scenario, read_toml, scenario_from_dict

EXTRA_SECTIONS = ("grid", "conditions", "analysis", "run", "priors")
ANALYSIS_KEYS = {"firth": bool, "alpha": float}
RUN_KEYS = {"chunk_size": int, "common_random_numbers": bool}

# Sources of patients other than the synthetic world: scenario section -> module.
# The module provides check_keys(data, extra, overrides), parse_section(table,
# scenario_path, where) -> per-condition spec, make_source(specs, scenarios) ->
# Study.source (with .digest, entering the scenario hash) and job_parts(study) ->
# {"compute", "attrs", "field_notes"}.  Imported by name when a scenario uses the
# section: the modules (simkit.realdata) import the runner, so a module-level
# import here would be circular, and a synthetic run need not load pandas or
# read any registry.
SOURCES = {"plasmode": "simkit.realdata.plasmode_run"}


def source_module(name: str):
    return importlib.import_module(SOURCES[name])


@dataclass(frozen=True)
class Condition:
    index: int
    coords: dict            # grid parameter -> value (explicit rows: also `label`)
    scenario: Scenario
    source_spec: object = None   # the condition's settings of a non-synthetic source (SOURCES)


@dataclass(frozen=True)
class Study:
    base: Scenario
    text: str
    conditions: tuple
    grid_dims: tuple | None
    firth: bool
    alpha: float
    chunk_size: int
    data: dict
    common_random_numbers: bool = False
    priors: object = None          # simkit.world.priors.Priors: parameters drawn per replicate
    source: object = None          # patients from a SOURCES module (e.g. plasmode) instead of the world

    def key_condition(self, c: int) -> int:
        """The condition index condition c's random streams are keyed by."""
        return 0 if self.common_random_numbers else c

    @property
    def seed(self):
        return self.base.seed

    @property
    def replicates(self):
        return self.base.replicates

    def design(self, c: int) -> Design:
        return design_of(self.conditions[c].scenario, self.firth)

    def scenario_hash(self, replicates: int | None = None) -> str:
        # the validated content, not the file's spelling: comments and order do not count
        content = {"data": self.data, "replicates": replicates or self.replicates}
        if self.source is not None:     # a source's files (e.g. the registry's tables) count as content
            content["source"] = self.source.digest
        blob = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _mechanisms(data: dict, value, where: str, only=None):
    """Apply the `mechanisms` / `mechanisms_only` shorthands to a raw scenario dict."""
    from simkit.world.model import MECHANISMS_OFF
    if only is not None:
        if not isinstance(only, list) or not all(isinstance(x, str) for x in only):
            raise InputError(where, f"expected a list of mechanism names, got {only!r}")
        bad = [x for x in only if x not in MECHANISMS_OFF]
        if bad:
            raise InputError(where, f"unknown mechanism {bad[0]!r}; allowed: {', '.join(MECHANISMS_OFF)}")
        base = data.get("mechanisms", {})
        from simkit.world.model import default_params
        dflt = default_params()
        data["mechanisms"] = {k: (base.get(k, dflt[k]) if k in only else v) for k, v in MECHANISMS_OFF.items()}
        return
    if value == "off":
        data["mechanisms"] = dict(MECHANISMS_OFF)
    elif value != "on":
        raise InputError(where, f"expected 'on' or 'off', got {value!r}")


def _set(data: dict, dotted: str, value, where: str, source: str | None = None):
    if dotted == "mechanisms":
        return _mechanisms(data, value, where)
    if dotted == "mechanisms_only":
        return _mechanisms(data, None, where, only=value)
    parts = dotted.split(".")
    sections = ("world", "mechanisms", "treatment", "design") + ((source,) if source else ())
    if len(parts) != 2 or parts[0] not in sections:
        raise InputError(where, f"expected a key 'section.name' with section {', '.join(sections[:-1])} "
                                f"or {sections[-1]}, got {dotted!r}")
    data.setdefault(parts[0], {})[parts[1]] = value


def _flatten(table: dict, where: str) -> dict:
    """{"treatment": {"hr": [..]}} or {"treatment.hr": [..]} -> {"treatment.hr": [..]}."""
    out = {}
    for k, v in table.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    return out


def _dim_names(keys):
    # short names ("caliper") unless two keys share one or it names an output field ("hr")
    short = [k.split(".")[-1] for k in keys]
    return [s if short.count(s) == 1 and s not in OUT_FIELDS else k for s, k in zip(short, keys)]


def study_from_dict(data: dict, text: str = "", path: str | None = None) -> Study:
    data = copy.deepcopy(data)
    extra = {k: data.pop(k) for k in EXTRA_SECTIONS if k in data}
    sources = [k for k in SOURCES if k in data]
    if len(sources) > 1:
        raise InputError(sources[1], f"a scenario has one source of patients, got [{sources[0]}] and [{sources[1]}]")
    source = sources[0] if sources else None
    base = scenario_from_dict({k: v for k, v in data.items() if k != source}, path)

    analysis = extra.get("analysis", {})
    if not isinstance(analysis, dict):
        raise InputError("analysis", "expected an [analysis] table")
    for k in analysis:
        if k not in ANALYSIS_KEYS:
            raise InputError(f"analysis.{k}", "unknown key; allowed: " + ", ".join(ANALYSIS_KEYS))
    firth = CHOICE["firth"].check(analysis.get("firth", CHOICE["firth"].default), "analysis.firth")
    alpha = analysis.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError("analysis.alpha", f"expected a number in (0, 1), got {alpha!r}")
    run = extra.get("run", {})
    if not isinstance(run, dict):
        raise InputError("run", "expected a [run] table")
    for k in run:
        if k not in RUN_KEYS:
            raise InputError(f"run.{k}", "unknown key; allowed: " + ", ".join(RUN_KEYS))
    chunk = run.get("chunk_size", 500)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputError("run.chunk_size", f"expected an integer >= 1, got {chunk!r}")
    crn = run.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise InputError("run.common_random_numbers", f"expected true or false, got {crn!r}")

    if "grid" in extra and "conditions" in extra:
        raise InputError("grid", "give either a [grid] (product of values) or [[conditions]] rows, not both")
    rows: list[tuple[dict, dict]] = []   # (coords, dotted overrides)
    grid_dims = None
    if "grid" in extra:
        g = extra["grid"]
        if not isinstance(g, dict) or not g:
            raise InputError("grid", "expected a [grid] table of 'section.name' = [values]")
        flat = _flatten(g, "grid")
        for k, v in flat.items():
            if not isinstance(v, list) or not v:
                raise InputError(f"grid.{k}", f"expected a non-empty list of values, got {v!r}")
        keys = list(flat)
        names = _dim_names(keys)
        grid_dims = tuple(names)
        for combo in itertools.product(*(flat[k] for k in keys)):
            rows.append((dict(zip(names, combo)), dict(zip(keys, combo))))
    elif "conditions" in extra:
        cs = extra["conditions"]
        if not isinstance(cs, list) or not cs or not all(isinstance(c, dict) for c in cs):
            raise InputError("conditions", "expected [[conditions]] tables")
        flats = [_flatten({k: v for k, v in c.items() if k != "label"}, f"conditions[{i}]")
                 for i, c in enumerate(cs)]
        keys = sorted({k for f in flats for k in f})
        names = _dim_names(keys)
        base_flat = {}
        for k in keys:
            if k == "mechanisms":
                base_flat[k] = "on"
            elif k == "mechanisms_only":
                base_flat[k] = "all"
            else:
                s, n = k.split(".", 1) if "." in k else ("", k)
                sec = data.get(s) if s == source else base.sections.get(s)
                base_flat[k] = (sec if isinstance(sec, dict) else {}).get(n)
        for i, (c, f) in enumerate(zip(cs, flats)):
            label = c.get("label", f"condition {i}")
            if not isinstance(label, str):
                raise InputError(f"conditions[{i}].label", f"expected text, got {label!r}")
            coords = {"label": label}
            coords.update({nm: f.get(k, base_flat[k]) for nm, k in zip(names, keys)})
            rows.append((coords, f))
    else:
        rows.append(({}, {}))

    if source:
        smod = source_module(source)
        smod.check_keys(data, extra, [(f"grid condition {i}", over) for i, (_, over) in enumerate(rows)])
        base_spec = smod.parse_section(data[source], path, source)   # errors name the key alone
    elif any(k.split(".")[0] in SOURCES for _, over in rows for k in over):
        k = next(k for _, over in rows for k in over if k.split(".")[0] in SOURCES)
        raise InputError(f"grid: {k}", f"varies a [{k.split('.')[0]}] key, but the scenario has no "
                                       f"[{k.split('.')[0]}] section")
    conds = []
    for i, (coords, over) in enumerate(rows):
        d = copy.deepcopy(data)
        where = f"grid condition {i} ({', '.join(f'{k}={v}' for k, v in coords.items())})"
        for k, v in sorted(over.items(), key=lambda kv: kv[0] not in ("mechanisms", "mechanisms_only")):
            _set(d, k, v, f"{where}: {k}", source)
        spec = None
        try:
            table = d.pop(source) if source else None
            sc = scenario_from_dict(d, path)
            design_of(sc, firth)
        except InputError as e:
            raise InputError(f"{where}: {e.where}", e.message) from None
        if source and not any(k.startswith(source + ".") for k in over):
            spec = base_spec
        elif source:
            try:
                spec = smod.parse_section(table, path, source)
            except InputError as e:
                raise InputError(f"{where}: {e.where}", e.message) from None
        conds.append(Condition(i, coords, sc, spec))
    full = copy.deepcopy(data)
    full.update(extra)
    from simkit.world.priors import parse_priors
    priors = parse_priors(extra.get("priors"))
    varied = {k for _, over in rows for k in over}
    for p in priors.items:
        sec = p.section
        if f"{sec}.{p.name}" in varied or (sec == "mechanisms" and varied & {"mechanisms", "mechanisms_only"}):
            raise InputError(f"priors.{sec}.{p.name}", "also set by the grid or the conditions: a parameter "
                                                       "is either varied over conditions or drawn from a prior")
        if sec == "design":     # the drawn values must be valid with every condition's other choices
            from simkit.design.choices import check_together
            hi = int(p.support()[1]) - (1 if p.dist != "fixed" else 0)
            for i, c in enumerate(conds):
                vals = {**design_of(c.scenario, firth).values(), p.name: hi}
                try:
                    check_together(vals, "priors.design")
                except InputError as e:
                    raise InputError(e.where, e.message + (f" (grid condition {i})" if len(conds) > 1 else "")
                                     ) from None
            if source:
                raise InputError(f"priors.design.{p.name}", f"a [{source}] scenario matches on its registry's "
                                                            "rows: the peek cannot be drawn per replicate")
    # a condition's own values are named with its grid label, the base scenario's plainly
    labels = [f"grid condition {i}: " if any(k == "design.n_treated" or k.startswith(f"{source}.") for k in over)
              else "" for i, (_, over) in enumerate(rows)]
    src = smod.make_source([c.source_spec for c in conds], [c.scenario for c in conds], labels) if source else None
    return Study(base, text, tuple(conds), grid_dims, firth, float(alpha), chunk, full, crn, priors, src)


def load_study(path) -> Study:
    """Read and validate a scenario file with its grid of conditions."""
    text, data = read_toml(path)
    return study_from_dict(data, text, str(Path(path)))


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(module: str) -> str:
    """A package's version without importing it: `import xarray` alone (with pandas)
    costs about 0.4 s of a run's start-up, and a run never needs xarray."""
    import sys
    mod = sys.modules.get(module)
    if mod is not None and getattr(mod, "__version__", None):
        return mod.__version__
    from importlib import metadata
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict:
    return {"simkit": __version__, "numpy": np.__version__, "numba": _version("numba"),
            "scipy": _version("scipy"), "xarray": _version("xarray")}


def truths(study: Study, n: int = 100_000) -> list[dict]:
    """The true effects of each condition (counterfactual twins): truth.true_effects."""
    from simkit.world.memo import memo
    from simkit.world.truth import TRUTH_VERSION, true_effects
    cache = {}   # conditions that differ only in the design share the world, hence the truth
    out = []
    for c in study.conditions:
        th = c.scenario.theta()
        k = th.tobytes()
        if k not in cache:
            # read back from disk when this world ran before (simkit/world/memo.py); the
            # version keeps a value stored before the truth's keys changed from being read
            cache[k] = memo("truth", (th, n, study.seed, TRUTH_VERSION),
                            functools.partial(true_effects, th, n=n, seed=study.seed))
        out.append(cache[k])
    return out


def build_job(study: Study, replicates: int | None = None, chunk_size: int | None = None,
              with_truth: bool = True, start_workers: bool = False, jobs: int | None = None):
    """The Monte Carlo job of a study.  start_workers: start now the worker
    processes of the joblib run that follows (`jobs` of them, None = all cores),
    as soon as the kernels are compiled and the world found plausible, so that
    they are ready when this process has computed the truth and opened the store
    (nothing is started for a run small enough to stay in this process)."""
    import sys

    from simkit.design.replicate import preload, seconds_per_replicate
    from simkit.runner import montecarlo
    from simkit.runner.montecarlo import Job
    from simkit.kernels.warmup import warm_up
    from simkit.world.model import PARAM
    # compile once here (on two cores if numba's cache is empty), not in each worker
    warm_up(quiet=not sys.stderr.isatty())
    parts = source_module(study.source.kind).job_parts(study) if study.source is not None else None
    if parts is None:
        # refuse, within a second, a world whose rejection loops (and the truth's) would run for minutes
        # (memoised: warm, a file read)
        from simkit.world.plausibility import check_study
        check_study(study)
    reps = replicates or study.replicates
    spr = float(np.mean([seconds_per_replicate(study.design(c.index)) for c in study.conditions]))
    if parts is not None:       # a registry replicate (pandas, per-replicate matching) costs its own
        spr = float(parts.get("seconds_per_replicate", spr))
    if start_workers and (jobs is None or (isinstance(jobs, int) and not isinstance(jobs, bool))):
        montecarlo.start_workers(jobs, preload, spr * reps * len(study.conditions))
    thetas = np.vstack([c.scenario.theta() for c in study.conditions])
    dvecs = np.vstack([study.design(c.index).vector() for c in study.conditions])
    coords: dict = {}
    for c in study.conditions:
        for k, v in c.coords.items():
            coords.setdefault(k, []).append(v)
    coords = {k: [(v if not isinstance(v, (list, tuple)) else ",".join(map(str, v))) for v in vals]
              for k, vals in coords.items()}
    attrs = {
        "scenario_text": study.text, "scenario_path": study.base.path or "", "seed": study.seed,
        "replicates": reps, "alpha": study.alpha, "firth": study.firth,
        "versions": versions(), "git_revision": git_revision(),
        "seed_scheme": ("replicate (c, k) draws from rng.root_key(seed, c, k); pool keys per pool_policy"
                        + ("; common random numbers: c = 0 for every condition" if study.common_random_numbers
                           else "")),
        "common_random_numbers": study.common_random_numbers,
        # how replicates share registries: the summary's MCSEs depend on it
        "pool_policies": [[study.design(c.index).pool_policy, study.design(c.index).pool_block_size]
                          for c in study.conditions],
        "conditional_log_hr": [math.log(c.scenario.treatment["hr"]) for c in study.conditions],
    }
    priors = study.priors if study.priors is not None and study.priors.items else None
    effect = any(c.scenario.treatment["hr"] != 1 or c.scenario.treatment["rate_change"] != 0
                 for c in study.conditions)
    if with_truth and priors and (effect or any(p.section == "treatment" for p in priors.items)):
        # the twins' marginal truth depends on the drawn world: not one number per condition
        with_truth = False
        attrs["truth_note"] = "no marginal truth: priors draw the world per replicate and the effect is not null"
    if parts is not None:       # no world: no truth from twins, the source's seeds and notes
        with_truth = False
        attrs.update(parts["attrs"])
    if with_truth:
        attrs["truth"] = truths(study)
    field_attrs = {f: {"long_name": OUT.DOCS[f], "units": OUT.UNITS[f]} for f in OUT_FIELDS}
    for f, note in (parts["field_notes"].items() if parts is not None else ()):
        field_attrs[f]["note"] = note
    prior_fields = priors.fields if priors else ()
    if priors:
        for p, f in zip(priors.items, prior_fields):
            field_attrs[f] = {"long_name": f"{p.name} drawn from its prior {p.describe()}"
                                           + (" (the continuous draw x: the choice is floor(x))"
                                              if p.dist.startswith("integer_") else ""),
                              "units": PARAM[p.name].unit if p.section != "design" else CHOICE[p.name].unit}
        attrs["priors"] = [{"name": p.name, "dist": p.dist, "args": list(p.args), "per_registry": p.registry}
                           for p in priors.items]
    return Job(
        scenario_hash=study.scenario_hash(reps), n_conditions=len(study.conditions), n_replicates=reps,
        chunk_size=min(chunk_size or study.chunk_size, reps), fields=tuple(OUT_FIELDS) + prior_fields,
        int_fields=OUT.INT_NAMES,
        compute=parts["compute"] if parts is not None else functools.partial(
            compute_chunk, thetas, dvecs, study.seed, np.array([study.key_condition(c.index) for c in study.conditions]),
            priors=priors),
        condition_coords=coords, grid_dims=study.grid_dims, attrs=attrs, field_attrs=field_attrs,
        seconds_per_replicate=spr, worker_setup=preload,
    )
