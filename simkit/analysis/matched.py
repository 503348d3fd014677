"""The seed analysis on a matched-cohort table (contract v1.1): reader and results.

`read_table(path)` checks a user's CSV / Parquet file against the contract and
reports the first problem by row and column; `analyze(table)` runs the one
numba kernel that the Monte Carlo replicates also run, and wraps its flat result
vector in small named result objects (like scipy.stats results).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from simkit.errors import InputError
from simkit.kernels import outputs as OUTPUTS
from simkit.kernels import seedanalysis as SA
from simkit.kernels import status as st

REQUIRED_COLUMNS = (
    "pair_id", "arm", "sex", "race", "onset", "riluzole", "age", "ft9_stage",
    "alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6", "time_days", "event",
)
SCORE_COLUMNS = ("alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6")
STEPS = ("survival", "classes", "early", "signed_rank", "ols")
_MISSING = {"", "na", "nan", "null", "none"}


# --------------------------------------------------------------------------
# the table

@dataclass(frozen=True)
class MatchedTable:
    """A validated matched-cohort table, one entry per pair (treated, reference).

    Arrays are in pair order (sorted by pair_id); `scores_*` are f8[n, 5] with
    columns alsfrs_pre, _0, _2, _4, _6 and NaN where the file had no value.
    """
    pair_id: np.ndarray
    sex: np.ndarray          # (n, 2) 'M' / 'F'; column 0 treated, 1 reference
    race: np.ndarray         # (n, 2)
    onset: np.ndarray        # (n, 2) 'bulbar' / 'spinal'
    riluzole: np.ndarray     # (n, 2) 0/1
    age: np.ndarray          # (n, 2)
    ft9_stage: np.ndarray    # (n, 2)
    scores_treated: np.ndarray
    scores_reference: np.ndarray
    time_days: np.ndarray    # (n, 2)
    event: np.ndarray        # (n, 2)
    source: str = "<memory>"

    @property
    def n_pairs(self) -> int:
        return int(self.pair_id.shape[0])

    def kernel_inputs(self):
        """Arrays in the layout of `kernels.seedanalysis.analyze_pairs`."""
        time = np.concatenate([self.time_days[:, 0], self.time_days[:, 1]]).astype(np.float64)
        event = np.concatenate([self.event[:, 0], self.event[:, 1]]).astype(np.int64)
        scores = np.ascontiguousarray(np.vstack([self.scores_treated, self.scores_reference]), dtype=np.float64)
        t_sex = (self.sex[:, 0] == "M").astype(np.int64)
        t_age = np.ascontiguousarray(self.age[:, 0], dtype=np.float64)
        t_ft9 = np.ascontiguousarray(self.ft9_stage[:, 0], dtype=np.int64)
        t_onset = (self.onset[:, 0] == "bulbar").astype(np.int64)
        t_ril = np.ascontiguousarray(self.riluzole[:, 0], dtype=np.int64)
        return time, event, scores, t_sex, t_age, t_ft9, t_onset, t_ril

    def to_rows(self) -> list[dict]:
        """The table as contract rows (treated row then reference row per pair)."""
        rows = []
        for i in range(self.n_pairs):
            for a, arm in enumerate(("treated", "reference")):
                sc = self.scores_treated[i] if a == 0 else self.scores_reference[i]
                row = {
                    "pair_id": int(self.pair_id[i]), "arm": arm, "sex": self.sex[i, a],
                    "race": self.race[i, a], "onset": self.onset[i, a],
                    "riluzole": int(self.riluzole[i, a]), "age": float(self.age[i, a]),
                    "ft9_stage": int(self.ft9_stage[i, a]),
                }
                for c, v in zip(SCORE_COLUMNS, sc):
                    row[c] = None if not np.isfinite(v) else int(v)
                row["time_days"] = float(self.time_days[i, a])
                row["event"] = int(self.event[i, a])
                rows.append(row)
        return rows

    def write_csv(self, path) -> None:
        import csv
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(REQUIRED_COLUMNS))
            w.writeheader()
            for row in self.to_rows():
                w.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v))
                            for k, v in row.items()})


def _where(row_no: int | None, column: str) -> str:
    return f"column '{column}'" if row_no is None else f"row {row_no}, column '{column}'"


def _is_missing(v) -> bool:
    if v is None or type(v).__name__ == "NAType":  # pandas.NA without importing pandas
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and v.strip().lower() in _MISSING:
        return True
    return False


def _as_float(v, row_no, col):
    try:
        x = float(v.strip() if isinstance(v, str) else v)
    except (TypeError, ValueError):
        raise InputError(_where(row_no, col), f"expected a number, got {v!r}") from None
    if not math.isfinite(x):
        raise InputError(_where(row_no, col), f"expected a finite number, got {v!r}")
    return x


def _as_int(v, row_no, col, what="an integer"):
    x = _as_float(v, row_no, col) if not isinstance(v, (int, np.integer)) else int(v)
    if x != int(x):
        raise InputError(_where(row_no, col), f"expected {what}, got {v!r}")
    return int(x)


def _as_label(v, row_no, col, allowed):
    s = "" if v is None else str(v).strip()
    if s not in allowed:
        raise InputError(_where(row_no, col),
                         f"expected one of {', '.join(repr(a) for a in allowed)}, got {v!r}")
    return s


def table_from_columns(columns: Mapping[str, Any], source: str = "<memory>",
                       first_row: int = 1) -> MatchedTable:
    """Validate raw columns (lists or arrays of str / numbers) against the contract.

    `first_row` is the number reported for the first data row (2 for a CSV whose
    line 1 is the header, so row numbers are the file's line numbers).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{source}: header", f"missing column(s) {', '.join(missing)}; "
                         f"the contract needs {', '.join(REQUIRED_COLUMNS)}")
    n_rows = len(columns["pair_id"])
    if n_rows == 0:
        raise InputError(f"{source}", "no pairs: the table has no data rows")
    cols = {c: list(columns[c]) for c in REQUIRED_COLUMNS}
    recs = []
    for r in range(n_rows):
        rn = r + first_row
        get = lambda c: cols[c][r]  # noqa: E731
        rec = {}
        for c in REQUIRED_COLUMNS:
            v = get(c)
            if _is_missing(v) and c not in SCORE_COLUMNS:
                raise InputError(_where(rn, c), "is empty; only the ALSFRS-R score columns may be empty")
        rec["pair_id"] = _as_int(get("pair_id"), rn, "pair_id")
        rec["arm"] = _as_label(get("arm"), rn, "arm", ("treated", "reference"))
        rec["sex"] = _as_label(get("sex"), rn, "sex", ("M", "F"))
        race = str(get("race")).strip()
        if not race:
            raise InputError(_where(rn, "race"), "is empty; expected a text label")
        rec["race"] = race
        rec["onset"] = _as_label(get("onset"), rn, "onset", ("bulbar", "spinal"))
        ril = _as_int(get("riluzole"), rn, "riluzole", "0 or 1")
        if ril not in (0, 1):
            raise InputError(_where(rn, "riluzole"), f"expected 0 or 1, got {get('riluzole')!r}")
        rec["riluzole"] = ril
        age = _as_float(get("age"), rn, "age")
        if not (0.0 < age < 130.0):
            raise InputError(_where(rn, "age"), f"expected an age in years between 0 and 130, got {age!r}")
        rec["age"] = age
        ft9 = _as_int(get("ft9_stage"), rn, "ft9_stage", "an integer 1..5")
        if not 1 <= ft9 <= 5:
            raise InputError(_where(rn, "ft9_stage"), f"expected an integer 1..5, got {get('ft9_stage')!r}")
        rec["ft9_stage"] = ft9
        sc = []
        for c in SCORE_COLUMNS:
            v = get(c)
            if _is_missing(v):
                sc.append(np.nan)
                continue
            s = _as_int(v, rn, c, "an integer ALSFRS-R total 0..48")
            if not 0 <= s <= 48:
                raise InputError(_where(rn, c), f"expected an integer ALSFRS-R total 0..48, got {v!r}")
            sc.append(float(s))
        rec["scores"] = sc
        t = _as_float(get("time_days"), rn, "time_days")
        if not t > 0:
            raise InputError(_where(rn, "time_days"), f"expected a survival time in days > 0, got {get('time_days')!r}")
        rec["time_days"] = t
        ev = _as_int(get("event"), rn, "event", "0 or 1")
        if ev not in (0, 1):
            raise InputError(_where(rn, "event"), f"expected 0 (censored) or 1 (death), got {get('event')!r}")
        rec["event"] = ev
        rec["row"] = rn
        recs.append(rec)

    pairs: dict[int, dict[str, dict]] = {}
    for rec in recs:
        slot = pairs.setdefault(rec["pair_id"], {})
        if rec["arm"] in slot:
            raise InputError(_where(rec["row"], "pair_id"),
                             f"pair {rec['pair_id']} has a second '{rec['arm']}' row "
                             f"(the first is row {slot[rec['arm']]['row']}); each pair needs exactly "
                             "one treated and one reference row")
        slot[rec["arm"]] = rec
    for pid, slot in pairs.items():
        if len(slot) != 2:
            have = next(iter(slot.values()))
            lacking = "reference" if "treated" in slot else "treated"
            raise InputError(_where(have["row"], "pair_id"),
                             f"pair {pid} has no '{lacking}' row; each pair needs exactly one treated "
                             "and one reference row")
    ids = np.array(sorted(pairs), dtype=np.int64)

    def both(key, dtype):
        return np.array([[pairs[p]["treated"][key], pairs[p]["reference"][key]] for p in ids], dtype=dtype)

    return MatchedTable(
        pair_id=ids,
        sex=both("sex", object), race=both("race", object), onset=both("onset", object),
        riluzole=both("riluzole", np.int64), age=both("age", np.float64),
        ft9_stage=both("ft9_stage", np.int64),
        scores_treated=np.array([pairs[p]["treated"]["scores"] for p in ids], dtype=np.float64).reshape(-1, 5),
        scores_reference=np.array([pairs[p]["reference"]["scores"] for p in ids], dtype=np.float64).reshape(-1, 5),
        time_days=both("time_days", np.float64), event=both("event", np.int64),
        source=source,
    )


