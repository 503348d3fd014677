"""The registry pool (PRO-ACT-like trial participants): matching variables and outcomes.

A pool candidate is drawn from the registry population, kept if it meets the
trial inclusion criteria, and followed in the trial (visits, dropout, death);
its reference baseline is trial month ref_baseline_month with a pre visit 6
months before.  Matching needs only the baseline part (pool_baseline);
outcomes after the baseline are computed on demand for the matched members
(pool_outcomes), from the same per-patient keys.
"""

import math

import numpy as np
from numba import njit

from .rng import derive, uniform
from .layout import (N_PB, REFERENCE_DEATH_SELECTION, _C_DEATH_SELECT, DAYS_PER_MONTH, DIFFERENTIAL_FOLLOWUP, DROPOUT_RATE, FOLLOWUP_YEARS_MAX,
    FOLLOWUP_YEARS_MIN, F_AGE_MAX, F_AGE_MIN, F_MAX_DURATION, F_MIN_RESP, F_MIN_SCORE,
    IMMORTAL_TIME_REFERENCE, K_LAST_VISIT, K_RHO2, K_RHO6, K_SIG2, K_SIG6, K_STAY_B0, K_STAY_LAST,
    N_K, N_POP, N_S, PB_AGE, PB_ALSFRS_0, PB_ALSFRS_PRE, PB_DURATION, PB_ELIGIBLE,
    PB_ENTRY_SCORE, PB_FT9, PB_ONSET, PB_PRE_SLOPE, PB_RACE, PB_RATE, PB_RILUZOLE, PB_SEX, PB_U,
    PO_ALSFRS_2, PO_DEATH_DAYS, PO_EVENT, PO_TIME_DAYS, PO_TRUE_0, PO_TRUE_6, PURPOSE_BASE,
    PURPOSE_NOISE, PURPOSE_RETEST, PURPOSE_SURV, PURPOSE_TRAJ, RATER_SD, REF_BASELINE_MONTH, REG0,
    S_AGE, S_BULBAR, S_D, S_MALE, S_R, S_RIL, S_U, S_WHITE, TRIAL_MONTHS_MAX, TRIAL_MONTHS_MIN,
    N_UB_POOL, WIGGLE_MONTHS, WIGGLE_SD, _C_DROPOUT, _C_FU_KIND, _C_FU_LEN, _C_TRIAL_LEN)
from .patient import (death_time, draw_base, draw_course, draw_shares, loss_at, ou_first, ou_next, ou_step,
    prepare_constants, rate_visit, rate_visit_domains, stay_threshold)

# ------------------------------------------------------------ registry pool

# visit draws part (a) of a pool candidate needs besides its BASE counters
# 0 .. N_UB_POOL - 1 (TRAJ slot m = trial month; NOISE counters 2m, 2m + 1)
V_T0, V_TPRE, V_TB0, V_N0A, V_N0B, V_NPREA, V_NPREB, V_NB0A, V_NB0B, V_S = range(10)
V_FU_KIND, V_FU_LEN, V_SELECT = 10, 11, 12   # drawn only for reference selection on recorded death
N_UV_POOL = 13
N_RES = 12
# pool_monthly's last trial month: the course is drawn to max(this, reference baseline + 6),
# past every pool visit
POOL_MONTHLY_LAST = 18


@njit(cache=True, error_model="numpy")
def _pool_draws(pk, ib0, ub, uv):
    """The uniforms of pool candidate pk's part (a), one patient at a time."""
    kb = derive(pk, PURPOSE_BASE)
    tk = derive(pk, PURPOSE_TRAJ)
    nk = derive(pk, PURPOSE_NOISE)
    for c in range(N_UB_POOL):
        ub[c] = uniform(kb, c)
    m_pre = ib0 - 6
    uv[V_T0] = uniform(tk, 0)
    uv[V_TPRE] = uniform(tk, m_pre)
    uv[V_TB0] = uniform(tk, ib0)
    uv[V_N0A] = uniform(nk, 0)
    uv[V_N0B] = uniform(nk, 1)
    uv[V_NPREA] = uniform(nk, 2 * m_pre)
    uv[V_NPREB] = uniform(nk, 2 * m_pre + 1)
    uv[V_NB0A] = uniform(nk, 2 * ib0)
    uv[V_NB0B] = uniform(nk, 2 * ib0 + 1)
    uv[V_S] = uniform(derive(pk, PURPOSE_SURV), 0)
    uv[V_FU_KIND] = uniform(kb, _C_FU_KIND)
    uv[V_FU_LEN] = uniform(kb, _C_FU_LEN)
    uv[V_SELECT] = uniform(kb, _C_DEATH_SELECT)


