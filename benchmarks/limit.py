"""The limit: the random numbers and the arithmetic one replicate needs at minimum.

A replicate of the seed design cannot do less than
  * enrolment: for every applicant the draws that decide whether they are
    enrolled, for every enrolled patient the draws of their observations;
  * the registry: once per pool (amortised to nothing with a fixed pool); with
    a fresh pool, every candidate's inclusion draws and every member's
    baseline (the visits at -6 and 0 months, the death time);
  * the outcomes of the matched reference patients (fixed pool: computed once
    per pool member; fresh pool: per replicate);
  * matching: a search per treated patient in its stratum;
  * the analysis: one sort of the survival times, the Newton iterations of Cox
    and of the logistic model (as many as the real fits take; score and
    information only, no log-likelihood), one pass for KM
    and the four weighted log-rank statistics, the signed-rank sort, the OLS
    normal equations, the six 2 x 3 tables and their p-values.
Counted in units the model uses: key derivations (SplitMix64 twice), uniforms
(SplitMix64 once), normal quantiles (qnorm), exp / log, rated visits (four
domains clipped and rounded).  How many of each a replicate needs is counted
from the model's own gates (replay_* below, on the same replicates), and the
limit kernels do exactly that much work, arranged for speed (structure of
arrays, so the hashing vectorises), with no branches on the data beyond the
model's, no storage beyond a checksum.  The counterfactual twins are not part
of a replicate's minimum (they serve the truth, not the design's report).
"""
import math

import numpy as np
from numba import njit

from simkit.kernels import history as H
from simkit.kernels import replicate as R
from simkit.kernels._cacheguard import guard
from simkit.kernels.cox import cox_binary
from simkit.kernels.logistic import logistic_fit
from simkit.kernels.rng import derive, uniform

# the cached kernels below inline simkit's: stale once those change, so clear them then
guard(__file__)

# work per stage: (key derivations, uniforms, normal quantiles, exp/log, rated visits)
STAGE_WORK = {
    # applicants
    "applicant_inclusion": (2, 8, 4, 2, 0),   # key j, BASE; covariates, u, rate, duration
    "applicant_visits": (2, 8, 2, 0, 2),      # TRAJ, NOISE; shares, limb; visits -6 and 0
    "applicant_accept": (0, 2, 1, 1, 0),      # retrospective noise, acceptance draw
    "applicant_survival": (1, 3, 2, 5, 0),    # SURV; log HR, rate change, death time
    "enrolled_observed": (0, 13, 3, 1, 3),    # visits 2, 4, 6; enrolment date, loss, ascertainment
    # registry candidates (fresh pool)
    "candidate_inclusion": (2, 8, 4, 2, 0),
    "candidate_entry": (2, 5, 1, 0, 1),       # TRAJ, NOISE; shares, limb; entry visit
    "member_baseline": (1, 9, 2, 5, 2),       # SURV; trial length, dropout, death; visits b0-6, b0
    # matched reference patients
    "reference_outcomes": (3, 11, 3, 1, 3),   # BASE, TRAJ, NOISE; visits b0+2, 4, 6; follow-up
}


# ------------------------------------------------------------------ counting

