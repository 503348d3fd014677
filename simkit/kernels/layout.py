"""Layouts and streams of the simulated world: what every world kernel agrees on.

The flat float64 parameter vector `theta` (THETA_NAMES and the index constants
built from it), the population blocks of the registry (reg_) and the clinic
(clin_), the keyed random streams (which stream and purpose each draw comes
from, and the counters inside a patient's BASE stream), and the column layouts
of the kernels' outputs: the pool's matching variables (PB_*), pool outcomes
(PO_*), the treated cohort (TC_*), and per-patient scratch state (S_*, K_*).

Keys: a replicate's pool and treated cohort each have a stream key; patient j
of a stream has key derive(stream, j) (candidates / applicants are numbered and
the accepted ones keep their key), and each purpose its own child key:
derive(patient, PURPOSE_*).  So a patient's numbers depend on nothing but its
key, and the outcomes of any subset of the pool equal those computed for all.
"""

import math

from numba import njit

from .rng import derive, root_key

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
    # the course of decline: curvature and plateaus (kernels/patient.py draw_course)
    "curvature_mean", "curvature_sd", "plateau_share", "plateau_months",
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
    "reference_death_selection", "recall_shift", "early_exclusion", "waiting_months",
    "time_zero_misalignment",
    # true treatment effect
    "hr", "log_hr_sd", "rate_change", "rate_change_sd", "slope_hazard_link",
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
CURVATURE_MEAN = _I("curvature_mean")
CURVATURE_SD = _I("curvature_sd")
PLATEAU_SHARE = _I("plateau_share")
PLATEAU_MONTHS = _I("plateau_months")
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
REFERENCE_DEATH_SELECTION = _I("reference_death_selection")
RECALL_SHIFT = _I("recall_shift")
EARLY_EXCLUSION = _I("early_exclusion")
WAITING_MONTHS = _I("waiting_months")
TIME_ZERO_MISALIGNMENT = _I("time_zero_misalignment")
HR = _I("hr")
LOG_HR_SD = _I("log_hr_sd")
RATE_CHANGE = _I("rate_change")
RATE_CHANGE_SD = _I("rate_change_sd")
SLOPE_HAZARD_LINK = _I("slope_hazard_link")

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
STREAM_PRIOR = 4      # derive(root_key(seed, c, label), STREAM_PRIOR): parameters drawn from priors
POOL_PER_CONDITION = 0
POOL_PER_REPLICATE = 1
POOL_PER_BLOCK = 2
POOL_LABEL = 1 << 62  # replicate label reserved for condition / block pools
# the pool policies by name: the design vocabulary (design/choices.py) and world.pool_key read this one map
POOL_POLICIES = {"condition": POOL_PER_CONDITION, "replicate": POOL_PER_REPLICATE, "block": POOL_PER_BLOCK}

PURPOSE_BASE = 1      # covariates, u, rate, duration, shares, design draws
PURPOSE_TRAJ = 2      # within-patient variation w(t), counter = visit slot
PURPOSE_NOISE = 3     # rater noise, counter = 8 * slot + 2 * domain (+1)
PURPOSE_SURV = 4      # death time
PURPOSE_RETEST = 5    # a second, independent rating (calibration of the ICC)
PURPOSE_COURSE = 6    # curvature and plateau episodes (draw_course), counter = draw

# counters inside the BASE stream
_C_SEX, _C_RACE, _C_ONSET, _C_RIL, _C_AGE, _C_U, _C_RATE, _C_DUR = 0, 1, 2, 3, 4, 5, 6, 7
_C_SHARE = 8
_C_LIMB = 12
_C_TRIAL_LEN, _C_DROPOUT, _C_FU_KIND, _C_FU_LEN = 13, 14, 15, 16
_C_ENROL_DATE, _C_ACCEPT, _C_LOSS, _C_ASCERTAIN, _C_CONTACT = 17, 18, 19, 20, 21
_C_LOG_HR, _C_RATE_CHANGE, _C_RETRO = 22, 23, 24
_C_TIME_ZERO, _C_EXCLUDE, _C_WAIT, _C_DEATH_SELECT = 25, 26, 27, 28
N_UB_POOL = _C_DROPOUT + 1   # BASE counters 0 .. this - 1: what a pool candidate's part (a) draws

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
# the course of decline (draw_course): on (0/1), anchor (index-relative month of
# the first visit), curvature kappa, progress speed 1 / (1 - plateau share),
# initial state (1 = plateau), number of switches, X at the index, switch times
S_CRS_ON, S_CRS_ANCHOR, S_CRS_KAPPA, S_CRS_SPEED, S_CRS_STATE0, S_CRS_NSW, S_CRS_X0 = 22, 23, 24, 25, 26, 27, 28
S_CRS_SW0 = 29
N_CRS_SW = 32                             # switch times stored (months after the anchor)
CRS_HORIZON = 72.0                        # spells are drawn at most this far past the anchor
# spells are drawn as far as a visit asks (course_x): every switch before DRAWN
# months is stored (inf: all there are); what drawing on needs: the horizon, the
# end of the next spell (not stored yet) and its state, the mean spell lengths
# (plateau, progressing) and the course key's high and low 32 bits
S_CRS_DRAWN = S_CRS_SW0 + N_CRS_SW
S_CRS_HZ, S_CRS_NEXT, S_CRS_STATE, S_CRS_M_PL, S_CRS_M_PR, S_CRS_KEY_HI, S_CRS_KEY_LO = range(
    S_CRS_DRAWN + 1, S_CRS_DRAWN + 8)
N_S = S_CRS_KEY_LO + 1

# per-call constants (prepare_constants): hoisted out of the patient loops
K_LOG_SCALE, K_INV_SHAPE, K_RHO2, K_SIG2, K_RHO6, K_SIG6 = 0, 1, 2, 3, 4, 5
K_STAY_B0, K_STAY_LAST, K_LAST_VISIT = 6, 7, 8
N_K = 9


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
