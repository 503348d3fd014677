"""The seed analysis end to end: reader, kernel, result objects, `simkit analyze`.

The whole pipeline is compared with tests/oracle_analysis.py (pandas + lifelines +
scipy + statsmodels, written from the contract) on random tables.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from simkit.analysis.matched import analyze, read_table, table_from_columns
from simkit.cli import main
from simkit.errors import InputError

from oracle_analysis import oracle_analyze, random_table

CONTRACT_KEYS = """n_pairs hr hr_ci_low hr_ci_high hr_p median_days_treated median_days_reference
logrank_p gehan_p tarone_ware_p peto_p n_decreased n_no_change n_increased early_coef early_ci_low
early_ci_high early_p signed_rank_p treated_coef treated_se treated_p subgroups
median_treated_reached median_reference_reached dropped""".split()
REL = {"hr", "hr_ci_low", "hr_ci_high", "early_coef", "early_ci_low", "early_ci_high", "treated_coef",
       "treated_se", "median_days_treated", "median_days_reference"}
ABS_P = {"hr_p", "logrank_p", "gehan_p", "tarone_ware_p", "peto_p", "early_p", "signed_rank_p", "treated_p"}


def _close(key, mine, ref):
    if ref is None or (isinstance(ref, float) and math.isnan(ref)):
        return mine is None
    if mine is None:
        return False
    if key in ABS_P:
        return abs(mine - ref) <= 1e-6
    if key in REL:
        return abs(mine - ref) <= 1e-6 * max(1.0, abs(ref))
    return mine == ref


def compare_with_oracle(df):
    mine = analyze(df).to_dict()
    ref = oracle_analyze(df)
    bad = []
    for k, v in ref.items():
        if k == "subgroups":
            for a, b in zip(mine["subgroups"], v):
                for kk in b:
                    if kk in ("ratio", "chi2_p"):
                        ok = _close("hr_p", a[kk], b[kk])
                    else:
                        ok = a[kk] == b[kk]
                    if not ok:
                        bad.append((f"subgroup {b['factor']}={b['level']} {kk}", a[kk], b[kk]))
        elif k == "dropped":
            if mine["dropped"] != v:
                bad.append((k, mine[k], v))
        elif k in ("log_hr", "log_hr_se", "treated_ci90"):
            continue
        elif not _close(k, mine[k], v):
            bad.append((k, mine[k], v))
    return bad


@pytest.mark.parametrize("seed", range(60))
def test_whole_analysis_matches_oracle(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.choice([2, 3, 5, 11, 20, 67, 150, 400])) if seed % 3 else int(rng.integers(2, 80))
    df = random_table(rng, n, p_missing=0.08 if seed % 2 else 0.0, tie_days=seed % 4 != 0,
                      censor_frac=float(rng.choice([0.0, 0.3, 0.9])), hr=float(rng.choice([0.3, 1.0, 2.0])))
    assert compare_with_oracle(df) == []


def test_contract_keys_and_no_nan(tmp_path):
    df = random_table(np.random.default_rng(1), 30, p_missing=0.1)
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    d = analyze(read_table(f)).to_dict()
    for k in CONTRACT_KEYS:
        assert k in d
    assert set(d["dropped"]) == {"survival", "classes", "early", "signed_rank", "ols"}
    assert len(d["subgroups"]) == 12
    assert [(s["factor"], s["level"]) for s in d["subgroups"]][:2] == [("sex", "M"), ("sex", "F")]
    json.dumps(d, allow_nan=False)


def test_csv_roundtrip_equals_dataframe(tmp_path):
    df = random_table(np.random.default_rng(2), 40, p_missing=0.1)
    f = tmp_path / "t.csv"
    df.sample(frac=1.0, random_state=3).to_csv(f, index=False)  # row order must not matter
    a = analyze(read_table(f)).vector
    b = analyze(df).vector
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=0)


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    df = random_table(np.random.default_rng(4), 25, p_missing=0.1)
    f = tmp_path / "t.parquet"
    df.to_parquet(f)
    a = analyze(read_table(f)).vector
    b = analyze(df).vector
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(a[~np.isnan(a)], b[~np.isnan(b)])


# ---------------------------------------------------------------- edge cases

def _df(n=6, seed=0, **kw):
    return random_table(np.random.default_rng(seed), n, **kw)


def test_no_events_at_all():
    df = _df(10)
    df["event"] = 0
    d = analyze(df).to_dict()
    assert d["hr"] is None and d["hr_p"] is None and d["logrank_p"] is None
    assert d["status"]["cox"] != "ok"
    assert d["median_treated_reached"] is False and d["median_days_treated"] is None


def test_separation_gives_null_hr():
    df = _df(12)
    df.loc[df.arm == "treated", "event"] = 0  # no treated death: HR -> 0, no finite maximum
    d = analyze(df).to_dict()
    assert d["hr"] is None and d["hr_ci_low"] is None
    assert d["status"]["cox"] == "separation"
    assert d["logrank_p"] is not None  # the tests still exist
    f = analyze(df, firth=True).to_dict()["firth"]
    assert f["hr"] is not None and 0 < f["hr"] < 1


def test_all_missing_scores_drop_steps_only():
    df = _df(8)
    for c in ("alsfrs_0",):
        df[c] = None
    d = analyze(df).to_dict()
    assert d["hr"] is not None or d["status"]["cox"] != "ok"
    assert d["dropped"] == {"survival": 0, "classes": 8, "early": 8, "signed_rank": 8, "ols": 8}
    assert d["n_decreased"] + d["n_no_change"] + d["n_increased"] == 0
    assert d["signed_rank_p"] is None and d["treated_coef"] is None
    assert all(s["n"] == 0 for s in d["subgroups"])


def test_zero_signed_rank_differences():
    df = _df(6)
    t = df.arm == "treated"
    df.loc[t, "alsfrs_pre"] = 40
    df.loc[t, "alsfrs_0"] = 34
    df.loc[t, "alsfrs_6"] = 28  # pre_rate == during_rate for every treated patient
    d = analyze(df).to_dict()
    assert d["signed_rank_p"] is None and d["status"]["signed_rank"] == "all_zero"


def test_class_boundaries():
    df = _df(3)
    t, r = df.arm == "treated", df.arm == "reference"
    df["alsfrs_0"] = 40
    df.loc[r, "alsfrs_6"] = 34
    df.loc[t, "alsfrs_6"] = [37, 31, 38]  # d = 3, -3, 4
    d = analyze(df).to_dict()
    assert (d["n_decreased"], d["n_no_change"], d["n_increased"]) == (1, 2, 0)


def test_median_exactly_half():
    # 2 of 4 die at the same time: S = 1/2 exactly at that time -> median is that time
    rows = []
    for i, (tt, et, tr, er) in enumerate([(100, 1, 50, 1), (100, 1, 60, 1), (300, 0, 70, 0), (300, 0, 80, 0)]):
        for arm, time, ev in (("treated", tt, et), ("reference", tr, er)):
            rows.append(dict(pair_id=i, arm=arm, sex="M", race="w", onset="spinal", riluzole=1, age=50.0,
                             ft9_stage=2, alsfrs_pre=40, alsfrs_0=38, alsfrs_2=36, alsfrs_4=34, alsfrs_6=33,
                             time_days=time, event=ev))
    d = analyze(pd.DataFrame(rows)).to_dict()
    assert d["median_days_treated"] == 100.0 and d["median_treated_reached"] is True
    assert d["median_days_reference"] == 60.0


# ---------------------------------------------------------------- bad input

def _write(tmp_path, df, name="bad.csv"):
    f = tmp_path / name
    df.to_csv(f, index=False)
    return f


@pytest.mark.parametrize("mutate, where, what", [
    (lambda d: d.drop(columns=["event"]), "header", "event"),
    (lambda d: d.assign(arm=d.arm.replace({"treated": "treatment"})), "column 'arm'", "treatment"),
    (lambda d: d.assign(time_days=d.time_days.where(d.index != 3, 0.0)), "row 5, column 'time_days'", "> 0"),
    (lambda d: d.assign(event=d.event.where(d.index != 0, 2)), "row 2, column 'event'", "0 (censored)"),
    (lambda d: d.assign(alsfrs_2=d.alsfrs_2.astype(object).where(d.index != 1, 49)), "row 3, column 'alsfrs_2'", "0..48"),
    (lambda d: d.assign(alsfrs_4=d.alsfrs_4.astype(object).where(d.index != 2, 37.5)), "row 4, column 'alsfrs_4'", "integer"),
    (lambda d: d.assign(sex=d.sex.where(d.index != 0, "male")), "row 2, column 'sex'", "'M'"),
    (lambda d: d.assign(ft9_stage=d.ft9_stage.where(d.index != 0, 6)), "row 2, column 'ft9_stage'", "1..5"),
    (lambda d: d.assign(age=d.age.astype(object).where(d.index != 0, "old")), "row 2, column 'age'", "number"),
    (lambda d: d.assign(pair_id=d.pair_id.where(d.index != 3, 1)), "column 'pair_id'", "second 'reference'"),
    (lambda d: d.iloc[:-1], "column 'pair_id'", "no 'reference' row"),
    (lambda d: d.iloc[0:0], "", "no pairs"),
])
def test_bad_input_names_row_and_column(tmp_path, mutate, where, what):
    f = _write(tmp_path, mutate(_df(4)))
    with pytest.raises(InputError) as ei:
        read_table(f)
    msg = str(ei.value)
    assert where in msg and what in msg, msg


def test_cli_bad_file_one_line_exit_2(tmp_path, capsys):
    f = _write(tmp_path, _df(4).drop(columns=["age"]))
    assert main(["analyze", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "age" in err[0] and "Traceback" not in err[0]
    assert main(["analyze", str(tmp_path / "nope.csv")]) == 2


def test_cli_json_and_table_and_plot(tmp_path, capsys):
    f = _write(tmp_path, _df(30, seed=9, p_missing=0.05), "ok.csv")
    assert main(["analyze", str(f), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_pairs"] == 30 and all(k in d for k in CONTRACT_KEYS)
    png = tmp_path / "km.png"
    assert main(["analyze", str(f), "--plot", str(png), "--firth"]) == 0
    out = capsys.readouterr().out
    assert "Cox HR" in out and "seed paper" in out and "Firth" in out
    assert png.stat().st_size > 10_000


def test_cli_subprocess_no_traceback(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("pair_id,arm\n1,treated\n")
    p = subprocess.run([sys.executable, "-m", "simkit.cli", "analyze", str(f)], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "missing column" in p.stderr


def test_table_from_columns_accepts_dict():
    df = _df(5)
    t = table_from_columns({c: df[c].tolist() for c in df.columns})
    assert t.n_pairs == 5


def test_coef_confidence_interval_follows_the_level():
    """CoefResult.confidence_interval(level) used to ignore the level (issue 11)."""
    from scipy import stats

    from simkit.analysis.matched import CoefResult
    z = 1.959963984540054
    c = CoefResult("x", 0.5, 0.2, 0.01, 0.5 - z * 0.2, 0.5 + z * 0.2, "ok")
    lo95, hi95 = c.confidence_interval(0.95)
    lo90, hi90 = c.confidence_interval(0.9)
    assert lo90 > lo95 and hi90 < hi95
    assert lo90 == pytest.approx(0.5 - stats.norm.ppf(0.95) * 0.2, rel=1e-12)
    t = CoefResult("t", 0.5, 0.2, 0.01, np.nan, np.nan, "ok", df=7)
    assert t.confidence_interval(0.9)[1] == pytest.approx(0.5 + stats.t.ppf(0.95, 7) * 0.2, rel=1e-12)
    with pytest.raises(InputError):
        c.confidence_interval(1.5)


def test_ols_coefficient_has_a_t_interval():
    rng = np.random.default_rng(5)
    df = random_table(rng, 40)
    lo, hi = analyze(df).ols_treated.confidence_interval(0.9)
    np.testing.assert_allclose([lo, hi], oracle_analyze(df)["treated_ci90"], rtol=1e-8, atol=1e-10)


def test_json_extras_derive_from_the_output_table():
    """Every analysis output field reaches `analyze --json` by its store name (issue 11):
    as a key of its own, or inside `status`, `firth` or `dropped`."""
    from simkit.analysis.matched import CONTRACT_KEYS as MINIMUM, EXTRA_FIELDS
    from simkit.kernels import outputs
    from simkit.kernels import seedanalysis as SA
    res = analyze(random_table(np.random.default_rng(3), 40, p_missing=0.05))
    d = res.to_dict()
    for name, _, unit, _ in outputs.ANALYSIS:
        covered = (name in d or unit == "reason code" or "firth" in name or name.startswith("dropped_"))
        assert covered, name
    assert set(EXTRA_FIELDS).isdisjoint(MINIMUM) and set(MINIMUM) == set(CONTRACT_KEYS)
    for name in EXTRA_FIELDS:
        x = res.vector[SA.FIELDS.index(name)]
        assert (d[name] is None) == (not math.isfinite(x)), name
        if d[name] is not None:
            assert d[name] == pytest.approx(x, rel=0, abs=0), name
    assert d["log_hr"] == pytest.approx(math.log(d["hr"]))
    assert d["n_events_treated"] == res.cox.n_events_treated and isinstance(d["n_events_treated"], int)
