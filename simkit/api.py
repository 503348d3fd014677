"""Convenience entry points of the public API that combine modules.

`simkit.run(scenario, out)` is what `simkit run SCENARIO --out STORE` does:
read and validate the scenario file with its grid, build the Monte Carlo job
(with the truth of every condition) and run it into a resumable Zarr store.
"""
from __future__ import annotations

import os


def run(scenario, out, *, reps: int | None = None, jobs: int | None = None, backend: str = "joblib",
        scheduler: str | None = None, progress: bool | None = None, chunk_size: int | None = None):
    """Run a scenario (a path or a loaded `Study`) into the store `out`; returns a RunInfo.

    Re-running the same call resumes: finished chunks are kept, and the stored
    numbers do not depend on `jobs`, `backend` or `chunk_size`."""
    from simkit.runner.grid import Study, build_job, load_study
    from simkit.runner.montecarlo import run as _run
    study = scenario if isinstance(scenario, Study) else load_study(os.fspath(scenario))
    job = build_job(study, replicates=reps, chunk_size=chunk_size,
                    start_workers=backend == "joblib", jobs=jobs)
    return _run(job, out, jobs=jobs, backend=backend, scheduler=scheduler, progress=progress)
