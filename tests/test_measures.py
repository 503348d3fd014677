"""Performance measures and their Monte Carlo SEs (Morris, White & Crowther 2019).

Two kinds of check: the formulas by hand on a tiny input, and the MCSE as what it
claims to be: the SD of the measure across independent repetitions of a study.
"""
import math

import numpy as np
import pytest

from simkit.report import measures as P


def test_by_hand_tiny():
    est = np.array([1.0, 2.0, 4.0, np.nan])
    se = np.array([1.0, 1.0, 2.0, np.nan])
    b = P.bias(est, 2.0)
    assert b.n == 3
    assert b.estimate == pytest.approx(7 / 3 - 2)
    # sum of squared deviations from 7/3: (16+1+25)/9 = 42/9
    assert b.mcse == pytest.approx(math.sqrt((42 / 9) / (3 * 2)))
    e = P.empirical_se(est)
    assert e.estimate == pytest.approx(math.sqrt((42 / 9) / 2))
    assert e.mcse == pytest.approx(e.estimate / math.sqrt(4))
    m = P.mse(est, 2.0)
    sq = np.array([1.0, 0.0, 4.0])
    assert m.estimate == pytest.approx(5 / 3)
    assert m.mcse == pytest.approx(math.sqrt(np.sum((sq - 5 / 3) ** 2) / 6))
    ms = P.model_se(se)
    assert ms.estimate == pytest.approx(math.sqrt(2.0))
    v = np.array([1.0, 1.0, 4.0])
    assert ms.mcse == pytest.approx(math.sqrt(np.var(v, ddof=1) / (4 * 3 * 2.0)))
    c = P.coverage([0, 0, 3, np.nan], [3, 1, 5, 1], 2.0)
    assert (c.estimate, c.n) == (pytest.approx(1 / 3), 3)
    assert c.mcse == pytest.approx(math.sqrt((1 / 3) * (2 / 3) / 3))
    r = P.rejection([0.01, 0.2, np.nan, 0.05], 0.05)
    assert r.estimate == pytest.approx(2 / 3) and r.n == 3
    assert P.relative_bias(est, 0.0).estimate != P.relative_bias(est, 0.0).estimate  # NaN at truth 0
    assert P.relative_bias(est, 2.0).estimate == pytest.approx((7 / 3 - 2) / 2)
    d = P.estimator_measures(est, se, 2.0)
    assert d["degenerate"].estimate == pytest.approx(0.25) and d["degenerate"].n == 4


def test_empty_and_single():
    assert P.bias([], 0).n == 0 and math.isnan(P.bias([], 0).estimate)
    assert math.isnan(P.empirical_se([1.0]).estimate)
    assert math.isnan(P.quantile([], 0.5).estimate)


@pytest.mark.parametrize("name", ["bias", "empirical_se", "mse", "model_se", "coverage", "rejection",
                                  "relative_se_error_pct", "q0.5"])
def test_mcse_is_the_sd_across_repeated_studies(name):
    # 1500 simulation studies of 400 replicates each; the MCSE a single study reports
    # must agree with the SD of the measure across studies (to sampling error of ~4%).
    rng = np.random.default_rng(7)
    vals, mcses = [], []
    truth = 0.3
    for _ in range(1500):
        n = 400
        se = np.sqrt(rng.gamma(20, 0.05 / 20, n))         # model SEs vary around ~0.22
        est = truth + 0.02 + rng.normal(0, 1, n) * se * 1.1  # slightly biased, SE understated
        lo, hi = est - 1.96 * se, est + 1.96 * se
        p = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(est / se)))
        m = {
            "bias": P.bias(est, truth), "empirical_se": P.empirical_se(est), "mse": P.mse(est, truth),
            "model_se": P.model_se(se), "coverage": P.coverage(lo, hi, truth),
            "rejection": P.rejection(p), "relative_se_error_pct": P.relative_se_error(est, se),
            "q0.5": P.quantile(est, 0.5),
        }[name]
        vals.append(m.estimate)
        mcses.append(m.mcse)
    sd = np.std(vals, ddof=1)
    ratio = np.mean(mcses) / sd
    tol = 0.15 if name == "q0.5" else 0.08
    assert abs(ratio - 1) < tol, (name, ratio)