@njit(cache=True)
def replay_applicants(theta, key, n_appl, counts):
    """Count how far each of the first n_appl applicants of a replicate gets
    through the enrolment gates (the model's own functions and order)."""
    st = np.empty(H.N_S)
    pop = np.empty(H.N_POP)
    H.population(theta, theta[H.CASE_MIX], pop)
    k = np.empty(H.N_K)
    H.prepare_constants(theta, k)
    ub = np.empty(H.N_UB_POOL)
    for j in range(n_appl):
        ak = derive(key, j)
        kb = derive(ak, H.PURPOSE_BASE)
        for c in range(H.N_UB_POOL):
            ub[c] = uniform(kb, c)
        H.draw_base(theta, pop, ub, st)
        counts[0] += 1
        if st[H.S_AGE] < pop[H.F_AGE_MIN] or st[H.S_AGE] > pop[H.F_AGE_MAX] or st[H.S_D] > pop[H.F_MAX_DURATION]:
            continue
        counts[1] += 1
        H.draw_shares(theta, ub, st)
        H.draw_course(theta, ak, -6.0, 6.0, st)      # time zero as published (no lead)
        tk = derive(ak, H.PURPOSE_TRAJ)
        nk = derive(ak, H.PURPOSE_NOISE)
        rsd = theta[H.RATER_SD]
        w_pre = H.ou_first(theta, uniform(tk, 0))
        pre = H.rate_visit(st, H.loss_at(st, -6.0, w_pre, st[H.S_R]), uniform(nk, 0), uniform(nk, 1), rsd)[0]
        w0 = H.ou_step(w_pre, k[H.K_RHO6], k[H.K_SIG6], uniform(tk, 6))
        s0, ft9, resp0, true0 = H.rate_visit(st, H.loss_at(st, 0.0, w0, st[H.S_R]), uniform(nk, 12),
                                             uniform(nk, 13), rsd)
        if s0 < pop[H.F_MIN_SCORE] or resp0 < pop[H.F_MIN_RESP]:
            continue
        counts[2] += 1
        pre_rec = pre
        if theta[H.RETRO_NOISE] > 0.0:
            pre_rec = H.clip48(H.round_half_up(pre + theta[H.RETRO_NOISE] * H.std_normal(kb, 24)))
        slope = (pre_rec - s0) / 6.0
        x = theta[H.SELF_SELECTION] * st[H.S_U] + theta[H.REGRESSION_TO_MEAN] * (slope - H.ENROL_LOGIT_SLOPE_REF)
        if uniform(kb, 18) * (1.0 + math.exp(-x)) >= 1.0:
            continue
        counts[3] += 1


@njit(cache=True)
def replay_pool(theta, key, n_cand, counts):
    """Count how far each of a pool's n_cand candidates gets (inclusion by age
    and duration, by the entry visit; members)."""
    st = np.empty(H.N_S)
    res = np.empty(H.N_RES)
    k = np.empty(H.N_K)
    H.prepare_constants(theta, k)
    pop = theta[H.REG0:H.REG0 + H.N_POP]
    ub = np.empty(H.N_UB_POOL)
    uv = np.empty(H.N_UV_POOL)
    ib0 = int(theta[H.REF_BASELINE_MONTH])
    for j in range(n_cand):
        pk = derive(key, j)
        H._pool_draws(pk, ib0, ub, uv)
        H.draw_base(theta, pop, ub, st)
        counts[0] += 1
        if st[H.S_AGE] < pop[H.F_AGE_MIN] or st[H.S_AGE] > pop[H.F_AGE_MAX] or st[H.S_D] > pop[H.F_MAX_DURATION]:
            continue
        counts[1] += 1
        H._pool_core(k, theta, pop, ub, uv, st, res, pk, False)
        if res[0] > 0.5:
            counts[2] += 1


def iterations(time, event, scores, m):
    """Newton iterations the real Cox and logistic fits take on one matched table."""
    x = np.r_[np.ones(m), np.zeros(m)]
    ok = np.isfinite(time) & (event >= 0)
    keep = ok[:m] & ok[m:]
    tt = np.r_[time[:m][keep], time[m:][keep]]
    ee = np.r_[event[:m][keep], event[m:][keep]].astype(np.int64)
    xx = np.r_[x[:m][keep], x[m:][keep]]
    cox_it = cox_binary(tt, ee, xx, False)[3] if len(tt) else 0
    d6 = (scores[:m, 4] - scores[:m, 1]) - (scores[m:, 4] - scores[m:, 1])
    e = (scores[:m, 2] - scores[:m, 1]) - (scores[m:, 2] - scores[m:, 1])
    use = np.isfinite(d6) & np.isfinite(e)
    y = (d6[use] <= 3).astype(np.float64)
    X = np.column_stack([np.ones(use.sum()), e[use]])
    log_it = logistic_fit(X, y, False)[2] if use.sum() > 2 else 0
    return cox_it, log_it


# ------------------------------------------------------------------ the work

