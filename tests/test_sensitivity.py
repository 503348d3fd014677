"""E-values, the latent-u translation and the tipping-point search (simkit.sensitivity.tipping)."""
import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from simkit.sensitivity import evalues as EV, tipping as S
from simkit.errors import InputError

# ----------------------------------------------------------------- E-values


def test_e_values_match_the_r_package_evalue():
    # EValue::evalues.HR(0.30, 0.16, 0.59, rare = FALSE): 3.97 and 2.24; rare = TRUE: 6.12 (2.78)
    ev = EV.e_values(0.30, 0.16, 0.59)
    assert ev.estimate == pytest.approx(3.97, abs=0.005)
    assert ev.ci_limit == pytest.approx(2.24, abs=0.005)
    assert ev.estimate_rare == pytest.approx(6.12, abs=0.005)
    assert ev.ci_limit_rare == pytest.approx(2.78, abs=0.005)
    assert ev.rr_estimate == pytest.approx(0.440, abs=5e-4) and ev.rr_estimate_rare == 0.30
    assert EV.e_values(0.30, 0.16, 0.59, rare=True).estimate == ev.estimate_rare


def _twin_evalue_hr(est, lo, hi, rare):
    """EValue's evalues.HR -> evalues.RR, written out for one value at a time."""
    def conv(x):
        return x if rare else (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))

    def ev(rr):
        if rr < 1:
            rr = 1 / rr
        return rr + math.sqrt(rr * (rr - 1))
    e, l, h = conv(est), conv(lo), conv(hi)
    if e < 1:
        lim = 1.0 if h >= 1 else ev(h)
    elif e > 1:
        lim = 1.0 if l <= 1 else ev(l)
    else:
        lim = 1.0
    return ev(e), lim


def test_e_values_twin_on_random_inputs():
    rng = np.random.default_rng(7)
    for _ in range(2000):
        hr = math.exp(rng.normal(0, 1.2))
        se = rng.uniform(0.01, 1.0)
        lo, hi = hr * math.exp(-1.96 * se), hr * math.exp(1.96 * se)
        rare = bool(rng.integers(2))
        ev = EV.e_values(hr, lo, hi, rare=rare)
        e, lim = _twin_evalue_hr(hr, lo, hi, rare)
        assert ev.estimate == pytest.approx(e, rel=1e-12)
        assert ev.ci_limit == pytest.approx(lim, rel=1e-12)
        # symmetric in the direction of the effect (rr(1/h) = 1/rr(h))
        inv = EV.e_values(1 / hr, 1 / hi, 1 / lo, rare=rare)
        assert inv.estimate == pytest.approx(ev.estimate, rel=1e-9)
        assert inv.ci_limit == pytest.approx(ev.ci_limit, rel=1e-9)
        assert ev.estimate >= ev.ci_limit >= 1.0


@pytest.mark.parametrize("hr,lo,hi,e,lim", [(1.0, 0.5, 2.0, 1.0, 1.0), (0.7, 0.4, 1.0, None, 1.0),
                                             (1.5, 1.0, 2.2, None, 1.0)])
def test_e_values_edges(hr, lo, hi, e, lim):
    ev = EV.e_values(hr, lo, hi)
    assert ev.ci_limit == lim and ev.rr_ci_limit is None
    if e is not None:
        assert ev.estimate == e


@pytest.mark.parametrize("args,where", [((0.0, 0.1, 0.5), "hr"), ((0.3, 0.4, 0.5), "hr"),
                                        ((0.3, -1, 0.5), "ci_low"), ((0.3, 0.1, math.inf), "ci_high"),
                                        ((True, 0.1, 2), "hr")])
def test_e_values_bad_input(args, where):
    with pytest.raises(InputError) as e:
        EV.e_values(*args)
    assert e.value.where == where


def test_latent_u_translation():
    ev = EV.e_values(0.30, 0.16, 0.59)
    lu = EV.latent_u(ev, beta_u=-0.40)
    assert lu.mean_difference == pytest.approx(math.log(0.30) / -0.40)
    assert lu.mean_difference_ci == pytest.approx(math.log(0.59) / -0.40)
    # the u-contrast's own HR, converted like the paper's, is the E-value's RR
    assert float(EV.hr_to_rr(math.exp(0.40 * lu.e_value_contrast))) == pytest.approx(ev.estimate, rel=1e-9)
    assert float(EV.hr_to_rr(math.exp(0.40 * lu.e_value_contrast_ci))) == pytest.approx(ev.ci_limit, rel=1e-9)
    rare = EV.latent_u(EV.e_values(0.30, 0.16, 0.59, rare=True), beta_u=-0.40)
    assert rare.e_value_contrast == pytest.approx(math.log(ev.estimate_rare) / 0.40, rel=1e-6)
    assert "3.0 SD" in lu.sentence and lu.assumptions
    with pytest.raises(InputError):
        EV.latent_u(ev, beta_u=0.0)


# ----------------------------------------------------------- the root search

MU0, SLOPE, SIG, Z_P = math.log(1.2), 2.0, 0.5, 0.25