def test_cluster_robust_mcse_reduces_to_iid_and_tracks_clustered_studies():
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    # singleton clusters: the Morris et al. bias MCSE exactly
    assert P.bias(x, 0.0, clusters=np.arange(50)).mcse == pytest.approx(P.bias(x, 0.0).mcse)
    # replicates sharing a registry: 40 blocks of 25 with a block effect; the cluster MCSE
    # must match the SD across repeated studies, while the iid formula understates it
    est_b, mc_c, mc_i, cov_v, cov_c = [], [], [], [], []
    g = np.arange(1000) // 25
    for _ in range(1000):
        e = np.repeat(rng.normal(0, 0.5, 40), 25) + rng.normal(0, 1, 1000)
        est_b.append(P.bias(e, 0.0, g).estimate)
        mc_c.append(P.bias(e, 0.0, g).mcse)
        mc_i.append(P.bias(e, 0.0).mcse)
        c = P.coverage(e - 1.0, e + 1.0, 0.0, clusters=g)
        cov_v.append(c.estimate)
        cov_c.append(c.mcse)
    sd = np.std(est_b, ddof=1)
    assert abs(np.mean(mc_c) / sd - 1) < 0.1
    assert np.mean(mc_i) / sd < 0.6  # root design effect: about 1 / sqrt(1 + 24 * 0.2)
    assert abs(np.mean(cov_c) / np.std(cov_v, ddof=1) - 1) < 0.1


# ------------------------------------------------------------------ simsum: a long table

import pandas as pd  # noqa: E402
from scipy.stats import norm  # noqa: E402

from simkit.report.measures import SimsumError, simsum  # noqa: E402


def _twin(x, s, lo, hi, p, truth, alpha=0.05, ref=None):
    """Morris, White & Crowther (2019) Table 6, written out in plain Python loops.
    x, s, lo, hi, p, ref: lists for one method in one condition (NaN = missing)."""
    fin = lambda v: v == v and abs(v) != math.inf  # noqa: E731
    xs = [v for v in x if fin(v)]
    n = len(xs)
    xbar = sum(xs) / n
    ss = sum((v - xbar) ** 2 for v in xs)
    out = {"bias": (xbar - truth, math.sqrt(ss / (n * (n - 1))), n)}
    out["mean"] = (xbar, math.sqrt(ss / (n - 1)) / math.sqrt(n), n)
    emp = math.sqrt(ss / (n - 1))
    out["empirical_se"] = (emp, emp / math.sqrt(2 * (n - 1)), n)
    sq = [(v - truth) ** 2 for v in xs]
    mse = sum(sq) / n
    out["mse"] = (mse, math.sqrt(sum((q - mse) ** 2 for q in sq) / (n * (n - 1))), n)
    v2 = [v ** 2 for v in s if fin(v)]
    k = len(v2)
    mod = math.sqrt(sum(v2) / k)
    var_v2 = sum((v - sum(v2) / k) ** 2 for v in v2) / (k - 1)
    out["model_se"] = (mod, math.sqrt(var_v2 / (4 * k * mod ** 2)), k)
    both = [(a, b) for a, b in zip(x, s) if fin(a) and fin(b)]
    nb = len(both)
    xb = [a for a, _ in both]
    vb = [b ** 2 for _, b in both]
    emp_b = math.sqrt(sum((a - sum(xb) / nb) ** 2 for a in xb) / (nb - 1))
    mod_b = math.sqrt(sum(vb) / nb)
    out["relative_se_error_pct"] = (100 * (mod_b / emp_b - 1), _relerror_mcse_by_hand(xb, vb), nb)

    def share(flags):
        f = [v for v in flags if v is not None]
        q = sum(f) / len(f)
        return q, math.sqrt(q * (1 - q) / len(f)), len(f)
    out["coverage"] = share([(a <= truth <= b) if fin(a) and fin(b) else None for a, b in zip(lo, hi)])
    out["be_coverage"] = share([(a <= xbar <= b) if fin(a) and fin(b) else None for a, b in zip(lo, hi)])
    out["rejection"] = share([(v <= alpha) if fin(v) else None for v in p])
    out["degenerate"] = share([not fin(v) for v in x])
    if ref is not None:
        rs = [v for v in ref if fin(v)]
        emp_r = math.sqrt(sum((v - sum(rs) / len(rs)) ** 2 for v in rs) / (len(rs) - 1))
        pairs = [(a, b) for a, b in zip(x, ref) if fin(a) and fin(b)]
        ma = sum(a for a, _ in pairs) / len(pairs)
        mb = sum(b for _, b in pairs) / len(pairs)
        cov = sum((a - ma) * (b - mb) for a, b in pairs)
        rho = cov / math.sqrt(sum((a - ma) ** 2 for a, _ in pairs) * sum((b - mb) ** 2 for _, b in pairs))
        r2 = (emp_r / emp) ** 2
        out["relative_precision_pct"] = (100 * (r2 - 1), 200 * r2 * math.sqrt(max(0.0, 1 - rho ** 2) / (n - 1)), n)
    return out


