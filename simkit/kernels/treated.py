"""The treated cohort: clinic applicants of the recent era, enrolled, treated and followed.

Each enrolled patient is simulated with and without treatment from the same
random numbers (the counterfactual twin), so the true effect is known.
"""

import math

import numpy as np
from numba import njit

from .rng import derive, uniform
from .layout import (BETA_LOG_RATE, SLOPE_HAZARD_LINK, CASE_MIX, CENSOR_DATE, DAYS_PER_MONTH, DEATH_ASCERTAINMENT, ENROL_END,
    ENROL_LOGIT_SLOPE_REF, ENROL_START, ERA_HR, F_AGE_MAX, F_AGE_MIN, F_MAX_DURATION, F_MIN_RESP,
    F_MIN_SCORE, HR, IMMORTAL_TIME_TREATED, EARLY_EXCLUSION, RECALL_SHIFT, REF_BASELINE_MONTH,
    TIME_ZERO_MISALIGNMENT, WAITING_MONTHS, S_LOGD, TC_ALSFRS_4, _C_TIME_ZERO, _C_EXCLUDE, _C_WAIT, K_RHO2, K_RHO6, K_SIG2, K_SIG6, LOG_HR_SD, N_K, N_POP,
    N_S, N_UB_POOL, PURPOSE_BASE, PURPOSE_NOISE, PURPOSE_SURV, PURPOSE_TRAJ, RATER_SD, RATE_CHANGE,
    RATE_CHANGE_SD, REGRESSION_TO_MEAN, RETRO_NOISE, SELF_SELECTION, S_AGE, S_BULBAR, S_D, S_MALE,
    S_R, S_RIL, S_U, S_WHITE, TC_AGE, TC_ALSFRS_0, TC_ALSFRS_2, TC_ALSFRS_PRE, TC_APPLICANT,
    TC_DEATH_DAYS, TC_DURATION, TC_ENROL_YEAR, TC_EVENT, TC_FT9, TC_LOG_HR, TC_ONSET, TC_RACE,
    TC_RATE, TC_RATE_CHANGE, TC_RILUZOLE, TC_SEX, TC_TIME_DAYS, TC_TRUE_0, TC_TRUE_6, TC_U,
    TREATED_LOSS_RATE, UNBLINDED_SHIFT, _C_ACCEPT, _C_ASCERTAIN, _C_CONTACT, _C_ENROL_DATE,
    _C_LIMB, _C_LOG_HR, _C_LOSS, _C_RATE_CHANGE, _C_RETRO, _C_SHARE)
from .patient import (clip48, death_time, death_time_from, ou_next, draw_base, draw_course, draw_shares, loss_at, ou_first, ou_step,
    population, prepare_constants, rate_visit, round_half_up, std_normal)

# ----------------------------------------------------------- treated cohort

LINK_FLOOR = 0.05     # slope_hazard_link: a rate cut by more than 95% counts as cut by 95%
EXCLUSION_DROP = 4.0   # points lost from month 0 to month 4 that make early exclusion possible

@njit(cache=True, error_model="numpy")
def _censor_and_ascertain(dt, c, u_asc, u_contact, p_unlearnt):
    """(time months, event) for death dt after month 0 with censoring at c.

    A death within follow-up is missed with probability p_unlearnt: the patient
    is then censored alive at the last contact, uniform between the last visit
    (0, 2, 4 or 6) before death and the death.
    """
    if dt > c:
        return c, 0.0
    if u_asc < p_unlearnt:
        lv = 0.0
        for v in (2.0, 4.0, 6.0):
            if v < dt:
                lv = v
        return lv + u_contact * (dt - lv), 0.0
    return dt, 1.0


