"""Plasmode from a scenario file: `simkit run` on a registry (realdata/plasmode_run.py)."""

import copy
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from simkit.errors import InputError
from simkit.realdata import registry as R

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "scenarios" / "plasmode.toml"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The shipped scenario in <tmp>/scenarios/ and a synthetic registry where its
    relative path points (<tmp>/synthetic/registry), as the scenario's comment says."""
    from simkit.design.replicate import Design
    from simkit.world import model as W
    d = tmp_path_factory.mktemp("plasmode")
    (d / "scenarios").mkdir()
    shutil.copy(SHIPPED, d / "scenarios" / "plasmode.toml")
    R.export_replicate(W.build_theta(), Design(pool_size=1500), 11, 0, 0, d / "synthetic")
    return d


def _rows(store, names=None):
    from simkit.runner.store import read_fields
    from simkit.kernels.replicate import OUT_FIELDS
    attrs, vals = read_fields(store, list(names or OUT_FIELDS))
    return attrs, vals


def _same(a, b):
    np.testing.assert_array_equal(np.nan_to_num(a, nan=-999.0), np.nan_to_num(b, nan=-999.0))


def test_plasmode_run_writes_a_store_that_summarize_reads(site, tmp_path):
    from simkit import api
    from simkit.report.summary import summarize
    sc = site / "scenarios" / "plasmode.toml"
    info = api.run(sc, tmp_path / "a.zarr", reps=12, jobs=1, progress=False)
    assert info.n_chunks_computed == 2
    attrs, v = _rows(tmp_path / "a.zarr")
    assert attrs["source"] == "plasmode" and "truth" not in attrs
    assert attrs["pool_policies"] == [["condition", 1], ["condition", 1]]
    assert attrs["plasmode"]["registries"][0]["registry"] == str(site / "synthetic" / "registry")
    # the fields a registry cannot fill are NaN, the others are filled
    from simkit.realdata.plasmode_run import NAN_FIELDS
    assert set(NAN_FIELDS) == {"mean_u_treated", "mean_u_reference", "n_applicants"}
    for f in NAN_FIELDS:
        assert np.isnan(v[f]).all(), f
    for f in ("hr", "n_matched", "match_rate", "t1_age_median_treated", "pool_n_matchable", "n_slope_diff_zero",
              "mean_pre_slope_reference", "treated_coef"):
        assert np.isfinite(v[f]).all(), f
    assert (v["replicate_status"] == 0).all()
    # resumable: the same call again computes nothing
    again = api.run(sc, tmp_path / "a.zarr", reps=12, jobs=1, progress=False)
    assert again.n_chunks_computed == 0 and again.n_chunks_skipped == 2
    # `simkit summarize` unchanged: the MCSE note is the one-registry note
    ds = summarize(tmp_path / "a.zarr")
    assert "one registry" in str(ds["mcse_note"].values.ravel()[0])


def test_replicates_equal_registry_plasmode(site, tmp_path):
    """Condition c, replicate r of the run is registry.plasmode(..., condition=c, start=r): one implementation."""
    from simkit import api
    from simkit.kernels import seedanalysis as SA
    api.run(site / "scenarios" / "plasmode.toml", tmp_path / "a.zarr", reps=4, jobs=1, progress=False)
    _, v = _rows(tmp_path / "a.zarr", SA.FIELDS)
    cand = R.reference_candidates(R.read_registry(site / "synthetic" / "registry"), 0, 6)
    for c, hr in ((0, 1.0), (1, 0.5)):
        res = R.plasmode(cand, n_treated=67, hr=hr, reps=4, seed=1, condition=c, caliper=0.5)
        got = np.column_stack([v[f][c] for f in SA.FIELDS])
        _same(got, res.rows.to_numpy()[:, :SA.N_FIELDS])


def test_bit_identical_across_jobs_and_chunk_sizes(site, tmp_path):
    from simkit import api
    sc = site / "scenarios" / "plasmode.toml"
    api.run(sc, tmp_path / "one.zarr", reps=10, jobs=1, chunk_size=10, progress=False)
    api.run(sc, tmp_path / "two.zarr", reps=10, jobs=2, chunk_size=3, progress=False)
    _, a = _rows(tmp_path / "one.zarr")
    _, b = _rows(tmp_path / "two.zarr")
    for f in a:
        _same(a[f], b[f])


def test_true_hr_moves_the_median_hr(site, tmp_path):
    from simkit import api
    api.run(site / "scenarios" / "plasmode.toml", tmp_path / "a.zarr", reps=30, jobs=2, progress=False)
    _, v = _rows(tmp_path / "a.zarr", ["hr"])
    med = np.nanmedian(v["hr"], axis=1)            # conditions: treatment.hr = 1.0, 0.5
    assert med[1] < med[0] - 0.25 and 0.3 < med[1] < 0.75 and 0.7 < med[0] < 1.4


# ------------------------------------------------------------- bad scenarios

def _load(site, edit, name="plasmode.toml"):
    from simkit.runner.grid import study_from_dict
    data = tomllib.loads(SHIPPED.read_text())
    data = copy.deepcopy(data)
    edit(data)
    return study_from_dict(data, "", str(site / "scenarios" / name))


def _set(path, value):
    def edit(d):
        *head, last = path.split(".")
        t = d
        for h in head:
            t = t.setdefault(h, {})
        if value is _DEL:
            del t[last]
        else:
            t[last] = value
    return edit


