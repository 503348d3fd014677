"""The claims ledger (simkit.paper.claims): the shared rounding rule, verdicts against
hand-computed arithmetic, the ledger's structure, the CLI, and that verdicts follow the data."""
import copy
import hashlib
import json
import math
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from simkit.paper import claims as C
from simkit.paper.claims.builders import _pct
from simkit.paper.claims.progression import _one_moved, _t2rows
from simkit.paper.claims.rounding import _half_up
from simkit.paper import seed as seedpaper
from simkit.cli import main
from simkit.errors import InputError

PHI = NormalDist().cdf
Z = 1.959963984540054


@pytest.fixture(scope="module")
def L():
    return {c.id: c for c in C.ledger()}


def _modified(edit):
    d = copy.deepcopy(seedpaper.reported())
    edit(d)
    return d


# ----------------------------------------------------------------------------- rounding rule
def test_decimals_of_printed_values():
    assert C.decimals_of(29.7) == 1
    assert C.decimals_of(10.0) == 1      # "10.0" keeps its decimal in the transcription
    assert C.decimals_of(60) == 0        # "21 (60%)" printed without decimals
    assert C.decimals_of(0.0059) == 4
    assert C.decimals_of(-0.1) == 1
    assert C.decimals_of(1.25) == 2
    with pytest.raises(TypeError):
        C.decimals_of("1.0")


def test_rounding_interval_and_half_unit():
    assert C.half_unit(1) == Fraction(1, 20)
    assert C.half_unit(0) == Fraction(1, 2)
    lo, hi = C.rounding_interval(0.0004, 4)
    assert lo == pytest.approx(0.00035, abs=1e-18) and hi == pytest.approx(0.00045, abs=1e-18)
    lo, hi = C.rounding_interval(2, 0)
    assert (lo, hi) == (1.5, 2.5)


def test_boundary_is_consistent_both_ways():
    # 6/32 = 18.75% exactly: half a unit from both 18.7 and 18.8 -> both consistent (closed rule)
    x = _pct(6, 32)
    assert x == Fraction(1875, 100)
    assert C.rounds_to(x, 18.7, 1) and C.rounds_to(x, 18.8, 1)
    assert C.on_boundary(x, 18.7, 1) and C.on_boundary(x, 18.8, 1)
    assert not C.rounds_to(x, 18.6, 1)
    # one part in 10^4 past the boundary is out (exact arithmetic, no float slack)
    assert not C.rounds_to(Fraction(18751, 1000), 18.7, 1)
    assert C.rounds_to(Fraction(18749, 1000), 18.7, 1) and not C.on_boundary(Fraction(18749, 1000), 18.7, 1)
    # 2/16 = 12.5% at 0 decimals: 12 and 13 both stand for it
    assert C.rounds_to(Fraction(25, 2), 12, 0) and C.rounds_to(Fraction(25, 2), 13, 0)
    # floats get only a 1e-12 relative slack
    assert C.rounds_to(12.5, 12, 0)
    assert not C.rounds_to(12.5 + 1e-9, 12, 0)
    assert not C.rounds_to(float("nan"), 12, 0)


def test_half_up_and_boundary_notes(L):
    assert _half_up(Fraction(1875, 100), 1) == Fraction(188, 10)
    assert _half_up(Fraction(-125, 1000), 2) == Fraction(-13, 100)
    assert _half_up(Fraction(9375, 100), 1) == Fraction(938, 10)
    # 6/32 = 18.75 printed 18.7: consistent, and the note says half-up would print 18.8
    c = L["table2.age_from_median.increased_pct"]
    assert c.verdict == "consistent" and "18.8" in c.note
    # 15/16 = 93.75 printed 93.8 (that is half-up): consistent, no half-up remark
    c = L["table2.bulbar.dec_or_nc_pct"]
    assert c.verdict == "consistent" and "boundary" in c.note and "half-up" not in c.note


