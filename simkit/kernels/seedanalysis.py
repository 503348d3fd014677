"""The seed paper's whole analysis of one matched table, as one numba kernel.

`simkit analyze` (one user data set) and every Monte Carlo replicate call
`analyze_pairs`, so both give the same numbers by construction.  The result is
a flat float64 vector; `FIELDS` (kernels/outputs.py) names its entries (NaN = null) and the
integer constants below index it.  docs/matched-cohort.md (contract v1.1)
gives the definitions.

Layout of the inputs: n pairs; rows 0..n-1 are the treated patients and rows
n..2n-1 their reference patients in the same order.
"""
import math

import numpy as np
from numba import njit

from . import status as st
from .chi2 import chi2_independence
from .cox import Z95, cox_binary, cox_binary_robust_se, cox_pairs_stratified, wald
from .km import km_median
from .logistic import logistic_fit
from .logrank import GEHAN, LOGRANK, PETO, TARONE_WARE, logrank_family_sorted
from .ols import ols_fit
from .signedrank import signed_rank

from .outputs import ANALYSIS_NAMES as FIELDS
from .outputs import SUBGROUP_LEVELS, SUBGROUP_STATS  # noqa: F401  (re-exported)

N_FIELDS = len(FIELDS)
_I = FIELDS.index
N_PAIRS = _I("n_pairs")
HR = _I("hr")
HR_CI_LOW = _I("hr_ci_low")
HR_CI_HIGH = _I("hr_ci_high")
HR_P = _I("hr_p")
LOG_HR = _I("log_hr")
LOG_HR_SE = _I("log_hr_se")
COX_STATUS = _I("cox_status")
LOG_HR_SE_ROBUST = _I("log_hr_se_robust")
HR_CI_LOW_ROBUST = _I("hr_ci_low_robust")
HR_CI_HIGH_ROBUST = _I("hr_ci_high_robust")
HR_P_ROBUST = _I("hr_p_robust")
COX_ROBUST_STATUS = _I("cox_robust_status")
HR_STRAT = _I("hr_strat")
HR_STRAT_CI_LOW = _I("hr_strat_ci_low")
HR_STRAT_CI_HIGH = _I("hr_strat_ci_high")
HR_STRAT_P = _I("hr_strat_p")
LOG_HR_STRAT = _I("log_hr_strat")
LOG_HR_STRAT_SE = _I("log_hr_strat_se")
N_PAIRS_INFORMATIVE = _I("n_pairs_informative")
COX_STRAT_STATUS = _I("cox_strat_status")
MEDIAN_DAYS_TREATED = _I("median_days_treated")
MEDIAN_DAYS_REFERENCE = _I("median_days_reference")
MEDIAN_TREATED_REACHED = _I("median_treated_reached")
MEDIAN_REFERENCE_REACHED = _I("median_reference_reached")
LOGRANK_P = _I("logrank_p")
GEHAN_P = _I("gehan_p")
TARONE_WARE_P = _I("tarone_ware_p")
PETO_P = _I("peto_p")
LOGRANK_CHI2 = _I("logrank_chi2")
GEHAN_CHI2 = _I("gehan_chi2")
TARONE_WARE_CHI2 = _I("tarone_ware_chi2")
PETO_CHI2 = _I("peto_chi2")
TESTS_STATUS = _I("tests_status")
N_EVENTS_TREATED = _I("n_events_treated")
N_EVENTS_REFERENCE = _I("n_events_reference")
SHARE_CENSORED_TREATED = _I("share_censored_treated")
SHARE_CENSORED_REFERENCE = _I("share_censored_reference")
MIN_SURVIVAL_P = _I("min_survival_p")
N_DECREASED = _I("n_decreased")
N_NO_CHANGE = _I("n_no_change")
N_INCREASED = _I("n_increased")
EARLY_COEF = _I("early_coef")
EARLY_SE = _I("early_se")
EARLY_CI_LOW = _I("early_ci_low")
EARLY_CI_HIGH = _I("early_ci_high")
EARLY_P = _I("early_p")
EARLY_STATUS = _I("early_status")
SIGNED_RANK_STATISTIC = _I("signed_rank_statistic")
SIGNED_RANK_P = _I("signed_rank_p")
SIGNED_RANK_N = _I("signed_rank_n")
SIGNED_RANK_STATUS = _I("signed_rank_status")
TREATED_COEF = _I("treated_coef")
TREATED_SE = _I("treated_se")
TREATED_P = _I("treated_p")
OLS_STATUS = _I("ols_status")
DROPPED_SURVIVAL = _I("dropped_survival")
DROPPED_CLASSES = _I("dropped_classes")
DROPPED_EARLY = _I("dropped_early")
DROPPED_SIGNED_RANK = _I("dropped_signed_rank")
DROPPED_OLS = _I("dropped_ols")
HR_FIRTH = _I("hr_firth")
HR_FIRTH_CI_LOW = _I("hr_firth_ci_low")
HR_FIRTH_CI_HIGH = _I("hr_firth_ci_high")
HR_FIRTH_P = _I("hr_firth_p")
COX_FIRTH_STATUS = _I("cox_firth_status")
EARLY_COEF_FIRTH = _I("early_coef_firth")
EARLY_FIRTH_CI_LOW = _I("early_firth_ci_low")
EARLY_FIRTH_CI_HIGH = _I("early_firth_ci_high")
EARLY_FIRTH_P = _I("early_firth_p")
EARLY_FIRTH_STATUS = _I("early_firth_status")
MIN_SUBGROUP_P = _I("min_subgroup_p")
SG0 = _I("sg_sex_M_n")  # first subgroup field; row L, stat s at SG0 + 6 * L + s
del _I