def read_table(path) -> MatchedTable:
    """Read and validate a matched-cohort table (CSV, or Parquet with pyarrow)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if path.lower().endswith((".parquet", ".pq")):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(path, "reading Parquet needs pyarrow: pip install 'simkit[parquet]'") from None
        try:
            data = pq.read_table(path).to_pydict()
        except Exception as e:  # pyarrow raises many types for a bad file
            raise InputError(path, f"not a readable Parquet file ({e})") from None
        return table_from_columns(data, source=path, first_row=1)
    import csv
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise InputError(path, "the file is empty; expected a header row and one row per patient") from None
            header = [h.strip() for h in header]
            dup = {h for h in header if header.count(h) > 1 and h in REQUIRED_COLUMNS}
            if dup:
                raise InputError(f"{path}: header", f"column(s) {', '.join(sorted(dup))} appear more than once")
            data = {h: [] for h in header}
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise InputError(f"row {line_no}", f"has {len(row)} fields, the header has {len(header)}")
                for h, v in zip(header, row):
                    data[h].append(v)
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text CSV file") from None
    except csv.Error as e:  # a NUL byte, a field over csv's size limit, ...
        raise InputError(f"{path}: line {reader.line_num}", f"not a readable CSV file ({e})") from None
    return table_from_columns(data, source=path, first_row=2)


# --------------------------------------------------------------------------
# results

def _f(x):
    x = float(x)
    return x if math.isfinite(x) else None


# The contract's minimum keys (docs/matched-cohort.md); `to_dict` adds every other
# analysis output field of kernels/outputs.py under its store name, so a new output
# field reaches `analyze --json` without an edit here.  Left out of the extras:
# status codes (the `status` object names them), the Firth fields (the `firth`
# object, with --firth only) and dropped_* (the `dropped` object).
CONTRACT_KEYS = ("n_pairs", "hr", "hr_ci_low", "hr_ci_high", "hr_p", "median_days_treated",
                 "median_days_reference", "median_treated_reached", "median_reference_reached",
                 "logrank_p", "gehan_p", "tarone_ware_p", "peto_p", "n_decreased", "n_no_change",
                 "n_increased", "early_coef", "early_ci_low", "early_ci_high", "early_p", "signed_rank_p",
                 "treated_coef", "treated_se", "treated_p", "subgroups", "dropped")
_COUNT_UNITS = ("pairs", "deaths", "patients")
EXTRA_FIELDS = tuple(name for name, _, unit, _ in OUTPUTS.ANALYSIS
                     if name not in CONTRACT_KEYS and unit != "reason code"
                     and "firth" not in name and not name.startswith("dropped_"))


def extra_fields(v: np.ndarray) -> dict:
    """The analysis vector's fields beyond the contract, by their store names (NaN as None)."""
    out = {}
    for name in EXTRA_FIELDS:
        x = _f(v[SA.FIELDS.index(name)])
        out[name] = int(x) if x is not None and OUTPUTS.UNITS[name] in _COUNT_UNITS else x
    return out


