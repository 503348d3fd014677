"""A synthetic world exported in the registry layout, read back, matched and
analysed gives the simulation's own matched cohort (design.replicate_data).

For an even follow-up requirement M (0, 2, 4, 6 months) only: with an odd M the
simulation asks the true death time to lie beyond index + M, which a registry
whose follow-up ends earlier cannot know (docs/registry.md)."""
import numpy as np
import pytest

from simkit.realdata import registry as R
from simkit.world import model as world
from simkit.analysis.matched import analyze
from simkit.design.replicate import Design

# (world overrides, design, tolerance days, follow-up months)
CASES = {
    "default": ({}, Design(pool_size=1500, n_treated=40), 0.0, 6.0),
    "tolerance": ({}, Design(pool_size=1500, n_treated=40, caliper=0.3), 20.0, 6.0),
    "no_immortal_time": ({"immortal_time_reference": 0.0}, Design(pool_size=1500, n_treated=40), 10.0, 0.0),
    "baseline_9_followup_4": ({"immortal_time_reference": 4.0, "ref_baseline_month": 9},
                              Design(pool_size=1500, n_treated=40, exact=("sex", "onset")), 5.0, 4.0),
}


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, tmp_path_factory):
    over, design, tol, fu = CASES[request.param]
    theta = world.build_theta(**over)
    out = tmp_path_factory.mktemp(request.param)
    rd = R.export_replicate(theta, design, 11, 0, 2, out)
    return theta, design, tol, fu, rd, out


def test_candidates_are_the_simulated_pools_eligible(exported):
    theta, design, tol, fu, rd, out = exported
    pool = world.generate_pool(theta, world.pool_key(11, 0, 2, design.pool_policy, design.pool_block_size),
                               design.pool_size)
    cand = R.reference_candidates(R.read_registry(out / "registry"), tol, fu)
    assert cand.table["patient_id"].astype(int).tolist() == np.flatnonzero(pool.eligible).tolist()
    # the candidates' baseline values are the pool's
    idx = cand.table["patient_id"].astype(int).to_numpy()
    from simkit.kernels import history as H
    np.testing.assert_array_equal(cand.table["alsfrs_pre"], pool.data[idx, H.PB_ALSFRS_PRE])
    np.testing.assert_array_equal(cand.table["ft9_stage"], pool.data[idx, H.PB_FT9])
    np.testing.assert_allclose(cand.table["age"], pool.data[idx, H.PB_AGE], rtol=0, atol=1e-9)


def test_matching_the_export_gives_the_simulated_matched_cohort(exported):
    theta, design, tol, fu, rd, out = exported
    cand = R.reference_candidates(R.read_registry(out / "registry"), tol, fu)
    m = R.match_registry(R.read_treated(out / "treated.csv"), cand, design.exact, design.caliper,
                         design.match_choice, design.match_order)
    assert m.table.n_pairs == rd.table.n_pairs > 0
    np.testing.assert_array_equal(m.match.treated_index, rd.matched_treated)
    np.testing.assert_array_equal(m.reference_ids.astype(int), rd.matched_pool)
    a, b = rd.table, m.table
    for f in ("sex", "race", "onset", "riluzole", "ft9_stage", "event"):
        assert (getattr(a, f) == getattr(b, f)).all(), f
    np.testing.assert_array_equal(a.scores_treated, b.scores_treated)
    np.testing.assert_array_equal(a.scores_reference, b.scores_reference)
    np.testing.assert_allclose(b.time_days, a.time_days, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(b.age, a.age, rtol=0, atol=1e-9)
    ra, rb = analyze(a).to_dict(), analyze(b).to_dict()
    for k, v in ra.items():
        if isinstance(v, float):
            assert rb[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
        else:
            assert rb[k] == v, k
    # the simulation's own replicate row agrees on the match
    assert rd.value("n_matched") == m.match.n_matched
    assert rd.value("n_slope_diff_zero") == m.balance.pair_shares()["n_slope_diff_zero"]
    assert rd.value("n_slope_within_0_3") == m.balance.pair_shares()["n_slope_within_0_3"]
    assert rd.value("n_age_within_5") == m.balance.pair_shares()["n_age_within_5"]
    assert rd.value("n_age_within_10") == m.balance.pair_shares()["n_age_within_10"]


def test_export_writes_domain_scores_that_read_back(exported, tmp_path):
    """The export's visits carry the 4 observed domain scores of the world's kernels
    (world.pool_domains), which sum to the totals; the reader keeps them, derives
    the FT9 stage from them, and a written registry reads back unchanged."""
    import pandas as pd
    theta, design, tol, fu, rd, out = exported
    raw = pd.read_csv(out / "registry" / "visits.csv")
    assert list(raw.columns) == ["patient_id", "day", "alsfrs_r", *R.DOMAIN_COLUMNS]
    reg = R.read_registry(out / "registry")
    v = reg.visits
    dom = v[list(R.DOMAIN_COLUMNS)].to_numpy()
    assert np.isfinite(dom).all() and ((dom >= 0) & (dom <= 12)).all()
    np.testing.assert_array_equal(dom.sum(axis=1), v["alsfrs_r"])
    np.testing.assert_array_equal(v["ft9_stage"], 1 + (dom < 9).sum(axis=1))
    # the baseline visit's domains are the kernel's for that pool patient
    pool = world.generate_pool(theta, world.pool_key(11, 0, 2, design.pool_policy, design.pool_block_size),
                               design.pool_size)
    kd = world.pool_domains(theta, pool.keys)
    b0_day = theta[world.THETA_INDEX["ref_baseline_month"]] * R.MONTH_DAYS
    at_b0 = np.isclose(v["day"].to_numpy(), b0_day)
    ids = v["patient_id"].astype(int).to_numpy()[at_b0]
    np.testing.assert_array_equal(dom[at_b0], kd[ids, 2])
    from simkit.kernels import history as H
    np.testing.assert_array_equal(1 + (kd[ids, 2] < 9).sum(axis=1), pool.data[ids, H.PB_FT9])
    # write + read: the same visits, domains included
    reg.write(tmp_path / "again")
    back = R.read_registry(tmp_path / "again")
    pd.testing.assert_frame_equal(back.visits, reg.visits)


def test_reader_keeps_domains_given_or_summed_from_items(tmp_path):
    import pandas as pd
    d = tmp_path / "reg"
    d.mkdir()
    pd.DataFrame({"patient_id": ["a", "b"], "sex": ["M", "F"], "race": ["White"] * 2, "onset": ["spinal"] * 2,
                  "riluzole": [1, 0], "age": [50, 60], "end_day": [400, 400], "event": [0, 1]}
                 ).to_csv(d / "patients.csv", index=False)
    items = {c: [4, ""] for c in R.ITEM_COLUMNS}
    items["q1_speech"] = [2, ""]
    pd.DataFrame({"patient_id": ["a", "b"], "day": [0, 0], **items, "bulbar": ["", 7], "fine_motor": ["", 12],
                  "gross_motor": ["", 8], "respiratory": ["", 11]}).to_csv(d / "visits.csv", index=False)
    v = R.read_registry(d).visits
    np.testing.assert_array_equal(v[list(R.DOMAIN_COLUMNS)].to_numpy(), [[10, 12, 12, 12], [7, 12, 8, 11]])
    np.testing.assert_array_equal(v["alsfrs_r"], [46, 38])
    np.testing.assert_array_equal(v["ft9_stage"], [1, 3])
