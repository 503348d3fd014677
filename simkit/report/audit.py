"""`simkit audit`: the seed design audited in simulated worlds where the truth is known.

The audit runs the scenario files of the four questions (docs/design.md section 1) into
stores under DIR/stores (re-running resumes), summarises each store as a Dataset
(simkit.report.summary), and tells what they show section by section:

1. `seed_world`: what the design reports in its default world (seed-design.toml);
1b. `paper_fit`: which of the paper's printed numbers each world reproduces;
2. `decomposition`: how much HR each bias mechanism makes under the null (null-world.toml);
2b. `bias_it_takes`: how large the biases would have to be (tipping points, E-values) and the
   HR with every bias drawn from a prior (seed-priors.toml);
3. `power`: the whole design's power, and the paper's "11 per group" claim
   (power.toml, claim-11-per-group.toml, exact power);
4. `caliper`: how the answer moves with the matching tolerance (caliper.toml);
5. `claims_ledger`: every quantitative claim of the paper, with how probable its result
   is in the simulated worlds.

Each section function knows its own scenario's grid; the figures are drawn by
simkit.report.plots and the report written by simkit.report.writer.  Every number comes from
these runs or from exact computation, with its Monte Carlo SE.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simkit.errors import InputError
from simkit.report.writer import Section, fmt, num

# replicates per condition as a share of --reps (the seed world gets --reps itself)
SHARES = {"seed-design": 1.0, "null-world": 0.5, "power": 0.25, "caliper": 0.125, "claim-11-per-group": 0.5,
          "seed-priors": 0.4, "remedies": 0.25}
TIPPING_SHARE = 0.2          # replicates per magnitude of the tipping-point search, as a share of --reps
DEFAULT_REPS = 5000
SCENARIOS = tuple(SHARES)


def scenario_dir() -> Path:
    """The shipped scenarios: simkit/scenarios, a link to the clone's top-level
    scenarios/ folder, copied into the wheel, so a plain install has them too."""
    d = Path(__file__).resolve().parent.parent / "scenarios"
    if not d.is_dir():
        raise InputError("SCENARIO", f"the default scenarios folder {d} is missing; pass a scenario file, "
                                     "e.g. simkit audit path/to/seed-design.toml")
    return d


@dataclass
class Run:
    """One scenario of the audit: its file, study, store and summary Dataset."""
    name: str
    path: Path
    study: object
    store: Path
    summary: object

    def m(self, name, c=0):
        """Measure `name` of condition c (store order) as a simkit.report.measures.Measure."""
        from simkit.report.summary import measure
        return measure(self.summary, name, c=c)


def scenario_paths(scenario=None) -> dict:
    """{name: scenario file}: the seed scenario, and the others from its folder."""
    seed = Path(scenario) if scenario else scenario_dir() / "seed-design.toml"
    paths = {"seed-design": seed}
    for name in SCENARIOS[1:]:
        paths[name] = seed.parent / f"{name}.toml"
        if not paths[name].exists():
            raise InputError(str(paths[name]), "scenario file missing: the audit needs it beside the seed scenario")
    return paths


def run_scenario(name, path, out_dir, reps, jobs, progress, log) -> Run:
    """Run (or resume) one scenario at its share of --reps, and summarise its store."""
    from simkit.runner.grid import build_job, load_study
    from simkit.runner.montecarlo import run as mc_run
    from simkit.report.summary import summarize
    study = load_study(path)
    n = max(20, int(round(reps * SHARES.get(name, 0.5))))
    job = build_job(study, replicates=n)
    store = out_dir / "stores" / f"{name}.zarr"
    store.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = mc_run(job, store, jobs=jobs, progress=progress)
    log(f"  {name}: {len(study.conditions)} condition(s) x {n} replicates "
        f"({info.n_chunks_computed} chunks computed, {info.n_chunks_skipped} reused) in "
        f"{time.perf_counter() - t0:.1f} s")
    return Run(name, Path(path), study, store, summarize(store))


def run_audit(scenario=None, out="audit-report", reps=DEFAULT_REPS, jobs=None, progress=None, log=print,
              first=()):
    """Run the five scenarios, write DIR/report.md and report.html with figures, log the headline.

    first: callables f(out, reps, jobs, progress, log) -> Section whose sections come before the
    others (the command passes the inference's "Which worlds could have produced this paper",
    which lives in a layer above this one).
    Returns {"out", "seconds", "summaries": {scenario name: summary Dataset}}."""
    from simkit.paper.seed import citation

    if reps < 20:
        raise InputError("--reps", f"expected an integer >= 20, got {reps}")
    t_start = time.perf_counter()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError("--out", f"cannot create {out}: {e.strerror or e}") from None
    paths = scenario_paths(scenario)
    log(f"simkit audit: {reps} replicates in the seed world (others scaled), stores in {out / 'stores'}")
    runs = {name: run_scenario(name, p, out, reps, jobs, progress, log) for name, p in paths.items()}
    bias = bias_it_takes(runs, out, reps, jobs, log)
    firsts = [f(out, reps, jobs, progress, log) for f in first]
    sections = firsts + [
        seed_world(runs["seed-design"], out),
        paper_fit(runs),
        decomposition(runs["null-world"], out),
        bias.section,
        power(runs["power"], runs["claim-11-per-group"], runs["null-world"], reps, out),
        caliper(runs["caliper"], out),
        remedies(runs["remedies"], out),
        claims_ledger(runs),
    ]
    elapsed = time.perf_counter() - t_start
    write(out, sections, paths, reps, elapsed, citation())
    log("")
    for line in headline(runs["seed-design"], bias, runs, [ln for s in firsts for ln in s.headline]):
        log(line)
    log(f"report: {out / 'report.md'} and {out / 'report.html'} ({elapsed:.0f} s)")
    return {"out": str(out), "seconds": elapsed, "summaries": {k: r.summary for k, r in runs.items()}}


def _paper():
    from simkit.paper.seed import reported
    return reported()


# ---------------------------------------------------------------- 1. the seed world

ESTIMAND_WORDS = {"followup_marginal": "the marginal HR under the study's follow-up",
                  "marginal": "the marginal HR without censoring", "conditional": "the conditional HR"}


def estimand_words(ds) -> str:
    """What a summary's bias and coverage are against, in words (its attrs["estimand"])."""
    return ESTIMAND_WORDS[ds.attrs.get("estimand", "conditional")]


