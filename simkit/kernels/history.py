"""The simulated world: ALS natural history, the registry pool, the treated cohort.

Pure numba kernels on a flat float64 parameter vector `theta` (layout below,
defined once here: THETA_NAMES and the index constants built from it) and
uint64 keys from `rng`.  docs/world.md writes the model out; in short, for a
patient with index visit (trial entry / first injection) at D months after
onset and index-relative time tau (months):

    r     = exp(rate_log_mean + pop.rate_log_shift + rate_bulbar*bulbar + rate_age10*(age-55)/10
                + rate_u*u + rate_log_sd*z)                      points/month
    D     = exp(duration_log_mean - duration_elasticity*log r + duration_log_sd*z)
    L(tau) = r*(D+tau) + w(tau)  [treated, tau>0: r*D + max(r+delta,0)*tau + w]
    w     = stationary Ornstein-Uhlenbeck (SD wiggle_sd, time constant wiggle_months)
    true domain d = clip(12 - a_d x, 0, 12), shares a_d (onset-dependent, sum 1),
            x such that the domain losses sum to L (spill-over: true total = 48 - L)
    observed domain = clip(round(true + triangular rater noise), 0, 12)
    hazard (months since onset t) = weibull(t) * exp(eta), T drawn given T > D

Keys: a replicate's pool and treated cohort each have a stream key; patient j
of a stream has key derive(stream, j) (candidates / applicants are numbered and
the accepted ones keep their key), and each purpose its own child key:
derive(patient, PURPOSE_*).  So a patient's numbers depend on nothing but its
key, and the outcomes of any subset of the pool equal those computed for all.
"""
import math

import numpy as np
from numba import njit

from .rng import derive, root_key, uniform

# --------------------------------------------------------------------- theta

# Population block: the same fields, in this order, for the registry (reg_) and
# the clinic the treated come from (clin_).
POP_FIELDS = (
    "p_male", "p_white", "p_bulbar", "p_riluzole", "age_mean", "age_sd",
    "rate_log_shift", "duration_log_mean", "duration_log_sd",
    "age_min", "age_max", "min_score", "max_duration", "min_resp",
)

THETA_NAMES = (
    # natural history
    "rate_log_mean", "rate_log_sd", "rate_bulbar", "rate_age10", "rate_u",
    "wiggle_sd", "wiggle_months", "rater_sd",
    "share_spread", "onset_weight", "resp_weight", "duration_elasticity",
    "weibull_shape", "weibull_scale", "beta_log_rate", "beta_age10",
    "beta_bulbar", "beta_riluzole", "beta_u",
) + tuple("reg_" + f for f in POP_FIELDS) + tuple("clin_" + f for f in POP_FIELDS) + (
    # registry trials
    "trial_months_min", "trial_months_max", "ref_baseline_month", "dropout_rate",
    "followup_years_min", "followup_years_max",
    # treated programme
    "enrol_start", "enrol_end", "censor_date",
    # bias mechanisms
    "case_mix", "immortal_time_treated", "immortal_time_reference", "era_hr",
    "self_selection", "regression_to_mean", "retro_noise", "unblinded_shift",
    "differential_followup", "treated_loss_rate", "death_ascertainment",
    # true treatment effect
    "hr", "log_hr_sd", "rate_change", "rate_change_sd",
)
N_THETA = len(THETA_NAMES)
N_POP = len(POP_FIELDS)

