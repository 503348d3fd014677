"""One replicate of the seed design (enrol -> match -> analyse) and a chunk of them.

A replicate is a pure function of (theta, design vector, seed, condition,
replicate index): the world draws from keyed streams, the design's random
choices from derive(root_key, STREAM_DESIGN), so chunks can be cut anywhere.

Output row: the seed analysis' fields followed by the design fields, both
named in kernels/outputs.py.

The replicate is a sequence of stages, each a function (stage_*), composed by
`_replicate` and by the profiler (benchmarks/stages.py), which puts a clock
between them: pool (once per registry), enrol, strata, peek (the analyst who
looks at outcomes), match, outcomes, assemble, and the analysis steps of
kernels/seedanalysis.py.
"""
import math

import numpy as np
from numba import njit

from . import history as H
from . import seedanalysis as SA
from . import status as st
from .matching import NEAREST, WORST, match_prepared_extra, prepare_pool_grid, stratum_offsets
from .matching import prepare_pool  # noqa: F401  (design.replicate_data uses R.prepare_pool)
from .outputs import DESIGN_NAMES as DESIGN_FIELDS
from .rng import derive, root_key

# --- design vector ----------------------------------------------------------
# Slots of the flat float64 vector the analyst's choices fill (simkit/design/choices.py
# maps each choice to its slot; this is the layout the kernels read).
DESIGN_NAMES = (
    "n_treated", "pool_size", "caliper", "policy", "order",
    "exact_sex", "exact_race", "exact_onset", "exact_ft9_stage", "exact_riluzole",
    "firth", "pool_policy", "block_size", "peek",
    "caliper_duration", "caliper_delta_fs", "caliper_total",
)
N_DESIGN = len(DESIGN_NAMES)
_D = DESIGN_NAMES.index
D_N_TREATED, D_POOL_SIZE, D_CALIPER = _D("n_treated"), _D("pool_size"), _D("caliper")
D_POLICY, D_ORDER, D_FIRTH = _D("policy"), _D("order"), _D("firth")
D_POOL_POLICY, D_BLOCK_SIZE, D_PEEK = _D("pool_policy"), _D("block_size"), _D("peek")
D_XCAL0 = _D("caliper_duration")   # 3 extra calipers (inf = off), in EXTRA_VARS' order
EXTRA_VARS = ("duration", "delta_fs", "total")
assert DESIGN_NAMES[D_XCAL0:D_XCAL0 + 3] == tuple(f"caliper_{v}" for v in EXTRA_VARS)
D_EXACT0 = _D("exact_sex")   # 5 flags: sex, race, onset, ft9_stage, riluzole
assert DESIGN_NAMES[D_EXACT0:D_EXACT0 + 5] == ("exact_sex", "exact_race", "exact_onset", "exact_ft9_stage",
                                               "exact_riluzole")

# --- output row: the analysis fields, then the design fields (kernels/outputs.py)
OUT_FIELDS = SA.FIELDS + DESIGN_FIELDS
N_OUT = len(OUT_FIELDS)
_O = OUT_FIELDS.index
O_N_TREATED, O_N_MATCHED, O_N_UNMATCHED = _O("n_treated"), _O("n_matched"), _O("n_unmatched")
O_MATCH_RATE = _O("match_rate")
O_SLOPE0, O_SLOPE03 = _O("n_slope_diff_zero"), _O("n_slope_within_0_3")
O_AGE5, O_AGE10 = _O("n_age_within_5"), _O("n_age_within_10")
O_U_T, O_U_R = _O("mean_u_treated"), _O("mean_u_reference")
O_PS_T, O_PS_R = _O("mean_pre_slope_treated"), _O("mean_pre_slope_reference")
O_APPLICANTS, O_POOL_MATCHABLE, O_STATUS = _O("n_applicants"), _O("pool_n_matchable"), _O("replicate_status")
O_T1 = _O("t1_male_treated")     # the 17 Table 1 fields follow in kernels/outputs.py's order
assert OUT_FIELDS[O_T1:O_T1 + 17] == tuple(f for f in OUT_FIELDS if f.startswith("t1_"))
del _D, _O

