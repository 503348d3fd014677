"""Performance measures and their Monte Carlo SEs (Morris, White & Crowther 2019).

Two kinds of check: the formulas by hand on a tiny input, and the MCSE as what it
claims to be: the SD of the measure across independent repetitions of a study.
"""
import math

import numpy as np
import pytest

from simkit import measures as P


def test_by_hand_tiny():
    est = np.array([1.0, 2.0, 4.0, np.nan])
    se = np.array([1.0, 1.0, 2.0, np.nan])
    b = P.bias(est, 2.0)
    assert b.n == 3
    assert b.estimate == pytest.approx(7 / 3 - 2)
    # sum of squared deviations from 7/3: (16+1+25)/9 = 42/9
    assert b.mcse == pytest.approx(math.sqrt((42 / 9) / (3 * 2)))
    e = P.empirical_se(est)
    assert e.estimate == pytest.approx(math.sqrt((42 / 9) / 2))
    assert e.mcse == pytest.approx(e.estimate / math.sqrt(4))
    m = P.mse(est, 2.0)
    sq = np.array([1.0, 0.0, 4.0])
    assert m.estimate == pytest.approx(5 / 3)
    assert m.mcse == pytest.approx(math.sqrt(np.sum((sq - 5 / 3) ** 2) / 6))
    ms = P.model_se(se)
    assert ms.estimate == pytest.approx(math.sqrt(2.0))
    v = np.array([1.0, 1.0, 4.0])
    assert ms.mcse == pytest.approx(math.sqrt(np.var(v, ddof=1) / (4 * 3 * 2.0)))
    c = P.coverage([0, 0, 3, np.nan], [3, 1, 5, 1], 2.0)
    assert (c.estimate, c.n) == (pytest.approx(1 / 3), 3)
    assert c.mcse == pytest.approx(math.sqrt((1 / 3) * (2 / 3) / 3))
    r = P.rejection([0.01, 0.2, np.nan, 0.05], 0.05)
    assert r.estimate == pytest.approx(2 / 3) and r.n == 3
    assert P.relative_bias(est, 0.0).estimate != P.relative_bias(est, 0.0).estimate  # NaN at truth 0
    assert P.relative_bias(est, 2.0).estimate == pytest.approx((7 / 3 - 2) / 2)
    d = P.estimator_measures(est, se, 2.0)
    assert d["degenerate"].estimate == pytest.approx(0.25) and d["degenerate"].n == 4


def test_empty_and_single():
    assert P.bias([], 0).n == 0 and math.isnan(P.bias([], 0).estimate)
    assert math.isnan(P.empirical_se([1.0]).estimate)
    assert math.isnan(P.quantile([], 0.5).estimate)


@pytest.mark.parametrize("name", ["bias", "empirical_se", "mse", "model_se", "coverage", "rejection",
                                  "relative_se_error_pct", "q0.5"])
def test_mcse_is_the_sd_across_repeated_studies(name):
    # 1500 simulation studies of 400 replicates each; the MCSE a single study reports
    # must agree with the SD of the measure across studies (to sampling error of ~4%).
    rng = np.random.default_rng(7)
    vals, mcses = [], []
    truth = 0.3
    for _ in range(1500):
        n = 400
        se = np.sqrt(rng.gamma(20, 0.05 / 20, n))         # model SEs vary around ~0.22
        est = truth + 0.02 + rng.normal(0, 1, n) * se * 1.1  # slightly biased, SE understated
        lo, hi = est - 1.96 * se, est + 1.96 * se
        p = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(est / se)))
        m = {
            "bias": P.bias(est, truth), "empirical_se": P.empirical_se(est), "mse": P.mse(est, truth),
            "model_se": P.model_se(se), "coverage": P.coverage(lo, hi, truth),
            "rejection": P.rejection(p), "relative_se_error_pct": P.relative_se_error(est, se),
            "q0.5": P.quantile(est, 0.5),
        }[name]
        vals.append(m.estimate)
        mcses.append(m.mcse)
    sd = np.std(vals, ddof=1)
    ratio = np.mean(mcses) / sd
    tol = 0.15 if name == "q0.5" else 0.08
    assert abs(ratio - 1) < tol, (name, ratio)


def test_cluster_robust_mcse_reduces_to_iid_and_tracks_clustered_studies():
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    # singleton clusters: the Morris et al. bias MCSE exactly
    assert P.bias(x, 0.0, clusters=np.arange(50)).mcse == pytest.approx(P.bias(x, 0.0).mcse)
    # replicates sharing a registry: 40 blocks of 25 with a block effect; the cluster MCSE
    # must match the SD across repeated studies, while the iid formula understates it
    est_b, mc_c, mc_i, cov_v, cov_c = [], [], [], [], []
    g = np.arange(1000) // 25
    for _ in range(1000):
        e = np.repeat(rng.normal(0, 0.5, 40), 25) + rng.normal(0, 1, 1000)
        est_b.append(P.bias(e, 0.0, g).estimate)
        mc_c.append(P.bias(e, 0.0, g).mcse)
        mc_i.append(P.bias(e, 0.0).mcse)
        c = P.coverage(e - 1.0, e + 1.0, 0.0, clusters=g)
        cov_v.append(c.estimate)
        cov_c.append(c.mcse)
    sd = np.std(est_b, ddof=1)
    assert abs(np.mean(mc_c) / sd - 1) < 0.1
    assert np.mean(mc_i) / sd < 0.6  # root design effect: about 1 / sqrt(1 + 24 * 0.2)
    assert abs(np.mean(cov_c) / np.std(cov_v, ddof=1) - 1) < 0.1