def _relerror_mcse_by_hand(x, v, clusters=None):
    """MCSE of 100 (ModSE / EmpSE - 1) by the delta method written out: Var(log r) =
    Var(log ModSE) + Var(log EmpSE) - 2 Cov(log ModSE, log EmpSE), each from sample
    moments of v_i = se_i^2 and d_i^2 = (x_i - mean)^2 (Morris et al. Table 6's two terms
    and the covariance they leave out); with clusters, of cluster sums (G / (G - 1))."""
    n = len(x)
    xbar = sum(x) / n
    d2 = [(a - xbar) ** 2 for a in x]
    mod2 = sum(v) / n
    emp2 = sum(d2) / (n - 1)
    r = math.sqrt(mod2 / emp2)
    a = [(vi - mod2) / (2 * mod2) for vi in v]            # influence of log ModSE
    b = [(di - emp2) / (2 * emp2) for di in d2]           # influence of log EmpSE
    if clusters is None:
        va = sum((t - sum(a) / n) ** 2 for t in a) / (n - 1) / n
        vb = sum((t - sum(b) / n) ** 2 for t in b) / (n - 1) / n
        cab = sum((s - sum(a) / n) * (t - sum(b) / n) for s, t in zip(a, b)) / (n - 1) / n
    else:
        labels = sorted(set(clusters))
        g = len(labels)
        ma, mb = sum(a) / n, sum(b) / n
        sa = [sum(a[i] - ma for i in range(n) if clusters[i] == c) for c in labels]
        sb = [sum(b[i] - mb for i in range(n) if clusters[i] == c) for c in labels]
        k = g / (g - 1) / n ** 2
        va, vb = k * sum(t * t for t in sa), k * sum(t * t for t in sb)
        cab = k * sum(s * t for s, t in zip(sa, sb))
    return 100 * r * math.sqrt(va + vb - 2 * cab)


def _long_table(rng, n_rep=60, nan_share=0.05):
    rows = []
    for size in (30, 90):
        for k in range(n_rep):
            common = rng.normal()
            for m, scale in (("A", 1.0), ("B", 0.7), ("C", 1.3)):
                se = abs(rng.normal(1.0, 0.2)) * scale / math.sqrt(size) * 5
                est = 0.2 + 0.5 * common * scale / math.sqrt(size) * 5 + rng.normal(0, se)
                if rng.random() < nan_share:
                    est = np.nan
                if rng.random() < nan_share:
                    se = np.nan
                rows.append({"size": size, "rep": k, "method": m, "est": est, "se": se})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(12))
def test_simsum_matches_the_paper_formulas_written_out(seed):
    rng = np.random.default_rng(seed)
    df = _long_table(rng, n_rep=int(rng.integers(8, 80)))
    truth = 0.2
    ds = simsum(df, "est", truth, se="se", methodvar="method", ref="B", by="size", repvar="rep")
    assert ds["estimate"].dims == ("size", "method", "measure")
    z = norm.ppf(0.975)
    for size in (30, 90):
        cell = df[df["size"] == size]
        ref = cell[cell.method == "B"].sort_values("rep")["est"].tolist()
        for m in ("A", "B", "C"):
            d = cell[cell.method == m].sort_values("rep")
            x, s = d["est"].to_numpy(), d["se"].to_numpy()
            p = np.where(s > 0, 2 * norm.sf(np.abs(x / s)), np.nan)
            want = _twin(x.tolist(), s.tolist(), (x - z * s).tolist(), (x + z * s).tolist(), p.tolist(), truth,
                         ref=ref)
            got = ds.sel({"size": size, "method": m})
            for name, (e, mc, n) in want.items():
                g = got.sel(measure=name)
                assert g["estimate"].item() == pytest.approx(e, rel=1e-9, abs=1e-12), (name, m)
                assert g["mcse"].item() == pytest.approx(mc, rel=1e-9, abs=1e-12), (name, m)
                assert g["n"].item() == n, (name, m)
            assert got.sel(measure="median")["estimate"].item() == pytest.approx(np.nanmedian(x))