_DEL = object()


@pytest.mark.parametrize("edit,where,msg", [
    (_set("plasmode.registry", _DEL), "plasmode.registry", "missing"),
    (_set("plasmode.registry", "nowhere/registry"), "plasmode.registry", "relative to the scenario file"),
    (_set("plasmode.registry", 3), "plasmode.registry", "directory path"),
    (_set("plasmode.tolerance", 3), "plasmode.tolerance", "unknown key"),
    (_set("plasmode.tolerance_days", 40), "plasmode.tolerance_days", "less than one month"),
    (_set("plasmode.followup_months", 7), "plasmode.followup_months", "months in"),
    (_set("world.rate_log_sd", 0.5), "world.rate_log_sd", "registry"),
    (_set("mechanisms.era_hr", 1.0), "mechanisms.era_hr", "cannot apply"),
    (_set("mechanisms.regression_to_mean", 0.5), "mechanisms.regression_to_mean", "plasmode.selection"),
    (_set("mechanisms.immortal_time_reference", 6), "mechanisms.immortal_time_reference",
     "plasmode.followup_months"),
    (_set("design.pool_size", 5000), "design.pool_size", "registry's candidates"),
    (_set("design.pool_policy", "replicate"), "design.pool_policy", "one registry"),
    (_set("design.n_treated", 5000), "design.n_treated", "reference candidates"),
    (_set("treatment.log_hr_sd", 0.2), "treatment.log_hr_sd", "not implemented"),
    (_set("priors", {"treatment": {"hr": {"dist": "lognormal", "args": [0, 0.1]}}}), "priors", "plasmode"),
    (_set("grid", {"mechanisms": ["off", "on"]}), "grid condition 0: mechanisms", "shorthands"),
    (_set("grid", {"mechanisms.era_hr": [1.0, 0.85]}), "grid condition 0: mechanisms.era_hr", "cannot apply"),
])
def test_bad_plasmode_scenarios_name_the_field(site, edit, where, msg):
    with pytest.raises(InputError, match=msg) as e:
        _load(site, edit)
    assert e.value.where.startswith(where), e.value.where


def test_relative_registry_resolves_against_the_scenario_folder(site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # not the scenario's folder
    st = _load(site, lambda d: None)
    assert st.conditions[0].source_spec.registry == str(site / "synthetic" / "registry")
    assert len(st.source.tables) == 1 and st.source.info[0]["candidates"] > 500
    # a grid may vary the plasmode keys; conditions then have their own candidates
    st = _load(site, _set("grid", {"plasmode.followup_months": [6, 0]}))
    assert [c.source_spec.followup_months for c in st.conditions] == [6.0, 0.0]
    assert st.source.table_index == (0, 1)


def test_bad_registry_tables_name_the_field_and_the_row(site, tmp_path):
    bad = tmp_path / "reg"
    shutil.copytree(site / "synthetic" / "registry", bad)
    lines = (bad / "visits.csv").read_text().splitlines()
    parts = lines[3].split(",")
    parts[1] = "oops"                      # visits.csv: patient_id, day, ...
    lines[3] = ",".join(parts)
    (bad / "visits.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="row 4, column 'day'") as e:
        _load(site, _set("plasmode.registry", str(bad)))
    assert e.value.where.startswith("plasmode.registry: ")
    (bad / "patients.csv").unlink()
    (bad / "visits.csv").unlink()
    with pytest.raises(InputError, match="neither patients.csv") as e:
        _load(site, _set("plasmode.registry", str(bad)))
    assert e.value.where.startswith("plasmode.registry")


def test_registry_contents_enter_the_scenario_hash(site, tmp_path):
    reg = tmp_path / "reg"
    shutil.copytree(site / "synthetic" / "registry", reg)
    a = _load(site, _set("plasmode.registry", str(reg))).scenario_hash()
    p = reg / "patients.csv"
    p.write_text(p.read_text().replace(",M,", ",F,", 1))
    b = _load(site, _set("plasmode.registry", str(reg))).scenario_hash()
    assert a != b


def test_simulate_refuses_a_plasmode_scenario(site, capsys):
    from simkit.cli import main
    assert main(["simulate", str(site / "scenarios" / "plasmode.toml"), "--out", "x.csv"]) == 2
    assert "nothing to simulate" in capsys.readouterr().err


def test_a_remedy_in_the_design_is_applied_not_ignored(site, tmp_path):
    """design.caliper_total = 0 in a plasmode scenario narrows the match: a remedy is
    passed to the registry match, not silently dropped."""
    from simkit import api
    text = (site / "scenarios" / "plasmode.toml").read_text()
    sc = site / "scenarios" / "plasmode-remedy.toml"
    assert "\n[design]\n" in text
    sc.write_text(text.replace("\n[design]\n", "\n[design]\ncaliper_total = 0.0\n", 1))
    api.run(site / "scenarios" / "plasmode.toml", tmp_path / "a.zarr", reps=6, jobs=1, progress=False)
    api.run(sc, tmp_path / "b.zarr", reps=6, jobs=1, progress=False)
    _, a = _rows(tmp_path / "a.zarr", ["n_matched"])
    _, b = _rows(tmp_path / "b.zarr", ["n_matched"])
    assert np.all(b["n_matched"] <= a["n_matched"]) and np.sum(b["n_matched"]) < np.sum(a["n_matched"])
