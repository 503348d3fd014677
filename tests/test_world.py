"""The simulated world: kernels against a slow plain-Python twin, invariants,
the direction of every bias mechanism, reproducibility, scenario validation."""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.stats import norm

from simkit.world import truth as T
from simkit.world import model as W
from simkit.errors import InputError
from simkit.world.export import TABLE_COLUMNS
from simkit.kernels import history as H
from simkit.kernels import rng

DPM = 365.25 / 12.0

# ---------------------------------------------------------------- the twin
# A second, deliberately plain implementation of the model in docs/world.md:
# Python floats, scipy's normal quantile, domain losses by bisection (not the
# closed-form breakpoints), explicit visit bookkeeping.


def U(key, c):
    return float(rng.uniform(np.uint64(key), np.uint64(c)))


def N(key, c):
    return float(norm.ppf(U(key, c)))


def derive(key, part):
    return np.uint64(rng.derive(np.uint64(key), np.uint64(part)))


def rnd(x):
    return math.floor(x + 0.5)


def pop_of(th, prefix):
    return {f: th[prefix + f] for f in H.POP_FIELDS}


def mixed_pop(th, mix):
    return {f: th["reg_" + f] + mix * (th["clin_" + f] - th["reg_" + f]) for f in H.POP_FIELDS}


def twin_base(th, pop, kb):
    p = {}
    p["male"] = U(kb, 0) < pop["p_male"]
    p["white"] = U(kb, 1) < pop["p_white"]
    p["bulbar"] = U(kb, 2) < pop["p_bulbar"]
    p["ril"] = U(kb, 3) < pop["p_riluzole"]
    p["age"] = pop["age_mean"] + pop["age_sd"] * N(kb, 4)
    p["u"] = N(kb, 5)
    a10 = (p["age"] - 55.0) / 10.0
    logr = (th["rate_log_mean"] + pop["rate_log_shift"] + th["rate_bulbar"] * p["bulbar"]
            + th["rate_age10"] * a10 + th["rate_u"] * p["u"] + th["rate_log_sd"] * N(kb, 6))
    logd = pop["duration_log_mean"] - th["duration_elasticity"] * logr + pop["duration_log_sd"] * N(kb, 7)
    p["r"], p["logd"], p["d"] = math.exp(logr), logd, math.exp(logd)
    p["eta"] = (th["beta_log_rate"] * logr + th["beta_age10"] * a10 + th["beta_bulbar"] * p["bulbar"]
                + th["beta_riluzole"] * p["ril"] + th["beta_u"] * p["u"])
    return p


def twin_shares(th, kb, p):
    v = [1.0, 1.0, 1.0, th["resp_weight"]]
    if p["bulbar"]:
        v[0] = th["onset_weight"]
    elif U(kb, 12) < 0.5:
        v[1] = th["onset_weight"]
    else:
        v[2] = th["onset_weight"]
    bits = int(U(kb, 8) * 2.0 ** 52)
    f = [(((bits >> (13 * i)) & 8191) + 0.5) / 8192 for i in range(4)]     # four uniforms
    v = [v[i] * (1 + th["share_spread"] * (2 * f[i] - 1)) for i in range(4)]
    p["a"] = [x / sum(v) for x in v]


def twin_domains_true(a, loss):
    """True domain scores: losses a_d x capped at 12 with sum = loss (bisection on x)."""
    if loss <= 0:
        return [min(12.0, 12.0 - ai * loss) for ai in a]
    if loss >= 48:
        return [0.0] * 4
    lo, hi = 0.0, 48.0 / min(a) + 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(min(12.0, ai * mid) for ai in a) < loss:
            lo = mid
        else:
            hi = mid
    x = (lo + hi) / 2
    return [max(0.0, 12.0 - min(12.0, ai * x)) for ai in a]


def twin_rate(p, loss, nkey, slot, rater_sd):
    true = twin_domains_true(p["a"], loss)
    b1 = int(U(nkey, 2 * slot) * 2.0 ** 52)
    b2 = int(U(nkey, 2 * slot + 1) * 2.0 ** 52)
    a = rater_sd * math.sqrt(6.0)
    obs = []
    for d in range(4):
        v1 = (((b1 >> (13 * d)) & 8191) + 0.5) / 8192
        v2 = (((b2 >> (13 * d)) & 8191) + 0.5) / 8192
        obs.append(min(12, max(0, rnd(true[d] + a * (v1 + v2 - 1.0)))))
    return dict(total=float(sum(obs)), ft9=1 + sum(o < 9 for o in obs), resp=obs[3], true=sum(true), obs=obs)


def twin_course(th, key, anchor, p):
    """The course of decline (docs/world.md section 1b): curvature kappa and the switch
    times of a two-state (progressing / plateau) chain, from the PURPOSE_COURSE stream."""
    pi, km, ksd = th["plateau_share"], th["curvature_mean"], th["curvature_sd"]
    if pi <= 0 and km == 0 and ksd == 0:
        p["course"] = None
        return
    ck = derive(key, 6)
    kappa = km + (ksd * N(ck, 0) if ksd > 0 else 0.0)
    plateau0, switches, speed = False, [], 1.0
    if pi > 0:
        m_pl = th["plateau_months"]
        m_pr = m_pl * (1 - pi) / pi
        plateau0 = U(ck, 1) < pi
        state, t = plateau0, 0.0
        while len(switches) < 32:
            t += -(m_pl if state else m_pr) * math.log(U(ck, 2 + len(switches)))
            if t >= 72.0:
                break
            switches.append(t)
            state = not state
        speed = 1.0 / (1.0 - pi)
    p["course"] = dict(anchor=max(anchor, -p["d"]), kappa=kappa, plateau0=plateau0, switches=switches,
                       speed=speed)


