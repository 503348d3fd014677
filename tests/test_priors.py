"""Probabilistic bias analysis: [priors] in scenario files (simkit/world/priors.py).

Draws are inverse CDFs of keyed uniforms, so stores stay a pure function of
(scenario, seed): the same for any chunk size or number of workers and after an
interrupted run is resumed.  Registry parameters are drawn once per registry.
"""
import math
import tomllib

import numpy as np
import pytest
from scipy import stats

from simkit.runner import montecarlo
from simkit.design.replicate import Design
from simkit.errors import InputError
from simkit.runner.grid import build_job, study_from_dict
from simkit.world.priors import Prior, parse_priors
from simkit.runner.store import open_results
from simkit.world.model import THETA_INDEX, changes_registry

SCENARIO = """
seed = 5
replicates = 40
[design]
pool_size = 2000
pool_policy = "block"
pool_block_size = 10
[run]
chunk_size = 40
[priors]
"mechanisms.reference_death_selection" = { dist = "uniform", low = 0.0, high = 1.0 }
"mechanisms.era_hr" = { dist = "loguniform", low = 0.6, high = 1.0 }
"world.rater_sd" = { dist = "triangular", low = 0.5, mode = 0.68, high = 0.9 }
"treatment.hr" = { dist = "truncnormal", mean = 1.0, sd = 0.2, low = 0.5, high = 1.5 }
"mechanisms.recall_shift" = { dist = "normal", mean = 0.0, sd = 1.0 }
"mechanisms.early_exclusion" = { dist = "beta", a = 2.0, b = 5.0 }
"""


def _study(text=SCENARIO, **run):
    data = tomllib.loads(text)
    data["run"].update(run)
    return study_from_dict(data, text)


@pytest.mark.parametrize("dist, args, ref", [
    ("uniform", (0.2, 0.7), stats.uniform(0.2, 0.5)),
    ("loguniform", (0.5, 2.0), stats.loguniform(0.5, 2.0)),
    ("normal", (1.0, 0.3), stats.norm(1.0, 0.3)),
    ("truncnormal", (1.0, 0.3, 0.8, 1.9), stats.truncnorm((0.8 - 1) / 0.3, (1.9 - 1) / 0.3, 1.0, 0.3)),
    ("beta", (2.0, 3.0, 0.1, 0.6), stats.beta(2.0, 3.0, loc=0.1, scale=0.5)),
    ("triangular", (0.0, 0.2, 1.0), stats.triang(0.2, 0.0, 1.0)),
])
def test_inverse_cdfs_are_scipys(dist, args, ref):
    u = np.r_[np.random.default_rng(0).random(500), 1e-9, 0.5, 1 - 1e-9]
    got = Prior("x", dist, args, 0, False).ppf(u)
    np.testing.assert_allclose(got, ref.ppf(u), rtol=1e-9, atol=1e-12)


def test_registry_parameters_are_drawn_once_per_registry():
    st = _study()
    job = build_job(st, with_truth=False)
    rows = job.compute(0, 0, 40)
    f = {n: i for i, n in enumerate(job.fields)}
    reg = rows[:, f["prior_reference_death_selection"]]
    rater = rows[:, f["prior_rater_sd"]]
    era = rows[:, f["prior_era_hr"]]
    for b in range(4):
        assert np.unique(reg[10 * b:10 * b + 10]).size == 1 and np.unique(rater[10 * b:10 * b + 10]).size == 1
    assert np.unique(reg).size == 4
    assert np.unique(era).size == 40                      # the treated side: per replicate
    assert changes_registry("rater_sd") and changes_registry("reference_death_selection")
    assert not changes_registry("era_hr") and not changes_registry("hr") and not changes_registry("clin_age_sd")


def test_draws_follow_their_distributions():
    from simkit.kernels import history as H
    p = parse_priors({"mechanisms.era_hr": {"dist": "loguniform", "low": 0.6, "high": 1.0},
                      "world.rater_sd": {"dist": "uniform", "low": 0.5, "high": 0.9}})
    th = np.zeros(H.N_THETA)
    d = Design(pool_policy="replicate").vector()
    thetas, drawn = p.draw(th, d, 3, 0, 0, 4000)
    assert stats.kstest(drawn[:, 0], stats.loguniform(0.6, 1.0).cdf).pvalue > 1e-3
    assert stats.kstest(drawn[:, 1], stats.uniform(0.5, 0.4).cdf).pvalue > 1e-3
    assert abs(np.corrcoef(drawn[:, 0], drawn[:, 1])[0, 1]) < 0.06     # independent streams
    np.testing.assert_array_equal(thetas[:, THETA_INDEX["era_hr"]], drawn[:, 0])


