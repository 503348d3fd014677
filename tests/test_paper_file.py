"""Paper files (docs/paper-file.md): the shipped seed paper, the round trip and the errors."""
import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

from simkit.errors import InputError
from simkit.paper.file import (dumps_paper, load_paper, number_from_value, paper_from_dict, printed_interval,
                               shipped)

ROOT = Path(__file__).resolve().parents[1]


def _seed_dict():
    return tomllib.loads(shipped().read_text())


def test_shipped_paper_is_the_top_level_one_and_loads():
    assert shipped().resolve() == (ROOT / "papers" / "barczewska2020.toml").resolve()
    p = load_paper(shipped())
    assert p.design.n_treated == 67 and p.design.get("caliper") == 0.5
    assert p.design.get("caliper_unit") == "ALSFRS-R points/month"
    assert len(p.evidence()) == 36
    hr = p.numbers["hr"]
    assert (hr.low, hr.high, hr.value) == pytest.approx((0.295, 0.305, 0.30))
    assert p.numbers["alive_end_reference"].high == 0.05


def test_every_shipped_number_is_one_the_paper_prints():
    """Each number of the shipped file is in seed_paper.json (no invented numbers)."""
    from simkit.paper.seed import reported
    r = reported()
    s, pr, e, mq, t1, pc = (r["survival"], r["progression"], r["early_response"], r["matching_quality"],
                            r["table1"], r["power_claim"])
    expect = {
        "hr": s["hr"], "hr_ci_low": s["hr_ci_low"], "hr_ci_high": s["hr_ci_high"], "hr_p": s["hr_p"],
        "median_days_treated": s["median_days_treated"], "median_days_reference": s["median_days_reference"],
        "median_p": s["median_p"], "alive_end_treated": pc["p_treated"], "alive_end_reference": pc["p_reference"],
        "n_decreased": pr["n_decreased"], "n_no_change": pr["n_no_change"], "n_increased": pr["n_increased"],
        "signed_rank_p": pr["signed_rank_p"], "ols_treated_coef": pr["ols_treated_coef"],
        "ols_treated_se": pr["ols_treated_se"], "ols_treated_p": pr["ols_treated_p"],
        "early_coef": e["coef"], "early_ci_low": e["ci_low"], "early_ci_high": e["ci_high"], "early_p": e["p"],
        "pairs_slope_diff_zero": mq["slope_diff_zero"], "pairs_slope_within_0_3": mq["slope_diff_within_0_3"],
        "pairs_age_within_5": mq["age_within_5y"], "pairs_age_within_10": mq["age_within_10y"],
        "t1_men_treated": t1["men"][0], "t1_riluzole_treated": t1["riluzole_yes"][0],
        "t1_bulbar_treated": t1["onset_bulbar"][0], "t1_ft9_1_2_treated": t1["ft9_1_2"][0],
        "t1_fast_treated": t1["fast"][0], "t1_age_median_treated": t1["age_median"][0],
        "t1_age_q25_treated": t1["age_iqr"][0][0], "t1_age_q75_treated": t1["age_iqr"][0][1],
        "t1_age_median_reference": t1["age_median"][1], "t1_age_q25_reference": t1["age_iqr"][1][0],
        "t1_age_q75_reference": t1["age_iqr"][1][1], "t1_pre_slope_median_treated": t1["pre_slope_median"][0],
        "t1_pre_slope_iqr_low_treated": t1["pre_slope_iqr"][0][0],
        "t1_pre_slope_iqr_high_treated": t1["pre_slope_iqr"][0][1],
        "t1_pre_slope_median_reference": t1["pre_slope_median"][1],
    }
    p = load_paper(shipped())
    assert set(p.numbers) == set(expect)
    for name, v in expect.items():
        assert p.numbers[name].value == pytest.approx(v), name
    d = r["design"]
    assert p.design.get("exact") == d["exact_match"]
    assert p.design.get("injection_months") == d["injection_months"]
    assert p.design.get("enrolment_years") == d["enrolment_years"]
    assert p.design.get("followup_end") == d["last_survival_update"]


def test_round_trip_is_exact(tmp_path):
    p = load_paper(shipped())
    f = tmp_path / "p.toml"
    f.write_text(dumps_paper(p, header="written by a test"))
    q = load_paper(f)
    assert q == p
    assert dumps_paper(q) == dumps_paper(p)


def test_printed_precision():
    assert printed_interval("0.30", "x") == pytest.approx((0.30, 0.295, 0.305))
    assert printed_interval("67", "x") == pytest.approx((67, 66.5, 67.5))
    assert printed_interval("-0.54", "x") == pytest.approx((-0.54, -0.545, -0.535))
    assert printed_interval("0.0004", "x") == pytest.approx((0.0004, 0.00035, 0.00045))


def test_number_from_value_prints_at_the_templates_precision():
    p = load_paper(shipped())
    n = number_from_value(p.numbers["hr"], 0.41234, "table")
    assert n.printed == "0.41" and (n.low, n.high) == pytest.approx((0.405, 0.415))
    n = number_from_value(p.numbers["t1_men_treated"], 30 / 67, "table")
    assert n.printed == "30"
    n = number_from_value(p.numbers["alive_end_reference"], 0.0312, "table")
    assert n.printed == "0.03" and n.value == pytest.approx(0.03)
    assert number_from_value(p.numbers["median_days_treated"], float("nan"), "table") is None


