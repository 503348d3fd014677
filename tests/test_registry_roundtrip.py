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
