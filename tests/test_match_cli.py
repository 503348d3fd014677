"""`simkit match` end to end: a synthetic registry matched on the command line,
then `simkit analyze` on the result; bad input gives one line and status 2."""
import json

import numpy as np
import pytest

from simkit.realdata import registry as R
from simkit.world import model as world
from simkit.analysis.matched import analyze, read_table
from simkit.cli import main
from simkit.design.replicate import Design

DESIGN = Design(pool_size=1200, n_treated=30)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    rd = R.export_replicate(world.build_theta(), DESIGN, 5, 0, 1, out)
    return rd, out


def test_match_then_analyze_reproduces_the_replicate(exported, tmp_path, capsys):
    rd, out = exported
    m = tmp_path / "matched.csv"
    rc = main(["match", str(out / "treated.csv"), str(out / "registry"), "--tolerance", "0",
               "--out", str(m), "--plot", str(tmp_path / "love.png"), "--candidates", str(tmp_path / "c.csv")])
    text = capsys.readouterr().out
    assert rc == 0
    assert f"Match rate {rd.table.n_pairs}/30" in text
    assert "Balance (standardised differences" in text and "Without the caliper" in text
    assert (tmp_path / "love.png").stat().st_size > 1000
    tab = read_table(m)
    np.testing.assert_array_equal(tab.scores_reference, rd.table.scores_reference)
    assert main(["analyze", str(m), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = analyze(rd.table).to_dict()
    assert got["n_pairs"] == want["n_pairs"]
    for k in ("hr", "logrank_p", "early_coef", "treated_coef", "signed_rank_p"):
        if want[k] is None:
            assert got[k] is None
        else:
            assert got[k] == pytest.approx(want[k], rel=1e-9), k


@pytest.mark.parametrize("flag,name,value", [("--caliper-duration", "caliper_duration", 2.0),
                                              ("--caliper-total", "caliper_total", 0.0),
                                              ("--caliper-delta-fs", "caliper_delta_fs", 0.1)])
def test_match_with_a_remedy_reproduces_the_replicate(exported, tmp_path, capsys, flag, name, value):
    """The design-side remedies on the command line give the matched cohort the
    simulation builds with the same remedy in its design (round trip)."""
    from simkit.design.replicate import replicate_data
    rd0, out = exported
    rd = replicate_data(world.build_theta(), Design(pool_size=1200, n_treated=30, **{name: value}), 5, 0, 1)
    assert rd.table.n_pairs < rd0.table.n_pairs          # the remedy narrows the match
    m = tmp_path / "matched.csv"
    rc = main(["match", str(out / "treated.csv"), str(out / "registry"), "--tolerance", "0",
               "--out", str(m), flag, str(value)])
    text = capsys.readouterr().out
    assert rc == 0 and f"Also within {name} = {value:g}" in text
    tab = read_table(m)
    np.testing.assert_array_equal(tab.scores_reference, rd.table.scores_reference)
    np.testing.assert_array_equal(tab.scores_treated, rd.table.scores_treated)


def test_match_json_report(exported, tmp_path, capsys):
    rd, out = exported
    rc = main(["match", str(out / "treated.csv"), str(out / "registry"), "--out", str(tmp_path / "m.csv"),
               "--caliper", "0.2", "--exact", "sex,onset", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert d["exact"] == ["sex", "onset"] and d["caliper"] == 0.2
    assert d["n_treated"] == 30
    assert d["dropped_missing_variable"] + d["dropped_no_candidate_in_stratum"] + \
        d["dropped_beyond_caliper"] == 30 - d["n_matched"]
    assert d["matched_without_caliper"] >= d["n_matched"]
    assert len(d["nearest_beyond_caliper"]) == d["dropped_beyond_caliper"]
    names = [r["variable"] for r in d["balance"]]
    assert {"sex=M", "onset=bulbar", "age", "pre_rate", "ft9_stage"} <= set(names)
    assert d["pairs"]["n_pairs"] == d["n_matched"]


@pytest.mark.parametrize("args,msg", [
    (["--caliper", "-1"], "--caliper"),
    (["--caliper", "x"], "--caliper"),
    (["--exact", "sex,eye_colour"], "unknown name 'eye_colour'"),
    (["--tolerance", "40"], "tolerance"),
    (["--followup-months", "7"], "followup_months"),
    (["--caliper-duration", "-2"], "--caliper-duration"),
    (["--caliper-total", "x"], "--caliper-total"),
])
def test_bad_arguments_one_line(exported, tmp_path, capsys, args, msg):
    rd, out = exported
    rc = main(["match", str(out / "treated.csv"), str(out / "registry"), "--out", str(tmp_path / "m.csv"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_bad_treated_file_one_line(exported, tmp_path, capsys):
    rd, out = exported
    bad = tmp_path / "t.csv"
    lines = (out / "treated.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",M,", ",X,").replace(",F,", ",X,")
    bad.write_text("\n".join(lines) + "\n")
    rc = main(["match", str(bad), str(out / "registry"), "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "row 4" in err and "'sex'" in err and len(err.strip().splitlines()) == 1


def test_missing_registry_one_line(exported, tmp_path, capsys):
    rd, out = exported
    rc = main(["match", str(out / "treated.csv"), str(tmp_path), "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "PROACT_ALSFRS.csv" in err and len(err.strip().splitlines()) == 1


def test_remedy_flags_follow_the_choice_table():
    from simkit.commands.match import REMEDIES
    from simkit.design.choices import CHOICE
    for name, text in REMEDIES.items():
        c = CHOICE[name]
        assert c.default == float("inf") and c.unit.split(" (")[0] in text, name