@dataclass(frozen=True)
class CoxResult:
    """Cox PH (Efron ties), treated vs reference."""
    hr: float
    ci_low: float
    ci_high: float
    pvalue: float
    log_hr: float
    se: float
    status: str
    n_events_treated: int
    n_events_reference: int
    method: str = "cox-efron"

    @property
    def statistic(self):
        return self.log_hr / self.se if self.se and math.isfinite(self.se) else float("nan")

    def confidence_interval(self, confidence_level: float = 0.95):
        """Wald interval of the HR at this level (the stored one at 0.95)."""
        if confidence_level == 0.95:
            return (self.ci_low, self.ci_high)
        lo, hi = _wald_interval(self.log_hr, self.se, confidence_level)
        return (math.exp(lo), math.exp(hi))


@dataclass(frozen=True)
class MedianResult:
    treated_days: float
    reference_days: float
    treated_reached: bool
    reference_reached: bool


@dataclass(frozen=True)
class SurvivalTestResult:
    weighting: str
    statistic: float   # chi-square, 1 df
    pvalue: float
    status: str


@dataclass(frozen=True)
class ClassesResult:
    n_decreased: int
    n_no_change: int
    n_increased: int

    @property
    def n(self):
        return self.n_decreased + self.n_no_change + self.n_increased


