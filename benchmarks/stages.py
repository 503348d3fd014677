"""The replicate loop of kernels.replicate with a clock between its stages.

`profile_chunk` runs run_chunk's loop calling the same stage functions
(kernels.replicate.stage_*, and the steps of seedanalysis.analyze_pairs) with a
clock between them (the time-stamp counter on x86, else clock_gettime through
ctypes; T is in clock ticks: divide by ticks_per_ns()), so the stage times are
those of the real replicate on its real, varying data (timing a stage in a loop
on one input flatters it: the branch predictor learns the input).  Only the
loop's skeleton is written here, not the stages: tests/test_bench_smoke.py
checks that its rows equal run_chunk's.
"""
import ctypes
import platform
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from simkit.kernels import history as H
from simkit.kernels import replicate as R
from simkit.kernels import seedanalysis as SA
from simkit.kernels._cacheguard import guard

# the cached kernels below inline simkit's: stale once those change, so clear them then
guard(__file__)

STAGES = ("pool (generate, strata, sort)", "treated cohort", "treated strata", "matching",
          "reference outcomes", "assembly + design statistics", "analysis: survival",
          "analysis: classes", "analysis: early-response logistic", "analysis: signed rank",
          "analysis: OLS", "analysis: subgroups")
N_STAGES = len(STAGES)

if platform.machine().lower() in ("x86_64", "amd64"):
    # the time-stamp counter (constant rate on current x86 CPUs): an LLVM
    # intrinsic, so profile_chunk can be cached; ticks_per_ns() calibrates it
    @intrinsic
    def _ticks(typingctx):
        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.IntType(64), [])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
            return builder.call(fn, [])
        return types.uint64(), codegen

    @njit(cache=True)
    def now(buf):
        return np.float64(_ticks())

    CACHE = True
else:  # clock_gettime through ctypes (not cacheable)
    _libc = ctypes.CDLL(None)
    _clock = _libc.clock_gettime
    _clock.argtypes = [ctypes.c_int, ctypes.c_void_p]
    _clock.restype = ctypes.c_int

    @njit(cache=False)
    def now(buf):
        _clock(1, buf.ctypes.data)   # CLOCK_MONOTONIC
        return np.float64(buf[0]) * 1e9 + np.float64(buf[1])

    CACHE = False


def ticks_per_ns(seconds=0.05):
    """Clock ticks of `now` per nanosecond (1.0 for clock_gettime)."""
    buf = np.zeros(2, np.int64)
    now(buf)
    t0 = time.perf_counter()
    a = now(buf)
    while time.perf_counter() - t0 < seconds:
        pass
    b = now(buf)
    return (b - a) / ((time.perf_counter() - t0) * 1e9)


@njit(cache=CACHE)
def profile_chunk(theta, dvec, seed, condition, start, stop, out, T):
    """run_chunk with stage clocks: T[s] += clock ticks spent in stage s."""
    buf = np.zeros(2, np.int64)
    pool, pkeys, strata, slope, badness, ocache, ohave, reused, ws = R.chunk_state(dvec)
    ppol = np.int64(dvec[R.D_POOL_POLICY])
    block = np.int64(dvec[R.D_BLOCK_SIZE])
    firth = dvec[R.D_FIRTH] > 0.5
    time, event, scores = ws[7], ws[8], ws[9]
    have = False
    cur = np.uint64(0)
    n_ok = 0
    perm = np.empty(0, dtype=np.int64)
    s_stratum = np.empty(0, dtype=np.int64)
    s_slope = np.empty(0)
    offs = np.empty(0, dtype=np.int64)
    for r in range(stop - start):
        k = np.uint64(start + r)
        o_row = out[r]
        c0 = now(buf)
        pk = H.pool_key(np.uint64(seed), np.uint64(condition), k, ppol, block)
        if not have or pk != cur:
            n_ok, perm, s_stratum, s_slope, offs = R.stage_pool(theta, dvec, pk, pool, pkeys, strata, slope,
                                                               badness, ocache, ohave, reused, ws)
            cur = pk
            have = True
        c1 = now(buf)
        T[0] += c1 - c0
        filled, n_appl = H.treated_cohort_only(theta, H.treated_key(seed, condition, k), ws[0])
        c2 = now(buf)
        T[1] += c2 - c1
        R.stage_strata(dvec, filled, ws)
        c3 = now(buf)
        T[2] += c3 - c2
        f_idx, f_out = R.stage_peek(theta, dvec, pkeys, strata, slope, reused, badness, ws)
        c3b = now(buf)
        T[4] += c3b - c3    # WORST on a fresh pool: these are reference outcomes
        m = R.stage_match(theta, dvec, seed, condition, k, pool, perm, s_stratum, s_slope, offs, badness, ws)
        c4 = now(buf)
        T[3] += c4 - c3b
        R.stage_outcomes(theta, dvec, pkeys, m, reused, ocache, ohave, f_idx, f_out, ws)
        c5 = now(buf)
        T[4] += c5 - c4
        R.stage_assemble(pool, m, filled, n_appl, n_ok, ws, o_row)
        c6 = now(buf)
        T[5] += c6 - c5
        # ---- seedanalysis.analyze_pairs, step by step
        ao = o_row[:SA.N_FIELDS]
        tm = time[:2 * m]
        ev = event[:2 * m]
        sc = scores[:2 * m]
        SA.start(m, ao)
        SA._survival(tm, ev, m, firth, ao)
        c7 = now(buf)
        T[6] += c7 - c6
        cls = SA.classes(sc, m, ao)
        c8 = now(buf)
        T[7] += c8 - c7
        SA._early(sc, cls, m, firth, ao)
        c9 = now(buf)
        T[8] += c9 - c8
        SA._signed_rank(sc, m, ao)
        c10 = now(buf)
        T[9] += c10 - c9
        SA._ols(sc, m, ao)
        c11 = now(buf)
        T[10] += c11 - c10
        SA._subgroups(sc, cls, ws[10][:m], ws[11][:m], ws[12][:m], ws[13][:m], ws[14][:m], m, ao)
        c12 = now(buf)
        T[11] += c12 - c11
