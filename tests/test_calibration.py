"""Calibration: the world's defaults land inside every stated tolerance, and the
statistics the calibration uses are right."""
import json
import math

import numpy as np
import pytest

from simkit.world import calibration as C
from simkit.world import model as W


@pytest.fixture(scope="module")
def rows():
    return C.run_calibration(W.build_theta(), n=24_000, seed=11, batches=4)


def test_the_default_world_misses_exactly_the_named_targets(rows):
    """Every target is inside its tolerance except the failures calibration.KNOWN_FAILURES
    names (and docs/world.md explains): a new failure, or a fixed one, fails this test."""
    bad = {r["name"] for r in rows if not r["ok"]}
    assert bad == set(C.KNOWN_FAILURES), sorted(bad ^ set(C.KNOWN_FAILURES))
    assert len(rows) == len(C.targets())


def test_at_least_ten_held_out_targets_with_named_sources():
    ts = C.targets()
    val = [t for t in ts if t.role == "validation"]
    assert len(val) >= 10
    # a validation figure has a published source (author, year, journal or a PubMed id)
    assert all(("et al." in t.source or "PubMed" in t.source) and "assumption:" not in t.source.split(";")[0]
               for t in val)


# a sanity target echoes a default: its figure is (to the printed precision) that parameter
_ECHOED = {"registry_men": "reg_p_male", "registry_white": "reg_p_white",
           "registry_bulbar": "reg_p_bulbar", "registry_riluzole": "reg_p_riluzole",
           "treated_men": "clin_p_male", "treated_riluzole": "clin_p_riluzole",
           "treated_bulbar": "clin_p_bulbar"}


def test_targets_carry_source_and_role(rows):
    ts = C.targets()
    assert all(t.source.strip() and t.role in C.ROLES for t in ts)
    assert {r["name"]: r["role"] for r in rows} == {t.name: t.role for t in ts}
    sanity = {t.name: t for t in ts if t.role == "sanity"}
    assert set(sanity) == set(_ECHOED)
    defaults = W.default_params()
    for name, param in _ECHOED.items():
        assert sanity[name].target == pytest.approx(defaults[param], abs=0.005), name
    # figures docs/world.md names as tuning targets
    assert {t.name for t in ts if t.role == "tuned"} >= {"registry_entry_score_mean", "hr_riluzole",
                                                         "rater_icc", "treated_fast"}
    with pytest.raises(ValueError, match="role"):
        C.Target("x", 1.0, 0.0, 2.0, "somewhere", "something", "tuning")


def test_rows_are_complete_and_consistent(rows):
    for r in rows:
        assert r["low"] <= r["target"] <= r["high"], r["name"]
        assert math.isfinite(r["value"]) and r["mcse"] >= 0
        assert r["ok"] == (r["low"] <= r["value"] <= r["high"])


def test_a_miscalibrated_world_fails():
    """The check can fail: a world with twice the progression rate is not ok."""
    res = C.run_calibration(W.build_theta(rate_log_mean=math.log(2.0)), n=8000, seed=3, batches=2)
    bad = {r["name"] for r in res if not r["ok"]}
    assert {"untreated_change6_mean", "registry_dfs_mean"} <= bad


def test_icc_oneway_matches_anova_by_hand():
    g = np.random.default_rng(0)
    for _ in range(20):
        n = int(g.integers(5, 60))
        true = g.normal(30, 5, size=n)
        a, b = true + g.normal(0, 2, n), true + g.normal(0, 2, n)
        grand = (a.sum() + b.sum()) / (2 * n)
        ssb = sum(2 * ((x + y) / 2 - grand) ** 2 for x, y in zip(a, b))
        ssw = sum((x - (x + y) / 2) ** 2 + (y - (x + y) / 2) ** 2 for x, y in zip(a, b))
        msb, msw = ssb / (n - 1), ssw / n
        assert C.icc_oneway(a, b) == pytest.approx((msb - msw) / (msb + msw), rel=1e-10)
    x = g.normal(size=50)
    assert C.icc_oneway(x, x) == pytest.approx(1.0)


def test_match_pairs_against_brute_force():
    g = np.random.default_rng(1)
    for _ in range(200):
        n = int(g.integers(2, 30))
        strata = g.integers(0, 3, n)
        slope = g.integers(0, 12, n) / 6.0
        is_a = g.uniform(size=n) < 0.5
        ia, ib = C.match_pairs(strata, slope, is_a, 0.5)
        # slow twin: treated in index order, nearest free candidate, ties to lowest index
        used, exp_a, exp_b = set(), [], []
        for i in range(n):
            if not is_a[i]:
                continue
            best = None
            for j in range(n):
                if is_a[j] or j in used or strata[j] != strata[i]:
                    continue
                dist = abs(slope[j] - slope[i])
                if dist <= 0.5 + 1e-9 and (best is None or dist < best[0]):
                    best = (dist, j)
            if best is not None:
                used.add(best[1])
                exp_a.append(i)
                exp_b.append(best[1])
        order = np.argsort(ia, kind="stable")
        assert list(ia[order]) == exp_a and list(ib[order]) == exp_b


def test_seed_table1_intervals():
    from statsmodels.stats.proportion import proportion_confint
    for k in (16, 26, 37, 46, 50):
        lo, hi = C._binom_ci(k)
        elo, ehi = proportion_confint(k, 67, alpha=0.05, method="beta")
        assert lo == pytest.approx(elo, abs=1e-9) and hi == pytest.approx(ehi, abs=1e-9)
    lo, hi = C._quantile_ci(57.0, 0.5, 10.0)
    # SE of a median = 1.2533 sigma / sqrt(n), sigma = IQR / 1.349
    half = 1.959963984540054 * 1.2533141373155 * (10.0 / 1.3489795003921634) / math.sqrt(67)
    assert (lo, hi) == pytest.approx((57.0 - half, 57.0 + half), rel=1e-9)


def test_calibrate_command_json(capsys):
    from simkit.cli import main
    rc = main(["calibrate", "--n", "8000", "--batches", "2", "--seed", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc in (0, 1) and rc == (0 if all(r["ok"] for r in out) else 1)
    assert [r["name"] for r in out] == [t.name for t in C.targets()]
    for r in out:
        assert set(r) == {"name", "role", "target", "value", "mcse", "low", "high", "ok", "source", "what"}
        assert isinstance(r["ok"], bool) and r["role"] in C.ROLES and r["source"]
    rc = main(["calibrate", "--n", "8000", "--batches", "2", "--seed", "5", "--json", "--role", "sanity"])
    out = json.loads(capsys.readouterr().out)
    assert {r["role"] for r in out} == {"sanity"} and rc == (0 if all(r["ok"] for r in out) else 1)
    assert [r["name"] for r in out] == [t.name for t in C.targets() if t.role == "sanity"]


def test_calibrate_command_rejects_bad_arguments(capsys):
    from simkit.cli import main
    assert main(["calibrate", "--n", "10"]) == 2
    assert "--n" in capsys.readouterr().err
    assert main(["calibrate", "--n", "8000", "--role", "tuning"]) == 2
    assert "--role" in capsys.readouterr().err
    assert main(["calibrate", "--n", "8000", "--batches", "1"]) == 2