def _store(tmp_path, name, jobs=1, chunk=40, fail_after=None):
    st = _study(chunk_size=chunk)
    job = build_job(st)
    if fail_after is not None:
        calls = []
        inner = job.compute

        def compute(c, a, b):
            calls.append(1)
            if len(calls) > fail_after:
                raise RuntimeError("interrupted")
            return inner(c, a, b)
        import dataclasses
        broken = dataclasses.replace(job, compute=compute)
        with pytest.raises(RuntimeError):
            montecarlo.run(broken, tmp_path / name, jobs=1, progress=False)
    montecarlo.run(job, tmp_path / name, jobs=jobs, progress=False)
    return open_results(tmp_path / name)


def test_stores_do_not_depend_on_workers_chunks_or_resume(tmp_path):
    a = _store(tmp_path, "a.zarr")
    b = _store(tmp_path, "b.zarr", jobs=2, chunk=7)
    c = _store(tmp_path, "c.zarr", chunk=7, fail_after=3)
    for name in a.data_vars:
        for other in (b, c):
            np.testing.assert_array_equal(a[name].values, other[name].values, err_msg=name)
    hr = a["prior_hr"].values.ravel()
    assert np.all((hr >= 0.5) & (hr <= 1.5)) and np.unique(hr).size == 40


def test_summary_judges_each_replicate_against_its_drawn_hr(tmp_path):
    from simkit.report.summary import measure, summarize
    a = _store(tmp_path, "a.zarr")
    ds = summarize(tmp_path / "a.zarr")
    lhr = a["log_hr"].values.ravel()
    truth = np.log(a["prior_hr"].values.ravel())
    ok = np.isfinite(lhr)
    assert measure(ds, "bias").estimate == pytest.approx(float(np.mean(lhr[ok] - truth[ok])), rel=1e-12)


@pytest.mark.parametrize("table, where, words", [
    ({"mechanisms.nope": {"dist": "uniform", "low": 0, "high": 1}}, "priors.mechanisms.nope", ["section.name"]),
    ({"world.era_hr": {"dist": "uniform", "low": 0.5, "high": 1}}, "priors.world.era_hr", ["section.name"]),
    ({"mechanisms.era_hr": {"dist": "gamma"}}, "priors.mechanisms.era_hr.dist", ["uniform", "triangular"]),
    ({"mechanisms.era_hr": {"dist": "uniform", "low": 0.5}}, "priors.mechanisms.era_hr.high", ["needs"]),
    ({"mechanisms.era_hr": {"dist": "uniform", "low": 0.5, "high": 1, "mode": 2}},
     "priors.mechanisms.era_hr.mode", ["unknown"]),
    ({"mechanisms.era_hr": {"dist": "uniform", "low": -0.5, "high": 1}}, "priors.mechanisms.era_hr",
     ["lower end", "outside"]),
    ({"mechanisms.reference_death_selection": {"dist": "normal", "mean": 0.5, "sd": 0.1}},
     "priors.mechanisms.reference_death_selection", ["truncnormal"]),
    ({"mechanisms.era_hr": {"dist": "loguniform", "low": 0.0, "high": 1}}, "priors.mechanisms.era_hr", ["> 0"]),
    ({"world.trial_months_min": {"dist": "fixed", "value": 12}}, "priors.world.trial_months_min", ["grid"]),
    ({"mechanisms.era_hr": {"dist": "triangular", "low": 0.5, "mode": 1.2, "high": 1.0}},
     "priors.mechanisms.era_hr", ["mode"]),
    ({"mechanisms.era_hr": "uniform"}, "priors.mechanisms.era_hr", ["dist"]),
    ({"mechanisms.era_hr": {"dist": "uniform", "low": "a", "high": 1}}, "priors.mechanisms.era_hr.low",
     ["finite number"]),
])
def test_bad_priors_name_the_key(table, where, words):
    with pytest.raises(InputError) as e:
        parse_priors(table)
    assert e.value.where == where, e.value
    for w in words:
        assert w in str(e.value)


