"""Compile the replicate's numba kernels on two cores, the first time only.

A fresh install has an empty numba cache, and the replicate (world, matching,
the seed analysis and the loop around them) takes about 40 s of compilation on
one core.  The analysis kernels and the world + matching kernels do not call
each other, so they can be compiled at the same time in two processes: a
helper process compiles the analysis group into numba's on-disk cache while
this process compiles the world group; the loop (run_chunk) is compiled last
and loads both groups from the cache instead of compiling them again.

Nothing here changes a number: it only decides where and when the same
kernels are compiled.  When the cache already holds run_chunk (every run after
the first), `warm_up` returns at once.  If the helper cannot start or fails,
this process simply compiles everything itself.

The signatures below are the exact ones the replicate loop calls (a different
signature would be compiled again, for nothing); tests/test_warmup.py checks,
from an empty cache, that the loop then compiles none of the helper's kernels
and each world kernel only once.

    python -m simkit.kernels.warmup [GROUP ...]     # compile groups (default: all) here
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

_done = False
HELPER_TIMEOUT_S = 600  # the helper's compilation takes about 17 s; never wait for ever


def _entries():
    """group -> [(dispatcher, signature)], built lazily (numba imports on demand)."""
    from numba import types as T

    from simkit.kernels import history as H
    from simkit.kernels import matching as M
    from simkit.kernels import replicate as R
    from simkit.kernels import seedanalysis as SA

    f8, i8, u8, b1 = T.float64[::1], T.int64[::1], T.uint64[::1], T.boolean[::1]
    f8_2 = T.float64[:, ::1]
    n_codes = T.IntegerLiteral(R.N_CODES)
    return {
        "analysis": [
            (SA.analyze_pairs, (f8, i8, f8_2, i8, f8, i8, i8, i8, T.boolean, f8)),
        ],
        "world": [
            (H.treated_cohort_only, (f8, T.uint64, f8_2)),
            (H.treated_cohort, (f8, T.uint64, f8_2, f8_2)),
            (H.pool_baseline, (f8, T.uint64, f8_2, u8)),
            (H.pool_outcomes, (f8, u8, f8_2)),
            (M.prepare_pool, (i8, f8)),
            (M.prepare_pool_grid, (i8, f8, n_codes, T.float64)),
            (M.stratum_offsets, (i8, n_codes)),
            (M.match_prepared_offsets, (i8, f8, i8, i8, f8, i8, T.float64, T.int64, T.int64, T.uint64, f8,
                                        T.int64)),
        ],
        "loop": [
            (R.run_chunk, (f8_2, f8, T.uint64, T.uint64, T.int64, T.int64, f8_2, f8)),
        ],
    }


GROUPS = ("analysis", "world", "loop")  # the order `python -m simkit.kernels.warmup` compiles them in


def compile_group(name):
    """Compile (or load from the cache) every kernel of one group in this process."""
    for disp, sig in _entries()[name]:
        disp.compile(sig)


def is_cold():
    """True if numba's cache holds no run_chunk compiled for this machine and source.

    Uses numba's cache index (a private interface): if it cannot be read, the
    cache is taken as warm and nothing is started."""
    try:
        from simkit.kernels import replicate as R
        index = R.run_chunk._cache._cache_file._load_index()
        return len(index) == 0
    except Exception:
        return False


def _usable_cpus():
    """CPUs this process may run on (a job scheduler's affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def warm_up(parallel=True, quiet=True):
    """Make sure the replicate loop is compiled; on a cold cache use two processes.

    Returns the seconds spent compiling (0.0 if the cache was warm).  Called
    once per process by the entry points that run replicates."""
    global _done
    if _done:
        return 0.0
    _done = True
    if not is_cold():
        return 0.0
    t0 = time.perf_counter()
    if not quiet:
        print("compiling the numba kernels once (numba's cache is empty; later runs reuse it) ...",
              file=sys.stderr, flush=True)
    helper = None
    if parallel and _usable_cpus() > 1:
        try:
            helper = subprocess.Popen([sys.executable, "-m", "simkit.kernels.warmup", "analysis"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            helper = None
    try:
        compile_group("world")
        if helper is not None:
            try:
                helper.wait(timeout=HELPER_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass  # killed below; this process compiles what is missing
        # loads the analysis kernels from the cache the helper filled (or
        # compiles them here if the helper failed)
        compile_group("loop")
    finally:
        if helper is not None and helper.poll() is None:
            helper.kill()
            helper.wait()
    return time.perf_counter() - t0


PY_KERNELS_MAX_BYTES = 1 << 20   # a table up to about 3,000 pairs: seconds as plain Python


def python_kernels_if_cold(path) -> bool:
    """Before `analyze` imports a kernel: if numba's cache holds no compiled
    analysis and the table is small, run the kernels as plain Python.

    The first analysis after an install otherwise compiles the whole analysis
    kernel set (35.6 s measured) to analyse 67 pairs once; as plain Python it
    takes about a second and gives the same numbers (tests/test_reliability_inputs.py
    compares the two).  A large table, or a warm cache, keeps the compiled
    kernels.  Returns True if it switched."""
    # the guard and this module load no kernel; any other kernel module means numba already chose
    if any(m.startswith("simkit.kernels.") and m not in ("simkit.kernels._cacheguard", __name__)
           for m in sys.modules):
        return False  # kernels already loaded (compiled or not): too late to choose
    try:
        if os.path.getsize(path) > PY_KERNELS_MAX_BYTES:
            return False
        from simkit import kernels  # noqa: F401 - its cache guard first: a stale cache counts as cold
        from simkit.kernels._cacheguard import kernel_cache_dir
        d = kernel_cache_dir()
        if d is None or any(n.startswith("seedanalysis.analyze_pairs-") and n.endswith(".nbi")
                            for n in os.listdir(d)):
            return False
    except OSError:   # no cache directory yet: cold
        pass
    import numba
    numba.config.DISABLE_JIT = True
    return True


def main(argv=None):
    names = list(argv if argv is not None else sys.argv[1:]) or list(GROUPS)
    for n in names:
        if n not in GROUPS:
            print(f"simkit.kernels.warmup: unknown group {n!r}; expected one of {', '.join(GROUPS)}", file=sys.stderr)
            return 2
    for n in names:
        compile_group(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