@njit(cache=True, inline="always")
def _draws(key0, n, n_keys, n_unif, n_q, n_exp, kbuf, ubuf):
    """n patients: n_keys derivations and n_unif uniforms each (vectorised
    loops over patients), n_q normal quantiles and n_exp exp/log of them."""
    s = 0.0
    if n == 0:
        return s
    for i in range(n):
        kbuf[i] = derive(key0, i)
    for r in range(1, n_keys):
        for i in range(n):
            kbuf[i] = derive(kbuf[i], r)
    for c in range(n_unif):
        for i in range(n):
            ubuf[i] = uniform(kbuf[i], c)
        if c < n_q:
            for i in range(n):
                s += H.qnorm(ubuf[i])
        elif c < n_q + n_exp:
            for i in range(n):
                s += math.log(ubuf[i])
    for c in range(n_unif, n_q + n_exp):   # more transforms than uniforms
        for i in range(n):
            s += math.exp(-ubuf[i] * c)
    return s


@njit(cache=True, inline="always")
def _visits(n, st, ubuf):
    s = 0.0
    for i in range(n):
        tot, ft9, resp, tt = H.rate_visit(st, 10.0 + 20.0 * ubuf[i], ubuf[i], 1.0 - ubuf[i], 0.68)
        s += tot + ft9
    return s


@njit(cache=True)
def work(key, stage_counts, stage_work, st, kbuf, ubuf):
    """The draws and transforms of one replicate's world: stage_counts[s]
    patients do stage_work[s] = (keys, uniforms, quantiles, exp/log, visits)."""
    s = 0.0
    for g in range(stage_counts.shape[0]):
        n = stage_counts[g]
        w = stage_work[g]
        s += _draws(derive(key, g), n, w[0], w[1], w[2], w[3], kbuf, ubuf)
        for v in range(w[4]):
            s += _visits(n, st, ubuf)
    return s


