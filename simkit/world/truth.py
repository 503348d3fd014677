"""The truth of a world: its estimands, from counterfactual twins (docs/world.md, section 5).

`true_effects` simulates n treated patients with and without treatment and returns
the estimands the design is judged against: the marginal HR with no censoring and under
the design's own follow-up, fixed-horizon contrasts (RMST at 3 years, survival at 2
years, the 6-month ALSFRS-R change), each with its Monte Carlo SE.  Its Cox fit
(`cox_fit`, numpy, Newton-Raphson on the Breslow partial likelihood) lives here rather
than in the kernels: on 2 x 200,000 rows the kernels' Efron fits (kernels.cox
cox_binary and cox_fit) stop NOT_CONVERGED in some worlds (e.g. hr 0.7 with era_hr 1):
their score, a sum of 400,000 terms, has a rounding floor near 3e-4, so the Newton step
stays near 3e-9, above their 1e-10 step tolerance, while numpy's pairwise sums
converge.  Where both converge (16 of the 20 worlds tried) they agree to 2e-10 in
log HR.  The calibration's registry hazard ratios use the same fit.
"""
from __future__ import annotations

import math

import numpy as np

from simkit.world import model as W
from simkit.kernels import history as H


def _risk_sets(time, event, X):
    """Rows sorted by descending time (risk sets are prefixes) and, per row, the last row of
    its tie group (rows tied in time share the risk set of the last of them)."""
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    order = np.argsort(-time, kind="mergesort")
    t, d, Z = time[order], event[order], X[order]
    last = np.r_[np.nonzero(t[1:] != t[:-1])[0], len(t) - 1]
    grp_end = np.repeat(last, np.diff(np.r_[-1, last]))
    return order, t, d, Z, grp_end


def cox_fit(time, event, X, max_iter: int = 50, tol: float = 1e-10, cluster=None):
    """Cox model by Newton-Raphson on the Breslow partial likelihood.

    Exact for continuous times (no ties), which is all the world produces
    before rounding.  Returns (beta, se, converged).  With `cluster` (one label
    per row) se is the cluster-robust sandwich SE (Lin & Wei 1989: the score
    residuals summed within clusters), as lifelines' `robust=True, cluster_col=`
    and R's `coxph(..., cluster=)` give it; without, the model-based SE.
    """
    order, t, d, Z, grp_end = _risk_sets(time, event, X)
    p = Z.shape[1]
    beta = np.zeros(p)
    converged = False
    info = np.eye(p)
    for _ in range(max_iter):
        eta = Z @ beta
        eta -= eta.max()
        w = np.exp(eta)
        s0 = np.cumsum(w)[grp_end]
        s1 = np.cumsum(w[:, None] * Z, axis=0)[grp_end]
        s2 = np.cumsum(w[:, None, None] * Z[:, :, None] * Z[:, None, :], axis=0)[grp_end]
        m1 = s1 / s0[:, None]
        grad = (d[:, None] * (Z - m1)).sum(axis=0)
        info = (d[:, None, None] * (s2 / s0[:, None, None] - m1[:, :, None] * m1[:, None, :])).sum(0)
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    try:
        inv = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return beta, np.full(p, np.nan), converged
    if cluster is None:
        return beta, np.sqrt(np.diag(inv)), converged
    # score residuals at beta (Breslow): W_i = d_i (Z_i - m1(t_i))
    #   - w_i sum over events j with t_j <= t_i of d_j (Z_i - m1(t_j)) / s0(t_j)
    eta = Z @ beta
    eta -= eta.max()
    w = np.exp(eta)
    s0 = np.cumsum(w)[grp_end]
    m1 = np.cumsum(w[:, None] * Z, axis=0)[grp_end] / s0[:, None]
    a = d / s0
    b = (d / s0)[:, None] * m1
    first = np.r_[0, np.nonzero(t[1:] != t[:-1])[0] + 1]      # first row of each tie group
    grp_start = np.repeat(first, np.diff(np.r_[first, len(t)]))
    A = np.cumsum(a[::-1])[::-1][grp_start]                     # events at or after t_i
    B = np.cumsum(b[::-1], axis=0)[::-1][grp_start]
    resid = d[:, None] * (Z - m1) - w[:, None] * (Z * A[:, None] - B)
    g = np.asarray(cluster)[order]
    if not (np.issubdtype(g.dtype, np.integer) and g.min() >= 0):    # labels as they are when they can be
        g = np.unique(g, return_inverse=True)[1]
    U = np.stack([np.bincount(g, weights=resid[:, k]) for k in range(p)], axis=1)
    V = inv @ (U.T @ U) @ inv
    return beta, np.sqrt(np.diag(V)), converged


