"""Golden digests of whole replicates: speed work on the kernels must not change a number.

The digests below were computed from the replicate kernels as they stood before
the speed work of issue 7 (git f6edacd), compiled afresh: numba's cache does
not notice changes in other modules, and the cache in the tree then held
replicate code compiled against an older world, which gives other numbers.
(`python tests/test_replicate_golden.py` prints the digests of the current
code.)  Each covers every output field of every replicate of one design, bit
for bit (NaN mapped to one sentinel, so payload bits do not count; -0.0 and
0.0 do).  The world parameters are frozen here, not taken from the current
defaults, so a recalibration of the world does not break these tests; a change
in the layout of theta or of the output row does (and then the digests must be
regenerated on purpose, from a trusted revision).

Cases: every match policy and order, every pool policy, Firth on and off, a
fair world and a treatment effect, other exact sets and calipers, small and
large cohorts, an empty match, several seeds and conditions.  Replicate k is
also laid open (`replicate_data`) for a few cases: matched indices and the
pool outcomes.  Below them, each faster route the speed work added is checked
bit for bit against the route it replaces, on random inputs.
"""
import hashlib
import sys

import numpy as np
import pytest

from simkit.design.replicate import OUT_FIELDS, Design, replicate_data, run_replicates
from simkit.kernels import history as H

# world defaults as of the golden revision (seed-design.toml)
BASE = {
    "rate_log_mean": 0.0, "rate_log_sd": 0.63, "rate_bulbar": 0.15, "rate_age10": 0.1, "rate_u": -0.2,
    "wiggle_sd": 1.3, "wiggle_months": 6.0, "rater_sd": 0.68, "share_spread": 0.5, "onset_weight": 3.0,
    "resp_weight": 0.5, "duration_elasticity": 0.1, "weibull_shape": 1.5, "weibull_scale": 38.6,
    "beta_log_rate": 1.0, "beta_age10": 0.3, "beta_bulbar": 0.47, "beta_riluzole": -0.22, "beta_u": -0.4,
    "reg_p_male": 0.63, "reg_p_white": 0.96, "reg_p_bulbar": 0.2, "reg_p_riluzole": 0.7,
    "reg_age_mean": 55.0, "reg_age_sd": 11.0, "reg_rate_log_shift": 0.0, "reg_duration_log_mean": 2.41,
    "reg_duration_log_sd": 0.39, "reg_age_min": 18.0, "reg_age_max": 80.0, "reg_min_score": 26.0,
    "reg_max_duration": 36.0, "reg_min_resp": 6.0,
    "clin_p_male": 0.55, "clin_p_white": 1.0, "clin_p_bulbar": 0.24, "clin_p_riluzole": 0.75,
    "clin_age_mean": 57.5, "clin_age_sd": 7.5, "clin_rate_log_shift": -0.42, "clin_duration_log_mean": 2.72,
    "clin_duration_log_sd": 0.55, "clin_age_min": 20.0, "clin_age_max": 78.0, "clin_min_score": 0.0,
    "clin_max_duration": 120.0, "clin_min_resp": 4.0,
    "trial_months_min": 12.0, "trial_months_max": 18.0, "ref_baseline_month": 6.0, "dropout_rate": 0.015,
    "followup_years_min": 2.0, "followup_years_max": 6.0,
    "enrol_start": 2015.0, "enrol_end": 2019.0, "censor_date": 2020.25,
    "case_mix": 1.0, "immortal_time_treated": 6.0, "immortal_time_reference": 6.0, "era_hr": 0.85,
    "self_selection": 0.5, "regression_to_mean": 0.5, "retro_noise": 2.0, "unblinded_shift": 1.0,
    "differential_followup": 0.5, "treated_loss_rate": 0.05, "death_ascertainment": 0.15,
    "hr": 1.0, "log_hr_sd": 0.0, "rate_change": 0.0, "rate_change_sd": 0.0,
    # added after the golden revision, pinned at the values that reproduce it (a linear course)
    "curvature_mean": 0.0, "curvature_sd": 0.0, "plateau_share": 0.0, "slope_hazard_link": 0.0,
}
FAIR = dict(BASE, case_mix=0.0, immortal_time_treated=0.0, immortal_time_reference=0.0, era_hr=1.0,
            self_selection=0.0, regression_to_mean=0.0, retro_noise=0.0, unblinded_shift=0.0,
            differential_followup=0.0, treated_loss_rate=0.0, death_ascertainment=0.0)
