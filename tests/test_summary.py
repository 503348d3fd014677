"""The store summary as an xarray.Dataset (simkit.report.summary): the same numbers as the dict
summary it replaced, its layout, and the share of every status code."""
import json

import numpy as np
import pytest

from simkit.cli import main
from simkit.kernels.status import NAMES
from simkit.report.summary import flat, measure, summarize, to_json

from _old_summary import summarize_store as old_summarize_store

SCENARIO = ('seed = 7\nreplicates = 12\n[design]\npool_size = 1500\nn_treated = 20\n'
            'pool_policy = "block"\npool_block_size = 3\n[run]\nchunk_size = 5\n')


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("summary")
    out = {}
    for name, extra in (("grid", '[grid]\n"treatment.hr" = [1.0, 0.5]\n"design.caliper" = [0.25, 1.0]\n'),
                        ("rows", '[[conditions]]\nlabel = "off"\nmechanisms = "off"\n'
                                 '[[conditions]]\nlabel = "wide"\n"design.caliper" = 2.0\n')):
        f = d / f"{name}.toml"
        f.write_text(SCENARIO + extra)
        out[name] = d / f"{name}.zarr"
        assert main(["run", str(f), "--out", str(out[name]), "--jobs", "1", "--quiet"]) == 0
    return out


@pytest.mark.parametrize("which", ["grid", "rows"])
def test_every_value_of_the_old_dict_summary_is_in_the_dataset(stores, which):
    old = old_summarize_store(stores[which])
    new = to_json(summarize(stores[which]))
    shares = [c.pop("status_shares") for c in new["conditions"]]
    # issue 14: the headline measures and the estimand they judge against are new keys; the rest
    # (vs_conditional, vs_marginal, ...) is as before
    assert [new.pop(k) for k in ("estimand", "estimand_description", "estimand_note")][::2] == \
        ["followup_marginal", ""]
    for c in new["conditions"]:
        assert c.pop("estimand") == "followup_marginal"
        assert c.pop("vs_estimand") == c.pop("vs_followup_marginal")
    for c in new["conditions"]:   # added since (issue 14, tests/test_pair_cox.py)
        fams = {"vs_conditional", "vs_marginal", "vs_followup_marginal"}
        assert set(c.pop("pair_robust")) == set(c.pop("pair_stratified")) == fams
    assert new == old
    # ... and as JSON text (key order included), so `summarize --json` users see no change
    assert json.dumps(new) == json.dumps(old)
    # the MCSEs are cluster-robust (4 registries of 3 replicates) and finite
    assert old["conditions"][0]["vs_conditional"]["bias"]["mcse"] is not None
    assert set(shares[0]) >= {"replicate_status", "cox_status", "tests_status", "early_status",
                              "signed_rank_status", "ols_status"}


def test_layout_and_lookups(stores):
    ds = summarize(stores["grid"])
    assert ds["estimate"].dims == ("treatment_hr", "caliper", "measure")
    assert ds["treatment_hr"].attrs["key"] == "treatment.hr" and ds["caliper"].attrs["key"] == "caliper"
    assert all(d.isidentifier() for d in ds.dims)
    np.testing.assert_array_equal(ds["condition"].values, [[0, 1], [2, 3]])
    assert ds["conditional_log_hr"].sel(treatment_hr=0.5, caliper=1.0).item() == pytest.approx(np.log(0.5))
    assert "truth_marginal_log_hr" in ds.coords and ds.attrs["n_replicates"] == 12
    old = old_summarize_store(stores["grid"])["conditions"][3]
    one = ds.sel(treatment_hr=0.5, caliper=1.0)
    assert measure(one, "conditional_bias").to_dict() == old["vs_conditional"]["bias"]
    # the headline bias is against the marginal HR under the design's follow-up (issue 14)
    fu = one["truth_marginal_log_hr_followup"].item()
    assert measure(one, "bias").estimate == pytest.approx(
        measure(one, "conditional_bias").estimate + np.log(0.5) - fu, abs=1e-12)
    assert measure(ds, "hr_q0.5", c=3).to_dict() == old["hr_quantiles"]["q0.5"]
    # n_valid: replicates with a finite log HR, what the bias rests on
    np.testing.assert_array_equal(ds["n_valid"].values, ds["n"].sel(measure="bias").values)
    rows = summarize(stores["rows"])
    assert rows["estimate"].dims == ("condition", "measure")
    assert list(rows["label"].values) == ["off", "wide"]


def test_status_shares_sum_to_one_and_match_the_codes(stores):
    from simkit.runner.store import open_results
    ds = summarize(stores["grid"])
    raw = open_results(stores["grid"], variables=["cox_status"])
    for f in ("cox_status", "replicate_status", "ols_status"):
        names = [f"{f}={r}" for r in NAMES.values()]
        tot = ds["estimate"].sel(measure=names).sum("measure")
        np.testing.assert_allclose(tot.values, 1.0)
    codes = flat(raw, "cox_status")
    for code, reason in NAMES.items():
        want = (codes == code).mean(axis=1)
        np.testing.assert_array_equal(flat(ds.sel(measure=f"cox_status={reason}"), "estimate"), want)


def test_summarize_cli_json_has_status_shares(stores, capsys):
    assert main(["summarize", str(stores["rows"]), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["conditions"][1]["coords"]["label"] == "wide"
    assert s["conditions"][0]["status_shares"]["cox_status"]["ok"]["n"] == 12


def test_p_extreme_definitions_are_in_the_dataset_and_the_text(stores, capsys):
    # issue 14.3: the OLS measure also requires the paper's direction (a negative
    # coefficient), the signed-rank one none; the output itself must say so
    ds = summarize(stores["grid"])
    d = ds["definition"]
    assert d.dims == ("measure",) and "long_name" in d.attrs
    ols = d.sel(measure="p_extreme_ols_p").item()
    assert "0.0003" in ols and "< 0" in ols and "direction" in ols
    assert "either direction" in d.sel(measure="p_extreme_signed_rank_p").item()
    assert all(d.sel(measure=f"p_extreme_{k}").item() for k in
               ("hr_and_p", "hr", "n_decreased_ge_21", "median_ratio_ge_paper"))
    assert d.sel(measure="bias").item() == ""
    # (the JSON summary is unchanged: test_every_value_of_the_old_dict_summary_is_in_the_dataset)
    assert main(["summarize", str(stores["grid"])]) == 0
    out = capsys.readouterr().out
    assert "OLS p<=0.0003 with a negative treated coefficient" in out
    assert "signed-rank p<=0.008 either direction" in out