def test_simsum_by_hand():
    # two methods, four replicates, truth 1; B's estimates are A's halved around 1 (rho = 1)
    df = pd.DataFrame({"method": ["A"] * 4 + ["B"] * 4, "est": [0.0, 1.0, 2.0, 3.0, 0.5, 1.0, 1.5, 2.0],
                       "se": [1.0] * 8, "lo": [-1, 0, 1, 5, 0, 0, 0, 0], "hi": [0.5, 2, 3, 6, 2, 2, 2, 2],
                       "p": [0.01, 0.2, 0.04, 0.9, 0.5, 0.5, 0.5, 0.01]})
    ds = simsum(df, "est", 1.0, se="se", methodvar="method", ci_limits=("lo", "hi"), p="p")
    a = ds.sel({"method": "A"})  # a dict: sel(method=...) is the fill method
    e = lambda m, d=a: d["estimate"].sel(measure=m).item()  # noqa: E731
    s = lambda m, d=a: d["mcse"].sel(measure=m).item()  # noqa: E731
    assert e("bias") == pytest.approx(0.5)                          # mean 1.5 - 1
    assert s("bias") == pytest.approx(math.sqrt(5 / 12))           # sum sq dev 5, n(n-1) = 12
    assert e("empirical_se") == pytest.approx(math.sqrt(5 / 3))
    assert e("mse") == pytest.approx((1 + 0 + 1 + 4) / 4)
    assert e("relative_bias") == pytest.approx(0.5)
    assert e("coverage") == pytest.approx(0.5)                      # [0,2] and [1,3] contain 1
    assert e("be_coverage") == pytest.approx(0.5)                   # [0,2], [1,3] contain 1.5
    assert e("rejection") == pytest.approx(0.5) and s("rejection") == pytest.approx(0.25)
    assert e("model_se") == 1.0 and e("relative_se_error_pct") == pytest.approx(100 * (1 / math.sqrt(5 / 3) - 1))
    # B has a quarter of A's variance: 300% more precise, and exactly (rho = 1, MCSE 0)
    b = ds.sel({"method": "B"})
    assert e("relative_precision_pct", b) == pytest.approx(300.0)
    assert s("relative_precision_pct", b) == pytest.approx(0.0, abs=1e-6)
    assert e("relative_precision_pct") == 0.0                       # the reference against itself
    assert ds.attrs["ref"] == "A"


def test_simsum_truth_column_and_no_method():
    rng = np.random.default_rng(5)
    t = rng.choice([0.5, 1.0], 200)
    df = pd.DataFrame({"est": t + rng.normal(0, 0.1, 200), "truth": t})
    ds = simsum(df, "est", "truth")
    assert ds["estimate"].dims == ("measure",)
    d = df["est"] - df["truth"]
    assert ds["estimate"].sel(measure="bias").item() == pytest.approx(d.mean())
    assert ds["mcse"].sel(measure="bias").item() == pytest.approx(d.std(ddof=1) / math.sqrt(200))
    assert ds["estimate"].sel(measure="mse").item() == pytest.approx((d ** 2).mean())
    assert ds["estimate"].sel(measure="relative_bias").item() == pytest.approx((d / df["truth"]).mean())
    # what needs an SE is left out without one
    assert "model_se" not in ds["measure"].values and "coverage" not in ds["measure"].values


def test_relative_precision_mcse_is_the_sd_across_repeated_studies():
    # rsimsum's formula and the influence-function (cluster-robust) one, with singleton and
    # with real clusters (blocks of 10 replicates sharing an effect on both methods)
    rng = np.random.default_rng(11)
    vals, mc, mc_g, vals_b, mc_b = [], [], [], [], []
    g1, g10 = np.arange(300), np.arange(300) // 10
    for _ in range(1500):
        common = rng.normal(size=300)
        a = common + rng.normal(0, 1.0, 300)
        b = 0.8 * common + rng.normal(0, 0.6, 300)
        m = P.relative_precision(b, a)
        vals.append(m.estimate)
        mc.append(m.mcse)
        mc_g.append(P.relative_precision(b, a, clusters=g1).mcse)
        blk = np.repeat(rng.normal(0, 1.0, 30), 10)
        mb = P.relative_precision(b + 0.8 * blk, a + blk, clusters=g10)
        vals_b.append(mb.estimate)
        mc_b.append(mb.mcse)
    sd = np.std(vals, ddof=1)
    assert abs(np.mean(mc) / sd - 1) < 0.08
    assert abs(np.mean(mc_g) / sd - 1) < 0.08
    assert abs(np.mean(mc_b) / np.std(vals_b, ddof=1) - 1) < 0.12