def _null_note(ds) -> str:
    return (f"Bias and coverage are against {estimand_words(ds)} (docs/summary.md); under the null every "
            "estimand (conditional, marginal, marginal under follow-up) is HR 1, log HR 0.")

def seed_world(run: Run, out: Path) -> Section:
    """What the design reports when re-run in its default world: the HR's distribution
    over replicates, its bias, coverage and type I error, and how often a result as
    extreme as the paper's arises although the truth is known."""
    from simkit.report import plots
    paper = _paper()
    s_p, p_p = paper["survival"], paper["progression"]
    m = run.m
    ds = run.summary
    sec = Section("1. What the seed design reports in its default world")
    sec.text(f"MCSEs: {ds['mcse_note'].values.ravel()[0]}.")
    hr_true = run.study.base.treatment["hr"]
    truth = {k: float(np.exp(ds[f"truth_{k}"].values.ravel()[0])) for k in ("marginal_log_hr",
             "marginal_log_hr_followup") if f"truth_{k}" in ds.coords}
    words = [f"True conditional HR {hr_true:g}"]
    if "marginal_log_hr" in truth:
        words.append(f"true marginal HR in the treated population {truth['marginal_log_hr']:.3f} without "
                     "censoring" + (f" and {truth['marginal_log_hr_followup']:.3f} under the study's follow-up "
                                    "(each pair of counterfactual twins censored at the treated patient's "
                                    "administrative censoring)" if "marginal_log_hr_followup" in truth else ""))
    note = ds.attrs.get("estimand_note")
    sec.text(f"World: `{run.path.name}` ({run.study.base.description}). {'; '.join(words)}. Bias and coverage "
             f"are against {estimand_words(ds)}, what the design's Cox model would estimate without bias "
             f"(docs/summary.md){'; ' + note if note else ''}. "
             f"{ds.attrs['n_replicates']} replicates of the whole design: 67 treated enrolled, matched 1:1 "
             "to a 10,000-patient registry, classified, and analysed as the paper did.")
    rows = [
        ["HR, median (MCSE)", fmt(m("hr_q0.5")), f"{s_p['hr']}"],
        ["HR, 2.5% and 97.5% quantiles", f"{fmt(m('hr_q0.025'))} / {fmt(m('hr_q0.975'))}",
         f"CI {s_p['hr_ci_low']}-{s_p['hr_ci_high']}"],
        [f"bias of log HR (vs {estimand_words(ds)})", fmt(m("bias")), "-"],
        ["bias of log HR vs the conditional HR", fmt(m("conditional_bias")), "-"],
        [f"coverage of the 95% CI (of {estimand_words(ds)})", fmt(m("coverage")), "0.95 if fair"],
        ["rejection rate, Cox Wald p <= 0.05", fmt(m("rejection")), "0.05 if fair and HR 1"],
        ["rejection rate, smallest p of 5 survival tests", fmt(m("rejection_min_of_5_tests")), "-"],
        ["P(HR <= 0.30 and p <= 0.0004), exact 95% CI", str(rare(run)), "observed"],
        ["P(HR <= 0.30)", fmt(m("p_extreme_hr")), "observed"],
        [f"P(>= {p_p['n_decreased']} 'decreased' of 67)", fmt(m("p_extreme_n_decreased_ge_21")), "observed"],
        ["P(median ratio >= 1183/640)", fmt(m("p_extreme_median_ratio_ge_paper")), "observed"],
        ["mean decreased / no change / increased",
         f"{fmt(m('mean_n_decreased'))} / {fmt(m('mean_n_no_change'))} / {fmt(m('mean_n_increased'))}",
         f"{p_p['n_decreased']} / {p_p['n_no_change']} / {p_p['n_increased']}"],
        ["share of treated matched", fmt(m("match_rate")), "67 of 67"],
    ]
    sec.table(["quantity", "simulated: estimate (MCSE)", "seed paper"], rows)
    plots.hist_plot(run.store, out / "fig1_hr_seed_world.png", summary=run.summary)
    sec.figure("fig1_hr_seed_world.png",
               "Figure 1. The HR the design reports in the seed world, over replicates; the paper's 0.30 in red.")
    return sec