def _synthetic(seed, reps=400):
    """Log reported HR = MU0 - SLOPE t + SIG z_i with the same z_i at every t (common
    random numbers); Cox p from |log HR| / Z_P.  Closed-form roots below."""
    z = np.random.default_rng(seed).standard_normal(reps)

    def evaluate(t):
        lhr = MU0 - SLOPE * t + SIG * z
        return np.vstack([np.exp(lhr), 2 * norm.sf(np.abs(lhr) / Z_P)])
    return evaluate


def _true_roots(target):
    # median: MU0 - SLOPE t = log(target); P(log HR <= min(log target, -Z_P z_{p/2})) = level
    t_med = (MU0 - math.log(target.hr)) / SLOPE
    edge = min(math.log(target.hr), -Z_P * norm.isf(target.p / 2))
    t_p = (MU0 - edge - SIG * norm.isf(target.level)) / SLOPE
    return {"median_hr": t_med, "p_as_extreme": t_p}


def test_root_search_covers_the_closed_form_root():
    target = S.Target(0.30, 0.0004, 0.05)
    truth = _true_roots(target)
    assert all(0 < t < 1 for t in truth.values())
    n, covered, err = 40, {c: 0 for c in S.CRITERIA}, {c: [] for c in S.CRITERIA}
    for seed in range(n):
        pts = S.search_points(_synthetic(seed, 300), target, block=20, n_boot=150, seed=seed)
        for c, (t0, lo, hi, _) in S.root_ci(pts, target, block=20, n_boot=150, seed=seed).items():
            covered[c] += lo <= truth[c] <= hi
            err[c].append(t0 - truth[c])
    for c in S.CRITERIA:
        # nominal 95%: fewer than 32 of 40 has probability < 1e-4 if it holds
        assert covered[c] >= 32, (c, covered[c])
        assert abs(np.mean(err[c])) < 0.02 and np.std(err[c]) < 0.05, (c, np.mean(err[c]), np.std(err[c]))


def test_root_search_unreached_and_met_at_off():
    ev = _synthetic(1)
    far = S.search_points(lambda t: ev(t) * np.array([[5.0], [1.0]]), S.Target(0.30, 0.0004, 0.05))
    r = S.root_ci(far, S.Target(0.30, 0.0004, 0.05), 20, 100, 0)
    assert r["median_hr"][0] == math.inf and r["median_hr"][3] == 1.0
    easy = S.search_points(ev, S.Target(1.5, 0.5, 0.05))      # the median at t = 0 is about 1.2
    assert S.root_ci(easy, S.Target(1.5, 0.5, 0.05), 20, 100, 0)["median_hr"][0] == 0.0
    assert len(far) == 5          # nothing to bisect when the target is never reached


def test_first_crossing():
    assert S.first_crossing([0, 1, 2], [-1.0, 1.0, 3.0]) == 0.5
    assert S.first_crossing([0, 1, 2], [-1.0, np.nan, -0.5]) == math.inf
    assert S.first_crossing([0, 1, 2, 3], [-2.0, 0.0, -1.0, 1.0]) == 1.0   # the first one


# ------------------------------------------------------ knobs and searches


def test_knobs_cover_every_world_mechanism():
    from simkit.world.model import MECHANISMS_OFF, PARAM
    kn = S.knobs()
    assert set(MECHANISMS_OFF) <= set(kn)
    for name, off in MECHANISMS_OFF.items():
        k = kn[name]
        assert k.off == off and k.section == "mechanisms"
        assert PARAM[name].lo <= k.lo <= off <= k.hi <= PARAM[name].hi
        d = PARAM[name].default
        assert math.isfinite(k.lo if d < off else k.hi), name      # a finite end to search to
    assert kn["era_hr"].log and not kn["case_mix"].log


SMALL = {"seed": 5, "replicates": 60, "name": "small",
         "design": {"pool_size": 1500, "pool_policy": "block", "pool_block_size": 20}}


def test_searches_and_an_extra_design_knob(monkeypatch):
    ss = S.searches(S.null_world(SMALL), ["era_hr", "case_mix"])
    assert [(s.mechanism, s.others) for s in ss] == [("era_hr", "scenario"), ("era_hr", "off"),
                                                       ("case_mix", "scenario"), ("case_mix", "off"),
                                                       ("scale", "-")]
    era = ss[1]
    kn = S.knobs()
    assert era.values(0.0, kn)["era_hr"] == 1.0 and era.values(1.0, kn)["era_hr"] == pytest.approx(0.25)
    assert era.values(0.5, kn)["era_hr"] == pytest.approx(0.5)          # log scale
    assert all(v == kn[k].off for k, v in era.values(0.3, kn).items() if k != "era_hr")
    sc = ss[-1]
    v = sc.values(0.5, kn)      # s = 2: era 0.85^2, probabilities clipped to their range
    assert v["era_hr"] == pytest.approx(0.85 ** 2) and v["case_mix"] == 1.0
    with pytest.raises(InputError) as e:
        S.searches(SMALL, ["bogus"])
    assert e.value.where == "--mechanism"
    # one entry adds a design-side mechanism; the search sets it through the scenario
    monkeypatch.setattr(S, "EXTRA_KNOBS", (S.Knob("caliper", "design", "caliper", 0.0, 0.0, 2.0),))
    (s, _) = S.searches(S.null_world(SMALL), ["caliper"], scale=False)
    assert (s.magnitude_lo, s.magnitude_hi) == (0.0, 2.0)
    a = S._evaluate(S.null_world(SMALL), s.values(0.05, S.knobs()), S.knobs(), 20)
    b = S._evaluate(S.null_world(SMALL), s.values(1.0, S.knobs()), S.knobs(), 20)
    assert a.shape == (2, 20) and not np.array_equal(a, b, equal_nan=True)


