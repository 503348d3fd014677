"""One patient's natural history: covariates, progression, ALSFRS-R visits, death.

Pure numba kernels on a flat float64 parameter vector `theta` (layout below,
defined once here: THETA_NAMES and the index constants built from it) and
uint64 keys from `rng`.  docs/world.md writes the model out; in short, for a
patient with index visit (trial entry / first injection) at D months after
onset and index-relative time tau (months):

    r     = exp(rate_log_mean + pop.rate_log_shift + rate_bulbar*bulbar + rate_age10*(age-55)/10
                + rate_u*u + rate_log_sd*z)                      points/month
    D     = exp(duration_log_mean - duration_elasticity*log r + duration_log_sd*z)
    L(tau) = r*(D+tau) + w(tau)  [treated, tau>0: r*D + max(r+delta,0)*tau + w]
    with the course of decline on (draw_course: curvature, plateaus), r*(D+tau+X(tau)) + w,
    X(tau) the patient's clock deviation since its first visit [treated, tau>0:
    r*(D+X(0)) + max(r+delta,0)*(tau+X(tau)-X(0)) + w]
    w     = stationary Ornstein-Uhlenbeck (SD wiggle_sd, time constant wiggle_months)
    true domain d = clip(12 - a_d x, 0, 12), shares a_d (onset-dependent, sum 1),
            x such that the domain losses sum to L (spill-over: true total = 48 - L)
    observed domain = clip(round(true + triangular rater noise), 0, 12)
    hazard (months since onset t) = weibull(t) * exp(eta), T drawn given T > D


Layouts and streams: kernels/layout.py; the registry pool: kernels/pool.py;
the treated cohort: kernels/treated.py.
"""

import math

import numpy as np
from numba import njit

from .rng import derive, uniform
from .layout import (CRS_HORIZON, CURVATURE_MEAN, CURVATURE_SD, N_CRS_SW, PLATEAU_MONTHS, PLATEAU_SHARE,
    PURPOSE_COURSE, S_CRS_ANCHOR, S_CRS_DRAWN, S_CRS_HZ, S_CRS_KAPPA, S_CRS_KEY_HI, S_CRS_KEY_LO, S_CRS_M_PL,
    S_CRS_M_PR, S_CRS_NEXT, S_CRS_NSW, S_CRS_ON, S_CRS_SPEED, S_CRS_STATE, S_CRS_STATE0, S_CRS_SW0, S_CRS_X0,
    AGE_REF, BETA_AGE10, BETA_BULBAR, BETA_LOG_RATE, BETA_RILUZOLE, BETA_U, CLIN0,
    DROPOUT_RATE, DURATION_ELASTICITY, F_AGE_MEAN, F_AGE_SD, F_DUR_LOG_MEAN, F_DUR_LOG_SD,
    F_P_BULBAR, F_P_MALE, F_P_RILUZOLE, F_P_WHITE, F_RATE_SHIFT, IMMORTAL_TIME_REFERENCE,
    K_INV_SHAPE, K_LAST_VISIT, K_LOG_SCALE, K_RHO2, K_RHO6, K_STAY_B0, K_STAY_LAST, N_POP,
    ONSET_WEIGHT, RATE_AGE10, RATE_BULBAR, RATE_LOG_MEAN, RATE_LOG_SD, RATE_U, REF_BASELINE_MONTH,
    REG0, RESP_WEIGHT, SHARE_SPREAD, SQRT6, S_A0, S_AGE, S_BRK, S_BULBAR, S_D, S_ETA, S_LOGD,
    S_LOGR, S_MALE, S_R, S_RIL, S_TAIL, S_U, S_WHITE, WEIBULL_SCALE, WEIBULL_SHAPE, WIGGLE_MONTHS,
    WIGGLE_SD, _C_AGE, _C_DUR, _C_LIMB, _C_ONSET, _C_RACE, _C_RATE, _C_RIL, _C_SEX, _C_SHARE, _C_U)

_TWO52 = 4503599627370496.0     # uniform * 2^52 -> 52 random bits: four 13-bit fields
_MASK13 = 8191

_QA = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
       1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_QB = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
       6.680131188771972e+01, -1.328068155288572e+01)
_QC = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
       -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_QD = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
       3.754408661907416e+00)