# ---------------------------------------------------------------- 1b. the paper's other numbers

def _observables(paper) -> list:
    """(label, store field, the paper's value, how to turn the field into the printed quantity)
    for every number the paper prints about its cohorts that a replicate also reports."""
    s, mq, t1 = paper["survival"], paper["matching_quality"], paper["table1"]
    pc, pr = paper["power_claim"], paper["progression"]
    lo, hi = math.log(s["hr_ci_low"]), math.log(s["hr_ci_high"])
    deaths = 4.0 / ((hi - lo) / (2 * 1.959963984540054)) ** 2   # Var(log HR) ~ 4 / deaths, 1:1
    n = paper["design"]["n_reference"]      # 67 pairs
    return [
        ("HR", "hr", s["hr"], None),
        ("KM median, reference (days)", "median_days_reference", s["median_days_reference"], None),
        ("KM median, treated (days)", "median_days_treated", s["median_days_treated"], None),
        ("alive at the end, reference (share)", "share_censored_reference", pc["p_reference"], None),
        ("alive at the end, treated (share)", "share_censored_treated", pc["p_treated"], None),
        ("deaths in all (implied by the CI's width)", ("n_events_treated", "n_events_reference"),
         round(deaths, 1), None),
        ("pairs with pre-slope difference 0", "n_slope_diff_zero", mq["slope_diff_zero"], None),
        ("pairs within 0.3 points/month", "n_slope_within_0_3", mq["slope_diff_within_0_3"], None),
        ("pairs with ages within 5 years", "n_age_within_5", mq["age_within_5y"], None),
        ("pairs with ages within 10 years", "n_age_within_10", mq["age_within_10y"], None),
        ("pairs classed 'decreased'", "n_decreased", pr["n_decreased"], None),
        ("pairs classed 'increased'", "n_increased", pr["n_increased"], None),
        ("treated men (of 67)", "t1_male_treated", t1["men"][0], n),
        ("treated median age", "t1_age_median_treated", t1["age_median"][0], None),
        ("reference median age", "t1_age_median_reference", t1["age_median"][1], None),
        ("treated fast progressors (of 67)", "t1_fast_treated", t1["fast"][0], n),
        ("treated median pre-slope (points/month)", "t1_pre_slope_median_treated", -t1["pre_slope_median"][0],
         None),
    ]


def paper_fit(runs: dict) -> Section:
    """Which of the paper's printed numbers each simulated world can reproduce: a world
    that cannot reproduce the reference arm cannot judge the contrast that made HR 0.30."""
    from simkit.runner.store import read_fields
    paper = _paper()
    obs = _observables(paper)
    fields = sorted({f for o in obs for f in ((o[1],) if isinstance(o[1], str) else o[1])})
    worlds = [("seed world", runs["seed-design"], 0)]
    nw = runs["null-world"]
    from simkit.report.summary import flat
    for c, label in enumerate(flat(nw.summary, "label")):
        worlds.append((f"null: {label}", nw, c))
    data = {}
    for run in {id(w[1]): w[1] for w in worlds}.values():
        data[run.name] = read_fields(run.store, fields)[1]
    sec = Section("1b. Which of the paper's numbers each world reproduces")
    sec.text("Beside its HR the paper prints numbers about its cohorts that every replicate also reports. "
             "For each world the table gives the median over replicates and, in brackets, the central 95% "
             "of replicates; ✗ marks a paper value outside that range: the world does not reproduce it. The paper's pre-slope is printed negative (points gained); here it is points "
             "lost. 'Alive at the end' is the share censored; the paper's values (about 40% vs 0%) come "
             "from its power paragraph. The deaths in all are implied by the width of the paper's CI "
             "(Var(log HR) about 4 / deaths in a 1:1 comparison).")
    cells = {}          # (world, observable) -> (text, inside)
    for label, field, value, scale in obs:
        for wname, run, c in worlds:
            d = data[run.name]
            x = (d[field][c] if isinstance(field, str) else sum(d[f][c] for f in field)).astype(float)
            x = x[np.isfinite(x)] * (scale or 1)
            if x.size == 0:
                cells[wname, label] = ("-", False)
                continue
            q = np.quantile(x, [0.025, 0.5, 0.975])
            inside = bool(q[0] <= value <= q[2])
            cells[wname, label] = (f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]" + ("" if inside else " ✗"), inside)
    # in detail: the seed world, the negative control and the worlds that come closest
    score = {w[0]: sum(cells[w[0], o[0]][1] for o in obs) for w in worlds}
    shown = [worlds[0][0], worlds[1][0]] + sorted((w[0] for w in worlds[2:]), key=lambda k: -score[k])[:2]
    sec.table(["the paper's number", "paper"] + shown,
              [[o[0], num(o[2])] + [cells[w, o[0]][0] for w in shown] for o in obs])
    sec.text("Every world, with the paper's numbers it does not reproduce (✗: outside the central 95% of "
             "its replicates):")
    sec.table(["world", f"reproduced (of {len(obs)})", "not reproduced"],
              [[w[0], str(score[w[0]]), ", ".join(o[0] for o in obs if not cells[w[0], o[0]][1]) or "-"]
               for w in worlds])
    sec.text("A world judged by the paper's HR alone can look plausible while missing the reference arm; only "
             "worlds that reproduce the paper's other numbers speak to how its HR arose, and then only under "
             "this world's assumptions. Which worlds fit everything the paper reports is the inference "
             "question (docs/design.md, Q5).")
    return sec