# columns of the score matrix
S_PRE, S_0, S_2, S_4, S_6 = 0, 1, 2, 3, 4

DECREASED, NO_CHANGE, INCREASED = 0, 1, 2
RESPONSE_THRESHOLD = 3.0  # points; |d| == 3 is no_change


@njit(cache=True)
def classify(d):
    """Response class of a pair from d = change_6(treated) - change_6(reference)."""
    if d > RESPONSE_THRESHOLD:
        return DECREASED
    if d < -RESPONSE_THRESHOLD:
        return INCREASED
    return NO_CHANGE


@njit(cache=True)
def _has(scores, row, cols):
    for c in cols:
        if not np.isfinite(scores[row, c]):
            return False
    return True


@njit(cache=True)
def _wald_p(z):
    return math.erfc(abs(z) / math.sqrt(2.0))


@njit(cache=True)
def _logrank_family(time, event, group, out):
    """The four weighted log-rank tests (rows sorted by time) into their fields; the status."""
    chi2 = np.empty(4)
    p = np.empty(4)
    status = logrank_family_sorted(time, event, group, chi2, p)
    if status == st.OK:
        for k, fc, fp in ((LOGRANK, LOGRANK_CHI2, LOGRANK_P), (GEHAN, GEHAN_CHI2, GEHAN_P),
                          (TARONE_WARE, TARONE_WARE_CHI2, TARONE_WARE_P), (PETO, PETO_CHI2, PETO_P)):
            out[fc] = chi2[k]
            out[fp] = p[k]
    return status


@njit(cache=True)
def _pairs_stratified(tt, ee, m, out):
    """The Cox model stratified by pair on the kept pairs (rows j and m + j), into its fields."""
    beta, se, n_inf, status = cox_pairs_stratified(tt[:m], ee[:m], tt[m:], ee[m:])
    out[N_PAIRS_INFORMATIVE] = n_inf
    out[COX_STRAT_STATUS] = status
    if status == st.OK:
        lo, hi, p = wald(beta, se)
        out[HR_STRAT] = math.exp(beta)
        out[HR_STRAT_CI_LOW] = lo
        out[HR_STRAT_CI_HIGH] = hi
        out[HR_STRAT_P] = p
        out[LOG_HR_STRAT] = beta
        out[LOG_HR_STRAT_SE] = se