# exact-match variables (sex, race, onset, FT9 stage, riluzole): their radices
_RADIX = np.array([2, 2, 2, 6, 2], dtype=np.int64)
N_CODES = int(np.prod(_RADIX))   # stratum codes are 0 .. N_CODES - 1


@njit(cache=True, inline="always")
def _code(v0, v1, v2, v3, v4, dvec):
    """Mixed-radix stratum code of one patient; -1 if an exact variable is
    missing or out of range."""
    vals = (v0, v1, v2, v3, v4)
    c = 0
    mult = 1
    for k in range(5):
        v = vals[k]
        if dvec[D_EXACT0 + k] < 0.5:
            d = 0                     # not an exact-match variable: one level
        elif np.isfinite(v):
            d = np.int64(v)
        else:
            return -1                 # missing: never matches
        if d < 0 or d >= _RADIX[k]:
            return -1
        c += d * mult
        mult *= _RADIX[k]
    return c


@njit(cache=True)
def _pool_strata(dvec, pool, strata, slope):
    """Stratum code (-1: never matchable) and pre-slope of every pool member, in
    one pass; returns the number that can match (stratum >= 0, finite slope)."""
    n_ok = 0
    for j in range(pool.shape[0]):
        s = pool[j, H.PB_PRE_SLOPE]
        slope[j] = s
        if pool[j, H.PB_ELIGIBLE] < 0.5:
            strata[j] = -1            # no baseline with the visits the design needs
        else:
            c = _code(pool[j, H.PB_SEX], pool[j, H.PB_RACE], pool[j, H.PB_ONSET], pool[j, H.PB_FT9],
                      pool[j, H.PB_RILUZOLE], dvec)
            strata[j] = c
            if c >= 0 and np.isfinite(s):
                n_ok += 1
    return n_ok


@njit(cache=True)
def _make_pool_nb(theta, dvec, pkey, pool, pkeys):
    H.pool_baseline(theta, pkey, pool, pkeys)
    n = pool.shape[0]
    strata = np.empty(n, dtype=np.int64)
    slope = np.empty(n)
    _pool_strata(dvec, pool, strata, slope)
    return strata, slope


def _make_pool(theta, dvec, pkey, pool, pkeys):
    """(strata, slope) of a fresh pool with key pkey (filled into pool, pkeys).

    A plain-Python entry point: a key >= 2**63 arrives as a Python int, which
    numba would otherwise squeeze into an int64 signature compiled earlier
    (OverflowError)."""
    return _make_pool_nb(theta, dvec, np.uint64(pkey), pool, pkeys)


@njit(cache=True)
def _workspace(n_t, tr, twin, n_p):
    """Scratch arrays of one replicate, allocated once per chunk (n_p: pool rows)."""
    return (tr, twin,
            np.empty(n_t, dtype=np.int64),        # 2 t_strata
            np.empty(n_t),                        # 3 t_slope
            np.empty(n_t, dtype=np.int64),        # 4 ti: matched treated
            np.empty(n_t, dtype=np.int64),        # 5 ri: their pool partners
            np.empty((n_t, H.N_PO)),              # 6 po: partners' outcomes
            np.empty(2 * n_t),                    # 7 time
            np.empty(2 * n_t, dtype=np.int64),    # 8 event
            np.empty((2 * n_t, 5)),               # 9 scores
            np.empty(n_t, dtype=np.int64),        # 10 t_sex
            np.empty(n_t),                        # 11 t_age
            np.empty(n_t, dtype=np.int64),        # 12 t_ft9
            np.empty(n_t, dtype=np.int64),        # 13 t_onset
            np.empty(n_t, dtype=np.int64),        # 14 t_ril
            np.empty(n_t, dtype=np.uint64),       # 15 key scratch
            np.empty((n_t, H.N_PO)),              # 16 outcome scratch
            np.empty(n_t),                        # 17 reference ages
            np.empty(n_t),                        # 18 treated pre-slopes (matched)
            np.empty(n_t),                        # 19 reference pre-slopes
            np.empty((n_t, 3)),                   # 20 treated's extra matching variables
            np.empty((n_p, 3)),                   # 21 the pool's (filled when a remedy is on)
            np.ones(1, dtype=np.bool_))           # 22 21 is stale: a new pool since it was filled