def rare(run: Run, c: int = 0):
    """P(HR <= 0.30 and p <= 0.0004) in condition c with an exact interval (simkit.report.measures
    .proportion_interval): a rare event, where a Wald MCSE of 0 would say nothing."""
    from simkit.report.measures import proportion_interval
    from simkit.runner.store import read_fields
    from simkit.report.summary import registry_clusters
    s = _paper()["survival"]
    attrs, d = read_fields(run.store, ["hr", "hr_p"])
    hr, p = d["hr"][c], d["hr_p"][c]
    flags = np.where(np.isfinite(hr), (hr <= s["hr"]) & (p <= s["hr_p"]), np.nan)
    return proportion_interval(flags, clusters=registry_clusters(attrs, c, hr.shape[0])[0])


def headline(run: Run, bias=None, runs=None, extra=()) -> list:
    """The lines the command prints at the end: what the audit finds, each conditional on
    the world and the magnitudes it assumed (extra: the first sections' own lines)."""
    from simkit.paper.power import exact_power
    paper = _paper()
    pc = paper["power_claim"]
    m = run.m
    fisher11 = exact_power(pc["p_treated"], pc["p_reference"], 11, test="fisher")
    lines = ["Headline (estimate (MCSE); every number is conditional on the simulated world and its assumptions):",
             f"  seed world (mechanisms at assumed magnitudes, no effect): HR median {fmt(m('hr_q0.5'))} vs the "
             f"paper's {paper['survival']['hr']}; P(HR<=0.30 & p<=0.0004) = {rare(run)}",
             f"  classes {fmt(m('mean_n_decreased'))} / {fmt(m('mean_n_no_change'))} / {fmt(m('mean_n_increased'))} "
             f"vs the paper's 21 / 33 / 13; P(>=21 decreased) = {fmt(m('p_extreme_n_decreased_ge_21'))}",
             f"  type I error of the Cox test {fmt(m('rejection'))}; smallest of 5 tests "
             f"{fmt(m('rejection_min_of_5_tests'))}"]
    if runs and "seed-priors" in runs:
        pr = runs["seed-priors"]
        lines.append(f"  with every bias drawn from its prior (no effect): HR median {fmt(pr.m('hr_q0.5'))}; "
                     f"P(HR<=0.30 & p<=0.0004) = {rare(pr)}")
    lines.extend(extra)
    if bias is not None and bias.reached:
        lines.append("  tipping points (no effect): the paper's result is reached by " + "; ".join(bias.reached))
    if bias is not None:
        lines.append(f"  E-value of HR 0.30: {bias.e.estimate:.2f} (CI limit {bias.e.ci_limit:.2f})")
    lines.append(f"  exact power at 11 per group, 40% vs 0%: Fisher {fisher11:.3f} (claimed 0.90)")
    lines.append("  a simulation shows what the design can produce under stated assumptions; it cannot show that "
                 "the paper's result could not have arisen otherwise")
    return lines


# ---------------------------------------------------------------- 2b. how much bias does it take

@dataclass
class BiasItTakes:
    section: Section
    e: object                # evalues.EValues
    reached: list            # plain-language tipping points that are reachable