@pytest.mark.parametrize("kwargs, where", [
    ({"estvarname": "nope"}, "estvarname"),
    ({"se": "nope"}, "se"),
    ({"true": "nope"}, "true"),
    ({"methodvar": "method", "ref": "Z"}, "ref"),
    ({"by": ["size", "nope"]}, "by"),
    ({"ci_limits": ("est",)}, "ci_limits"),
    ({"estvarname": "method"}, "estvarname"),
    ({"methodvar": "method", "by": "size", "repvar": "size"}, "repvar"),
    ({"alpha": 2.0}, "alpha"),
])
def test_simsum_bad_arguments_name_the_argument(kwargs, where):
    df = _long_table(np.random.default_rng(0), n_rep=5)
    args = {"estvarname": "est", "true": 0.2, "se": "se"} | kwargs
    with pytest.raises(SimsumError) as e:
        simsum(df, **args)
    assert e.value.where == where


def test_simsum_unpaired_methods_need_repvar():
    df = _long_table(np.random.default_rng(0), n_rep=5).iloc[1:]
    with pytest.raises(SimsumError, match="repvar"):
        simsum(df, "est", 0.2, methodvar="method", by="size")
    simsum(df, "est", 0.2, methodvar="method", by="size", repvar="rep")  # paired by replicate id


