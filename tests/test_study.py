"""Scenario grids, `simkit run` and `simkit summarize` on the real pipeline (tiny sizes)."""
import json

import numpy as np
import pytest

from simkit.cli import main
from simkit.errors import InputError
from simkit.runner.grid import build_job, study_from_dict
from simkit.runner.store import open_results

TINY = {"seed": 7, "replicates": 12, "design": {"pool_size": 1500, "n_treated": 20},
        "run": {"chunk_size": 5}}


def _toml(tmp_path, extra=""):
    f = tmp_path / "s.toml"
    f.write_text('seed = 7\nreplicates = 12\n[design]\npool_size = 1500\nn_treated = 20\n'
                 '[run]\nchunk_size = 5\n' + extra)
    return f


def test_product_grid_and_rows():
    s = study_from_dict({**TINY, "grid": {"treatment": {"hr": [1.0, 0.5]}, "design.caliper": [0.25, 0.5, 1.0]}})
    assert len(s.conditions) == 6 and s.grid_dims == ("treatment.hr", "caliper")
    assert s.conditions[1].coords == {"treatment.hr": 1.0, "caliper": 0.5}
    assert s.design(5).caliper == 1.0 and s.conditions[5].scenario.treatment["hr"] == 0.5
    r = study_from_dict({**TINY, "conditions": [{"label": "a"}, {"label": "b", "design.caliper": 2.0}]})
    assert [c.coords["label"] for c in r.conditions] == ["a", "b"]
    assert r.design(0).caliper == 0.5 and r.design(1).caliper == 2.0 and r.grid_dims is None


@pytest.mark.parametrize("extra, where", [
    ({"grid": {"design.caliper": [0.5, -1.0]}}, "design.caliper"),
    ({"grid": {"design.nonsense": [1]}}, "design.nonsense"),
    ({"grid": {"caliper": [1]}}, "section.name"),
    ({"grid": {"design.caliper": 0.5}}, "grid.design.caliper"),
    ({"analysis": {"alpha": 2}}, "analysis.alpha"),
    ({"analysis": {"fisher": True}}, "analysis.fisher"),
    ({"run": {"chunk_size": 0}}, "run.chunk_size"),
    ({"grid": {"design.caliper": [1.0]}, "conditions": [{}]}, "grid"),
])
def test_bad_grid_names_the_field(extra, where):
    with pytest.raises(InputError) as e:
        study_from_dict({**TINY, **extra})
    assert where in str(e.value)


