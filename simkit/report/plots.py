"""Figures: Kaplan-Meier curves, response classes, and the Monte Carlo plots of stores and summaries.

Matplotlib with the Agg backend, so figures render on a machine without a screen.
"""
from __future__ import annotations

import numpy as np


def pyplot():
    """pyplot, on the file-only Agg backend unless the user already chose one
    (a notebook's inline backend must survive our plotting calls)."""
    import sys

    import matplotlib
    if "matplotlib.pyplot" not in sys.modules and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def km_step(time, event):
    """Step-function coordinates (x, y) of the KM curve, starting at (0, 1)."""
    from simkit.kernels.km import km_curve
    t, n_risk, d, c, s = km_curve(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.int64))
    x = np.concatenate([[0.0], t])
    y = np.concatenate([[1.0], s])
    return x, y


def at_risk(time, grid):
    time = np.asarray(time, dtype=float)
    return [int(np.sum(time >= g)) for g in grid]


def plot_analysis(table, res, path):
    """Two KM curves with numbers at risk, and the response-class bar chart."""
    from simkit.paper.seed import reported
    plt = pyplot()
    rep = reported()
    fig = plt.figure(figsize=(11, 5.2))
    gs = fig.add_gridspec(2, 2, height_ratios=[4, 1], width_ratios=[1.6, 1], hspace=0.32, wspace=0.28)
    ax = fig.add_subplot(gs[0, 0])
    colors = {"treated": "#1b6ca8", "reference": "#c0392b"}
    tmax = float(np.max(table.time_days))
    grid = np.linspace(0, tmax, 6).round(-1)
    risk = {}
    for a, arm in enumerate(("treated", "reference")):
        t = table.time_days[:, a]
        e = table.event[:, a]
        x, y = km_step(t, e)
        ax.step(x, y, where="post", color=colors[arm], lw=2, label=f"{arm} (n={len(t)}, deaths={int(e.sum())})")
        cens = e == 0
        if cens.any():
            # censoring ticks at the curve's height just after each censored time
            idx = np.searchsorted(x, t[cens], side="right") - 1
            ax.plot(t[cens], y[np.clip(idx, 0, len(y) - 1)], "|", color=colors[arm], ms=8, alpha=0.7)
        risk[arm] = at_risk(t, grid)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    d = res.to_dict()
    hr_txt = (f"HR {d['hr']:.2f} (95% CI {d['hr_ci_low']:.2f}-{d['hr_ci_high']:.2f}), p={d['hr_p']:.2g}"
              if d["hr"] is not None else f"HR not estimable ({d['status']['cox']})")
    s = rep["survival"]
    ax.set_title(f"{hr_txt}\nseed paper: HR {s['hr']:.2f} ({s['hr_ci_low']}-{s['hr_ci_high']}), "
                 f"medians {s['median_days_treated']} vs {s['median_days_reference']} days", fontsize=9.5)
    ax.set_ylabel("survival probability (Kaplan-Meier)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(-0.05 * tmax, tmax * 1.03)  # room for the at-risk numbers at day 0
    ax.tick_params(labelbottom=False)
    ax.legend(loc="upper right", fontsize=9)
    axr = fig.add_subplot(gs[1, 0], sharex=ax)
    axr.set_xlabel("days from baseline (first injection / reference baseline)")
    axr.set_yticks([1, 0])
    axr.set_yticklabels(["treated", "reference"], fontsize=8)
    axr.set_ylim(-0.6, 1.6)
    for g, nt, nr in zip(grid, risk["treated"], risk["reference"]):
        axr.text(g, 1, str(nt), ha="center", va="center", fontsize=8, color=colors["treated"])
        axr.text(g, 0, str(nr), ha="center", va="center", fontsize=8, color=colors["reference"])
    axr.set_title("number at risk", fontsize=8.5, loc="left", pad=3)
    for sp in ("top", "right"):
        axr.spines[sp].set_visible(False)

    axb = fig.add_subplot(gs[:, 1])
    labels = ["decreased", "no change", "increased"]
    mine = [d["n_decreased"], d["n_no_change"], d["n_increased"]]
    p = rep["progression"]
    paper = [p["n_decreased"], p["n_no_change"], p["n_increased"]]
    xs = np.arange(3)
    axb.bar(xs - 0.2, mine, 0.4, color="#1b6ca8", label="this table")
    axb.bar(xs + 0.2, paper, 0.4, color="#bbbbbb", label="seed paper")
    for xi, v in zip(xs, mine):
        axb.text(xi - 0.2, v, str(v), ha="center", va="bottom", fontsize=8)
    axb.set_xticks(xs)
    axb.set_xticklabels(labels)
    axb.set_ylabel("pairs")
    axb.set_xlabel("progression vs matched reference (6-month change, +-3 points)")
    axb.set_title("response classes", fontsize=9.5)
    axb.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


# ------------------------------------------------------------ stored runs

def _cond_label(coords, c):
    lab = ", ".join(f"{k}={v}" for k, v in coords.items() if k != "label")
    if "label" in coords:
        lab = coords["label"] + (f" ({lab})" if lab else "")
    return lab or f"condition {c}"


def _panels(n):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    return rows, cols


def _truth_of(attrs, c, which):
    if which in ("marginal", "followup_marginal"):
        key = "marginal_log_hr" if which == "marginal" else "marginal_log_hr_followup"
        t = attrs.get("truth")
        if not t or key not in t[c]:
            from simkit.errors import InputError
            raise InputError("--truth", f"this store has no {which} truth ({key}); use --truth conditional"
                                        + (" or marginal" if t else ""))
        return t[c][key]
    return attrs["conditional_log_hr"][c]


def _conditions(attrs, only):
    n = len(attrs["conditional_log_hr"])
    if only is None:
        return list(range(min(n, 12)))
    from simkit.errors import InputError
    bad = [c for c in only if not 0 <= c < n]
    if bad:
        raise InputError("--condition", f"the store has conditions 0..{n - 1}, got {bad}")
    return list(only)


def zip_plot(store, out, truth=None, conditions=None, summary=None):
    """Zip plot (Morris, White & Crowther 2019): the replicates' 95% CIs of the log HR ranked
    by |z| against the truth (conditional, marginal or followup_marginal; None = the summary's
    estimand); non-covering intervals in red, coverage with its MCSE (from the store's summary
    Dataset: cluster-robust where replicates share registries)."""
    from simkit.runner.store import read_fields
    from simkit.report.summary import measure, summarize
    plt = pyplot()
    attrs, d = read_fields(store, ["log_hr", "log_hr_se", "hr_ci_low", "hr_ci_high"])
    conds = _conditions(attrs, conditions)
    summary = summarize(store) if summary is None else summary
    truth = truth or summary.attrs.get("estimand", "conditional")
    rows, cols = _panels(len(conds))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax, c in zip(axes.flat, conds):
        th = _truth_of(attrs, c, truth)
        est, se = d["log_hr"][c], d["log_hr_se"][c]
        lo, hi = np.log(d["hr_ci_low"][c]), np.log(d["hr_ci_high"][c])
        ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
        z = np.abs((est[ok] - th) / se[ok])
        order = np.argsort(z)
        n = ok.sum()
        rank = np.arange(1, n + 1) / n * 100
        lo_o, hi_o = lo[ok][order], hi[ok][order]
        cover = (lo_o <= th) & (th <= hi_o)
        for mask, col in ((cover, "#1b6ca8"), (~cover, "#c0392b")):
            ax.hlines(rank[mask], lo_o[mask], hi_o[mask], color=col, lw=0.6, alpha=0.8)
        ax.axvline(th, color="black", lw=1)
        ax.axhline(95, color="grey", lw=0.8, ls="--")
        cov = measure(summary, f"{truth}_coverage", c=c)
        ax.set_title(f"{_cond_label({k: v[c] for k, v in attrs['condition_coords'].items()}, c)}\n"
                     f"coverage {cov.estimate:.3f} (MCSE {cov.mcse:.3f}), n={cov.n}", fontsize=8.5)
        ax.set_xlabel(f"95% CI of log HR ({truth} truth {th:.2f} marked)")
        ax.set_ylabel("centile of |z| (ranked)")
        ax.set_ylim(0, 100)
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    fig.suptitle("Zip plot: confidence intervals of the design's log HR", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def hr_ticks(ax, axis="x"):
    """Readable hazard-ratio ticks on a log axis (no crowded minor labels)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if lo <= t <= hi]
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(ticks))
    a.set_major_formatter(StrMethodFormatter("{x:g}"))
    a.set_minor_formatter(NullFormatter())


def hist_plot(store, out, conditions=None, summary=None):
    """Distribution of the design's HR per condition (log axis), the paper's 0.30 and the truth
    marked, P(as extreme as the paper) with its MCSE from the store's summary Dataset."""
    from simkit.paper.seed import reported
    from simkit.runner.store import read_fields
    from simkit.report.summary import measure, summarize
    plt = pyplot()
    attrs, d = read_fields(store, ["hr"])
    conds = _conditions(attrs, conditions)
    summary = summarize(store) if summary is None else summary
    rows, cols = _panels(len(conds))
    paper = reported()["survival"]
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, c in zip(axes.flat, conds):
        hr = d["hr"][c]
        ok = np.isfinite(hr) & (hr > 0)
        h = hr[ok]
        bins = np.geomspace(max(min(h.min(), 0.2), 1e-3), max(h.max(), 1.5), 40) if h.size else 10
        ax.hist(h, bins=bins, color="#1b6ca8", alpha=0.85)
        ax.set_xscale("log")
        hr_ticks(ax)
        ax.axvline(paper["hr"], color="#c0392b", lw=1.5, label=f"paper HR {paper['hr']}")
        ax.axvline(np.exp(attrs["conditional_log_hr"][c]), color="black", lw=1, ls="--", label="true HR (conditional)")
        t = attrs.get("truth")
        if t:
            ax.axvline(np.exp(t[c]["marginal_log_hr"]), color="grey", lw=1, ls=":", label="true HR (marginal)")
        pe = measure(summary, "p_extreme_hr_and_p", c=c)
        ax.set_title(f"{_cond_label({k: v[c] for k, v in attrs['condition_coords'].items()}, c)}\n"
                     f"P(HR<=0.30 & p<=0.0004) = {pe.estimate:.3f} (MCSE {pe.mcse:.3f}), n={pe.n}", fontsize=8.5)
        ax.set_xlabel("hazard ratio reported by the design (log scale)")
        ax.set_ylabel("replicates")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def prior_plot(store, out, condition=0):
    """Probabilistic bias analysis: the HR the design reports against each magnitude drawn
    from its prior (one panel per prior; replicates as points, the median HR in bins of
    the magnitude as a line), the paper's 0.30 and HR 1 marked."""
    from simkit.paper.seed import reported
    from simkit.runner.store import read_fields
    plt = pyplot()
    attrs, d = read_fields(store, ["hr"])
    names = [f for f in attrs["fields"] if f.startswith("prior_")]
    if not names:
        from simkit.errors import InputError
        raise InputError("STORE", f"{store} has no drawn parameters: its scenario has no [priors]")
    _, dp = read_fields(store, names)
    varied = [f for f in names if np.unique(dp[f][condition]).size > 1]
    rows, cols = _panels(max(len(varied), 1))
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.1 * rows), squeeze=False)
    hr = d["hr"][condition]
    paper = reported()["survival"]["hr"]
    for ax, f in zip(axes.flat, varied):
        x = dp[f][condition]
        ok = np.isfinite(hr) & (hr > 0) & np.isfinite(x)
        ax.scatter(x[ok], hr[ok], s=3, alpha=0.25, color="#1b6ca8", rasterized=True)
        edges = np.quantile(x[ok], np.linspace(0, 1, 11)) if ok.sum() >= 20 else np.array([])
        if edges.size:
            mid, med = [], []
            for a, b in zip(edges[:-1], edges[1:]):
                sel = ok & (x >= a) & (x <= b)
                if sel.sum() >= 5:
                    mid.append(np.median(x[sel]))
                    med.append(np.median(hr[sel]))
            ax.plot(mid, med, color="black", lw=1.5, label="median HR")
        ax.axhline(paper, color="#c0392b", lw=1.2, label=f"paper HR {paper}")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        hr_ticks(ax, axis="y")
        ax.set_xlabel(f[len("prior_"):] + (f" [{attrs['field_attrs'][f].get('units', '')}]"
                                           if attrs.get("field_attrs", {}).get(f, {}).get("units") else ""),
                      fontsize=8)
        ax.set_ylabel("HR reported", fontsize=8)
        ax.legend(fontsize=6.5)
    for ax in list(axes.flat)[len(varied):]:
        ax.axis("off")
    fig.suptitle("HR the design reports against each bias magnitude drawn from its prior", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


# nested-loop plot: --measure -> (measure of simkit.report.summary, axis label)
NESTED_MEASURES = {
    "rejection": ("rejection", "rejection rate of the Cox Wald test"),
    "bias": ("bias", "bias of log HR (vs the {estimand} truth)"),
    "bias_conditional": ("conditional_bias", "bias of log HR (vs conditional truth)"),
    "bias_marginal": ("marginal_bias", "bias of log HR (vs marginal truth, no censoring)"),
    "bias_followup": ("followup_marginal_bias", "bias of log HR (vs marginal truth under follow-up)"),
    "coverage": ("coverage", "coverage of the 95% CI (of the {estimand} truth)"),
    "empirical_se": ("empirical_se", "empirical SE of log HR"),
    "mse": ("mse", "MSE of log HR"),
    "p_extreme": ("p_extreme_hr_and_p", "P(HR <= 0.30 and p <= 0.0004)"),
    "match_rate": ("match_rate", "share of treated matched"),
}


def nested_loop_plot(store, out, measure="rejection"):
    """Nested-loop plot (Rücker & Schwarzer 2014): a measure over every grid condition,
    the conditions ordered by the grid's nested loops, with the parameter values as steps below.
    `store`: a store path or its summary Dataset (simkit.report.summary.summarize)."""
    from simkit.errors import InputError
    from simkit.report.summary import flat, summarize
    plt = pyplot()
    if measure not in NESTED_MEASURES:
        raise InputError("--measure", f"expected one of {', '.join(NESTED_MEASURES)}, got {measure!r}")
    name, label = NESTED_MEASURES[measure]
    ds = store if hasattr(store, "data_vars") else summarize(store)
    label = label.format(estimand=ds.attrs.get("estimand", "conditional"))
    if name not in ds["measure"].values:
        raise InputError("--measure", f"{measure}: this store has no {name} (no such truth)")
    sel = ds.sel(measure=name)
    vals, errs = flat(sel, "estimate"), flat(sel, "mcse")
    n_cond = vals.size
    params = [k for k in ds.attrs["condition_coords"] if k != "label"]
    x = np.arange(n_cond)
    fig, (ax, axp) = plt.subplots(2, 1, figsize=(max(6, 0.35 * n_cond + 3), 6),
                                  gridspec_kw={"height_ratios": [3, max(1, len(params))]}, sharex=True)
    ax.step(x, vals, where="mid", color="#1b6ca8", lw=2)
    ax.fill_between(x, vals - 1.96 * errs, vals + 1.96 * errs, step="mid", color="#1b6ca8", alpha=0.2,
                    label="+-1.96 MCSE")
    if measure == "rejection":
        ax.axhline(ds.attrs["alpha"], color="grey", ls="--", lw=0.8, label=f"alpha {ds.attrs['alpha']}")
    if measure == "coverage":
        ax.axhline(0.95, color="grey", ls="--", lw=0.8, label="0.95")
    if measure.startswith("bias"):
        ax.axhline(0, color="grey", ls="--", lw=0.8)
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    ax.set_title(f"Nested-loop plot: {label} over {n_cond} conditions", fontsize=10)
    for i, p in enumerate(params):
        raw = flat(ds, p).tolist()
        try:
            v = np.array(raw, dtype=float)
            lev = np.unique(v)
            y = np.searchsorted(lev, v)
        except (TypeError, ValueError):
            lev = sorted(set(map(str, raw)))
            y = np.array([lev.index(str(r)) for r in raw])
        span = max(len(lev) - 1, 1)
        axp.step(x, i + 0.8 * y / span, where="mid", lw=1.3)
        axp.text(-0.6, i + 0.4, f"{ds[p].attrs.get('key', p)}: {', '.join(map(str, lev))}", fontsize=7,
                 ha="right", va="center")
    axp.set_yticks([])
    axp.set_xlabel("condition (nested loops over the grid)")
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def _est_err(ds, name):
    """estimate and MCSE of one measure as float arrays (NaN where missing)."""
    sel = ds.sel(measure=name)
    return sel["estimate"].values.astype(float), sel["mcse"].values.astype(float)


def hr_interval_plot(ds, out, label, paper_hr, truth_hr=1.0, title=""):
    """Per condition of a summary: the median HR (+-1.96 MCSE) and the 2.5%-97.5% range of the
    replicates' HRs, conditions labelled by the coordinate `label`, on a log axis."""
    from simkit.report.summary import flat
    plt = pyplot()
    labels = [str(v) for v in flat(ds, label)]
    med, err = (flat(ds.sel(measure="hr_q0.5"), v) for v in ("estimate", "mcse"))
    err = np.nan_to_num(err)  # no MCSE (a single registry): no error bar
    lo = flat(ds.sel(measure="hr_q0.025"), "estimate")
    hi = flat(ds.sel(measure="hr_q0.975"), "estimate")
    y = np.arange(len(labels))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.5))
    ax.hlines(y, lo, hi, color="#9ab8d6", lw=4, label="2.5%-97.5% of replicates")
    ax.errorbar(med, y, xerr=1.96 * err, fmt="o", color="#1b6ca8", label="median (+-1.96 MCSE)")
    ax.axvline(truth_hr, color="black", lw=1, label=f"truth (HR {truth_hr:g})")
    ax.axvline(paper_hr, color="#c0392b", lw=1.5, label=f"paper HR {paper_hr}")
    ax.set_xscale("log")
    ax.set_xlim(min(0.2, np.nanmin(lo) * 0.9), max(2.5, np.nanmax(hi) * 1.1))
    hr_ticks(ax)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("hazard ratio reported by the design (log scale)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def curves_plot(ds, out, measure, x, colour, style=None, xlabel=None, ylabel="", title="", log_x=False,
                hlines=(), note=None, names=None):
    """A measure (+-1.96 MCSE) against grid dim `x`, one curve per level of dim `colour` (and line
    style per level of dim `style`).  hlines: (y, colour) reference lines; note: (x, y, text)
    in red; names: {dim: legend name} (default: the scenario key)."""
    plt = pyplot()
    names = {d: ds[d].attrs.get("key", d) for d in (colour, style) if d} | dict(names or {})
    sel = ds.sel(measure=measure)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    levels = sorted(sel[colour].values.tolist())
    colours = ["#c0392b", "#e67e22", "#27ae60", "#1b6ca8", "#8e44ad", "#7f8c8d"]
    styles = sel[style].values.tolist() if style else [None]
    for st, ls in zip(styles, ("-", "--", ":", "-.")):
        for lev, col in zip(levels, colours):
            cur = sel.sel({colour: lev, **({style: st} if style else {})}).sortby(x)
            lab = f"{names[colour]} {lev:g}" + (f", {names[style]} {st}" if style else "")
            ax.errorbar(cur[x].values, cur["estimate"].values, yerr=1.96 * cur["mcse"].values, ls=ls, color=col,
                        marker="o", ms=3, capsize=2, label=lab)
    for y, col in hlines:
        ax.axhline(y, color=col, lw=0.8, ls=":")
    if note is not None:
        ax.axvline(note[0], color="#c0392b", lw=0.8, ls=":")
        ax.text(note[0], note[1], " " + note[2], color="#c0392b", fontsize=8)
    if log_x:
        ax.set_xscale("log")
        xt = sorted(sel[x].values.tolist())
        ax.set_xticks(xt)
        ax.set_xticklabels([f"{v:g}" for v in xt])
    ax.set_xlabel(xlabel or ds[x].attrs.get("key", x))
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=6.5, ncol=2, loc="center right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def panels_plot(ds, out, panels, x, group, xlabel=None, title=""):
    """Side-by-side panels, one per (measure, y label, reference y or None, y limits or None) of
    `panels`: the measure (+-1.96 MCSE) against grid dim `x`, one line per level of dim `group`."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    colours = ["#1b6ca8", "#27ae60", "#c0392b", "#e67e22", "#8e44ad"]
    for ax, (name, ylabel, ref, ylim) in zip(axes.flat, panels):
        sel = ds.sel(measure=name)
        for lev, col in zip(sel[group].values.tolist(), colours):
            cur = sel.sel({group: lev}).sortby(x)
            ax.errorbar(cur[x].values, cur["estimate"].values, yerr=1.96 * np.nan_to_num(cur["mcse"].values),
                        color=col, marker="o", capsize=2, label=str(lev))
        if ref is not None:
            ax.axhline(ref, color="black", lw=0.8)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlabel(xlabel or ds[x].attrs.get("key", x))
        ax.set_ylabel(ylabel)
        ax.legend(title=ds[group].attrs.get("key", group), fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def tipping_plot(res, path):
    """Tipping points (simkit.sensitivity.tipping.TippingPoints): each criterion against each
    mechanism's magnitude, the target dotted, the root and its CI as a diamond."""
    plt = pyplot()
    rows = res.rows()
    cur = res.curves.to_dataframe()
    mechs = list(dict.fromkeys(r["mechanism"] for r in rows))
    crit = (("median_hr", "median reported HR", res.target.hr), ("p_as_extreme", "P(as extreme as paper)",
                                                                  res.target.level))
    fig, axes = plt.subplots(len(mechs), 2, figsize=(10, 2.3 * len(mechs)), squeeze=False)
    colors = {"scenario": "#1b6ca8", "off": "#c0392b", "-": "#333333"}
    for i, m in enumerate(mechs):
        for j, (c, label, level) in enumerate(crit):
            ax = axes[i, j]
            for o, g in cur[cur["mechanism"] == m].groupby("others"):
                g = g.sort_values("magnitude")
                ax.plot(g["magnitude"], g[c], "o-", ms=3, color=colors[o], label=f"others {o}")
                r = next(r for r in rows if (r["mechanism"], r["others"], r["criterion"]) == (m, o, c))
                if r["reachable"]:
                    lo = r["low"] if r["low"] is not None else r["magnitude"]
                    hi = r["high"] if r["high"] is not None else r["cap"]
                    ax.errorbar([r["magnitude"]], [level], xerr=[[r["magnitude"] - lo], [hi - r["magnitude"]]],
                                fmt="D", color=colors[o], capsize=3)
            ax.axhline(level, color="grey", ls=":", lw=1)
            ax.set_ylabel(label, fontsize=8)
            ax.set_title(m, fontsize=9)
            ax.tick_params(labelsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pairs_plot(samples, out, title="", max_params=6):
    """The posterior of `simkit infer` as a pairs plot: the true HR, then the parameters whose
    posterior moved most from their prior (90% width ratio), at most `max_params` in all.
    samples: {"names", "adjusted" (n, p), "weights" (n,), "prior" (N, p)}.  Diagonal: the
    weighted posterior histogram over the prior's (grey); below: posterior draws coloured by
    weight; the HR axes on log scale with 0.9 ("no meaningful effect") dashed."""
    plt = pyplot()
    names = list(samples["names"])
    adj, w, prior = np.asarray(samples["adjusted"]), np.asarray(samples["weights"]), np.asarray(samples["prior"])

    def width(x, ww):
        o = np.argsort(x)
        c = np.cumsum(ww[o]) / ww.sum()
        return np.interp(0.95, c, x[o]) - np.interp(0.05, c, x[o])

    shrink = {}
    for i, n in enumerate(names):
        pw = width(prior[:, i], np.ones(prior.shape[0]))
        shrink[n] = width(adj[:, i], w) / pw if pw > 0 else 1.0
    order = ([names.index("hr")] if "hr" in names else []) + \
        sorted((i for i, n in enumerate(names) if n != "hr"), key=lambda i: shrink[names[i]])
    order = order[:max_params]
    k = len(order)
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 1, 1.9 * k + 0.6), squeeze=False)
    for r, i in enumerate(order):
        for c, j in enumerate(order):
            ax = axes[r, c]
            if c > r:
                ax.axis("off")
                continue
            xi = adj[:, j]
            if r == c:
                lo, hi = np.min(prior[:, i]), np.max(prior[:, i])
                logx = names[i] == "hr" and lo > 0
                bins = np.geomspace(lo, hi, 25) if logx else np.linspace(lo, hi, 25)
                # shares per bin (not densities: on log bins a log-uniform prior then looks flat)
                ax.hist(prior[:, i], bins=bins, weights=np.full(prior.shape[0], 1 / prior.shape[0]),
                        color="0.8", label="prior")
                ax.hist(xi, bins=bins, weights=w / w.sum(), color="#1b6ca8", alpha=0.75, label="posterior")
                if logx:
                    ax.set_xscale("log")
                    hr_ticks(ax, "x")
                    ax.axvline(0.9, color="#c0392b", ls="--", lw=0.9)
                ax.set_yticks([])
            else:
                ax.scatter(xi, adj[:, i], s=4, c=w, cmap="Blues", vmin=0, vmax=w.max(), rasterized=True)
                if names[j] == "hr":
                    ax.set_xscale("log")
                    hr_ticks(ax, "x")
                    ax.axvline(0.9, color="#c0392b", ls="--", lw=0.8)
                if names[i] == "hr":
                    ax.set_yscale("log")
                    hr_ticks(ax, "y")
                    ax.axhline(0.9, color="#c0392b", ls="--", lw=0.8)
            ax.tick_params(labelsize=6)
            if r == k - 1:
                ax.set_xlabel(("true HR" if names[j] == "hr" else names[j]) +
                              ("" if names[j] == "hr" else f"\n(90% width {shrink[names[j]]:.2f} of prior)"),
                              fontsize=7)
            if c == 0 and r > 0:
                ax.set_ylabel("true HR" if names[i] == "hr" else names[i], fontsize=7)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(("Which worlds could have produced this paper: " + title)[:110], fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