@njit(cache=True, error_model="numpy")
def _pool_draws_block(key, j0, ib0, pks, ubs, uvs, selecting):
    """_pool_draws for candidates j0 .. j0 + len(pks) - 1, loop by loop so the
    compiler can vectorise across patients (the same numbers, drawn faster)."""
    nb = pks.shape[0]
    kb = np.empty(nb, np.uint64)
    tk = np.empty(nb, np.uint64)
    nk = np.empty(nb, np.uint64)
    sk = np.empty(nb, np.uint64)
    for i in range(nb):
        pks[i] = derive(key, j0 + i)
    for i in range(nb):
        kb[i] = derive(pks[i], PURPOSE_BASE)
        tk[i] = derive(pks[i], PURPOSE_TRAJ)
        nk[i] = derive(pks[i], PURPOSE_NOISE)
        sk[i] = derive(pks[i], PURPOSE_SURV)
    for c in range(N_UB_POOL):
        for i in range(nb):
            ubs[i, c] = uniform(kb[i], c)
    m_pre = ib0 - 6
    for i in range(nb):
        uvs[i, V_T0] = uniform(tk[i], 0)
        uvs[i, V_TB0] = uniform(tk[i], ib0)
    for i in range(nb):
        uvs[i, V_N0A] = uniform(nk[i], 0)
        uvs[i, V_N0B] = uniform(nk[i], 1)
        uvs[i, V_NB0A] = uniform(nk[i], 2 * ib0)
        uvs[i, V_NB0B] = uniform(nk[i], 2 * ib0 + 1)
    if m_pre > 0:      # else the pre visit is the entry visit
        for i in range(nb):
            uvs[i, V_TPRE] = uniform(tk[i], m_pre)
            uvs[i, V_NPREA] = uniform(nk[i], 2 * m_pre)
            uvs[i, V_NPREB] = uniform(nk[i], 2 * m_pre + 1)
    for i in range(nb):
        uvs[i, V_S] = uniform(sk[i], 0)
    if selecting:     # the draws reference selection on recorded death needs
        for i in range(nb):
            uvs[i, V_FU_KIND] = uniform(kb[i], _C_FU_KIND)
            uvs[i, V_FU_LEN] = uniform(kb[i], _C_FU_LEN)
            uvs[i, V_SELECT] = uniform(kb[i], _C_DEATH_SELECT)


@njit(cache=True, inline="always", error_model="numpy")
def followup_end(theta, trial_len, u_drop, u_kind, u_len):
    """Months after trial entry at which a registry patient's survival follow-up
    ends: with the trial (or the dropout) for a share differential_followup,
    else followup_years_min..max after entry."""
    if u_kind < theta[DIFFERENTIAL_FOLLOWUP]:
        c_entry = trial_len
        rate = theta[DROPOUT_RATE]
        if rate > 0.0:
            c_entry = min(trial_len, -math.log(u_drop) / rate)
        return c_entry
    fy0 = theta[FOLLOWUP_YEARS_MIN]
    return 12.0 * (fy0 + u_len * (theta[FOLLOWUP_YEARS_MAX] - fy0))