@njit(cache=True)
def analysis(time, event, scores, m, cox_it, log_it):
    """The analysis' minimum arithmetic on one matched table of m pairs."""
    n2 = 2 * m
    s = 0.0
    order = np.argsort(time[:n2])
    # Cox: per Newton iteration one exp(b) and, per death, the score and
    # information terms (Newton needs no log-likelihood)
    b = 0.1
    for it in range(cox_it):
        eb = math.exp(b)
        r1 = float(m)
        r0 = float(m)
        u = 0.0
        info = 0.0
        for q in range(n2 - 1, -1, -1):
            i = order[q]
            if event[i] == 1:
                den = r1 * eb + r0
                p = r1 * eb / den
                u += (1.0 if i < m else 0.0) - p
                info += p * (1.0 - p)
            if i < m:
                r1 -= 1.0
            else:
                r0 -= 1.0
        b += u / max(info, 1e-12)
    s += b + math.erfc(abs(b))
    # KM (both arms) and the four weighted log-rank statistics in one pass
    r = float(n2)
    r1 = float(m)
    km1 = 1.0
    km0 = 1.0
    peto = 1.0
    u4 = np.zeros(4)
    v4 = np.zeros(4)
    for q in range(n2):
        i = order[q]
        if event[i] == 1:
            e1 = r1 / r
            km1 *= 1.0 - (1.0 / r1 if i < m and r1 > 0 else 0.0)
            km0 *= 1.0 - (1.0 / (r - r1) if i >= m and r > r1 else 0.0)
            peto *= 1.0 - 1.0 / (r + 1.0)
            ws = (1.0, r, math.sqrt(r), peto)
            o = (1.0 if i < m else 0.0) - e1
            vv = e1 * (1.0 - e1)
            for w in range(4):
                u4[w] += ws[w] * o
                v4[w] += ws[w] * ws[w] * vv
        if i < m:
            r1 -= 1.0
        r -= 1.0
    for w in range(4):
        s += math.erfc(math.sqrt(0.5 * u4[w] * u4[w] / max(v4[w], 1e-12)))
    s += km1 + km0
    # classes and the early-response logistic model
    e = np.empty(m)
    y = np.empty(m)
    dd = np.empty(m)
    for i in range(m):
        d = (scores[i, 4] - scores[i, 1]) - (scores[m + i, 4] - scores[m + i, 1])
        y[i] = 0.0 if d > 3.0 else 1.0
        e[i] = (scores[i, 2] - scores[i, 1]) - (scores[m + i, 2] - scores[m + i, 1])
        dd[i] = abs(scores[i, 0] - 2.0 * scores[i, 1] + scores[i, 4])
    b0 = 0.0
    b1 = 0.0
    for it in range(log_it):
        g0 = 0.0
        g1 = 0.0
        h00 = 0.0
        h01 = 0.0
        h11 = 0.0
        for i in range(m):
            if e[i] == e[i]:
                eta = b0 + b1 * e[i]
                ex = math.exp(-abs(eta))
                p = 1.0 / (1.0 + ex) if eta >= 0 else ex / (1.0 + ex)
                w = p * (1.0 - p)
                g0 += y[i] - p
                g1 += (y[i] - p) * e[i]
                h00 += w
                h01 += w * e[i]
                h11 += w * e[i] * e[i]
        det = h00 * h11 - h01 * h01
        if det > 0:
            b0 += (h11 * g0 - h01 * g1) / det
            b1 += (h00 * g1 - h01 * g0) / det
    s += math.erfc(abs(b1))
    # signed rank: sort |D|, rank sums, normal approximation
    o2 = np.argsort(dd)
    rs = 0.0
    for q in range(m):
        rs += (q + 1.0) * (1.0 if dd[o2[q]] > 0 else 0.0)
    s += math.erfc(rs / (m * (m + 1.0)))
    # OLS normal equations (3 x 3) and a t-tail (here a normal tail)
    a = np.zeros((3, 4))
    for i in range(n2):
        x1 = 1.0 if i < m else 0.0
        x2 = (scores[i, 0] - scores[i, 1]) / 6.0
        yy = (scores[i, 1] - scores[i, 4]) / 6.0
        row = (1.0, x1, x2, yy)
        for p in range(3):
            for q in range(4):
                a[p, q] += row[p] * row[q]
    s += a[1, 3] / max(a[1, 1], 1.0) + math.erfc(a[2, 3] / max(a[2, 2], 1.0))
    # subgroups: six 2 x 3 tables, chi-square with 2 df: p = exp(-x / 2)
    for f in range(6):
        t = np.zeros((2, 3))
        for i in range(m):
            lv = 1 if scores[i, f % 5] > 30.0 else 0
            c = 0 if y[i] == 0.0 else (1 if e[i] > -3.0 else 2)
            t[lv, c] += 1.0
        x2 = 0.0
        nn = t.sum()
        for p in range(2):
            for q in range(3):
                ex = (t[p, 0] + t[p, 1] + t[p, 2]) * (t[0, q] + t[1, q]) / max(nn, 1.0)
                if ex > 0:
                    x2 += (t[p, q] - ex) ** 2 / ex
        s += math.exp(-0.5 * x2)
    return s


@njit(cache=True)
def matching(t_slope, s_slope):
    """A bisection per treated patient in a sorted stratum of candidates."""
    s = 0
    for i in range(t_slope.shape[0]):
        lo = 0
        hi = s_slope.shape[0]
        t = t_slope[i]
        while lo < hi:
            mid = (lo + hi) >> 1
            if s_slope[mid] < t:
                lo = mid + 1
            else:
                hi = mid
        s += lo
    return s


@njit(cache=True)
def limit_loop(keys, stage_counts, stage_work, st, times, events, scores, ms, cox_its, log_its,
               t_slopes, s_slope, reps, parts=7):
    """`reps` passes over the replicates: world work (parts & 1), matching
    (parts & 2), analysis (parts & 4)."""
    nmax = 0
    for r in range(stage_counts.shape[0]):
        for g in range(stage_counts.shape[1]):
            nmax = max(nmax, stage_counts[r, g])
    kbuf = np.empty(nmax, np.uint64)
    ubuf = np.empty(nmax)
    s = 0.0
    for _ in range(reps):
        for r in range(keys.shape[0]):
            if parts & 1:
                s += work(keys[r], stage_counts[r], stage_work, st, kbuf, ubuf)
            if parts & 2:
                s += matching(t_slopes[r], s_slope)
            if parts & 4:
                s += analysis(times[r], events[r], scores[r], ms[r], cox_its[r], log_its[r])
    return s