def test_range_over_rounding_and_overlaps():
    lo, hi = C.range_over_rounding(lambda a, b: a - b, (1.0, 1), (0.5, 1))
    assert lo == pytest.approx(0.95 - 0.55) and hi == pytest.approx(1.05 - 0.45)
    assert C.overlaps((0.0, 1.0), (1.0, 2.0))            # touching intervals overlap
    assert not C.overlaps((0.0, 1.0), (1.0 + 1e-6, 2.0))


# ----------------------------------------------------------------------------- hand-computed verdicts
def test_percentages_hand_computed(L):
    # men decreased: 100 * 11/37 = 29.7297... -> 29.7 printed 29.7
    c = L["table2.men.decreased_pct"]
    assert c.recomputed == pytest.approx(29.72972972972973)
    assert c.reported == 29.7 and c.verdict == "consistent"
    # men increased: 100 * 10/37 = 27.027... rounds to 27.0, printed 27.1: off by one unit (0.1)
    c = L["table2.men.increased_pct"]
    assert c.recomputed == pytest.approx(1000 / 37)
    assert c.verdict == "inconsistent"
    assert c.difference == pytest.approx(27.1 - 1000 / 37)
    assert round(c.reported - round(c.recomputed, 1), 10) == 0.1
    # matching: 45/67 = 67.16 -> 67.2; 65/67 = 97.01 -> 97.0; 52/67 = 77.61 -> 77.6; 63/67 = 94.03 -> 94.0
    for cid, a, p in (("matching.slope_diff_zero_pct", 45, 67.2), ("matching.slope_within_0_3_pct", 65, 97.0),
                      ("matching.age_within_5y_pct", 52, 77.6), ("matching.age_within_10y_pct", 63, 94.0)):
        assert L[cid].recomputed == pytest.approx(100 * a / 67)
        assert round(100 * a / 67, 1) == p and L[cid].verdict == "consistent"
    # Table 1 onset: 51/67 = 76.1% printed 67.1; 16/67 = 23.9% printed 23.9
    assert L["table1.onset_spinal_pct"].recomputed == pytest.approx(76.1194, abs=1e-4)
    assert L["table1.onset_spinal_pct"].verdict == "inconsistent"
    assert L["table1.onset_spinal_pct"].difference == pytest.approx(67.1 - 5100 / 67)
    assert "91.0%" in L["table1.onset_spinal_pct"].note           # 67.1 + 23.9
    assert L["table1.onset_bulbar_pct"].verdict == "consistent"
    # FT9: 46/67 = 68.66 printed 66.7; 21/67 = 31.34 printed 31.1
    assert L["table1.ft9_1_2_pct"].verdict == "inconsistent"
    assert L["table1.ft9_3_5_pct"].verdict == "inconsistent"
    # abstract: 21/67 = 31.34 -> 31.3, 33/67 = 49.25 -> 49.3, 13/67 = 19.40 -> 19.4
    for cid in ("progression.decreased_pct", "progression.no_change_pct", "progression.increased_pct"):
        assert L[cid].verdict == "consistent"


def test_table2_columns_hand_computed(L):
    # men: 11 + 16 + 10 = 37 = n
    c = L["table2.men.total"]
    assert (c.reported, c.recomputed, c.verdict) == (37, 11 + 16 + 10, "consistent")
    # women: decreased or no change 10 + 17 = 27, printed 28
    c = L["table2.women.dec_or_nc"]
    assert (c.reported, c.recomputed, c.verdict, c.difference) == (28, 27, "inconsistent", 1)
    # its percentage is checked against its own printed count: 28/30 = 93.33 -> 93.3
    assert L["table2.women.dec_or_nc_pct"].verdict == "consistent"
    # men: 27/37 = 72.97 printed 72.3
    assert L["table2.men.dec_or_nc_pct"].verdict == "inconsistent"
    # fast: 14/26 = 53.85 printed 53.9
    assert L["table2.fast.no_change_pct"].recomputed == pytest.approx(1400 / 26)
    assert L["table2.fast.no_change_pct"].verdict == "inconsistent"
    # subgroup sizes: 37 + 30 = 67, 21 + 46 = 67; classes: 11 + 10 = 21
    assert L["table2.sex.n_sum"].recomputed == 67 and L["table2.ft9.n_sum"].recomputed == 67
    assert L["table2.sex.decreased_sum"].recomputed == 21


