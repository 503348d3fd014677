"""The registry contract reader, the PRO-ACT importer, the candidate rule, the balance table."""
import math

import numpy as np
import pandas as pd
import pytest

from simkit.realdata import registry as R
from simkit.realdata.balance import balance_of, love_plot, smd
from simkit.errors import InputError

M = R.MONTH_DAYS


def write(dirpath, name, rows, header):
    dirpath.mkdir(parents=True, exist_ok=True)
    with open(dirpath / name, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")


P_HEAD = ["patient_id", "sex", "race", "onset", "riluzole", "age", "end_day", "event"]
V_HEAD = ["patient_id", "day", "alsfrs_r", "ft9_stage"]


def registry(tmp_path, patients, visits, p_head=P_HEAD, v_head=V_HEAD):
    d = tmp_path / "reg"
    write(d, "patients.csv", patients, p_head)
    write(d, "visits.csv", visits, v_head)
    return d


def basic(tmp_path, **kw):
    pats = [["a", "M", "White", "spinal", 1, 50, 800, 1], ["b", "F", "White", "bulbar", 0, 60, 400, 0]]
    vis = [["a", 0, 40, 2], ["a", 6 * M, 34, 3], ["a", 8 * M, 33, ""], ["a", 10 * M, 31, ""],
           ["a", 12 * M, 30, ""], ["b", 0, 44, 1], ["b", 6 * M, 43, 1]]
    return registry(tmp_path, kw.get("patients", pats), kw.get("visits", vis))


# ----------------------------------------------------------------- contract

def test_contract_reads_and_derives(tmp_path):
    reg = R.read_registry(basic(tmp_path))
    assert reg.n_patients == 2 and len(reg.visits) == 7
    assert reg.patients["sex"].tolist() == ["M", "F"]
    assert reg.drops == ()


def test_items_give_total_domains_and_ft9(tmp_path):
    head = ["patient_id", "day"] + list(R.ITEM_COLUMNS)
    # bulbar 4+4+4 = 12, fine motor 3+3+2 = 8 (< 9), gross 4+4+4, respiratory 2+3+3 = 8 (< 9)
    items = [4, 4, 4, 3, 3, 2, 4, 4, 4, 2, 3, 3]
    d = registry(tmp_path, [["a", "M", "White", "spinal", 1, 50, 800, 1]], [["a", 0] + items], v_head=head)
    v = R.read_registry(d).visits
    assert v["alsfrs_r"].iloc[0] == sum(items) == 40
    assert v["ft9_stage"].iloc[0] == 3


def test_domains_give_ft9_and_must_agree_with_total(tmp_path):
    head = ["patient_id", "day", "alsfrs_r"] + list(R.DOMAIN_COLUMNS)
    p = [["a", "M", "White", "spinal", 1, 50, 800, 1]]
    v = R.read_registry(registry(tmp_path, p, [["a", 0, 40, 12, 8, 12, 8]], v_head=head)).visits
    assert v["ft9_stage"].iloc[0] == 3
    with pytest.raises(InputError, match="differs from the sum of the domain"):
        R.read_registry(registry(tmp_path, p, [["a", 0, 41, 12, 8, 12, 8]], v_head=head))


@pytest.mark.parametrize("patients,visits,match", [
    (None, [["a", 0, 40, 2], ["a", 0, 39, 2]], "second visit on day 0"),
    (None, [["a", 0, 40, 2], ["a", 900, 30, 2]], "after the death"),
    (None, [["b", 0, 44, 1], ["b", 500, 40, 1]], "after the last contact"),
    (None, [["c", 0, 40, 2]], "patient 'c' is not in patients.csv"),
    (None, [["a", 0, 49, 2]], "row 2, column 'alsfrs_r'.*integer 0..48"),
    (None, [["a", "x", 40, 2]], "column 'day'"),
    ([["a", "X", "White", "spinal", 1, 50, 800, 1]], [], "column 'sex'"),
    ([["a", "M", "White", "spinal", 1, 50, "", 1]], [], "column 'end_day'.*empty"),
    ([["a", "M", "White", "spinal", 2, 50, 800, 1]], [], "column 'riluzole'"),
    ([["a", "M", "White", "spinal", 1, 50, 800, 1], ["a", "F", "White", "spinal", 1, 50, 800, 1]], [],
     "appears more than once"),
])
def test_contract_errors_name_line_and_column(tmp_path, patients, visits, match):
    pats = patients or [["a", "M", "White", "spinal", 1, 50, 800, 1], ["b", "F", "White", "bulbar", 0, 60, 400, 0]]
    with pytest.raises(InputError, match=match):
        R.read_registry(registry(tmp_path, pats, visits))


def test_unknown_and_missing_columns_and_tables(tmp_path):
    p = [["a", "M", "White", "spinal", 1, 50, 800, 1]]
    with pytest.raises(InputError, match="unknown column.*alsfrs_R"):
        R.read_registry(registry(tmp_path, p, [["a", 0, 40]], v_head=["patient_id", "day", "alsfrs_R"]))
    with pytest.raises(InputError, match="missing column.*event"):
        R.read_registry(registry(tmp_path, [r[:-1] for r in p], [], p_head=P_HEAD[:-1]))
    (tmp_path / "reg" / "visits.csv").unlink()
    with pytest.raises(InputError, match="no visits.csv"):
        R.read_registry(tmp_path / "reg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither patients.csv"):
        R.read_registry(tmp_path / "empty")
    with pytest.raises(InputError, match="no such directory"):
        R.read_registry(tmp_path / "nowhere")


def test_write_and_read_back(tmp_path):
    reg = R.read_registry(basic(tmp_path))
    reg.write(tmp_path / "copy")
    again = R.read_registry(tmp_path / "copy")
    pd.testing.assert_frame_equal(reg.patients, again.patients)
    pd.testing.assert_frame_equal(reg.visits, again.visits)


# ------------------------------------------------------------ candidate rule

def cands(tmp_path, visits, end=2000, event=1, tol=14, fu=6):
    p = [["a", "M", "White", "spinal", 1, 50, end, event]]
    return R.reference_candidates(R.read_registry(registry(tmp_path, p, visits)), tol, fu)


def test_candidate_index_is_the_first_visit_with_a_pre_visit(tmp_path):
    v = [["a", 0, 40, 2], ["a", 100, 39, 2], ["a", 6 * M, 34, 3], ["a", 8 * M, 33, 3],
         ["a", 10 * M, 31, 3], ["a", 12 * M, 30, 3]]
    c = cands(tmp_path, v)
    assert c.n == 1
    row = c.table.iloc[0]
    assert row["index_day"] == pytest.approx(6 * M) and row["pre_day"] == 0
    assert (row["alsfrs_pre"], row["alsfrs_0"], row["alsfrs_2"], row["alsfrs_4"], row["alsfrs_6"]) == \
        (40, 34, 33, 31, 30)
    assert row["age"] == pytest.approx(50 + 6 * M / 365.25)
    assert row["time_days"] == pytest.approx(2000 - 6 * M)


def test_candidate_tolerance(tmp_path):
    # the pre visit lies 12.6 days from its target: inside 14 days, outside 10
    v = [["a", 6 * M - 170, 40, 2], ["a", 6 * M, 34, 3], ["a", 8 * M + 5, 33, 3], ["a", 10 * M - 5, 31, 3],
         ["a", 12 * M - 3, 30, 3]]
    assert cands(tmp_path, v, tol=14).n == 1
    c = cands(tmp_path, v, tol=10)
    # the visit at 12 months has one 6 months before it, but no follow-up visits
    assert c.n == 0 and c.excluded["no such visit followed by the required visits and survival"] == 1
    c = cands(tmp_path, v[:2], tol=10)
    assert c.n == 0 and c.excluded["no visit with a visit 6 months before it"] == 1
    v[0][1] = 6 * M - 190          # 7.4 days off
    assert cands(tmp_path, v, tol=10).n == 1
    with pytest.raises(InputError, match="tolerance"):
        cands(tmp_path, v, tol=31)


def test_nearest_visit_and_earlier_on_a_tie(tmp_path):
    v = [["a", -10, 41, 2], ["a", 10, 40, 2], ["a", 6 * M, 34, 3], ["a", 8 * M, 33, 3],
         ["a", 10 * M, 31, 3], ["a", 12 * M, 30, 3]]
    assert cands(tmp_path, v).table.iloc[0]["alsfrs_pre"] == 41
    # a visit 2 days off beats one 5 days off
    v = [["a", 5, 41, 2], ["a", 2, 40, 2], ["a", 6 * M, 34, 3], ["a", 8 * M, 33, 3],
         ["a", 10 * M, 31, 3], ["a", 12 * M, 30, 3]]
    assert cands(tmp_path, v).table.iloc[0]["alsfrs_pre"] == 40


def test_followup_requirement(tmp_path):
    v = [["a", 0, 40, 2], ["a", 6 * M, 34, 3], ["a", 8 * M, 33, 3]]   # no visits at +4, +6
    c6 = cands(tmp_path, v, end=9 * M, event=1, fu=6)
    assert c6.n == 0 and c6.excluded["no such visit followed by the required visits and survival"] == 1
    assert cands(tmp_path, v, end=9 * M, event=1, fu=2).n == 1
    c0 = cands(tmp_path, v, end=9 * M, event=1, fu=0)
    assert c0.n == 1 and math.isnan(c0.table.iloc[0]["alsfrs_4"])
    # death 4 months after the index: not alive at index + 6
    assert cands(tmp_path, v, end=10 * M, event=1, fu=4).n == 0
    # censored (last contact) exactly 2 months after the index proves survival to it
    assert cands(tmp_path, v, end=8 * M, event=0, fu=2).n == 1


def test_candidate_needs_every_baseline_variable(tmp_path):
    p = [["a", "M", "", "spinal", 1, 50, 2000, 1]]
    v = [["a", 0, 40, 2], ["a", 6 * M, 34, ""], ["a", 8 * M, 33, 3], ["a", 10 * M, 31, 3], ["a", 12 * M, 30, 3]]
    c = R.reference_candidates(R.read_registry(registry(tmp_path, p, v)), 14, 6)
    assert c.n == 0 and c.excluded["a baseline variable of the matched table is missing"] == 1


# ------------------------------------------------------------------- PRO-ACT

ALSFRS_HEAD = ["subject_id", "ALSFRS_Delta", "Q1_Speech", "Q2_Salivation", "Q3_Swallowing", "Q4_Handwriting",
               "Q5a_Cutting_without_Gastrostomy", "Q5b_Cutting_with_Gastrostomy", "Q6_Dressing_and_Hygiene",
               "Q7_Turning_in_Bed", "Q8_Walking", "Q9_Climbing_Stairs", "Q10_Respiratory", "R_1_Dyspnea",
               "R_2_Orthopnea", "R_3_Respiratory_Insufficiency", "ALSFRS_Total", "ALSFRS_R_Total",
               "Mode_of_Administration"]


def visit(sid, day, items=None, total=None, orig=None, q5b=False):
    """A PRO-ACT ALSFRS row: 12 ALSFRS-R items (Q5 in a or b), totals."""
    it = items or [""] * 12
    q5a, q5bv = ("", it[4]) if q5b else (it[4], "")
    return [sid, day, *it[:4], q5a, q5bv, *it[5:9], "", *it[9:], "" if orig is None else orig,
            "" if total is None else total, "clinic"]


FULL = [4, 4, 3, 3, 3, 3, 4, 3, 3, 4, 4, 4]          # 42; fine motor 9, bulbar 11: FT9 1
LOW = [4, 3, 3, 2, 2, 2, 3, 3, 2, 3, 4, 4]           # 35; fine motor 6, gross 8: FT9 3


@pytest.fixture
def proact(tmp_path):
    d = tmp_path / "proact"
    alsfrs = [
        visit(1, 0, FULL), visit(1, 183, LOW, total=35), visit(1, 244, LOW), visit(1, 305, LOW, q5b=True),
        visit(1, 365, LOW),
        visit(2, 0, total=40), visit(2, 0, total=40),          # exact copy: one kept
        visit(2, 180, total=38), visit(2, 180, total=37),      # conflicting: both dropped
        visit(2, 250, orig=30),                                 # only the original ALSFRS
        visit(3, 0, total=44), visit(3, 400, total=40),         # after death (day 300): dropped
        visit(4, 0, total=44),                                  # died, Death_Days empty: subject dropped
        visit(9, 0, total=44),                                  # not in DEMOGRAPHICS: dropped
        visit(5, "", total=44),                                 # no day: dropped
        visit(5, 10, FULL, total=41),                           # total != items: dropped
        visit(5, 20, total=50),                                 # out of range: dropped
    ]
    write(d, "PROACT_ALSFRS.csv", alsfrs, ALSFRS_HEAD)
    demo_head = ["subject_id", "Demographics_Delta", "Age", "Date_of_Birth", "Ethnicity", "Race_Asian",
                 "Race_Black_African_American", "Race_Caucasian", "Race_Other", "Sex"]
    write(d, "PROACT_DEMOGRAPHICS.csv", [
        [1, 0, 55, "", "", "", "", 1, "", "Male"], [2, 0, "", -21915, "", 1, "", "", "", "Female"],
        [3, 0, 70, "", "", "", "", "", "", "Male"], [4, 0, 61, "", "", "", "", 1, "", "Female"],
        [5, 0, 48, "", "", "", "", 1, "", "Male"]], demo_head)
    write(d, "PROACT_RILUZOLE.csv", [[1, "Yes", 0], [2, "No", 0], [2, "Yes", 30]],
          ["subject_id", "Subject_used_Riluzole", "Riluzole_use_Delta"])
    write(d, "PROACT_DEATHDATA.csv", [[1, "No", ""], [3, "Yes", 300], [4, "Yes", ""]],
          ["subject_id", "Subject_Died", "Death_Days"])
    write(d, "PROACT_ALSHISTORY.csv", [[1, "Onset: Limb", -400, 0], [2, "Onset: Bulbar", -200, 0],
                                       [3, "Onset: Limb and Bulbar", -300, 0], [5, "Onset: Spine", -100, 0]],
          ["subject_id", "Site_of_Onset", "Onset_Delta", "Subject_ALS_History_Delta"])
    return d


def test_proact_import(proact):
    reg = R.read_registry(proact)
    p = reg.patients.set_index("patient_id")
    # 4 dropped (death day unknown), 5 (alive, every visit dropped: no last contact)
    assert list(p.index) == ["1", "2", "3"]
    assert p.loc["1", ["sex", "race", "onset"]].tolist() == ["M", "White", "spinal"]
    assert p.loc["2", ["sex", "race", "onset"]].tolist() == ["F", "Other", "bulbar"]
    assert p.loc["2", "age"] == pytest.approx(21915 / 365.25)   # from Date_of_Birth
    assert p.loc["3", "race"] is None and p.loc["3", "onset"] is None
    assert p["riluzole"].tolist() == [1.0, 1.0, 0.0]           # any 'Yes' record; 3 has none: 0
    assert p.loc["3", ["end_day", "event"]].tolist() == [300, 1]
    assert p.loc["1", ["end_day", "event"]].tolist() == [365, 0]   # last ALSFRS visit
    assert p.loc["1", "onset_day"] == -400
    v = reg.visits
    v1 = v[v.patient_id == "1"]
    assert v1["alsfrs_r"].tolist() == [42, 35, 35, 35, 35]      # totals from the items (Q5a or Q5b)
    assert v1["ft9_stage"].tolist() == [1, 3, 3, 3, 3]
    v2 = v[v.patient_id == "2"]
    assert v2["day"].tolist() == [0, 250] and math.isnan(v2["alsfrs_r"].iloc[1])
    assert v2["alsfrs_original"].iloc[1] == 30
    assert v[v.patient_id == "3"]["day"].tolist() == [0]
    assert v[v.patient_id == "5"].empty
    assert set(v["patient_id"]) == {"1", "2", "3"}
    drops = {d.reason: (d.table, d.rows, d.patients) for d in reg.drops}
    assert drops["exact copy of another visit (one kept)"] == ("ALSFRS", 1, 1)
    assert drops["two or more different visits of a subject on the same day (all dropped)"] == ("ALSFRS", 2, 1)
    assert drops["visit after the subject's death day"] == ("ALSFRS", 1, 1)
    assert drops["subject not in DEMOGRAPHICS"] == ("ALSFRS", 1, 1)
    assert drops["no visit day (ALSFRS_Delta empty or not a number)"] == ("ALSFRS", 1, 1)
    assert drops["ALSFRS_R_Total differs from the sum of its 12 items"] == ("ALSFRS", 1, 1)
    assert drops["a score out of range or not an integer"] == ("ALSFRS", 1, 1)
    assert drops["died, but Death_Days is empty (survival unknown)"] == ("DEATHDATA", 1, 1)
    assert drops["alive (or no death record) and no ALSFRS visit: no last-contact day"] == ("DEMOGRAPHICS", 1, 1)
    notes = " | ".join(reg.notes)
    assert "1 subject(s) without a RILUZOLE record" in notes
    assert "1 visit(s) have only the original ALSFRS total" in notes
    assert "other than bulbar or limb/spine" in notes
    # the import written as the contract reads back the same
    reg.write(proact.parent / "contract")
    again = R.read_registry(proact.parent / "contract")
    pd.testing.assert_frame_equal(reg.visits, again.visits)


def test_proact_candidate_from_import(proact):
    c = R.reference_candidates(R.read_registry(proact), 14, 6)
    assert c.table["patient_id"].tolist() == ["1"]
    assert c.table.iloc[0][["alsfrs_pre", "alsfrs_0", "ft9_stage"]].tolist() == [42, 35, 3]


def test_proact_file_prefix_and_missing_pieces(proact):
    for f in list(proact.iterdir()):
        f.rename(proact / ("F_" + f.name))
    assert R.read_registry(proact).n_patients == 3
    (proact / "F_PROACT_RILUZOLE.csv").unlink()
    with pytest.raises(InputError, match="PROACT_RILUZOLE.csv"):
        R.read_registry(proact)


def test_proact_missing_column(proact):
    df = pd.read_csv(proact / "PROACT_DEATHDATA.csv").drop(columns="Death_Days")
    df.to_csv(proact / "PROACT_DEATHDATA.csv", index=False)
    with pytest.raises(InputError, match="missing PRO-ACT column.*Death_Days"):
        R.read_registry(proact)


# ------------------------------------------------------------------ balance

def test_balance_against_pandas():
    rng = np.random.default_rng(4)
    n_t, n_p = 40, 300

    def frame(n, shift):
        pre = rng.integers(20, 48, n).astype(float)
        df = pd.DataFrame({
            "sex": rng.choice(["M", "F"], n), "race": rng.choice(["White", "Other", "Asian"], n, p=[.8, .15, .05]),
            "onset": rng.choice(["bulbar", "spinal"], n), "riluzole": rng.integers(0, 2, n).astype(float),
            "age": rng.normal(55 + shift, 10, n), "ft9_stage": rng.integers(1, 6, n).astype(float),
            "alsfrs_pre": pre, "alsfrs_0": pre - rng.integers(0, 12, n), "duration_months": rng.gamma(3, 6, n)})
        df.loc[df.index[:3], "alsfrs_pre"] = np.nan          # missing values are left out
        return df
    t, p = frame(n_t, 3), frame(n_p, 0)
    ti = np.arange(5, 35)
    ri = rng.choice(n_p, ti.size, replace=False)
    bal = balance_of(t, p, ti, ri)
    tab = bal.table.set_index("variable")

    def direct(x, y, binary):
        x, y = pd.Series(x).dropna(), pd.Series(y).dropna()
        if binary:
            return (x.mean() - y.mean()) / math.sqrt((x.mean() * (1 - x.mean()) + y.mean() * (1 - y.mean())) / 2)
        return (x.mean() - y.mean()) / math.sqrt((x.var() + y.var()) / 2)
    tm, pm = t.iloc[ti], p.iloc[ri]
    for var, fx in [("sex=M", lambda d: (d["sex"] == "M").astype(float)),
                    ("onset=bulbar", lambda d: (d["onset"] == "bulbar").astype(float)),
                    ("riluzole=1", lambda d: d["riluzole"]),
                    ("race=Asian", lambda d: (d["race"] == "Asian").astype(float)),
                    ("race=White", lambda d: (d["race"] == "White").astype(float)),
                    ("age", lambda d: d["age"]), ("ft9_stage", lambda d: d["ft9_stage"]),
                    ("alsfrs_pre", lambda d: d["alsfrs_pre"]), ("duration_months", lambda d: d["duration_months"]),
                    ("pre_rate", lambda d: (d["alsfrs_pre"] - d["alsfrs_0"]) / 6)]:
        binary = "=" in var
        assert tab.loc[var, "smd_before"] == pytest.approx(direct(fx(t), fx(p), binary), rel=1e-12), var
        assert tab.loc[var, "smd_after"] == pytest.approx(direct(fx(tm), fx(pm), binary), rel=1e-12), var
        assert tab.loc[var, "mean_treated_after"] == pytest.approx(fx(tm).mean(), rel=1e-12)
    s = bal.pair_shares()
    sd = ((t["alsfrs_pre"] - t["alsfrs_0"]) / 6).to_numpy()[ti] - ((p["alsfrs_pre"] - p["alsfrs_0"]) / 6).to_numpy()[ri]
    ad = np.abs(t["age"].to_numpy()[ti] - p["age"].to_numpy()[ri])
    assert s["n_slope_diff_zero"] == int(np.sum(np.abs(sd) < 1e-9))
    assert s["n_slope_within_0_3"] == int(np.sum(np.abs(sd) <= 0.3 + 1e-9))
    assert s["n_age_within_5"] == int(np.sum(ad <= 5)) and s["n_age_within_10"] == int(np.sum(ad <= 10))


def test_smd_edge_cases():
    assert smd([1, 1], [1, 1, 1], binary=True) == 0.0
    assert smd([2.0, 2.0], [2.0, 2.0], binary=False) == 0.0
    assert math.isnan(smd([2.0, 2.0], [3.0, 3.0], binary=False))
    assert math.isnan(smd([], [1.0, 2.0], binary=False))
    assert math.isnan(smd([np.nan], [1.0, 2.0], binary=False))


def test_love_plot_writes_png(tmp_path):
    t = pd.DataFrame({"sex": ["M", "F"], "race": ["White", "White"], "onset": ["bulbar", "spinal"],
                      "riluzole": [1.0, 0.0], "age": [50.0, 60.0], "alsfrs_pre": [40.0, 30.0], "alsfrs_0": [38.0, 25.0]})
    bal = balance_of(t, t, [0, 1], [1, 0])
    love_plot(bal, tmp_path / "love.png")
    assert (tmp_path / "love.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_proact_onset_indicator_columns(proact):
    """Older releases code the site of onset as indicator columns."""
    write(proact, "PROACT_ALSHISTORY.csv", [[1, 0, 1, -400], [2, 1, "", -200], [3, 1, 1, -300]],
          ["subject_id", "Site_of_Onset___Bulbar", "Site_of_Onset___Limb", "Onset_Delta"])
    p = R.read_registry(proact).patients.set_index("patient_id")
    assert p.loc["1", "onset"] == "spinal" and p.loc["2", "onset"] == "bulbar" and p.loc["3", "onset"] is None
    write(proact, "PROACT_ALSHISTORY.csv", [[1, -400]], ["subject_id", "Onset_Delta"])
    with pytest.raises(InputError, match="Site_of_Onset"):
        R.read_registry(proact)


def test_ft9_stage_must_agree_with_domains(tmp_path):
    head = ["patient_id", "day", "ft9_stage"] + list(R.DOMAIN_COLUMNS)
    p = [["a", "M", "White", "spinal", 1, 50, 800, 1]]
    with pytest.raises(InputError, match="column 'ft9_stage'.*differs from the stage"):
        R.read_registry(registry(tmp_path, p, [["a", 0, 2, 12, 8, 12, 8]], v_head=head))


def test_match_cli_on_a_proact_download(proact, tmp_path, capsys):
    """`simkit match` reads the PRO-ACT tables directly and prints what it dropped."""
    from simkit.cli import main
    tr = tmp_path / "treated.csv"
    tr.write_text("sex,race,onset,riluzole,age,ft9_stage,alsfrs_pre,alsfrs_0,alsfrs_2,alsfrs_4,alsfrs_6,time_days,event\n"
                  "M,White,spinal,1,52,3,42,35,35,34,33,500,0\n"
                  "F,White,bulbar,0,60,2,40,38,,,,300,1\n")
    out = tmp_path / "m.csv"
    assert main(["match", str(tr), str(proact), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Registry: 3 patients, 1 reference candidates" in text
    assert "importer: ALSFRS: 1 row(s) of 1 patient(s) dropped: visit after the subject's death day" in text
    assert "Match rate 1/2" in text and "1 with no candidate in their exact stratum" in text
    from simkit.analysis.matched import read_table
    t = read_table(out)
    assert t.n_pairs == 1 and t.scores_reference[0].tolist() == [42, 35, 35, 35, 35]
    assert t.time_days[0, 1] == pytest.approx(365 - 183)