def bias_it_takes(runs: dict, out: Path, reps: int, jobs, log) -> BiasItTakes:
    """How large the biases would have to be, with no treatment effect, for the design to
    report the paper's result: tipping points of each mechanism (alone, and all on one
    scale), the E-values of the paper's HR, and the HR under priors on every mechanism
    (probabilistic bias analysis)."""
    from simkit.report import plots
    from simkit.sensitivity import evalues, tipping as sensitivity
    from simkit.runner.scenario import read_toml
    paper = _paper()["survival"]
    sec = Section("2b. How much bias does it take")
    ev = evalues.e_values(paper["hr"], paper["hr_ci_low"], paper["hr_ci_high"])
    lu = evalues.latent_u(ev)
    sec.text(f"E-values (VanderWeele & Ding 2017) of the paper's HR {ev.hr:g} ({ev.ci_low:g}-{ev.ci_high:g}): "
             f"{ev.estimate:.2f} for the estimate and {ev.ci_limit:.2f} for the CI limit nearer 1, with death a "
             f"common outcome ({ev.estimate_rare:.2f} and {ev.ci_limit_rare:.2f} if rare). An unmeasured "
             "confounder associated with both treatment and death by a risk ratio of that size, and no "
             f"smaller, could explain the HR away. In this world: {lu.sentence} This assumes: "
             + "; ".join(lu.assumptions) + ".")
    seed = runs["seed-design"]
    n = max(100, int(round(reps * TIPPING_SHARE)))
    t0 = time.perf_counter()
    tp = sensitivity.tipping_points(read_toml(seed.path)[1], reps=n, jobs=jobs or 2, progress=lambda msg: None)
    log(f"  tipping points: {n} replicates per magnitude in {time.perf_counter() - t0:.1f} s")
    rows, reached = [], []
    names = {"median_hr": f"median HR <= {tp.target.hr:g}",
             "p_as_extreme": f"P(HR <= {tp.target.hr:g} and p <= {tp.target.p:g}) >= {tp.target.level:g}"}
    def g(x):
        return "?" if x is None else f"{x:.3g}"
    for r in tp.rows():
        if r["reachable"]:
            cell = f"{g(r['magnitude'])} ({g(r['low'])} to {g(r['high'])})"
            if r["others"] in ("scenario", "-"):
                reached.append(f"{r['mechanism']} at {g(r['magnitude'])} ({names[r['criterion']]}, others "
                               f"{'as in the seed world' if r['others'] == 'scenario' else 'scaled together'})")
        else:
            cell = f"not reached by {g(r['cap'])}"
        rows.append([r["mechanism"], r["others"], names[r["criterion"]], cell, num(r["off"]), r["unit"]])
    sec.text(f"Tipping points under the null: for each mechanism, with the others at the seed world's magnitudes "
             f"('scenario') or off, and for one common scale factor on all of them ('scale': 1 = the seed "
             f"world), the magnitude at which the design reports the paper's HR as its median, or a result "
             f"as extreme as the paper's (HR <= {tp.target.hr:g} and p <= {tp.target.p:g}) in at least "
             f"{tp.target.level:.0%} of replicates; {tp.reps} replicates per magnitude on common random numbers, "
             f"{tp.ci_level:.0%} CIs from {tp.n_boot} bootstrap resamples of registries "
             "(`simkit tipping-point`, docs/sensitivity.md). 'Not reached' means not within the searched range "
             "(the mechanism's valid range or a stated cap); whether a magnitude is plausible is for the reader.")
    sec.table(["mechanism", "others", "criterion", "magnitude (95% CI)", "off", "unit"], rows)
    plots.tipping_plot(tp, out / "fig_tipping_points.png")
    sec.figure("fig_tipping_points.png", "Figure. Each criterion against each mechanism's magnitude under the "
                                         "null; the target dotted, the tipping point and its CI as a diamond.")
    pr = runs.get("seed-priors")
    if pr is not None:
        pi = rare(pr)
        sec.text(f"Probabilistic bias analysis (`{pr.path.name}`): the same design under the null with every "
                 "mechanism drawn, replicate by replicate, from a prior over its plausible range (the ranges "
                 "and their sources are in the scenario file). The design then reports a median HR of "
                 f"{fmt(pr.m('hr_q0.5'))} (2.5% to 97.5% of replicates: {fmt(pr.m('hr_q0.025'))} to "
                 f"{fmt(pr.m('hr_q0.975'))}), and a result as extreme as the paper's with probability {pi} "
                 f"({pi.note}). Conditional on these priors and this world.")
        plots.hist_plot(pr.store, out / "fig_priors_hr.png", summary=pr.summary)
        sec.figure("fig_priors_hr.png", "Figure. The HR under the null with every bias drawn from its prior; the "
                                        "paper's 0.30 in red.")
        plots.prior_plot(pr.store, out / "fig_priors_magnitudes.png")
        sec.figure("fig_priors_magnitudes.png", "Figure. The HR against each magnitude drawn from its prior.")
    return BiasItTakes(sec, ev, reached)


# ---------------------------------------------------------------- 2. decomposition under the null

def decomposition(run: Run, out: Path) -> Section:
    """The design under the null (true HR 1) with the world's bias mechanisms all off, one at a
    time and all together: every departure of the HR from 1 is bias, and since the rows
    share their random numbers, each mechanism's share is a paired difference."""
    from simkit.report import plots
    from simkit.report.summary import flat
    paper_hr = _paper()["survival"]["hr"]
    ds = run.summary
    labels = flat(ds, "label")
    paired, u = _paired_changes(run.store)
    sec = Section("2. Selection-bias decomposition under the null (true HR 1)")
    sec.text("Each row runs the same design in the world of `null-world.toml` with the bias mechanisms "
             "all off, one at a time (at its default magnitude, or at the stated magnitude for those the "
             "seed world leaves off), or all together. Under the null every departure of the HR from 1 is "
             "bias. The rows share their patients and registries (common random numbers), so each row's "
             "change of log HR against 'all off' is a paired difference with its own MCSE. 'All off' is the "
             "negative control: with time zero aligned (the treated generated like a registry patient, "
             "selected at the same point of their disease) the design is fair in this world, and its HR "
             "should be 1 within its MCSE (mean latent prognosis u of the matched references vs the "
             f"treated: {fmt(u[0])} vs {fmt(u[1])}). These are the magnitudes assumed here; how large "
             "each mechanism would have to be to produce the paper's HR is a separate question "
             f"(`simkit tipping-point`). {_null_note(ds)}")
    rows = []
    for c, (label, change) in enumerate(zip(labels, paired)):
        m = lambda name: run.m(name, c)  # noqa: E731
        rows.append([str(label), fmt(m("hr_q0.5")), fmt(change), fmt(m("bias")), fmt(m("rejection")),
                     fmt(m("p_extreme_hr_and_p")), f"{fmt(m('mean_n_decreased'))} / {fmt(m('mean_n_increased'))}",
                     fmt(m("p_extreme_n_decreased_ge_21"))])
    sec.table(["world", "HR median", "change of log HR vs all off (paired)", "bias log HR", "rejection (alpha 0.05)",
               "P(HR<=0.30 & p<=0.0004)", "decreased / increased", "P(>=21 decreased)"], rows)
    plots.hr_interval_plot(ds, out / "fig2_decomposition.png", "label", paper_hr,
                           title="Bias decomposition under the null: each mechanism alone and all together")
    sec.figure("fig2_decomposition.png",
               "Figure 2. Median HR (with 95% MCSE band) the design reports per mechanism under the null.")
    plots.hist_plot(run.store, out / "fig3_hr_null_worlds.png", conditions=[0, len(labels) - 1], summary=ds)
    sec.figure("fig3_hr_null_worlds.png", "Figure 3. HR distributions under the null: all mechanisms off vs all "
                                          "together.")
    return sec