def test_risk_benefit_ratios_hand_computed(L):
    # written 1:x = increased:decreased, so x = decreased / increased
    c = L["table2.men.ratio"]
    assert c.recomputed == pytest.approx(11 / 10) and c.reported == 1.1 and c.verdict == "consistent"
    c = L["table2.women.ratio"]                     # 10/3 = 3.33, printed 1:5
    assert c.recomputed == pytest.approx(10 / 3) and c.verdict == "inconsistent"
    assert c.difference == pytest.approx(5 - 10 / 3)
    assert L["table2.general.ratio"].verdict == "consistent"          # 21/13 = 1.615 -> 1.6
    assert L["table2.ft9_1_2.ratio"].recomputed == 1.0                # 5/5, printed 1:1.25
    assert L["table2.ft9_1_2.ratio"].verdict == "inconsistent"
    assert L["table2.bulbar.ratio"].recomputed == 2.0                 # 4/2, printed 1:4
    # favourable (decreased > increased) in 11 of the 12 subgroups: FT9 1-2 is 5 vs 5
    c = L["progression.risk_benefit_favourable"]
    assert (c.reported, c.recomputed, c.verdict) == (12, 11, "inconsistent")


def test_hr_p_from_ci_hand_computed(L):
    # SE = (ln 0.59 - ln 0.16) / (2 * 1.96) = 1.304948 / 3.919928 = 0.332900
    se = (math.log(0.59) - math.log(0.16)) / (2 * Z)
    assert se == pytest.approx(0.3329, abs=1e-4)
    z = math.log(0.30) / se                       # -1.203973 / 0.332900 = -3.6166
    p = 2 * (1 - PHI(abs(z)))                     # 0.000298
    c = L["survival.hr_p"]
    assert c.recomputed == pytest.approx(p, rel=1e-9)
    assert round(p, 4) == 0.0003                  # the printed inputs alone give 0.0003, not 0.0004
    # but rounding of the printed inputs allows it: p is monotone in each input, the corners bound it
    def pv(h, lo, hi):
        s = (math.log(hi) - math.log(lo)) / (2 * Z)
        return 2 * (1 - PHI(abs(math.log(h)) / s))
    pmax, pmin = pv(0.305, 0.155, 0.595), pv(0.295, 0.165, 0.585)
    assert pmin < 0.00035 and pmax > 0.00045
    assert c.verdict == "consistent"
    assert f"{pmin:.6f}" in c.note and f"{pmax:.6f}" in c.note
    # HR implied by the CI's geometric midpoint: sqrt(0.16 * 0.59) = 0.3072, range 0.3011..0.3133
    c = L["survival.hr"]
    assert c.recomputed == pytest.approx(math.sqrt(0.16 * 0.59))
    assert math.sqrt(0.155 * 0.585) < 0.305 and c.verdict == "consistent"


def test_other_derived_values_hand_computed(L):
    # OLS: z = 0.54 / 0.15 = 3.6, p = 2 (1 - Phi(3.6)) = 0.000318 -> 0.0003
    c = L["progression.ols_p"]
    assert c.recomputed == pytest.approx(2 * (1 - PHI(3.6)), rel=1e-9) and c.verdict == "consistent"
    # early response: SE = 0.48 / 3.92 = 0.1224, z = 2.695, p = 0.0070: off the printed 0.0059 at
    # the printed inputs, but "-0.1" (1 decimal) allows SE down to 0.425/3.92 and p below 0.0059
    c = L["early.p_from_ci"]
    assert c.recomputed == pytest.approx(2 * (1 - PHI(0.33 / (0.48 / (2 * Z)))), rel=1e-9)
    assert 2 * (1 - PHI(0.335 / (0.435 / (2 * Z)))) < 0.00585 and c.verdict == "consistent"
    # CI midpoint (-0.58 - 0.1) / 2 = -0.34
    assert L["early.ci_midpoint"].recomputed == pytest.approx(-0.34)
    # medians: 1183 / 640 = 1.848 -> "two-fold" at integer precision; 1193/568 = 2.10; 994/580 = 1.71
    assert L["survival.median_ratio"].recomputed == pytest.approx(1183 / 640)
    assert L["survival.median_ratio"].verdict == "consistent"
    assert L["survival.median_ratio_no_change"].recomputed == pytest.approx(994 / 580)
    # risk reduction 1 - 0.30 = 70%
    assert L["survival.risk_reduction"].recomputed == pytest.approx(70)