@njit(cache=True)
def _outcomes_of(theta, pkeys, idx, n, keybuf, obuf):
    """pool_outcomes of pool members idx[:n] into obuf[:n] (one call)."""
    for q in range(n):
        keybuf[q] = pkeys[idx[q]]
    H.pool_outcomes(theta, keybuf[:n], obuf[:n])


@njit(cache=True)
def _fill_cache(theta, pkeys, idx, ocache, ohave):
    """Outcomes of pool members idx into the pool's outcome cache (a pool
    member's outcomes depend on its key only, so they are computed once per
    pool, not once per replicate that matches it)."""
    n = idx.shape[0]
    o = np.empty((n, H.N_PO))
    _outcomes_of(theta, pkeys, idx, n, np.empty(n, dtype=np.uint64), o)
    for q in range(n):
        j = idx[q]
        for c in range(H.N_PO):
            ocache[j, c] = o[q, c]
        ohave[j] = True


@njit(cache=True)
def _fresh_badness(theta, pkeys, strata, slope, t_strata, badness):
    """WORST on a pool used once: badness (-survival days) of the pool members a
    treated patient could be matched to (their stratum holds a treated patient);
    the others are never looked at and stay NaN."""
    need = np.zeros(N_CODES, dtype=np.bool_)
    for i in range(t_strata.shape[0]):
        if t_strata[i] >= 0:
            need[t_strata[i]] = True
    n = strata.shape[0]
    idx = np.empty(n, dtype=np.int64)
    m = np.int64(0)
    for j in range(n):
        badness[j] = np.nan
        s = strata[j]
        if s >= 0 and need[s] and np.isfinite(slope[j]):
            idx[m] = j
            m += 1
    o = np.empty((m, H.N_PO))
    _outcomes_of(theta, pkeys, idx, m, np.empty(m, dtype=np.uint64), o)
    for q in range(m):
        badness[idx[q]] = -o[q, H.PO_TIME_DAYS]
    return idx[:m], o


@njit(cache=True, inline="always")
def peeks(dvec):
    """True when the match looks at the candidates' outcomes (WORST, or NEAREST
    with a peek at more than one candidate)."""
    policy = np.int64(dvec[D_POLICY])
    return policy == WORST or (policy == NEAREST and dvec[D_PEEK] > 1.5)


@njit(cache=True)
def chunk_state(dvec):
    """Arrays one chunk's replicates share: the pool's and the workspace.

    Returns (pool, pkeys, strata, slope, badness, ocache, ohave, reused, ws).
    reused: the pool serves more than one replicate (per condition, or blocks
    of more than one), so its members' outcomes are cached."""
    n_t = np.int64(dvec[D_N_TREATED])
    n_p = np.int64(dvec[D_POOL_SIZE])
    policy = np.int64(dvec[D_POOL_POLICY])
    block = np.int64(dvec[D_BLOCK_SIZE])
    reused = policy == H.POOL_PER_CONDITION or (policy == H.POOL_PER_BLOCK and block > 1)
    return (np.empty((n_p, H.N_PB)), np.empty(n_p, dtype=np.uint64), np.empty(n_p, dtype=np.int64),
            np.empty(n_p), np.empty(n_p), np.empty((n_p if reused else 0, H.N_PO)),
            np.zeros(n_p if reused else 0, dtype=np.bool_), reused,
            _workspace(n_t, np.empty((n_t, H.N_TC)), np.empty((n_t, H.N_TC)), n_p))