def _paired_changes(store):
    """Per condition: mean (MCSE) of log HR minus condition 0's, over replicates where both exist
    (conditions share their random numbers); and condition 0's mean u, reference vs treated."""
    from simkit.report.measures import mean
    from simkit.runner.store import read_fields
    from simkit.report.summary import registry_clusters
    attrs, d = read_fields(store, ["log_hr", "mean_u_treated", "mean_u_reference"])
    base = d["log_hr"][0]
    n = base.shape[0]
    out = [mean(d["log_hr"][c] - base, "paired_change", registry_clusters(attrs, c, n)[0])
           for c in range(d["log_hr"].shape[0])]
    g = registry_clusters(attrs, 0, n)[0]
    return out, (mean(d["mean_u_reference"][0], "u_ref", g), mean(d["mean_u_treated"][0], "u_t", g))


# ---------------------------------------------------------------- 3. power and the 11-per-group claim

def power(run: Run, claim: Run, null: Run, reps: int, out: Path) -> Section:
    """The whole design's rejection rate over true HR x patients per group (mechanisms off and
    on); the exact power of the paper's "40% vs 0% at 11 per group" comparison, and what it
    becomes with the share alive at the end that the simulated world actually gives; and
    how many patients it takes to tell the paper's responder rate from the rate the
    +-3-point rule gives without any effect."""
    from simkit.report import plots
    from simkit.paper.power import TESTS, approx_power, exact_power, sample_size
    from simkit.report.summary import flat
    paper = _paper()
    pc, p_p = paper["power_claim"], paper["progression"]
    ds = run.summary
    sec = Section("3. Power of the whole design, and the paper's 11-per-group claim")
    plots.curves_plot(ds, out / "fig4_power.png", "rejection", x="design_n_treated", colour="treatment_hr",
                      style="mechanisms", names={"treatment_hr": "HR"}, log_x=True,
                      hlines=[(0.05, "grey"), (0.9, "#c0392b")], note=(11, 0.915, "the paper's claim: 90% at 11 "
                                                                                   "per group"),
                      xlabel="treated patients enrolled per group (log scale)",
                      ylabel="rejection rate, Cox Wald p <= 0.05",
                      title="Power of the whole design (error bars: +-1.96 MCSE)")
    sec.figure("fig4_power.png", "Figure 4. Rejection rate (Cox Wald, alpha 0.05) against treated "
                                 "patients per group, per true HR; mechanisms off (solid) and on (dashed).")
    mech, hr, n_t = (flat(ds, d) for d in ("mechanisms", "treatment_hr", "design_n_treated"))
    rows = [[str(mech[c]), f"{hr[c]:g}", int(n_t[c]), fmt(run.m("rejection", c)), fmt(run.m("match_rate", c))]
            for c in range(ds["condition"].size) if n_t[c] in (11, 67)]
    sec.table(["mechanisms", "true HR", "n per group", "rejection rate", "match rate"], rows)
    prow = [[t, f"{exact_power(pc['p_treated'], pc['p_reference'], 11, test=t):.3f}",
             f"{exact_power(pc['p_treated'], pc['p_reference'], 67, test=t):.6f}"] for t in TESTS]
    prow.append(["normal approximation (arcsine)", f"{approx_power(pc['p_treated'], pc['p_reference'], 11):.3f}",
                 f"{approx_power(pc['p_treated'], pc['p_reference'], 67):.6f}"])
    sec.text(f"The paper: \"{pc['text']}\" (claimed {pc['power']:.0%} at 11 per group, "
             f"{pc['power_full']:.0%} at 67). Exact two-sided power at alpha {pc['alpha']} (`simkit power`):")
    sec.table(["test", "power at 11 per group", "power at 67 per group"], prow)

    n_alive = max(20, min(200, int(reps * 0.05)))
    c0 = int(claim.summary["condition"].sel(design_n_treated=67, treatment_hr=1.0))
    ta, ra = _alive_at_end(claim.study, c0, n_alive)
    p0 = ra.estimate
    realistic = [[t, f"{exact_power(pc['p_treated'], p0, 11, test=t):.3f}",
                  f"{exact_power(pc['p_treated'], p0, 67, test=t):.3f}"] for t in ("fisher", "chi2", "boschloo")]
    sec.text(f"What the end-of-observation comparison ignores: in the seed world under the null "
             f"({n_alive} replicates of 67 pairs), the share alive at the end of observation is "
             f"{fmt(ta, pct=True)} among the treated and {fmt(ra, pct=True)} among the references "
             "(not 0%): follow-up differs between the arms (registry survival follow-up ends with "
             "the trial for many; treated are censored at the last survival update), so 'alive at the "
             "end' mixes survival with length of follow-up. With the world's reference proportion "
             f"{100 * p0:.1f}% instead of 0%, the power to detect 40% vs {100 * p0:.1f}% is:")
    sec.table(["test", "power at 11 per group", "power at 67 per group"], realistic)

    rr = _responder_rate(null.store)
    p_resp = p_p["n_decreased"] / 67
    q0 = rr.estimate
    ss = []
    approx = {pw: _normal_n(p_resp, q0, pw) for pw in (0.8, 0.9)}
    for t in ("fisher", "chi2"):
        row = [t]
        for pw in (0.8, 0.9):
            if approx[pw] > 1.5 * 2000:
                # the exact scan would enumerate every table up to 2000 per group (minutes):
                # when the normal approximation needs far more, say so instead
                row.append(f"> 2000 (normal approximation: {approx[pw]:,.0f})")
            else:
                r = sample_size(p_resp, q0, pw, test=t)
                row.append(r.n_first if r.n_first is not None else "> 2000")
        ss.append(row + [f"{exact_power(p_resp, q0, 67, test=t):.3f}"])
    sec.text("Responders without treatment: in the null world with all mechanisms off, the share of "
             f"pairs classed 'decreased progression' (the paper's responders) is {fmt(rr, pct=True)}. "
             f"To tell the paper's {100 * p_resp:.1f}% responders from that rate, two independent "
             "groups would need (exact two-sided power, alpha 0.05):")
    sec.table(["test", "n per group for 80%", "n per group for 90%", "power at 67 per group"], ss)
    return sec