def test_cross_table_checks_hand_computed(L):
    # caliper: the treated patient at -4.2 has a partner at -2.2 or above: |-4.2 + 2.2| = 2.0 > 0.5
    c = L["matching.caliper_vs_table1"]
    assert c.recomputed == pytest.approx(2.0) and c.verdict == "inconsistent"
    assert c.difference == pytest.approx(0.5 - 2.0)
    # FT9 1-2: 21 in Table 2, 46 in Table 1 (and the reverse for 3-5)
    c = L["table2.ft9_1_2.n_vs_table1"]
    assert (c.reported, c.recomputed, c.verdict) == (21, 46, "inconsistent") and "swap" in c.note
    assert L["table2.ft9_3_5.n_vs_table1"].verdict == "inconsistent"
    assert L["table2.men.n_vs_table1"].verdict == "consistent"
    # 67 ages: the median is the 34th, so at most 33 lie strictly below it; Table 2 says 35
    c = L["table2.age_below_median.n_bound"]
    assert (c.reported, c.recomputed, c.verdict) == (35, 33, "inconsistent")
    assert L["matching.exact_match_table1"].verdict == "consistent"


def _p_table(x1, x0, n, test):
    t = [[x1, x0], [n - x1, n - x0]]
    if test == "fisher":
        return stats.fisher_exact(t).pvalue
    if x1 + x0 == 0:
        return 1.0
    return stats.chi2_contingency(t, correction=False).pvalue


def test_power_claim_hand_computed(L):
    # 0% reference: every reference patient dead, only the treated count x ~ Bin(11, 0.4) varies;
    # power = sum over x of Bin(x; 11, 0.4) [p(table x vs 0) <= 0.05], with scipy's own tests
    def pw(test):
        return sum(math.comb(11, x) * 0.4 ** x * 0.6 ** (11 - x)
                   for x in range(12) if _p_table(x, 0, 11, test) <= 0.05)
    chi2, fisher = pw("chi2"), pw("fisher")
    assert chi2 == pytest.approx(sum(math.comb(11, x) * 0.4 ** x * 0.6 ** (11 - x) for x in range(4, 12)))
    c = L["power.at_11"]
    assert c.recomputed == pytest.approx(max(chi2, fisher), rel=1e-9)   # chi-square is the largest
    assert c.verdict == "inconsistent" and c.difference == pytest.approx(0.90 - chi2, rel=1e-9)
    assert f"fisher {fisher:.4f}" in c.note
    # n for 90%: chi-square at 15 per group reaches 90%, at 14 it does not
    def pw_n(n):
        return sum(math.comb(n, x) * 0.4 ** x * 0.6 ** (n - x)
                   for x in range(n + 1) if _p_table(x, 0, n, "chi2") <= 0.05)
    assert pw_n(15) >= 0.9 > pw_n(14)
    c = L["power.n_for_90"]
    assert (c.reported, c.recomputed, c.verdict) == (11, 15, "inconsistent")
    assert L["power.at_67"].verdict == "consistent"
    assert L["power.n_total"].verdict == "consistent"


def test_female_significance_hand_computed(L):
    # increased vs not by sex: [[10, 27], [3, 27]]; Pearson X^2 = N (ad - bc)^2 / (r1 r2 c1 c2)
    x2 = 67 * (10 * 27 - 27 * 3) ** 2 / (13 * 54 * 37 * 30)
    p = math.erfc(math.sqrt(x2 / 2))               # chi-square 1 df upper tail
    assert p == pytest.approx(0.0797, abs=1e-4)
    c = L["progression.female_significant"]
    assert c.recomputed == pytest.approx(p, rel=1e-9) and c.verdict == "inconsistent"