@njit(cache=True, inline="always", error_model="numpy")
def qnorm(p):
    """Standard normal quantile (Acklam; relative error < 1.2e-9 on (0, 1)).

    Used instead of Box-Muller because it needs no transcendental in the
    central 95% and keeps one uniform per normal: the pool's budget is ~200 ns
    per patient.
    """
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        return ((((((_QC[0] * q + _QC[1]) * q + _QC[2]) * q + _QC[3]) * q + _QC[4]) * q + _QC[5])
                / ((((_QD[0] * q + _QD[1]) * q + _QD[2]) * q + _QD[3]) * q + 1.0))
    if p > 0.97575:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        return -((((((_QC[0] * q + _QC[1]) * q + _QC[2]) * q + _QC[3]) * q + _QC[4]) * q + _QC[5])
                 / ((((_QD[0] * q + _QD[1]) * q + _QD[2]) * q + _QD[3]) * q + 1.0))
    q = p - 0.5
    r = q * q
    return ((((((_QA[0] * r + _QA[1]) * r + _QA[2]) * r + _QA[3]) * r + _QA[4]) * r + _QA[5]) * q
            / (((((_QB[0] * r + _QB[1]) * r + _QB[2]) * r + _QB[3]) * r + _QB[4]) * r + 1.0))


@njit(cache=True, inline="always", error_model="numpy")
def std_normal(key, counter):
    """N(0, 1) draw `counter` of stream `key` (inverse CDF of rng.uniform)."""
    return qnorm(uniform(key, counter))


@njit(cache=True, inline="always", error_model="numpy")
def round_half_up(x):
    return math.floor(x + 0.5)



@njit(cache=True, error_model="numpy")
def population(theta, mix, out):
    """Applicant population: registry block + mix * (clinic - registry)."""
    for f in range(N_POP):
        out[f] = theta[REG0 + f] + mix * (theta[CLIN0 + f] - theta[REG0 + f])


@njit(cache=True, error_model="numpy")
def draw_base(theta, pop, ub, ps):
    """Covariates, u, progression rate, duration at the index and eta.

    ub[c] = uniform(BASE stream, c): the model functions take their random
    numbers as arguments, so callers can draw them patient by patient or, for
    speed, for a block of patients at once."""
    # random decisions as arithmetic, not branches: mispredictions cost more
    # than the rest of the function
    male = np.float64(ub[_C_SEX] < pop[F_P_MALE])
    white = np.float64(ub[_C_RACE] < pop[F_P_WHITE])
    bulbar = np.float64(ub[_C_ONSET] < pop[F_P_BULBAR])
    ril = np.float64(ub[_C_RIL] < pop[F_P_RILUZOLE])
    age = pop[F_AGE_MEAN] + pop[F_AGE_SD] * qnorm(ub[_C_AGE])
    u = qnorm(ub[_C_U])
    age10 = (age - AGE_REF) * 0.1
    logr = (theta[RATE_LOG_MEAN] + pop[F_RATE_SHIFT] + theta[RATE_BULBAR] * bulbar + theta[RATE_AGE10] * age10
            + theta[RATE_U] * u + theta[RATE_LOG_SD] * qnorm(ub[_C_RATE]))
    logd = (pop[F_DUR_LOG_MEAN] - theta[DURATION_ELASTICITY] * logr
            + pop[F_DUR_LOG_SD] * qnorm(ub[_C_DUR]))
    ps[S_MALE] = male
    ps[S_WHITE] = white
    ps[S_BULBAR] = bulbar
    ps[S_RIL] = ril
    ps[S_AGE] = age
    ps[S_U] = u
    ps[S_LOGR] = logr
    ps[S_R] = math.exp(logr)
    ps[S_LOGD] = logd
    ps[S_D] = math.exp(logd)
    ps[S_ETA] = (theta[BETA_LOG_RATE] * logr + theta[BETA_AGE10] * age10
                 + theta[BETA_BULBAR] * bulbar + theta[BETA_RILUZOLE] * ril + theta[BETA_U] * u)
    ps[S_CRS_ON] = 0.0      # linear course until draw_course says otherwise


