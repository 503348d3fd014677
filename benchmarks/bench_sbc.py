"""Simulation-based calibration of `simkit infer` (docs/inference.md).

    .venv/bin/python benchmarks/bench_sbc.py [--reps 100000] [--papers 200] [--jobs 2] [--out sbc-out] [--smc]

1. The reference table: the study `simkit infer` builds for the seed paper (default
   scenario seed-priors.toml with the effect's default priors, the paper's design),
   `--reps` simulated studies into OUT/reference.zarr (resumable).
2. `--papers` synthetic papers drawn from the same prior with another seed (known true
   HR and magnitudes): each replicate's matched table (what `simulate --matched` writes)
   analysed and written as a paper file by the code of `analyze --paper-out`, with the
   seed paper's numbers, precisions and evidence flags.
3. Each synthetic paper inferred against the reference table (as `simkit infer` does,
   without the bootstrap): the 90% interval's coverage of the true HR with its MCSE
   (binomial), the rank of the truth in the posterior (the posterior CDF at the truth,
   uniform if calibrated: histogram in 10 bins and a chi-square p), and the interval's
   mean width on the log scale against the prior's; for each method of `simkit infer`
   (marginal, the default, in --runs parts of the table; semiauto; with --smc also the SMC at the size
   --runs / --particles / --budget, which simulates per paper) and the plain rejection baseline (the
   table's closest --quantile, unadjusted).
4. `--case-papers` papers from each world of CASES (known truth, fixed magnitudes): how often the
   90% interval reaches 0.9 (not declared effective) and covers the true HR, with the default method.
Writes benchmarks/results/sbc.json (or --results-dir).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

PAPER_SEED = 777_000_001       # the synthetic papers' seed (the reference table keeps the scenario's)


def synthetic_papers(study, template, n, tmp: Path):
    """[(paper, truth {name: value})] for replicates 0..n-1 of `study` (its seed), made as a user would:
    the matched table of the replicate, then analyze --paper-out."""
    import dataclasses

    from simkit.analysis.matched import analyze
    from simkit.commands.analyze import write_paper
    from simkit.design.replicate import replicate_data
    from simkit.paper.file import load_paper
    from simkit.runner.grid import design_of
    sc = study.conditions[0].scenario
    design = design_of(sc, study.firth)
    dvec = design.vector()
    thetas, drawn = study.priors.draw(sc.theta(), dvec, study.seed, study.key_condition(0), 0, n)
    peeks = study.priors.peeks(drawn)       # the analyst's peek, when drawn
    out = []
    for k in range(n):
        dk = dataclasses.replace(design, match_peek=int(peeks[k])) if peeks.size else design
        rd = replicate_data(thetas[k], dk, study.seed, study.key_condition(0), k)
        if rd.table.n_pairs < 2:
            continue
        f = tmp / f"paper{k}.toml"
        write_paper(rd.table, analyze(rd.table), f"synthetic{k}.csv", f, template)
        out.append((load_paper(f), dict(zip(study.priors.names(), drawn[k]))))
    return out


# Worlds of known truth the issue asks about (docs/inference.md, "What it must show"): a paper made
# under strong bias within the default priors and no effect must not be declared effective (its 90%
# interval reaches 0.9); one made with a real effect must hold the truth in its interval.
CASES = {
    "strong bias, true HR 1": {
        "treatment.hr": 1.0, "treatment.rate_change": 0.0, "mechanisms.case_mix": 1.0, "mechanisms.era_hr": 0.7,
        "mechanisms.self_selection": 1.2, "mechanisms.regression_to_mean": 1.2, "mechanisms.retro_noise": 3.0,
        "mechanisms.recall_shift": 1.5, "mechanisms.unblinded_shift": 2.0, "mechanisms.differential_followup": 0.8,
        "mechanisms.treated_loss_rate": 0.15, "mechanisms.death_ascertainment": 0.3,
        "mechanisms.reference_death_selection": 0.9, "mechanisms.early_exclusion": 0.8,
        "mechanisms.waiting_months": 3.0, "mechanisms.immortal_time_treated": 6.0,
        "mechanisms.immortal_time_reference": 6.0, "mechanisms.time_zero_misalignment": 1.0,
        "design.match_peek": 20},          # the analyst's worst-outcome choice (docs/inference.md)
    "real effect HR 0.5, the seed world's biases": {
        "treatment.hr": 0.5, "treatment.rate_change": -0.3, "mechanisms.case_mix": 1.0, "mechanisms.era_hr": 0.85,
        "mechanisms.self_selection": 0.5, "mechanisms.regression_to_mean": 0.5, "mechanisms.retro_noise": 2.0,
        "mechanisms.recall_shift": 0.0, "mechanisms.unblinded_shift": 1.0, "mechanisms.differential_followup": 0.5,
        "mechanisms.treated_loss_rate": 0.05, "mechanisms.death_ascertainment": 0.15,
        "mechanisms.reference_death_selection": 0.0, "mechanisms.early_exclusion": 0.0,
        "mechanisms.waiting_months": 0.0, "mechanisms.immortal_time_treated": 6.0,
        "mechanisms.immortal_time_reference": 6.0, "mechanisms.time_zero_misalignment": 1.0,
        "design.match_peek": 1},
    # the same effect in a world at the middle of the default priors (infer-priors.toml: each mechanism at
    # its prior median, the analyst's peek 4): the first real-effect world sits in the priors' low-bias corner
    "real effect HR 0.5, every bias at its prior median": {
        "treatment.hr": 0.5, "treatment.rate_change": -0.3, "mechanisms.case_mix": 0.5, "mechanisms.era_hr": 0.5,
        "mechanisms.self_selection": 1.5, "mechanisms.regression_to_mean": 1.5, "mechanisms.retro_noise": 4.0,
        "mechanisms.recall_shift": 2.0, "mechanisms.unblinded_shift": 3.0, "mechanisms.differential_followup": 0.5,
        "mechanisms.treated_loss_rate": 0.5, "mechanisms.death_ascertainment": 0.5,
        "mechanisms.reference_death_selection": 0.5, "mechanisms.early_exclusion": 0.5,
        "mechanisms.waiting_months": 6.0, "mechanisms.immortal_time_treated": 3.0,
        "mechanisms.immortal_time_reference": 3.0, "mechanisms.time_zero_misalignment": 0.5,
        "design.match_peek": 4},
}


def case_papers(seed_paper, values, n, tmp: Path, seed):
    """n papers made in one fixed world (every prior of the inference fixed at `values`)."""
    from simkit.inference import fit
    from simkit.paper.file import shipped
    _, data = fit.scenario_data()
    data = dict(data)
    data["priors"] = {**fit._flat_priors(data.get("priors")),
                      **{k: {"dist": "fixed", "value": v} for k, v in values.items()}}
    study, _ = fit.study_for(seed_paper, None, n, seed=seed, data=data)
    return synthetic_papers(study, shipped(), n, tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100_000)
    ap.add_argument("--papers", type=int, default=200)
    ap.add_argument("--quantile", type=float, default=None)
    ap.add_argument("--case-papers", type=int, default=10, help="papers per world of known truth (CASES)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="sbc-out")
    ap.add_argument("--results-dir", default=None)
    ap.add_argument("--runs", type=int, default=4, help="marginal: parts of the table; smc: runs per paper")
    ap.add_argument("--smc", action="store_true", help="also the SMC (it simulates --budget studies per paper)")
    ap.add_argument("--particles", type=int, default=250, help="smc: particles per run")
    ap.add_argument("--budget", type=int, default=5000, help="smc: simulations per paper after the table")
    a = ap.parse_args(argv)
    from simkit.inference import abc, fit
    from simkit.inference import marginal as MG
    from simkit.inference import sequential as SQ
    from simkit.paper.file import load_paper, shipped
    from simkit.runner.grid import build_job
    from simkit.runner.montecarlo import run as mc_run
    q = a.quantile or fit.DEFAULT_QUANTILE
    t0 = time.perf_counter()
    seed_paper = load_paper(shipped())
    study, notes = fit.study_for(seed_paper, None, a.reps)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    mc_run(build_job(study, replicates=a.reps, with_truth=False), out / "reference.zarr", jobs=a.jobs,
           progress=False)
    fields, groups = fit.store_fields(seed_paper, out / "reference.zarr", study.priors)
    t_ref = time.perf_counter() - t0
    pstudy, _ = fit.study_for(seed_paper, None, a.papers, seed=PAPER_SEED)
    with tempfile.TemporaryDirectory() as tmp:
        papers = synthetic_papers(pstudy, shipped(), a.papers, Path(tmp))
    prior_hr = np.asarray(fields["prior_hr"])
    pw = float(np.diff(np.log(np.quantile(prior_hr, [0.05, 0.95])))[0])
    rows = {"marginal": [], "semiauto": [], "rejection": []}
    if a.smc:
        rows["smc"] = []

    def default_posterior(paper, where):
        return MG.infer(paper, study, fields, where, parts=a.runs, quantile=q, jobs=a.jobs, progress=False,
                        predictive=0)

    def smc_posterior(paper, where):
        return SQ.infer(paper, study, fields, groups, where, runs=a.runs, particles=a.particles, budget=a.budget,
                        jobs=a.jobs, progress=False, predictive=0)

    # each paper's rows are kept as they are computed, so an interrupted benchmark rerun with the same
    # arguments redoes only the papers not yet done (a crash in the summary once cost a 16-minute rerun)
    key = json.dumps({k: getattr(a, k) for k in ("reps", "papers", "quantile", "runs", "particles", "budget",
                                                 "smc")}, sort_keys=True)
    done_path = out / "paper-rows.jsonl"
    done = {}
    if done_path.exists():
        for line in done_path.read_text().splitlines():
            r = json.loads(line)
            if r.get("key") == key:
                done[r["i"]] = r["rows"]
    t_smc = 0.0
    for i, (paper, truth) in enumerate(papers):
        t = truth["hr"]
        if i in done:
            for method, row in done[i].items():
                rows[method].append(row)
            continue
        draws = []
        smp = default_posterior(paper, out / f"paper-{i:03d}")["_samples"]
        ih = smp["names"].index("hr")
        draws.append(("marginal", *smp["marginal"]["hr"]))
        if a.smc:
            t1 = time.perf_counter()
            smp = smc_posterior(paper, out / f"paper-{i:03d}")["_samples"]
            t_smc += time.perf_counter() - t1
            draws.append(("smc", smp["adjusted"][:, ih], smp["weights"]))
        for m in ("semiauto", "rejection"):
            smp = fit.posterior(paper, fields, study.priors, q, groups, n_boot=0, method=m)["_samples"]
            draws.append((m, smp["adjusted"][:, ih], smp["weights"]))
        mine = {}
        for method, x, w in draws:
            lo, hi = abc.weighted_quantile(x, w, [0.05, 0.95])
            mine[method] = {"truth": t, "low": float(lo), "high": float(hi), "cover": bool(lo <= t <= hi),
                            "u": float(np.sum(w * (x < t)) / np.sum(w)),
                            "width_log": float(math.log(hi / lo)),
                            "p_ge_0_9": float(np.sum(w * (x >= 0.9)) / np.sum(w))}
            rows[method].append(mine[method])
        with done_path.open("a") as fh:
            fh.write(json.dumps({"key": key, "i": i, "rows": mine}) + "\n")
    cases = {}
    for i, (label, values) in enumerate(CASES.items()):
        with tempfile.TemporaryDirectory() as tmp:
            cps = case_papers(seed_paper, values, a.case_papers, Path(tmp), PAPER_SEED + 1 + i)
        t = values["treatment.hr"]
        rr = []
        for k, (paper, _) in enumerate(cps):
            res = default_posterior(paper, out / f"case-{i}-{k:03d}")              # the default method
            th = res["true_hr"]
            rr.append({"paper_hr": paper.numbers["hr"].value if "hr" in paper.numbers else None, **th,
                       "reaches_0_9": th["high"] >= 0.9, "covers_truth": th["low"] <= t <= th["high"],
                       "p_ge_0_9": res["p_true_hr_ge_0_9"]})
        cases[label] = {"true_hr": t, "papers": len(rr),
                        "share_interval_reaches_0_9": float(np.mean([r["reaches_0_9"] for r in rr])),
                        "share_covering_truth": float(np.mean([r["covers_truth"] for r in rr])),
                        # a paper whose Cox fit failed (no treated death recorded) reports no HR
                        "papers_without_hr": sum(r["paper_hr"] is None for r in rr),
                        "median_paper_hr": (float(np.median([r["paper_hr"] for r in rr if r["paper_hr"] is not None]))
                                            if any(r["paper_hr"] is not None for r in rr) else None),
                        "rows": rr}
    from scipy import stats
    summary = {}
    for method, rr in rows.items():
        m = len(rr)
        cov = float(np.mean([r["cover"] for r in rr]))
        hist = np.histogram([r["u"] for r in rr], bins=10, range=(0, 1))[0]
        summary[method] = {
            "papers": m, "coverage_90": cov, "coverage_mcse": math.sqrt(cov * (1 - cov) / m),
            "rank_histogram_10_bins": hist.tolist(),
            "rank_uniformity_chi2_p": float(stats.chisquare(hist).pvalue),
            "mean_width_log": float(np.mean([r["width_log"] for r in rr])),
            "prior_width_log": pw,
            "width_ratio": float(np.mean([r["width_log"] for r in rr]) / pw),
            "brier_hr_ge_0_9": float(np.mean([(r["p_ge_0_9"] - (r["truth"] >= 0.9)) ** 2 for r in rr])),
        }
    payload = {"reference_reps": a.reps, "papers": len(papers), "quantile": q, "study_notes": notes,
               "marginal": {"parts": a.runs},
               "smc": {"runs": a.runs, "particles_per_run": a.particles, "budget": a.budget} if a.smc else None,
               "seconds_reference": t_ref, "seconds_smc_papers": t_smc, "seconds_total": time.perf_counter() - t0,
               "summary": summary, "cases": cases, "rows": rows}
    p = C.write_result("sbc", payload, a.results_dir)
    print(f"simulation-based calibration of simkit infer: {len(papers)} synthetic papers from the prior, "
          f"reference table {a.reps:,} studies, accepted quantile {q}")
    print(f"{'method':<11}{'90% coverage (MCSE)':>22}{'rank chi2 p':>13}{'width / prior (log)':>22}  rank histogram")
    for method, s in summary.items():
        print(f"{method:<11}{s['coverage_90']:>14.3f} ({s['coverage_mcse']:.3f}){s['rank_uniformity_chi2_p']:>13.3f}"
              f"{s['mean_width_log']:>12.2f} / {s['prior_width_log']:.2f}  {s['rank_histogram_10_bins']}")
    for label, c in cases.items():
        mh = "-" if c["median_paper_hr"] is None else f"{c['median_paper_hr']:.2f}"
        print(f"{label}: {c['papers']} papers (median reported HR {mh}, {c['papers_without_hr']} without one); 90% interval "
              f"reaches 0.9 in {c['share_interval_reaches_0_9']:.2f}, covers the true HR {c['true_hr']} in "
              f"{c['share_covering_truth']:.2f}")
    print(f"{payload['seconds_total']:.0f} s; {p}")
    return payload


if __name__ == "__main__":
    main()