def test_a_median_not_reached_is_written_as_at_least_the_last_follow_up(tmp_path):
    from simkit.paper.file import paper_with_numbers
    tpl = load_paper(shipped())
    vals = {n.field: n.value / n.scale for n in tpl.numbers.values()}
    vals["median_days_treated"] = float("nan")
    p, missing = paper_with_numbers(tpl, vals, "c", "w", 67,
                                    lower_bounds={"median_days_treated": (1500.4, "not reached")})
    n = p.numbers["median_days_treated"]
    assert missing == [] and n.printed is None and (n.low, n.high) == (1500.0, float("inf"))
    f = tmp_path / "p.toml"
    f.write_text(dumps_paper(p))
    assert load_paper(f) == p


@pytest.mark.parametrize("edit, where, words", [
    (lambda d: d.pop("format"), "format", "simkit-paper/1"),
    (lambda d: d.update(extra=1), "extra", "unknown key or section"),
    (lambda d: d["paper"].pop("citation"), "paper.citation", "missing"),
    (lambda d: d["design"].pop("n_treated"), "design.n_treated", "missing"),
    (lambda d: d["design"].update(n_treated=0), "design.n_treated", "whole number"),
    (lambda d: d["design"].pop("caliper_unit"), "design.caliper_unit", "unit"),
    (lambda d: d["design"].update(exact="sex"), "design.exact", "list of text"),
    (lambda d: d["design"].update(colour=1), "design.colour", "unknown key"),
    (lambda d: d["numbers"]["hr"].update(field="hazard_ratio"), "numbers.hr.field", "output field"),
    (lambda d: d["numbers"]["hr"].pop("where"), "numbers.hr.where", "missing"),
    (lambda d: d["numbers"]["hr"].update(evidence="yes"), "numbers.hr.evidence", "true or false"),
    (lambda d: d["numbers"]["hr"].update(printed="30%"), "numbers.hr.printed", "as printed"),
    (lambda d: d["numbers"]["hr"].update(printed=0.3), "numbers.hr.printed", "as printed"),
    (lambda d: d["numbers"]["hr"].update(value=0.3), "numbers.hr.printed", "not both"),
    (lambda d: d["numbers"]["hr"].update(transform="sqrt"), "numbers.hr.transform", "identity, log"),
    (lambda d: d["numbers"]["hr"].update(scale=0), "numbers.hr.scale", "non-zero"),
    (lambda d: d["numbers"]["hr"].update(colour="red"), "numbers.hr.colour", "unknown key"),
    (lambda d: d["numbers"]["alive_end_reference"].update(interval=[0.1, 0.2]),
     "numbers.alive_end_reference.interval", "low <= value <= high"),
    (lambda d: d["numbers"]["alive_end_reference"].pop("interval"),
     "numbers.alive_end_reference.interval", "missing"),
    (lambda d: d["numbers"]["alive_end_reference"].update(transform="log"),
     "numbers.alive_end_reference.transform", "positive"),
    (lambda d: [n.update(evidence=False) for n in d["numbers"].values()], "numbers", "no number has evidence"),
])
def test_clear_errors_name_the_key(edit, where, words):
    d = copy.deepcopy(_seed_dict())
    edit(d)
    with pytest.raises(InputError) as e:
        paper_from_dict(d)
    assert e.value.where == where
    assert words in e.value.message


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the paper file"):
        load_paper(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("format = [")
    with pytest.raises(InputError, match="not valid TOML"):
        load_paper(bad)
    bad.write_text(shipped().read_text().replace('field = "hr"\n', 'field = "hazard"\n', 1))
    with pytest.raises(InputError) as e:
        load_paper(bad)
    assert e.value.where == "bad.toml: numbers.hr.field"


def test_analyze_paper_out_writes_the_tables_numbers(tmp_path):
    """`analyze --paper-out` on a simulated matched table: the file loads, and its numbers are the
    replicate's stored values at the paper's precision (design fields from the table's columns)."""
    from simkit.cli import main
    from simkit.design.replicate import replicate_data
    from simkit.runner.grid import design_of, load_study
    st = load_study(ROOT / "scenarios" / "seed-design.toml")
    sc = st.conditions[0].scenario
    rd = replicate_data(sc.theta(), design_of(sc), sc.seed, 0, 1)
    csv, out = tmp_path / "m.csv", tmp_path / "m.toml"
    rd.table.write_csv(csv)
    assert main(["analyze", str(csv), "--paper-out", str(out)]) == 0
    p = load_paper(out)
    assert p.design.n_treated == rd.table.n_pairs
    tpl = load_paper(shipped())
    for name, n in p.numbers.items():
        x = tpl.numbers[name].scale * rd.value(n.field)
        if n.printed is None:          # a median not reached: at least the last follow-up
            assert n.high == float("inf") and np.isnan(rd.value(n.field))
            continue
        assert n.low - 1e-9 <= x <= n.high + 1e-9, (name, x, n.printed)
    assert set(p.numbers) | {"median_days_treated", "median_days_reference"} >= set(tpl.numbers)