@njit(cache=True, error_model="numpy")
def _applicant(k, theta, pop, ak, ps, ub, out, twin, f, with_twin):
    """Draw applicant `ak`; fill row f of out (and of twin if with_twin) and
    return True if enrolled and analysed.  Without the twin nothing is written
    to `twin`, and out gets the same numbers.  (Rows are indexed, not passed
    as views: a view costs two atomic reference-count updates.)"""
    kb = derive(ak, PURPOSE_BASE)
    # only the BASE counters the treated use (the pool's trial draws and the
    # spare counters 9-11 are not needed here)
    for c in range(_C_SHARE + 1):
        ub[c] = uniform(kb, c)
    ub[_C_LIMB] = uniform(kb, _C_LIMB)
    draw_base(theta, pop, ub, ps)
    age = ps[S_AGE]
    d = ps[S_D]
    if age < pop[F_AGE_MIN] or age > pop[F_AGE_MAX] or d > pop[F_MAX_DURATION]:
        return False
    draw_shares(theta, ub, ps)
    tk = derive(ak, PURPOSE_TRAJ)
    nk = derive(ak, PURPOSE_NOISE)
    rsd = theta[RATER_SD]
    r = ps[S_R]
    # Time zero.  As published (misaligned), d is the duration at the first
    # injection and inclusion is checked there; the fair construction
    # (time_zero_misalignment off) makes the treated like a registry patient:
    # d is the duration at an entry visit ref_baseline_month months before the
    # index, inclusion is checked at entry and the patient must live to the
    # index.  A wait between referral (at d) and the first injection adds to
    # that lead time; deaths during it are never treated.
    aligned = False
    p_tz = theta[TIME_ZERO_MISALIGNMENT]
    if p_tz < 1.0:
        aligned = uniform(kb, _C_TIME_ZERO) >= p_tz
    lead = 0.0
    if aligned:
        lead = theta[REF_BASELINE_MONTH]
    if theta[WAITING_MONTHS] > 0.0:
        lead += -theta[WAITING_MONTHS] * math.log(uniform(kb, _C_WAIT))
    if lead > 0.0:
        ps[S_D] = d + lead            # visits are placed relative to the index
        ps[S_LOGD] = math.log(d + lead)
    # slots: month -6 -> 0, 0 -> 6, 2 -> 8, 4 -> 10, 6 -> 12; an entry visit
    # before month -6 -> 13 (its transition to month -6: slot 14)
    early_entry = aligned and lead > 6.0
    # the first visit (the entry visit if there is one before month -6) is the
    # course's anchor, where X = 0: rated before draw_course (the linear loss is
    # the same number), so an applicant the entry gate turns away draws no course
    if early_entry:
        w_entry = ou_first(theta, uniform(tk, 13))
        entry, _fe, resp_e, _te = rate_visit(ps, loss_at(ps, -lead, w_entry, r), uniform(nk, 26),
                                             uniform(nk, 27), rsd)
        w_pre = 0.0
        pre = 0.0
    else:
        w_entry = 0.0
        w_pre = ou_first(theta, uniform(tk, 0))
        pre, _f, resp_e, _tp = rate_visit(ps, loss_at(ps, -6.0, w_pre, r), uniform(nk, 0), uniform(nk, 1),
                                          rsd)
        entry = pre
    if aligned and (entry < pop[F_MIN_SCORE] or resp_e < pop[F_MIN_RESP]):
        return False
    # the course from the first visit
    draw_course(theta, ak, -lead if early_entry else -6.0, 6.0, ps)
    if early_entry:
        w_pre = ou_next(theta, w_entry, lead - 6.0, uniform(tk, 14))
        pre, _f, _rp, _tp = rate_visit(ps, loss_at(ps, -6.0, w_pre, r), uniform(nk, 0), uniform(nk, 1), rsd)
    w0 = ou_step(w_pre, k[K_RHO6], k[K_SIG6], uniform(tk, 6))
    s0, ft9, resp0, true0 = rate_visit(ps, loss_at(ps, 0.0, w0, r), uniform(nk, 12), uniform(nk, 13), rsd)
    if not aligned and (s0 < pop[F_MIN_SCORE] or resp0 < pop[F_MIN_RESP]):
        return False
    # retrospective pre-score: recalled with extra noise and a systematic shift
    pre_rec = pre
    if theta[RETRO_NOISE] > 0.0 or theta[RECALL_SHIFT] != 0.0:
        pre_rec = clip48(round_half_up(pre + theta[RETRO_NOISE] * std_normal(kb, _C_RETRO)
                                       + theta[RECALL_SHIFT]))
    slope = (pre_rec - s0) / 6.0
    x = theta[SELF_SELECTION] * ps[S_U] + theta[REGRESSION_TO_MEAN] * (slope - ENROL_LOGIT_SLOPE_REF)
    if uniform(kb, _C_ACCEPT) * (1.0 + math.exp(-x)) >= 1.0:
        return False
    # treatment effect (patient-specific) and survival in both worlds
    log_hr = math.log(theta[HR]) + theta[LOG_HR_SD] * std_normal(kb, _C_LOG_HR)
    delta = theta[RATE_CHANGE] + theta[RATE_CHANGE_SD] * std_normal(kb, _C_RATE_CHANGE)
    link = theta[SLOPE_HAZARD_LINK]
    if link != 0.0:
        # a share `link` of the world's prognostic gradient in log rate is causal:
        # slowing the rate lowers the hazard after the index (ratio floored at LINK_FLOOR)
        ratio = max(r + delta, 0.0) / r
        log_hr += link * theta[BETA_LOG_RATE] * math.log(max(ratio, LINK_FLOOR))
    e = -math.log(uniform(derive(ak, PURPOSE_SURV), 0))
    log_era = math.log(theta[ERA_HR])
    if lead > 0.0:
        t_tr = death_time_from(k, theta, ps, d, d + lead, log_era + log_hr, e)
        t_tw = death_time_from(k, theta, ps, d, d + lead, log_era, e) if with_twin else np.nan
        d = d + lead
        if t_tr <= d:
            return False              # died before the first injection
    else:
        t_tr = death_time(k, theta, ps, log_era + log_hr, e)
        t_tw = death_time(k, theta, ps, log_era, e) if with_twin else np.nan
    if t_tr <= d + theta[IMMORTAL_TIME_TREATED] and theta[IMMORTAL_TIME_TREATED] > 0.0:
        return False
    if lead > 0.0:
        age = age + lead / 12.0      # age at the index
    # enrolled and analysed: fill both rows
    post_tr = r + delta
    if post_tr < 0.0:
        post_tr = 0.0
    shift = theta[UNBLINDED_SHIFT]
    for which in range(2 if with_twin else 1):
        rr = out if which == 0 else twin
        rr[f, TC_SEX] = ps[S_MALE]
        rr[f, TC_RACE] = 1.0 - ps[S_WHITE]
        rr[f, TC_ONSET] = ps[S_BULBAR]
        rr[f, TC_RILUZOLE] = ps[S_RIL]
        rr[f, TC_AGE] = age
        rr[f, TC_FT9] = ft9
        rr[f, TC_ALSFRS_PRE] = pre_rec
        rr[f, TC_ALSFRS_0] = s0
        rr[f, TC_U] = ps[S_U]
        rr[f, TC_RATE] = r
        rr[f, TC_DURATION] = ps[S_D]    # at time zero (the first injection), lead included
        rr[f, TC_TRUE_0] = true0
    out[f, TC_LOG_HR] = log_hr
    out[f, TC_RATE_CHANGE] = delta
    if with_twin:
        twin[f, TC_LOG_HR] = 0.0
        twin[f, TC_RATE_CHANGE] = 0.0
    w = w0
    for v in range(3):
        mo = 2.0 * (v + 1)
        slot = 6 + 2 * (v + 1)
        w = ou_step(w, k[K_RHO2], k[K_SIG2], uniform(tk, slot))
        n1 = uniform(nk, 2 * slot)
        n2 = uniform(nk, 2 * slot + 1)
        o_tr, _a, _b, tt_tr = rate_visit(ps, loss_at(ps, mo, w, post_tr), n1, n2, rsd)
        if shift != 0.0:
            o_tr = clip48(round_half_up(o_tr + shift))
        out[f, TC_ALSFRS_2 + v] = o_tr if t_tr > d + mo else np.nan
        if v == 2:
            out[f, TC_TRUE_6] = tt_tr
        if with_twin:
            o_tw, _c, _e, tt_tw = rate_visit(ps, loss_at(ps, mo, w, r), n1, n2, rsd)
            twin[f, TC_ALSFRS_2 + v] = o_tw if t_tw > d + mo else np.nan
            if v == 2:
                twin[f, TC_TRUE_6] = tt_tw
    # excluded before the third injection for reasons other than death: among
    # those who visibly deteriorate (>= 4 points lost by month 4)
    p_ex = theta[EARLY_EXCLUSION]
    if p_ex > 0.0 and s0 - out[f, TC_ALSFRS_4] >= EXCLUSION_DROP and uniform(kb, _C_EXCLUDE) < p_ex:
        return False
    # calendar: staggered enrolment, administrative censoring, loss to follow-up
    y0 = theta[ENROL_START]
    year = y0 + uniform(kb, _C_ENROL_DATE) * (theta[ENROL_END] - y0)
    c = 12.0 * (theta[CENSOR_DATE] - year)
    loss_rate = theta[TREATED_LOSS_RATE]
    if loss_rate > 0.0:
        c_loss = -math.log(uniform(kb, _C_LOSS)) / (loss_rate / 12.0)
        if c_loss < c:
            c = c_loss
    u_asc = uniform(kb, _C_ASCERTAIN)
    u_contact = uniform(kb, _C_CONTACT)
    p_da = theta[DEATH_ASCERTAINMENT]
    for which in range(2 if with_twin else 1):
        rr = out if which == 0 else twin
        tt = t_tr if which == 0 else t_tw
        dt = tt - d
        tm, ev = _censor_and_ascertain(dt, c, u_asc, u_contact, p_da)
        rr[f, TC_TIME_DAYS] = tm * DAYS_PER_MONTH
        rr[f, TC_EVENT] = ev
        rr[f, TC_DEATH_DAYS] = dt * DAYS_PER_MONTH
        rr[f, TC_ENROL_YEAR] = year
    return True


