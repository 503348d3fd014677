"""Which estimand a store's summary judges the design against (issue 14): by default the marginal
HR under the design's own follow-up, by choice the uncensored marginal or the conditional HR; the
choice named in the Dataset, the JSON and the text; stores written before the follow-up truth
still summarise, with a note."""
import json
import re
import shutil

import numpy as np
import pytest

from simkit.cli import main
from simkit.errors import InputError
from simkit.report.summary import flat, measure, summarize, to_json
from simkit.runner.store import read_fields

SCENARIO = ('seed = 11\nreplicates = 16\n[treatment]\nhr = 0.5\n[design]\npool_size = 1500\nn_treated = 30\n'
            'pool_policy = "replicate"\n[run]\nchunk_size = 8\n[grid]\n"design.caliper" = [0.5, 1.0]\n')


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("estimand")
    f = d / "s.toml"
    f.write_text(SCENARIO)
    out = d / "s.zarr"
    assert main(["run", str(f), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    return out


def _edit_truth(src, dst, edit):
    """A copy of the store whose attrs["truth"] is edit(truth) (None: deleted), as an older
    simkit would have written it."""
    shutil.copytree(src, dst)
    meta = dst / "zarr.json"
    doc = json.loads(meta.read_text())
    new = edit(doc["attributes"]["truth"])
    if new is None:
        del doc["attributes"]["truth"]
    else:
        doc["attributes"]["truth"] = new
    meta.write_text(json.dumps(doc))
    return dst


def _by_hand(store):
    attrs, d = read_fields(store, ["log_hr", "hr_ci_low", "hr_ci_high"])
    return attrs, d


def test_default_is_the_followup_marginal_and_every_family_is_there(store):
    ds = summarize(store)
    assert ds.attrs["estimand"] == "followup_marginal" and ds.attrs["estimand_note"] == ""
    assert ds.attrs["estimand_truth"] == "truth_marginal_log_hr_followup"
    assert "follow-up" in ds.attrs["estimand_description"]
    attrs, d = _by_hand(store)
    for c in range(2):
        t = attrs["truth"][c]
        x = d["log_hr"][c]
        ok = np.isfinite(x)
        lo, hi = np.log(d["hr_ci_low"][c][ok]), np.log(d["hr_ci_high"][c][ok])
        for name, truth in (("bias", t["marginal_log_hr_followup"]),
                            ("followup_marginal_bias", t["marginal_log_hr_followup"]),
                            ("marginal_bias", t["marginal_log_hr"]), ("conditional_bias", np.log(0.5))):
            assert measure(ds, name, c=c).estimate == pytest.approx(np.mean(x[ok]) - truth, abs=1e-12), name
        for name, truth in (("coverage", t["marginal_log_hr_followup"]), ("conditional_coverage", np.log(0.5))):
            assert measure(ds, name, c=c).estimate == pytest.approx(np.mean((lo <= truth) & (truth <= hi))), name
    # the three truths differ (non-collapsibility; non-proportional hazards under censoring)
    fu, mg = flat(ds, "truth_marginal_log_hr_followup"), flat(ds, "truth_marginal_log_hr")
    assert np.all(fu < mg) and np.all(mg > np.log(0.5))
    assert ds["truth_rmst_difference_3y"].attrs["units"] == "days"
    # the headline family is a copy of the chosen estimand's
    np.testing.assert_array_equal(ds["estimate"].sel(measure="mse").values,
                                  ds["estimate"].sel(measure="followup_marginal_mse").values)


@pytest.mark.parametrize("which", ["conditional", "marginal"])
def test_a_chosen_estimand_moves_the_headline_only(store, which):
    ds = summarize(store, estimand=which)
    base = summarize(store)
    assert ds.attrs["estimand"] == which
    for k in ("bias", "coverage", "mse", "relative_bias"):
        np.testing.assert_array_equal(ds["estimate"].sel(measure=k).values,
                                      ds["estimate"].sel(measure=f"{which}_{k}").values)
    fam = [m for m in base["measure"].values if m.startswith(("conditional_", "marginal_", "followup_marginal_"))]
    np.testing.assert_array_equal(ds["estimate"].sel(measure=fam).values, base["estimate"].sel(measure=fam).values)
    np.testing.assert_array_equal(ds["estimate"].sel(measure="rejection").values,
                                  base["estimate"].sel(measure="rejection").values)
    js = to_json(ds)
    assert js["estimand"] == which and all(c["estimand"] == which for c in js["conditions"])
    fam_js = {k: v for k, v in js["conditions"][0][f"vs_{which}"].items() if k != "rejection"}
    assert js["conditions"][0]["vs_estimand"] == fam_js


def test_cli_names_the_estimand_in_text_and_json(store, capsys):
    assert main(["summarize", str(store)]) == 0
    out = capsys.readouterr().out
    assert "against the estimand followup_marginal" in out and "(under the design's follow-up)" in out
    assert "vs marginal under follow-up truth (followup_marginal): bias of log HR" in out
    assert "RMST to 3 years" in out and "days" in out
    assert main(["summarize", str(store), "--estimand", "conditional", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["estimand"] == "conditional"
    assert js["conditions"][1]["vs_estimand"]["bias"] == js["conditions"][1]["vs_conditional"]["bias"]


def test_a_store_from_before_the_followup_truth_falls_back_with_a_note(store, tmp_path, capsys):
    old = _edit_truth(store, tmp_path / "old.zarr",
                      lambda ts: [{k: v for k, v in t.items() if k in ("conditional_hr", "marginal_hr",
                                   "marginal_log_hr", "marginal_log_hr_mcse", "slope_difference",
                                   "slope_difference_mcse", "median_days_treated", "median_days_untreated",
                                   "n", "converged")} for t in ts])
    ds = summarize(old)
    assert ds.attrs["estimand"] == "marginal" and "before the follow-up estimand" in ds.attrs["estimand_note"]
    assert "followup_marginal_bias" not in ds["measure"].values
    np.testing.assert_array_equal(ds["estimate"].sel(measure="bias").values,
                                  ds["estimate"].sel(measure="marginal_bias").values)
    assert main(["summarize", str(old)]) == 0
    out = capsys.readouterr().out
    assert "note: no marginal truth under the design's follow-up" in out and "against the estimand marginal" in out
    with pytest.raises(InputError, match="before the follow-up estimand"):
        summarize(old, estimand="followup_marginal")
    none = _edit_truth(store, tmp_path / "none.zarr", lambda ts: None)
    ds = summarize(none)
    assert ds.attrs["estimand"] == "conditional" and ds.attrs["estimand_note"]
    assert "marginal_bias" not in ds["measure"].values


@pytest.mark.parametrize("argv, pattern", [
    (["--estimand", "bogus"], r"--estimand: expected one of followup_marginal, marginal, conditional, got 'bogus'"),
    (["--estimand", "followup_marginal"], r"--estimand: followup_marginal: this store has no such truth"),
])
def test_bad_estimand_is_one_line(store, tmp_path, capsys, argv, pattern):
    target = _edit_truth(store, tmp_path / "none.zarr", lambda ts: None)
    rc = main(["summarize", str(target)] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]), err


def test_estimand_on_a_csv_table_is_refused(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("est,se\n0.1,0.2\n0.2,0.2\n")
    rc = main(["summarize", str(f), "--estimate", "est", "--true", "0", "--estimand", "marginal"])
    err = capsys.readouterr().err
    assert rc == 2 and "--estimand: only for a store" in err and len(err.strip().splitlines()) == 1


def test_plots_judge_against_the_chosen_truth(store, tmp_path, capsys):
    for argv in (["--kind", "zip"], ["--kind", "zip", "--truth", "conditional"],
                 ["--kind", "nested-loop", "--measure", "bias_followup"],
                 ["--kind", "nested-loop", "--measure", "bias_conditional"]):
        assert main(["plot", str(store), "--out", str(tmp_path / "p.png")] + argv) == 0, argv
    none = _edit_truth(store, tmp_path / "none.zarr", lambda ts: None)
    rc = main(["plot", str(none), "--kind", "zip", "--truth", "followup_marginal", "--out", str(tmp_path / "q.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "--truth: this store has no followup_marginal truth" in err
