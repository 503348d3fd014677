"""SMC ABC (simkit/inference/smc.py): its move rule against a plain-Python computation, and its
posterior on toy models with a known posterior (normal-normal), where the ABC posterior must approach
the analytic one as the tolerance shrinks."""
import math

import numpy as np
import pytest
from scipy import stats

from simkit.inference import abc, smc


def test_moves_are_the_plain_metropolis_hastings_rule():
    """Accepted iff the simulation is within the tolerance and u < prior(z*) / prior(z), term by term."""
    rng = np.random.default_rng(1)
    lp_old, lp_new = rng.normal(size=2000), rng.normal(size=2000)
    d = rng.exponential(size=2000)
    d[::50] = np.nan
    u = rng.random(2000)
    plain = [bool(math.isfinite(dd) and dd < 0.7 and uu < min(1.0, math.exp(b - a)))
             for a, b, dd, uu in zip(lp_old, lp_new, d, u)]
    assert smc.mh_accept(lp_new, lp_old, d, 0.7, u).tolist() == plain
    assert 0.1 < np.mean(plain) < 0.5
    z_old = rng.normal(size=(300, 3))
    w_old = rng.random(300)
    w_old /= w_old.sum()
    c = smc.weighted_cov(z_old, w_old)
    m = w_old @ z_old
    plain = sum(w * np.outer(x - m, x - m) for w, x in zip(w_old, z_old)) / (1 - np.sum(w_old ** 2))
    np.testing.assert_allclose(c, plain, rtol=1e-12)
    assert [smc.moves_for(a) for a in (0.9, 0.5, 0.2, 0.01)] == [1, 4, 8, 8]


def _normal_normal(seed, n_obs=10, sigma=1.0, prior_sd=2.0, x_obs=1.3, n=1000, reps=20_000, bounded=False):
    """theta ~ N(0, prior_sd^2) (or uniform on [-5, 5] through the logit); the summary is the mean of
    n_obs draws N(theta, sigma^2); ABC-PMC to its stopping rule."""
    rng = np.random.default_rng(seed)
    se = sigma / math.sqrt(n_obs)
    if bounded:
        def to_theta(z):
            return abc.from_unbounded(z, -5.0, 5.0, False)

        def lp(z):   # the uniform prior on the logit scale: the logistic density
            return np.sum(stats.logistic.logpdf(z), axis=1)
        theta0 = rng.uniform(-5, 5, reps)
        z0 = abc.to_unbounded(theta0, -5.0, 5.0, False)[:, None]
    else:
        def to_theta(z):
            return z

        def lp(z):
            return np.sum(stats.norm.logpdf(z, 0, prior_sd), axis=1)
        z0 = rng.normal(0, prior_sd, (reps, 1))

    def dist(z):
        th = to_theta(z[:, 0])
        return np.abs(th + se * rng.standard_normal(th.size) - x_obs) / se

    pop0 = smc.first_population(z0, dist(z0), n)
    pops = smc.drive(smc.run(pop0, lp, seed=seed, alpha=0.5, min_rate=0.05, budget=200_000),
                     lambda g, r, Z: dist(Z))
    last = pops[-1]
    return to_theta(last.z[:, 0]), np.full(n, 1.0 / n), pops, se


@pytest.mark.parametrize("bounded", [False, True])
def test_the_posterior_approaches_the_analytic_one(bounded):
    th, w, pops, se = _normal_normal(3, bounded=bounded)
    if bounded:      # a flat prior on [-5, 5], far wider than the likelihood: N(x_obs, se^2)
        mean, sd = 1.3, se
    else:
        v = 1 / (1 / 4.0 + 1 / se ** 2)
        mean, sd = v * 1.3 / se ** 2, math.sqrt(v)
    last = pops[-1]
    assert len(pops) >= 3 and last.eps < 0.2          # generations down to a tolerance far below 1 SE
    assert [p.eps for p in pops] == sorted([p.eps for p in pops], reverse=True)
    m = float(np.sum(w * th))
    s = float(np.sqrt(np.sum(w * (th - m) ** 2)))
    assert last.unique > 400                          # the moves renewed the copies
    assert abs(m - mean) < 4 * sd / math.sqrt(400)
    # the ABC posterior at tolerance eps (uniform kernel): the likelihood convolved with U(-eps, eps) SEs
    s_abc = math.sqrt(sd ** 2 + (last.eps * se) ** 2 / 3)
    assert abs(s / s_abc - 1) < 0.08
    q = abc.weighted_quantile(th, w, [0.05, 0.95])
    np.testing.assert_allclose(q, stats.norm(mean, s_abc).ppf([0.05, 0.95]), atol=0.25 * sd)
    # the first population is rejection ABC: much wider
    assert pops[0].eps > 3.5 * last.eps


def test_a_run_is_a_function_of_its_seed_and_distances():
    a = _normal_normal(7, reps=5000, n=300)
    b = _normal_normal(7, reps=5000, n=300)
    np.testing.assert_array_equal(a[0], b[0])
    c = _normal_normal(8, reps=5000, n=300)
    assert not np.array_equal(a[0], c[0])


def test_the_budget_bounds_the_simulations():
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=(2000, 1))
    pop0 = smc.first_population(z0, np.abs(z0[:, 0] - 0.5 + 0.3 * rng.standard_normal(2000)), 200)
    calls = []

    def sim(g, r, Z):
        calls.append(Z.shape[0])
        return np.abs(Z[:, 0] - 0.5 + 0.3 * rng.standard_normal(Z.shape[0]))
    pops = smc.drive(smc.run(pop0, lambda z: stats.norm.logpdf(z[:, 0]), seed=1, budget=3000, min_rate=0.0),
                     sim)
    assert sum(calls) <= 3000 and len(pops) >= 2