@njit(cache=True)
def _survival(time, event, n, firth, out):
    keep = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        keep[i] = (np.isfinite(time[i]) and np.isfinite(time[n + i])
                   and event[i] >= 0 and event[n + i] >= 0)
    m = 0
    for i in range(n):
        if keep[i]:
            m += 1
    out[DROPPED_SURVIVAL] = n - m
    tt = np.empty(2 * m)
    ee = np.empty(2 * m, dtype=np.int64)
    gg = np.empty(2 * m, dtype=np.int64)
    xx = np.empty(2 * m)
    pp = np.empty(2 * m, dtype=np.int64)   # the row's pair among the m kept: treated j and reference m + j
    j = 0
    for arm in range(2):
        for i in range(n):
            if keep[i]:
                r = arm * n + i
                tt[j] = time[r]
                ee[j] = event[r]
                gg[j] = 1 - arm
                xx[j] = 1.0 - arm
                pp[j] = j - arm * m
                j += 1
    ev_t = 0
    ev_r = 0
    for k in range(2 * m):
        if ee[k] == 1:
            if gg[k] == 1:
                ev_t += 1
            else:
                ev_r += 1
    out[N_EVENTS_TREATED] = ev_t
    out[N_EVENTS_REFERENCE] = ev_r
    if m > 0:
        out[SHARE_CENSORED_TREATED] = (m - ev_t) / m
        out[SHARE_CENSORED_REFERENCE] = (m - ev_r) / m
    if m == 0:
        out[COX_STATUS] = st.MISSING
        out[COX_ROBUST_STATUS] = st.MISSING
        out[COX_STRAT_STATUS] = st.MISSING
        out[N_PAIRS_INFORMATIVE] = 0.0
        out[TESTS_STATUS] = st.MISSING
        out[MEDIAN_TREATED_REACHED] = 0.0
        out[MEDIAN_REFERENCE_REACHED] = 0.0
        if firth:
            out[COX_FIRTH_STATUS] = st.MISSING
        return
    # Sorted by time once: Cox and KM sort their input again (a stable
    # mergesort), which on sorted input is a cheap, well-predicted pass, and
    # the log-rank family needs no sort; every result depends only on the
    # counts at each distinct time, not on the order of the rows.
    _pairs_stratified(tt, ee, m, out)
    order = np.argsort(tt, kind="mergesort")
    tt = tt[order]
    ee = ee[order]
    gg = gg[order]
    xx = xx[order]
    pp = pp[order]
    # firth as a run-time bool, not a literal: numba would compile cox_binary
    # once per literal (seconds of a fresh install's first run)
    plain = m < 0
    beta, se, ll, nit, status = cox_binary(tt, ee, xx, plain)
    out[COX_STATUS] = status
    if status == st.OK:
        lo, hi, p = wald(beta, se)
        out[HR] = math.exp(beta)
        out[HR_CI_LOW] = lo
        out[HR_CI_HIGH] = hi
        out[HR_P] = p
        out[LOG_HR] = beta
        out[LOG_HR_SE] = se
        se_r, status = cox_binary_robust_se(tt, ee, xx, pp, m, beta, se)
        out[COX_ROBUST_STATUS] = status
        if status == st.OK:
            lo, hi, p = wald(beta, se_r)
            out[LOG_HR_SE_ROBUST] = se_r
            out[HR_CI_LOW_ROBUST] = lo
            out[HR_CI_HIGH_ROBUST] = hi
            out[HR_P_ROBUST] = p
    else:
        out[COX_ROBUST_STATUS] = status
    if firth:
        beta, se, ll, nit, status = cox_binary(tt, ee, xx, firth)
        out[COX_FIRTH_STATUS] = status
        if status == st.OK:
            lo, hi, p = wald(beta, se)
            out[HR_FIRTH] = math.exp(beta)
            out[HR_FIRTH_CI_LOW] = lo
            out[HR_FIRTH_CI_HIGH] = hi
            out[HR_FIRTH_P] = p
    t1 = np.empty(m)
    e1 = np.empty(m, dtype=np.int64)
    t0 = np.empty(m)
    e0 = np.empty(m, dtype=np.int64)
    a = 0
    b = 0
    for k in range(2 * m):
        if gg[k] == 1:
            t1[a] = tt[k]
            e1[a] = ee[k]
            a += 1
        else:
            t0[b] = tt[k]
            e0[b] = ee[k]
            b += 1
    med, reached = km_median(t1, e1)
    out[MEDIAN_DAYS_TREATED] = med
    out[MEDIAN_TREATED_REACHED] = 1.0 if reached else 0.0
    med, reached = km_median(t0, e0)
    out[MEDIAN_DAYS_REFERENCE] = med
    out[MEDIAN_REFERENCE_REACHED] = 1.0 if reached else 0.0
    out[TESTS_STATUS] = _logrank_family(tt, ee, gg, out)
    best = np.nan
    for fp in (HR_P, LOGRANK_P, GEHAN_P, TARONE_WARE_P, PETO_P):
        if np.isfinite(out[fp]) and not (out[fp] >= best):
            best = out[fp]
    out[MIN_SURVIVAL_P] = best