_I = THETA_NAMES.index
RATE_LOG_MEAN = _I("rate_log_mean")
RATE_LOG_SD = _I("rate_log_sd")
RATE_BULBAR = _I("rate_bulbar")
RATE_AGE10 = _I("rate_age10")
RATE_U = _I("rate_u")
WIGGLE_SD = _I("wiggle_sd")
WIGGLE_MONTHS = _I("wiggle_months")
RATER_SD = _I("rater_sd")
SHARE_SPREAD = _I("share_spread")
ONSET_WEIGHT = _I("onset_weight")
RESP_WEIGHT = _I("resp_weight")
DURATION_ELASTICITY = _I("duration_elasticity")
WEIBULL_SHAPE = _I("weibull_shape")
WEIBULL_SCALE = _I("weibull_scale")
BETA_LOG_RATE = _I("beta_log_rate")
BETA_AGE10 = _I("beta_age10")
BETA_BULBAR = _I("beta_bulbar")
BETA_RILUZOLE = _I("beta_riluzole")
BETA_U = _I("beta_u")
REG0 = _I("reg_p_male")
CLIN0 = _I("clin_p_male")
TRIAL_MONTHS_MIN = _I("trial_months_min")
TRIAL_MONTHS_MAX = _I("trial_months_max")
REF_BASELINE_MONTH = _I("ref_baseline_month")
DROPOUT_RATE = _I("dropout_rate")
FOLLOWUP_YEARS_MIN = _I("followup_years_min")
FOLLOWUP_YEARS_MAX = _I("followup_years_max")
ENROL_START = _I("enrol_start")
ENROL_END = _I("enrol_end")
CENSOR_DATE = _I("censor_date")
CASE_MIX = _I("case_mix")
IMMORTAL_TIME_TREATED = _I("immortal_time_treated")
IMMORTAL_TIME_REFERENCE = _I("immortal_time_reference")
ERA_HR = _I("era_hr")
SELF_SELECTION = _I("self_selection")
REGRESSION_TO_MEAN = _I("regression_to_mean")
RETRO_NOISE = _I("retro_noise")
UNBLINDED_SHIFT = _I("unblinded_shift")
DIFFERENTIAL_FOLLOWUP = _I("differential_followup")
TREATED_LOSS_RATE = _I("treated_loss_rate")
DEATH_ASCERTAINMENT = _I("death_ascertainment")
HR = _I("hr")
LOG_HR_SD = _I("log_hr_sd")
RATE_CHANGE = _I("rate_change")
RATE_CHANGE_SD = _I("rate_change_sd")

_F = POP_FIELDS.index
F_P_MALE = _F("p_male")
F_P_WHITE = _F("p_white")
F_P_BULBAR = _F("p_bulbar")
F_P_RILUZOLE = _F("p_riluzole")
F_AGE_MEAN = _F("age_mean")
F_AGE_SD = _F("age_sd")
F_RATE_SHIFT = _F("rate_log_shift")
F_DUR_LOG_MEAN = _F("duration_log_mean")
F_DUR_LOG_SD = _F("duration_log_sd")
F_AGE_MIN = _F("age_min")
F_AGE_MAX = _F("age_max")
F_MIN_SCORE = _F("min_score")
F_MAX_DURATION = _F("max_duration")
F_MIN_RESP = _F("min_resp")
assert THETA_NAMES[REG0:REG0 + N_POP] == tuple("reg_" + f for f in POP_FIELDS)
assert THETA_NAMES[CLIN0:CLIN0 + N_POP] == tuple("clin_" + f for f in POP_FIELDS)
del _I, _F

AGE_REF = 55.0                      # centring of age in the rate and the hazard
DAYS_PER_MONTH = 365.25 / 12.0
SQRT6 = math.sqrt(6.0)
ENROL_LOGIT_SLOPE_REF = 1.0         # regression_to_mean centres the observed slope here

# ------------------------------------------------------------------- streams

STREAM_POOL = 1       # derive(replicate or pool-policy key, STREAM_POOL)
STREAM_TREATED = 2    # derive(root_key, STREAM_TREATED)
STREAM_DESIGN = 3     # reserved for the design (random match order / choice)
POOL_PER_CONDITION = 0
POOL_PER_REPLICATE = 1
POOL_PER_BLOCK = 2
POOL_LABEL = 1 << 62  # replicate label reserved for condition / block pools

PURPOSE_BASE = 1      # covariates, u, rate, duration, shares, design draws
PURPOSE_TRAJ = 2      # within-patient variation w(t), counter = visit slot
PURPOSE_NOISE = 3     # rater noise, counter = 8 * slot + 2 * domain (+1)
PURPOSE_SURV = 4      # death time
PURPOSE_RETEST = 5    # a second, independent rating (calibration of the ICC)

# counters inside the BASE stream
_C_SEX, _C_RACE, _C_ONSET, _C_RIL, _C_AGE, _C_U, _C_RATE, _C_DUR = 0, 1, 2, 3, 4, 5, 6, 7
_C_SHARE = 8
_C_LIMB = 12
_C_TRIAL_LEN, _C_DROPOUT, _C_FU_KIND, _C_FU_LEN = 13, 14, 15, 16
_C_ENROL_DATE, _C_ACCEPT, _C_LOSS, _C_ASCERTAIN, _C_CONTACT = 17, 18, 19, 20, 21
_C_LOG_HR, _C_RATE_CHANGE, _C_RETRO = 22, 23, 24