def twin_x(p, tau):
    """Progressed time since the anchor minus elapsed time, by numerical integration of the
    rate multiplier over the progressing spells (not the kernel's closed form)."""
    from scipy.integrate import quad
    c = p["course"]
    s = tau - c["anchor"]
    if s <= 0:
        return 0.0
    kappa = c["kappa"]

    def rate(u):
        return max(0.0, 1.0 + kappa * u / 12.0)

    kink = -12.0 / kappa if kappa < 0 else None
    edges = [0.0] + [x for x in c["switches"] if x < s] + [s]
    plateau, total = c["plateau0"], 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        if not plateau and b > a:
            pts = [kink] if kink is not None and a < kink < b else None
            total += quad(rate, a, b, points=pts, epsabs=1e-13, epsrel=1e-13)[0]
        plateau = not plateau
    return total * c["speed"] - s


def twin_loss(p, tau, w, post_rate):
    t = p["d"] + tau
    if t <= 0:
        return 0.0
    if p.get("course") is None:
        if tau <= 0:
            return p["r"] * t + w
        return p["r"] * p["d"] + post_rate * tau + w
    x = twin_x(p, tau)
    if tau <= 0:
        return p["r"] * (t + x) + w
    x0 = twin_x(p, 0.0)
    return p["r"] * (p["d"] + x0) + post_rate * (tau + x - x0) + w


def twin_ou(th, w, dt, tkey, slot):
    if w is None:
        return th["wiggle_sd"] * N(tkey, slot)
    if dt <= 0:
        return w
    rho = math.exp(-dt / th["wiggle_months"])
    return rho * w + th["wiggle_sd"] * math.sqrt(1 - rho * rho) * N(tkey, slot)


def twin_death(th, p, log_hr, e):
    k, lam = th["weibull_shape"], th["weibull_scale"]
    # solve (T/lam)^k - (D/lam)^k = e / exp(eta + log_hr)
    return lam * ((p["d"] / lam) ** k + e / math.exp(p["eta"] + log_hr)) ** (1.0 / k)


def twin_death_from(th, p, d_from, d_index, log_hr, e):
    """Death given alive at d_from, the hazard times exp(log_hr) after d_index:
    the cumulative hazard from d_from, piece by piece."""
    k, lam = th["weibull_shape"], th["weibull_scale"]

    def H(t):
        return (t / lam) ** k * math.exp(p["eta"])
    before = H(d_index) - H(d_from)
    if e <= before:
        return lam * ((d_from / lam) ** k + e / math.exp(p["eta"])) ** (1.0 / k)
    return lam * ((d_index / lam) ** k + (e - before) / math.exp(p["eta"] + log_hr)) ** (1.0 / k)


def twin_pool_patient(th, pk):
    """None if the candidate fails trial inclusion, else a dict of everything."""
    kb, tk, nk, sk = (derive(pk, x) for x in (1, 2, 3, 4))
    pop = pop_of(th, "reg_")
    p = twin_base(th, pop, kb)
    if not (pop["age_min"] <= p["age"] <= pop["age_max"]) or p["d"] > pop["max_duration"]:
        return None
    twin_shares(th, kb, p)
    twin_course(th, pk, 0.0, p)
    rs = th["rater_sd"]
    b0 = int(th["ref_baseline_month"])
    # latent w at trial months 0, b0-6, b0, b0+2, b0+4, b0+6 (OU, slot = month)
    months = sorted(set([0, b0 - 6, b0, b0 + 2, b0 + 4, b0 + 6]))
    w, prev = {}, None
    for m in months:
        w[m] = twin_ou(th, None if prev is None else w[prev], None if prev is None else m - prev, tk, m)
        prev = m
    rating = {m: twin_rate(p, twin_loss(p, float(m), w[m], p["r"]), nk, m, rs) for m in months}
    entry = rating[0]
    if entry["total"] < pop["min_score"] or entry["resp"] < pop["min_resp"]:
        return None
    tmin, tmax = th["trial_months_min"], th["trial_months_max"]
    trial_len = tmin + math.floor(U(kb, 13) * (tmax - tmin + 1))
    drop = -math.log(U(kb, 14)) / th["dropout_rate"] if th["dropout_rate"] > 0 else math.inf
    t_death = twin_death(th, p, 0.0, -math.log(U(sk, 0)))

    def visit(m):
        return m <= trial_len and drop > m and t_death > p["d"] + m

    has_base = visit(b0)
    mr = th["immortal_time_reference"]
    eligible = has_base and t_death > p["d"] + b0 + mr
    for q in (2, 4, 6):
        if q <= mr:
            eligible = eligible and visit(b0 + q)
    if U(kb, 15) < th["differential_followup"]:
        c_entry = min(trial_len, drop)
    else:
        c_entry = 12 * (th["followup_years_min"]
                        + U(kb, 16) * (th["followup_years_max"] - th["followup_years_min"]))
    recorded = t_death - p["d"] <= c_entry
    if eligible and not recorded and U(kb, 28) < th["reference_death_selection"]:
        eligible = False
    out = dict(p=p, entry=entry["total"], has_base=has_base, eligible=eligible,
               pre=rating[b0 - 6]["total"], s0=rating[b0]["total"], ft9=rating[b0]["ft9"],
               true0=rating[b0]["true"], true6=rating[b0 + 6]["true"])
    out["post"] = [rating[b0 + q]["total"] if visit(b0 + q) else math.nan for q in (2, 4, 6)]
    dt = t_death - (p["d"] + b0)
    c = c_entry - b0
    out["death_days"] = dt * DPM
    if dt <= 0 or c <= 0:
        out["time"], out["event"] = math.nan, math.nan
    elif dt <= c:
        out["time"], out["event"] = dt * DPM, 1.0
    else:
        out["time"], out["event"] = c * DPM, 0.0
    return out


def twin_pool(th, key, n):
    rows, keys, j = [], [], 0
    while len(rows) < n:
        pk = derive(key, j)
        j += 1
        r = twin_pool_patient(th, pk)
        if r is not None:
            rows.append(r)
            keys.append(pk)
    return rows, keys, j