def _normal_n(p1, p0, power, alpha=0.05):
    """n per group of the normal approximation for two proportions (unpooled), inf if equal."""
    from scipy.stats import norm
    if p1 == p0:
        return math.inf
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return z * z * (p1 * (1 - p1) + p0 * (1 - p0)) / (p1 - p0) ** 2


def _alive_at_end(study, c, n_reps):
    """Share alive (censored) at the end of observation per arm, from the replicates' tables."""
    from simkit.design.replicate import replicate_data
    from simkit.runner.grid import design_of
    from simkit.report.measures import mean
    sc = study.conditions[c].scenario
    th, d = sc.theta(), design_of(sc)
    t_alive, r_alive, ks = [], [], []
    for k in range(n_reps):
        tab = replicate_data(th, d, study.seed, study.key_condition(c), k).table
        if tab.n_pairs == 0:
            continue
        ks.append(k)
        t_alive.append(np.mean(tab.event[:, 0] == 0))
        r_alive.append(np.mean(tab.event[:, 1] == 0))
    g = np.array(ks) // d.pool_block_size if d.pool_policy == "block" else None
    return mean(np.array(t_alive), "treated_alive", g), mean(np.array(r_alive), "reference_alive", g)


def _responder_rate(store, c=0):
    """Share of pairs classed 'decreased' in condition c (MCSE over registries)."""
    from simkit.report.measures import mean
    from simkit.runner.store import read_fields
    from simkit.report.summary import registry_clusters
    attrs, dd = read_fields(store, ["n_decreased", "n_no_change", "n_increased"])
    tot = dd["n_decreased"][c] + dd["n_no_change"][c] + dd["n_increased"][c]
    return mean(np.where(tot > 0, dd["n_decreased"][c] / np.where(tot > 0, tot, 1), np.nan), "resp",
                registry_clusters(attrs, c, tot.shape[0])[0])


# ---------------------------------------------------------------- 4. caliper

def caliper(run: Run, out: Path) -> Section:
    """The design under the null over the pre-slope caliper and the analyst's choice among
    matching candidates: whether the answer depends on a tolerance the paper does not report."""
    from simkit.report import plots
    from simkit.report.summary import flat
    ds = run.summary
    sec = Section("4. Robustness to the matching tolerance (true HR 1)")
    plots.panels_plot(ds, out / "fig5_caliper.png",
                      [("hr_q0.5", "median HR reported (truth 1)", 1.0, None),
                       ("match_rate", "share of treated matched", None, (0, 1.02))],
                      x="caliper", group="match_choice", xlabel="pre-slope caliper (ALSFRS-R points/month)",
                      title="Robustness to the matching tolerance")
    sec.figure("fig5_caliper.png", "Figure 5. Median HR and share of treated matched against the "
                                   "pre-slope caliper (ALSFRS-R points/month), per match choice.")
    cal, choice = flat(ds, "caliper"), flat(ds, "match_choice")
    rows = [[f"{cal[c]:g}", str(choice[c])] + [fmt(run.m(k, c)) for k in
                                               ("hr_q0.5", "bias", "empirical_se", "coverage", "match_rate",
                                                "degenerate_cox")]
            for c in range(ds["condition"].size)]
    sec.text("HR summaries rest on the replicates with a finite Cox estimate; where the last column "
             "is large (the analyst who takes the worst-outcome reference often leaves no reference "
             "death while a treated patient is at risk: no finite maximum), they describe a selected "
             f"subset. {_null_note(ds)}")
    sec.table(["caliper (points/month)", "match choice", "HR median", "bias log HR", "empirical SE", "coverage",
               "match rate", "Cox not estimable"], rows)
    return sec