def test_a_parameter_cannot_be_both_varied_and_drawn():
    text = SCENARIO + '\n[grid]\n"mechanisms.era_hr" = [0.8, 1.0]\n'
    with pytest.raises(InputError) as e:
        _study(text)
    assert "priors.mechanisms.era_hr" in e.value.where
    text = SCENARIO + '\n[[conditions]]\nmechanisms = "off"\n'
    with pytest.raises(InputError):
        _study(text)


def test_nested_tables_and_no_priors():
    p = parse_priors({"mechanisms": {"era_hr": {"dist": "fixed", "value": 0.9}}})
    assert p.names() == ("era_hr",) and p.items[0].ppf(np.array([0.3]))[0] == 0.9
    assert parse_priors(None).items == ()
    assert math.isfinite(p.items[0].support()[0])


@pytest.mark.parametrize("policy", ["block", "condition"])
def test_tasks_of_several_chunks_on_workers_give_the_same_store(tmp_path, monkeypatch, policy):
    """The real pipeline (priors drawn per replicate and per registry) on the paths a
    large run takes: chunks sent to two workers in tasks of several (one call of
    compute over consecutive chunks), and a run kept in this process.  Every stored
    value is the one of a run computed chunk by chunk."""
    import dataclasses

    from simkit.runner import montecarlo
    text = SCENARIO.replace('pool_policy = "block"', f'pool_policy = "{policy}"')
    if policy == "condition":   # one registry: no registry-side priors
        text = text.replace('"mechanisms.reference_death_selection"', '# ').replace('"world.rater_sd"', '# ')
    job = build_job(_study(text, chunk_size=7))
    plain = dataclasses.replace(job, seconds_per_replicate=None)   # one chunk per task, as before
    montecarlo.run(plain, tmp_path / "a.zarr", jobs=1, progress=False)
    montecarlo.run(job, tmp_path / "b.zarr", jobs=2, progress=False)       # little work: in process
    monkeypatch.setattr(montecarlo, "IN_PROCESS_SECONDS", 0.0)
    monkeypatch.setattr(montecarlo, "TASKS_PER_PROCESS", 1)
    assert len(montecarlo._tasks([(0, j, 7 * j, 7 * j + 7) for j in range(6)], 2, job.seconds_per_replicate)) < 6
    montecarlo.run(job, tmp_path / "c.zarr", jobs=2, progress=False)
    # workers started early by build_job: on Linux forked after loading the kernels
    job_d = build_job(_study(text, chunk_size=7), start_workers=True, jobs=2)
    assert montecarlo._forked is not None or not montecarlo._can_fork()
    montecarlo.run(job_d, tmp_path / "d.zarr", jobs=2, progress=False)
    assert montecarlo._forked is None
    a = open_results(tmp_path / "a.zarr")
    for name in ("b.zarr", "c.zarr", "d.zarr"):
        other = open_results(tmp_path / name)
        for v in a.data_vars:
            assert a[v].values.tobytes() == other[v].values.tobytes(), (name, v)
    hist = [montecarlo._store.read_status(tmp_path / n)["attrs"]["history"][-1] for n in ("b.zarr", "c.zarr")]
    assert hist[0].get("in_process") is True and "in_process" not in hist[1]


PEEK_SCENARIO = """
seed = 5
replicates = 30
[design]
pool_size = 2000
pool_policy = "POLICY"
pool_block_size = 10
[run]
chunk_size = 30
[priors]
"mechanisms.era_hr" = { dist = "loguniform", low = 0.6, high = 1.0 }
"design.match_peek" = { dist = "integer_loguniform", low = 1, high = 20 }
"""