@njit(cache=True, inline="always")
def stage_pool(theta, dvec, pk, pool, pkeys, strata, slope, badness, ocache, ohave, reused, ws):
    """Stage 'pool': a new registry with key pk: generate it, code its strata and sort it.

    Returns (n_matchable, perm, s_stratum, s_slope, offs).  A reused pool's
    outcome cache is emptied; under WORST its every matchable member's outcome
    is computed once here (the analyst's peek costs nothing per replicate)."""
    H.pool_baseline(theta, pk, pool, pkeys)
    ws[22][0] = True              # the remedies' pool variables belong to the old pool
    n_ok = _pool_strata(dvec, pool, strata, slope)
    # pre-slopes are k / 6: one counting sort (prepare_pool if not)
    perm, s_stratum, s_slope, _grid = prepare_pool_grid(strata, slope, N_CODES, 6.0)
    offs = stratum_offsets(s_stratum, N_CODES)
    if reused:
        ohave[:] = False
        if peeks(dvec):
            _fill_cache(theta, pkeys, perm, ocache, ohave)
            for q in range(perm.shape[0]):
                badness[perm[q]] = -ocache[perm[q], H.PO_TIME_DAYS]
    return n_ok, perm, s_stratum, s_slope, offs


@njit(cache=True, inline="always")
def extra_vars(duration, total, out_row):
    """The remedies' matching variables of one patient at time zero: disease
    duration (months since onset), delta-FS = (48 - total) / duration
    (points/month) and the ALSFRS-R total (points); NaN where undefined."""
    out_row[0] = duration
    out_row[1] = (48.0 - total) / duration if duration > 0.0 else np.nan
    out_row[2] = total


@njit(cache=True, inline="always")
def remedies_on(dvec):
    """True when the design matches on a remedy variable (a finite extra caliper)."""
    return dvec[D_XCAL0] < np.inf or dvec[D_XCAL0 + 1] < np.inf or dvec[D_XCAL0 + 2] < np.inf


@njit(cache=True, inline="always")
def stage_strata(dvec, filled, ws):
    """Stage 'strata': the enrolled treated patients' stratum codes and pre-slopes."""
    tr, t_strata, t_slope = ws[0], ws[2], ws[3]
    for i in range(tr.shape[0]):
        if i < filled:
            t_strata[i] = _code(tr[i, H.TC_SEX], tr[i, H.TC_RACE], tr[i, H.TC_ONSET], tr[i, H.TC_FT9],
                                tr[i, H.TC_RILUZOLE], dvec)
        else:
            t_strata[i] = -1          # enrolment could not fill the cohort
        t_slope[i] = (tr[i, H.TC_ALSFRS_PRE] - tr[i, H.TC_ALSFRS_0]) / 6.0
        if remedies_on(dvec):     # treated time zero: the first injection
            extra_vars(tr[i, H.TC_DURATION], tr[i, H.TC_ALSFRS_0], ws[20][i])


@njit(cache=True, inline="always")
def stage_peek(theta, dvec, pkeys, strata, slope, cached, badness, ws):
    """Stage 'peek': under WORST on a pool used once, the outcomes of the pool
    members a treated patient could be matched to (badness = -survival days).
    Returns (their pool indices, their outcomes): empty otherwise."""
    if peeks(dvec) and not cached:
        return _fresh_badness(theta, pkeys, strata, slope, ws[2], badness)
    return np.empty(0, dtype=np.int64), np.empty((0, H.N_PO))


