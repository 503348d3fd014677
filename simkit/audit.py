"""`simkit audit`: the seed design audited in simulated worlds where the truth is known.

Runs the scenario files of the four questions (DESIGN.md section 1) into stores
under DIR/stores (re-running resumes), summarises them with Monte Carlo SEs, and
writes DIR/report.md, DIR/report.html and the figures.  Every number in the report
comes from these runs or from exact computation, with the command in the report.
"""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

# replicates per condition as a share of --reps (the seed world gets --reps itself)
SHARES = {"seed-design": 1.0, "null-world": 0.5, "power": 0.25, "caliper": 0.125, "claim-11-per-group": 0.5}
DEFAULT_REPS = 5000


def scenario_dir() -> Path:
    """The shipped scenarios: simkit/scenarios, a link to the clone's top-level
    scenarios/ folder, copied into the wheel, so a plain install has them too."""
    d = Path(__file__).resolve().parent / "scenarios"
    if not d.is_dir():
        raise InputError("SCENARIO", f"the default scenarios folder {d} is missing; pass a scenario file, "
                                     "e.g. simkit audit path/to/seed-design.toml")
    return d


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) | ("table", header, rows) | ("img", file, caption)


def _fmt(m, digits=3, pct=False):
    """'estimate (MCSE)' from a Measure dict."""
    if m is None or m.get("estimate") is None:
        return "-"
    e, s = m["estimate"], m.get("mcse")
    # an MCSE that cannot be estimated (e.g. fewer than 2 registries) is shown as "n/a"
    if pct:
        return f"{100 * e:.1f}% ({100 * s:.1f})" if s is not None else f"{100 * e:.1f}% (n/a)"
    return f"{e:.{digits}g} ({s:.2g})" if s is not None else f"{e:.{digits}g} (n/a)"


def _run(name, path, out_dir, reps, jobs, progress, log):
    from .grid import build_job, load_study
    from .montecarlo import run as mc_run
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
    return study, store


def _alive_at_end(study, c, n_reps):
    """Share alive (censored) at the end of observation per arm, from the replicates' tables."""
    from .design import replicate_data
    from .grid import design_of
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
    t_alive, r_alive = np.array(t_alive), np.array(r_alive)
    from .performance import mean
    g = np.array(ks) // d.block_size if d.pool_policy == "block" else None
    return mean(t_alive, "treated_alive", g).to_dict(), mean(r_alive, "reference_alive", g).to_dict()