def remedies(run: Run, out: Path) -> Section:
    """What the design would have reported had the analyst also matched on what it left
    unmatched (disease duration, delta-FS, the baseline total), under the null in the seed
    world; the rows share their random numbers, so changes are paired."""
    from simkit.report import plots
    from simkit.report.summary import flat
    ds = run.summary
    labels = flat(ds, "label")
    paired, _u = _paired_changes(run.store)
    sec = Section("4b. Design-side remedies (true HR 1, the seed world)")
    sec.text("Each row adds one remedy to the published design: the references must also lie within a "
             "caliper of the treated patient's disease duration at time zero (months since onset), of its "
             "delta-FS ((48 - baseline total) / duration, points/month), or have the same baseline total "
             "(`remedies.toml`; the `caliper_duration`, `caliper_delta_fs` and `caliper_total` choices). The "
             "last row is the fair construction of the treated, for comparison. A remedy removes only the "
             "bias that runs through its variable: where that bias worked against the treatment (time-zero "
             "misalignment does here), removing it can move the HR further from 1. Fewer treated find a "
             f"partner; the match rate says how many. {_null_note(ds)}")
    rows = []
    for c, (label, change) in enumerate(zip(labels, paired)):
        m = lambda name: run.m(name, c)  # noqa: E731
        rows.append([str(label), fmt(m("hr_q0.5")), fmt(change), fmt(m("coverage")), fmt(m("match_rate")),
                     fmt(m("p_extreme_hr_and_p"))])
    sec.table(["design", "HR median", "change of log HR vs as published (paired)", "coverage",
               "match rate", "P(HR<=0.30 & p<=0.0004)"], rows)
    plots.hr_interval_plot(ds, out / "fig6_remedies.png", "label", _paper()["survival"]["hr"],
                           title="Design-side remedies under the null (seed world)")
    sec.figure("fig6_remedies.png", "Figure 6. Median HR (with 95% MCSE band) the design reports under the null "
                                    "with each remedy.")
    return sec


# ---------------------------------------------------------------- 5. claims

# claim id -> the summary measure of a result at least as extreme as the paper's
CLAIM_MEASURES = {"survival.hr": "p_extreme_hr_and_p", "progression.decreased_pct": "p_extreme_n_decreased_ge_21",
                  "survival.median_ratio": "p_extreme_median_ratio_ge_paper",
                  "progression.signed_rank_p": "p_extreme_signed_rank_p", "progression.ols_p": "p_extreme_ols_p"}


def claims_ledger(runs: dict) -> Section:
    """Every quantitative claim of the paper, what its own numbers imply (simkit.paper.claims), and
    where a simulated world speaks to it, how probable a result as extreme is in that world."""
    from simkit.paper import claims as C
    sec = Section("5. Claims ledger")
    recs = C.to_records(C.ledger())
    recs = C.attach_probabilities(recs, claim_probabilities(runs)) or recs
    rows = []
    for r in recs:
        pw_ = r.get("probability_in_worlds") or {}
        ptxt = "; ".join(f"{w}: {v['p']:.3g} ({v['mcse']:.2g})" for w, v in pw_.items()) if pw_ else ""
        rows.append([r["id"], r["where"], r["claim"], num(r["reported"]), num(r["recomputed"]),
                     r["verdict"], num(r.get("difference")), ptxt])
    counts = {}
    for r in recs:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    sec.text("Every quantitative claim, what the paper's own numbers imply, and (where a world "
             "can speak to it) how probable the reported result is in each simulated world. "
             "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".")
    sec.table(["id", "where", "claim", "reported", "recomputed", "verdict", "difference",
               "P(as extreme) in worlds (MCSE)"], rows)
    return sec


def claim_probabilities(runs: dict) -> dict:
    """{claim id: {world: (p, mcse)}}: P(a result at least as extreme as the paper's) in the seed
    world and the null world with all mechanisms off (its first row) and on (its last)."""
    null = runs["null-world"]
    last = null.summary["condition"].size - 1
    worlds = {"seed world": (runs["seed-design"], 0), "null, all mechanisms off": (null, 0),
              "null, all mechanisms on": (null, last)}
    out = {}
    for cid, name in CLAIM_MEASURES.items():
        out[cid] = {}
        for w, (run, c) in worlds.items():
            m = run.m(name, c)
            if np.isfinite(m.estimate):
                out[cid][w] = (m.estimate, m.mcse if np.isfinite(m.mcse) else 0.0)
    return out


# ---------------------------------------------------------------- the report

def write(out, sections, paths, reps, elapsed, citation):
    from simkit import __version__
    from simkit.runner.grid import git_revision
    from simkit.report.writer import write_report
    head = (f"simkit {__version__} (git {git_revision()[:12]}); command: `simkit audit --out {out} --reps {reps}`; "
            f"scenarios: {', '.join(p.name for p in paths.values())}; run time {elapsed:.0f} s. "
            "Numbers are estimate (Monte Carlo SE).")
    write_report(out, "simkit audit of the seed design", [f"Seed paper: {citation}.", head], sections)