def _wald_interval(estimate, se, confidence_level, df=None):
    """estimate -+ q se, q the normal (df None) or t(df) quantile of the level."""
    if not 0 < confidence_level < 1:
        raise InputError("confidence_level", f"expected a number in (0, 1), got {confidence_level!r}")
    from scipy import stats
    p = 0.5 + confidence_level / 2
    q = stats.norm.ppf(p) if df is None else stats.t.ppf(p, df)
    return (estimate - q * se, estimate + q * se)


@dataclass(frozen=True)
class CoefResult:
    """One coefficient of a regression: estimate, SE, Wald / t p and 95% CI.

    df: residual degrees of freedom of a t-based coefficient (OLS), None for a
    Wald (normal) one; confidence_interval(level) uses the matching quantile."""
    name: str
    estimate: float
    se: float
    pvalue: float
    ci_low: float
    ci_high: float
    status: str
    df: float | None = None

    def confidence_interval(self, confidence_level: float = 0.95):
        if confidence_level == 0.95 and math.isfinite(self.ci_low):
            return (self.ci_low, self.ci_high)
        if not (math.isfinite(self.estimate) and math.isfinite(self.se)):
            return (math.nan, math.nan)
        return _wald_interval(self.estimate, self.se, confidence_level, self.df)


@dataclass(frozen=True)
class SignedRankResult:
    statistic: float
    pvalue: float
    n: int
    status: str


@dataclass(frozen=True)
class SubgroupRow:
    factor: str
    level: str
    n: int
    n_decreased: int
    n_no_change: int
    n_increased: int
    ratio: float
    chi2_p: float