EFFECT = dict(BASE, hr=0.5, log_hr_sd=0.3, rate_change=-0.3, rate_change_sd=0.2, immortal_time_reference=4.0)
WORLDS = {"base": BASE, "fair": FAIR, "effect": EFFECT}


def theta_of(name):
    # parameters added after the golden revision keep their defaults, which must
    # reproduce the world as it was (new mechanisms default to the old behaviour)
    from simkit.world.model import default_params
    vals = {**default_params(), **WORLDS[name]}
    assert set(WORLDS[name]) <= set(H.THETA_NAMES), "a golden parameter was removed or renamed"
    return np.array([vals[n] for n in H.THETA_NAMES], dtype=np.float64)


# (id, world, design kwargs, seed, condition, start, stop)
CASES = [
    ("nearest-cond", "base", {}, 1, 0, 0, 40),
    ("nearest-cond-c3", "base", {}, 20200331, 3, 17, 37),
    ("nearest-repl", "base", {"pool_policy": "replicate"}, 1, 0, 0, 8),
    ("nearest-block", "base", {"pool_size": 3000, "pool_policy": "block", "pool_block_size": 3,
                               "match_order": "random"}, 7, 2, 5, 14),
    ("nearest-hardest", "base", {"match_order": "hardest_first"}, 3, 1, 0, 20),
    ("first-cond", "base", {"match_choice": "first"}, 2, 0, 0, 20),
    ("first-repl-hardest", "base", {"match_choice": "first", "match_order": "hardest_first", "pool_size": 3000,
                                    "pool_policy": "replicate"}, 2, 1, 0, 8),
    ("random-cond", "base", {"match_choice": "random", "match_order": "random"}, 4, 0, 0, 20),
    ("random-repl", "base", {"match_choice": "random", "pool_size": 3000, "pool_policy": "replicate"}, 4, 5, 3, 11),
    ("worst-cond", "base", {"match_choice": "worst"}, 5, 0, 0, 10),
    ("worst-repl", "base", {"match_choice": "worst", "match_order": "random", "pool_size": 2000,
                            "pool_policy": "replicate"}, 5, 1, 0, 6),
    ("optimal-cond", "base", {"match_order": "optimal"}, 6, 0, 0, 20),
    ("optimal-repl", "base", {"match_order": "optimal", "pool_size": 3000, "pool_policy": "replicate"}, 6, 2, 0, 8),
    ("firth-nearest", "base", {"firth": True}, 8, 0, 0, 20),
    ("firth-optimal-repl", "effect", {"firth": True, "match_order": "optimal", "pool_size": 3000,
                                      "pool_policy": "replicate"}, 8, 1, 0, 8),
    ("fair", "fair", {}, 9, 0, 0, 20),
    ("fair-repl", "fair", {"pool_policy": "replicate", "match_choice": "random"}, 9, 4, 0, 8),
    ("effect", "effect", {}, 10, 0, 0, 20),
    ("exact-sex-onset-cal025", "base", {"exact": ("sex", "onset"), "caliper": 0.25}, 11, 0, 0, 15),
    ("exact-none-cal1", "base", {"exact": (), "caliper": 1.0, "match_order": "optimal"}, 11, 1, 0, 8),
    ("caliper0", "base", {"caliper": 0.0, "match_choice": "first", "match_order": "random"}, 12, 0, 0, 15),
    ("treated11", "base", {"n_treated": 11, "pool_size": 1000}, 13, 0, 0, 30),
    ("treated200", "effect", {"n_treated": 200, "pool_size": 20000, "pool_policy": "block",
                              "pool_block_size": 2}, 13, 1, 0, 4),
    ("nothing-matched", "base", {"n_treated": 5, "pool_size": 1, "caliper": 0.0}, 14, 0, 0, 6),
]

