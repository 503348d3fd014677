"""`simkit run SCENARIO`: the Monte Carlo study a scenario file defines, into a resumable store."""

HELP = "run a scenario's grid of conditions x replicates into a Zarr store (re-run to resume)"


def register(p):
    p.add_argument("scenario", metavar="SCENARIO", help="scenario file (TOML, see scenarios/README.md)")
    p.add_argument("--out", metavar="STORE", help="Zarr store to write (default: <scenario name>.zarr)")
    p.add_argument("--reps", type=int, metavar="N", help="replicates per condition (default: the scenario's)")
    p.add_argument("--jobs", type=int, metavar="J",
                   help="worker processes (default: all cores); a run of less than about a second "
                        "of work runs in this process")
    p.add_argument("--backend", default="joblib", choices=("joblib", "dask"), help="where chunks run")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: a local cluster)")
    p.add_argument("--chunk-size", type=int, metavar="C", help="replicates per chunk (layout only)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (default: a bar on a terminal, else a line every 30 s)")
    return run


def run(args):
    from pathlib import Path

    from simkit.errors import InputError
    from simkit.runner.grid import build_job, load_study
    from simkit.runner.montecarlo import run as mc_run

    if args.reps is not None and args.reps < 1:
        raise InputError("--reps", f"expected an integer >= 1, got {args.reps}")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise InputError("--chunk-size", f"expected an integer >= 1, got {args.chunk_size}")
    study = load_study(args.scenario)
    out = args.out or f"{Path(args.scenario).stem}.zarr"
    job = build_job(study, replicates=args.reps, chunk_size=args.chunk_size,
                    start_workers=args.backend == "joblib", jobs=args.jobs)
    info = mc_run(job, out, jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
                  progress=False if args.quiet else None)
    print(f"{out}: {len(study.conditions)} condition(s) x {job.n_replicates} replicates; "
          f"{info.n_chunks_computed} chunk(s) computed, {info.n_chunks_skipped} already done; "
          f"{info.seconds:.1f} s ({info.replicates_per_second:.0f} replicates/s)")
    print(f"next: simkit summarize {out}")
    return 0
