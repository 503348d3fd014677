"""The Monte Carlo runner: chunks of replicates on processes or a Dask cluster.

A job is a grid of conditions times replicates and a pure `compute(condition,
start, stop)` giving one row per replicate.  The work is cut into chunks
(condition, chunk index); workers compute chunks and send their rows back to
this process, which writes each to the store as it arrives (store.py) and
flags it done.  At most about two chunks per worker are in flight, so memory is
bounded by the chunk size, not the run.  Because `compute` depends only on
(condition, replicate) and the store on the job, the stored values are the
same for any number of workers, backend, chunk size, order or resumption.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simkit.runner import store as _store
from simkit.errors import InputError

BACKENDS = ("joblib", "dask")
LOG_SECONDS = 30.0      # progress line interval when stderr is not a terminal


@dataclass(frozen=True)
class Job:
    """What to compute and how to label it; see docs/store.md."""
    scenario_hash: str            # scenario + seed; a store made from another hash is refused
    n_conditions: int
    n_replicates: int             # per condition
    chunk_size: int               # replicates per chunk: the store's layout, never its values
    fields: tuple                 # per-replicate outputs, in column order
    int_fields: frozenset         # fields stored as int32 (status codes, counts); others float64
    compute: Callable             # compute(condition, start, stop) -> f8[stop-start, len(fields)]
    condition_coords: dict        # name -> list (length n_conditions) of parameter values
    grid_dims: tuple | None       # product grid: names whose C-order product is the conditions
    attrs: dict                   # JSON-serialisable provenance
    field_attrs: dict = field(default_factory=dict)  # name -> {"units": ..., "long_name": ...}


@dataclass(frozen=True)
class RunInfo:
    store: str
    n_chunks_total: int
    n_chunks_computed: int
    n_chunks_skipped: int         # already done in the store when the run started
    seconds: float
    replicates_per_second: float  # replicates computed in this run / seconds


def _watch_parent(parent_pid, every=0.5):
    """Worker initializer: exit as soon as the parent process is gone.

    A run killed with SIGKILL cannot stop its pool; without this its workers
    (about 180 MB each) and their resource trackers lived on, parented to init."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(every)
        os._exit(3)

    threading.Thread(target=watch, name="simkit-watch-parent", daemon=True).start()


def _compute_chunk(compute, n_fields, condition, chunk, start, stop):
    """Worker side: one chunk's rows, checked for shape."""
    rows = np.asarray(compute(condition, start, stop), dtype=np.float64)
    if rows.shape != (stop - start, n_fields):
        raise ValueError(f"compute({condition}, {start}, {stop}) returned shape {rows.shape}, "
                         f"expected {(stop - start, n_fields)}")
    return condition, chunk, rows


# ----------------------------------------------------------------------------
# Backends: each is a generator of (condition, chunk, rows) in completion order
# ----------------------------------------------------------------------------

def _serial(job, tasks, n_fields):
    for c, j, start, stop in tasks:
        yield _compute_chunk(job.compute, n_fields, c, j, start, stop)


def _joblib(job, tasks, n_fields, jobs):
    # joblib's process pool (loky) used as an executor, so that a new chunk is
    # submitted only when a finished one has been handed over: a hard bound of
    # 2 * jobs chunks in memory even when writing is slower than computing.
    import concurrent.futures as cf

    from joblib.externals.loky import get_reusable_executor

    ex = get_reusable_executor(max_workers=jobs, initializer=_watch_parent,
                               initargs=(os.getpid(),))
    it = iter(tasks)
    pending = set()
    finished_ok = False
    try:
        for t in it:
            pending.add(ex.submit(_compute_chunk, job.compute, n_fields, *t))
            if len(pending) >= 2 * jobs:
                break
        while pending:
            finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                result = fut.result()
                t = next(it, None)
                if t is not None:
                    pending.add(ex.submit(_compute_chunk, job.compute, n_fields, *t))
                yield result
        finished_ok = True
    finally:
        for fut in pending:
            fut.cancel()
        if not finished_ok:
            # Ctrl-C or an error: chunks already running would keep the workers
            # busy (and the interpreter waiting) until they end; what is written is kept
            ex.shutdown(wait=False, kill_workers=True)


def _dask_client(scheduler, jobs):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--backend", "the dask backend needs dask.distributed: "
                                      "pip install 'simkit[dask]'") from None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    _probe(scheduler)
    try:
        return Client(scheduler, timeout="30s"), None
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError("--scheduler", f"cannot connect to the Dask scheduler at "
                                        f"{scheduler}: {e}") from None


def _probe(scheduler):
    """Fail at once on a refused TCP connection (distributed would retry for 30 s)."""
    import socket
    from urllib.parse import urlsplit

    if not isinstance(scheduler, str) or not scheduler:
        raise InputError("--scheduler", f"expected an address like tcp://host:8786, "
                                        f"got {scheduler!r}")
    u = urlsplit(scheduler if "://" in scheduler else "tcp://" + scheduler)
    if u.scheme not in ("tcp", "tls"):
        return  # inproc://, ucx://, ...: leave it to distributed
    try:
        port = u.port
    except ValueError:
        port = None
    if not u.hostname or port is None:
        raise InputError("--scheduler", f"expected an address like tcp://host:8786, "
                                        f"got {scheduler!r}")
    try:
        socket.create_connection((u.hostname, port), timeout=10).close()
    except OSError as e:
        raise InputError("--scheduler", f"cannot connect to the Dask scheduler at "
                                        f"{scheduler}: {e}") from None


