"""Degenerate worlds run to completion, every replicate with its status codes (issue 15).

Nobody matches, nobody dies, the treated all die at once (monotone Cox
likelihood), an unblinded shift that separates the logistic model, and a world
so implausible that the kernels' rejection loops hit their caps.  The run
must finish; each replicate carries its codes; a NaN estimate always comes
with a status other than ok.  (How summaries count the statuses is the
summary module's business.)
"""
import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

from simkit.world import model as W
from simkit.design.replicate import Design, OUT_FIELDS, run_replicates
from simkit.runner.grid import build_job, study_from_dict
from simkit.kernels import history as H
from simkit.kernels import status as S
from simkit.runner.montecarlo import run
from simkit.runner.store import open_results

ROOT = Path(__file__).resolve().parents[1]
SEED = tomllib.loads((ROOT / "scenarios" / "seed-design.toml").read_text())
STATUS_FIELDS = ["replicate_status", "cox_status", "tests_status", "early_status",
                 "signed_rank_status", "ols_status"]
# estimate -> the status that must not be ok when it is NaN
PAIRED = {"hr": "cox_status", "logrank_p": "tests_status", "early_coef": "early_status",
          "signed_rank_p": "signed_rank_status", "treated_coef": "ols_status"}


def _run(tmp_path, over, reps=20):
    d = copy.deepcopy(SEED)
    for s, kv in over.items():
        d[s].update(kv)
    d["design"]["pool_size"] = 2000
    job = build_job(study_from_dict(d, ""), replicates=reps, chunk_size=10)
    info = run(job, tmp_path / "s.zarr", jobs=1, progress=False)
    assert info.n_chunks_computed == -(-reps // 10)
    ds = open_results(tmp_path / "s.zarr")
    counts = {f: {S.name(k): int((ds[f].values == k).sum()) for k in np.unique(ds[f].values)}
              for f in STATUS_FIELDS}
    for est, stat in PAIRED.items():
        nan = np.isnan(ds[est].values)
        assert (ds[stat].values[nan] != S.OK).all(), f"{est} NaN with {stat} ok"
    return ds, counts


def test_nobody_matches(tmp_path):
    ds, c = _run(tmp_path, {"world": {"reg_p_male": 0.0, "clin_p_male": 1.0}})
    assert c["replicate_status"] == {"nothing_matched": 20}
    assert (ds.n_matched.values == 0).all() and np.isnan(ds.hr.values).all()
    assert c["cox_status"] == {"missing": 20}


def test_nobody_dies(tmp_path):
    ds, c = _run(tmp_path, {"world": {"weibull_scale": 1e6}})
    assert c["replicate_status"] == {"ok": 20}
    assert c["cox_status"] == {"no_events": 20} and c["tests_status"] == {"no_events": 20}
    assert np.isnan(ds.hr.values).all()
    assert (ds.n_matched.values > 0).all()
    # nobody dies within the follow-up: the follow-up HR does not exist (null in the store's
    # JSON attrs, never NaN), and summarize falls back to the uncensored marginal with a note
    from simkit.report.summary import summarize
    from simkit.runner.store import read_status
    truth = read_status(tmp_path / "s.zarr")["attrs"]["truth"][0]
    assert truth["marginal_log_hr_followup"] is None and truth["marginal_log_hr"] is not None
    s = summarize(tmp_path / "s.zarr")
    assert s.attrs["estimand"] == "marginal" and "nobody dies" in s.attrs["estimand_note"]


def test_treated_all_die_at_once(tmp_path):
    ds, c = _run(tmp_path, {"treatment": {"hr": 1e4}, "mechanisms": {"immortal_time_treated": 0.0}})
    assert c["cox_status"] == {"separation": 20}
    assert c["replicate_status"] == {"ok": 20}


def test_logistic_separation(tmp_path):
    ds, c = _run(tmp_path, {"mechanisms": {"unblinded_shift": 30.0}})
    assert c["early_status"].get("separation", 0) + c["early_status"].get("empty_group", 0) > 0
    assert c["cox_status"] == {"ok": 20}


def test_pool_rows_past_the_cap_are_empty_not_stale():
    theta = W.build_theta({"rate_log_mean": 7.5})     # nobody meets the inclusion criteria
    out = np.full((3, H.N_PB), 7.0)                   # garbage that used to be matched against
    keys = np.full(3, 99, np.uint64)
    filled, drawn = H.pool_baseline(theta, np.uint64(1), out, keys)
    assert (filled, drawn) == (0, 1000 * 3 + 1000)
    assert (out[:, H.PB_ELIGIBLE] == 0).all()
    others = [c for c in range(H.N_PB) if c != H.PB_ELIGIBLE]
    assert np.isnan(out[:, others]).all() and (keys == 0).all()


def test_a_world_past_the_probe_still_finishes_with_a_status():
    theta = W.build_theta({"rate_log_mean": 7.5})
    rows = run_replicates(theta, Design(n_treated=2, pool_size=3), seed=1, condition=0, start=0, stop=3)
    f = {n: rows[:, i] for i, n in enumerate(OUT_FIELDS)}
    assert (f["replicate_status"] == S.NOTHING_MATCHED).all()
    assert (f["n_matched"] == 0).all() and (f["n_treated"] < 2).all()
    assert (f["n_applicants"] == 10000 * 2 + 10000).all()   # the applicants' cap, reached
