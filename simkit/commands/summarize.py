"""`simkit summarize STORE`: performance measures per condition, each with its Monte Carlo SE."""

HELP = "performance measures of a finished run (bias, coverage, rejection, ...) with Monte Carlo SEs"


def register(p):
    p.add_argument("store", metavar="STORE", help="a store written by `simkit run`")
    p.add_argument("--json", action="store_true", help="print JSON")
    return run


def _m(d, digits=3):
    if d is None or d.get("estimate") is None:
        return "-"
    e, s = d["estimate"], d["mcse"]
    return f"{e:.{digits}g} ({s:.1g})" if s is not None else f"{e:.{digits}g}"


def render(summary) -> str:
    lines = [f"{summary['store']}: seed {summary['seed']}, {summary['replicates']} replicates per condition, "
             f"alpha {summary['alpha']}", "estimate (Monte Carlo SE); log HR measures against the true log HR", ""]
    for c in summary["conditions"]:
        coords = ", ".join(f"{k}={v}" for k, v in c["coords"].items()) or "the scenario"
        t = c["truth"]
        lines.append(f"condition {c['condition']}: {coords}")
        tm = t.get("marginal_log_hr")
        lines.append(f"  truth: conditional log HR {t['conditional_log_hr']:.3f}"
                     + (f", marginal log HR {tm:.3f}" if tm is not None else ""))
        vc = c["vs_conditional"]
        lines.append(f"  HR median {_m(c['hr_quantiles']['q0.5'])}, 95% range "
                     f"{_m(c['hr_quantiles']['q0.025'])} to {_m(c['hr_quantiles']['q0.975'])}")
        lines.append(f"  bias of log HR {_m(vc['bias'])}, empirical SE {_m(vc['empirical_se'])}, "
                     f"model SE {_m(vc['model_se'])}, MSE {_m(vc['mse'])}")
        lines.append(f"  coverage {_m(vc.get('coverage'))}, rejection (Cox Wald) {_m(vc.get('rejection'))}, "
                     f"smallest of 5 tests {_m(c['rejection_min_of_5_tests'])}")
        if "vs_marginal" in c:
            vm = c["vs_marginal"]
            lines.append(f"  vs marginal truth: bias {_m(vm['bias'])}, coverage {_m(vm.get('coverage'))}")
        mc = c["mean_classes"]
        lines.append(f"  classes decreased / no change / increased: {_m(mc['n_decreased'])} / "
                     f"{_m(mc['n_no_change'])} / {_m(mc['n_increased'])}")
        pe = c["p_as_extreme_as_paper"]
        lines.append(f"  P(as extreme as the paper): HR<=0.30 & p<=0.0004 {_m(pe['hr_and_p'])}, "
                     f">=21 decreased {_m(pe['n_decreased_ge_21'])}, median ratio {_m(pe['median_ratio_ge_paper'])}")
        lines.append(f"  match rate {_m(c['match_rate'])}, Cox not estimable {_m(c['degenerate_cox'])}, "
                     f"nothing matched {_m(c['nothing_matched'])}")
        lines.append("")
    return "\n".join(lines)


def run(args):
    from . import print_json
    from ..performance import summarize_store
    s = summarize_store(args.store)
    if args.json:
        print_json(s)
    else:
        print(render(s))
    return 0