def test_table3_slope_against_a_brute_force_twin(L):
    # twin: for each slope b on a fine grid, the intercepts a that reproduce every printed
    # probability form the interval [max(L - b x), min(H - b x)]; feasible slopes are where it is non-empty
    t3 = np.array(seedpaper.reported()["early_response"]["table3"], dtype=float)
    x, p = t3[:, 0], t3[:, 1]
    lo, hi = (p - 0.05) / 100, (p + 0.05) / 100
    Lg, Hg = np.log(lo / (1 - lo)), np.log(hi / (1 - hi))
    bs = np.linspace(-0.34, -0.33, 20001)
    feas = np.array([np.max(Lg - b * x) <= np.min(Hg - b * x) for b in bs])
    assert feas.any()
    b_lo, b_hi = bs[feas].min(), bs[feas].max()
    c = L["early.table3_slope"]
    assert c.recomputed == pytest.approx((b_lo + b_hi) / 2, abs=2e-6)
    assert b_hi < -0.335                            # no slope that rounds to -0.33 reproduces Table 3
    assert c.verdict == "inconsistent"
    assert L["early.table3_logistic"].recomputed == len(t3)


def test_the_set_of_inconsistencies_is_the_hand_derived_one(L):
    # derived by hand from the paper before the code ran (see the arithmetic in the tests above)
    expected = {
        "matching.caliper_vs_table1",                                     # 2.0 > 0.5
        "table1.onset_spinal_pct", "table1.ft9_1_2_pct", "table1.ft9_3_5_pct",
        "power.at_11", "power.n_for_90",
        "progression.female_significant", "progression.risk_benefit_favourable",
        "table2.men.increased_pct",           # 10/37 = 27.03 vs 27.1
        "table2.men.dec_or_nc_pct",           # 27/37 = 72.97 vs 72.3
        "table2.women.dec_or_nc",             # 10 + 17 = 27 vs 28
        "table2.women.ratio",                 # 10/3 vs 5
        "table2.age_from_median.dec_or_nc",   # 7 + 19 = 26 vs 27
        "table2.age_from_median.ratio",       # 7/6 = 1.17 vs 1.4
        "table2.ft9_1_2.dec_or_nc",           # 5 + 11 = 16 vs 17
        "table2.ft9_1_2.ratio",               # 5/5 vs 1.25
        "table2.ft9_1_2.n_vs_table1", "table2.ft9_3_5.n_vs_table1",
        "table2.fast.no_change_pct",          # 14/26 = 53.85 vs 53.9
        "table2.slow.dec_or_nc",              # 12 + 19 = 31 vs 32
        "table2.slow.ratio",                  # 12/10 = 1.2 vs 1.3
        "table2.bulbar.dec_or_nc",            # 4 + 10 = 14 vs 15
        "table2.bulbar.ratio",                # 4/2 = 2 vs 4
        "table2.riluzole_yes.dec_or_nc",      # 17 + 22 = 39 vs 40
        "table2.riluzole_yes.ratio",          # 17/11 = 1.55 vs 1.7
        "table2.age_below_median.n_bound",    # 35 > 33
        "early.table3_slope",                 # -0.336 vs -0.33
    }
    got = {cid for cid, c in L.items() if c.verdict == "inconsistent"}
    assert got == expected


# ----------------------------------------------------------------------------- structure
def test_every_claim_is_well_formed(L):
    assert len(L) == len(C.ledger())                # ids are unique
    for c in L.values():
        assert c.verdict in C.VERDICTS
        assert isinstance(c.reported, (int, float)) and math.isfinite(c.reported)
        assert c.section in C.SECTIONS and c.where and c.claim
        if c.verdict == "unverifiable":
            assert c.recomputed is None and c.difference is None and c.note
        else:
            assert math.isfinite(c.recomputed) and math.isfinite(c.difference)
            assert c.difference == pytest.approx(c.reported - c.recomputed, abs=1e-12)
        if c.verdict == "inconsistent":
            assert c.note
    for cid in C.WORLD_EVENTS:
        assert cid in L
    assert C.counts(list(L.values()))["unverifiable"] >= 1