@njit(cache=True, inline="always", error_model="numpy")
def _pool_core(k, theta, pop, ub, uv, ps, res, pk, all_visits):
    """Everything about a pool candidate up to the reference baseline, from its
    uniforms (ub, uv: _pool_draws).

    res: 0 included (1/0), 1 eligible, 2 entry score, 3 pre score, 4 score at
    baseline, 5 FT9 at baseline, 6 trial months, 7 dropout uniform, 8 death
    (months since onset), 9 w at baseline, 10 true total at baseline,
    11 baseline visit happened (1/0).  Without all_visits, an included
    candidate whose baseline visit did not happen has no course and NaN in
    3, 4, 5, 9, 10 (pool_baseline does not use them).
    """
    draw_base(theta, pop, ub, ps)
    res[0] = 0.0
    res[1] = 0.0
    res[11] = 0.0
    age = ps[S_AGE]
    if age < pop[F_AGE_MIN] or age > pop[F_AGE_MAX] or ps[S_D] > pop[F_MAX_DURATION]:
        return
    draw_shares(theta, ub, ps)
    rsd = theta[RATER_SD]
    r = ps[S_R]
    b0 = theta[REF_BASELINE_MONTH]
    w_entry = ou_first(theta, uv[V_T0])
    entry, _ft9e, resp_e, _te = rate_visit(ps, loss_at(ps, 0.0, w_entry, r), uv[V_N0A], uv[V_N0B], rsd)
    res[2] = entry
    if entry < pop[F_MIN_SCORE] or resp_e < pop[F_MIN_RESP]:
        return
    res[0] = 1.0
    # trial conduct and death (they do not depend on the course)
    tmin = theta[TRIAL_MONTHS_MIN]
    trial_len = tmin + math.floor(ub[_C_TRIAL_LEN] * (theta[TRIAL_MONTHS_MAX] - tmin + 1.0))
    u_drop = ub[_C_DROPOUT]
    t_death = death_time(k, theta, ps, 0.0, -math.log(uv[V_S]))
    res[6] = trial_len
    res[7] = u_drop
    res[8] = t_death
    d = ps[S_D]
    # visits at pre and baseline; with immortal time M, alive and in the trial
    # at b0 + M (then the visits at b0 + 2, 4, 6 up to M exist too)
    seen = not (b0 > trial_len or u_drop >= k[K_STAY_B0] or t_death <= d + b0)
    if seen or all_visits:
        # the course after the entry visit (its anchor: the entry, so inclusion is unchanged)
        draw_course(theta, pk, 0.0, max(theta[REF_BASELINE_MONTH] + 6.0, float(POOL_MONTHLY_LAST)), ps)
        # reference pre visit (trial month b0 - 6) and baseline (b0)
        m_pre = b0 - 6.0
        if m_pre == 0.0:
            w_pre = w_entry
            pre = entry
        else:
            w_pre = ou_next(theta, w_entry, m_pre, uv[V_TPRE])
            pre, _f, _r, _t = rate_visit(ps, loss_at(ps, m_pre, w_pre, r), uv[V_NPREA], uv[V_NPREB], rsd)
        w0 = ou_step(w_pre, k[K_RHO6], k[K_SIG6], uv[V_TB0])
        s0, ft9, _r0, true0 = rate_visit(ps, loss_at(ps, b0, w0, r), uv[V_NB0A], uv[V_NB0B], rsd)
        res[3] = pre
        res[4] = s0
        res[5] = ft9
        res[9] = w0
        res[10] = true0
    else:
        for c in (3, 4, 5, 9, 10):
            res[c] = np.nan
    if not seen:
        return
    res[11] = 1.0
    m_need = b0 + theta[IMMORTAL_TIME_REFERENCE]
    if m_need > b0:
        if k[K_LAST_VISIT] > trial_len or u_drop >= k[K_STAY_LAST] or t_death <= d + m_need:
            return
    # reference selection on recorded death: a candidate whose death the
    # registry never records (alive at the end of its survival follow-up) is
    # removed with this probability
    p_sel = theta[REFERENCE_DEATH_SELECTION]
    if p_sel > 0.0 and uv[V_SELECT] < p_sel:
        if t_death - d > followup_end(theta, trial_len, u_drop, uv[V_FU_KIND], uv[V_FU_LEN]):
            return
    res[1] = 1.0


