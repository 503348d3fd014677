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
    # Scheduling hints, never values (the store is the same with or without them):
    # the estimated CPU seconds of one replicate (None: unknown, every chunk is a
    # task and --jobs J always means J worker processes) ...
    seconds_per_replicate: float | None = None
    # ... and a function each worker process calls once when it starts (e.g. load
    # the compiled kernels while the parent process is still preparing the run)
    worker_setup: Callable | None = None


@dataclass(frozen=True)
class RunInfo:
    store: str
    n_chunks_total: int
    n_chunks_computed: int
    n_chunks_skipped: int         # already done in the store when the run started
    seconds: float
    replicates_per_second: float  # replicates computed in this run / seconds


IN_PROCESS_SECONDS = 1.0  # estimated work below which a run stays in this process (starting
                          # worker processes and loading the kernels in them costs about that)
TASK_SECONDS = 0.5        # the longest task (consecutive chunks of one condition) sent to a worker
TASKS_PER_PROCESS = 4     # ... and at least this many tasks per process while work remains
MAX_TASK_REPLICATES = 10_000  # ... and never more replicates than this (memory: 2 * jobs tasks in flight)


def _init_worker(parent_pid, setup=None):
    """Worker initializer: watch the parent, then the job's own set-up (best effort)."""
    _watch_parent(parent_pid)
    if setup is not None:
        try:
            setup()
        except Exception:  # noqa: BLE001 - the first chunk then does it, or reports the error
            pass


def _executor(jobs, setup=None):
    """joblib's reusable process pool (loky) with this run's initializer: the same
    arguments give the same pool back, so one started early by `start_workers` is
    the one the run uses."""
    from joblib.externals.loky import get_reusable_executor
    return get_reusable_executor(max_workers=jobs, initializer=_init_worker,
                                 initargs=(os.getpid(), setup))


def _noop():
    return None


# Workers forked from this process by start_workers, for the run that follows:
# (jobs, setup, concurrent.futures.ProcessPoolExecutor) or None.
_forked = None


def _can_fork() -> bool:
    """Linux, and no thread but this one (a fork copies only the calling thread: a lock
    another thread held, e.g. zarr's I/O loop or a notebook kernel's, would stay held
    in the child).  `simkit run` forks before anything starts a thread; elsewhere
    (a notebook, a second run in one session) joblib's processes are spawned."""
    import multiprocessing as mp
    import threading
    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and threading.active_count() == 1)