# The memo (world/memo.py, runner/grid.truths) keys the truth by this version too: a new
# version (new keys, a changed definition) never reads a value stored by an older one.
TRUTH_VERSION = 3

RMST_HORIZON_MONTHS = 36.0        # restricted mean survival time up to 3 years
SURVIVAL_HORIZON_MONTHS = 24.0    # survival difference at 2 years

# key -> (unit, meaning): every number true_effects returns (the summary's truth_<key> coordinates)
TRUTH_DOCS = {
    "conditional_hr": ("HR", "the scenario's treatment.hr: the conditional (patient-level) hazard ratio"),
    "marginal_hr": ("HR", "marginal HR of the treated population, twins followed to death (no censoring)"),
    "marginal_log_hr": ("log HR", "log of marginal_hr"),
    "marginal_log_hr_mcse": ("log HR", "Monte Carlo SE of marginal_log_hr (pair-robust sandwich)"),
    "marginal_hr_followup": ("HR", "marginal HR under the design's follow-up: both twins censored at the "
                                   "treated patient's administrative censoring (censor_date - first injection)"),
    "marginal_log_hr_followup": ("log HR", "log of marginal_hr_followup: what a fair study with the "
                                           "design's entry and follow-up targets"),
    "marginal_log_hr_followup_mcse": ("log HR", "Monte Carlo SE of marginal_log_hr_followup (pair-robust)"),
    "followup_event_share_untreated": ("share", "untreated twins whose death falls within the follow-up"),
    "rmst_difference_3y": ("days", "restricted mean survival time up to 3 years from month 0, treated minus "
                                   "untreated (no censoring)"),
    "rmst_difference_3y_mcse": ("days", "Monte Carlo SE of rmst_difference_3y"),
    "survival_difference_2y": ("probability", "P(alive 2 years after month 0), treated minus untreated"),
    "survival_difference_2y_mcse": ("probability", "Monte Carlo SE of survival_difference_2y"),
    "change_difference_6m": ("points", "mean change of the latent ALSFRS-R total from month 0 to month 6, "
                                       "treated minus untreated (positive = less decline)"),
    "change_difference_6m_mcse": ("points", "Monte Carlo SE of change_difference_6m"),
    "slope_difference": ("points/month", "change_difference_6m / 6"),
    "slope_difference_mcse": ("points/month", "Monte Carlo SE of slope_difference"),
    "median_days_treated": ("days", "median death time from month 0, treated"),
    "median_days_untreated": ("days", "median death time from month 0, untreated"),
    "n": ("patients", "treated patients simulated (each with its untreated twin)"),
    "converged": ("", "both Cox fits converged"),
}


def _paired_mean(diff):
    """(mean, MCSE) of per-patient paired differences."""
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


