"""One replicate of the seed design (enrol -> match -> analyse) and a chunk of them.

A replicate is a pure function of (theta, design vector, seed, condition,
replicate index): the world draws from keyed streams, the design's random
choices from derive(root_key, STREAM_DESIGN), so chunks can be cut anywhere.

Output row: the seed analysis' FIELDS (kernels.seedanalysis) followed by
DESIGN_FIELDS below.
"""
import numpy as np
from numba import njit

from . import history as H
from . import seedanalysis as A
from . import status as st
from .matching import WORST, match_prepared, prepare_pool
from .rng import derive, root_key

# --- design vector --------------------------------------------------------
DESIGN_NAMES = (
    "n_treated", "pool_size", "caliper", "policy", "order",
    "exact_sex", "exact_race", "exact_onset", "exact_ft9", "exact_riluzole",
    "firth", "pool_policy", "block_size",
)
N_DESIGN = len(DESIGN_NAMES)
D_N_TREATED, D_POOL_SIZE, D_CALIPER, D_POLICY, D_ORDER = 0, 1, 2, 3, 4
D_EXACT0 = 5   # 5 flags: sex, race, onset, ft9, riluzole
D_FIRTH, D_POOL_POLICY, D_BLOCK_SIZE = 10, 11, 12

# --- extra output fields --------------------------------------------------
DESIGN_FIELDS = (
    "n_treated", "n_matched", "n_unmatched", "match_rate",
    "n_slope_diff_zero", "n_slope_within_0_3", "n_age_within_5", "n_age_within_10",
    "mean_u_treated", "mean_u_reference", "mean_pre_slope_treated", "mean_pre_slope_reference",
    "n_applicants", "pool_n_matchable", "replicate_status",
)
N_DESIGN_FIELDS = len(DESIGN_FIELDS)
OUT_FIELDS = A.FIELDS + DESIGN_FIELDS
N_OUT = len(OUT_FIELDS)
O = A.N_FIELDS  # offset of the design fields
O_N_TREATED, O_N_MATCHED, O_N_UNMATCHED, O_MATCH_RATE = O, O + 1, O + 2, O + 3
O_SLOPE0, O_SLOPE03, O_AGE5, O_AGE10 = O + 4, O + 5, O + 6, O + 7
O_U_T, O_U_R, O_PS_T, O_PS_R = O + 8, O + 9, O + 10, O + 11
O_APPLICANTS, O_POOL_MATCHABLE, O_STATUS = O + 12, O + 13, O + 14

# exact-match variables: (pool column, treated column, radix)
_RADIX = np.array([2, 2, 2, 6, 2], dtype=np.int64)


@njit(cache=True)
def _strata(sex, race, onset, ft9, ril, dvec):
    n = sex.shape[0]
    cols = np.zeros((n, 5), dtype=np.int64)
    for i in range(n):
        vals = (sex[i], race[i], onset[i], ft9[i], ril[i])
        for k in range(5):
            v = vals[k]
            if dvec[D_EXACT0 + k] < 0.5:
                cols[i, k] = 0        # not an exact-match variable: one level
            elif np.isfinite(v):
                cols[i, k] = np.int64(v)
            else:
                cols[i, k] = -1       # missing: never matches
    code = np.zeros(n, dtype=np.int64)
    for i in range(n):
        c = 0
        mult = 1
        for k in range(5):
            d = cols[i, k]
            if d < 0 or d >= _RADIX[k]:
                c = -1
                break
            c += d * mult
            mult *= _RADIX[k]
        code[i] = c
    return code


@njit(cache=True)
def _make_pool(theta, dvec, pkey, pool, pkeys):
    H.pool_baseline(theta, pkey, pool, pkeys)
    strata = _strata(pool[:, H.PB_SEX], pool[:, H.PB_RACE], pool[:, H.PB_ONSET],
                     pool[:, H.PB_FT9], pool[:, H.PB_RILUZOLE], dvec)
    slope = pool[:, H.PB_PRE_SLOPE].copy()
    for j in range(pool.shape[0]):
        if pool[j, H.PB_ELIGIBLE] < 0.5:
            strata[j] = -1            # no baseline with the visits the design needs
    return strata, slope


