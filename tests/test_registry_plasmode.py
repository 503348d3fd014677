"""Plasmode simulation on a registry: the effect injection and the replicate loop."""

import numpy as np
import pandas as pd
import pytest

from simkit.realdata import registry as R
from simkit.errors import InputError


def toy_candidates(n=500, seed=3, censor_rate=1 / 900):
    rng = np.random.default_rng(seed)
    pre = rng.integers(25, 48, n).astype(float)
    death = rng.exponential(600, n)
    cens = rng.exponential(1 / censor_rate, n)
    t = pd.DataFrame({
        "patient_id": [str(i) for i in range(n)], "sex": rng.choice(["M", "F"], n), "race": "White",
        "onset": rng.choice(["bulbar", "spinal"], n, p=[.2, .8]), "riluzole": rng.integers(0, 2, n).astype(float),
        "age": rng.normal(55, 10, n), "ft9_stage": rng.integers(1, 4, n).astype(float), "alsfrs_pre": pre,
        "alsfrs_0": pre - rng.integers(0, 9, n), "alsfrs_2": np.nan, "alsfrs_4": np.nan, "alsfrs_6": np.nan,
        "time_days": np.minimum(death, cens) + 1.0, "event": (death <= cens).astype(float)})
    t["alsfrs_2"] = t["alsfrs_0"] - 1
    t["alsfrs_4"] = t["alsfrs_0"] - 2
    t["alsfrs_6"] = (t["alsfrs_0"] - 4).clip(0)
    return R.Candidates(t, n, {}, 14.0, 6.0)


def test_hazard_ratio_one_changes_nothing():
    c = toy_candidates().table
    ch, cc = R._cumhaz(c["time_days"], c["event"]), R._censor_curve(c["time_days"], c["event"])
    t, e = R.inject_hazard_ratio(c["time_days"], c["event"], 1.0, ch, cc, np.random.default_rng(0))
    np.testing.assert_array_equal(t, c["time_days"])
    np.testing.assert_array_equal(e, c["event"])


def test_injected_deaths_divide_the_cumulative_hazard():
    c = toy_candidates().table
    ch, cc = R._cumhaz(c["time_days"], c["event"]), R._censor_curve(c["time_days"], c["event"])
    th, hh = ch
    t, e = R.inject_hazard_ratio(c["time_days"], c["event"], 2.0, ch, cc, np.random.default_rng(0))
    died = (c["event"].to_numpy() > 0.5) & (e > 0.5)
    assert died.sum() > 100
    np.testing.assert_allclose(np.interp(t[died], th, hh), np.interp(c["time_days"].to_numpy()[died], th, hh) / 2,
                               rtol=1e-9, atol=1e-12)
    # hr > 1 brings deaths earlier: a patient censored alive at C may now die before C
    cens = c["event"].to_numpy() < 0.5
    assert np.all(t[cens & (e > 0.5)] <= c["time_days"].to_numpy()[cens & (e > 0.5)])
    assert np.all(t[cens & (e < 0.5)] == c["time_days"].to_numpy()[cens & (e < 0.5)])
    # hr < 1: a censored patient stays censored at C
    t, e = R.inject_hazard_ratio(c["time_days"], c["event"], 0.5, ch, cc, np.random.default_rng(0))
    np.testing.assert_array_equal(t[cens], c["time_days"].to_numpy()[cens])
    assert np.all(e[cens] == 0)


def test_constant_hazard_becomes_hr_times_it():
    """Without censoring and with one exponential hazard the injected times are
    exponential with hazard hr x the registry's (mean 600 / hr days)."""
    rng = np.random.default_rng(9)
    n = 40000
    time = rng.exponential(600, n)
    ev = np.ones(n)
    ch, cc = R._cumhaz(time, ev), R._censor_curve(time, ev)
    for hr in (0.5, 2.0):
        t, e = R.inject_hazard_ratio(time, ev, hr, ch, cc, rng)
        fin = e > 0.5
        # the slowest ~hr-fraction can run past the last death time (censored)
        est = fin.sum() / t.sum()                       # exponential MLE with censoring
        assert est == pytest.approx(hr / 600, rel=0.05)


def test_replicates_do_not_depend_on_how_the_run_is_cut():
    c = toy_candidates()
    whole = R.plasmode(c, n_treated=30, hr=0.7, reps=4, seed=5, exact=("sex", "onset"))
    parts = [R.plasmode(c, n_treated=30, hr=0.7, reps=2, seed=5, start=s, exact=("sex", "onset")) for s in (0, 2)]
    got = np.vstack([p.rows.to_numpy() for p in parts])
    np.testing.assert_array_equal(np.nan_to_num(got, nan=-999), np.nan_to_num(whole.rows.to_numpy(), nan=-999))
    assert list(whole.rows.coords["replicate"].values) == [0, 1, 2, 3]


def test_effects_move_the_estimates():
    c = toy_candidates(n=800)
    kw = dict(n_treated=60, reps=12, seed=2, exact=("sex", "onset"), caliper=0.5)
    null = R.plasmode(c, hr=1.0, **kw)
    eff = R.plasmode(c, hr=0.3, rate_change=1.0, **kw)
    # the same treated draws: a strong effect lowers every replicate's log HR...
    assert np.nanmean(eff.value("log_hr") - null.value("log_hr")) < -0.6
    # ... and the OLS treated coefficient of the decline rate falls by the 1 point/month
    d = eff.value("treated_coef") - null.value("treated_coef")
    assert np.nanmean(d) == pytest.approx(-1.0, abs=0.1)
    s = eff.summary()
    assert s["replicates"] == 12 and s["hr"] == 0.3 and 0 < s["mean_match_rate"] <= 1


@pytest.mark.parametrize("kw,msg", [({"n_treated": 0}, "n_treated"), ({"n_treated": 10_000}, "n_treated"),
                                    ({"hr": 0}, "plasmode.hr"), ({"reps": 0}, "reps"), ({"seed": -1}, "seed")])
def test_bad_settings(kw, msg):
    with pytest.raises(InputError, match=msg):
        R.plasmode(toy_candidates(n=50), **{"n_treated": 20, **kw})
