"""Bad input never ends in a traceback or a silent wrong answer (issue 15).

Each case is one file or flag a user could plausibly give.  Through the CLI
it must give a non-zero exit status and exactly one line on stderr naming the
field / row / column and what was expected; `--debug` shows the traceback.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from oracle_analysis import random_table
from simkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "scenarios" / "seed-design.toml").read_text()


def _one_line_error(capsys, argv, pattern):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    import re
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def _scenario(tmp_path, text, name="bad.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _replace(old, new):
    assert old in SEED, old
    return SEED.replace(old, new, 1)


SCENARIO_CASES = {
    "unknown key": (_replace("rate_log_mean = 0.0 ", "rate_log_meen = 0.0 "),
                    r"world\.rate_log_meen: unknown key; allowed: rate_log_mean"),
    "unknown section": (SEED + "\n[wrold]\nx = 1\n", r"wrold: unknown key or section"),
    "wrong type": (_replace("rate_log_sd = 0.63 ", 'rate_log_sd = "high" '),
                   r"world\.rate_log_sd: expected a number in \[0, inf\), got 'high'"),
    "probability > 1": (_replace("reg_p_male = 0.63 ", "reg_p_male = 1.5 "),
                        r"world\.reg_p_male: expected a probability in \[0, 1\], got 1\.5"),
    "negative SD": (_replace("rate_log_sd = 0.63 ", "rate_log_sd = -1.0 "),
                    r"world\.rate_log_sd: expected a number in \[0, inf\)"),
    "caliper < 0": (_replace("caliper = 0.5 ", "caliper = -0.5 "), r"design\.caliper: expected a number >= 0"),
    "n_treated 0": (_replace("n_treated = 67 ", "n_treated = 0 "), r"design\.n_treated: expected an integer in \[1,"),
    "replicates 0": (_replace("replicates = 1000 ", "replicates = 0 "), r"replicates: expected an integer in \[1,"),
    "replicates float": (_replace("replicates = 1000 ", "replicates = 10.5 "), r"replicates: expected an integer"),
    "enrol_end before start": (_replace("enrol_end = 2019.0 ", "enrol_end = 2014.0 "),
                               r"world\.enrol_end: expected enrol_start <= enrol_end"),
    "age range inverted": (_replace("reg_age_min = 18.0 ", "reg_age_min = 85.0 "),
                           r"world\.reg_age_max: expected reg_age_min <= reg_age_max"),
    "trial length inverted": (_replace("trial_months_min = 12 ", "trial_months_min = 24 "),
                              r"trial_months_max: expected trial_months_min <= trial_months_max"),
    "grid and conditions": (SEED + '\n[grid]\n"design.caliper" = [0.5]\n[[conditions]]\nlabel = "a"\n',
                            r"grid: give either a \[grid\]"),
    "empty grid": (SEED + "\n[grid]\n", r"grid: expected a \[grid\] table"),
    "empty grid list": (SEED + '\n[grid]\n"design.caliper" = []\n', r"grid\.design\.caliper: expected a non-empty list"),
    "bad grid value": (SEED + '\n[grid]\n"design.caliper" = [0.5, -1.0]\n',
                       r"grid condition 1 \(caliper=-1\.0\): design\.caliper: expected a number"),
    "empty file": ("", r"sets nothing \(empty or only comments\); refusing to run on defaults"),
    "only comments": ("# nothing here\n", r"sets nothing"),
    "TOML syntax": (SEED + "\nfoo = = 3\n", r"not valid TOML: .*line \d+"),
    "bad run chunk_size": (SEED + "\n[run]\nchunk_size = 0\n", r"run\.chunk_size: expected an integer >= 1"),
    "alpha out of range": (SEED + "\n[analysis]\nalpha = 1.5\n", r"analysis\.alpha: expected a number in \(0, 1\)"),
    # accepted by the validation, refused by the plausibility probe within seconds
    "nobody included": (_replace("rate_log_mean = 0.0 ", "rate_log_mean = 7.5 "),
                        r"world: implausible world: registry inclusion 0 of 51,000 candidates.*rate_log_mean = 7\.5"),
    "nobody enrolled": (_replace("clin_min_score = 0.0 ", "clin_min_score = 48.0 "),
                        r"world: implausible world: treated enrolment .*clin_min_score = 48"),
    "nobody enrolled in one grid condition": (
        SEED + '\n[grid]\n"world.clin_min_score" = [0.0, 48.0]\n',
        r"grid condition 1 \(clin_min_score=48\.0\): implausible world: treated enrolment"),
}


@pytest.mark.parametrize("case", list(SCENARIO_CASES))
def test_bad_scenario_is_one_line(case, tmp_path, capsys):
    text, pattern = SCENARIO_CASES[case]
    p = _scenario(tmp_path, text)
    t0 = time.monotonic()
    _one_line_error(capsys, ["run", str(p), "--reps", "2", "--jobs", "1", "--quiet",
                             "--out", str(tmp_path / "s.zarr")], pattern)
    assert time.monotonic() - t0 < 20          # refused, not run for minutes
    assert not (tmp_path / "s.zarr").exists()  # nothing half-made


def test_missing_scenario_file(tmp_path, capsys):
    _one_line_error(capsys, ["run", str(tmp_path / "nope.toml")], r"nope\.toml: cannot read the scenario file")


def test_binary_scenario_file(tmp_path, capsys):
    p = tmp_path / "b.toml"
    p.write_bytes(bytes(range(256)) * 10)
    _one_line_error(capsys, ["run", str(p)], r"b\.toml: (cannot read|not valid TOML)")


# ---------------------------------------------------------------------------- CSV


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory):
    df = random_table(np.random.default_rng(15), 30)
    p = tmp_path_factory.mktemp("csv") / "good.csv"
    df.to_csv(p, index=False)
    return p.read_text().splitlines()


def _edit(lines, row, col, value):
    header = lines[0].split(",")
    out = [ln.split(",") for ln in lines]
    out[row][header.index(col)] = value
    return "\n".join(",".join(r) for r in out) + "\n"


CSV_CASES = {
    "missing column": (lambda L: "\n".join(",".join(r.split(",")[:-1]) for r in L) + "\n",
                       r"header: missing column\(s\) event"),
    "bad arm label": (lambda L: _edit(L, 3, "arm", "placebo"),
                      r"row 4, column 'arm': expected one of 'treated', 'reference'"),
    "bad sex label": (lambda L: _edit(L, 3, "sex", "X"), r"row 4, column 'sex': expected one of"),
    "broken pair": (lambda L: _edit(L, 4, "pair_id", "999"), r"column 'pair_id': pair \d+ has no"),
    "duplicated row": (lambda L: "\n".join(L + [L[1]]) + "\n", r"column 'pair_id': pair 1 has a second"),
    "zero time": (lambda L: _edit(L, 5, "time_days", "0"), r"row 6, column 'time_days': expected a survival time in days > 0"),
    "negative time": (lambda L: _edit(L, 5, "time_days", "-3"), r"row 6, column 'time_days': expected"),
    "non-numeric cell": (lambda L: _edit(L, 7, "age", "abc"), r"row 8, column 'age': expected a number, got 'abc'"),
    "infinite cell": (lambda L: _edit(L, 7, "age", "inf"), r"row 8, column 'age': expected a finite number"),
    "score out of range": (lambda L: _edit(L, 9, "alsfrs_2", "57"), r"row 10, column 'alsfrs_2': expected an integer ALSFRS-R total 0\.\.48"),
    "event not 0/1": (lambda L: _edit(L, 9, "event", "2"), r"row 10, column 'event': expected 0 \(censored\) or 1"),
    "ragged row": (lambda L: "\n".join(L[:3] + [L[3] + ",extra"] + L[4:]) + "\n", r"row 4: has 16 fields, the header has 15"),
    "only a header": (lambda L: L[0] + "\n", r"no pairs: the table has no data rows"),
    "empty file": (lambda L: "", r"the file is empty; expected a header row"),
    "oversized field": (lambda L: L[0] + "\n1," + "x" * 200_000 + "\n", r"line 2: not a readable CSV file \(field larger"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_csv_is_one_line(case, good_csv, tmp_path, capsys):
    make, pattern = CSV_CASES[case]
    p = tmp_path / "bad.csv"
    p.write_text(make(good_csv))
    _one_line_error(capsys, ["analyze", str(p)], pattern)


@pytest.mark.parametrize("data, pattern", [
    (bytes(range(256)) * 100, r"not a UTF-8 text CSV file"),
    (b"pair_id,arm\n1,\x00treated\n", r"(line \d+: not a readable CSV|header: missing column)"),
])
def test_binary_csv_is_one_line(data, pattern, tmp_path, capsys):
    p = tmp_path / "bin.csv"
    p.write_bytes(data)
    _one_line_error(capsys, ["analyze", str(p)], pattern)


def test_huge_csv_is_read_or_refused_within_seconds(good_csv, tmp_path, capsys):
    # 60 MB of one unbroken line: neither a hang nor a traceback
    p = tmp_path / "huge.csv"
    with open(p, "w") as f:
        f.write(good_csv[0] + "\n")
        f.write("1," + "9" * (60 << 20) + "\n")
    t0 = time.monotonic()
    _one_line_error(capsys, ["analyze", str(p)], r"not a readable CSV file")
    assert time.monotonic() - t0 < 30


def test_missing_csv(tmp_path, capsys):
    _one_line_error(capsys, ["analyze", str(tmp_path / "nope.csv")], r"nope\.csv: no such file")


# ---------------------------------------------------------------------------- CLI flags


@pytest.mark.parametrize("flags, pattern", [
    (["--reps", "0"], r"--reps: expected an integer >= 1, got 0"),
    (["--reps", "-5"], r"--reps: expected an integer >= 1"),
    (["--chunk-size", "0"], r"--chunk-size: expected an integer >= 1"),
    (["--jobs", "0"], r"--jobs: expected a whole number >= 1, got 0"),
    (["--scheduler", "tcp://127.0.0.1:1"], r"--scheduler: a scheduler address needs --backend dask"),
])
def test_bad_run_flags_are_one_line(flags, pattern, tmp_path, capsys):
    p = _scenario(tmp_path, SEED, "ok.toml")
    _one_line_error(capsys, ["run", str(p), "--quiet", "--out", str(tmp_path / "s.zarr")] + flags, pattern)


def test_non_integer_flag_is_argparse_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "x.toml", "--reps", "many"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --reps: invalid int value: 'many'" in err and "Traceback" not in err


def test_store_path_that_is_a_file(tmp_path, capsys):
    p = _scenario(tmp_path, SEED, "ok.toml")
    f = tmp_path / "store"
    f.write_text("not a store")
    _one_line_error(capsys, ["run", str(p), "--reps", "2", "--jobs", "1", "--quiet", "--out", str(f)],
                    r"exists but is not a simkit results store")


def test_summarize_of_something_else(tmp_path, capsys):
    _one_line_error(capsys, ["summarize", str(tmp_path)], r"not a simkit results store")


def test_debug_shows_the_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "simkit.cli", "analyze", str(tmp_path / "no.csv"), "--debug"],
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "Traceback" in r.stderr and "InputError" in r.stderr
    r = subprocess.run([sys.executable, "-m", "simkit.cli", "analyze", str(tmp_path / "no.csv")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_bug_is_one_line_with_a_hint(monkeypatch, capsys):
    import simkit.commands.claims as claims_cmd

    def boom(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(claims_cmd, "run", boom)
    monkeypatch.setattr(claims_cmd, "register", lambda p: boom)
    _one_line_error(capsys, ["claims"], r"internal error: ZeroDivisionError: division by zero \(rerun with --debug")


# ---------------------------------------------------------------------------- cold analyze


def test_plain_python_kernels_give_the_same_analysis(tmp_path):
    """The cold-cache path of `analyze` (kernels as plain Python) against the compiled one."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]
                                                      + [os.environ.get("PYTHONPATH", "")]))
    for seed, n, miss in [(1, 67, 0.0), (2, 12, 0.2), (3, 200, 0.05)]:
        p = tmp_path / f"t{seed}.csv"
        random_table(np.random.default_rng(seed), n, p_missing=miss).to_csv(p, index=False)
        outs = []
        for disable in ("0", "1"):
            r = subprocess.run([sys.executable, "-m", "simkit.cli", "analyze", str(p), "--json", "--firth"],
                               capture_output=True, text=True, env=dict(env, NUMBA_DISABLE_JIT=disable))
            assert r.returncode == 0, r.stderr
            outs.append(json.loads(r.stdout))
        _assert_close(outs[0], outs[1])


def _assert_close(a, b, path="", rel=1e-12):
    """Equal up to floating-point rounding (the compiled kernels may use other
    libm calls or fused operations: 1 ulp seen); everything else exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}", rel)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= rel * max(1.0, abs(a)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_a_cold_cache_switches_a_small_analysis_to_plain_python(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "empty-cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [os.environ.get("PYTHONPATH", "")]))
    p = tmp_path / "t.csv"
    random_table(np.random.default_rng(4), 67).to_csv(p, index=False)
    code = ("import sys, numba; from simkit.cli import main; rc = main(['analyze', sys.argv[1], '--json']);"
            "print('DISABLE_JIT', numba.config.DISABLE_JIT, file=sys.stderr)")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "DISABLE_JIT True" in r.stderr
    assert time.monotonic() - t0 < 30   # ~1.3 s measured; compiling takes ~35 s