@njit(cache=True, error_model="numpy")
def _cohort(theta, key, out, twin, with_twin):
    n = out.shape[0]
    ps = np.empty(N_S)
    pop = np.empty(N_POP)
    population(theta, theta[CASE_MIX], pop)
    k = np.empty(N_K)
    prepare_constants(theta, k)
    ub = np.empty(N_UB_POOL)
    filled = np.int64(0)  # typed: a literal 0 would compile _applicant twice
    j = np.int64(0)
    cap = 10000 * n + 10000
    while filled < n and j < cap:
        ak = derive(key, j)
        if _applicant(k, theta, pop, ak, ps, ub, out, twin, filled, with_twin):
            out[filled, TC_APPLICANT] = j
            if with_twin:
                twin[filled, TC_APPLICANT] = j
            filled += 1
        j += 1
    return filled, j


@njit(cache=True, error_model="numpy")
def treated_cohort(theta, key, out, twin):
    """Fill the treated cohort out (n, N_TC) and its untreated twin twin (n, N_TC).

    Applicants derive(key, j), j = 0, 1, ... come from the clinic population
    (mixed with the registry's by case_mix) in the recent era; an applicant is
    enrolled if they meet the inclusion criteria and pass the enrolment draw
    (self-selection on u, regression to the mean on the observed pre-slope), and
    analysed if alive at month immortal_time_treated.  The twin row is the same
    patient (same random numbers) without treatment: HR 1, no rate change, no
    unblinded shift.  Returns (rows filled, applicants drawn).
    """
    # a typed flag, not a literal: one compiled _cohort serves both callers
    return _cohort(theta, key, out, twin, np.bool_(True))


@njit(cache=True, error_model="numpy")
def treated_cohort_only(theta, key, out):
    """treated_cohort without the twin (a replicate's report does not use it):
    the same rows of out, without the twins' visits and death times."""
    return _cohort(theta, key, out, out, np.bool_(False))