def test_records_and_json(capsys, L):
    recs = C.to_records(C.ledger())
    assert [r["id"] for r in recs] == [c.id for c in C.ledger()]
    assert main(["claims", "--json"]) == 0
    out = capsys.readouterr().out
    def no_nan(tok):
        raise AssertionError(f"non-finite {tok} in JSON")
    data = json.loads(out, parse_constant=no_nan)
    assert data == json.loads(json.dumps(recs))
    required = {"id", "where", "claim", "reported", "recomputed", "verdict", "difference"}
    for r in data:
        assert required <= set(r)
        assert isinstance(r["reported"], (int, float)) and not isinstance(r["reported"], bool)
        assert r["recomputed"] is None or isinstance(r["recomputed"], (int, float))
        assert r["verdict"] in C.VERDICTS


# sha256 of `simkit claims --json` and `simkit claims --notes all` before claims.py became a
# package (commit 355bd49): the split must not change a byte.  A deliberate change of the
# ledger or of simkit/data/seed_paper.json changes them; print the new ones with
# `python -m simkit.cli claims --json | sha256sum` and say why in the commit.
_CLAIMS_JSON_SHA256 = "643f6122afc4591d29c87be3877a0d2e64b6d23f7902699fe218357875e023df"
_CLAIMS_TABLE_SHA256 = "38ac36d1402fa13692979846f734cb783e42ac1142ae50af9f076b68296bdf46"


def test_cli_output_byte_identical_to_the_single_module(capsys):
    assert main(["claims", "--json"]) == 0
    assert hashlib.sha256(capsys.readouterr().out.encode()).hexdigest() == _CLAIMS_JSON_SHA256
    assert main(["claims", "--notes", "all"]) == 0
    assert hashlib.sha256(capsys.readouterr().out.encode()).hexdigest() == _CLAIMS_TABLE_SHA256


def test_package_api_is_the_old_modules():
    # what simkit.commands.claims and simkit.report.audit use, importable from the package itself
    for name in ("ledger", "to_records", "attach_probabilities", "render", "counts", "VERDICTS",
                 "SECTIONS", "WORLD_EVENTS", "Claim", "decimals_of", "rounds_to"):
        assert hasattr(C, name), name
    assert C.ledger()[0].__class__ is C.Claim