def true_effects(theta: np.ndarray, n: int = 200_000, seed: int = 0) -> dict:
    """The estimands in the treated population, from n simulated treated patients.

    The population is everyone who starts treatment (first injection) under the
    enrolment rules: inclusion, self-selection, regression to the mean; the
    immortal-time requirement is not applied, since it selects on survival after
    treatment starts.  Each patient is simulated with and without treatment
    (the counterfactual twin: the same random numbers).  Every MCSE treats the n
    twin pairs as the independent units (docs/world.md, section 5).

    marginal_hr: exp of the Cox coefficient of treated vs untreated survival
      from month 0 (no censoring) over the 2n stacked rows: the marginal HR
      comparing the treated population's survival with and without treatment.
      It differs from the conditional `hr` (non-collapsibility, heterogeneity).
    marginal_hr_followup: the same Cox fit with both twins of a pair censored at
      that patient's administrative censoring time, 12 (censor_date - first
      injection year) months, the enrolment date drawn as in the design (uniform
      in [enrol_start, enrol_end]).  Under non-proportional hazards a Cox HR
      depends on follow-up; this is what a fair study with the design's entry and
      follow-up estimates.  Loss to follow-up (`treated_loss_rate`) and missed
      deaths (`death_ascertainment`) are bias mechanisms and are not applied.
    rmst_difference_3y (days), survival_difference_2y (probability): fixed-horizon
      contrasts of the twins' death times (no censoring needed).
    change_difference_6m (points), slope_difference (points/month): mean over
      patients of the true total at month 6, treated minus untreated (the month-0
      totals are the same), and that / 6 (positive = treatment slows decline);
      latent totals, so rater noise, the unblinded shift and death do not enter.
    """
    th = np.array(theta, dtype=np.float64, copy=True)
    th[H.IMMORTAL_TIME_TREATED] = 0.0
    th[H.EARLY_EXCLUSION] = 0.0      # a selection after treatment starts, like immortal time
    # a stream of its own, apart from every replicate's
    key = H.derive(np.uint64(0xE57A4D), np.uint64(seed))
    tr = W.generate_treated(th, key, n)
    t1 = tr.data[:, H.TC_DEATH_DAYS]
    t0 = tr.twin[:, H.TC_DEATH_DAYS]
    pair = np.r_[np.arange(n), np.arange(n)]
    x = np.r_[np.ones(n), np.zeros(n)]
    beta, se, conv = cox_fit(np.r_[t1, t0], np.ones(2 * n), x, cluster=pair)
    # the design's administrative censoring of this patient (kernels/treated.py), in days
    c = 12.0 * (th[H.CENSOR_DATE] - tr.data[:, H.TC_ENROL_YEAR]) * H.DAYS_PER_MONTH
    e1, e0 = t1 <= c, t0 <= c
    beta_f, se_f, conv_f = cox_fit(np.r_[np.where(e1, t1, c), np.where(e0, t0, c)],
                                   np.r_[e1, e0].astype(np.float64), x, cluster=pair)
    horizon = RMST_HORIZON_MONTHS * H.DAYS_PER_MONTH
    rmst, rmst_se = _paired_mean(np.minimum(t1, horizon) - np.minimum(t0, horizon))
    s2 = SURVIVAL_HORIZON_MONTHS * H.DAYS_PER_MONTH
    surv, surv_se = _paired_mean((t1 > s2).astype(np.float64) - (t0 > s2))
    change, change_se = _paired_mean(tr.data[:, H.TC_TRUE_6] - tr.twin[:, H.TC_TRUE_6])
    out = {
        "conditional_hr": float(theta[H.HR]),
        "marginal_hr": float(math.exp(beta[0])),
        "marginal_log_hr": float(beta[0]),
        "marginal_log_hr_mcse": float(se[0]),
        "marginal_hr_followup": float(math.exp(beta_f[0])),
        "marginal_log_hr_followup": float(beta_f[0]),
        "marginal_log_hr_followup_mcse": float(se_f[0]),
        "followup_event_share_untreated": float(e0.mean()),
        "rmst_difference_3y": rmst,
        "rmst_difference_3y_mcse": rmst_se,
        "survival_difference_2y": surv,
        "survival_difference_2y_mcse": surv_se,
        "change_difference_6m": change,
        "change_difference_6m_mcse": change_se,
        "slope_difference": change / 6.0,
        "slope_difference_mcse": change_se / 6.0,
        "median_days_treated": float(np.median(t1)),
        "median_days_untreated": float(np.median(t0)),
        "n": n,
        "converged": bool(conv and conv_f),
    }
    if not e1.any() and not e0.any():
        # nobody dies within the design's follow-up: the follow-up HR does not exist
        for k in ("marginal_hr_followup", "marginal_log_hr_followup", "marginal_log_hr_followup_mcse"):
            out[k] = None
    # an estimand that is not a number is None (null in the store's JSON attrs), never NaN
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
