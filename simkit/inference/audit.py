"""The audit's first section: "Which worlds could have produced this paper".

`simkit audit` (commands/audit.py) passes `section` to simkit.report.audit.run_audit,
which puts it first: the seed paper's file inferred with the default scenario and
priors (docs/inference.md), the posterior of the true HR beside the paper's 0.30,
the mechanisms the paper's numbers point to, the predictive checks and what this
does and does not show.  It lives here, not in report/, because the report layer
sits below the inference.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

REPS_PER_AUDIT_REP = 4          # audit --reps 5000 -> a reference table of 20,000 studies (a fifth of infer's default)
MIN_REPS = 400


def section(out: Path, reps: int, jobs, progress, log):
    from simkit.inference import fit
    from simkit.paper.file import load_paper, shipped
    from simkit.report.writer import Section, num
    from simkit.inference import sequential as SQ
    n = max(MIN_REPS, REPS_PER_AUDIT_REP * int(reps))
    runs = 4
    res = fit.run_inference(shipped(), reps=n, out=Path(out) / "stores" / "infer", jobs=jobs,
                            progress=progress, runs=runs, method="marginal",
                            predictive=min(SQ.PREDICTIVE_DRAWS, max(50, int(reps) // 10)))
    mg = res["marginal"]
    log(f"  infer: a reference table of {n} simulated studies ({res['run']['chunks_computed']} new chunks) in "
        f"{runs} parts; {res['predictive_draws']} predictive studies")
    shutil.copyfile(Path(out) / "stores" / "infer" / "pairs.png", Path(out) / "fig0_pairs.png")
    paper = load_paper(shipped())
    hr_paper = paper.numbers["hr"].printed
    t, pr, m = res["true_hr"], res["prior"]["hr"], res.get("mcse", {})

    def three(d):
        return f"{d['median']:.3g} ({d['low']:.3g} to {d['high']:.3g})"

    mc = (f" (MCSE of the log ends {m['log_true_hr_low']:.2f} / {m['log_true_hr_high']:.2f})"
          if m and all(math.isfinite(m.get(k, math.nan)) for k in ("log_true_hr_low", "log_true_hr_high")) else "")
    sec = Section("0. Which worlds could have produced this paper")
    sec.headline = [f"  worlds that reproduce the paper's numbers (inference under the priors of infer-priors.toml, every "
                    f"mechanism over its full tipping-point range, and "
                    f"a true HR prior 0.2-2): true HR {three(t)}{mc}; P(true HR >= 0.9) = "
                    f"{res['p_true_hr_ge_0_9']:.3f} (prior {res['prior_p_true_hr_ge_0_9']:.3f})"]
    sec.text(f"Every number the paper prints that a simulated study also reports (the paper file "
             f"`papers/barczewska2020.toml`: {len(paper.numbers)} numbers, {len(paper.evidence())} fitted as "
             f"evidence, the others checked) against {res['n_reference']:,} simulated studies whose true HR and "
             f"bias magnitudes (the analyst's peek among them) are drawn from the priors of `infer-priors.toml` "
             f"(every mechanism over its full tipping-point range) and a log-uniform prior on the true "
             f"HR from 0.2 to 2 (docs/inference.md), in {runs} independent parts of {mg['part_size']:,} "
             f"(effective sample size of the true HR's pooled posterior {res['ess']:.0f}; its Monte Carlo error is "
             f"the spread of the parts' answers); {res['method']}.")
    for w in res.get("warnings", []):
        sec.text(f"Warning: {w}.")
    sec.table(["quantity", "posterior", "prior", "the paper"], [
        ["true HR, median (90% interval)", three(t) + mc, three(pr), f"reported HR {hr_paper}"],
        ["P(true HR >= 0.9): no meaningful effect", f"{res['p_true_hr_ge_0_9']:.3f}",
         f"{res['prior_p_true_hr_ge_0_9']:.3f}", "-"],
        ["true HR, rejection only", three(res["rejection"]["true_hr"]), "-", "-"],
    ] + ([["slope effect, points/month", three(res["slope_effect"]), three(res["prior"]["rate_change"]), "-"]]
         if "slope_effect" in res else []))
    rows = []
    for k, d in res["mechanisms"].items():
        p = res["prior"][k]
        width = (d["high"] - d["low"]) / (p["high"] - p["low"]) if p["high"] > p["low"] else math.nan
        rows.append((width, [k, three(d), f"{p['low']:.3g} to {p['high']:.3g}", num(round(width, 2))]))
    sec.text("The mechanisms, those the paper's numbers constrain most first (the posterior's 90% interval as a "
             "share of the prior's):")
    sec.table(["mechanism", "posterior median (90% interval)", "prior 90% interval", "width / prior"],
              [r for _, r in sorted(rows, key=lambda x: x[0])])
    ev = {s["name"] for s in res["summaries"]}
    far = set(res.get("unreachable_evidence", []))
    bad = [(k, p) for k, p in res["predictive_checks"].items() if p is not None and p < 0.05]
    sec.text(f"Posterior predictive checks: of {len(res['predictive_checks'])} reported numbers, "
             f"{len(bad)} are not reproduced by the fitted worlds (p < 0.05 against "
             f"{res['predictive_draws']} fresh studies simulated at draws of the posterior):")
    sec.table(["reported number", "evidence", "printed", "p"],
              [[k, "yes" if k in ev else ("dropped: no world of the prior reaches it" if k in far else "no"),
                paper.numbers[k].printed or paper.numbers[k].describe(), f"{p:.3f}"]
               for k, p in sorted(bad, key=lambda x: x[1])] or [["-", "-", "-", "-"]])
    sec.figure("fig0_pairs.png", "Figure 0. The posterior (blue) over the prior (grey) of the true HR and of the "
                                 "mechanisms it constrains most; 0.9 dashed.")
    sec.text("What this shows and does not show: the posterior says which true effects and bias magnitudes, "
             "among those the world model and its priors allow, reproduce what the paper reports, and how "
             "much the paper's numbers move the answer from the prior. It does not show what happened in the "
             "study: a bias the model lacks cannot be found, a magnitude the priors exclude cannot be recovered, "
             "and where the posterior piles up against a prior's end the answer is bounded by that prior. "
             "The 'true HR' is the world's conditional HR of treatment. Numbers the fitted worlds cannot "
             "reproduce mark where the model, or the reading of the paper, is wrong; simulation-based "
             "calibration of this procedure is in docs/inference.md.")
    return sec