@njit(cache=True, error_model="numpy")
def draw_shares(theta, ub, ps):
    """Domain shares of the loss: the onset region weighted up (spinal onset is
    upper or lower limb with probability 1/2), times uniform heterogeneity."""
    extra = theta[ONSET_WEIGHT] - 1.0
    bulbar = ps[S_BULBAR]
    upper = np.float64(ub[_C_LIMB] < 0.5)
    v0 = 1.0 + extra * bulbar
    v1 = 1.0 + extra * (1.0 - bulbar) * upper
    v2 = 1.0 + extra * (1.0 - bulbar) * (1.0 - upper)
    v3 = theta[RESP_WEIGHT]
    # patient heterogeneity: each weight times an independent factor uniform on
    # [1 - spread, 1 + spread]; the four uniforms are 13-bit fields of one draw
    h = theta[SHARE_SPREAD] / 4096.0
    b = np.int64(ub[_C_SHARE] * _TWO52)
    v0 *= 1.0 + h * ((b & _MASK13) - 4095.5)
    v1 *= 1.0 + h * (((b >> 13) & _MASK13) - 4095.5)
    v2 *= 1.0 + h * (((b >> 26) & _MASK13) - 4095.5)
    v3 *= 1.0 + h * (((b >> 39) & _MASK13) - 4095.5)
    inv = 1.0 / (v0 + v1 + v2 + v3)
    a0 = v0 * inv
    a1 = v1 * inv
    a2 = v2 * inv
    a3 = v3 * inv
    ps[S_A0] = a0
    ps[S_A0 + 1] = a1
    ps[S_A0 + 2] = a2
    ps[S_A0 + 3] = a3
    # spill-over: once a domain reaches 0 its share of further loss moves to the
    # others, so the true total is exactly 48 - loss.  With shares sorted
    # s1 >= s2 >= s3 >= s4 the k-th domain floors at loss
    # 12 k + 12 (s_{k+1} + ... + s4) / s_{k+1}.
    x0 = max(a0, a1)
    x1 = min(a0, a1)
    x2 = max(a2, a3)
    x3 = min(a2, a3)
    s1 = max(x0, x2)
    s4 = min(x1, x3)
    m1 = min(x0, x2)
    m2 = max(x1, x3)
    s2 = max(m1, m2)
    s3 = min(m1, m2)
    ps[S_TAIL] = 1.0
    ps[S_TAIL + 1] = s2 + s3 + s4
    ps[S_TAIL + 2] = s3 + s4
    ps[S_TAIL + 3] = s4
    ps[S_BRK] = 12.0 / s1
    ps[S_BRK + 1] = 12.0 + 12.0 * (s2 + s3 + s4) / s2
    ps[S_BRK + 2] = 24.0 + 12.0 * (s3 + s4) / s3


@njit(cache=True, error_model="numpy")
def prepare_constants(theta, k):
    """Fill k (N_K,) with what every patient of a call shares."""
    k[K_LOG_SCALE] = math.log(theta[WEIBULL_SCALE])
    k[K_INV_SHAPE] = 1.0 / theta[WEIBULL_SHAPE]
    for i, dt in ((K_RHO2, 2.0), (K_RHO6, 6.0)):
        rho = math.exp(-dt / theta[WIGGLE_MONTHS])
        k[i] = rho
        k[i + 1] = theta[WIGGLE_SD] * math.sqrt(1.0 - rho * rho)
    b0 = theta[REF_BASELINE_MONTH]
    m_need = b0 + theta[IMMORTAL_TIME_REFERENCE]
    last = b0 + 2.0 * math.floor((m_need - b0) / 2.0)
    k[K_LAST_VISIT] = last
    k[K_STAY_B0] = stay_threshold(theta, b0)
    k[K_STAY_LAST] = stay_threshold(theta, last)


@njit(cache=True, inline="always", error_model="numpy")
def stay_threshold(theta, m):
    """Still in the trial at month m  <=>  the dropout uniform < this (dropout
    time -log(u) / dropout_rate > m)."""
    return math.exp(-theta[DROPOUT_RATE] * m)


@njit(cache=True, inline="always", error_model="numpy")
def ou_step(w, rho, sig, u):
    """OU transition with precomputed rho = exp(-dt / tau), sig = sd sqrt(1 - rho^2);
    u = uniform(TRAJ stream, visit slot)."""
    return rho * w + sig * qnorm(u)


@njit(cache=True, inline="always", error_model="numpy")
def ou_first(theta, u):
    """w at the first visit: the stationary N(0, wiggle_sd^2)."""
    return theta[WIGGLE_SD] * qnorm(u)


@njit(cache=True, inline="always", error_model="numpy")
def ou_next(theta, w, dt, u):
    """w after dt more months (exact Ornstein-Uhlenbeck transition)."""
    if dt <= 0.0:
        return w
    rho = math.exp(-dt / theta[WIGGLE_MONTHS])
    return rho * w + theta[WIGGLE_SD] * math.sqrt(1.0 - rho * rho) * qnorm(u)


