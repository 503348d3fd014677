"""E-values of a hazard ratio and what they mean in the world's latent factor u.

`e_values(hr, lo, hi)`: the closed-form E-values of VanderWeele & Ding (2017)
for a hazard ratio, as the R package EValue's `evalues.HR` computes them
(github.com/mayamathur/evalue_package, R/EValue.R: a common outcome's HR is
first converted to an approximate RR, (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))),
and `latent_u(ev)`: what confounding of that strength means for the world's
latent prognostic factor u (docs/sensitivity.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simkit.errors import InputError

# ---------------------------------------------------------------- E-values


def hr_to_rr(hr, rare: bool = False):
    """Approximate risk ratio of a hazard ratio (EValue's toRR.HR): the HR itself for
    a rare outcome (< 15% by the end of follow-up), else VanderWeele's (2017) conversion."""
    hr = np.asarray(hr, dtype=float)
    if rare:
        return hr
    return (1.0 - 0.5 ** np.sqrt(hr)) / (1.0 - 0.5 ** np.sqrt(1.0 / hr))


def e_value_rr(rr):
    """E-value of a risk ratio: RR + sqrt(RR (RR - 1)), on 1/RR below 1."""
    rr = np.asarray(rr, dtype=float)
    r = np.where(rr < 1.0, 1.0 / rr, rr)
    return r + np.sqrt(r * (r - 1.0))


@dataclass(frozen=True)
class EValues:
    """E-values of a hazard ratio and the CI limit nearer 1 (1 if the CI includes 1).

    estimate / ci_limit use the outcome assumption asked for (`rare`); the *_rare
    ones always take HR = RR.  rr_*: the risk ratios the E-values were computed from.
    """
    hr: float
    ci_low: float
    ci_high: float
    rare: bool
    estimate: float
    ci_limit: float
    estimate_rare: float
    ci_limit_rare: float
    rr_estimate: float
    rr_ci_limit: float | None      # None when the CI includes 1
    rr_estimate_rare: float
    rr_ci_limit_rare: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _check_hr(hr, lo, hi):
    for name, v in (("hr", hr), ("ci_low", lo), ("ci_high", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v <= 0:
            raise InputError(name, f"expected a hazard ratio > 0, got {v!r}")
    if not lo <= hr <= hi:
        raise InputError("hr", f"expected ci_low <= hr <= ci_high, got {lo!r} <= {hr!r} <= {hi!r}")


def _e_values_one(hr, lo, hi, rare):
    """(E of the estimate, E of the CI limit, RR of the estimate, RR of the limit or None)."""
    rr = float(hr_to_rr(hr, rare))
    e = float(e_value_rr(rr))
    if lo <= 1.0 <= hi:
        return e, 1.0, rr, None
    limit = hi if hr < 1.0 else lo        # the limit nearer the null
    rr_lim = float(hr_to_rr(limit, rare))
    return e, float(e_value_rr(rr_lim)), rr, rr_lim


def e_values(hr: float, ci_low: float, ci_high: float, rare: bool = False) -> EValues:
    """VanderWeele & Ding (2017) E-values of a hazard ratio and its 95% CI, as EValue's
    `evalues.HR(est, lo, hi, rare)` computes them (true HR 1)."""
    _check_hr(hr, ci_low, ci_high)
    e, el, rr, rrl = _e_values_one(hr, ci_low, ci_high, rare)
    er, elr, rrr, rrlr = _e_values_one(hr, ci_low, ci_high, True)
    return EValues(float(hr), float(ci_low), float(ci_high), bool(rare), e, el, er, elr, rr, rrl, rrr, rrlr)


def _hr_of_rr(rr: float, rare: bool) -> float:
    """The HR >= 1 whose approximate RR (hr_to_rr) is rr >= 1: the inverse conversion."""
    if rare or rr <= 1.0:
        return max(rr, 1.0)
    from scipy.optimize import brentq
    hi = 2.0
    while hr_to_rr(hi) < rr:
        hi *= 2.0
    return float(brentq(lambda h: float(hr_to_rr(h)) - rr, 1.0, hi, xtol=1e-12))


@dataclass(frozen=True)
class LatentU:
    """What confounding by the world's latent factor u it takes (in SDs of u).

    mean_difference / mean_difference_ci: the mean difference in u between the arms
    that alone would give the reported HR / its CI limit nearer 1 under proportional
    hazards: log(HR) / beta_u.  e_value_contrast(_ci): the contrast in u (SDs) whose
    own association with death equals the E-value (on the same RR scale), i.e. a
    binary factor 'u above vs below' separating that many SDs, which would also have
    to be E times as prevalent among the treated to explain the HR away.
    """
    beta_u: float
    hr: float
    mean_difference: float
    mean_difference_ci: float | None
    e_value_contrast: float
    e_value_contrast_ci: float | None
    sentence: str
    assumptions: tuple = field(default=())

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["assumptions"] = list(self.assumptions)
        return d


LATENT_ASSUMPTIONS = (
    "u acts only through the world's hazard, log-linearly: log HR beta_u per SD, the same in both arms",
    "proportional hazards; the conditional HR of a shift in u is taken for the marginal one "
    "(non-collapsibility ignored: a marginal HR is nearer 1, so the SDs are a lower bound)",
    "no other bias: the whole reported effect is attributed to u",
    "the HR-to-RR conversion for a common outcome is an approximation (VanderWeele 2017)",
)


def latent_u(ev: EValues, beta_u: float | None = None) -> LatentU:
    """Translate an HR and its E-values into the world's latent prognostic factor u."""
    from simkit.world.model import PARAM
    b = PARAM["beta_u"].default if beta_u is None else float(beta_u)
    if b == 0 or not math.isfinite(b):
        raise InputError("beta_u", f"expected a nonzero log HR per SD of u, got {beta_u!r}")
    lim = ev.ci_high if ev.hr < 1 else ev.ci_low
    ci_in = ev.ci_low <= 1.0 <= ev.ci_high
    md = math.log(ev.hr) / b
    md_ci = None if ci_in else math.log(lim) / b
    contrast = math.log(_hr_of_rr(ev.estimate, ev.rare)) / abs(b)
    contrast_ci = None if ci_in else math.log(_hr_of_rr(ev.ci_limit, ev.rare)) / abs(b)
    side = "higher" if md > 0 else "lower"
    ci_part = (f" ({abs(md_ci):.1f} SD for the CI limit {lim:g})" if md_ci is not None else "")
    sentence = (f"For u alone to produce HR {ev.hr:g}, the treated would need a mean u {abs(md):.1f} SD "
                f"{side} than their references{ci_part}, with this world's {b:g} log HR per SD of u; "
                f"as an E-value, a factor contrasting levels of u {contrast:.1f} SD apart "
                f"(HR {math.exp(abs(b) * contrast):.2f} for death) that is also {ev.estimate:.2f} times as "
                f"common among the treated.")
    return LatentU(b, ev.hr, md, md_ci, contrast, contrast_ci, sentence, LATENT_ASSUMPTIONS)