# replicate_data laid open: (case id, replicate k)
OPEN = [("nearest-cond", 3), ("worst-repl", 2), ("optimal-repl", 1), ("random-cond", 0), ("treated11", 5)]

SENTINEL = -8.8e300


def _bytes(a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64)).copy()
    a[np.isnan(a)] = SENTINEL
    return a.tobytes()


def _case(cid):
    for c in CASES:
        if c[0] == cid:
            return c
    raise KeyError(cid)


# Output fields added after the golden revision: the digests hash the fields
# that existed then, in their order, so a new field changes no digest (new
# fields are tested on their own).
ADDED_FIELDS = ("share_censored_treated", "share_censored_reference") + tuple(
    f for f in OUT_FIELDS if f.startswith("t1_")) + (
    # pair-aware inference (issue 14; tested in tests/test_pair_cox.py)
    "log_hr_se_robust", "hr_ci_low_robust", "hr_ci_high_robust", "hr_p_robust", "cox_robust_status",
    "hr_strat", "hr_strat_ci_low", "hr_strat_ci_high", "hr_strat_p", "log_hr_strat", "log_hr_strat_se",
    "n_pairs_informative", "cox_strat_status")
GOLDEN_COLUMNS = np.array([i for i, f in enumerate(OUT_FIELDS) if f not in ADDED_FIELDS])
assert len(GOLDEN_COLUMNS) == 144


def digest_rows(cid):
    _, world, kw, seed, cond, a, b = _case(cid)
    rows = run_replicates(theta_of(world), Design(**kw), seed, cond, a, b)
    return hashlib.sha256(_bytes(rows[:, GOLDEN_COLUMNS])).hexdigest()[:24]


def digest_open(cid, k):
    _, world, kw, seed, cond, _a, _b = _case(cid)
    rd = replicate_data(theta_of(world), Design(**kw), seed, cond, k)
    t = rd.table
    h = hashlib.sha256()
    for x in (rd.row[GOLDEN_COLUMNS], rd.matched_treated, rd.matched_pool, rd.treated, t.scores_reference, t.time_days,
              t.event, t.age, t.ft9_stage, t.riluzole):
        h.update(_bytes(x))
    return h.hexdigest()[:24]


GOLDEN = {
    'nearest-cond': '42a7b81e30b9f48c88f4d9a7',
    'nearest-cond-c3': 'baddc8d8a98152ede8477915',
    'nearest-repl': 'b36d0ed689ac7ead398ebacf',
    'nearest-block': 'e60ef250f424b11c5957028a',
    'nearest-hardest': 'b7e22eb57cefe78783e87976',
    'first-cond': '4c15280da8b889c4cef83ec3',
    'first-repl-hardest': 'dfe6693dd5b91a0254925109',
    'random-cond': '80d830957ddfc4b2ff754b03',
    'random-repl': '380b5ad5755f0b80120029ab',
    'worst-cond': '71323ba5b57eff4dd50442b8',
    'worst-repl': 'ece9efc36cf26a38171a9265',
    'optimal-cond': '33ca3cc145224991ac58016b',
    'optimal-repl': '8fb9d6b50f9e1a4b201ddca4',
    'firth-nearest': '3d0432f8d71594012d2e4f6e',
    'firth-optimal-repl': '37c09a04d94c14b90fed01ba',
    'fair': '3a7da2726d8803cc67399cc6',
    'fair-repl': 'c20c0a70245d84060d8659f7',
    'effect': '2be420ab2049268f1ee4ab73',
    'exact-sex-onset-cal025': '462286f1be8b5acf6a826297',
    'exact-none-cal1': '22785d1696f986994cc4fc3a',
    'caliper0': '58e5eb8a66c538ffbf5377fe',
    'treated11': '1daf7db4d0ca6cb6cee2090d',
    'treated200': '4464db36e3c8457e9aa7d70f',
    'nothing-matched': '6025df4609a4cdd05191660d',
}
GOLDEN_OPEN = {
    'nearest-cond/3': '1d36a644a5312a1949dcd114',
    'worst-repl/2': 'a3fa7b2b6fb5af7f72bf735f',
    'optimal-repl/1': '4b1de8f4999288df91ddb4f2',
    'random-cond/0': '3d5bf978fd45431aca3a849d',
    'treated11/5': '1166cd280879ee13f42faa8c',
}