def twin_applicant(th, ak):
    kb, tk, nk, sk = (derive(ak, x) for x in (1, 2, 3, 4))
    pop = mixed_pop(th, th["case_mix"])
    p = twin_base(th, pop, kb)
    if not (pop["age_min"] <= p["age"] <= pop["age_max"]) or p["d"] > pop["max_duration"]:
        return None
    twin_shares(th, kb, p)
    rs = th["rater_sd"]
    # time zero: as published at the first injection, or (aligned) an entry
    # visit ref_baseline_month before it; plus a wait from referral
    aligned = th["time_zero_misalignment"] < 1 and U(kb, 25) >= th["time_zero_misalignment"]
    lead = th["ref_baseline_month"] if aligned else 0.0
    if th["waiting_months"] > 0:
        lead += -th["waiting_months"] * math.log(U(kb, 27))
    d_from = p["d"]
    p["d"] = d_from + lead
    twin_course(th, ak, -lead if (aligned and lead > 6) else -6.0, p)
    w = {}
    if aligned and lead > 6:
        w["entry"] = twin_ou(th, None, None, tk, 13)
        w[-6] = twin_ou(th, w["entry"], lead - 6, tk, 14)
        entry = twin_rate(p, twin_loss(p, -lead, w["entry"], p["r"]), nk, 13, rs)
    else:
        w[-6] = twin_ou(th, None, None, tk, 0)
    for m, prev in ((0, -6), (2, 0), (4, 2), (6, 4)):
        w[m] = twin_ou(th, w[prev], m - prev, tk, m + 6)
    pre = twin_rate(p, twin_loss(p, -6.0, w[-6], p["r"]), nk, 0, rs)
    if not (aligned and lead > 6):
        entry = pre
    base = twin_rate(p, twin_loss(p, 0.0, w[0], p["r"]), nk, 6, rs)
    check = entry if aligned else base
    if check["total"] < pop["min_score"] or check["resp"] < pop["min_resp"]:
        return None
    pre_rec = pre["total"]
    if th["retro_noise"] > 0 or th["recall_shift"] != 0:
        pre_rec = min(48, max(0, rnd(pre["total"] + th["retro_noise"] * N(kb, 24) + th["recall_shift"])))
    slope = (pre_rec - base["total"]) / 6
    x = th["self_selection"] * p["u"] + th["regression_to_mean"] * (slope - 1.0)
    if not U(kb, 18) < 1.0 / (1.0 + math.exp(-x)):
        return None
    log_hr = math.log(th["hr"]) + th["log_hr_sd"] * N(kb, 22)
    delta = th["rate_change"] + th["rate_change_sd"] * N(kb, 23)
    if th["slope_hazard_link"] != 0:
        ratio = max(p["r"] + delta, 0.0) / p["r"]
        log_hr += th["slope_hazard_link"] * th["beta_log_rate"] * math.log(max(ratio, 0.05))
    e = -math.log(U(sk, 0))
    t_tr = twin_death_from(th, p, d_from, p["d"], math.log(th["era_hr"]) + log_hr, e)
    t_tw = twin_death_from(th, p, d_from, p["d"], math.log(th["era_hr"]), e)
    if t_tr <= p["d"]:
        return None                  # died waiting for the first injection
    if th["immortal_time_treated"] > 0 and t_tr <= p["d"] + th["immortal_time_treated"]:
        return None
    p["age"] += lead / 12
    year = th["enrol_start"] + U(kb, 17) * (th["enrol_end"] - th["enrol_start"])
    c = 12 * (th["censor_date"] - year)
    if th["treated_loss_rate"] > 0:
        c = min(c, -math.log(U(kb, 19)) / (th["treated_loss_rate"] / 12))
    out = dict(p=p, pre=pre_rec, s0=base["total"], ft9=base["ft9"], ft9_obs=base["obs"], year=year)
    for arm, tt, post_rate, shift in (("tr", t_tr, max(p["r"] + delta, 0.0), th["unblinded_shift"]),
                                      ("tw", t_tw, p["r"], 0.0)):
        post = []
        for m in (2, 4, 6):
            o = twin_rate(p, twin_loss(p, float(m), w[m], post_rate), nk, m + 6, rs)
            tot = min(48, max(0, rnd(o["total"] + shift))) if shift != 0 else o["total"]
            post.append(tot if tt > p["d"] + m else math.nan)
            if m == 6:
                out[arm + "_true6"] = o["true"]
        if arm == "tr" and base["total"] - post[1] >= 4 and U(kb, 26) < th["early_exclusion"]:
            return None              # excluded before the third injection
        dt = tt - p["d"]
        if dt > c:
            tm, ev = c, 0.0
        elif U(kb, 20) < th["death_ascertainment"]:
            lv = max([v for v in (0.0, 2.0, 4.0, 6.0) if v < dt])
            tm, ev = lv + U(kb, 21) * (dt - lv), 0.0
        else:
            tm, ev = dt, 1.0
        out[arm] = dict(post=post, time=tm * DPM, event=ev, death=dt * DPM)
    out["log_hr"], out["delta"] = log_hr, delta
    return out


def twin_treated(th, key, n):
    rows, j = [], 0
    while len(rows) < n:
        r = twin_applicant(th, derive(key, j))
        if r is not None:
            r["applicant"] = j
            rows.append(r)
        j += 1
    return rows, j


# ------------------------------------------------------------ parameter sets