@njit(cache=True, error_model="numpy")
def pool_baseline(theta, key, out, keys):
    """Fill the registry pool's matching variables: out (n, N_PB), keys (n,) uint64.

    Candidates derive(key, j), j = 0, 1, ... are drawn from the registry
    population and kept when they meet the trial inclusion criteria (age range,
    duration at entry, observed entry score and respiratory domain); kept
    patient i's key is keys[i].  Returns (rows filled, candidates drawn);
    fewer rows than n only if 1000 n candidates did not suffice (then the rows
    left are NaN and not eligible: nobody matches them).
    """
    n = out.shape[0]
    ps = np.empty(N_S)
    res = np.empty(N_RES)
    k = np.empty(N_K)
    prepare_constants(theta, k)
    pop = theta[REG0:REG0 + N_POP]
    b0 = theta[REF_BASELINE_MONTH]
    ib0 = int(b0)
    selecting = theta[REFERENCE_DEATH_SELECTION] > 0.0
    nb = 128
    pks = np.empty(nb, np.uint64)
    ubs = np.empty((nb, N_UB_POOL))
    uvs = np.empty((nb, N_UV_POOL))
    ub = np.empty(N_UB_POOL)
    uv = np.empty(N_UV_POOL)
    filled = np.int64(0)  # typed: a literal 0 would compile the callee twice
    j = np.int64(0)
    cap = 1000 * n + 1000
    i = nb
    while filled < n and j < cap:
        if i == nb:
            # draw the uniforms of the next block of candidates loop by loop
            # (vectorised); then run the model on them one patient at a time
            _pool_draws_block(key, j, ib0, pks, ubs, uvs, selecting)
            i = 0
        pk = pks[i]
        # copied, not ubs[i] / uvs[i]: a view costs two atomic reference-count
        # updates, more than these copies
        for c in range(N_UB_POOL):
            ub[c] = ubs[i, c]
        for c in range(N_UV_POOL):
            uv[c] = uvs[i, c]
        _pool_core(k, theta, pop, ub, uv, ps, res, pk, False)
        i += 1
        j += 1
        if res[0] < 0.5:
            continue
        out[filled, PB_SEX] = ps[S_MALE]
        out[filled, PB_RACE] = 1.0 - ps[S_WHITE]
        out[filled, PB_ONSET] = ps[S_BULBAR]
        out[filled, PB_RILUZOLE] = ps[S_RIL]
        out[filled, PB_AGE] = ps[S_AGE] + b0 / 12.0
        out[filled, PB_ENTRY_SCORE] = res[2]
        out[filled, PB_U] = ps[S_U]
        out[filled, PB_RATE] = ps[S_R]
        out[filled, PB_DURATION] = ps[S_D]
        if res[11] > 0.5:
            out[filled, PB_ALSFRS_PRE] = res[3]
            out[filled, PB_ALSFRS_0] = res[4]
            out[filled, PB_FT9] = res[5]
            out[filled, PB_PRE_SLOPE] = (res[3] - res[4]) / 6.0
        else:   # no baseline visit (dead, dropped out): nothing to match on
            out[filled, PB_ALSFRS_PRE] = np.nan
            out[filled, PB_ALSFRS_0] = np.nan
            out[filled, PB_FT9] = np.nan
            out[filled, PB_PRE_SLOPE] = np.nan
        out[filled, PB_ELIGIBLE] = res[1]
        keys[filled] = pk
        filled += 1
    # cap hit: rows never filled must not hold stale memory that could match
    for r in range(filled, n):
        for c in range(N_PB):
            out[r, c] = np.nan
        out[r, PB_ELIGIBLE] = 0.0
        keys[r] = 0
    return filled, j


@njit(cache=True, inline="always")
def _pool_scratch(theta):
    """Scratch arrays and constants of a pass over pool patients by key:
    (ps, res, k, pop, b0, int(b0), rater_sd, ub, uv)."""
    k = np.empty(N_K)
    prepare_constants(theta, k)
    b0 = theta[REF_BASELINE_MONTH]
    return (np.empty(N_S), np.empty(N_RES), k, theta[REG0:REG0 + N_POP], b0, int(b0), theta[RATER_SD],
            np.empty(N_UB_POOL), np.empty(N_UV_POOL))