def _dask(job, tasks, n_fields, client, jobs):
    from dask.distributed import as_completed

    if jobs is None:
        jobs = max(1, sum(client.nthreads().values()))
    # Ship compute (it may hold a large fixed pool) once per worker, not per chunk.
    [compute] = client.scatter([job.compute], broadcast=True)
    it = iter(tasks)
    ac = as_completed()
    try:
        for t in it:
            ac.add(client.submit(_compute_chunk, compute, n_fields, *t, pure=False))
            if ac.count() >= 2 * jobs:
                break
        for fut in ac:
            result = fut.result()
            fut.release()
            t = next(it, None)
            if t is not None:
                ac.add(client.submit(_compute_chunk, compute, n_fields, *t, pure=False))
            yield result
    finally:
        for fut in list(ac.futures):
            fut.cancel()
        compute.release()


# ----------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------

def _check_args(jobs, backend, scheduler):
    if backend not in BACKENDS:
        raise InputError("--backend", f"unknown backend {backend!r}; expected one of "
                                      f"{', '.join(BACKENDS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer))
                             or jobs < 1):
        raise InputError("--jobs", f"expected a whole number >= 1, got {jobs!r}")
    if scheduler is not None and backend != "dask":
        raise InputError("--scheduler", "a scheduler address needs --backend dask")


def run(job: Job, store: str | os.PathLike, jobs: int | None = None, backend: str = "joblib",
        scheduler: str | None = None, progress: bool | None = None,
        log_seconds: float = LOG_SECONDS) -> RunInfo:
    """Compute every chunk of `job` not yet in `store`, writing each as it arrives.

    jobs: worker processes (None = all cores; 1 = in this process, no pool).
    With --backend dask and a scheduler address, jobs (default: the cluster's
    threads) bounds the chunks in flight at 2 * jobs; the cluster decides where
    they run.  progress: True = tqdm bar on stderr, False = nothing, None = the
    bar if stderr is a terminal, else a plain line every `log_seconds` (log
    files, notebooks, batch jobs).
    """
    _check_args(jobs, backend, scheduler)
    _store.spec_of(job)  # a malformed job fails before any cluster is started
    n_fields = len(job.fields)
    client = cluster = None
    if backend == "dask":
        client, cluster = _dask_client(scheduler, jobs)
    elif jobs is None:
        from joblib import cpu_count
        jobs = max(1, cpu_count())
    try:
        st = _store.open_for_run(store, job)
        try:
            return _run(job, st, n_fields, jobs, backend, client, progress, log_seconds)
        finally:
            st.close()
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


class _LogLines:
    """Progress as plain lines on stderr every `every` seconds (no terminal)."""

    def __init__(self, total, initial, every):
        self.total, self.n, self.every = total, initial, every
        self.n0 = initial
        self.t0 = self.last = time.monotonic()

    def update(self, k):
        self.n += k
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = (self.n - self.n0) / (now - self.t0)
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            print(f"simkit run: {self.n:,} of {self.total:,} replicates "
                  f"({100 * self.n / self.total:.1f}%), {rate:,.0f}/s, about {eta:,.0f} s left",
                  file=sys.stderr, flush=True)

    def close(self):
        pass


def _run(job, st, n_fields, jobs, backend, client, progress, log_seconds=LOG_SECONDS):
    from tqdm import tqdm

    t0 = time.perf_counter()
    started = _store.now()
    done = st.done_mask()
    n_total = int(done.size)
    n_skipped = int(done.sum())
    tasks = [(c, j) + st.bounds(j) for c in range(done.shape[0])
             for j in range(done.shape[1]) if not done[c, j]]
    nr = st.spec["n_replicates"]
    reps_done = sum(stop - start for c in range(done.shape[0])
                    for j in range(done.shape[1]) if done[c, j]
                    for start, stop in [st.bounds(j)])
    reps_computed = 0
    st.history_entry = {"started": started, "backend": backend, "jobs": jobs,
                        "chunks_computed": 0, "finished": None}
    if st.changed_attrs:
        st.history_entry["changed_attrs"] = st.changed_attrs
    if st.damaged:
        st.history_entry["recomputed_damaged"] = [list(cj) for cj in st.damaged]
    total = done.shape[0] * nr
    if progress is None and not sys.stderr.isatty():
        bar = _LogLines(total, reps_done, log_seconds)
    else:
        bar = tqdm(total=total, initial=reps_done, unit="rep", unit_scale=total >= 100_000,
                   file=sys.stderr, disable=not progress or not tasks, smoothing=0.1,
                   desc="replicates", dynamic_ncols=True)
    try:
        if not tasks:
            results = _serial(job, [], n_fields)
        elif backend == "dask":
            results = _dask(job, tasks, n_fields, client, jobs)
        elif jobs == 1:
            results = _serial(job, tasks, n_fields)
        else:
            results = _joblib(job, tasks, n_fields, min(jobs, len(tasks)))
        with contextlib.closing(results):  # on an error, cancel the chunks in flight
            for c, j, rows in results:
                try:
                    st.write_chunk(c, j, rows)
                except OSError as e:  # disk full, store removed, permissions changed
                    raise InputError(str(st.path), f"cannot write chunk ({c}, {j}): "
                                                   f"{e.strerror or e}; the {st.n_computed} chunk(s) "
                                                   "written in this run are kept: fix this and rerun "
                                                   "the same command to resume") from None
                reps_computed += rows.shape[0]
                st.history_entry["chunks_computed"] = st.n_computed
                bar.update(rows.shape[0])
        st.history_entry["finished"] = _store.now()
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return RunInfo(store=str(st.path), n_chunks_total=n_total,
                   n_chunks_computed=st.n_computed, n_chunks_skipped=n_skipped,
                   seconds=seconds,
                   replicates_per_second=reps_computed / seconds if reps_computed else 0.0)
