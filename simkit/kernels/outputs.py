"""The per-replicate output fields: one table.

Every number a replicate reports is one row: (name, dtype in the store, unit,
meaning).  The kernels' flat output vectors take their layout (and their index
constants) from these names, the store its dtypes and units, `simkit analyze
--json` its extra keys and the docs their field list.  Adding an output field
is one row here plus the kernel code that fills it.

ANALYSIS rows come first (the seed analysis of one matched table,
kernels/seedanalysis.py), then the 12 subgroup rows x 6 statistics, then
DESIGN rows (what the replicate's enrolment and matching did,
kernels/replicate.py).  NaN means null; status fields hold a reason code of
kernels/status.py.
"""

F8 = "float64"
I4 = "int32"      # status codes that are never null, stored as int32

ANALYSIS = (
    ("n_pairs", F8, "pairs", "matched pairs in the table"),
    ("hr", F8, "HR", "Cox hazard ratio, treated vs reference (Efron ties)"),
    ("hr_ci_low", F8, "HR", "lower end of the Wald 95% CI of the HR"),
    ("hr_ci_high", F8, "HR", "upper end of the Wald 95% CI of the HR"),
    ("hr_p", F8, "", "Wald p-value of the Cox coefficient"),
    ("log_hr", F8, "log HR", "Cox coefficient of treated"),
    ("log_hr_se", F8, "log HR", "model SE of the Cox coefficient"),
    ("cox_status", I4, "reason code", "status of the Cox fit"),
    # pair-aware inference (issue 14): the same Efron fit with a pair-clustered robust SE,
    # and the Cox model stratified by pair (docs/matched-cohort.md)
    ("log_hr_se_robust", F8, "log HR", "robust (Lin-Wei sandwich) SE of the Cox coefficient, clustered on pair"),
    ("hr_ci_low_robust", F8, "HR", "lower end of the Wald 95% CI of the HR with the robust SE"),
    ("hr_ci_high_robust", F8, "HR", "upper end of the Wald 95% CI of the HR with the robust SE"),
    ("hr_p_robust", F8, "", "Wald p-value of the Cox coefficient with the robust SE"),
    ("cox_robust_status", I4, "reason code", "status of the robust SE (the Cox fit's status if it failed)"),
    ("hr_strat", F8, "HR", "hazard ratio of the Cox model stratified by pair (Efron ties)"),
    ("hr_strat_ci_low", F8, "HR", "lower end of its Wald 95% CI"),
    ("hr_strat_ci_high", F8, "HR", "upper end of its Wald 95% CI"),
    ("hr_strat_p", F8, "", "its Wald p-value"),
    ("log_hr_strat", F8, "log HR", "coefficient of treated in the pair-stratified Cox model"),
    ("log_hr_strat_se", F8, "log HR", "its model SE"),
    ("n_pairs_informative", F8, "pairs", "pairs in which a patient dies while the other is at risk (the "
     "stratified fit's information)"),
    ("cox_strat_status", I4, "reason code", "status of the pair-stratified Cox fit"),
    ("median_days_treated", F8, "days", "Kaplan-Meier median survival of the treated"),
    ("median_days_reference", F8, "days", "Kaplan-Meier median survival of the references"),
    ("median_treated_reached", F8, "0/1", "1 if the treated KM curve reaches 0.5"),
    ("median_reference_reached", F8, "0/1", "1 if the reference KM curve reaches 0.5"),
    ("logrank_p", F8, "", "log-rank p-value"),
    ("gehan_p", F8, "", "Gehan-Breslow (Wilcoxon) p-value"),
    ("tarone_ware_p", F8, "", "Tarone-Ware p-value"),
    ("peto_p", F8, "", "Peto-Peto-Prentice p-value"),
    ("logrank_chi2", F8, "chi-square (1 df)", "log-rank statistic"),
    ("gehan_chi2", F8, "chi-square (1 df)", "Gehan-Breslow statistic"),
    ("tarone_ware_chi2", F8, "chi-square (1 df)", "Tarone-Ware statistic"),
    ("peto_chi2", F8, "chi-square (1 df)", "Peto-Peto-Prentice statistic"),
    ("tests_status", I4, "reason code", "status of the four weighted log-rank tests"),
    ("n_events_treated", F8, "deaths", "deaths among the treated analysed for survival"),
    ("n_events_reference", F8, "deaths", "deaths among the references analysed for survival"),
    ("share_censored_treated", F8, "share", "treated analysed for survival who are censored (alive at the "
     "end of observation)"),
    ("share_censored_reference", F8, "share", "references analysed for survival who are censored"),
    ("min_survival_p", F8, "", "smallest p of the Cox Wald test and the four log-rank tests"),
    ("n_decreased", F8, "pairs", "pairs classed 'decreased progression' (d > 3 points)"),
    ("n_no_change", F8, "pairs", "pairs classed 'no change' (|d| <= 3 points)"),
    ("n_increased", F8, "pairs", "pairs classed 'increased progression' (d < -3 points)"),
    ("early_coef", F8, "log-odds per point", "logistic coefficient of the early response on failure"),
    ("early_se", F8, "log-odds per point", "its SE"),
    ("early_ci_low", F8, "log-odds per point", "lower end of its Wald 95% CI"),
    ("early_ci_high", F8, "log-odds per point", "upper end of its Wald 95% CI"),
    ("early_p", F8, "", "its Wald p-value"),
    ("early_status", I4, "reason code", "status of the early-response logistic fit"),
    ("signed_rank_statistic", F8, "", "Wilcoxon signed-rank statistic (treated, pre vs during rate)"),
    ("signed_rank_p", F8, "", "its two-sided p-value (scipy.stats.wilcoxon defaults)"),
    ("signed_rank_n", F8, "patients", "non-zero differences used"),
    ("signed_rank_status", I4, "reason code", "status of the signed-rank test"),
    ("treated_coef", F8, "points/month", "OLS coefficient of treated on the during-treatment rate"),
    ("treated_se", F8, "points/month", "its SE"),
    ("treated_p", F8, "", "its t-test p-value"),
    ("ols_status", I4, "reason code", "status of the OLS fit"),
    ("dropped_survival", F8, "pairs", "pairs left out of the survival step (missing values)"),
    ("dropped_classes", F8, "pairs", "pairs left out of the response classes"),
    ("dropped_early", F8, "pairs", "pairs left out of the early-response logistic"),
    ("dropped_signed_rank", F8, "pairs", "pairs left out of the signed-rank test"),
    ("dropped_ols", F8, "pairs", "pairs left out of the OLS"),
    ("hr_firth", F8, "HR", "Firth-penalised Cox HR (with the firth option)"),
    ("hr_firth_ci_low", F8, "HR", "its lower Wald 95% limit"),
    ("hr_firth_ci_high", F8, "HR", "its upper Wald 95% limit"),
    ("hr_firth_p", F8, "", "its Wald p-value"),
    ("cox_firth_status", F8, "reason code", "status of the Firth Cox fit (NaN without the option)"),
    ("early_coef_firth", F8, "log-odds per point", "Firth-penalised early-response coefficient"),
    ("early_firth_ci_low", F8, "log-odds per point", "its lower Wald 95% limit"),
    ("early_firth_ci_high", F8, "log-odds per point", "its upper Wald 95% limit"),
    ("early_firth_p", F8, "", "its Wald p-value"),
    ("early_firth_status", F8, "reason code", "status of the Firth logistic fit (NaN without it)"),
    ("min_subgroup_p", F8, "", "smallest chi-square p over the six subgroup factors"),
)