def run_audit(scenario=None, out="audit-report", reps=DEFAULT_REPS, jobs=None, progress=None, log=print):
    from . import plots
    from .performance import summarize_store
    from .seedpaper import reported

    if reps < 20:
        raise InputError("--reps", f"expected an integer >= 20, got {reps}")
    t_start = time.perf_counter()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError("--out", f"cannot create {out}: {e.strerror or e}") from None
    sdir = scenario_dir() if scenario is None else None
    paths = {
        "seed-design": Path(scenario) if scenario else sdir / "seed-design.toml",
    }
    base_dir = Path(paths["seed-design"]).parent
    for name in ("null-world", "power", "caliper", "claim-11-per-group"):
        paths[name] = base_dir / f"{name}.toml"
        if not paths[name].exists():
            raise InputError(str(paths[name]), "scenario file missing: the audit needs it beside the seed scenario")
    log(f"simkit audit: {reps} replicates in the seed world (others scaled), stores in {out / 'stores'}")
    studies, stores, summ = {}, {}, {}
    for name, p in paths.items():
        studies[name], stores[name] = _run(name, p, out, reps, jobs, progress, log)
        summ[name] = summarize_store(stores[name])
    paper = reported()
    s_p, p_p = paper["survival"], paper["progression"]
    sections = []

    # ---------------------------------------------------------------- Q1 headline
    seed = summ["seed-design"]["conditions"][0]
    sd_study = studies["seed-design"]
    hr_true = sd_study.base.treatment["hr"]
    sec = Section("1. What the seed design reports in its default world")
    sec.blocks.append(("p", f"MCSEs: {seed['mcse_note']}."))
    sec.blocks.append(("p", f"World: `{paths['seed-design'].name}` ({sd_study.base.description}). True conditional "
                            f"HR {hr_true:g}, true marginal HR {math.exp(seed['truth']['marginal_log_hr']):.3f}. "
                            f"{seed['n_replicates']} replicates of the whole design: 67 treated enrolled, matched 1:1 "
                            "to a 10,000-patient registry, classified, and analysed as the paper did."))
    vc = seed["vs_conditional"]
    pe = seed["p_as_extreme_as_paper"]
    mc = seed["mean_classes"]
    rows = [
        ["HR, median (MCSE)", _fmt(seed["hr_quantiles"]["q0.5"]), f"{s_p['hr']}"],
        ["HR, 2.5% and 97.5% quantiles", f"{_fmt(seed['hr_quantiles']['q0.025'])} / {_fmt(seed['hr_quantiles']['q0.975'])}", f"CI {s_p['hr_ci_low']}-{s_p['hr_ci_high']}"],
        ["bias of log HR", _fmt(vc["bias"]), "-"],
        ["coverage of the 95% CI", _fmt(vc.get("coverage")), "0.95 if fair"],
        ["rejection rate, Cox Wald p <= 0.05", _fmt(vc.get("rejection")), "0.05 if fair and HR 1"],
        ["rejection rate, smallest p of 5 survival tests", _fmt(seed["rejection_min_of_5_tests"]), "-"],
        ["P(HR <= 0.30 and p <= 0.0004)", _fmt(pe["hr_and_p"]), "observed"],
        ["P(HR <= 0.30)", _fmt(pe["hr"]), "observed"],
        [f"P(>= {p_p['n_decreased']} 'decreased' of 67)", _fmt(pe["n_decreased_ge_21"]), "observed"],
        ["P(median ratio >= 1183/640)", _fmt(pe["median_ratio_ge_paper"]), "observed"],
        ["mean decreased / no change / increased",
         f"{_fmt(mc['n_decreased'])} / {_fmt(mc['n_no_change'])} / {_fmt(mc['n_increased'])}",
         f"{p_p['n_decreased']} / {p_p['n_no_change']} / {p_p['n_increased']}"],
        ["share of treated matched", _fmt(seed["match_rate"]), "67 of 67"],
    ]
    sec.blocks.append(("table", ["quantity", "simulated: estimate (MCSE)", "seed paper"], rows))
    plots.hist_plot(stores["seed-design"], out / "fig1_hr_seed_world.png")
    sec.blocks.append(("img", "fig1_hr_seed_world.png",
                       "Figure 1. The HR the design reports in the seed world, over replicates; the paper's 0.30 in red."))
    sections.append(sec)

    # ---------------------------------------------------------------- decomposition
    nw = summ["null-world"]["conditions"]
    paired, nw_u = _paired_changes(stores["null-world"])
    sec = Section("2. Selection-bias decomposition under the null (true HR 1)")
    sec.blocks.append(("p", "Each row runs the same design in the world of `null-world.toml` with the bias mechanisms "
                            "all off, one at a time at its default magnitude, or all together. Under the null every "
                            "departure of the HR from 1 is bias. The rows share their patients and registries "
                            "(common random numbers), so each row's change of log HR against 'all world mechanisms "
                            "off' is a paired difference with its own MCSE. 'All off' is not free of bias: the design "
                            "takes the reference baseline at trial month 6, which selects registry patients who "
                            "survived and stayed 6 months in the trial (their latent prognosis is better than the "
                            "treated patients' they are matched to: mean u "
                            f"{_fmt(nw_u[0])} vs {_fmt(nw_u[1])})."))
    rows = []
    for c, dl in zip(nw, paired):
        rows.append([c["coords"].get("label", str(c["condition"])), _fmt(c["hr_quantiles"]["q0.5"]), _fmt(dl),
                     _fmt(c["vs_conditional"]["bias"]), _fmt(c["vs_conditional"].get("rejection")),
                     _fmt(c["p_as_extreme_as_paper"]["hr_and_p"]),
                     f"{_fmt(c['mean_classes']['n_decreased'])} / {_fmt(c['mean_classes']['n_increased'])}",
                     _fmt(c["p_as_extreme_as_paper"]["n_decreased_ge_21"])])
    sec.blocks.append(("table", ["world", "HR median", "change of log HR vs all off (paired)", "bias log HR",
                                 "rejection (alpha 0.05)",
                                 "P(HR<=0.30 & p<=0.0004)", "decreased / increased", "P(>=21 decreased)"], rows))
    _decomposition_plot(nw, out / "fig2_decomposition.png", s_p["hr"])
    sec.blocks.append(("img", "fig2_decomposition.png",
                       "Figure 2. Median HR (with 95% MCSE band) the design reports per mechanism under the null."))
    plots.hist_plot(stores["null-world"], out / "fig3_hr_null_worlds.png", conditions=[0, len(nw) - 1])
    sec.blocks.append(("img", "fig3_hr_null_worlds.png",
                       "Figure 3. HR distributions under the null: all mechanisms off vs all together."))
    sections.append(sec)

    # ---------------------------------------------------------------- power
    pw = summ["power"]["conditions"]
    sec = Section("3. Power of the whole design, and the paper's 11-per-group claim")
    _power_plot(pw, out / "fig4_power.png")
    sec.blocks.append(("img", "fig4_power.png", "Figure 4. Rejection rate (Cox Wald, alpha 0.05) against treated "
                                                  "patients per group, per true HR; mechanisms off (solid) and on (dashed)."))
    rows = []
    for c in pw:
        co = c["coords"]
        if co.get("design.n_treated") in (11, 67):
            rows.append([co["mechanisms"], f"{co['treatment.hr']:g}", co["design.n_treated"],
                         _fmt(c["vs_conditional"].get("rejection")), _fmt(c["match_rate"])])
    sec.blocks.append(("table", ["mechanisms", "true HR", "n per group", "rejection rate", "match rate"], rows))
    from .power import TESTS, approx_power, exact_power
    pc = paper["power_claim"]
    prow = [[t, f"{exact_power(pc['p_treated'], pc['p_reference'], 11, test=t):.3f}",
             f"{exact_power(pc['p_treated'], pc['p_reference'], 67, test=t):.6f}"] for t in TESTS]
    prow.append(["normal approximation (arcsine)",
                 f"{approx_power(pc['p_treated'], pc['p_reference'], 11):.3f}",
                 f"{approx_power(pc['p_treated'], pc['p_reference'], 67):.6f}"])
    sec.blocks.append(("p", f"The paper: \"{pc['text']}\" (claimed {pc['power']:.0%} at 11 per group, "
                            f"{pc['power_full']:.0%} at 67). Exact two-sided power at alpha {pc['alpha']} "
                            "(`simkit power`):"))
    sec.blocks.append(("table", ["test", "power at 11 per group", "power at 67 per group"], prow))
    cs = studies["claim-11-per-group"]
    n_alive = max(20, min(200, int(reps * 0.05)))
    c0 = next(c.index for c in cs.conditions if c.coords["design.n_treated"] == 67 and c.coords["treatment.hr"] == 1.0)
    ta, ra = _alive_at_end(cs, c0, n_alive)
    p0 = ra["estimate"]
    realistic = [[t, f"{exact_power(pc['p_treated'], p0, 11, test=t):.3f}",
                  f"{exact_power(pc['p_treated'], p0, 67, test=t):.3f}"] for t in ("fisher", "chi2", "boschloo")]
    sec.blocks.append(("p", f"What the end-of-observation comparison ignores: in the seed world under the null "
                            f"({n_alive} replicates of 67 pairs), the share alive at the end of observation is "
                            f"{_fmt(ta, pct=True)} among the treated and {_fmt(ra, pct=True)} among the references "
                            "(not 0%): follow-up differs between the arms (registry survival follow-up ends with "
                            "the trial for many; treated are censored at the last survival update), so 'alive at the "
                            "end' mixes survival with length of follow-up. With the world's reference proportion "
                            f"{100 * p0:.1f}% instead of 0%, the power to detect 40% vs {100 * p0:.1f}% is:"))
    sec.blocks.append(("table", ["test", "power at 11 per group", "power at 67 per group"], realistic))
    # Q2(c): responders by the +-3-point rule arise without any effect
    from .performance import mean as _mean
    from .power import sample_size
    from .store import read_fields
    from .performance import registry_clusters
    nw_attrs, dd = read_fields(stores["null-world"], ["n_decreased", "n_no_change", "n_increased"])
    tot = dd["n_decreased"][0] + dd["n_no_change"][0] + dd["n_increased"][0]
    rr = _mean(np.where(tot > 0, dd["n_decreased"][0] / np.where(tot > 0, tot, 1), np.nan), "resp",
               registry_clusters(nw_attrs, 0, tot.shape[0])[0]).to_dict()
    p_resp = p_p["n_decreased"] / 67
    q0 = rr["estimate"]
    ss = []
    for t in ("fisher", "chi2"):
        a, b = sample_size(p_resp, q0, 0.8, test=t), sample_size(p_resp, q0, 0.9, test=t)
        ss.append([t, a.n_first if a.n_first is not None else "> 2000", b.n_first if b.n_first is not None else "> 2000",
                   f"{exact_power(p_resp, q0, 67, test=t):.3f}"])
    sec.blocks.append(("p", "Responders without treatment: in the null world with all mechanisms off, the share of "
                            f"pairs classed 'decreased progression' (the paper's responders) is {_fmt(rr, pct=True)}. "
                            f"To tell the paper's {100 * p_resp:.1f}% responders from that rate, two independent "
                            "groups would need (exact two-sided power, alpha 0.05):"))
    sec.blocks.append(("table", ["test", "n per group for 80%", "n per group for 90%", "power at 67 per group"], ss))
    sections.append(sec)

    # ---------------------------------------------------------------- caliper
    cal = summ["caliper"]["conditions"]
    sec = Section("4. Robustness to the matching tolerance (true HR 1)")
    _caliper_plot(cal, out / "fig5_caliper.png")
    sec.blocks.append(("img", "fig5_caliper.png", "Figure 5. Median HR and share of treated matched against the "
                                                    "pre-slope caliper (ALSFRS-R points/month), per match choice."))
    rows = [[f"{c['coords']['caliper']:g}", c["coords"]["match_choice"], _fmt(c["hr_quantiles"]["q0.5"]),
             _fmt(c["vs_conditional"]["bias"]), _fmt(c["vs_conditional"]["empirical_se"]),
             _fmt(c["vs_conditional"].get("coverage")), _fmt(c["match_rate"]), _fmt(c["degenerate_cox"])]
            for c in cal]
    sec.blocks.append(("p", "HR summaries rest on the replicates with a finite Cox estimate; where the last column "
                            "is large (the analyst who takes the worst-outcome reference often leaves no reference "
                            "death while a treated patient is at risk: no finite maximum), they describe a selected "
                            "subset."))
    sec.blocks.append(("table", ["caliper (points/month)", "match choice", "HR median", "bias log HR",
                                 "empirical SE", "coverage", "match rate", "Cox not estimable"], rows))
    sections.append(sec)

    # ---------------------------------------------------------------- claims
    sec = Section("5. Claims ledger")
    try:
        from . import claims as C
    except ImportError:
        C = None
    if C is None:
        sec.blocks.append(("p", "The claims ledger (`simkit claims`) is not available in this version."))
    else:
        recs = C.to_records(C.ledger())
        probs = _claim_probabilities(summ)
        if hasattr(C, "attach_probabilities"):
            recs = C.attach_probabilities(recs, probs) or recs
        rows = []
        for r in recs:
            pw_ = r.get("probability_in_worlds") or {}
            ptxt = "; ".join(f"{w}: {v['p']:.3g} ({v['mcse']:.2g})" for w, v in pw_.items()) if pw_ else ""
            rows.append([r["id"], r["where"], r["claim"], _num(r["reported"]), _num(r["recomputed"]),
                         r["verdict"], _num(r.get("difference")), ptxt])
        counts = {}
        for r in recs:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        sec.blocks.append(("p", "Every quantitative claim, what the paper's own numbers imply, and (where a world "
                                "can speak to it) how probable the reported result is in each simulated world. "
                                "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + "."))
        sec.blocks.append(("table", ["id", "where", "claim", "reported", "recomputed", "verdict", "difference",
                                     "P(as extreme) in worlds (MCSE)"], rows))
    sections.append(sec)

    elapsed = time.perf_counter() - t_start
    _write_report(out, sections, paths, reps, elapsed)
    log("")
    log("Headline (seed world, estimate (MCSE)):")
    log(f"  HR median {_fmt(seed['hr_quantiles']['q0.5'])} vs the paper's {s_p['hr']}; "
        f"P(HR<=0.30 & p<=0.0004) = {_fmt(pe['hr_and_p'])}")
    log(f"  classes {_fmt(mc['n_decreased'])} / {_fmt(mc['n_no_change'])} / {_fmt(mc['n_increased'])} "
        f"vs the paper's 21 / 33 / 13; P(>=21 decreased) = {_fmt(pe['n_decreased_ge_21'])}")
    log(f"  type I error of the Cox test {_fmt(vc.get('rejection'))}; smallest of 5 tests "
        f"{_fmt(seed['rejection_min_of_5_tests'])}")
    fisher11 = exact_power(pc["p_treated"], pc["p_reference"], 11, test="fisher")
    log(f"  exact power at 11 per group, 40% vs 0%: Fisher {fisher11:.3f} (claimed 0.90)")
    log(f"report: {out / 'report.md'} and {out / 'report.html'} ({elapsed:.0f} s)")
    return {"out": str(out), "seconds": elapsed, "summaries": summ}


def _num(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else "-"
    return str(x)


def _paired_changes(store):
    """Per condition: mean (MCSE) of log HR minus condition 0's, over replicates where both exist
    (conditions share their random numbers); and condition 0's mean u, treated vs reference."""
    from .performance import mean, registry_clusters
    from .store import read_fields
    attrs, d = read_fields(store, ["log_hr", "mean_u_treated", "mean_u_reference"])
    base = d["log_hr"][0]
    n = base.shape[0]
    out = [mean(d["log_hr"][c] - base, "paired_change", registry_clusters(attrs, c, n)[0]).to_dict()
           for c in range(d["log_hr"].shape[0])]
    g = registry_clusters(attrs, 0, n)[0]
    return out, (mean(d["mean_u_reference"][0], "u_ref", g).to_dict(), mean(d["mean_u_treated"][0], "u_t", g).to_dict())


def _claim_probabilities(summ):
    """{claim id: {world: (p, mcse)}}: P(a result at least as extreme as the paper's) per world,
    for the claims a simulated world speaks to (claims.WORLD_EVENTS)."""
    nw = summ["null-world"]["conditions"]
    worlds = {"seed world": summ["seed-design"]["conditions"][0], "null, all mechanisms off": nw[0],
              "null, all mechanisms on": nw[-1]}
    keys = {"survival.hr": "hr_and_p", "progression.decreased_pct": "n_decreased_ge_21",
            "survival.median_ratio": "median_ratio_ge_paper", "progression.signed_rank_p": "signed_rank_p",
            "progression.ols_p": "ols_p"}
    out = {}
    for cid, key in keys.items():
        out[cid] = {}
        for w, c in worlds.items():
            m = c["p_as_extreme_as_paper"][key]
            if m["estimate"] is not None:
                out[cid][w] = (m["estimate"], m["mcse"] if m["mcse"] is not None else 0.0)
    return out


def _decomposition_plot(conds, path, paper_hr):
    from .plots import _hr_ticks, _plt
    plt = _plt()
    labels = [c["coords"].get("label", str(c["condition"])) for c in conds]
    med = np.array([c["hr_quantiles"]["q0.5"]["estimate"] or np.nan for c in conds])
    err = np.array([c["hr_quantiles"]["q0.5"]["mcse"] or 0 for c in conds])
    lo = np.array([c["hr_quantiles"]["q0.025"]["estimate"] or np.nan for c in conds])
    hi = np.array([c["hr_quantiles"]["q0.975"]["estimate"] or np.nan for c in conds])
    y = np.arange(len(conds))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(conds) + 1.5))
    ax.hlines(y, lo, hi, color="#9ab8d6", lw=4, label="2.5%-97.5% of replicates")
    ax.errorbar(med, y, xerr=1.96 * err, fmt="o", color="#1b6ca8", label="median (+-1.96 MCSE)")
    ax.axvline(1.0, color="black", lw=1, label="truth (HR 1)")
    ax.axvline(paper_hr, color="#c0392b", lw=1.5, label=f"paper HR {paper_hr}")
    ax.set_xscale("log")
    ax.set_xlim(min(0.2, np.nanmin(lo) * 0.9), max(2.5, np.nanmax(hi) * 1.1))
    _hr_ticks(ax)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("hazard ratio reported by the design (log scale)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Bias decomposition under the null: each mechanism alone and all together", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _power_plot(conds, path):
    from .plots import _plt
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    hrs = sorted({c["coords"]["treatment.hr"] for c in conds})
    colors = ["#c0392b", "#e67e22", "#27ae60", "#1b6ca8", "#8e44ad", "#7f8c8d"][:len(hrs)]
    for mech, ls in (("off", "-"), ("on", "--")):
        for h, col in zip(hrs, colors):
            cc = sorted((c for c in conds if c["coords"]["mechanisms"] == mech and c["coords"]["treatment.hr"] == h),
                        key=lambda c: c["coords"]["design.n_treated"])
            n = [c["coords"]["design.n_treated"] for c in cc]
            r = np.array([c["vs_conditional"]["rejection"]["estimate"] for c in cc], dtype=float)
            e = np.array([c["vs_conditional"]["rejection"]["mcse"] for c in cc], dtype=float)
            ax.errorbar(n, r, yerr=1.96 * e, ls=ls, color=col, marker="o", ms=3, capsize=2,
                        label=f"HR {h:g}, mechanisms {mech}")
    ax.axhline(0.05, color="grey", lw=0.8, ls=":")
    ax.axhline(0.9, color="#c0392b", lw=0.8, ls=":")
    ax.axvline(11, color="#c0392b", lw=0.8, ls=":")
    ax.text(11, 0.915, " the paper's claim: 90% at 11 per group", color="#c0392b", fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks([11, 20, 40, 67, 100, 200])
    ax.set_xticklabels(["11", "20", "40", "67", "100", "200"])
    ax.set_xlabel("treated patients enrolled per group (log scale)")
    ax.set_ylabel("rejection rate, Cox Wald p <= 0.05")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=6.5, ncol=2, loc="center right")
    ax.set_title("Power of the whole design (error bars: +-1.96 MCSE)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _caliper_plot(conds, path):
    from .plots import _plt
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for choice, col in zip(("nearest", "random", "worst"), ("#1b6ca8", "#27ae60", "#c0392b")):
        cc = sorted((c for c in conds if c["coords"]["match_choice"] == choice), key=lambda c: c["coords"]["caliper"])
        if not cc:
            continue
        x = [c["coords"]["caliper"] for c in cc]
        m = np.array([c["hr_quantiles"]["q0.5"]["estimate"] for c in cc], dtype=float)
        e = np.array([c["hr_quantiles"]["q0.5"]["mcse"] for c in cc], dtype=float)
        a1.errorbar(x, m, yerr=1.96 * e, color=col, marker="o", capsize=2, label=choice)
        r = np.array([c["match_rate"]["estimate"] for c in cc], dtype=float)
        a2.plot(x, r, color=col, marker="o", label=choice)
    a1.axhline(1.0, color="black", lw=0.8)
    a1.set_xlabel("pre-slope caliper (ALSFRS-R points/month)")
    a1.set_ylabel("median HR reported (truth 1)")
    a1.legend(title="match choice", fontsize=8)
    a2.set_xlabel("pre-slope caliper (ALSFRS-R points/month)")
    a2.set_ylabel("share of treated matched")
    a2.set_ylim(0, 1.02)
    fig.suptitle("Robustness to the matching tolerance", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _md_table(header, rows):
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _write_report(out, sections, paths, reps, elapsed):
    from . import __version__
    from .grid import git_revision
    from .seedpaper import citation
    head = (f"simkit {__version__} (git {git_revision()[:12]}); command: `simkit audit --out {out} --reps {reps}`; "
            f"scenarios: {', '.join(p.name for p in paths.values())}; run time {elapsed:.0f} s. "
            "Numbers are estimate (Monte Carlo SE).")
    md = ["# simkit audit of the seed design", "", f"Seed paper: {citation()}.", "", head, ""]
    body = [f"<h1>simkit audit of the seed design</h1><p>Seed paper: {html.escape(citation())}.</p>"
            f"<p>{html.escape(head)}</p>"]
    for s in sections:
        md += [f"## {s.title}", ""]
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if b[0] == "p":
                md += [b[1], ""]
                body.append(f"<p>{html.escape(b[1])}</p>")
            elif b[0] == "table":
                md += [_md_table(b[1], b[2]), ""]
                body.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1]) + "</tr>"
                            + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                                      for r in b[2]) + "</table>")
            elif b[0] == "img":
                md += [f"![{b[2]}]({b[1]})", "", f"*{b[2]}*", ""]
                body.append(f'<figure><img src="{html.escape(b[1])}" style="max-width:100%">'
                            f"<figcaption>{html.escape(b[2])}</figcaption></figure>")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
             "th{background:#f0f0f0}figcaption{font-size:13px;color:#444}")
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>simkit audit</title>"
                                     f"<style>{style}</style></head><body>{''.join(body)}</body></html>",
                                     encoding="utf-8")
