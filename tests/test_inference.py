"""simkit infer (docs/inference.md): the ABC machinery on a toy model with a known posterior, and a
small end to end run: simulate --matched, analyze --paper-out, infer."""
import json
import math

import numpy as np
import pytest

from simkit.inference import abc


def _toy(n=40_000, m=3, seed=1):
    """Normal-normal: mu ~ N(0, 2^2), m summaries = mu + N(0, 1) each (their mean is sufficient)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 2, n)
    s = mu[:, None] + rng.normal(0, 1, (n, m))
    return mu, s


def _exact(obs, m=3, tau=2.0):
    prec = 1 / tau ** 2 + m
    return np.mean(obs) * m / prec, math.sqrt(1 / prec)


@pytest.mark.parametrize("adjust", [False, True])
def test_abc_recovers_the_conjugate_posterior(adjust):
    mu, s = _toy()
    obs = np.array([1.2, 0.7, 1.6])
    mean, sd = _exact(obs)
    scale = np.array([abc.robust_scale(s[:, j]) for j in range(3)])
    d = abc.distances(s, obs, obs, scale)
    idx, eps = abc.rejection(d, 0.01)
    w = abc.epanechnikov(d[idx], eps) if adjust else np.ones(idx.size)
    x = mu[idx]
    if adjust:
        g = abc.gaps(s[idx], obs, obs) / scale
        x = abc.regression_adjust(x[:, None], g, w)[:, 0]
    q = abc.weighted_quantile(x, w, [0.05, 0.5, 0.95])
    exact = mean + sd * np.array([-1.6448536, 0, 1.6448536])
    # rejection at a 1% quantile is wider than the exact posterior; the adjustment nearly exact
    tol = 0.06 if adjust else 0.2
    assert np.allclose(q, exact, atol=tol), (q, exact)
    if adjust:
        assert abc.ess(w) > 0.5 * idx.size


def test_intervals_count_as_hits_and_gaps_are_signed():
    s = np.array([[0.30, 5.0], [0.31, 5.0], [0.2, 7.0]])
    lo, hi = np.array([0.295, 4.5]), np.array([0.305, 5.5])
    g = abc.gaps(s, lo, hi)
    assert g[0].tolist() == [0, 0]
    assert g[1, 0] == pytest.approx(0.005) and g[2, 0] == pytest.approx(-0.095) and g[2, 1] == pytest.approx(1.5)
    d = abc.distances(np.vstack([s, [[np.nan, 5]]]), lo, hi, np.ones(2))
    assert d[0] == 0 and d[-1] == np.inf


def test_transforms_round_trip_and_stay_in_support():
    x = np.array([0.21, 0.5, 1.9])
    z = abc.to_unbounded(x, 0.2, 2.0, True)
    assert np.allclose(abc.from_unbounded(z, 0.2, 2.0, True), x)
    far = abc.from_unbounded(np.array([-50.0, 50.0]), 0.0, 1.5, False)
    assert 0 <= far[0] < far[1] <= 1.5


def test_predictive_p_and_unreachable():
    x = np.arange(100.0)
    w = np.ones(100)
    assert abc.predictive_p(x, w, 49, 50) == 1.0
    assert abc.predictive_p(x, w, 200, 201) == 0.0
    assert abc.predictive_p(x, w, 4.5, 5.5) == pytest.approx(0.12)
    s = np.column_stack([x, x])
    assert abc.unreachable(s, np.array([10, 500]), np.array([11, 600])).tolist() == [False, True]


TINY = """
name = "tiny-infer"
seed = 11
replicates = 10
[design]
pool_size = 1500
pool_policy = "block"
pool_block_size = 25
[priors]
"treatment.hr" = { dist = "loguniform", low = 0.3, high = 1.5 }
"mechanisms.reference_death_selection" = { dist = "uniform", low = 0.0, high = 1.0 }
"mechanisms.era_hr" = { dist = "fixed", value = 0.85 }
"""


def test_analyze_paper_out_then_infer_end_to_end(tmp_path, capsys):
    """simulate --matched, analyze --paper-out, infer --json on a tiny scenario; rerunning resumes."""
    from simkit.cli import main
    sc = tmp_path / "tiny.toml"
    sc.write_text(TINY)
    csv, paper, out = tmp_path / "m.csv", tmp_path / "p.toml", tmp_path / "inf"
    assert main(["simulate", str(sc), "--matched", "--out", str(csv)]) == 0
    assert main(["analyze", str(csv), "--paper-out", str(paper)]) == 0
    capsys.readouterr()
    argv = ["infer", str(paper), "--scenario", str(sc), "--reps", "200", "--quantile", "0.1", "--out", str(out),
            "--jobs", "1", "--json", "--quiet", "--method", "semiauto", "--predictive", "40"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    for k in ("true_hr", "p_true_hr_ge_0_9", "prior_p_true_hr_ge_0_9", "mechanisms", "predictive_checks",
              "acceptance_rate", "ess"):
        assert k in res, k
    t = res["true_hr"]
    assert set(t) == {"median", "low", "high"} and 0.3 <= t["low"] <= t["median"] <= t["high"] <= 1.5
    assert set(res["mechanisms"]) == {"reference_death_selection"}        # fixed priors are not inferred
    assert set(res["mechanisms"]["reference_death_selection"]) == {"median", "low", "high"}
    assert 0 <= res["p_true_hr_ge_0_9"] <= 1 and 0 < res["prior_p_true_hr_ge_0_9"] < 1
    assert res["n_accepted"] == 20 and res["acceptance_rate"] == pytest.approx(0.1)
    assert 0 < res["ess"] <= 20
    assert "slope_effect" in res                 # the default prior on the slope effect was added
    assert set(res["predictive_checks"]) <= set(__import__("simkit.paper.file", fromlist=["x"]).load_paper(
        paper).numbers)
    assert res["predictive_draws"] == 40 and len(res["predictive_checks"]) >= 10
    assert all(0 <= p <= 1 for p in res["predictive_checks"].values() if p is not None)
    assert (out / "pairs.png").stat().st_size > 0 and (out / "posterior.json").is_file()
    # resume: the store is complete, nothing is recomputed and the answer is the same
    assert main(argv) == 0
    res2 = json.loads(capsys.readouterr().out)
    assert res2["run"]["chunks_computed"] == 0 and res2["true_hr"] == res["true_hr"]
    assert res2["predictive_checks"] == res["predictive_checks"]


def test_smc_end_to_end_resumes_to_the_same_answer(tmp_path, capsys, monkeypatch):
    """--method smc on a tiny scenario: independent runs, their MCSE, fresh predictive checks;
    an interrupted run resumed by the same command computes only what is missing and gives the same answer."""
    from simkit.cli import main
    from simkit.inference import sequential as SQ
    sc = tmp_path / "tiny.toml"
    sc.write_text(TINY)
    csv, paper, out = tmp_path / "m.csv", tmp_path / "p.toml", tmp_path / "inf"
    assert main(["simulate", str(sc), "--matched", "--out", str(csv)]) == 0
    assert main(["analyze", str(csv), "--paper-out", str(paper)]) == 0
    argv = ["infer", str(paper), "--scenario", str(sc), "--reps", "400", "--out", str(out), "--runs", "2",
            "--particles", "60", "--budget", "600", "--predictive", "30", "--jobs", "1", "--json", "--quiet",
            "--method", "smc"]
    real = SQ.Simulator.run
    calls = []

    def flaky(self, name, X, seed, fields):
        calls.append(name)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, name, X, seed, fields)
    monkeypatch.setattr(SQ.Simulator, "run", flaky)
    capsys.readouterr()
    assert main(argv) != 0                     # interrupted (the CLI reports it, exit status 130)
    assert len(calls) == 4
    monkeypatch.setattr(SQ.Simulator, "run", real)
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["method_name"] == "smc" and res["n_reference"] == 400
    sm = res["smc"]
    assert len(sm["runs"]) == 2 and all(r["generations"] >= 1 for r in sm["runs"])
    assert all(r["eps"] == sorted(r["eps"], reverse=True) for r in sm["runs"])
    assert 0 < sm["simulations_after_table"] <= 600
    assert res["mcse"]["runs"] == 2 and res["mcse"]["log_true_hr_low"] >= 0
    assert res["predictive_draws"] == 30 and res["predictive_checks"]
    t = res["true_hr"]
    assert 0.2 <= t["low"] <= t["median"] <= t["high"] <= 2.0
    assert main(argv) == 0
    res2 = json.loads(capsys.readouterr().out)
    assert res2["smc"]["chunks_computed"] == 0 and res2["run"]["chunks_computed"] == 0
    assert res2["true_hr"] == t and res2["predictive_checks"] == res["predictive_checks"]
    # the interrupted-then-resumed run computed less than, and answers as, one run from scratch
    argv[argv.index("--out") + 1] = str(tmp_path / "fresh")
    assert main(argv) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert fresh["true_hr"] == t and fresh["mechanisms"] == res["mechanisms"] and fresh["mcse"] == res["mcse"]
    assert fresh["smc"]["chunks_computed"] > res["smc"]["chunks_computed"]


def test_infer_errors(tmp_path):
    from simkit.cli import main
    from simkit.paper.file import shipped
    assert main(["infer", str(tmp_path / "none.toml")]) == 2
    assert main(["infer", str(shipped()), "--hr-prior", "2,1"]) == 2
    assert main(["infer", str(shipped()), "--reps", "10"]) == 2
    bad = tmp_path / "grid.toml"
    bad.write_text('seed = 1\n[grid]\n"treatment.hr" = [1.0, 0.5]\n')
    assert main(["infer", str(shipped()), "--scenario", str(bad), "--reps", "100"]) == 2


def test_sbc_benchmark_runs_at_a_trivial_size(tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_sbc
    argv = ["--reps", "300", "--papers", "4", "--case-papers", "1", "--quantile", "0.1",
            "--jobs", "1", "--out", str(tmp_path / "sbc"), "--results-dir", str(tmp_path),
            "--runs", "2", "--particles", "50", "--budget", "200", "--smc"]
    res = bench_sbc.main(argv)
    assert set(res["summary"]) == {"marginal", "semiauto", "rejection", "smc"}
    for s in res["summary"].values():
        assert s["papers"] >= 3 and 0 <= s["coverage_90"] <= 1 and sum(s["rank_histogram_10_bins"]) == s["papers"]
    assert set(res["cases"]) == set(bench_sbc.CASES)
    assert json.loads((tmp_path / "sbc.json").read_text())["command"]
    # rerun with the same arguments: every paper's rows come from paper-rows.jsonl, the same summary
    rows = (tmp_path / "sbc" / "paper-rows.jsonl").read_text().splitlines()
    assert len(rows) == res["summary"]["marginal"]["papers"]
    again = bench_sbc.main(argv)
    assert again["summary"] == res["summary"]
    assert (tmp_path / "sbc" / "paper-rows.jsonl").read_text().splitlines() == rows


def test_infer_benchmark_runs_at_a_trivial_size(tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_infer
    res = bench_infer.main(["--reps", "200", "--jobs", "1", "--out", str(tmp_path / "b"),
                            "--results-dir", str(tmp_path),
                            "--extra", "--runs 2 --predictive 10"])
    assert len(res["runs"]) == 2 and res["runs"][0]["n_simulations"] == 200
    assert res["runs"][0]["method"] == "marginal" and res["runs"][0]["cpu_seconds"] > 0
    assert set(res["log_difference_between_seeds"]) == {"median", "low", "high"}
    assert json.loads((tmp_path / "infer.json").read_text())["command"]
