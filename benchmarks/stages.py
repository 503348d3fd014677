"""The replicate loop of kernels.replicate with a clock between its stages.

`profile_chunk` is run_chunk / _replicate / seedanalysis.analyze_pairs written
out step by step, each step timed (the time-stamp counter on x86, else
clock_gettime through ctypes; T is in clock ticks: divide by ticks_per_ns()),
so the stage times are those of
the real replicate on its real, varying data (timing a stage in a loop on one
input flatters it: the branch predictor learns the input).  It must compute
exactly what run_chunk computes: tests/test_bench_smoke.py checks that its
rows equal run_chunk's, so a change to the kernels that this copy misses is
caught.
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
from simkit.kernels import seedanalysis as A
from simkit.kernels._cacheguard import guard
from simkit.kernels.matching import WORST, match_prepared_offsets, prepare_pool_grid, stratum_offsets
from simkit.kernels.rng import derive, root_key

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
    n_t = np.int64(dvec[R.D_N_TREATED])
    n_p = np.int64(dvec[R.D_POOL_SIZE])
    ppol = np.int64(dvec[R.D_POOL_POLICY])
    block = np.int64(dvec[R.D_BLOCK_SIZE])
    reused = ppol == H.POOL_PER_CONDITION or (ppol == H.POOL_PER_BLOCK and block > 1)
    policy = np.int64(dvec[R.D_POLICY])
    worst = policy == WORST
    firth = dvec[R.D_FIRTH] > 0.5
    pool = np.empty((n_p, H.N_PB))
    pkeys = np.empty(n_p, dtype=np.uint64)
    strata = np.empty(n_p, dtype=np.int64)
    slope = np.empty(n_p)
    badness = np.empty(n_p)
    ocache = np.empty((n_p if reused else 0, H.N_PO))
    ohave = np.zeros(n_p if reused else 0, dtype=np.bool_)
    ws = R._workspace(n_t, np.empty((n_t, H.N_TC)), np.empty((n_t, H.N_TC)))
    (tr, twin, t_strata, t_slope, ti, ri, po, time, event, scores, t_sex, t_age, t_ft9,
     t_onset, t_ril, keybuf, obuf) = ws
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
            H.pool_baseline(theta, pk, pool, pkeys)
            n_ok = R._pool_strata(dvec, pool, strata, slope)
            perm, s_stratum, s_slope, _grid = prepare_pool_grid(strata, slope, R.N_CODES, 6.0)
            offs = stratum_offsets(s_stratum, R.N_CODES)
            if reused:
                ohave[:] = False
                if worst:
                    R._fill_cache(theta, pkeys, perm, ocache, ohave)
                    for q in range(perm.shape[0]):
                        badness[perm[q]] = -ocache[perm[q], H.PO_TIME_DAYS]
            cur = pk
            have = True
        c1 = now(buf)
        T[0] += c1 - c0
        # ---- _replicate
        rkey = root_key(seed, condition, k)
        filled, n_appl = H.treated_cohort_only(theta, H.treated_key(seed, condition, k), tr)
        c2 = now(buf)
        T[1] += c2 - c1
        for i in range(n_t):
            if i < filled:
                t_strata[i] = R._code(tr[i, H.TC_SEX], tr[i, H.TC_RACE], tr[i, H.TC_ONSET], tr[i, H.TC_FT9],
                                      tr[i, H.TC_RILUZOLE], dvec)
            else:
                t_strata[i] = -1
            t_slope[i] = (tr[i, H.TC_ALSFRS_PRE] - tr[i, H.TC_ALSFRS_0]) / 6.0
        c3 = now(buf)
        T[2] += c3 - c2
        f_idx = np.empty(0, dtype=np.int64)
        f_out = np.empty((0, H.N_PO))
        if worst and not reused:
            f_idx, f_out = R._fresh_badness(theta, pkeys, strata, slope, t_strata, badness)
        c3b = now(buf)
        T[4] += c3b - c3    # WORST on a fresh pool: these are reference outcomes
        bad = badness if worst else badness[:0]
        dkey = derive(rkey, H.STREAM_DESIGN)
        midx, n_unm = match_prepared_offsets(t_strata, t_slope, perm, s_stratum, s_slope, offs,
                                             dvec[R.D_CALIPER], policy, np.int64(dvec[R.D_ORDER]),
                                             dkey, bad)
        m = 0
        for i in range(n_t):
            if midx[i] >= 0:
                ti[m] = i
                ri[m] = midx[i]
                m += 1
        c4 = now(buf)
        T[3] += c4 - c3b
        if reused:
            nmiss = 0
            for q in range(m):
                if not ohave[ri[q]]:
                    keybuf[nmiss] = pkeys[ri[q]]
                    nmiss += 1
            if nmiss > 0:
                H.pool_outcomes(theta, keybuf[:nmiss], obuf[:nmiss])
                rr = 0
                for q in range(m):
                    j = ri[q]
                    if not ohave[j]:
                        for c in range(H.N_PO):
                            ocache[j, c] = obuf[rr, c]
                        ohave[j] = True
                        rr += 1
            for q in range(m):
                for c in range(H.N_PO):
                    po[q, c] = ocache[ri[q], c]
        elif worst:
            for q in range(m):
                p = np.searchsorted(f_idx, ri[q])
                for c in range(H.N_PO):
                    po[q, c] = f_out[p, c]
        elif m > 0:
            R._outcomes_of(theta, pkeys, ri, m, keybuf, po)
        c5 = now(buf)
        T[4] += c5 - c4
        n_s0 = 0
        n_s03 = 0
        n_a5 = 0
        n_a10 = 0
        su_t = 0.0
        su_r = 0.0
        sp_t = 0.0
        sp_r = 0.0
        for q in range(m):
            ia = ti[q]
            ib = ri[q]
            time[q] = tr[ia, H.TC_TIME_DAYS]
            event[q] = np.int64(tr[ia, H.TC_EVENT])
            time[m + q] = po[q, H.PO_TIME_DAYS]
            event[m + q] = np.int64(po[q, H.PO_EVENT])
            scores[q, 0] = tr[ia, H.TC_ALSFRS_PRE]
            scores[q, 1] = tr[ia, H.TC_ALSFRS_0]
            scores[q, 2] = tr[ia, H.TC_ALSFRS_2]
            scores[q, 3] = tr[ia, H.TC_ALSFRS_4]
            scores[q, 4] = tr[ia, H.TC_ALSFRS_6]
            scores[m + q, 0] = pool[ib, H.PB_ALSFRS_PRE]
            scores[m + q, 1] = pool[ib, H.PB_ALSFRS_0]
            scores[m + q, 2] = po[q, H.PO_ALSFRS_2]
            scores[m + q, 3] = po[q, H.PO_ALSFRS_4]
            scores[m + q, 4] = po[q, H.PO_ALSFRS_6]
            t_sex[q] = np.int64(tr[ia, H.TC_SEX])
            t_age[q] = tr[ia, H.TC_AGE]
            t_ft9[q] = np.int64(tr[ia, H.TC_FT9])
            t_onset[q] = np.int64(tr[ia, H.TC_ONSET])
            t_ril[q] = np.int64(tr[ia, H.TC_RILUZOLE])
            ts = t_slope[ia]
            ds = abs(ts - pool[ib, H.PB_PRE_SLOPE])
            if ds < 1e-9:
                n_s0 += 1
            if ds <= 0.3 + 1e-9:
                n_s03 += 1
            da = abs(tr[ia, H.TC_AGE] - pool[ib, H.PB_AGE])
            if da <= 5.0:
                n_a5 += 1
            if da <= 10.0:
                n_a10 += 1
            su_t += tr[ia, H.TC_U]
            su_r += pool[ib, H.PB_U]
            sp_t += ts
            sp_r += pool[ib, H.PB_PRE_SLOPE]
        o_row[R.O_N_TREATED] = filled
        o_row[R.O_N_MATCHED] = m
        o_row[R.O_N_UNMATCHED] = n_t - m
        o_row[R.O_MATCH_RATE] = m / n_t if n_t > 0 else np.nan
        o_row[R.O_SLOPE0] = n_s0
        o_row[R.O_SLOPE03] = n_s03
        o_row[R.O_AGE5] = n_a5
        o_row[R.O_AGE10] = n_a10
        o_row[R.O_U_T] = su_t / m if m > 0 else np.nan
        o_row[R.O_U_R] = su_r / m if m > 0 else np.nan
        o_row[R.O_PS_T] = sp_t / m if m > 0 else np.nan
        o_row[R.O_PS_R] = sp_r / m if m > 0 else np.nan
        o_row[R.O_APPLICANTS] = n_appl
        o_row[R.O_POOL_MATCHABLE] = n_ok
        o_row[R.O_STATUS] = R.st.OK if m > 0 else R.st.NOTHING_MATCHED
        c6 = now(buf)
        T[5] += c6 - c5
        # ---- analyze_pairs, step by step
        ao = o_row[:A.N_FIELDS]
        tm = time[:2 * m]
        ev = event[:2 * m]
        sc = scores[:2 * m]
        n = m
        ao[:] = np.nan
        ao[A.N_PAIRS] = n
        A._survival(tm, ev, n, firth, ao)
        c7 = now(buf)
        T[6] += c7 - c6
        cls = np.full(n, -1, dtype=np.int64)
        counts = np.zeros(3)
        for i in range(n):
            if (np.isfinite(sc[i, A.S_0]) and np.isfinite(sc[i, A.S_6])
                    and np.isfinite(sc[n + i, A.S_0]) and np.isfinite(sc[n + i, A.S_6])):
                d = (sc[i, A.S_6] - sc[i, A.S_0]) - (sc[n + i, A.S_6] - sc[n + i, A.S_0])
                cls[i] = A.classify(d)
                counts[cls[i]] += 1.0
        ao[A.N_DECREASED] = counts[A.DECREASED]
        ao[A.N_NO_CHANGE] = counts[A.NO_CHANGE]
        ao[A.N_INCREASED] = counts[A.INCREASED]
        ao[A.DROPPED_CLASSES] = n - (counts[0] + counts[1] + counts[2])
        c8 = now(buf)
        T[7] += c8 - c7
        A._early(sc, cls, n, firth, ao)
        c9 = now(buf)
        T[8] += c9 - c8
        A._signed_rank(sc, n, ao)
        c10 = now(buf)
        T[9] += c10 - c9
        A._ols(sc, n, ao)
        c11 = now(buf)
        T[10] += c11 - c10
        A._subgroups(sc, cls, t_sex[:m], t_age[:m], t_ft9[:m], t_onset[:m], t_ril[:m], n, ao)
        c12 = now(buf)
        T[11] += c12 - c11