@njit(cache=True, inline="always")
def stage_match(theta, dvec, seed, condition, k, pool, perm, s_stratum, s_slope, offs, badness, ws):
    """Stage 'match': 1:1 matching; the pairs into ws (ti, ri); returns their number."""
    t_strata, t_slope, ti, ri = ws[2], ws[3], ws[4], ws[5]
    policy = np.int64(dvec[D_POLICY])
    bad = badness if peeks(dvec) else badness[:0]
    dkey = derive(root_key(seed, condition, k), H.STREAM_DESIGN)
    if remedies_on(dvec):
        # reference time zero: the index visit, ref_baseline_month after trial entry
        p_extra = ws[21][:pool.shape[0]]
        if ws[22][0]:             # once per pool, not per replicate
            b0 = theta[H.REF_BASELINE_MONTH]
            for j in range(pool.shape[0]):
                extra_vars(pool[j, H.PB_DURATION] + b0, pool[j, H.PB_ALSFRS_0], p_extra[j])
            ws[22][0] = False
        t_extra, ecal = ws[20], dvec[D_XCAL0:D_XCAL0 + 3]
    else:
        t_extra, p_extra, ecal = ws[20][:, :0], ws[21][:0, :0], dvec[D_XCAL0:D_XCAL0]
    midx, n_unm = match_prepared_extra(t_strata, t_slope, perm, s_stratum, s_slope, offs,
                                       dvec[D_CALIPER], policy, np.int64(dvec[D_ORDER]), dkey, bad,
                                       np.int64(dvec[D_PEEK]), t_extra, p_extra, ecal)
    m = np.int64(0)  # typed: a literal 0 would compile the callees twice
    for i in range(t_strata.shape[0]):
        if midx[i] >= 0:
            ti[m] = i
            ri[m] = midx[i]
            m += 1
    return m


@njit(cache=True, inline="always")
def stage_outcomes(theta, dvec, pkeys, m, cached, ocache, ohave, f_idx, f_out, ws):
    """Stage 'outcomes': the matched pool members' outcomes into ws (po), from the
    pool's cache (filled on first use), the peek's outcomes, or computed here."""
    ri, po, keybuf, obuf = ws[5], ws[6], ws[15], ws[16]
    if cached:
        nmiss = 0
        for q in range(m):
            if not ohave[ri[q]]:
                keybuf[nmiss] = pkeys[ri[q]]
                nmiss += 1
        if nmiss > 0:
            H.pool_outcomes(theta, keybuf[:nmiss], obuf[:nmiss])
            r = 0
            for q in range(m):
                j = ri[q]
                if not ohave[j]:
                    for c in range(H.N_PO):
                        ocache[j, c] = obuf[r, c]
                    ohave[j] = True
                    r += 1
        for q in range(m):
            for c in range(H.N_PO):
                po[q, c] = ocache[ri[q], c]
    elif peeks(dvec):
        for q in range(m):
            p = np.searchsorted(f_idx, ri[q])
            for c in range(H.N_PO):
                po[q, c] = f_out[p, c]
    elif m > 0:
        _outcomes_of(theta, pkeys, ri, m, keybuf, po)


