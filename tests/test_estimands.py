"""The estimands of simkit/world/truth.py (issue 14): the marginal HR under the design's own
follow-up, the fixed-horizon contrasts, their Monte Carlo SEs, and a direct check against a
large randomised trial analysed by lifelines with the study's censoring."""
import math

import numpy as np
import pytest

from simkit.kernels import history as H
from simkit.world import model as W
from simkit.world import truth as T

NEW_KEYS = ("marginal_hr_followup", "marginal_log_hr_followup", "marginal_log_hr_followup_mcse",
            "rmst_difference_3y", "rmst_difference_3y_mcse", "survival_difference_2y",
            "survival_difference_2y_mcse", "change_difference_6m", "change_difference_6m_mcse")


def _population(theta):
    """The treated population of true_effects: immortal time and early exclusion off."""
    th = np.array(theta, dtype=np.float64)
    th[H.IMMORTAL_TIME_TREATED] = 0.0
    th[H.EARLY_EXCLUSION] = 0.0
    return th


def test_cluster_robust_se_matches_lifelines():
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd
    g = np.random.default_rng(3)
    for _ in range(3):
        m = 200                                   # pairs sharing a frailty and a censoring time
        pair = np.repeat(np.arange(m), 2)
        u = g.normal(size=m)[pair]
        x = np.tile([1.0, 0.0], m)
        z = g.normal(size=2 * m)
        t = g.exponential(np.exp(-(0.6 * u - 0.5 * x + 0.3 * z)))
        c = g.exponential(2.0, size=m)[pair]
        time, event = np.minimum(t, c), (t <= c).astype(float)
        beta, se, ok = T.cox_fit(time, event, np.c_[x, z], cluster=pair)
        df = pd.DataFrame({"T": time, "E": event, "x": x, "z": z, "pair": pair})
        f = lifelines.CoxPHFitter().fit(df, "T", "E", robust=True, cluster_col="pair")
        assert ok
        np.testing.assert_allclose(beta, f.params_.values, atol=1e-5)
        np.testing.assert_allclose(se, f.standard_errors_.values, rtol=1e-5)
        # string labels give the same as integers
        _, se_s, _ = T.cox_fit(time, event, np.c_[x, z], cluster=np.char.add("p", pair.astype(str)))
        np.testing.assert_allclose(se_s, se, rtol=1e-12)


def test_null_world_every_estimand_is_exactly_null():
    eff = T.true_effects(W.build_theta(), n=20_000)
    assert eff["marginal_hr_followup"] == pytest.approx(1.0, abs=1e-12)
    for k in ("rmst_difference_3y", "survival_difference_2y", "change_difference_6m"):
        assert eff[k] == 0.0 and eff[f"{k}_mcse"] == 0.0
    assert eff["converged"] and set(NEW_KEYS) <= set(eff) and set(eff) == set(T.TRUTH_DOCS)