def _settings():
    return {
        "default": {},
        "fair": W.MECHANISMS_OFF,
        "effect": dict(hr=0.5, log_hr_sd=0.4, rate_change=-0.4, rate_change_sd=0.3, unblinded_shift=2.5,
                       retro_noise=3.0, self_selection=1.0, regression_to_mean=1.5),
        "later_baseline": dict(ref_baseline_month=8, immortal_time_reference=3.0, dropout_rate=0.05,
                               immortal_time_treated=4.0, death_ascertainment=0.6, treated_loss_rate=0.5,
                               differential_followup=0.8, case_mix=0.4),
        "slow_noisy": dict(rate_log_mean=-0.6, rater_sd=1.2, wiggle_sd=3.0, share_spread=0.9, era_hr=0.6),
        "new_mechanisms": dict(reference_death_selection=0.7, recall_shift=2.0, early_exclusion=0.8,
                               waiting_months=2.0, time_zero_misalignment=0.5, retro_noise=0.0),
        "aligned_late": dict(time_zero_misalignment=0.0, ref_baseline_month=9, waiting_months=1.0,
                             recall_shift=-1.5, early_exclusion=1.0, reference_death_selection=1.0),
        # the course of decline: linear (the old model), curvature alone (negative kappas reach
        # zero rate: the kink), frequent short plateaus (the switch cap), and the slope-hazard link
        "linear": dict(curvature_mean=0.0, curvature_sd=0.0, plateau_share=0.0),
        "curved": dict(curvature_mean=-0.8, curvature_sd=1.0, plateau_share=0.0, rate_change=-0.5,
                       rate_change_sd=0.4, slope_hazard_link=1.0),
        "plateaus": dict(curvature_mean=0.0, curvature_sd=0.0, plateau_share=0.8, plateau_months=1.0,
                         time_zero_misalignment=0.0, waiting_months=8.0, rate_change=-2.0,
                         slope_hazard_link=0.5),
    }


SETTINGS = _settings()


def close(a, b, tol=1e-7):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


# -------------------------------------------------------------- the kernels


def test_qnorm_matches_scipy():
    p = np.r_[np.random.default_rng(1).uniform(size=2000), 1e-300, 1e-12, 0.02425, 0.5, 0.97575,
              1 - 1e-12, 2.0 ** -53]
    got = np.array([H.qnorm(x) for x in p])
    ref = norm.ppf(p)
    assert np.allclose(got, ref, rtol=2e-9, atol=2e-9)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_pool_baseline_and_outcomes_match_twin(setting):
    theta = W.build_theta(SETTINGS[setting])
    th = W.theta_dict(theta)
    keys = np.random.default_rng(list(SETTINGS).index(setting)).integers(0, 2**63, size=4, dtype=np.uint64)
    for key in keys:
        n = 40
        pool = W.generate_pool(theta, key, n)
        rows, tkeys, ncand = twin_pool(th, key, n)
        assert pool.n_candidates == ncand
        assert [int(k) for k in pool.keys] == [int(k) for k in tkeys]
        out = W.pool_outcomes(theta, pool.keys)
        d = pool.data
        for i, r in enumerate(rows):
            p = r["p"]
            assert d[i, H.PB_SEX] == p["male"] and d[i, H.PB_RACE] == (not p["white"])
            assert d[i, H.PB_ONSET] == p["bulbar"] and d[i, H.PB_RILUZOLE] == p["ril"]
            assert close(d[i, H.PB_AGE], p["age"] + th["ref_baseline_month"] / 12)
            assert close(d[i, H.PB_RATE], p["r"]) and close(d[i, H.PB_DURATION], p["d"])
            assert d[i, H.PB_ENTRY_SCORE] == r["entry"]
            assert d[i, H.PB_ELIGIBLE] == r["eligible"]
            if r["has_base"]:
                assert d[i, H.PB_ALSFRS_PRE] == r["pre"] and d[i, H.PB_ALSFRS_0] == r["s0"]
                assert d[i, H.PB_FT9] == r["ft9"]
                assert d[i, H.PB_PRE_SLOPE] == (r["pre"] - r["s0"]) / 6
            else:
                assert np.isnan(d[i, H.PB_ALSFRS_0]) and np.isnan(d[i, H.PB_PRE_SLOPE])
            for q, name in enumerate(("alsfrs_2", "alsfrs_4", "alsfrs_6")):
                assert close(float(out[name][i]), float(r["post"][q]))
            for name, ref in (("time_days", r["time"]), ("event", r["event"]),
                              ("death_days", r["death_days"]), ("true_0", r["true0"]),
                              ("true_6", r["true6"])):
                assert close(float(out[name][i]), float(ref), 1e-6), (name, out[name][i], ref)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_treated_cohort_matches_twin(setting):
    theta = W.build_theta(SETTINGS[setting])
    th = W.theta_dict(theta)
    keys = np.random.default_rng(7 + len(setting)).integers(0, 2**63, size=4, dtype=np.uint64)
    for key in keys:
        n = 25
        tr = W.generate_treated(theta, key, n)
        rows, nappl = twin_treated(th, key, n)
        assert tr.n_applicants == nappl
        t, tw = tr.data, tr.twin
        for i, r in enumerate(rows):
            p = r["p"]
            assert t[i, H.TC_APPLICANT] == r["applicant"]
            assert t[i, H.TC_SEX] == p["male"] and t[i, H.TC_ONSET] == p["bulbar"]
            assert close(t[i, H.TC_AGE], p["age"]) and close(t[i, H.TC_U], p["u"])
            assert t[i, H.TC_ALSFRS_PRE] == r["pre"] and t[i, H.TC_ALSFRS_0] == r["s0"]
            assert t[i, H.TC_FT9] == r["ft9"] == 1 + sum(o < 9 for o in r["ft9_obs"])
            assert close(t[i, H.TC_ENROL_YEAR], r["year"])
            assert close(t[i, H.TC_LOG_HR], r["log_hr"]) and close(t[i, H.TC_RATE_CHANGE], r["delta"])
            for arr, arm in ((t, "tr"), (tw, "tw")):
                for q in range(3):
                    assert close(float(arr[i, H.TC_ALSFRS_2 + q]), float(r[arm]["post"][q])), (arm, q)
                assert close(arr[i, H.TC_TIME_DAYS], r[arm]["time"], 1e-6)
                assert arr[i, H.TC_EVENT] == r[arm]["event"]
                assert close(arr[i, H.TC_DEATH_DAYS], r[arm]["death"], 1e-6)
                assert close(arr[i, H.TC_TRUE_6], r[arm + "_true6"], 1e-6)


