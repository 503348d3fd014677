"""Scenario files, grids of conditions, the Monte Carlo runner and its store.

`scenario` validates a scenario file; `grid` expands it into conditions and jobs
(design, world parameters, priors, truth); `montecarlo` runs jobs in parallel with
per-replicate keyed streams, so results do not depend on workers or chunks; `store`
is the resumable Zarr store a run writes to and `open_results` reads back with
named dims. Nothing here is specific to ALS except what the world layer passes in.
"""