@njit(cache=True, inline="always", error_model="numpy")
def _visit_phase(ps, loss, u1, u2, rater_sd):
    """What every domain of one visit shares: the noise half-range a, the two
    noise words b1, b2 and the phase-scaled loss x (rate_visit's docstring)."""
    a = rater_sd * SQRT6
    b1 = np.int64(u1 * _TWO52)
    b2 = np.int64(u2 * _TWO52)
    # breakpoints increase, so the phase is a count (no data-dependent branch)
    k = (np.int64(loss >= ps[S_BRK]) + np.int64(loss >= ps[S_BRK + 1])
         + np.int64(loss >= ps[S_BRK + 2]))
    return a, b1, b2, (loss - 12.0 * k) / ps[S_TAIL + k]


@njit(cache=True, inline="always", error_model="numpy")
def _domain(ps, d, x, a, b1, b2):
    """Domain d's (true, observed) score at phase-scaled loss x."""
    s = min(max(12.0 - ps[S_A0 + d] * x, 0.0), 12.0)
    h1 = (b1 >> (13 * d)) & _MASK13
    h2 = (b2 >> (13 * d)) & _MASK13
    e = a * ((h1 + h2 + 1.0) / 8192.0 - 1.0)
    return s, min(max(math.floor(s + e + 0.5), 0.0), 12.0)


@njit(cache=True, inline="always", error_model="numpy")
def rate_visit(ps, loss, u1, u2, rater_sd):
    """Observed total, FT9 stage, observed respiratory domain, true total at loss `loss`.

    Each domain loses share * x of the loss (x = loss until a domain reaches 0,
    then the remaining domains share it: see draw_shares), so true domain
    = clip(12 - share * x, 0, 12) and the true total = clip(48 - loss, 0, 48);
    observed =
    clip(round(true + e), 0, 12), e triangular on [-a, a] with SD rater_sd
    (a = sqrt(6) rater_sd), e = a (v1 + v2 - 1).  The visit's 8 uniforms v are
    13-bit fields of u1 = uniform(NOISE stream, 2 slot), u2 = uniform(NOISE
    stream, 2 slot + 1) (resolution 1/8192 of the noise range; the result is
    rounded anyway).
    """
    a, b1, b2, x = _visit_phase(ps, loss, u1, u2, rater_sd)
    total = 0.0
    true_total = 0.0
    n_low = 0.0
    resp = 0.0
    for d in range(4):
        s, o = _domain(ps, d, x, a, b1, b2)
        true_total += s
        total += o
        n_low += np.float64(o < 9.0)
        resp = o
    return total, 1.0 + n_low, resp, true_total


@njit(cache=True, error_model="numpy")
def rate_visit_domains(ps, loss, u1, u2, rater_sd, dom):
    """The four observed domain scores (bulbar, fine motor, gross motor,
    respiratory) of the visit `rate_visit` rates from the same arguments, into
    dom (4,): the same arithmetic, so sum(dom) is rate_visit's observed total and
    1 + #(dom < 9) its FT9 stage (the synthetic registry export writes them)."""
    a, b1, b2, x = _visit_phase(ps, loss, u1, u2, rater_sd)
    for d in range(4):
        dom[d] = _domain(ps, d, x, a, b1, b2)[1]