def test_null_world_forces_the_null_and_registry_blocks():
    d = S.null_world({"treatment": {"hr": 0.3}, "design": {"pool_policy": "condition"},
                      "grid": {"treatment.hr": [1, 2]}})
    assert d["treatment"]["hr"] == 1.0 and d["treatment"]["rate_change"] == 0.0
    assert d["design"]["pool_policy"] == "block" and "grid" not in d


def test_tipping_point_of_a_real_mechanism_is_where_the_dense_curve_crosses():
    """era_hr alone: with common random numbers the search's root must sit where
    the criterion, evaluated on a dense grid of the same replicates, crosses."""
    base = S.null_world(SMALL)
    (s,) = [x for x in S.searches(base, ["era_hr"], others=("off",), scale=False)]
    target = S.Target(0.60, 0.05, 0.2)
    pts = S.run_search(base, s, 60, target)
    r = S.root_ci(pts, target, 20, 100, 0)
    t0 = r["median_hr"][0]
    assert 0 < t0 < 1
    kn = S.knobs()
    dense = np.linspace(max(t0 - 0.06, 0), min(t0 + 0.06, 1), 13)
    med = [float(np.nanmedian(S._evaluate(base, s.values(t, kn), kn, 60)[0])) for t in dense]
    cross = S.first_crossing(dense, target.hr - np.array(med))
    assert abs(cross - t0) <= 0.25 / 2 ** 3 + 0.01     # the last bisection bracket + a dense step


# ---------------------------------------------------------------- the CLI


def _scenario(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text('seed = 5\nreplicates = 40\nname = "small"\n[design]\npool_size = 1200\n'
                 'pool_policy = "block"\npool_block_size = 20\n')
    return str(p)


def test_cli_json_and_out(tmp_path, capsys):
    from simkit.cli import main
    args = ["tipping-point", _scenario(tmp_path), "--reps", "40", "--mechanism", "era_hr",
            "--others", "off", "--bootstrap", "50", "--jobs", "1"]
    assert main(args + ["--json", "--out", str(tmp_path / "o")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["e_values"]) >= {"estimate", "ci_limit", "estimate_rare"}
    assert doc["e_values"]["estimate"] == pytest.approx(3.97, abs=0.005)
    tp = doc["tipping_points"]
    assert {(r["mechanism"], r["criterion"]) for r in tp} == {("era_hr", "median_hr"), ("era_hr", "p_as_extreme"),
                                                               ("scale", "median_hr"), ("scale", "p_as_extreme")}
    for r in tp:
        assert {"mechanism", "criterion", "magnitude", "low", "high", "reachable"} <= set(r)
        assert r["reachable"] == (r["magnitude"] is not None)
    for f in ("tipping-points.md", "tipping-points.json", "tipping-points.png"):
        assert (tmp_path / "o" / f).stat().st_size > 200
    # the same run on two processes: identical results
    assert main(args[:-1] + ["2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tipping_points"] == tp


@pytest.mark.parametrize("extra,flag", [(["--mechanism", "bogus"], "--mechanism"),
                                        (["--target-hr", "1.5"], "--target-hr"),
                                        (["--reps", "1"], "--reps"), (["--jobs", "0"], "--jobs"),
                                        (["--level", "0"], "--level"), (["--bootstrap", "3"], "--bootstrap")])
def test_cli_bad_input_is_one_line(tmp_path, capsys, extra, flag):
    from simkit.cli import main
    assert main(["tipping-point", _scenario(tmp_path)] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and flag in err and "Traceback" not in err


def test_cli_bad_scenario(tmp_path, capsys):
    from simkit.cli import main
    p = tmp_path / "bad.toml"
    p.write_text("[mechanisms]\nera_hr = -1\n")
    assert main(["tipping-point", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "era_hr" in err


def test_bench_tipping_runs(tmp_path):
    """benchmarks/bench_tipping.py at a trivial size writes its JSON (the speed is in
    benchmarks/results, not asserted here)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_tipping
    res = bench_tipping.main(["--scenario", _scenario(tmp_path), "--reps", "40", "--mechanism", "era_hr",
                              "--bootstrap", "30", "--jobs", "1", "--results-dir", str(tmp_path)])
    assert res["searches"] == 3 and res["evaluated_magnitudes"] >= 15 and res["seconds"] > 0
    d = json.loads((tmp_path / "tipping.json").read_text())
    assert d["command"] and d["machine"]["logical_cpus"] >= 1 and d["tipping_points"]
