"""simkit: how far can a study design fool its own authors?

Synthetic ALS cohorts with a known truth, the seed paper's matched-cohort design
re-run on them many times, and what the design reports.

The public API (imported on first use, so `import simkit` stays instant):

    analyze(table)                 the seed analysis of a matched-cohort table -> AnalysisResult
    read_table(path)               read and validate a matched-cohort CSV / Parquet
    match_cohorts(treated, pool)   1:1 matching as the seed design does -> MatchResult
    prepare_pool(pool)             encode and sort a pool once for many matches
    Design(...)                    the analyst's choices (CHOICES: one row each)
    load_scenario(path)            a validated scenario file (no grid)
    load_study(path)               a scenario file with its grid of conditions
    run(scenario, out)             run a scenario into a resumable Zarr store -> RunInfo
    open_results(store)            the store as an xarray Dataset with named dims
    summarize(store, estimand=None) performance measures with Monte Carlo SEs (against followup_marginal)
    run_replicates(theta, design, seed, condition, start, stop)   rows of replicates in memory
    replicate_data(theta, design, seed, condition, k)             one replicate laid open
    build_theta(params)            the world's parameter vector; true_effects(theta) its truth
    power_analysis(p1, p0, n)      exact and simulated power of a two-proportion claim
    ledger()                       the seed paper's claims recomputed from its own numbers

docs/modules.md maps every module to its responsibility.
"""
__version__ = "0.1.0"

_API = {
    "analyze": "analysis.matched", "read_table": "analysis.matched", "AnalysisResult": "analysis.matched",
    "match_cohorts": "design.matching", "prepare_pool": "design.matching", "MatchResult": "design.matching",
    "Design": "design.replicate", "run_replicates": "design.replicate", "replicate_data": "design.replicate",
    "CHOICES": "design.choices",
    "load_scenario": "runner.scenario", "load_study": "runner.grid",
    "run": "api", "open_results": "runner.store", "summarize": "report.summary",
    "build_theta": "world.model", "true_effects": "world.model",
    "power_analysis": "paper.power", "exact_power": "paper.power", "sample_size": "paper.power",
    "ledger": "paper.claims",
    "SimkitError": "errors", "InputError": "errors",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'simkit' has no attribute {name!r}")
    import importlib
    mod, attr = _API[name] if isinstance(_API[name], tuple) else (_API[name], name)
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