@njit(cache=True)
def replicate(theta, dvec, seed, condition, k, pool, pkeys, strata, slope,
              perm, s_stratum, s_slope, tr, twin, out):
    """Fill `out` (f8[N_OUT]) for replicate k, given the prepared pool."""
    n_t = tr.shape[0]
    rkey = root_key(seed, condition, k)
    filled, n_appl = H.treated_cohort(theta, H.treated_key(seed, condition, k), tr, twin)
    t_strata = _strata(tr[:, H.TC_SEX], tr[:, H.TC_RACE], tr[:, H.TC_ONSET],
                       tr[:, H.TC_FT9], tr[:, H.TC_RILUZOLE], dvec)
    for i in range(filled, n_t):
        t_strata[i] = -1              # enrolment could not fill the cohort
    t_slope = (tr[:, H.TC_ALSFRS_PRE] - tr[:, H.TC_ALSFRS_0]) / 6.0
    policy = np.int64(dvec[D_POLICY])
    if policy == WORST:
        # the analyst who peeks: badness = shortest survival from baseline
        allo = np.empty((pool.shape[0], H.N_PO))
        H.pool_outcomes(theta, pkeys, allo)
        badness = -allo[:, H.PO_TIME_DAYS]
    else:
        badness = np.empty(0)
    midx, n_unm = match_prepared(t_strata, t_slope, perm, s_stratum, s_slope, dvec[D_CALIPER],
                                 policy, np.int64(dvec[D_ORDER]), derive(rkey, H.STREAM_DESIGN),
                                 badness)
    m = 0
    for i in range(n_t):
        if midx[i] >= 0:
            m += 1
    ti = np.empty(m, dtype=np.int64)
    ri = np.empty(m, dtype=np.int64)
    j = 0
    for i in range(n_t):
        if midx[i] >= 0:
            ti[j] = i
            ri[j] = midx[i]
            j += 1
    po = np.empty((m, H.N_PO))
    H.pool_outcomes(theta, pkeys[ri], po)

    time = np.empty(2 * m)
    event = np.empty(2 * m, dtype=np.int64)
    scores = np.empty((2 * m, 5))
    t_sex = np.empty(m, dtype=np.int64)
    t_age = np.empty(m)
    t_ft9 = np.empty(m, dtype=np.int64)
    t_onset = np.empty(m, dtype=np.int64)
    t_ril = np.empty(m, dtype=np.int64)
    n_s0 = 0
    n_s03 = 0
    n_a5 = 0
    n_a10 = 0
    su_t = 0.0
    su_r = 0.0
    sp_t = 0.0
    sp_r = 0.0
    for q in range(m):
        a = tr[ti[q]]
        b = pool[ri[q]]
        o = po[q]
        time[q] = a[H.TC_TIME_DAYS]
        event[q] = np.int64(a[H.TC_EVENT])
        time[m + q] = o[H.PO_TIME_DAYS]
        event[m + q] = np.int64(o[H.PO_EVENT])
        scores[q, 0] = a[H.TC_ALSFRS_PRE]
        scores[q, 1] = a[H.TC_ALSFRS_0]
        scores[q, 2] = a[H.TC_ALSFRS_2]
        scores[q, 3] = a[H.TC_ALSFRS_4]
        scores[q, 4] = a[H.TC_ALSFRS_6]
        scores[m + q, 0] = b[H.PB_ALSFRS_PRE]
        scores[m + q, 1] = b[H.PB_ALSFRS_0]
        scores[m + q, 2] = o[H.PO_ALSFRS_2]
        scores[m + q, 3] = o[H.PO_ALSFRS_4]
        scores[m + q, 4] = o[H.PO_ALSFRS_6]
        t_sex[q] = np.int64(a[H.TC_SEX])
        t_age[q] = a[H.TC_AGE]
        t_ft9[q] = np.int64(a[H.TC_FT9])
        t_onset[q] = np.int64(a[H.TC_ONSET])
        t_ril[q] = np.int64(a[H.TC_RILUZOLE])
        ds = abs(t_slope[ti[q]] - b[H.PB_PRE_SLOPE])
        if ds < 1e-9:
            n_s0 += 1
        if ds <= 0.3 + 1e-9:
            n_s03 += 1
        da = abs(a[H.TC_AGE] - b[H.PB_AGE])
        if da <= 5.0:
            n_a5 += 1
        if da <= 10.0:
            n_a10 += 1
        su_t += a[H.TC_U]
        su_r += b[H.PB_U]
        sp_t += t_slope[ti[q]]
        sp_r += b[H.PB_PRE_SLOPE]
    A.analyze_pairs(time, event, scores, t_sex, t_age, t_ft9, t_onset, t_ril,
                    dvec[D_FIRTH] > 0.5, out[:A.N_FIELDS])
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
    out[O_POOL_MATCHABLE] = perm.shape[0]
    out[O_STATUS] = st.OK if m > 0 else st.NOTHING_MATCHED
    return ti, ri, po


@njit(cache=True)
def run_chunk(theta, dvec, seed, condition, start, stop, out):
    """Replicates start..stop-1 of a condition into out (stop - start, N_OUT).

    The pool is regenerated only when the replicate's pool key changes (per
    replicate, per block or once per condition), which gives the same numbers as
    regenerating it every time."""
    n_t = np.int64(dvec[D_N_TREATED])
    n_p = np.int64(dvec[D_POOL_SIZE])
    policy = np.int64(dvec[D_POOL_POLICY])
    block = np.int64(dvec[D_BLOCK_SIZE])
    pool = np.empty((n_p, H.N_PB))
    pkeys = np.empty(n_p, dtype=np.uint64)
    tr = np.empty((n_t, H.N_TC))
    twin = np.empty((n_t, H.N_TC))
    have = False
    cur = np.uint64(0)
    strata = np.empty(0, dtype=np.int64)
    slope = np.empty(0)
    perm = np.empty(0, dtype=np.int64)
    s_stratum = np.empty(0, dtype=np.int64)
    s_slope = np.empty(0)
    for r in range(stop - start):
        k = start + r
        pk = H.pool_key(np.uint64(seed), np.uint64(condition), np.uint64(k), policy, block)
        if not have or pk != cur:
            strata, slope = _make_pool(theta, dvec, pk, pool, pkeys)
            perm, s_stratum, s_slope = prepare_pool(strata, slope)
            cur = pk
            have = True
        replicate(theta, dvec, np.uint64(seed), np.uint64(condition), np.uint64(k), pool, pkeys,
                  strata, slope, perm, s_stratum, s_slope, tr, twin, out[r])
