"""The replicate pipeline: enrol -> match -> analyse, chunking, and the exported table."""
import numpy as np
import pytest

from simkit.world import model as world
from simkit.analysis.matched import analyze, read_table
from simkit.design.replicate import OUT_FIELDS, Design, replicate_data, run_replicates
from simkit.errors import InputError
from simkit.kernels import seedanalysis as SA

THETA = world.build_theta()
SMALL = Design(pool_size=2000, n_treated=30)


def _same(a, b):
    return np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)])


@pytest.mark.parametrize("pool_policy", ["condition", "replicate", "block"])
def test_chunks_do_not_matter(pool_policy):
    d = Design(pool_size=2000, n_treated=30, pool_policy=pool_policy, pool_block_size=3)
    whole = run_replicates(THETA, d, 11, 2, 0, 9)
    parts = np.vstack([run_replicates(THETA, d, 11, 2, a, b) for a, b in ((0, 2), (2, 7), (7, 9))])
    assert _same(whole, parts)
    assert not _same(whole[0], whole[1])  # replicates differ


@pytest.mark.parametrize("seed, cond, k", [(5, 1, 0), (5, 1, 3), (4, 0, 0), (4, 0, 2)])
def test_exported_table_reanalyses_to_the_stored_row(tmp_path, seed, cond, k):
    from simkit.kernels import history as H
    if seed == 4:  # a pool key >= 2**63 (a uint64 round trip through Python once broke this)
        assert H.pool_key(np.uint64(4), np.uint64(0), np.uint64(k), 0, 100) >= 2**63
    rd = replicate_data(THETA, SMALL, seed, cond, k)
    row = run_replicates(THETA, SMALL, seed, cond, k, k + 1)[0]
    assert _same(rd.row, row)
    f = tmp_path / "rep.csv"
    rd.table.write_csv(f)
    v = analyze(read_table(f)).vector
    assert _same(v, row[:SA.N_FIELDS])
    assert rd.table.n_pairs == int(row[OUT_FIELDS.index("n_matched")])


def test_caliper_zero_and_huge():
    tight = run_replicates(THETA, Design(pool_size=2000, n_treated=30, caliper=0.0), 1, 0, 0, 3)
    loose = run_replicates(THETA, Design(pool_size=2000, n_treated=30, caliper=10.0), 1, 0, 0, 3)
    i = OUT_FIELDS.index("n_matched")
    assert np.all(tight[:, i] <= loose[:, i])
    j = OUT_FIELDS.index("n_slope_diff_zero")
    assert np.all(tight[:, j] == tight[:, i])  # caliper 0: every matched pair has equal slopes


def test_nothing_matched_is_a_status_not_an_error():
    d = Design(pool_size=1, n_treated=5, caliper=0.0)
    rows = run_replicates(THETA, d, 3, 0, 0, 4)
    st = rows[:, OUT_FIELDS.index("replicate_status")]
    nm = rows[:, OUT_FIELDS.index("n_matched")]
    assert np.all((nm == 0) == (st != 0))
    assert np.all(np.isnan(rows[nm == 0, OUT_FIELDS.index("hr")]))


@pytest.mark.parametrize("kw, field", [
    ({"caliper": -1}, "design.caliper"), ({"match_choice": "best"}, "design.match_choice"),
    ({"exact": ("sex", "eye_colour")}, "design.exact"), ({"n_treated": 0}, "design.n_treated"),
    ({"pool_policy": "x"}, "design.pool_policy"), ({"match_order": "z"}, "design.match_order"),
])
def test_bad_design_names_the_field(kw, field):
    with pytest.raises(InputError) as e:
        Design(**kw)
    assert field in str(e.value)


@pytest.mark.parametrize("choice, order", [("nearest", "random"), ("first", "random"), ("random", "random"),
                                           ("worst", "random"), ("nearest", "optimal")])
def test_every_policy_runs(choice, order):
    rows = run_replicates(THETA, Design(pool_size=1500, n_treated=20, match_choice=choice, match_order=order),
                          2, 0, 0, 2)
    assert np.all(rows[:, OUT_FIELDS.index("n_matched")] > 0)