@dataclass(frozen=True)
class AnalysisResult:
    """Everything the seed analysis reports for one matched table."""
    n_pairs: int
    cox: CoxResult
    medians: MedianResult
    tests: dict
    classes: ClassesResult
    early: CoefResult
    signed_rank: SignedRankResult
    ols_treated: CoefResult
    subgroups: list
    dropped: dict
    min_survival_p: float
    min_subgroup_p: float
    firth_cox: CoxResult | None = None
    firth_early: CoefResult | None = None
    vector: np.ndarray = field(default=None, repr=False)
    # pair-aware inference: the same Efron fit with the pair-clustered robust SE, and the
    # Cox model stratified by pair (docs/matched-cohort.md)
    cox_robust: CoxResult | None = None
    cox_strat: CoxResult | None = None

    def to_dict(self) -> dict:
        """The contract's JSON object (NaN as None)."""
        d = {
            "n_pairs": self.n_pairs,
            "hr": _f(self.cox.hr), "hr_ci_low": _f(self.cox.ci_low),
            "hr_ci_high": _f(self.cox.ci_high), "hr_p": _f(self.cox.pvalue),
            "median_days_treated": _f(self.medians.treated_days),
            "median_days_reference": _f(self.medians.reference_days),
            "median_treated_reached": bool(self.medians.treated_reached),
            "median_reference_reached": bool(self.medians.reference_reached),
            "logrank_p": _f(self.tests["logrank"].pvalue), "gehan_p": _f(self.tests["gehan"].pvalue),
            "tarone_ware_p": _f(self.tests["tarone_ware"].pvalue), "peto_p": _f(self.tests["peto"].pvalue),
            "n_decreased": self.classes.n_decreased, "n_no_change": self.classes.n_no_change,
            "n_increased": self.classes.n_increased,
            "early_coef": _f(self.early.estimate), "early_ci_low": _f(self.early.ci_low),
            "early_ci_high": _f(self.early.ci_high), "early_p": _f(self.early.pvalue),
            "signed_rank_p": _f(self.signed_rank.pvalue),
            "treated_coef": _f(self.ols_treated.estimate), "treated_se": _f(self.ols_treated.se),
            "treated_p": _f(self.ols_treated.pvalue),
            "subgroups": [
                {"factor": s.factor, "level": s.level, "n": s.n, "n_decreased": s.n_decreased,
                 "n_no_change": s.n_no_change, "n_increased": s.n_increased,
                 "ratio": _f(s.ratio), "chi2_p": _f(s.chi2_p)} for s in self.subgroups
            ],
            "dropped": dict(self.dropped),
            "status": {"cox": self.cox.status, "survival_tests": self.tests["logrank"].status,
                       "early": self.early.status, "signed_rank": self.signed_rank.status,
                       "ols": self.ols_treated.status},
        }
        if self.cox_robust is not None:
            d["status"]["cox_robust"] = self.cox_robust.status
        if self.cox_strat is not None:
            d["status"]["cox_strat"] = self.cox_strat.status
        if self.vector is not None:
            d.update(extra_fields(self.vector))
        if self.firth_cox is not None:
            d["firth"] = {
                "hr": _f(self.firth_cox.hr), "hr_ci_low": _f(self.firth_cox.ci_low),
                "hr_ci_high": _f(self.firth_cox.ci_high), "hr_p": _f(self.firth_cox.pvalue),
                "cox_status": self.firth_cox.status,
                "early_coef": _f(self.firth_early.estimate), "early_ci_low": _f(self.firth_early.ci_low),
                "early_ci_high": _f(self.firth_early.ci_high), "early_p": _f(self.firth_early.pvalue),
                "early_status": self.firth_early.status,
            }
        return d


def _ols_coef(v) -> CoefResult:
    # t-based: 2 m rows (m pairs with every value) and 3 coefficients
    df = 2.0 * (v[SA.N_PAIRS] - v[SA.DROPPED_OLS]) - 3.0
    est, se = v[SA.TREATED_COEF], v[SA.TREATED_SE]
    lo, hi = _wald_interval(est, se, 0.95, df) if df > 0 and math.isfinite(se) else (np.nan, np.nan)
    return CoefResult("treated", est, se, v[SA.TREATED_P], lo, hi, st.name(int(v[SA.OLS_STATUS]) if math.isfinite(v[SA.OLS_STATUS]) else 0),
                      df=df if df > 0 else None)