def test_spill_over_domains_match_bisection():
    """rate_visit's closed-form spill-over against bisection, with no rater noise."""
    g = np.random.default_rng(3)
    st = np.zeros(H.N_S)
    for _ in range(300):
        theta = W.build_theta(share_spread=float(g.uniform(0, 0.95)), onset_weight=float(g.uniform(0.3, 6)))
        st[H.S_BULBAR] = float(g.integers(0, 2))
        ub = g.uniform(size=H.N_UB_POOL)
        H.draw_shares(theta, ub, st)
        a = list(st[H.S_A0:H.S_A0 + 4])
        assert abs(sum(a) - 1) < 1e-12
        loss = float(g.uniform(-5, 55))
        total, ft9, resp, true = H.rate_visit(st, loss, 0.3, 0.7, 0.0)
        ref = twin_domains_true(a, loss)
        assert abs(true - sum(ref)) < 1e-6
        assert abs(true - (48.0 - min(max(loss, 0.0), 48.0))) < 1e-6
        obs = [min(12, max(0, rnd(x))) for x in ref]
        assert total == sum(obs) and ft9 == 1 + sum(o < 9 for o in obs) and resp == obs[3]


# ---------------------------------------------------------------- invariants


@pytest.fixture(scope="module")
def big():
    theta = W.build_theta()
    pool = W.generate_pool(theta, W.pool_key(5, 0, 0), 20_000)
    out = W.pool_outcomes(theta, pool.keys)
    tr = W.generate_treated(theta, W.treated_key(5, 0, 0), 5000)
    return theta, pool, out, tr


def _int_scores(a):
    a = a[np.isfinite(a)]
    return len(a) > 0 and np.all(a == np.round(a)) and a.min() >= 0 and a.max() <= 48


def test_scores_are_integers_in_range(big):
    _theta, pool, out, tr = big
    for c in (H.PB_ALSFRS_PRE, H.PB_ALSFRS_0, H.PB_ENTRY_SCORE):
        assert _int_scores(pool.data[:, c])
    for name in ("alsfrs_2", "alsfrs_4", "alsfrs_6"):
        assert _int_scores(out[name])
    for arr in (tr.data, tr.twin):
        for c in range(H.TC_ALSFRS_PRE, H.TC_ALSFRS_6 + 1):
            assert _int_scores(arr[:, c])
    assert np.all(np.isfinite(tr.data[:, H.TC_ALSFRS_0]))


def test_ft9_stage_range_and_consistency(big):
    _theta, pool, _out, tr = big
    for ft9, tot in ((pool.data[:, H.PB_FT9], pool.data[:, H.PB_ALSFRS_0]),
                     (tr.data[:, H.TC_FT9], tr.data[:, H.TC_ALSFRS_0])):
        ok = np.isfinite(ft9)
        ft9, tot = ft9[ok], tot[ok]
        assert set(np.unique(ft9)) <= {1, 2, 3, 4, 5} and len(np.unique(ft9)) >= 4
        k = ft9 - 1          # domains below 9 score at most 8, the others at most 12
        assert np.all(tot <= 8 * k + 12 * (4 - k))
        assert np.all(tot >= 9 * (4 - k))