@njit(cache=True)
def _early(scores, cls, n, firth, out):
    e = np.empty(n)
    y = np.empty(n)
    m = 0
    for i in range(n):
        if cls[i] >= 0 and np.isfinite(scores[i, S_2]) and np.isfinite(scores[n + i, S_2]):
            e[m] = (scores[i, S_2] - scores[i, S_0]) - (scores[n + i, S_2] - scores[n + i, S_0])
            y[m] = 0.0 if cls[i] == DECREASED else 1.0
            m += 1
    out[DROPPED_EARLY] = n - m
    X = np.empty((m, 2))
    for i in range(m):
        X[i, 0] = 1.0
        X[i, 1] = e[i]
    for pen in (False, True):
        if pen and not firth:
            break
        fs = EARLY_FIRTH_STATUS if pen else EARLY_STATUS
        if m == 0:
            out[fs] = st.MISSING
            continue
        beta, se, nit, status = logistic_fit(X, y[:m], pen)
        out[fs] = status
        if status != st.OK:
            continue
        b = beta[1]
        s = se[1]
        if pen:
            out[EARLY_COEF_FIRTH] = b
            out[EARLY_FIRTH_CI_LOW] = b - Z95 * s
            out[EARLY_FIRTH_CI_HIGH] = b + Z95 * s
            out[EARLY_FIRTH_P] = _wald_p(b / s)
        else:
            out[EARLY_COEF] = b
            out[EARLY_SE] = s
            out[EARLY_CI_LOW] = b - Z95 * s
            out[EARLY_CI_HIGH] = b + Z95 * s
            out[EARLY_P] = _wald_p(b / s)


@njit(cache=True)
def _signed_rank(scores, n, out):
    d = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        if np.isfinite(scores[i, S_PRE]) and np.isfinite(scores[i, S_0]) and np.isfinite(scores[i, S_6]):
            # 6 * (pre_rate - during_rate), an integer: float rounding cannot break ties
            d[m] = np.int64(scores[i, S_PRE]) - 2 * np.int64(scores[i, S_0]) + np.int64(scores[i, S_6])
            m += 1
    out[DROPPED_SIGNED_RANK] = n - m
    if m == 0:
        out[SIGNED_RANK_STATUS] = st.MISSING
        out[SIGNED_RANK_N] = 0.0
        return
    stat, p, n_used, status = signed_rank(d[:m])
    out[SIGNED_RANK_STATUS] = status
    out[SIGNED_RANK_N] = n_used
    if status == st.OK:
        out[SIGNED_RANK_STATISTIC] = stat
        out[SIGNED_RANK_P] = p


@njit(cache=True)
def _ols(scores, n, out):
    keep = np.zeros(n, dtype=np.bool_)
    m = 0
    for i in range(n):
        ok = True
        for r in (i, n + i):
            if not (np.isfinite(scores[r, S_PRE]) and np.isfinite(scores[r, S_0])
                    and np.isfinite(scores[r, S_6])):
                ok = False
        keep[i] = ok
        if ok:
            m += 1
    out[DROPPED_OLS] = n - m
    if m == 0:
        out[OLS_STATUS] = st.MISSING
        return
    X = np.empty((2 * m, 3))
    y = np.empty(2 * m)
    j = 0
    for arm in range(2):
        for i in range(n):
            if keep[i]:
                r = arm * n + i
                X[j, 0] = 1.0
                X[j, 1] = 1.0 - arm
                X[j, 2] = (scores[r, S_PRE] - scores[r, S_0]) / 6.0
                y[j] = (scores[r, S_0] - scores[r, S_6]) / 6.0
                j += 1
    beta, se, pv, dfr, status = ols_fit(X, y)
    out[OLS_STATUS] = status
    out[TREATED_COEF] = beta[1]
    out[TREATED_SE] = se[1]
    out[TREATED_P] = pv[1]


@njit(cache=True)
def median(x):
    """np.median of a 1-D float array (NaN if empty or any value is NaN).

    By the merge sort the survival kernels compile anyway: np.median would
    compile numba's partition select too (about 1.5 s of a cold start)."""
    n = x.shape[0]
    for i in range(n):
        if np.isnan(x[i]):
            return np.nan
    if n == 0:
        return np.nan
    o = np.argsort(x, kind="mergesort")
    h = n >> 1
    if n & 1:
        return x[o[h]]
    return (x[o[h - 1]] + x[o[h]]) / 2