def test_followup_truth_is_the_censored_twin_fit_and_the_horizons_are_their_definitions():
    th = W.build_theta(hr=0.5, rate_change=-0.3)
    n = 20_000
    eff = T.true_effects(th, n=n, seed=5)
    tr = W.generate_treated(_population(th), H.derive(np.uint64(0xE57A4D), np.uint64(5)), n)
    t1, t0 = tr.data[:, H.TC_DEATH_DAYS], tr.twin[:, H.TC_DEATH_DAYS]
    # the design's administrative censoring, from the kernel's own record of the enrolment date
    c = (th[H.CENSOR_DATE] - tr.data[:, H.TC_ENROL_YEAR]) * 365.25
    assert c.min() >= (th[H.CENSOR_DATE] - th[H.ENROL_END]) * 365.25 - 1e-6
    assert c.max() <= (th[H.CENSOR_DATE] - th[H.ENROL_START]) * 365.25 + 1e-6
    # with no loss to follow-up nor missed deaths the kernel's observed twin rows are exactly that censoring
    th_obs = _population(th)
    th_obs[H.TREATED_LOSS_RATE] = 0.0
    th_obs[H.DEATH_ASCERTAINMENT] = 0.0
    obs = W.generate_treated(th_obs, H.derive(np.uint64(0xE57A4D), np.uint64(5)), n)
    np.testing.assert_allclose(obs.twin[:, H.TC_TIME_DAYS], np.minimum(t0, c), rtol=1e-12)
    np.testing.assert_array_equal(obs.twin[:, H.TC_EVENT], t0 <= c)
    b, _, _ = T.cox_fit(np.r_[obs.data[:, H.TC_TIME_DAYS], obs.twin[:, H.TC_TIME_DAYS]],
                        np.r_[obs.data[:, H.TC_EVENT], obs.twin[:, H.TC_EVENT]], np.r_[np.ones(n), np.zeros(n)])
    assert eff["marginal_log_hr_followup"] == pytest.approx(b[0], abs=1e-9)
    # non-proportional hazards: censoring moves the marginal HR further from 1, here by far more than its MCSE
    assert eff["marginal_log_hr_followup"] < eff["marginal_log_hr"] - 10 * eff["marginal_log_hr_followup_mcse"]
    # RMST at 3 years = the area under each arm's empirical survival curve up to 1095.75 days
    hor = 3 * 365.25
    grid = np.linspace(0, hor, 20_001)
    area = [np.trapezoid((t[None, :] > grid[:, None]).mean(1), grid) if hasattr(np, "trapezoid")
            else np.trapz((t[None, :] > grid[:, None]).mean(1), grid) for t in (t1[:2000], t0[:2000])]
    direct = np.mean(np.minimum(t1[:2000], hor) - np.minimum(t0[:2000], hor))
    assert area[0] - area[1] == pytest.approx(direct, abs=0.2)      # the grid's step: 0.05 days
    assert eff["rmst_difference_3y"] == pytest.approx(np.mean(np.minimum(t1, hor) - np.minimum(t0, hor)))
    assert eff["survival_difference_2y"] == pytest.approx(np.mean(t1 > 2 * 365.25) - np.mean(t0 > 2 * 365.25))
    assert eff["rmst_difference_3y"] > 0 and eff["survival_difference_2y"] > 0
    # 6-month change: the latent totals; about -6 x rate_change (the course of decline scales the time
    # progressed in those 6 months around 6, and the floor at 0 points can bind)
    assert eff["change_difference_6m"] == pytest.approx(np.mean(tr.data[:, H.TC_TRUE_6] - tr.twin[:, H.TC_TRUE_6]))
    assert 0.8 * 1.8 < eff["change_difference_6m"] < 1.2 * 1.8
    assert eff["slope_difference"] == pytest.approx(eff["change_difference_6m"] / 6)


def test_mcses_match_the_spread_over_seeds():
    # each MCSE against the SD of its estimate over 40 independent truths; the SD of 40 draws
    # is within +-25% of the true SE with probability ~0.98, and the pair-robust SE is a third
    # of the naive one that treats the 2n twin rows as independent, which this would catch
    th = W.build_theta(hr=0.5)
    runs = [T.true_effects(th, n=5_000, seed=s) for s in range(40)]
    for k in ("marginal_log_hr", "marginal_log_hr_followup", "rmst_difference_3y", "survival_difference_2y"):
        sd = np.std([r[k] for r in runs], ddof=1)
        se = np.mean([r[f"{k}_mcse"] for r in runs])
        assert 0.65 < sd / se < 1.5, (k, sd, se)