@pytest.mark.parametrize("cid", [c[0] for c in CASES])
def test_rows_unchanged(cid):
    assert digest_rows(cid) == GOLDEN[cid]


@pytest.mark.parametrize("cid, k", OPEN)
def test_replicate_data_unchanged(cid, k):
    assert digest_open(cid, k) == GOLDEN_OPEN[f"{cid}/{k}"]


def test_digest_sees_a_change():
    # the digest is not blind: one ulp in one field changes it
    _, world, kw, seed, cond, a, b = _case("nearest-cond")
    rows = run_replicates(theta_of(world), Design(**kw), seed, cond, a, a + 3)
    d0 = hashlib.sha256(_bytes(rows)).hexdigest()
    i = np.flatnonzero(np.isfinite(rows[1]) & (rows[1] != 0))[5]
    rows[1, i] = np.nextafter(rows[1, i], np.inf)
    assert hashlib.sha256(_bytes(rows)).hexdigest() != d0


# ---------------------------------------------------------------------------
# The faster routes the speed work added, against the routes they replace, on
# random inputs (bit for bit: the same numbers, not close ones).

def _same_bits(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and _bytes(a) == _bytes(b)


def _grid_pool(rng, n, n_codes=96, p_missing=0.1):
    strata = rng.integers(-1, n_codes, n).astype(np.int64)
    slope = rng.integers(-30, 31, n) / 6.0
    slope[rng.random(n) < p_missing] = np.nan
    return strata, slope


def test_prepare_pool_grid_is_prepare_pool():
    from simkit.kernels.matching import prepare_pool, prepare_pool_grid
    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(0, 300))
        strata, slope = _grid_pool(rng, n, n_codes=int(rng.integers(1, 97)))
        if trial % 5 == 0 and n:
            slope[rng.integers(0, n, max(1, n // 3))] = 0.5      # many ties
        ref = prepare_pool(strata, slope)
        perm, ss, sl, grid = prepare_pool_grid(strata, slope, 96, 6.0)
        assert grid
        assert all(_same_bits(x, y) for x, y in zip((perm, ss, sl), ref))
    # off the grid (or a code too large): prepare_pool's answer, flagged
    strata, slope = _grid_pool(rng, 200)
    slope[3] = 0.1234
    perm, ss, sl, grid = prepare_pool_grid(strata, slope, 96, 6.0)
    assert not grid and all(_same_bits(x, y) for x, y in zip((perm, ss, sl), prepare_pool(strata, slope)))
    strata[5] = 500
    slope[3] = 1.0
    perm, ss, sl, grid = prepare_pool_grid(strata, slope, 96, 6.0)
    assert not grid and all(_same_bits(x, y) for x, y in zip((perm, ss, sl), prepare_pool(strata, slope)))


@pytest.mark.parametrize("policy", [0, 1, 2, 3, 4])
def test_match_with_offsets_is_match(policy):
    from oracle_matching import match
    from simkit.kernels.matching import match_prepared, match_prepared_offsets, prepare_pool, stratum_offsets
    rng = np.random.default_rng(100 + policy)
    for trial in range(60):
        n_codes = int(rng.integers(1, 12))
        npool = int(rng.integers(0, 400))
        nt = int(rng.integers(1, 40))
        ps, psl = _grid_pool(rng, npool, n_codes)
        if trial % 2:   # off-grid slopes too: the offsets do not need the grid
            psl = psl + rng.normal(0, 0.05, npool)
        ts = rng.integers(-1, n_codes + 1, nt).astype(np.int64)
        tsl = rng.integers(-30, 31, nt) / 6.0 + (rng.normal(0, 0.05, nt) if trial % 2 else 0.0)
        tsl[rng.random(nt) < 0.1] = np.nan
        cal = float(rng.choice([0.0, 1 / 6, 0.5, 2.0]))
        bad = rng.normal(size=npool)
        bad[rng.random(npool) < 0.2] = np.nan
        key = np.uint64(rng.integers(0, 2**63))
        perm, ss, sl = prepare_pool(ps, psl)
        offs = stratum_offsets(ss, n_codes + 1)
        for order in (0, 1, 2):
            a = match_prepared(ts, tsl, perm, ss, sl, cal, policy, order, key, bad)
            b = match_prepared_offsets(ts, tsl, perm, ss, sl, offs, cal, policy, order, key, bad)
            c = match(ts, tsl, ps, psl, cal, policy, order, key, bad)
            assert np.array_equal(a[0], b[0]) and a[1] == b[1]
            assert np.array_equal(a[0], c[0]) and a[1] == c[1]


def test_logrank_family_is_weighted_logrank():
    from simkit.kernels import seedanalysis as SA
    from simkit.kernels.logrank import GEHAN, LOGRANK, PETO, TARONE_WARE, weighted_logrank
    rng = np.random.default_rng(11)
    fields = ((LOGRANK, SA.LOGRANK_CHI2, SA.LOGRANK_P), (GEHAN, SA.GEHAN_CHI2, SA.GEHAN_P),
              (TARONE_WARE, SA.TARONE_WARE_CHI2, SA.TARONE_WARE_P), (PETO, SA.PETO_CHI2, SA.PETO_P))
    statuses = set()
    for trial in range(300):
        n = int(rng.integers(1, 150))
        t = rng.integers(1, 40, n).astype(np.float64) * 30.0 if trial % 2 else rng.exponential(900, n)
        e = (rng.random(n) < rng.choice([0.0, 0.3, 0.8, 1.0])).astype(np.int64)
        g = (rng.random(n) < rng.choice([0.0, 0.5, 1.0, 0.1])).astype(np.int64)
        o = np.argsort(t, kind="mergesort")
        t, e, g = t[o], e[o], g[o]
        out = np.full(SA.N_FIELDS, np.nan)
        status = SA._logrank_family(t, e, g, out)
        statuses.add(int(status))
        for w, fc, fp in fields:
            chi2, p, s = weighted_logrank(t, e, g, w)
            assert s == status
            assert _same_bits(np.array([chi2, p]), np.array([out[fc], out[fp]]))
    assert len(statuses) >= 3   # ok and the degenerate cases were all seen


def test_treated_cohort_only_is_treated_cohort():
    rng = np.random.default_rng(5)
    for world in ("base", "effect", "fair"):
        theta = theta_of(world)
        for _ in range(5):
            key = np.uint64(rng.integers(0, 2**63))
            n = int(rng.integers(1, 80))
            a = np.empty((n, H.N_TC))
            tw = np.empty((n, H.N_TC))
            fa = H.treated_cohort(theta, key, a, tw)
            b = np.full((n, H.N_TC), 7.0)
            fb = H.treated_cohort_only(theta, key, b)
            assert fa == fb and _same_bits(a, b)


def test_replicate_data_twin_is_the_worlds_twin():
    from simkit.world import model as world
    _, w, kw, seed, cond, _a, _b = _case("effect")
    rd = replicate_data(theta_of(w), Design(**kw), seed, cond, 4)
    tr = world.generate_treated(theta_of(w), world.treated_key(seed, cond, 4), Design(**kw).n_treated)
    assert _same_bits(rd.treated, tr.data) and _same_bits(rd.twin, tr.twin)


if __name__ == "__main__":
    print("GOLDEN = {")
    for c in CASES:
        print(f"    {c[0]!r}: {digest_rows(c[0])!r},")
    print("}")
    print("GOLDEN_OPEN = {")
    for cid, k in OPEN:
        print(f"    '{cid}/{k}': {digest_open(cid, k)!r},")
    print("}")
    sys.stdout.flush()