@njit(cache=True)
def _subgroups(scores, cls, t_sex, t_age, t_ft9, t_onset, t_ril, n, out):
    m = 0
    for i in range(n):
        if cls[i] >= 0:
            m += 1
    ages = np.empty(m)
    j = 0
    for i in range(n):
        if cls[i] >= 0:
            ages[j] = t_age[i]
            j += 1
    med = median(ages)
    best = np.nan
    for f in range(6):
        table = np.zeros((2, 3))
        for i in range(n):
            c = cls[i]
            if c < 0:
                continue
            if f == 0:
                lv = 0 if t_sex[i] == 1 else 1
            elif f == 1:
                lv = 0 if t_age[i] < med else 1
            elif f == 2:
                lv = 0 if t_ft9[i] <= 2 else 1
            elif f == 3:
                if not np.isfinite(scores[i, S_PRE]):
                    continue  # pre_rate undefined: in neither level
                # fast: pre_rate >= 1  <=>  alsfrs_pre - alsfrs_0 >= 6 (exact in integers)
                lv = 0 if scores[i, S_PRE] - scores[i, S_0] >= 6.0 else 1
            elif f == 4:
                lv = 0 if t_onset[i] == 1 else 1
            else:
                lv = 0 if t_ril[i] == 1 else 1
            table[lv, c] += 1.0
        stat, p, dof, status = chi2_independence(table, True)
        if status != st.OK:
            p = np.nan
        elif not (p >= best):
            best = p
        for lv in range(2):
            base = SG0 + 6 * (2 * f + lv)
            out[base + 0] = table[lv, 0] + table[lv, 1] + table[lv, 2]
            out[base + 1] = table[lv, 0]
            out[base + 2] = table[lv, 1]
            out[base + 3] = table[lv, 2]
            out[base + 4] = table[lv, 0] / table[lv, 2] if table[lv, 2] > 0 else np.nan
            out[base + 5] = p
    out[MIN_SUBGROUP_P] = best


@njit(cache=True)
def start(n, out):
    """Step 0: every field null, n_pairs set."""
    out[:] = np.nan
    out[N_PAIRS] = n


@njit(cache=True)
def classes(scores, n, out):
    """Step 2: the response class of each pair (-1 if a score is missing) and the class counts."""
    cls = np.full(n, -1, dtype=np.int64)
    counts = np.zeros(3)
    for i in range(n):
        if (np.isfinite(scores[i, S_0]) and np.isfinite(scores[i, S_6])
                and np.isfinite(scores[n + i, S_0]) and np.isfinite(scores[n + i, S_6])):
            d = (scores[i, S_6] - scores[i, S_0]) - (scores[n + i, S_6] - scores[n + i, S_0])
            cls[i] = classify(d)
            counts[cls[i]] += 1.0
    out[N_DECREASED] = counts[DECREASED]
    out[N_NO_CHANGE] = counts[NO_CHANGE]
    out[N_INCREASED] = counts[INCREASED]
    out[DROPPED_CLASSES] = n - (counts[0] + counts[1] + counts[2])
    return cls


@njit(cache=True)
def analyze_pairs(time, event, scores, t_sex, t_age, t_ft9, t_onset, t_ril, firth, out):
    """Fill `out` (f8[N_FIELDS]) with the seed analysis of n matched pairs.

    time f8[2n] days (NaN = missing), event i8[2n] (0/1, -1 = missing),
    scores f8[2n, 5] ALSFRS-R at months -6, 0, 2, 4, 6 (NaN = missing);
    treated covariates: t_sex i8[n] (1 = M), t_age f8[n], t_ft9 i8[n],
    t_onset i8[n] (1 = bulbar), t_ril i8[n] (1 = riluzole).
    Never raises on degenerate data: NaN plus a reason code per step.
    The steps are the contract's (docs/matched-cohort.md); benchmarks/stages.py
    times them one by one.
    """
    n = t_sex.shape[0]
    start(n, out)
    _survival(time, event, n, firth, out)
    cls = classes(scores, n, out)
    _early(scores, cls, n, firth, out)
    _signed_rank(scores, n, out)
    _ols(scores, n, out)
    _subgroups(scores, cls, t_sex, t_age, t_ft9, t_onset, t_ril, n, out)