@njit(cache=True, error_model="numpy")
def pool_outcomes(theta, keys, out):
    """Outcomes after the reference baseline for pool patients `keys`: out (m, N_PO).

    ALSFRS-R at baseline + 2, 4, 6 (NaN where no visit: dead, dropped out or
    the trial ended), survival from the baseline in days with the event
    indicator (follow-up ends with the trial, or at dropout, for a share
    differential_followup, else followup_years_min..max after entry), the true
    death time and the latent totals at baseline and baseline + 6.  A patient's
    row depends only on its key, so any subset gives the same rows as the whole
    pool.
    """
    m = keys.shape[0]
    ps, res, k, pop, b0, ib0, rsd, ub, uv = _pool_scratch(theta)
    for i in range(m):
        pk = keys[i]
        _pool_draws(pk, ib0, ub, uv)
        _pool_core(k, theta, pop, ub, uv, ps, res, pk, True)
        trial_len = res[6]
        u_drop = res[7]
        t_death = res[8]
        d = ps[S_D]
        r = ps[S_R]
        tk = derive(pk, PURPOSE_TRAJ)
        nk = derive(pk, PURPOSE_NOISE)
        w = res[9]
        true6 = np.nan
        for v in range(3):
            mo = ib0 + 2 * (v + 1)
            w = ou_step(w, k[K_RHO2], k[K_SIG2], uniform(tk, mo))
            tot, _f, _r, tt = rate_visit(ps, loss_at(ps, float(mo), w, r),
                                         uniform(nk, 2 * mo), uniform(nk, 2 * mo + 1), rsd)
            if v == 2:
                true6 = tt
            if mo <= trial_len and u_drop < stay_threshold(theta, float(mo)) and t_death > d + mo:
                out[i, PO_ALSFRS_2 + v] = tot
            else:
                out[i, PO_ALSFRS_2 + v] = np.nan
        out[i, PO_TRUE_0] = res[10]
        out[i, PO_TRUE_6] = true6
        kb = derive(pk, PURPOSE_BASE)
        c_entry = followup_end(theta, trial_len, u_drop, uniform(kb, _C_FU_KIND), uniform(kb, _C_FU_LEN))
        dt = t_death - (d + b0)
        c = c_entry - b0
        out[i, PO_DEATH_DAYS] = dt * DAYS_PER_MONTH
        if dt <= 0.0 or c <= 0.0:
            out[i, PO_TIME_DAYS] = np.nan     # no follow-up from this baseline
            out[i, PO_EVENT] = np.nan
        elif dt <= c:
            out[i, PO_TIME_DAYS] = dt * DAYS_PER_MONTH
            out[i, PO_EVENT] = 1.0
        else:
            out[i, PO_TIME_DAYS] = c * DAYS_PER_MONTH
            out[i, PO_EVENT] = 0.0


# visit slots of pool_visit_domains: trial month 0 (entry), b0 - 6 (pre), b0, b0 + 2, 4, 6
N_DOMAIN_VISITS = 6


@njit(cache=True, error_model="numpy")
def pool_visit_domains(theta, keys, out):
    """Observed domain scores of pool patients `keys` at their visits: out (m, 6, 4),
    visit slots trial month 0 (entry), b0 - 6, b0, b0 + 2, 4, 6, domains bulbar,
    fine motor, gross motor, respiratory.  The same draws as pool_baseline and
    pool_outcomes, so each slot's domains sum to the total those report (where the
    visit exists; slots are filled whether or not the patient was seen then)."""
    m = keys.shape[0]
    ps, res, k, pop, b0, ib0, rsd, ub, uv = _pool_scratch(theta)
    dom = np.empty(4)
    for i in range(m):
        pk = keys[i]
        _pool_draws(pk, ib0, ub, uv)
        _pool_core(k, theta, pop, ub, uv, ps, res, pk, True)
        r = ps[S_R]
        # entry, pre and baseline visits exactly as _pool_core rates them
        w_entry = ou_first(theta, uv[V_T0])
        rate_visit_domains(ps, loss_at(ps, 0.0, w_entry, r), uv[V_N0A], uv[V_N0B], rsd, dom)
        out[i, 0, :] = dom
        m_pre = b0 - 6.0
        if m_pre == 0.0:
            w_pre = w_entry
        else:
            w_pre = ou_next(theta, w_entry, m_pre, uv[V_TPRE])
            rate_visit_domains(ps, loss_at(ps, m_pre, w_pre, r), uv[V_NPREA], uv[V_NPREB], rsd, dom)
        out[i, 1, :] = dom
        w = ou_step(w_pre, k[K_RHO6], k[K_SIG6], uv[V_TB0])
        rate_visit_domains(ps, loss_at(ps, b0, w, r), uv[V_NB0A], uv[V_NB0B], rsd, dom)
        out[i, 2, :] = dom
        # follow-up visits exactly as pool_outcomes rates them
        tk = derive(pk, PURPOSE_TRAJ)
        nk = derive(pk, PURPOSE_NOISE)
        for v in range(3):
            mo = ib0 + 2 * (v + 1)
            w = ou_step(w, k[K_RHO2], k[K_SIG2], uniform(tk, mo))
            rate_visit_domains(ps, loss_at(ps, float(mo), w, r), uniform(nk, 2 * mo), uniform(nk, 2 * mo + 1),
                               rsd, dom)
            out[i, 3 + v, :] = dom


