"""Figures: Kaplan-Meier curves, response classes (and, later, Monte Carlo plots).

Matplotlib with the Agg backend, so figures render on a machine without a screen.
"""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def km_step(time, event):
    """Step-function coordinates (x, y) of the KM curve, starting at (0, 1)."""
    from .kernels.km import km_curve
    t, n_risk, d, c, s = km_curve(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.int64))
    x = np.concatenate([[0.0], t])
    y = np.concatenate([[1.0], s])
    return x, y


def at_risk(time, grid):
    time = np.asarray(time, dtype=float)
    return [int(np.sum(time >= g)) for g in grid]


def plot_analysis(table, res, path):
    """Two KM curves with numbers at risk, and the response-class bar chart."""
    from .seedpaper import reported
    plt = _plt()
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