@njit(cache=True, error_model="numpy")
def draw_course(theta, key, anchor, last, ps):
    """The patient's course of decline from its first visit (index-relative month
    `anchor`; from onset if that is later): a curvature kappa and plateau episodes.

    The rate of loss s months after the anchor is r * speed * m(s) while
    progressing and 0 in a plateau: m(s) = max(0, 1 + kappa s / 12) (the rate
    changes by 100 kappa % per year: a patient-level quadratic trajectory, kappa
    ~ N(curvature_mean, curvature_sd)), and the patient alternates between
    progressing and plateau spells, exponential with means
    plateau_months (1 - plateau_share) / plateau_share and plateau_months (a
    stationary two-state Markov chain started from its stationary law, so a share
    plateau_share of the time is plateau; speed = 1 / (1 - plateau_share) keeps
    the mean rate r).  Before the anchor the course is linear, so the first
    visit, the duration and delta-FS keep the linear model's law; only changes
    after the first visit carry the curvature and the plateaus.  Switches are
    drawn up to index-relative month `last` (the caller's last visit; at most
    N_CRS_SW; past the last switch the state persists): spell j always comes
    from counter 2 + j, so a later `last` adds spells and changes none.  They are
    drawn lazily, only as far as a visit asks (course_x; most applicants and
    candidates fail a gate before their last visit), which gives the same switches.
    Stream PURPOSE_COURSE of the patient's key: counter 0 kappa, 1 the initial
    state, 2 + j the j-th spell.
    """
    pi = theta[PLATEAU_SHARE]
    km = theta[CURVATURE_MEAN]
    ksd = theta[CURVATURE_SD]
    if pi <= 0.0 and km == 0.0 and ksd == 0.0:
        ps[S_CRS_ON] = 0.0
        return
    ps[S_CRS_ON] = 1.0
    a = max(anchor, -ps[S_D])
    ps[S_CRS_ANCHOR] = a
    ck = derive(key, PURPOSE_COURSE)
    kappa = km
    if ksd > 0.0:
        kappa += ksd * qnorm(uniform(ck, 0))
    ps[S_CRS_KAPPA] = kappa
    ps[S_CRS_NSW] = 0.0
    ps[S_CRS_STATE0] = 0.0
    ps[S_CRS_SPEED] = 1.0
    ps[S_CRS_DRAWN] = np.inf          # no plateaus: no spells
    if pi > 0.0:
        m_pl = theta[PLATEAU_MONTHS]
        m_pr = m_pl * (1.0 - pi) / pi
        speed = 1.0 / (1.0 - pi)
        ps[S_CRS_SPEED] = speed
        state = np.float64(uniform(ck, 1) < pi)
        ps[S_CRS_STATE0] = state
        hz = min(last - a, CRS_HORIZON)
        ps[S_CRS_HZ] = hz
        ps[S_CRS_M_PL] = m_pl
        ps[S_CRS_M_PR] = m_pr
        ps[S_CRS_KEY_HI] = np.float64(ck >> np.uint64(32))
        ps[S_CRS_KEY_LO] = np.float64(ck & np.uint64(0xFFFFFFFF))
        # the switches before month 0 (X(0) needs them; _more_spells draws on when
        # a later visit asks), X(0) summed as course_x sums it
        s0 = 0.0 - a
        upto = min(s0, hz)
        e = 0.0
        u0 = 0.0
        n = 0
        t = 0.0
        t -= (m_pl if state > 0.5 else m_pr) * math.log(uniform(ck, 2))
        while t < upto:
            ps[S_CRS_SW0 + n] = t
            if state < 0.5:
                e += _rate_integral(kappa, t) - _rate_integral(kappa, u0)
            u0 = t
            n += 1
            state = 1.0 - state
            if n >= N_CRS_SW:
                t = np.inf                # the cap: the state persists
                break
            t -= (m_pl if state > 0.5 else m_pr) * math.log(uniform(ck, 2 + n))
        ps[S_CRS_NSW] = n
        ps[S_CRS_NEXT] = t
        ps[S_CRS_STATE] = state
        ps[S_CRS_DRAWN] = upto if upto < hz else np.inf
        x0 = 0.0
        if s0 > 0.0:
            if state < 0.5:
                e += _rate_integral(kappa, s0) - _rate_integral(kappa, u0)
            x0 = e * speed - s0
        ps[S_CRS_X0] = x0             # loss_at reads it at and after month 0
    else:
        ps[S_CRS_X0] = course_x(ps, 0.0)


@njit(cache=True, error_model="numpy")
def _more_spells(ps, upto):
    """Store the switches before `upto` months after the anchor (<= the horizon):
    draw_course's loop, resumed where it stopped (the same numbers in the same
    order, so the same switch times)."""
    n = np.int64(ps[S_CRS_NSW])
    t = ps[S_CRS_NEXT]
    state = ps[S_CRS_STATE]
    ck = (np.uint64(ps[S_CRS_KEY_HI]) << np.uint64(32)) | np.uint64(ps[S_CRS_KEY_LO])
    while t < upto:
        ps[S_CRS_SW0 + n] = t
        n += 1
        state = 1.0 - state
        if n >= N_CRS_SW:
            t = np.inf                # the cap: the state persists
            break
        t -= (ps[S_CRS_M_PL] if state > 0.5 else ps[S_CRS_M_PR]) * math.log(uniform(ck, 2 + n))
    ps[S_CRS_NSW] = n
    ps[S_CRS_NEXT] = t
    ps[S_CRS_STATE] = state
    ps[S_CRS_DRAWN] = upto if upto < ps[S_CRS_HZ] else np.inf