@njit(cache=True, error_model="numpy")
def retest_entry(theta, keys, out):
    """Entry-visit totals of pool patients rated twice: out (m, 2).

    Column 0 is the rating pool_baseline uses; column 1 an independent rater
    (PURPOSE_RETEST noise) of the same latent state: a test-retest pair.
    """
    ps = np.empty(N_S)
    pop = theta[REG0:REG0 + N_POP]
    rsd = theta[RATER_SD]
    ub = np.empty(N_UB_POOL)
    uv = np.empty(N_UV_POOL)
    for i in range(keys.shape[0]):
        pk = keys[i]
        _pool_draws(pk, int(theta[REF_BASELINE_MONTH]), ub, uv)
        draw_base(theta, pop, ub, ps)
        draw_shares(theta, ub, ps)
        loss = loss_at(ps, 0.0, ou_first(theta, uv[V_T0]), ps[S_R])
        out[i, 0] = rate_visit(ps, loss, uv[V_N0A], uv[V_N0B], rsd)[0]
        rk = derive(pk, PURPOSE_RETEST)
        out[i, 1] = rate_visit(ps, loss, uniform(rk, 0), uniform(rk, 1), rsd)[0]


@njit(cache=True, error_model="numpy")
def pool_monthly(theta, keys, out):
    """Observed ALSFRS-R totals of pool patients `keys` at trial months 0, 1, ...,
    out.shape[1] - 1 as if visited monthly: out (m, months), NaN where no visit
    (dead, dropped out or past the trial's end).  For the calibration's plateau
    and reversal shares: month 0 is the entry visit pool_baseline rates; later
    months have their own trajectory and noise draws (slots 200 + month), the
    same model as every other visit."""
    m = keys.shape[0]
    ps, res, k, pop, b0, ib0, rsd, ub, uv = _pool_scratch(theta)
    nm = out.shape[1]
    if nm > POOL_MONTHLY_LAST + 1:
        raise ValueError("pool_monthly: at most POOL_MONTHLY_LAST + 1 months")
    rho = math.exp(-1.0 / theta[WIGGLE_MONTHS])
    sig = theta[WIGGLE_SD] * math.sqrt(1.0 - rho * rho)
    for i in range(m):
        pk = keys[i]
        _pool_draws(pk, ib0, ub, uv)
        _pool_core(k, theta, pop, ub, uv, ps, res, pk, True)
        for mo in range(nm):
            out[i, mo] = np.nan
        if res[0] < 0.5:
            continue
        r = ps[S_R]
        d = ps[S_D]
        trial_len = res[6]
        u_drop = res[7]
        t_death = res[8]
        tk = derive(pk, PURPOSE_TRAJ)
        nk = derive(pk, PURPOSE_NOISE)
        w = ou_first(theta, uv[V_T0])
        out[i, 0] = res[2]
        for mo in range(1, nm):
            w = ou_step(w, rho, sig, uniform(tk, 200 + mo))
            if mo <= trial_len and u_drop < stay_threshold(theta, float(mo)) and t_death > d + mo:
                out[i, mo] = rate_visit(ps, loss_at(ps, float(mo), w, r), uniform(nk, 400 + 2 * mo),
                                        uniform(nk, 401 + 2 * mo), rsd)[0]