def result_from_vector(v: np.ndarray, firth: bool = False) -> AnalysisResult:
    """Wrap the kernel's flat vector (see `kernels.seedanalysis.FIELDS`)."""
    def i(k):
        x = v[k]
        return int(x) if math.isfinite(x) else 0

    def code(k):
        return st.name(i(k))

    cox = CoxResult(v[SA.HR], v[SA.HR_CI_LOW], v[SA.HR_CI_HIGH], v[SA.HR_P], v[SA.LOG_HR], v[SA.LOG_HR_SE],
                    code(SA.COX_STATUS), i(SA.N_EVENTS_TREATED), i(SA.N_EVENTS_REFERENCE))
    tests = {
        name: SurvivalTestResult(name, v[c], v[p], code(SA.TESTS_STATUS))
        for name, c, p in (("logrank", SA.LOGRANK_CHI2, SA.LOGRANK_P), ("gehan", SA.GEHAN_CHI2, SA.GEHAN_P),
                           ("tarone_ware", SA.TARONE_WARE_CHI2, SA.TARONE_WARE_P), ("peto", SA.PETO_CHI2, SA.PETO_P))
    }
    subgroups = []
    for L, (fac, lev) in enumerate(SA.SUBGROUP_LEVELS):
        b = SA.SG0 + 6 * L
        subgroups.append(SubgroupRow(fac, lev, i(b), i(b + 1), i(b + 2), i(b + 3), v[b + 4], v[b + 5]))
    res = AnalysisResult(
        n_pairs=i(SA.N_PAIRS),
        cox=cox,
        medians=MedianResult(v[SA.MEDIAN_DAYS_TREATED], v[SA.MEDIAN_DAYS_REFERENCE],
                             bool(v[SA.MEDIAN_TREATED_REACHED] == 1), bool(v[SA.MEDIAN_REFERENCE_REACHED] == 1)),
        tests=tests,
        classes=ClassesResult(i(SA.N_DECREASED), i(SA.N_NO_CHANGE), i(SA.N_INCREASED)),
        early=CoefResult("early_response", v[SA.EARLY_COEF], v[SA.EARLY_SE], v[SA.EARLY_P],
                         v[SA.EARLY_CI_LOW], v[SA.EARLY_CI_HIGH], code(SA.EARLY_STATUS)),
        signed_rank=SignedRankResult(v[SA.SIGNED_RANK_STATISTIC], v[SA.SIGNED_RANK_P], i(SA.SIGNED_RANK_N),
                                     code(SA.SIGNED_RANK_STATUS)),
        ols_treated=_ols_coef(v),
        subgroups=subgroups,
        dropped={s: i(k) for s, k in zip(STEPS, (SA.DROPPED_SURVIVAL, SA.DROPPED_CLASSES, SA.DROPPED_EARLY,
                                                 SA.DROPPED_SIGNED_RANK, SA.DROPPED_OLS))},
        min_survival_p=v[SA.MIN_SURVIVAL_P],
        min_subgroup_p=v[SA.MIN_SUBGROUP_P],
        firth_cox=(CoxResult(v[SA.HR_FIRTH], v[SA.HR_FIRTH_CI_LOW], v[SA.HR_FIRTH_CI_HIGH], v[SA.HR_FIRTH_P],
                             math.log(v[SA.HR_FIRTH]) if v[SA.HR_FIRTH] > 0 else np.nan, np.nan,
                             code(SA.COX_FIRTH_STATUS), i(SA.N_EVENTS_TREATED), i(SA.N_EVENTS_REFERENCE),
                             method="cox-efron-firth") if firth else None),
        firth_early=(CoefResult("early_response_firth", v[SA.EARLY_COEF_FIRTH], np.nan, v[SA.EARLY_FIRTH_P],
                                v[SA.EARLY_FIRTH_CI_LOW], v[SA.EARLY_FIRTH_CI_HIGH], code(SA.EARLY_FIRTH_STATUS))
                     if firth else None),
        vector=v,
        cox_robust=CoxResult(v[SA.HR], v[SA.HR_CI_LOW_ROBUST], v[SA.HR_CI_HIGH_ROBUST], v[SA.HR_P_ROBUST],
                             v[SA.LOG_HR], v[SA.LOG_HR_SE_ROBUST], code(SA.COX_ROBUST_STATUS),
                             i(SA.N_EVENTS_TREATED), i(SA.N_EVENTS_REFERENCE), method="cox-efron-robust-pair"),
        cox_strat=CoxResult(v[SA.HR_STRAT], v[SA.HR_STRAT_CI_LOW], v[SA.HR_STRAT_CI_HIGH], v[SA.HR_STRAT_P],
                            v[SA.LOG_HR_STRAT], v[SA.LOG_HR_STRAT_SE], code(SA.COX_STRAT_STATUS),
                            i(SA.N_EVENTS_TREATED), i(SA.N_EVENTS_REFERENCE), method="cox-efron-pair-strata"),
    )
    return res


def analyze_vector(table: MatchedTable, firth: bool = False) -> np.ndarray:
    out = np.empty(SA.N_FIELDS)
    SA.analyze_pairs(*table.kernel_inputs(), bool(firth), out)
    return out


def analyze(table, firth: bool = False) -> AnalysisResult:
    """Run the seed analysis on a MatchedTable, a path, or a DataFrame / dict of columns."""
    if not isinstance(table, MatchedTable):
        if isinstance(table, (str, os.PathLike)):
            table = read_table(table)
        else:
            table = table_from_columns(_columns_of(table))
    return result_from_vector(analyze_vector(table, firth), firth)


def _columns_of(obj) -> Mapping[str, Any]:
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # a pandas DataFrame
        return {c: obj[c].tolist() for c in obj.columns}
    if isinstance(obj, Mapping):
        return obj
    raise InputError("table", f"expected a MatchedTable, a file path, a DataFrame or a dict of columns, "
                     f"got {type(obj).__name__}")