@njit(cache=True, inline="always", error_model="numpy")
def _rate_integral(kappa, s):
    """Integral of max(0, 1 + kappa u / 12) du over [0, s]."""
    if kappa < 0.0:
        z = -12.0 / kappa
        if s > z:
            s = z
    return s + kappa * s * s / 24.0


@njit(cache=True, error_model="numpy")
def course_x(ps, tau):
    """X(tau): the patient's progressed time since its anchor minus the time
    elapsed (months; 0 at and before the anchor, and for a linear course)."""
    s = tau - ps[S_CRS_ANCHOR]
    if s <= 0.0:
        return 0.0
    if s > ps[S_CRS_DRAWN]:           # spells not drawn yet so far past the anchor
        _more_spells(ps, min(s, ps[S_CRS_HZ]))
    kappa = ps[S_CRS_KAPPA]
    state = ps[S_CRS_STATE0]
    e = 0.0
    u0 = 0.0
    for j in range(np.int64(ps[S_CRS_NSW])):
        u1 = ps[S_CRS_SW0 + j]
        if u1 >= s:
            break
        if state < 0.5:
            e += _rate_integral(kappa, u1) - _rate_integral(kappa, u0)
        u0 = u1
        state = 1.0 - state
    if state < 0.5:
        e += _rate_integral(kappa, s) - _rate_integral(kappa, u0)
    return e * ps[S_CRS_SPEED] - s


@njit(cache=True, inline="always", error_model="numpy")
def loss_at(ps, tau, w, post_rate):
    """Latent points lost at index-relative time tau (months).

    Before onset nothing is lost; after the index the rate is `post_rate`
    (r untreated, max(r + delta, 0) treated) times the course's clock: a
    treatment scales the loss of the patient's own course (plateaus stay flat)."""
    t = ps[S_D] + tau
    if t <= 0.0:
        return 0.0
    if ps[S_CRS_ON] == 0.0:
        if tau <= 0.0:
            return ps[S_R] * t + w
        return ps[S_R] * ps[S_D] + post_rate * tau + w
    if tau <= 0.0:
        # X is 0 up to the anchor (the first visit) and stored at month 0
        x = 0.0
        if tau == 0.0:
            x = ps[S_CRS_X0]
        elif tau > ps[S_CRS_ANCHOR]:
            x = course_x(ps, tau)
        return ps[S_R] * (t + x) + w
    x0 = ps[S_CRS_X0]
    return ps[S_R] * (ps[S_D] + x0) + post_rate * (tau + course_x(ps, tau) - x0) + w


@njit(cache=True, error_model="numpy")
def death_time(k, theta, ps, log_hr_after_index, e):
    """Months since onset at death, given alive at the index (T > D).

    Cumulative hazard H(t) = (t / scale)^shape * exp(eta), multiplied by
    exp(log_hr_after_index) after the index; T solves H(T) - H(D) = e, e ~ Exp(1).
    """
    h_d = math.exp(theta[WEIBULL_SHAPE] * (ps[S_LOGD] - k[K_LOG_SCALE]))
    x = h_d + e * math.exp(-(ps[S_ETA] + log_hr_after_index))
    return theta[WEIBULL_SCALE] * math.exp(math.log(x) * k[K_INV_SHAPE])


@njit(cache=True, error_model="numpy")
def death_time_from(k, theta, ps, d_from, d_index, log_hr_after_index, e):
    """Months since onset at death given alive at d_from <= d_index, the hazard
    multiplied by exp(log_hr_after_index) after d_index (death_time is the case
    d_from = d_index = D).  A result <= d_index is a death before the index.
    """
    sh = theta[WEIBULL_SHAPE]
    h_from = math.exp(sh * (math.log(d_from) - k[K_LOG_SCALE]))
    h_index = math.exp(sh * (math.log(d_index) - k[K_LOG_SCALE]))
    eta = ps[S_ETA]
    e_index = (h_index - h_from) * math.exp(eta)   # cumulative hazard from d_from to the index
    if e <= e_index:
        x = h_from + e * math.exp(-eta)
    else:
        x = h_index + (e - e_index) * math.exp(-(eta + log_hr_after_index))
    return theta[WEIBULL_SCALE] * math.exp(math.log(x) * k[K_INV_SHAPE])


@njit(cache=True, inline="always", error_model="numpy")
def clip48(x):
    if x < 0.0:
        return 0.0
    if x > 48.0:
        return 48.0
    return x