def test_cli_table_and_filters(capsys):
    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    n = C.counts(C.ledger())
    assert f"verdicts: {n['consistent']} consistent, {n['inconsistent']} inconsistent, " \
           f"{n['unverifiable']} unverifiable" in out
    for title in C.SECTIONS.values():
        assert f"== {title} ==" in out
    assert "note: " in out
    assert main(["claims", "--verdict", "inconsistent", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and all(r["verdict"] == "inconsistent" for r in data)
    assert main(["claims", "--verdict", "wrong"]) == 2
    assert "--verdict" in capsys.readouterr().err


# ----------------------------------------------------------------------------- computed, not typed in
def test_verdicts_follow_the_data(monkeypatch):
    def edit(d):
        d["table1"]["onset_spinal_pct"] = [76.1, 76.1]                     # the correct percentage
        d["table2"]["rows"]["sex=M"][6] = 27.0                              # 10/37 -> 27.0
        d["table2"]["rows"]["sex=F"][7] = 27                                # 10 + 17
        d["survival"]["hr_p"] = 0.01                                        # far from the CI's p
        d["power_claim"]["power"] = 0.70                                    # chi-square's exact power
        d["table1"]["pre_slope_range"][1][0] = -4.0                         # reference min near -4.2
        d["early_response"]["coef"] = -0.34
    mod = _modified(edit)
    monkeypatch.setattr(seedpaper, "reported", lambda: mod)
    L2 = {c.id: c for c in C.ledger()}
    assert L2["table1.onset_spinal_pct"].verdict == "consistent"
    assert L2["table2.men.increased_pct"].verdict == "consistent"
    assert L2["table2.women.dec_or_nc"].verdict == "consistent"
    assert L2["table2.women.dec_or_nc_pct"].verdict == "inconsistent"      # 27/30 = 90.0 vs 93.3
    assert L2["survival.hr_p"].verdict == "inconsistent"
    assert L2["power.at_11"].verdict == "consistent"
    assert L2["matching.caliper_vs_table1"].verdict == "consistent"
    assert L2["matching.caliper_vs_table1"].recomputed == pytest.approx(0.2)
    assert L2["early.table3_slope"].verdict == "consistent"
    # the same through the explicit argument, and the original data untouched
    assert {c.id: c.verdict for c in C.ledger(mod)} == {k: v.verdict for k, v in L2.items()}
    monkeypatch.undo()
    assert {c.id: c.verdict for c in C.ledger()}["table1.onset_spinal_pct"] == "inconsistent"


def test_boundary_case_through_the_ledger():
    # 6/32 = 18.75: printed 18.7 and 18.8 both consistent, 18.6 not
    for printed, verdict in ((18.7, "consistent"), (18.8, "consistent"), (18.6, "inconsistent")):
        mod = _modified(lambda d: d["table2"]["rows"]["age=>=median"].__setitem__(6, printed))
        c = {c.id: c for c in C.ledger(mod)}["table2.age_from_median.increased_pct"]
        assert c.verdict == verdict


# ----------------------------------------------------------------------------- world hook
def test_attach_probabilities():
    recs = C.to_records(C.ledger())
    probs = {"survival.hr": {"null": (0.012, 0.001), "seed": (0.2, 0.004)},
             "progression.decreased_pct": {"null": (0.3, 0.005)}}
    out = C.attach_probabilities(recs, probs)
    assert out is recs
    by = {r["id"]: r for r in recs}
    assert by["survival.hr"]["probability_in_worlds"] == {"null": {"p": 0.012, "mcse": 0.001},
                                                         "seed": {"p": 0.2, "mcse": 0.004}}
    assert by["survival.hr"]["world_event"] == C.WORLD_EVENTS["survival.hr"]
    assert "probability_in_worlds" not in by["survival.median_ratio"]
    assert "probability_in_worlds" not in by["table2.men.total"]
    with pytest.raises(InputError, match="table2.men.total"):
        C.attach_probabilities(recs, {"table2.men.total": {"null": (0.1, 0.01)}})
    with pytest.raises(InputError):
        C.attach_probabilities(recs, {"survival.hr": {"null": (1.5, 0.01)}})
    with pytest.raises(InputError):
        C.attach_probabilities(recs, {"survival.hr": {"null": (0.5, -0.01)}})
    with pytest.raises(InputError):
        C.attach_probabilities(recs, {"survival.hr": {"null": 0.5}})
    with pytest.raises(InputError, match="not in the records"):
        C.attach_probabilities([r for r in recs if r["id"] != "survival.hr"],
                               {"survival.hr": {"null": (0.5, 0.01)}})
    json.dumps(recs, allow_nan=False)


def test_one_patient_pattern_in_table2(L):
    # the rows whose decreased-or-no-change count and ratio are both off fit (dec, nc + 1, inc - 1):
    # women 10 + 18 = 28 and 10/2 = 5; age >= median 7 + 20 = 27 and 7/5 = 1.4; FT9 1-2 5 + 12 = 17
    # and 5/4 = 1.25; slow 12 + 20 = 32 and 12/9 = 1.33; bulbar 4 + 11 = 15 and 4/1 = 4;
    # riluzole yes 17 + 23 = 40 and 17/10 = 1.7 -- one row per subgrouping variable
    rows = _t2rows(seedpaper.reported())
    flagged = {k for k, v in rows.items() if _one_moved(v)}
    assert flagged == {"sex=F", "age=>=median", "ft9=1-2", "progression=slow", "onset=bulbar", "riluzole=yes"}
    for slug in ("women", "age_from_median", "ft9_1_2", "slow", "bulbar", "riluzole_yes"):
        assert "as if" in L[f"table2.{slug}.dec_or_nc"].note and "as if" in L[f"table2.{slug}.ratio"].note
    assert "as if" not in L["table2.men.ratio"].note
    # a row whose columns are right for its printed counts is never flagged
    assert not _one_moved(rows["sex=M"]) and not _one_moved(rows["general"])