def test_summarize_cli_on_a_csv(tmp_path, capsys):
    import json

    from simkit.cli import main
    f = tmp_path / "res.csv"
    df = _long_table(np.random.default_rng(2), n_rep=40)
    df = df.rename(columns={"size": "n"})   # a by column named like the variable n
    df.to_csv(f, index=False)
    assert main(["summarize", str(f), "--estimate", "est", "--se", "se", "--true", "0.2", "--method", "method",
                 "--by", "n", "--ref", "A", "--rep", "rep", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ds = simsum(df, "est", 0.2, se="se", methodvar="method", by="n", ref="A", repvar="rep")
    rec = [r for r in out["measures"] if r["by_n"] == 90 and r["method"] == "C" and r["measure"] == "bias"]
    assert rec[0]["estimate"] == pytest.approx(ds["estimate"].sel({"by_n": 90, "method": "C", "measure": "bias"}).item())
    assert main(["summarize", str(f), "--estimate", "est", "--true", "0.2", "--method", "method", "--by", "n"]) == 0
    assert "n=30, method=A" in capsys.readouterr().out
    for argv, flag in ((["--estimate", "nope", "--true", "0"], "--estimate"), (["--true", "0"], "--estimate"),
                       (["--estimate", "est", "--true", "0", "--by", "zz"], "--by"),
                       (["--estimate", "est", "--true", "0", "--method", "method", "--ref", "Q"], "--ref")):
        assert main(["summarize", str(f)] + argv) == 2
        err = capsys.readouterr().err
        assert flag in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_clopper_pearson_against_scipy_and_rare_events():
    from scipy.stats import binomtest

    from simkit.report.measures import clopper_pearson, proportion_interval
    for k, n in ((0, 10), (3, 10), (10, 10), (1, 5000), (0, 5000), (17, 400)):
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        lo, hi = clopper_pearson(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)
    # no event in 5000 replicates: the exact upper limit, not a Wald MCSE of 0
    r = proportion_interval(np.zeros(5000))
    assert r.estimate == 0 and r.low == 0 and r.high == pytest.approx(1 - 0.025 ** (1 / 5000), rel=1e-9)
    # clustered events: the effective n shrinks and the interval widens
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(100), 50)
    f = (rng.random(5000) < np.repeat(rng.beta(0.5, 10, 100), 50)).astype(float)
    iid = proportion_interval(f)
    cl = proportion_interval(f, clusters=g)
    assert cl.n_effective < 5000 and (cl.high - cl.low) > (iid.high - iid.low)


# n, q and the textbook ranks (1-based) of the distribution-free CI of a quantile,
# Campbell & Gardner (1988) BMJ 296:1454: r = n q - z sqrt(n q (1-q)), s = 1 + n q +
# z sqrt(n q (1-q)), z = 1.96, rounded to the nearest integer and clipped to 1..n.
# Worked by hand, e.g. n = 13, q = 0.025: n q = 0.325, z sqrt(0.325 x 0.975) = 1.1033,
# r = round(-0.778) -> 1, s = round(2.428) = 2; n = 100, q = 0.5: 50 -+ 1.96 x 5,
# r = round(40.2) = 40, s = round(60.8) = 61; n = 20, q = 0.25: 5 -+ 1.96 sqrt(3.75)
# = 5 -+ 3.7955, r = round(1.2045) = 1, s = round(9.7955) = 10.
CAMPBELL_GARDNER = [(13, 0.025, 1, 2), (13, 0.5, 3, 11), (13, 0.975, 12, 13), (20, 0.25, 1, 10),
                    (50, 0.1, 1, 10), (100, 0.5, 40, 61), (200, 0.25, 38, 63), (200, 0.975, 191, 200),
                    (1000, 0.025, 15, 36)]


@pytest.mark.parametrize("n,q,r,s", CAMPBELL_GARDNER)
def test_quantile_mcse_uses_the_campbell_gardner_ranks(n, q, r, s):
    # x_(k) = k^2 (shuffled): the MCSE is (x_(s) - x_(r)) / (2 z) with the textbook ranks
    x = np.random.default_rng(n).permutation(np.arange(1, n + 1, dtype=float) ** 2)
    m = P.quantile(x, q)
    assert m.estimate == pytest.approx(np.quantile(x, q))
    assert m.mcse == pytest.approx((s ** 2 - r ** 2) / (2 * 1.959963984540054), rel=1e-12)


def test_quantile_mcse_at_13_replicates_from_the_report():
    # issue 14: the 2.5% quantile of 13 values rests on x_(1) and x_(2), not x_(3)
    x = np.array([0.21, 0.22, 0.33, 0.4, 0.41, 0.45, 0.5, 0.52, 0.6, 0.7, 0.8, 0.9, 1.1])
    assert P.quantile(x, 0.025).mcse == pytest.approx((0.22 - 0.21) / (2 * 1.959963984540054))


def _se_tracks_estimate(rng, n=400, blocks=None):
    """Estimates whose model SE grows with their distance from the truth (as a Cox log HR's
    SE with few events): SE^2 and (est - mean)^2 covary; with blocks, a shared block effect."""
    z = rng.normal(0, 1, n)
    if blocks is not None:
        z = (z + np.repeat(rng.normal(0, 1, n // blocks), blocks)) / math.sqrt(2)
    est = 0.3 + 0.2 * z
    se = 0.2 * np.sqrt(0.3 + 0.7 * z ** 2) * rng.gamma(50, 1 / 50, n)
    return est, se


def test_relative_se_error_mcse_includes_the_modse_empse_covariance():
    # issue 14.2: independent replicates get the covariance term the clustered ones had
    rng = np.random.default_rng(5)
    est, se = _se_tracks_estimate(rng, 60)
    est[3], se[7] = np.nan, np.nan
    ok = np.isfinite(est) & np.isfinite(se)
    x, v = list(est[ok]), list(se[ok] ** 2)
    m = P.relative_se_error(est, se)
    assert m.n == 58
    assert m.mcse == pytest.approx(_relerror_mcse_by_hand(x, v), rel=1e-10)
    # singleton clusters: the same number as independent replicates
    assert P.relative_se_error(est, se, clusters=np.arange(60)).mcse == pytest.approx(m.mcse, rel=1e-10)
    g = np.arange(60) // 6
    mc = P.relative_se_error(est, se, clusters=g)
    assert mc.mcse == pytest.approx(_relerror_mcse_by_hand(x, v, list(g[ok])), rel=1e-10)


@pytest.mark.parametrize("blocks", [None, 10])
def test_relative_se_error_mcse_is_the_sd_across_studies_when_se_tracks_the_estimate(blocks):
    # Table 6 without the covariance term says about 3x the SD across studies here
    rng = np.random.default_rng(11)
    vals, mcses = [], []
    g = None if blocks is None else np.arange(400) // blocks
    for _ in range(1000):
        est, se = _se_tracks_estimate(rng, 400, blocks)
        m = P.relative_se_error(est, se, clusters=g)
        vals.append(m.estimate)
        mcses.append(m.mcse)
    ratio = np.mean(mcses) / np.std(vals, ddof=1)
    assert abs(ratio - 1) < 0.1, ratio