# (factor, level) of the 12 subgroup rows, in the contract's order.
SUBGROUP_LEVELS = (("sex", "M"), ("sex", "F"), ("age", "<median"), ("age", ">=median"), ("ft9", "1-2"),
                   ("ft9", "3-5"), ("progression", "fast"), ("progression", "slow"), ("onset", "bulbar"),
                   ("onset", "spinal"), ("riluzole", "yes"), ("riluzole", "no"))
SUBGROUP_STATS = (
    ("n", "patients", "treated patients in the level (with a class)"),
    ("n_decreased", "patients", "of them classed 'decreased'"),
    ("n_no_change", "patients", "of them classed 'no change'"),
    ("n_increased", "patients", "of them classed 'increased'"),
    ("ratio", "ratio", "risk-benefit ratio n_decreased / n_increased"),
    ("chi2_p", "", "chi-square p of the factor's level x class table"),
)
SUBGROUPS = tuple((f"sg_{f}_{lv}_{s}", F8, unit, f"subgroup {f} = {lv}: {doc}")
                  for f, lv in SUBGROUP_LEVELS for s, unit, doc in SUBGROUP_STATS)

DESIGN = (
    ("n_treated", F8, "patients", "treated patients enrolled (fewer than asked only if enrolment failed)"),
    ("n_matched", F8, "pairs", "treated patients matched"),
    ("n_unmatched", F8, "patients", "treated patients the exact set and caliper left unmatched"),
    ("match_rate", F8, "share", "n_matched / treated asked for"),
    ("n_slope_diff_zero", F8, "pairs", "pairs whose pre-slope difference is exactly 0"),
    ("n_slope_within_0_3", F8, "pairs", "pairs whose pre-slope difference is within 0.3 points/month"),
    ("n_age_within_5", F8, "pairs", "pairs whose ages differ by at most 5 years"),
    ("n_age_within_10", F8, "pairs", "pairs whose ages differ by at most 10 years"),
    ("mean_u_treated", F8, "SD", "mean latent prognostic factor u of the matched treated (hidden truth)"),
    ("mean_u_reference", F8, "SD", "mean u of their references (hidden truth)"),
    ("mean_pre_slope_treated", F8, "points/month", "mean pre-slope of the matched treated"),
    ("mean_pre_slope_reference", F8, "points/month", "mean pre-slope of their references"),
    ("n_applicants", F8, "patients", "applicants drawn to enrol the cohort"),
    ("pool_n_matchable", F8, "patients", "registry patients eligible as references"),
    ("replicate_status", I4, "reason code", "status of the replicate (nothing_matched if no pair)"),
    # the matched cohort's Table 1, as the paper prints it (quantiles: numpy's linear definition)
    ("t1_male_treated", F8, "share", "matched treated who are men"),
    ("t1_riluzole_treated", F8, "share", "matched treated on riluzole"),
    ("t1_bulbar_treated", F8, "share", "matched treated with bulbar onset"),
    ("t1_ft9_1_2_treated", F8, "share", "matched treated in FT9 stage 1-2"),
    ("t1_fast_treated", F8, "share", "matched treated with pre-slope >= 1 point/month"),
    ("t1_age_median_treated", F8, "years", "median age of the matched treated"),
    ("t1_age_q25_treated", F8, "years", "its 25th percentile"),
    ("t1_age_q75_treated", F8, "years", "its 75th percentile"),
    ("t1_age_median_reference", F8, "years", "median age of their references"),
    ("t1_age_q25_reference", F8, "years", "its 25th percentile"),
    ("t1_age_q75_reference", F8, "years", "its 75th percentile"),
    ("t1_pre_slope_median_treated", F8, "points/month", "median pre-slope of the matched treated"),
    ("t1_pre_slope_q25_treated", F8, "points/month", "its 25th percentile"),
    ("t1_pre_slope_q75_treated", F8, "points/month", "its 75th percentile"),
    ("t1_pre_slope_median_reference", F8, "points/month", "median pre-slope of their references"),
    ("t1_pre_slope_q25_reference", F8, "points/month", "its 25th percentile"),
    ("t1_pre_slope_q75_reference", F8, "points/month", "its 75th percentile"),
)

ROWS = ANALYSIS + SUBGROUPS + DESIGN
NAMES = tuple(r[0] for r in ROWS)
ANALYSIS_NAMES = tuple(r[0] for r in ANALYSIS + SUBGROUPS)
DESIGN_NAMES = tuple(r[0] for r in DESIGN)
INT_NAMES = frozenset(r[0] for r in ROWS if r[1] == I4)
UNITS = {r[0]: r[2] for r in ROWS}
DOCS = {r[0]: r[3] for r in ROWS}
assert len(set(NAMES)) == len(NAMES), "output field names repeat"


def markdown() -> str:
    """The table as Markdown (docs/store.md); the 72 subgroup fields folded into one row per statistic."""
    out = ["| field | dtype | unit | meaning |", "|---|---|---|---|"]
    for name, dt, unit, doc in ANALYSIS:
        out.append(f"| `{name}` | {dt} | {unit} | {doc} |")
    for s, unit, doc in SUBGROUP_STATS:
        out.append(f"| `sg_<factor>_<level>_{s}` | {F8} | {unit} | per subgroup level: {doc} |")
    for name, dt, unit, doc in DESIGN:
        out.append(f"| `{name}` | {dt} | {unit} | {doc} |")
    return "\n".join(out)
