"""`simkit audit` end to end at a tiny size: every section, figure and headline is produced."""
import math
import re

import pytest

from simkit.cli import main


def test_audit_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["audit", "--out", str(out), "--reps", "40", "--jobs", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Headline" in text and "exact power at 11 per group" in text
    assert "worlds that reproduce the paper's numbers" in text and "P(true HR >= 0.9)" in text
    md = (out / "report.md").read_text()
    for title in ("0. Which worlds could have produced this paper", "1. What the seed design reports",
                  "1b. Which of the paper's numbers each world reproduces",
                  "2. Selection-bias decomposition", "2b. How much bias does it take", "3. Power of the whole design",
                  "4. Robustness to the matching tolerance", "4b. Design-side remedies", "5. Claims ledger"):
        assert title in md
    # the headline says what it is conditional on; E-values against EValue's 3.97 / 2.24
    assert "conditional on the simulated world" in text and "E-value of HR 0.30: 3.97 (CI limit 2.24)" in text
    assert "exact 95% CI" in md and "negative control" in md
    assert "P(true HR >= 0.9)" in md and "Posterior predictive checks" in md
    for fig in ("fig0_pairs.png", "fig1_hr_seed_world.png", "fig2_decomposition.png", "fig3_hr_null_worlds.png",
                "fig4_power.png", "fig5_caliper.png", "fig6_remedies.png", "fig_tipping_points.png",
                "fig_priors_hr.png", "fig_priors_magnitudes.png"):
        assert (out / fig).stat().st_size > 10_000
        assert fig in md
    html = (out / "report.html").read_text()
    assert html.count("<table>") >= 5 and "<img" in html
    # every simulated number in the headline table carries an MCSE in parentheses
    # ("n/a" where it cannot be estimated: this tiny run has a single registry block)
    head = md.split("## 2.")[0]
    assert len(re.findall(r"\d \((\d|n/a)", head)) >= 12
    # the exact power at 11 per group (Fisher) is in the report
    assert "0.467" in md
    # re-running resumes from the stores: nothing recomputed
    assert main(["audit", "--out", str(out), "--reps", "40", "--jobs", "1", "--quiet"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "chunks computed" in ln]
    assert len(lines) == 7 and all("(0 chunks computed" in ln for ln in lines)
    # the summaries are Datasets with the scenarios' grids as named dims
    from simkit.report.audit import run_audit
    res = run_audit(out=str(out), reps=40, jobs=1, progress=False, log=lambda s: None)
    s = res["summaries"]
    assert s["power"]["estimate"].dims == ("mechanisms", "treatment_hr", "design_n_treated", "measure")
    assert s["caliper"]["caliper"].attrs["key"] == "caliper"
    assert s["null-world"]["label"].values[0] == "all mechanisms off (negative control: a fair design)"
    assert s["remedies"]["label"].values[0] == "as published"
    # the seed section's table reads the seed store's summary
    hr_med = s["seed-design"]["estimate"].sel(measure="hr_q0.5").item()
    assert f"| HR, median (MCSE) | {hr_med:.3g} (" in md


def test_audit_bad_args(tmp_path, capsys):
    assert main(["audit", "--reps", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--reps" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "y")]) == 2


def test_report_writer_and_formats(tmp_path):
    import math

    from simkit.report.measures import Measure
    from simkit.report.writer import Section, fmt, num, write_report
    sec = Section("A & B")
    sec.text("x < y")
    sec.table(["a|b", "c"], [[1, "p|q"]])
    sec.figure("f.png", "the <figure>")
    write_report(tmp_path, "T", ["pre"], [sec])
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# T\n\npre\n\n## A & B") and "| a\\|b | c |" in md and "| 1 | p\\|q |" in md
    assert "![the <figure>](f.png)" in md
    html = (tmp_path / "report.html").read_text()
    assert "<h2>A &amp; B</h2>" in html and "x &lt; y" in html and "<td>p|q</td>" in html
    assert fmt(Measure("m", 0.12345, 0.01, 10)) == "0.123 (0.01)"
    assert fmt(Measure("m", 0.5, math.nan, 10)) == "0.5 (n/a)"
    assert fmt(Measure("m", math.nan, math.nan, 0)) == "-"
    assert fmt(Measure("m", 0.25, 0.05, 10), pct=True) == "25.0% (5.0)"
    assert num(None) == "-" and num(float("nan")) == "-" and num(0.123456) == "0.1235" and num(3) == "3"


def test_no_grid_key_outside_its_section():
    # the scenarios' grid dims may be named only in the section function of their scenario
    import inspect

    from simkit.report import audit
    keys = ("n_treated", "treatment_hr", "treatment.hr", "match_choice", "design.caliper", 'x="caliper"',
            '"mechanisms"', '"label"')
    owners = {"power", "caliper", "claims_ledger", "decomposition", "paper_fit", "remedies"}   # section functions
    for name, fn in inspect.getmembers(audit, inspect.isfunction):
        if fn.__module__ != audit.__name__ or name in owners:
            continue
        src = inspect.getsource(fn)
        # whole names only: 't1_age_median_treated' is not the grid key 'n_treated'
        assert not [k for k in keys if re.search(r"(?<![A-Za-z0-9_])" + re.escape(k) + r"(?![A-Za-z0-9_])", src)], name


def test_normal_approximation_of_the_sample_size():
    """The audit's shortcut: the unpooled normal formula by hand, and close to the exact scan
    where the scan is cheap (so 'far beyond 2000' by the formula means beyond it exactly too)."""
    from simkit.paper.power import sample_size
    from simkit.report.audit import _normal_n
    z = 1.959963984540054 + 0.8416212335729143
    assert _normal_n(0.5, 0.3, 0.8) == pytest.approx(z * z * (0.25 + 0.21) / 0.04, rel=1e-9)
    assert _normal_n(0.3, 0.3, 0.8) == math.inf
    exact = sample_size(0.5, 0.3, 0.8, test="chi2").n_first
    assert abs(exact - _normal_n(0.5, 0.3, 0.8)) / exact < 0.2