# ------------------------------------------------------------- output layout

# pool_baseline: what matching needs (one row per pool patient)
PB_SEX, PB_RACE, PB_ONSET, PB_RILUZOLE, PB_AGE, PB_FT9 = 0, 1, 2, 3, 4, 5
PB_ALSFRS_PRE, PB_ALSFRS_0, PB_PRE_SLOPE, PB_ELIGIBLE = 6, 7, 8, 9
PB_U, PB_RATE, PB_DURATION, PB_ENTRY_SCORE = 10, 11, 12, 13
N_PB = 14
PB_NAMES = ("sex", "race", "onset", "riluzole", "age", "ft9_stage", "alsfrs_pre",
            "alsfrs_0", "pre_slope", "eligible", "u", "rate", "duration_entry",
            "alsfrs_entry")

# pool_outcomes: outcomes of selected pool patients
PO_ALSFRS_2, PO_ALSFRS_4, PO_ALSFRS_6, PO_TIME_DAYS, PO_EVENT = 0, 1, 2, 3, 4
PO_DEATH_DAYS, PO_TRUE_0, PO_TRUE_6 = 5, 6, 7
N_PO = 8
PO_NAMES = ("alsfrs_2", "alsfrs_4", "alsfrs_6", "time_days", "event",
            "death_days", "true_0", "true_6")

# treated_cohort: one row per analysed treated patient (same layout for the twin)
TC_SEX, TC_RACE, TC_ONSET, TC_RILUZOLE, TC_AGE, TC_FT9 = 0, 1, 2, 3, 4, 5
TC_ALSFRS_PRE, TC_ALSFRS_0, TC_ALSFRS_2, TC_ALSFRS_4, TC_ALSFRS_6 = 6, 7, 8, 9, 10
TC_TIME_DAYS, TC_EVENT = 11, 12
TC_U, TC_RATE, TC_DURATION, TC_ENROL_YEAR, TC_DEATH_DAYS = 13, 14, 15, 16, 17
TC_TRUE_0, TC_TRUE_6, TC_LOG_HR, TC_RATE_CHANGE, TC_APPLICANT = 18, 19, 20, 21, 22
N_TC = 23
TC_NAMES = ("sex", "race", "onset", "riluzole", "age", "ft9_stage", "alsfrs_pre",
            "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6", "time_days", "event",
            "u", "rate", "duration", "enrol_year", "death_days", "true_0", "true_6",
            "log_hr", "rate_change", "applicant")

# per-patient scratch state
S_MALE, S_WHITE, S_BULBAR, S_RIL, S_AGE, S_U, S_LOGR, S_R = 0, 1, 2, 3, 4, 5, 6, 7
S_LOGD, S_D, S_A0, S_ETA = 8, 9, 10, 14   # S_A0..S_A0+3: domain shares
S_BRK, S_TAIL = 15, 18                    # loss breakpoints (3), tail share sums (4)
N_S = 22

# ----------------------------------------------------------------- helpers

_TWO52 = 4503599627370496.0     # uniform * 2^52 -> 52 random bits: four 13-bit fields
_MASK13 = 8191

