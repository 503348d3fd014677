"""`simkit infer --method marginal` (simkit/inference/marginal.py): Nott et al.'s marginal adjustment against a
plain-Python loop, the per-parameter posterior on a toy model with a known posterior, the parts' Monte Carlo
error, and the method end to end on a tiny scenario (the default of `simkit infer`)."""
import json
import math

import numpy as np
import pytest

from simkit.inference import abc, marginal


def _plain_marginal_adjust(x, w, xm, wm):
    """Each joint value replaced by the marginal's weighted quantile at its weighted mid-rank, one at a time."""
    order = sorted(range(len(x)), key=lambda i: (x[i], i))
    tot = sum(w)
    below = 0.0
    u = [0.0] * len(x)
    for i in order:
        u[i] = (below + 0.5 * w[i]) / tot
        below += w[i]
    om = sorted(range(len(xm)), key=lambda i: xm[i])
    xs = [xm[i] for i in om]
    cum, acc, tm = [], 0.0, sum(wm)
    for i in om:
        cum.append((acc + 0.5 * wm[i]) / tm)
        acc += wm[i]
    out = []
    for ui in u:
        if ui <= cum[0]:
            out.append(xs[0])
        elif ui >= cum[-1]:
            out.append(xs[-1])
        else:
            k = next(k for k in range(1, len(cum)) if cum[k] >= ui)
            t = (ui - cum[k - 1]) / (cum[k] - cum[k - 1])
            out.append(xs[k - 1] + t * (xs[k] - xs[k - 1]))
    return np.array(out)


