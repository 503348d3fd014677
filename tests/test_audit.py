"""`simkit audit` end to end at a tiny size: every section, figure and headline is produced."""
import re

import pytest

from simkit.cli import main


def test_audit_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["audit", "--out", str(out), "--reps", "40", "--jobs", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Headline" in text and "exact power at 11 per group" in text
    md = (out / "report.md").read_text()
    for title in ("1. What the seed design reports", "2. Selection-bias decomposition", "3. Power of the whole design",
                  "4. Robustness to the matching tolerance", "5. Claims ledger"):
        assert title in md
    for fig in ("fig1_hr_seed_world.png", "fig2_decomposition.png", "fig3_hr_null_worlds.png", "fig4_power.png",
                "fig5_caliper.png"):
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
    assert len(lines) == 5 and all("(0 chunks computed" in ln for ln in lines)


def test_audit_bad_args(tmp_path, capsys):
    assert main(["audit", "--reps", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--reps" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "y")]) == 2