# per-call constants (prepare_constants): hoisted out of the patient loops
K_LOG_SCALE, K_INV_SHAPE, K_RHO2, K_SIG2, K_RHO6, K_SIG6 = 0, 1, 2, 3, 4, 5
K_STAY_B0, K_STAY_LAST, K_LAST_VISIT = 6, 7, 8
N_K = 9

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
def pool_key(seed, condition, replicate, policy, block_size):
    """Key of the registry pool a replicate uses under a pool policy.

    POOL_PER_REPLICATE: a fresh pool per replicate; POOL_PER_CONDITION: one pool
    per (seed, condition) (the real registry is one fixed database);
    POOL_PER_BLOCK: one per block of `block_size` consecutive replicates.
    Replicate indices must be < 2**62 (the condition / block pools use
    replicate label 2**62).
    """
    if policy == POOL_PER_REPLICATE:
        return derive(root_key(seed, condition, replicate), STREAM_POOL)
    base = root_key(seed, condition, POOL_LABEL)
    if policy == POOL_PER_BLOCK:
        return derive(derive(base, 1 + replicate // max(block_size, 1)), STREAM_POOL)
    return derive(derive(base, 0), STREAM_POOL)


@njit(cache=True, error_model="numpy")
def treated_key(seed, condition, replicate):
    """Key of the treated-applicant stream of a replicate."""
    return derive(root_key(seed, condition, replicate), STREAM_TREATED)


@njit(cache=True, error_model="numpy")
def population(theta, mix, out):
    """Applicant population: registry block + mix * (clinic - registry)."""
    for f in range(N_POP):
        out[f] = theta[REG0 + f] + mix * (theta[CLIN0 + f] - theta[REG0 + f])


@njit(cache=True, error_model="numpy")
def draw_base(theta, pop, ub, st):
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
    st[S_MALE] = male
    st[S_WHITE] = white
    st[S_BULBAR] = bulbar
    st[S_RIL] = ril
    st[S_AGE] = age
    st[S_U] = u
    st[S_LOGR] = logr
    st[S_R] = math.exp(logr)
    st[S_LOGD] = logd
    st[S_D] = math.exp(logd)
    st[S_ETA] = (theta[BETA_LOG_RATE] * logr + theta[BETA_AGE10] * age10
                 + theta[BETA_BULBAR] * bulbar + theta[BETA_RILUZOLE] * ril + theta[BETA_U] * u)


@njit(cache=True, error_model="numpy")
def draw_shares(theta, ub, st):
    """Domain shares of the loss: the onset region weighted up (spinal onset is
    upper or lower limb with probability 1/2), times uniform heterogeneity."""
    extra = theta[ONSET_WEIGHT] - 1.0
    bulbar = st[S_BULBAR]
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
    st[S_A0] = a0
    st[S_A0 + 1] = a1
    st[S_A0 + 2] = a2
    st[S_A0 + 3] = a3
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
    st[S_TAIL] = 1.0
    st[S_TAIL + 1] = s2 + s3 + s4
    st[S_TAIL + 2] = s3 + s4
    st[S_TAIL + 3] = s4
    st[S_BRK] = 12.0 / s1
    st[S_BRK + 1] = 12.0 + 12.0 * (s2 + s3 + s4) / s2
    st[S_BRK + 2] = 24.0 + 12.0 * (s3 + s4) / s3


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
def rate_visit(st, loss, u1, u2, rater_sd):
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
    a = rater_sd * SQRT6
    b1 = np.int64(u1 * _TWO52)
    b2 = np.int64(u2 * _TWO52)
    # breakpoints increase, so the phase is a count (no data-dependent branch)
    k = (np.int64(loss >= st[S_BRK]) + np.int64(loss >= st[S_BRK + 1])
         + np.int64(loss >= st[S_BRK + 2]))
    x = (loss - 12.0 * k) / st[S_TAIL + k]
    total = 0.0
    true_total = 0.0
    n_low = 0.0
    resp = 0.0
    for d in range(4):
        s = min(max(12.0 - st[S_A0 + d] * x, 0.0), 12.0)
        true_total += s
        h1 = (b1 >> (13 * d)) & _MASK13
        h2 = (b2 >> (13 * d)) & _MASK13
        e = a * ((h1 + h2 + 1.0) / 8192.0 - 1.0)
        o = min(max(math.floor(s + e + 0.5), 0.0), 12.0)
        total += o
        n_low += np.float64(o < 9.0)
        resp = o
    return total, 1.0 + n_low, resp, true_total


@njit(cache=True, inline="always", error_model="numpy")
def loss_at(st, tau, w, post_rate):
    """Latent points lost at index-relative time tau (months).

    Before onset nothing is lost; after the index the rate is `post_rate`
    (r untreated, max(r + delta, 0) treated)."""
    t = st[S_D] + tau
    if t <= 0.0:
        return 0.0
    if tau <= 0.0:
        return st[S_R] * t + w
    return st[S_R] * st[S_D] + post_rate * tau + w


@njit(cache=True, error_model="numpy")
def death_time(k, theta, st, log_hr_after_index, e):
    """Months since onset at death, given alive at the index (T > D).

    Cumulative hazard H(t) = (t / scale)^shape * exp(eta), multiplied by
    exp(log_hr_after_index) after the index; T solves H(T) - H(D) = e, e ~ Exp(1).
    """
    h_d = math.exp(theta[WEIBULL_SHAPE] * (st[S_LOGD] - k[K_LOG_SCALE]))
    x = h_d + e * math.exp(-(st[S_ETA] + log_hr_after_index))
    return theta[WEIBULL_SCALE] * math.exp(math.log(x) * k[K_INV_SHAPE])


@njit(cache=True, inline="always", error_model="numpy")
def clip48(x):
    if x < 0.0:
        return 0.0
    if x > 48.0:
        return 48.0
    return x


# ------------------------------------------------------------ registry pool

# uniforms part (a) of a pool candidate needs: BASE counters 0 .. N_UB_POOL - 1
# and these visit draws (TRAJ slot m = trial month; NOISE counters 2m, 2m + 1)
N_UB_POOL = _C_DROPOUT + 1
V_T0, V_TPRE, V_TB0, V_N0A, V_N0B, V_NPREA, V_NPREB, V_NB0A, V_NB0B, V_S = range(10)
N_UV_POOL = 10
N_RES = 12


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


@njit(cache=True, error_model="numpy")
def _pool_draws_block(key, j0, ib0, pks, ubs, uvs):
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


@njit(cache=True, inline="always", error_model="numpy")
def _pool_core(k, theta, pop, ub, uv, st, res):
    """Everything about a pool candidate up to the reference baseline, from its
    uniforms (ub, uv: _pool_draws).

    res: 0 included (1/0), 1 eligible, 2 entry score, 3 pre score, 4 score at
    baseline, 5 FT9 at baseline, 6 trial months, 7 dropout uniform, 8 death
    (months since onset), 9 w at baseline, 10 true total at baseline,
    11 baseline visit happened (1/0).
    """
    draw_base(theta, pop, ub, st)
    res[0] = 0.0
    res[1] = 0.0
    res[11] = 0.0
    age = st[S_AGE]
    if age < pop[F_AGE_MIN] or age > pop[F_AGE_MAX] or st[S_D] > pop[F_MAX_DURATION]:
        return
    draw_shares(theta, ub, st)
    rsd = theta[RATER_SD]
    r = st[S_R]
    b0 = theta[REF_BASELINE_MONTH]
    w_entry = ou_first(theta, uv[V_T0])
    entry, _ft9e, resp_e, _te = rate_visit(st, loss_at(st, 0.0, w_entry, r), uv[V_N0A], uv[V_N0B], rsd)
    res[2] = entry
    if entry < pop[F_MIN_SCORE] or resp_e < pop[F_MIN_RESP]:
        return
    res[0] = 1.0
    # trial conduct and death
    tmin = theta[TRIAL_MONTHS_MIN]
    trial_len = tmin + math.floor(ub[_C_TRIAL_LEN] * (theta[TRIAL_MONTHS_MAX] - tmin + 1.0))
    u_drop = ub[_C_DROPOUT]
    t_death = death_time(k, theta, st, 0.0, -math.log(uv[V_S]))
    res[6] = trial_len
    res[7] = u_drop
    res[8] = t_death
    # reference pre visit (trial month b0 - 6) and baseline (b0)
    m_pre = b0 - 6.0
    if m_pre == 0.0:
        w_pre = w_entry
        pre = entry
    else:
        w_pre = ou_next(theta, w_entry, m_pre, uv[V_TPRE])
        pre, _f, _r, _t = rate_visit(st, loss_at(st, m_pre, w_pre, r), uv[V_NPREA], uv[V_NPREB], rsd)
    w0 = ou_step(w_pre, k[K_RHO6], k[K_SIG6], uv[V_TB0])
    s0, ft9, _r0, true0 = rate_visit(st, loss_at(st, b0, w0, r), uv[V_NB0A], uv[V_NB0B], rsd)
    res[3] = pre
    res[4] = s0
    res[5] = ft9
    res[9] = w0
    res[10] = true0
    d = st[S_D]
    # visits at pre and baseline; with immortal time M, alive and in the trial
    # at b0 + M (then the visits at b0 + 2, 4, 6 up to M exist too)
    if b0 > trial_len or u_drop >= k[K_STAY_B0] or t_death <= d + b0:
        return
    res[11] = 1.0
    m_need = b0 + theta[IMMORTAL_TIME_REFERENCE]
    if m_need > b0:
        if k[K_LAST_VISIT] > trial_len or u_drop >= k[K_STAY_LAST] or t_death <= d + m_need:
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
    st = np.empty(N_S)
    res = np.empty(N_RES)
    k = np.empty(N_K)
    prepare_constants(theta, k)
    pop = theta[REG0:REG0 + N_POP]
    b0 = theta[REF_BASELINE_MONTH]
    ib0 = int(b0)
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
            _pool_draws_block(key, j, ib0, pks, ubs, uvs)
            i = 0
        pk = pks[i]
        # copied, not ubs[i] / uvs[i]: a view costs two atomic reference-count
        # updates, more than these copies
        for c in range(N_UB_POOL):
            ub[c] = ubs[i, c]
        for c in range(N_UV_POOL):
            uv[c] = uvs[i, c]
        _pool_core(k, theta, pop, ub, uv, st, res)
        i += 1
        j += 1
        if res[0] < 0.5:
            continue
        out[filled, PB_SEX] = st[S_MALE]
        out[filled, PB_RACE] = 1.0 - st[S_WHITE]
        out[filled, PB_ONSET] = st[S_BULBAR]
        out[filled, PB_RILUZOLE] = st[S_RIL]
        out[filled, PB_AGE] = st[S_AGE] + b0 / 12.0
        out[filled, PB_ENTRY_SCORE] = res[2]
        out[filled, PB_U] = st[S_U]
        out[filled, PB_RATE] = st[S_R]
        out[filled, PB_DURATION] = st[S_D]
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
    st = np.empty(N_S)
    res = np.empty(N_RES)
    k = np.empty(N_K)
    prepare_constants(theta, k)
    pop = theta[REG0:REG0 + N_POP]
    b0 = theta[REF_BASELINE_MONTH]
    ib0 = int(b0)
    rsd = theta[RATER_SD]
    rate = theta[DROPOUT_RATE]
    ub = np.empty(N_UB_POOL)
    uv = np.empty(N_UV_POOL)
    for i in range(m):
        pk = keys[i]
        _pool_draws(pk, ib0, ub, uv)
        _pool_core(k, theta, pop, ub, uv, st, res)
        trial_len = res[6]
        u_drop = res[7]
        t_death = res[8]
        d = st[S_D]
        r = st[S_R]
        tk = derive(pk, PURPOSE_TRAJ)
        nk = derive(pk, PURPOSE_NOISE)
        w = res[9]
        true6 = np.nan
        for v in range(3):
            mo = ib0 + 2 * (v + 1)
            w = ou_step(w, k[K_RHO2], k[K_SIG2], uniform(tk, mo))
            tot, _f, _r, tt = rate_visit(st, loss_at(st, float(mo), w, r),
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
        if uniform(kb, _C_FU_KIND) < theta[DIFFERENTIAL_FOLLOWUP]:
            c_entry = trial_len
            if rate > 0.0:
                c_entry = min(trial_len, -math.log(u_drop) / rate)
        else:
            fy0 = theta[FOLLOWUP_YEARS_MIN]
            c_entry = 12.0 * (fy0 + uniform(kb, _C_FU_LEN) * (theta[FOLLOWUP_YEARS_MAX] - fy0))
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


@njit(cache=True, error_model="numpy")
def retest_entry(theta, keys, out):
    """Entry-visit totals of pool patients rated twice: out (m, 2).

    Column 0 is the rating pool_baseline uses; column 1 an independent rater
    (PURPOSE_RETEST noise) of the same latent state: a test-retest pair.
    """
    st = np.empty(N_S)
    pop = theta[REG0:REG0 + N_POP]
    rsd = theta[RATER_SD]
    ub = np.empty(N_UB_POOL)
    uv = np.empty(N_UV_POOL)
    for i in range(keys.shape[0]):
        pk = keys[i]
        _pool_draws(pk, int(theta[REF_BASELINE_MONTH]), ub, uv)
        draw_base(theta, pop, ub, st)
        draw_shares(theta, ub, st)
        loss = loss_at(st, 0.0, ou_first(theta, uv[V_T0]), st[S_R])
        out[i, 0] = rate_visit(st, loss, uv[V_N0A], uv[V_N0B], rsd)[0]
        rk = derive(pk, PURPOSE_RETEST)
        out[i, 1] = rate_visit(st, loss, uniform(rk, 0), uniform(rk, 1), rsd)[0]


# ----------------------------------------------------------- treated cohort

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
def _applicant(k, theta, pop, ak, st, ub, out, twin, f, with_twin):
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
    draw_base(theta, pop, ub, st)
    age = st[S_AGE]
    d = st[S_D]
    if age < pop[F_AGE_MIN] or age > pop[F_AGE_MAX] or d > pop[F_MAX_DURATION]:
        return False
    draw_shares(theta, ub, st)
    tk = derive(ak, PURPOSE_TRAJ)
    nk = derive(ak, PURPOSE_NOISE)
    rsd = theta[RATER_SD]
    r = st[S_R]
    # slots: month -6 -> 0, 0 -> 6, 2 -> 8, 4 -> 10, 6 -> 12
    w_pre = ou_first(theta, uniform(tk, 0))
    pre, _f, _rp, _tp = rate_visit(st, loss_at(st, -6.0, w_pre, r), uniform(nk, 0), uniform(nk, 1), rsd)
    w0 = ou_step(w_pre, k[K_RHO6], k[K_SIG6], uniform(tk, 6))
    s0, ft9, resp0, true0 = rate_visit(st, loss_at(st, 0.0, w0, r), uniform(nk, 12), uniform(nk, 13), rsd)
    if s0 < pop[F_MIN_SCORE] or resp0 < pop[F_MIN_RESP]:
        return False
    # retrospective pre-score: recalled, with extra noise
    pre_rec = pre
    if theta[RETRO_NOISE] > 0.0:
        pre_rec = clip48(round_half_up(pre + theta[RETRO_NOISE] * std_normal(kb, _C_RETRO)))
    slope = (pre_rec - s0) / 6.0
    x = theta[SELF_SELECTION] * st[S_U] + theta[REGRESSION_TO_MEAN] * (slope - ENROL_LOGIT_SLOPE_REF)
    if uniform(kb, _C_ACCEPT) * (1.0 + math.exp(-x)) >= 1.0:
        return False
    # treatment effect (patient-specific) and survival in both worlds
    log_hr = math.log(theta[HR]) + theta[LOG_HR_SD] * std_normal(kb, _C_LOG_HR)
    delta = theta[RATE_CHANGE] + theta[RATE_CHANGE_SD] * std_normal(kb, _C_RATE_CHANGE)
    e = -math.log(uniform(derive(ak, PURPOSE_SURV), 0))
    log_era = math.log(theta[ERA_HR])
    t_tr = death_time(k, theta, st, log_era + log_hr, e)
    t_tw = death_time(k, theta, st, log_era, e) if with_twin else np.nan
    if t_tr <= d + theta[IMMORTAL_TIME_TREATED] and theta[IMMORTAL_TIME_TREATED] > 0.0:
        return False
    # enrolled and analysed: fill both rows
    post_tr = r + delta
    if post_tr < 0.0:
        post_tr = 0.0
    shift = theta[UNBLINDED_SHIFT]
    for which in range(2 if with_twin else 1):
        rr = out if which == 0 else twin
        rr[f, TC_SEX] = st[S_MALE]
        rr[f, TC_RACE] = 1.0 - st[S_WHITE]
        rr[f, TC_ONSET] = st[S_BULBAR]
        rr[f, TC_RILUZOLE] = st[S_RIL]
        rr[f, TC_AGE] = age
        rr[f, TC_FT9] = ft9
        rr[f, TC_ALSFRS_PRE] = pre_rec
        rr[f, TC_ALSFRS_0] = s0
        rr[f, TC_U] = st[S_U]
        rr[f, TC_RATE] = r
        rr[f, TC_DURATION] = d
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
        o_tr, _a, _b, tt_tr = rate_visit(st, loss_at(st, mo, w, post_tr), n1, n2, rsd)
        if shift != 0.0:
            o_tr = clip48(round_half_up(o_tr + shift))
        out[f, TC_ALSFRS_2 + v] = o_tr if t_tr > d + mo else np.nan
        if v == 2:
            out[f, TC_TRUE_6] = tt_tr
        if with_twin:
            o_tw, _c, _e, tt_tw = rate_visit(st, loss_at(st, mo, w, r), n1, n2, rsd)
            twin[f, TC_ALSFRS_2 + v] = o_tw if t_tw > d + mo else np.nan
            if v == 2:
                twin[f, TC_TRUE_6] = tt_tw
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
    st = np.empty(N_S)
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
        if _applicant(k, theta, pop, ak, st, ub, out, twin, filled, with_twin):
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