def _init_forked_worker(parent_pid):
    """Initializer of a forked worker: Ctrl-C is the parent's to handle (it stops the
    workers), and the worker exits if the parent dies."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(parent_pid)


def _fork_workers(jobs, setup):
    """Run `setup` here (load the kernels), then fork `jobs` workers that inherit it:
    a worker is ready at once instead of importing simkit and numba and loading the
    kernels anew (about 1.3 s of CPU each).  Only before the store is opened (no
    thread but this one then), only on Linux."""
    global _forked
    import concurrent.futures as cf
    import multiprocessing as mp
    setup()
    ex = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"),
                                initializer=_init_forked_worker, initargs=(os.getpid(),))
    ex.submit(_noop)  # with fork, every worker is started on the first submit
    _forked = (jobs, setup, ex)


def _stop_forked(kill=False):
    global _forked
    if _forked is None:
        return
    ex = _forked[2]
    _forked = None
    if kill:
        for p in list((getattr(ex, "_processes", None) or {}).values()):
            try:
                p.kill()
            except (OSError, ValueError):
                pass
        ex.shutdown(wait=False, cancel_futures=True)
    else:
        ex.shutdown(wait=True)


def start_workers(jobs: int | None, setup: Callable | None = None, seconds: float | None = None):
    """Start the worker processes of a coming `run(..., jobs=jobs)` now, so that they
    are ready (with `setup` run, e.g. the kernels loaded) when the run starts,
    instead of starting after this process prepared the run (truth, store).  On
    Linux, with a `setup`, they are forked from this process after it ran `setup`;
    elsewhere joblib's processes start and run `setup` each.  Does nothing for jobs 1
    or work estimated below IN_PROCESS_SECONDS (the run then stays in this process).
    Returns True if it started them.  The run uses them if its job has this
    `setup` as its worker_setup."""
    if jobs is None:
        from joblib import cpu_count
        jobs = max(1, cpu_count())
    if jobs < 2 or (seconds is not None and seconds < IN_PROCESS_SECONDS):
        return False
    _stop_forked()
    if setup is not None and _can_fork():
        _fork_workers(jobs, setup)
    else:
        _executor(jobs, setup).submit(_noop)  # loky starts its processes on the first submit
    return True


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


def _compute_task(compute, n_fields, condition, chunks, start, stop):
    """Worker side: consecutive chunks of one condition in one call of compute
    (replicates start..stop-1; a replicate's row depends on (condition, replicate)
    only, so it is the same as one call per chunk), returned as
    [(condition, chunk, rows)]: one per chunk, each written and flagged on its own."""
    rows = _compute_chunk(compute, n_fields, condition, -1, start, stop)[2]
    return [(condition, j, rows[a - start:b - start]) for j, a, b in chunks]


def _tasks(todo, jobs, seconds_per_replicate):
    """Group the chunks to compute [(c, j, start, stop)] into tasks (c, [(j, start,
    stop)], start, stop) of consecutive chunks of one condition: up to
    TASK_SECONDS of estimated work, and smaller towards the end (at least
    TASKS_PER_PROCESS tasks per process of what remains) so the processes finish
    together.  Unknown cost: one chunk per task."""
    if seconds_per_replicate is None or seconds_per_replicate <= 0:
        return [(c, [(j, a, b)], a, b) for c, j, a, b in todo]
    remaining = sum(b - a for _, _, a, b in todo)
    cap = max(1, min(MAX_TASK_REPLICATES, int(TASK_SECONDS / seconds_per_replicate)))
    out = []
    cur = None
    for c, j, a, b in todo:
        target = min(cap, max(1, remaining // (TASKS_PER_PROCESS * max(jobs, 1))))
        if cur is not None and cur[0] == c and cur[3] == a and cur[3] - cur[2] + (b - a) <= target:
            cur[1].append((j, a, b))
            cur[3] = b
        else:
            if cur is not None:
                out.append(tuple(cur))
                remaining -= cur[3] - cur[2]
            cur = [c, [(j, a, b)], a, b]
    if cur is not None:
        out.append(tuple(cur))
    return out


# ----------------------------------------------------------------------------
# Backends: each is a generator of (condition, chunk, rows) in completion order
# ----------------------------------------------------------------------------

def _serial(job, tasks, n_fields):
    for t in tasks:
        yield _compute_task(job.compute, n_fields, *t)


def _joblib(job, tasks, n_fields, jobs):
    # joblib's process pool (loky) used as an executor, so that a new task is
    # submitted only when a finished one has been handed over: a hard bound of
    # 2 * jobs tasks in memory even when writing is slower than computing.
    import concurrent.futures as cf

    forked = _forked is not None and job.worker_setup is not None and _forked[1] is job.worker_setup
    if forked:
        ex = _forked[2]
        jobs = _forked[0]
    else:
        _stop_forked()
        ex = _executor(jobs, job.worker_setup)
    it = iter(tasks)
    pending = set()
    finished_ok = False
    try:
        for t in it:
            pending.add(ex.submit(_compute_task, job.compute, n_fields, *t))
            if len(pending) >= 2 * jobs:
                break
        while pending:
            finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                result = fut.result()
                t = next(it, None)
                if t is not None:
                    pending.add(ex.submit(_compute_task, job.compute, n_fields, *t))
                yield result
        finished_ok = True
    finally:
        for fut in pending:
            fut.cancel()
        if forked:
            # the forked workers serve this run only; on Ctrl-C or an error, killed
            _stop_forked(kill=not finished_ok)
        elif not finished_ok:
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
            ac.add(client.submit(_compute_task, compute, n_fields, *t, pure=False))
            if ac.count() >= 2 * jobs:
                break
        for fut in ac:
            result = fut.result()
            fut.release()
            t = next(it, None)
            if t is not None:
                ac.add(client.submit(_compute_task, compute, n_fields, *t, pure=False))
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
        _stop_forked(kill=True)   # workers forked for this run and not used (an error, dask, jobs 1)
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


def _stop_idle_workers():
    """A run that stays in this process: stop workers `start_workers` started for it."""
    _stop_forked(kill=True)
    _re = sys.modules.get("joblib.externals.loky.reusable_executor")
    if _re is None:  # never imported: nothing started (and importing joblib costs 0.1 s)
        return
    ex = getattr(_re, "_executor", None)
    if ex is not None and (getattr(_re, "_executor_kwargs", None) or {}).get("initializer") is _init_worker:
        ex.shutdown(wait=False, kill_workers=True)


def _run(job, st, n_fields, jobs, backend, client, progress, log_seconds=LOG_SECONDS):
    from tqdm import tqdm

    t0 = time.perf_counter()
    started = _store.now()
    done = st.done_mask()
    n_total = int(done.size)
    n_skipped = int(done.sum())
    todo = [(c, j) + st.bounds(j) for c in range(done.shape[0])
            for j in range(done.shape[1]) if not done[c, j]]
    spr = job.seconds_per_replicate
    in_process = (backend == "joblib" and jobs > 1 and spr is not None
                  and spr * sum(b - a for _, _, a, b in todo) < IN_PROCESS_SECONDS)
    if in_process:
        _stop_idle_workers()
    tasks = _tasks(todo, 1 if in_process else (jobs or 1), spr)
    nr = st.spec["n_replicates"]
    reps_done = sum(stop - start for c in range(done.shape[0])
                    for j in range(done.shape[1]) if done[c, j]
                    for start, stop in [st.bounds(j)])
    reps_computed = 0
    st.history_entry = {"started": started, "backend": backend, "jobs": jobs,
                        "chunks_computed": 0, "finished": None}
    if in_process:
        st.history_entry["in_process"] = True   # too little work to be worth starting workers
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
        elif jobs == 1 or in_process:
            results = _serial(job, tasks, n_fields)
        else:
            results = _joblib(job, tasks, n_fields, min(jobs, len(tasks)))
        with contextlib.closing(results):  # on an error, cancel the tasks in flight
            for task in results:
                for c, j, rows in task:
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