@pytest.mark.parametrize("policy", ["block", "replicate", "condition"])
def test_a_drawn_peek_gives_each_replicate_the_rows_of_its_own_design(policy):
    """The analyst's peek drawn per replicate (one chunk, the peek changing from one replicate to
    the next within a registry) gives every replicate exactly the row run_replicates computes for it
    alone with that peek as its design (the slow twin: one replicate, one fixed design)."""
    import dataclasses

    from simkit.design.replicate import run_replicates
    st = _study(PEEK_SCENARIO.replace("POLICY", policy))
    job = build_job(st, with_truth=False)
    rows = job.compute(0, 0, 30)
    f = {n: i for i, n in enumerate(job.fields)}
    x = rows[:, f["prior_match_peek"]]
    peek = np.floor(x).astype(int)
    assert np.all((x >= 1) & (x < 21)) and 1 in peek and peek.max() >= 8      # the draws span the range
    changed = 0
    for k in range(30):
        th = st.base.theta().copy()
        th[THETA_INDEX["era_hr"]] = rows[k, f["prior_era_hr"]]
        d = dataclasses.replace(st.design(0), match_peek=int(peek[k]))
        own = run_replicates(th, d, st.seed, 0, k, k + 1)[0]
        np.testing.assert_array_equal(rows[k, :own.size], own, err_msg=f"replicate {k}, peek {peek[k]}")
        plain = run_replicates(th, dataclasses.replace(d, match_peek=1), st.seed, 0, k, k + 1)[0]
        changed += not np.array_equal(own, plain, equal_nan=True)
    assert changed >= 5          # the peek matters: the test would see a peek that is ignored


def test_integer_priors_draw_each_whole_number_with_its_probability():
    p = parse_priors({"design.match_peek": {"dist": "integer_loguniform", "low": 1, "high": 20}})
    q = parse_priors({"design.match_peek": {"dist": "integer_uniform", "low": 2, "high": 5}})
    u = (np.arange(200_000) + 0.5) / 200_000
    k = np.floor(p.items[0].ppf(u)).astype(int)
    want = np.log(np.arange(2, 22) / np.arange(1, 21)) / np.log(21)
    np.testing.assert_allclose(np.bincount(k, minlength=21)[1:] / u.size, want, atol=2e-5)
    kq = np.floor(q.items[0].ppf(u)).astype(int)
    np.testing.assert_allclose(np.bincount(kq, minlength=6)[2:] / u.size, 0.25, atol=2e-5)
    assert p.items[0].support() == (1.0, 21.0) and p.items[0].section == "design"
    assert np.array_equal(p.peeks(np.array([[1.0], [2.999], [20.9]])), [1.0, 2.0, 20.0])
    assert parse_priors({"mechanisms.era_hr": {"dist": "fixed", "value": 0.9}}).peeks(np.ones((3, 1))).size == 0


@pytest.mark.parametrize("table, where, words", [
    ({"design.caliper": {"dist": "uniform", "low": 0.1, "high": 1}}, "priors.design.caliper", ["match_peek"]),
    ({"design.match_peek": {"dist": "uniform", "low": 1, "high": 5}}, "priors.design.match_peek.dist",
     ["integer_loguniform"]),
    ({"design.match_peek": {"dist": "integer_uniform", "low": 0, "high": 5}}, "priors.design.match_peek.low",
     [">= 1"]),
    ({"design.match_peek": {"dist": "integer_uniform", "low": 1.5, "high": 5}}, "priors.design.match_peek.low",
     ["whole number"]),
    ({"design.match_peek": {"dist": "integer_uniform", "low": 6, "high": 5}}, "priors.design.match_peek",
     ["low must not exceed high"]),
    ({"mechanisms.era_hr": {"dist": "integer_uniform", "low": 1, "high": 2}}, "priors.mechanisms.era_hr.dist",
     ["integer design choice"]),
])
def test_bad_design_priors_name_the_key(table, where, words):
    with pytest.raises(InputError) as e:
        parse_priors(table)
    assert e.value.where == where, e.value
    for w in words:
        assert w in str(e.value)


def test_the_design_priors_agree_with_the_choices_table():
    from simkit.design.choices import CHOICE
    from simkit.world.priors import DESIGN_PRIOR_MIN, DESIGN_PRIORS
    for name, slot in DESIGN_PRIORS.items():
        assert CHOICE[name].slot == slot and CHOICE[name].lo == DESIGN_PRIOR_MIN[name] and CHOICE[name].kind == "int"


def test_a_drawn_peek_needs_a_nearest_greedy_match():
    text = PEEK_SCENARIO.replace("POLICY", "block").replace("[design]", '[design]\nmatch_choice = "random"')
    with pytest.raises(InputError) as e:
        _study(text)
    assert e.value.where == "priors.design.match_peek" and "nearest" in e.value.message
    text = PEEK_SCENARIO.replace("POLICY", "block") + '\n[grid]\n"design.match_peek" = [1, 3]\n'
    with pytest.raises(InputError) as e:
        _study(text)
    assert e.value.where == "priors.design.match_peek"