def test_no_visit_after_death(big):
    _theta, pool, out, tr = big
    for q, name in ((2, "alsfrs_2"), (4, "alsfrs_4"), (6, "alsfrs_6")):
        dead = out["death_days"] <= q * DPM
        assert np.all(np.isnan(out[name][dead]))
        for arr in (tr.data, tr.twin):
            dead = arr[:, H.TC_DEATH_DAYS] <= q * DPM
            assert np.all(np.isnan(arr[dead, H.TC_ALSFRS_2 + q // 2 - 1]))
            assert np.all(np.isfinite(arr[~dead, H.TC_ALSFRS_2 + q // 2 - 1]))
    # follow-up never runs past death; an event is a death at its true time
    fin = np.isfinite(out["time_days"])
    assert np.all(out["time_days"][fin] <= out["death_days"][fin] + 1e-9)
    ev = out["event"] == 1
    assert np.allclose(out["time_days"][ev], out["death_days"][ev])
    for arr in (tr.data, tr.twin):
        assert np.all(arr[:, H.TC_TIME_DAYS] > 0)
        assert np.all(arr[:, H.TC_TIME_DAYS] <= arr[:, H.TC_DEATH_DAYS] + 1e-9)


def test_pool_eligibility_rule(big):
    theta, pool, out, _tr = big
    el = pool.eligible
    assert 0.3 < el.mean() < 0.95
    # eligible: baseline visit and, with immortal_time_reference = 6, the three post visits
    assert theta[H.IMMORTAL_TIME_REFERENCE] == 6
    for name in ("alsfrs_2", "alsfrs_4", "alsfrs_6"):
        assert np.all(np.isfinite(out[name][el]))
    assert np.all(np.isfinite(pool.data[el, H.PB_PRE_SLOPE]))
    assert np.all(out["death_days"][el] > 6 * DPM)
    # some ineligible patients still had a baseline visit (died / dropped later)
    has_base = np.isfinite(pool.data[:, H.PB_ALSFRS_0])
    assert np.any(has_base & ~el)


def test_subset_outcomes_equal_full_outcomes(big):
    theta, pool, out, _tr = big
    idx = np.random.default_rng(9).choice(len(pool.keys), size=67, replace=False)
    sub = W.pool_outcomes(theta, pool.keys[idx])
    for name in H.PO_NAMES:
        np.testing.assert_array_equal(sub[name], out[name][idx])
    rev = W.pool_outcomes(theta, pool.keys[::-1])
    for name in H.PO_NAMES:
        np.testing.assert_array_equal(rev[name], out[name][::-1])


# ---------------------------------------------------------------- mechanisms

N_MECH = 3000


def _treated(**over):
    # each mechanism against all others off, time zero as published: the fair
    # construction selects survivors from entry to the first injection (higher u),
    # which is its own mechanism (tests/test_mechanisms.py)
    theta = W.build_theta({**W.MECHANISMS_OFF, "time_zero_misalignment": 1.0, **over})
    return W.generate_treated(theta, W.treated_key(17, 0, 0), N_MECH)


def test_immortal_time_treated():
    on = _treated(immortal_time_treated=6.0)
    off = _treated()
    assert on.data[:, H.TC_DEATH_DAYS].min() > 6 * DPM
    assert np.all(np.isfinite(on.data[:, H.TC_ALSFRS_6]))
    assert (off.data[:, H.TC_DEATH_DAYS] < 4 * DPM).sum() > 0
    four = _treated(immortal_time_treated=4.0)
    assert four.data[:, H.TC_DEATH_DAYS].min() > 4 * DPM
    assert np.any(np.isnan(four.data[:, H.TC_ALSFRS_6]))


def test_immortal_time_reference():
    base = dict(W.MECHANISMS_OFF)
    pools = {}
    for m in (0.0, 6.0):
        theta = W.build_theta({**base, "immortal_time_reference": m})
        pool = W.generate_pool(theta, W.pool_key(17, 0, 0), 8000)
        pools[m] = (pool, W.pool_outcomes(theta, pool.keys))
    el0 = pools[0.0][0].eligible
    el6 = pools[6.0][0].eligible
    assert np.all(el0 >= el6) and el0.sum() > el6.sum()      # same patients, stricter rule
    assert np.any(pools[0.0][1]["death_days"][el0] < 6 * DPM)
    assert np.all(pools[6.0][1]["death_days"][el6] > 6 * DPM)


def test_era_lengthens_treated_survival():
    on = _treated(era_hr=0.6)
    off = _treated()
    np.testing.assert_array_equal(on.data[:, H.TC_U], off.data[:, H.TC_U])   # same patients
    assert np.all(on.data[:, H.TC_DEATH_DAYS] >= off.data[:, H.TC_DEATH_DAYS])
    assert np.median(on.data[:, H.TC_DEATH_DAYS]) > 1.2 * np.median(off.data[:, H.TC_DEATH_DAYS])


def test_self_selection_raises_u():
    on = _treated(self_selection=1.5)
    off = _treated()
    se = math.sqrt(2 / N_MECH)
    assert on.data[:, H.TC_U].mean() - off.data[:, H.TC_U].mean() > 5 * se
    assert abs(off.data[:, H.TC_U].mean()) < 4 * se


def test_regression_to_mean_selects_steep_observed_decline():
    on = _treated(regression_to_mean=2.0)
    off = _treated()
    s_on = (on.data[:, H.TC_ALSFRS_PRE] - on.data[:, H.TC_ALSFRS_0]) / 6
    s_off = (off.data[:, H.TC_ALSFRS_PRE] - off.data[:, H.TC_ALSFRS_0]) / 6
    assert s_on.mean() > s_off.mean() + 0.15
    # the observed decline overstates the latent rate more when selected on it
    assert (s_on - on.data[:, H.TC_RATE]).mean() > (s_off - off.data[:, H.TC_RATE]).mean() + 0.05


def test_retro_noise_only_adds_noise_to_pre():
    on = _treated(retro_noise=3.0)
    off = _treated()
    # no selection on the pre-score is active, so these are the same patients
    np.testing.assert_array_equal(on.data[:, H.TC_ALSFRS_0], off.data[:, H.TC_ALSFRS_0])
    d = on.data[:, H.TC_ALSFRS_PRE] - off.data[:, H.TC_ALSFRS_PRE]
    # recalled = clip(round(pre + 3 z), 0, 48): its expected shift given pre, from the normal CDF
    j = np.arange(-25, 26)
    pj = norm.cdf((j + 0.5) / 3.0) - norm.cdf((j - 0.5) / 3.0)
    pre = off.data[:, H.TC_ALSFRS_PRE]
    expected = (pj[None, :] * (np.clip(pre[:, None] + j[None, :], 0, 48) - pre[:, None])).sum(axis=1)
    assert abs(d.mean() - expected.mean()) < 4 * d.std() / math.sqrt(len(d))
    assert expected.mean() < -0.1                      # the ceiling makes recall err downwards
    assert 2.5 < d.std() < 3.5
    np.testing.assert_array_equal(on.data[:, H.TC_ALSFRS_6], off.data[:, H.TC_ALSFRS_6])


def test_unblinded_shift_raises_treated_post_scores():
    tr = _treated(unblinded_shift=2.0)
    for c in (H.TC_ALSFRS_2, H.TC_ALSFRS_4, H.TC_ALSFRS_6):
        a, b = tr.data[:, c], tr.twin[:, c]
        ok = np.isfinite(a)
        assert np.all(a[ok] - b[ok] == np.minimum(2.0, 48 - b[ok]))
        assert np.mean(a[ok] - b[ok]) > 1.9
    np.testing.assert_array_equal(tr.data[:, H.TC_ALSFRS_0], tr.twin[:, H.TC_ALSFRS_0])


def test_death_ascertainment_hides_deaths():
    on = _treated(death_ascertainment=0.4)
    off = _treated()
    assert on.data[:, H.TC_EVENT].sum() < 0.7 * off.data[:, H.TC_EVENT].sum()
    missed = (off.data[:, H.TC_EVENT] == 1) & (on.data[:, H.TC_EVENT] == 0)
    assert missed.sum() > 0
    assert np.all(on.data[missed, H.TC_TIME_DAYS] < off.data[missed, H.TC_TIME_DAYS])
    assert np.all(_treated(death_ascertainment=1.0).data[:, H.TC_EVENT] == 0)


def test_differential_followup():
    on = _treated(treated_loss_rate=0.5)
    off = _treated()
    assert on.data[:, H.TC_EVENT].sum() < off.data[:, H.TC_EVENT].sum()
    assert np.all(on.data[:, H.TC_TIME_DAYS] <= off.data[:, H.TC_TIME_DAYS] + 1e-9)
    res = {}
    for share in (0.0, 1.0):
        theta = W.build_theta({**W.MECHANISMS_OFF, "differential_followup": share})
        pool = W.generate_pool(theta, W.pool_key(17, 0, 0), 5000)
        res[share] = W.pool_outcomes(theta, pool.keys)
    el = np.isfinite(res[1.0]["time_days"])
    assert np.nanmax(res[1.0]["time_days"]) <= (18 - 6) * DPM + 1e-9
    assert np.nanmean(res[1.0]["event"]) < 0.5 * np.nanmean(res[0.0]["event"][el])
    assert np.nanmin(res[0.0]["time_days"][res[0.0]["event"] == 0]) >= (24 - 6) * DPM - 1e-9


def test_case_mix_moves_applicants_to_the_clinic_population():
    reg = _treated(case_mix=0.0)
    clin = _treated(case_mix=1.0)
    se = math.sqrt(0.25 / N_MECH)
    assert abs(reg.data[:, H.TC_SEX].mean() - 0.63) < 4 * se
    assert abs(clin.data[:, H.TC_SEX].mean() - 0.55) < 4 * se
    assert clin.data[:, H.TC_RATE].mean() < reg.data[:, H.TC_RATE].mean()


def test_treatment_effect_direction_and_null_twin():
    eff = _treated(hr=0.5, rate_change=-0.5)
    assert np.all(eff.data[:, H.TC_DEATH_DAYS] > eff.twin[:, H.TC_DEATH_DAYS])
    assert np.all(eff.data[:, H.TC_TRUE_6] >= eff.twin[:, H.TC_TRUE_6] - 1e-9)
    assert np.mean(eff.data[:, H.TC_TRUE_6] - eff.twin[:, H.TC_TRUE_6]) > 2.0
    het = _treated(hr=0.5, log_hr_sd=1.0)
    longer = het.data[:, H.TC_DEATH_DAYS] > het.twin[:, H.TC_DEATH_DAYS]
    assert 0.6 < longer.mean() < 0.99       # log HR ~ N(log 0.5, 1): P(log HR < 0) = 0.76
    # the null with no unblinded shift: the twin is the treated cohort, column by column
    for over in ({}, {"immortal_time_treated": 6.0, "death_ascertainment": 0.3, "era_hr": 0.7,
                      "self_selection": 1.0, "retro_noise": 2.0}):
        null = _treated(**over)
        cols = [c for c in range(H.N_TC) if c not in (H.TC_LOG_HR, H.TC_RATE_CHANGE)]
        np.testing.assert_array_equal(null.data[:, cols], null.twin[:, cols])


def test_true_effects():
    null = W.true_effects(W.build_theta(), n=20_000)
    assert null["marginal_hr"] == pytest.approx(1.0, abs=1e-12)
    assert null["slope_difference"] == 0.0
    eff = W.true_effects(W.build_theta(hr=0.5, rate_change=-0.3), n=20_000)
    # non-collapsibility: the marginal HR lies between the conditional one and 1
    assert 0.5 < eff["marginal_hr"] < 0.9
    # the course's clock (plateaus, curvature) scales the treated patient's saving: about
    # 0.3 on average, not bounded by it; with a linear course it cannot exceed 0.3
    assert 0.25 < eff["slope_difference"] < 0.36
    lin = W.true_effects(W.build_theta(hr=0.5, rate_change=-0.3, plateau_share=0.0, curvature_mean=0.0,
                                       curvature_sd=0.0), n=20_000)
    assert 0.2 < lin["slope_difference"] <= 0.3 + 1e-12


def test_true_effects_where_the_kernels_stop():
    # hr 0.7 with era_hr 1: on these 2 x 200,000 rows the kernels' Efron fits (cox_binary,
    # cox_fit) stop NOT_CONVERGED (their score's rounding floor, see simkit/world/truth.py);
    # the truth's own fit must converge
    th = W.build_theta(hr=0.7, era_hr=1.0)
    eff = T.true_effects(th)
    assert eff["converged"] and 0.7 < eff["marginal_hr"] < 0.85
    assert W.true_effects(th) == eff          # world's name for it is the same function


def test_cox_fit_matches_lifelines():
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd
    g = np.random.default_rng(4)
    for _ in range(5):
        n = 300
        X = np.c_[g.normal(size=n), g.integers(0, 2, size=n)]
        t = g.exponential(np.exp(-(0.5 * X[:, 0] - 0.7 * X[:, 1])))
        c = g.exponential(2.0, size=n)
        time, event = np.minimum(t, c), (t <= c).astype(float)
        beta, se, ok = T.cox_fit(time, event, X)
        df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "T": time, "E": event})
        m = lifelines.CoxPHFitter().fit(df, "T", "E")
        assert ok
        np.testing.assert_allclose(beta, m.params_.values, atol=1e-6)
        np.testing.assert_allclose(se, m.standard_errors_.values, rtol=1e-5)


# ----------------------------------------------------------------- keys


def test_pool_key_policies():
    k = [W.pool_key(3, 1, r, "condition") for r in range(5)]
    assert len(set(int(x) for x in k)) == 1
    k = [W.pool_key(3, 1, r, "replicate") for r in range(5)]
    assert len(set(int(x) for x in k)) == 5
    k = [int(W.pool_key(3, 1, r, "block", 2)) for r in range(6)]
    assert k[0] == k[1] != k[2] == k[3] != k[4] == k[5] and k[0] != k[4]
    assert int(W.pool_key(3, 1, 0, "condition")) != int(W.pool_key(3, 2, 0, "condition"))
    assert int(W.pool_key(3, 1, 0, "condition")) != int(W.pool_key(4, 1, 0, "condition"))
    with pytest.raises(InputError, match="pool_policy"):
        W.pool_key(3, 1, 0, "sometimes")
    assert int(W.treated_key(3, 1, 0)) != int(W.pool_key(3, 1, 0, "replicate"))


_REPRO = textwrap.dedent("""
    import hashlib, numpy as np
    from simkit.world import model as W
    th = W.build_theta(hr=0.7, log_hr_sd=0.2)
    p = W.generate_pool(th, W.pool_key(11, 2, 3, "replicate"), 3000)
    o = W.pool_outcomes(th, p.keys[::7])
    t = W.generate_treated(th, W.treated_key(11, 2, 3), 67)
    h = hashlib.sha256()
    for a in (p.data, p.keys, t.data, t.twin, *o.values()):
        h.update(np.ascontiguousarray(a).tobytes())
    print(h.hexdigest())
""")


def test_same_key_same_arrays_in_process_and_across_processes():
    ns = {}
    import contextlib
    import io
    outs = []
    for _ in range(2):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(_REPRO, ns)
        outs.append(buf.getvalue().strip())
    assert outs[0] == outs[1]
    other = subprocess.run([sys.executable, "-c", _REPRO], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == outs[0]


# -------------------------------------------------------------- parameters


def test_build_theta_validation():
    th = W.build_theta()
    assert th.shape == (H.N_THETA,) and th[H.HR] == 1.0
    with pytest.raises(InputError, match=r"rate_log_sd: expected a number in \[0, inf\), got -0.1"):
        W.build_theta(rate_log_sd=-0.1)
    with pytest.raises(InputError, match="death_ascertainment: expected a probability in"):
        W.build_theta(death_ascertainment=1.5)
    with pytest.raises(InputError, match="hr: expected a number in"):
        W.build_theta(hr=0.0)
    with pytest.raises(InputError, match="unknown world parameter"):
        W.build_theta(hazard=2)
    with pytest.raises(InputError, match="censor_date"):
        W.build_theta(censor_date=2018.0)
    with pytest.raises(InputError, match="ref_baseline_month: expected an integer"):
        W.build_theta(ref_baseline_month=6.5)
    with pytest.raises(InputError, match="got 'x'"):
        W.build_theta(hr="x")


# ---------------------------------------------------------------- scenarios


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_seed_design_scenario_loads():
    from pathlib import Path

    from simkit.runner.scenario import load_scenario
    sc = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "seed-design.toml")
    assert sc.design["n_treated"] == 67 and sc.design["pool_size"] == 10_000
    assert sc.design["caliper"] == 0.5
    np.testing.assert_array_equal(sc.theta(), W.build_theta(sc.params()))
    assert sc.treatment["hr"] == 1.0


@pytest.mark.parametrize("text, where, what", [
    ("[mechanisms]\nself_selektion = 1\n", "mechanisms.self_selektion", "unknown key; allowed: case_mix"),
    ("[world]\nrate_log_sd = -0.5\n", "world.rate_log_sd", "expected a number in [0, inf), got -0.5"),
    ("[mechanisms]\ndeath_ascertainment = 1.2\n", "mechanisms.death_ascertainment",
     "expected a probability in [0, 1], got 1.2"),
    ("[treatment]\nhr = \"big\"\n", "treatment.hr", "got 'big'"),
    ("[design]\nn_treated = 6.5\n", "design.n_treated", "expected an integer"),
    ("[design]\nexact = [\"sex\", \"eye_colour\"]\n", "design.exact", "unknown name 'eye_colour'"),
    ("[design]\npool_policy = \"weekly\"\n", "design.pool_policy", "expected one of"),
    ("seed = -1\n", "seed", "expected an integer"),
    ("[grid]\nhr = [1]\n", "grid", "unknown key or section"),
    ("[treatment]\nhr = true\n", "treatment.hr", "got True"),
    ("[world]\nenrol_end = 2021.0\n", "world.censor_date", "expected enrol_end < censor_date"),
    ("world = 3\n", "world", "expected a [world] table"),
])
def test_scenario_errors_name_the_field(tmp_path, text, where, what):
    from simkit.runner.scenario import load_scenario
    with pytest.raises(InputError) as e:
        load_scenario(_write(tmp_path, text))
    assert e.value.where == where
    assert what in e.value.message, e.value.message


def test_scenario_bad_toml_and_missing_file(tmp_path):
    from simkit.runner.scenario import load_scenario
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "[world\n"))
    with pytest.raises(InputError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


# ------------------------------------------------------------------- CLI


def test_simulate_writes_the_documented_table(tmp_path):
    import pandas as pd

    from simkit.cli import main
    sc = _write(tmp_path, """
        seed = 5
        [design]
        n_treated = 30
        pool_size = 400
        pool_policy = "replicate"
    """)
    out = tmp_path / "rep.csv"
    assert main(["simulate", str(sc), "--replicate", "2", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert (df.cohort == "treated").sum() == 30 and (df.cohort == "pool").sum() == 400
    t = df[df.cohort == "treated"]
    assert set(t.sex) <= {"M", "F"} and set(t.onset) <= {"bulbar", "spinal"}
    assert t[["alsfrs_pre", "alsfrs_0", "time_days", "event"]].notna().all().all()
    el = df[(df.cohort == "pool") & (df.eligible == 1)]
    assert len(el) > 100 and el[["alsfrs_pre", "alsfrs_0", "alsfrs_6", "ft9_stage"]].notna().all().all()
    np.testing.assert_allclose(df.pre_rate, (df.alsfrs_pre - df.alsfrs_0) / 6)
    # the same replicate again: the same file
    out2 = tmp_path / "rep2.csv"
    main(["simulate", str(sc), "--replicate", "2", "--out", str(out2)])
    assert out.read_bytes() == out2.read_bytes()
    assert main(["simulate", str(sc), "--replicate", "-1", "--out", str(out2)]) == 2