@pytest.mark.parametrize("seed", range(20))
def test_marginal_adjust_is_the_plain_rank_rule(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(2, 60), rng.integers(2, 80)
    x = rng.normal(size=n)
    if seed % 4 == 0:
        x = np.round(x, 1)            # ties
    w = rng.random(n) + (0.0 if seed % 3 else 1.0)
    xm, wm = rng.gamma(2.0, size=m), rng.random(m) + 0.01
    got = abc.marginal_adjust(x, w, xm, wm)
    np.testing.assert_allclose(got, _plain_marginal_adjust(x, w, xm, wm), rtol=1e-12, atol=1e-12)
    # the ranks are kept (ties may map to one value) and the values lie in the marginal's range
    o = np.argsort(x, kind="stable")
    assert np.all(np.diff(got[o]) >= -1e-12)
    assert xm.min() - 1e-12 <= got.min() and got.max() <= xm.max() + 1e-12


def _toy(n, seed, rho=0.0):
    """Two parameters mu1, mu2 ~ N(0, 2^2) (correlated rho a priori); summaries: three noisy copies of
    each (their means are sufficient) and two pure-noise numbers."""
    rng = np.random.default_rng(seed)
    cov = 4.0 * np.array([[1.0, rho], [rho, 1.0]])
    mu = rng.multivariate_normal([0, 0], cov, n)
    s = np.column_stack([mu[:, [0]] + rng.normal(0, 1, (n, 3)), mu[:, [1]] + rng.normal(0, 1, (n, 3)),
                         rng.normal(0, 1, (n, 2))])
    return mu, s


def test_part_posterior_recovers_each_conjugate_marginal():
    """Normal-normal, per parameter: prior N(0, 4), three summaries N(mu, 1): posterior N(3 xbar / 3.25,
    1 / 3.25).  Each marginal posterior's quantiles within 0.08 of the exact ones (3,000 accepted: the 5%
    quantile's Monte Carlo SE is about 0.02); the joint draws carry those marginals."""
    mu, s = _toy(100_000, 3)
    obs = np.array([1.2, 0.7, 1.6, -2.0, -2.6, -1.5, 0.3, -0.4])
    scale = np.array([abc.robust_scale(s[:, j]) for j in range(s.shape[1])])
    pp = marginal.part_posterior(s, mu, obs, obs, scale, 0.03)
    z = 1.6448536
    for j, xbar in ((0, obs[:3].mean()), (1, obs[3:6].mean())):
        mean, sd = 3 * xbar / 3.25, math.sqrt(1 / 3.25)
        x, w, eps, k = pp["marginal"][j]
        assert k == 3000
        q = abc.weighted_quantile(x, w, [0.05, 0.5, 0.95])
        assert np.allclose(q, mean + sd * np.array([-z, 0, z]), atol=0.08), (j, q)
        xj, wj = pp["joint"]
        qj = abc.weighted_quantile(xj[:, j], wj, [0.05, 0.5, 0.95])
        assert np.allclose(qj, q, atol=0.02)


def test_part_quantile_keeps_a_few_hundred():
    assert marginal.part_quantile(0.05, 25_000) == 0.05
    assert marginal.part_quantile(0.05, 1_000) == pytest.approx(0.2)
    assert marginal.part_quantile(0.05, 100) == 0.5


TINY = """
name = "tiny-marginal"
seed = 13
replicates = 10
[design]
pool_size = 1500
[priors]
"treatment.hr" = { dist = "loguniform", low = 0.3, high = 1.5 }
"mechanisms.reference_death_selection" = { dist = "uniform", low = 0.0, high = 1.0 }
"mechanisms.case_mix" = { dist = "uniform", low = 0.0, high = 1.0 }
"mechanisms.era_hr" = { dist = "fixed", value = 0.85 }
"""


def test_marginal_is_the_default_end_to_end_and_resumes(tmp_path, capsys):
    """simulate --matched, analyze --paper-out, then infer with the default method: parts and their MCSE,
    fresh predictive checks; a rerun computes nothing and answers the same; a different --runs splits the
    same table differently."""
    from simkit.cli import main
    sc = tmp_path / "tiny.toml"
    sc.write_text(TINY)
    csv, paper, out = tmp_path / "m.csv", tmp_path / "p.toml", tmp_path / "inf"
    assert main(["simulate", str(sc), "--matched", "--out", str(csv)]) == 0
    assert main(["analyze", str(csv), "--paper-out", str(paper)]) == 0
    capsys.readouterr()
    argv = ["infer", str(paper), "--scenario", str(sc), "--reps", "800", "--runs", "2", "--out", str(out),
            "--jobs", "1", "--json", "--quiet", "--predictive", "30"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["method_name"] == "marginal" and res["n_reference"] == 800
    mg = res["marginal"]
    assert len(mg["parts"]) == 2 and mg["part_size"] == 400
    assert mg["quantile_per_part"] == pytest.approx(0.5)          # 200 of 400 at least
    assert all(p["accepted"] == 200 for p in mg["parts"])
    assert res["mcse"]["runs"] == 2 and res["mcse"]["log_true_hr_low"] >= 0
    t = res["true_hr"]
    assert 0.3 <= t["low"] <= t["median"] <= t["high"] <= 1.5
    # the pooled interval lies within the parts' ends (a mixture's quantile between its parts')
    lows = [p["true_hr"]["low"] for p in mg["parts"]]
    highs = [p["true_hr"]["high"] for p in mg["parts"]]
    assert min(lows) - 1e-9 <= t["low"] <= max(lows) + 1e-9 and min(highs) - 1e-9 <= t["high"] <= max(highs) + 1e-9
    assert set(res["mechanisms"]) == {"reference_death_selection", "case_mix"}
    assert res["predictive_draws"] == 30 and res["predictive_checks"]
    assert (out / "pairs.png").stat().st_size > 0
    draws = np.loadtxt(out / "posterior.csv", delimiter=",", skiprows=1)
    assert draws.shape[1] == 1 + 4 and abs(draws[:, 0].sum() - 1) < 1e-6
    assert main(argv) == 0
    res2 = json.loads(capsys.readouterr().out)
    assert res2["run"]["chunks_computed"] == 0 and res2["true_hr"] == t
    assert res2["predictive_checks"] == res["predictive_checks"]


def test_default_priors_cover_every_mechanism_at_its_full_range():
    """The issue's requirement: `simkit infer`'s default priors (infer-priors.toml) put mass over the whole
    range simkit tipping-point searches for every mechanism on the seed design (off to its cap, the
    analyst's peek included); none is fixed."""
    from simkit.inference import fit
    from simkit.paper.file import load_paper, shipped
    from simkit.report.audit import scenario_dir
    from simkit.runner.scenario import read_toml
    from simkit.sensitivity import tipping
    study, _ = fit.study_for(load_paper(shipped()), None, 100)
    items = {p.name: p for p in study.priors.items}
    ranges = {s.mechanism: sorted((s.magnitude_lo, s.magnitude_hi))
              for s in tipping.searches(read_toml(scenario_dir() / "seed-design.toml")[1], others=("off",),
                                        scale=False)}
    assert set(ranges) == set(tipping.knobs())
    for name, (a_, b_) in ranges.items():
        assert name in items, name
        p = items[name]
        assert p.dist != "fixed", name
        lo, hi = p.support()
        assert lo <= a_ + 1e-9 and hi >= b_ - 1e-9, (name, (lo, hi), (a_, b_))
        # its mass reaches both ends (the 0.1% and 99.9% quantiles within a tenth of the range of them)
        q = p.ppf(np.array([0.001, 0.999]))
        span = b_ - a_
        assert q[0] < a_ + 0.1 * span and q[1] > b_ - 0.1 * span, (name, q)