@njit(cache=True, inline="always")
def quantile_sorted(xs, q):
    """numpy.quantile's linear definition on an already sorted 1-D array; NaN if empty."""
    n = xs.shape[0]
    if n == 0:
        return np.nan
    h = q * (n - 1)
    lo = int(math.floor(h))
    hi = min(lo + 1, n - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


@njit(cache=True)
def _table1(m, t_sex, t_age, t_ft9, t_onset, t_ril, r_age, t_ps, r_ps, out):
    """The matched cohort's Table 1 (the 17 t1_* fields; NaN without pairs)."""
    o = O_T1
    if m == 0:
        out[o:o + 17] = np.nan
        return
    n_m = 0.0
    n_r = 0.0
    n_b = 0.0
    n_f = 0.0
    n_fast = 0.0
    for q in range(m):
        n_m += t_sex[q]
        n_r += t_ril[q]
        n_b += t_onset[q]
        n_f += t_ft9[q] <= 2
        n_fast += t_ps[q] >= 1.0 - 1e-9     # pre-slopes are k/6: >= 1 point/month
    out[o] = n_m / m
    out[o + 1] = n_r / m
    out[o + 2] = n_b / m
    out[o + 3] = n_f / m
    out[o + 4] = n_fast / m
    j = o + 5
    for x in (t_age[:m], r_age[:m], t_ps[:m], r_ps[:m]):
        xs = np.sort(x)          # one sort per column for its three quantiles
        out[j] = quantile_sorted(xs, 0.5)
        out[j + 1] = quantile_sorted(xs, 0.25)
        out[j + 2] = quantile_sorted(xs, 0.75)
        j += 3


@njit(cache=True, inline="always")
def stage_assemble(pool, m, filled, n_appl, n_matchable, ws, out):
    """Stage 'assemble': the matched table in the analysis' layout (ws: time,
    event, scores, treated covariates) and the design fields of `out` (match
    counts, the pair diagnostics papers print, the hidden mean u per arm)."""
    (tr, twin, t_strata, t_slope, ti, ri, po, time, event, scores, t_sex, t_age, t_ft9,
     t_onset, t_ril, keybuf, obuf, r_age, t_ps, r_ps, _t_extra, _p_extra, _p_stale) = ws
    n_t = tr.shape[0]
    n_s0 = 0
    n_s03 = 0
    n_a5 = 0
    n_a10 = 0
    su_t = 0.0
    su_r = 0.0
    sp_t = 0.0
    sp_r = 0.0
    for q in range(m):
        # rows indexed, not taken as views (a view costs two atomic
        # reference-count updates)
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
        r_age[q] = pool[ib, H.PB_AGE]
        t_ps[q] = ts
        r_ps[q] = pool[ib, H.PB_PRE_SLOPE]
    _table1(m, t_sex, t_age, t_ft9, t_onset, t_ril, r_age, t_ps, r_ps, out)
    out[O_N_TREATED] = filled
    out[O_N_MATCHED] = m
    out[O_N_UNMATCHED] = n_t - m
    out[O_MATCH_RATE] = m / n_t if n_t > 0 else np.nan
    out[O_SLOPE0] = n_s0
    out[O_SLOPE03] = n_s03
    out[O_AGE5] = n_a5
    out[O_AGE10] = n_a10
    out[O_U_T] = su_t / m if m > 0 else np.nan
    out[O_U_R] = su_r / m if m > 0 else np.nan
    out[O_PS_T] = sp_t / m if m > 0 else np.nan
    out[O_PS_R] = sp_r / m if m > 0 else np.nan
    out[O_APPLICANTS] = n_appl
    out[O_POOL_MATCHABLE] = n_matchable
    out[O_STATUS] = st.OK if m > 0 else st.NOTHING_MATCHED


@njit(cache=True, inline="always")
def stage_analyse(dvec, m, ws, out):
    """Stage 'analyse': the seed analysis of the m assembled pairs into out."""
    time, event, scores = ws[7], ws[8], ws[9]
    SA.analyze_pairs(time[:2 * m], event[:2 * m], scores[:2 * m], ws[10][:m], ws[11][:m], ws[12][:m],
                    ws[13][:m], ws[14][:m], dvec[D_FIRTH] > 0.5, out[:SA.N_FIELDS])


@njit(cache=True, inline="always")
def _replicate(theta, dvec, seed, condition, k, filled, n_appl, pool, pkeys, strata, slope, perm,
               s_stratum, s_slope, offs, n_matchable, cached, ocache, ohave, badness, ws, out):
    """Fill `out` (f8[N_OUT]) for replicate k, whose treated cohort is in ws
    (filled rows of n_appl applicants); returns the number of matched pairs.

    perm / s_stratum / s_slope: the pool sorted (prepare_pool); offs: its
    stratum_offsets (or empty).  cached: ocache / ohave hold the pool's
    outcomes, filled on first use (and badness is ready for WORST); else the
    outcomes of the matched members are computed here.  ws: _workspace."""
    stage_strata(dvec, filled, ws)
    f_idx, f_out = stage_peek(theta, dvec, pkeys, strata, slope, cached, badness, ws)
    m = stage_match(theta, dvec, seed, condition, k, pool, perm, s_stratum, s_slope, offs, badness, ws)
    stage_outcomes(theta, dvec, pkeys, m, cached, ocache, ohave, f_idx, f_out, ws)
    stage_assemble(pool, m, filled, n_appl, n_matchable, ws, out)
    stage_analyse(dvec, m, ws, out)
    return m


@njit(cache=True)
def replicate(theta, dvec, seed, condition, k, pool, pkeys, strata, slope,
              perm, s_stratum, s_slope, tr, twin, out):
    """Fill `out` (f8[N_OUT]) for replicate k, given the prepared pool; returns
    (matched treated rows, their pool partners, the partners' outcomes).
    The same numbers as run_chunk (which reuses scratch arrays across replicates)."""
    n_t = tr.shape[0]
    ws = _workspace(n_t, tr, twin, pool.shape[0])
    badness = np.empty(pool.shape[0])
    filled, n_appl = H.treated_cohort(theta, H.treated_key(seed, condition, k), tr, twin)
    m = _replicate(theta, dvec, seed, condition, k, filled, n_appl, pool, pkeys, strata, slope, perm,
                   s_stratum, s_slope, np.empty(0, dtype=np.int64), perm.shape[0], False,
                   np.empty((0, H.N_PO)), np.empty(0, dtype=np.bool_), badness, ws, out)
    return ws[4][:m].copy(), ws[5][:m].copy(), ws[6][:m].copy()


@njit(cache=True)
def run_chunk(thetas, dvec, seed, condition, start, stop, out, peeks):
    """Replicates start..stop-1 of a condition into out (stop - start, N_OUT).

    peeks (stop - start,) or empty: the analyst's peek (dvec's D_PEEK) of each
    replicate, drawn from a prior (simkit/world/priors.py); empty: dvec's for all.
    A pool serving several replicates caches its members' outcomes whenever any
    replicate of the chunk peeks (outcomes are a pure function of the pool's
    keys, so caching them changes no number).

    thetas (1, N_THETA): one world for every replicate; or (stop - start,
    N_THETA): replicate start + r in world thetas[r] (parameters drawn from
    priors).  Parameters that change the registry must then be constant within
    each registry (simkit/world/priors.py draws them per registry).
    The pool is regenerated only when the replicate's pool key changes (per
    replicate, per block or once per condition), which gives the same numbers as
    regenerating it every time.  Each pool is sorted once (prepare_pool_grid:
    a counting sort) and its stratum offsets found; a pool used by more than
    one replicate also caches its members' outcomes, a pool used once computes
    only its matched members' outcomes."""
    pool, pkeys, strata, slope, badness, ocache, ohave, reused, ws = chunk_state(dvec)
    policy = np.int64(dvec[D_POOL_POLICY])
    block = np.int64(dvec[D_BLOCK_SIZE])
    per_replicate = thetas.shape[0] > 1
    drawn_peek = peeks.shape[0] > 0
    dv = dvec.copy()              # a replicate's design: dvec with its own peek
    dpool = dvec.copy()           # the pools': their outcome cache is filled if any replicate peeks
    if drawn_peek:
        dpool[D_PEEK] = np.max(peeks)
    have = False
    cur = np.uint64(0)
    n_ok = 0
    perm = np.empty(0, dtype=np.int64)
    s_stratum = np.empty(0, dtype=np.int64)
    s_slope = np.empty(0)
    offs = np.empty(0, dtype=np.int64)
    for r in range(stop - start):
        theta = thetas[r] if per_replicate else thetas[0]
        kk = np.uint64(start + r)
        pk = H.pool_key(np.uint64(seed), np.uint64(condition), kk, policy, block)
        if not have or pk != cur:
            n_ok, perm, s_stratum, s_slope, offs = stage_pool(theta, dpool, pk, pool, pkeys, strata, slope,
                                                             badness, ocache, ohave, reused, ws)
            cur = pk
            have = True
        if drawn_peek:
            dv[D_PEEK] = peeks[r]
        # stage 'enrol'; the report does not use the twins: the same treated rows, less work
        filled, n_appl = H.treated_cohort_only(theta, H.treated_key(np.uint64(seed), np.uint64(condition), kk),
                                               ws[0])
        _replicate(theta, dv, np.uint64(seed), np.uint64(condition), kk, filled, n_appl, pool, pkeys,
                   strata, slope, perm, s_stratum, s_slope, offs, n_ok, reused, ocache, ohave,
                   badness, ws, out[r])