def test_run_jobs_1_and_2_identical_and_summary(tmp_path, capsys):
    f = _toml(tmp_path, '[grid]\n"treatment.hr" = [1.0, 0.5]\n')
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    assert main(["run", str(f), "--out", str(a), "--jobs", "1", "--quiet"]) == 0
    assert main(["run", str(f), "--out", str(b), "--jobs", "2", "--quiet", "--chunk-size", "4"]) == 0
    da, db = open_results(a), open_results(b)
    assert da.sizes["treatment.hr"] == 2 and da.sizes["replicate"] == 12
    for v in ("hr", "n_decreased", "replicate_status", "match_rate"):
        np.testing.assert_array_equal(da[v].values, db[v].values)
    capsys.readouterr()
    # re-running resumes: nothing to compute
    assert main(["run", str(f), "--out", str(a), "--jobs", "1", "--quiet"]) == 0
    assert "0 chunk(s) computed" in capsys.readouterr().out
    assert main(["summarize", str(a), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert len(s["conditions"]) == 2
    c1 = s["conditions"][1]
    assert c1["coords"] == {"treatment.hr": 0.5}
    assert c1["truth"]["conditional_log_hr"] == pytest.approx(np.log(0.5))
    for k in ("bias", "empirical_se", "model_se", "mse", "coverage", "rejection"):
        m = c1["vs_conditional"][k]
        assert m["n"] > 0 and m["mcse"] is not None
    assert main(["summarize", str(a)]) == 0
    assert "P(as extreme as the paper)" in capsys.readouterr().out


def test_run_refuses_a_store_of_another_scenario(tmp_path, capsys):
    f = _toml(tmp_path)
    g = tmp_path / "g.toml"
    g.write_text(f.read_text().replace("seed = 7", "seed = 8"))
    out = tmp_path / "x.zarr"
    assert main(["run", str(f), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert main(["run", str(g), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


def test_run_bad_flags(tmp_path, capsys):
    f = _toml(tmp_path)
    assert main(["run", str(f), "--reps", "0"]) == 2
    assert "--reps" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "none.toml")]) == 2


def test_simulate_matched_then_analyze_reproduces_the_run(tmp_path, capsys):
    from simkit.runner.grid import load_study
    f = _toml(tmp_path, '[grid]\n"treatment.hr" = [1.0, 0.5]\n')
    store = tmp_path / "r.zarr"
    assert main(["run", str(f), "--out", str(store), "--jobs", "1", "--quiet"]) == 0
    ds = open_results(store)
    csv = tmp_path / "m.csv"
    assert main(["simulate", str(f), "--condition", "1", "--replicate", "7", "--matched", "--out", str(csv)]) == 0
    assert "matched pairs" in capsys.readouterr().out
    assert main(["analyze", str(csv), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    cell = ds.isel({"treatment.hr": 1, "replicate": 7})
    for k in ("hr", "hr_p", "logrank_p", "peto_p", "n_decreased", "n_no_change", "early_coef", "treated_coef",
              "signed_rank_p", "median_days_treated"):
        v = float(cell[k].values)
        assert (got[k] is None and np.isnan(v)) or got[k] == v, k
    assert got["n_pairs"] == int(cell["n_matched"].values)
    assert main(["simulate", str(f), "--condition", "5", "--matched", "--out", str(csv)]) == 2


def test_plots_of_a_store_and_dask_backend(tmp_path, capsys):
    pytest.importorskip("distributed")
    f = _toml(tmp_path, '[grid]\n"treatment.hr" = [1.0, 0.5]\n"design.caliper" = [0.5, 1.0]\n')
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    assert main(["run", str(f), "--out", str(a), "--jobs", "1", "--quiet"]) == 0
    assert main(["run", str(f), "--out", str(b), "--backend", "dask", "--jobs", "1", "--quiet"]) == 0
    da, db = open_results(a), open_results(b)
    for v in ("hr", "log_hr_se", "n_increased", "cox_status"):
        np.testing.assert_array_equal(da[v].values, db[v].values)
    for kind in ("zip", "hist", "nested-loop"):
        out = tmp_path / f"{kind}.png"
        assert main(["plot", str(a), "--kind", kind, "--out", str(out)]) == 0
        assert out.stat().st_size > 10_000
    capsys.readouterr()
    assert main(["plot", str(a), "--kind", "nested-loop", "--measure", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "--measure" in capsys.readouterr().err
    assert main(["plot", str(a), "--kind", "zip", "--condition", "9", "--out", str(tmp_path / "x.png")]) == 2
    assert "--condition" in capsys.readouterr().err


def test_scenarios_readme_lists_every_key():
    from pathlib import Path
    from simkit.runner.scenario import fields_markdown
    readme = (Path(__file__).parents[1] / "scenarios" / "README.md").read_text()
    block = readme.split("<!-- fields:start -->")[1].split("<!-- fields:end -->")[0]
    assert block.strip() == fields_markdown().strip()


@pytest.mark.parametrize("name", ["seed-design", "null-world", "power", "caliper", "claim-11-per-group",
                                  "seed-priors", "remedies"])
def test_shipped_scenarios_load(name):
    from pathlib import Path
    from simkit.runner.grid import load_study
    s = load_study(Path(__file__).parents[1] / "scenarios" / f"{name}.toml")
    assert len(s.conditions) >= 1 and s.replicates >= 1