def test_a_large_randomised_trial_with_the_studys_censoring_agrees_with_the_twins():
    """Different patients, not twins: 2 x 100,000 patients of the treated population, every
    other one treated, each censored at the study's administrative censoring of its own
    enrolment date, analysed by lifelines.  Tolerance: 4 combined SEs, the trial's (lifelines')
    and the twins' MCSE: sqrt(se_rct^2 + mcse^2), about 0.03 on the log HR; the uncensored
    marginal truth is 13 such SEs away, so the check tells the two apart."""
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd
    th = W.build_theta(hr=0.5)
    eff = T.true_effects(th, n=200_000)
    m = 100_000
    tr = W.generate_treated(_population(th), H.derive(np.uint64(0xC0FFEE), np.uint64(1)), 2 * m)
    treated = np.arange(2 * m) % 2 == 0
    death = np.where(treated, tr.data[:, H.TC_DEATH_DAYS], tr.twin[:, H.TC_DEATH_DAYS])
    c = (th[H.CENSOR_DATE] - tr.data[:, H.TC_ENROL_YEAR]) * 365.25
    df = pd.DataFrame({"T": np.minimum(death, c), "E": (death <= c).astype(int), "treated": treated.astype(int)})
    f = lifelines.CoxPHFitter().fit(df, "T", "E")
    b, se = f.params_["treated"], f.standard_errors_["treated"]
    tol = math.hypot(se, eff["marginal_log_hr_followup_mcse"])
    assert abs(b - eff["marginal_log_hr_followup"]) < 4 * tol
    assert abs(b - eff["marginal_log_hr"]) > 8 * tol
    # the fixed horizons from Kaplan-Meier curves of the same trial (Greenwood variances)
    km = {}
    for arm in (True, False):
        k = lifelines.KaplanMeierFitter().fit(df["T"][treated == arm], df["E"][treated == arm])
        km[arm] = _km_summaries(k.event_table, 2 * 365.25, 3 * 365.25)
    s_diff = km[True][0] - km[False][0]
    s_se = math.sqrt(km[True][1] + km[False][1] + eff["survival_difference_2y_mcse"] ** 2)
    assert abs(s_diff - eff["survival_difference_2y"]) < 4 * s_se
    r_diff = km[True][2] - km[False][2]
    r_se = math.sqrt(km[True][3] + km[False][3] + eff["rmst_difference_3y_mcse"] ** 2)
    assert abs(r_diff - eff["rmst_difference_3y"]) < 4 * r_se


def _km_summaries(table, t_surv, t_rmst):
    """(S(t_surv), its Greenwood variance, RMST up to t_rmst, its variance) from a lifelines
    event table; RMST variance sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j = area from t_j to t_rmst."""
    t = table.index.values.astype(float)
    d = table["observed"].values.astype(float)
    n = table["at_risk"].values.astype(float)
    ev = d > 0
    t, d, n = t[ev], d[ev], n[ev]
    s = np.cumprod(1 - d / n)
    g = np.cumsum(d / (n * (n - d)))
    i = np.searchsorted(t, t_surv, side="right") - 1
    surv, surv_var = s[i], s[i] ** 2 * g[i]
    keep = t <= t_rmst
    tk, sk = t[keep], s[keep]
    edges = np.r_[tk, t_rmst]
    pieces = sk * np.diff(edges)                          # S is sk on [t_j, t_{j+1})
    rmst = tk[0] + pieces.sum() if tk.size else t_rmst    # S = 1 before the first death
    area_after = np.cumsum(pieces[::-1])[::-1]            # A_j
    rmst_var = np.sum(area_after ** 2 * d[keep] / (n[keep] * (n[keep] - d[keep])))
    return surv, surv_var, rmst, rmst_var


def test_stale_memo_values_without_the_new_keys_are_not_served(tmp_path, monkeypatch):
    from simkit.runner import grid
    from simkit.world import memo
    monkeypatch.setenv("SIMKIT_CACHE_DIR", str(tmp_path))
    f = tmp_path / "s.toml"
    f.write_text('seed = 3\n[treatment]\nhr = 0.5\n')
    study = grid.load_study(f)
    th = study.conditions[0].scenario.theta()
    # a value as the memo stored it before this change: keyed without the version, old keys only
    stale = {"conditional_hr": 0.5, "marginal_hr": 0.6, "marginal_log_hr": math.log(0.6)}
    memo.memo("truth", (th, 2_000, study.seed), lambda: stale)
    assert memo.memo("truth", (th, 2_000, study.seed), lambda: None) == stale      # it is on disk
    got = grid.truths(study, n=2_000)[0]
    assert set(NEW_KEYS) <= set(got) and got["marginal_hr"] != 0.6


def test_bench_truth_runs(tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_truth
    rows = bench_truth.main(["--n", "2000", "--repeats", "1", "--results-dir", str(tmp_path)])
    assert rows[0]["n"] == 2000 and rows[0]["after_best_s"] > 0 and (tmp_path / "bench_truth.json").exists()
