"""Real registries in: the registry contract, the PRO-ACT importer, reference candidates.

docs/registry.md is the contract.  In short, a registry directory holds two CSV
tables on one clock per patient (days, e.g. from the first visit):

    patients.csv  patient_id, sex, race, onset, riluzole, age (at day 0), end_day
                  (death or last contact), event (1 death), optional onset_day
    visits.csv    patient_id, day, alsfrs_r and / or the 12 ALSFRS-R items and / or
                  the 4 domain scores, optional ft9_stage, optional alsfrs_original

    reg = read_registry("my_registry/")        # the contract, or a PRO-ACT download
    cand = reference_candidates(reg, tolerance_days=14, followup_months=6)
    treated = read_treated("treated.csv")
    m = match_registry(treated, cand, caliper=0.5)
    print(m.summary()); m.table.write_csv("matched.csv")

`plasmode(cand, hr=..., rate_change=..., reps=...)` runs the seed design on
resamples of a registry's candidates with a known effect injected.

A contract table that breaks a rule is an error naming the file, row (the file's
line number) and column.
The PRO-ACT importer instead drops what it cannot use and says how many rows, and
why, in `Registry.drops`.  A reference candidate is a patient with an index visit
that has a visit 6 months before it, the visits 2, 4, ... months after it that the
immortal-time requirement asks for, and follow-up after the index visit: the rule the
simulation's registry pool applies (kernels/history.py `_pool_core`), so that a
synthetic registry exported here and matched gives the simulation's matched cohort.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from simkit.analysis.matched import REQUIRED_COLUMNS, SCORE_COLUMNS, MatchedTable, _as_float, _as_int, _as_label, \
    _is_missing, _where, table_from_columns
from simkit.errors import InputError
from simkit.kernels.history import DAYS_PER_MONTH

MONTH_DAYS = DAYS_PER_MONTH          # 365.25 / 12, the simulation's month
YEAR_DAYS = 365.25
# visit days are floats; this absorbs their rounding when tolerance is 0
_DAY_SLACK = 1e-6

ITEM_COLUMNS = ("q1_speech", "q2_salivation", "q3_swallowing", "q4_handwriting", "q5_cutting",
                "q6_dressing_hygiene", "q7_turning_in_bed", "q8_walking", "q9_climbing_stairs",
                "r1_dyspnea", "r2_orthopnea", "r3_respiratory_insufficiency")
DOMAIN_COLUMNS = ("bulbar", "fine_motor", "gross_motor", "respiratory")
DOMAIN_ITEMS = {d: ITEM_COLUMNS[3 * i:3 * i + 3] for i, d in enumerate(DOMAIN_COLUMNS)}
PATIENT_REQUIRED = ("patient_id", "sex", "race", "onset", "riluzole", "age", "end_day", "event")
PATIENT_OPTIONAL = ("onset_day",)
VISIT_REQUIRED = ("patient_id", "day")
VISIT_OPTIONAL = ("alsfrs_r", "ft9_stage", "alsfrs_original") + ITEM_COLUMNS + DOMAIN_COLUMNS
BASELINE_COLUMNS = tuple(c for c in REQUIRED_COLUMNS if c not in ("pair_id", "arm"))
TREATED_OPTIONAL = ("id", "duration_months")


# ------------------------------------------------------------ small parsers

def _num(df, col, where, lo=-math.inf, hi=math.inf, integer=False, required=False, what=None):
    """Column of a str DataFrame as float (NaN = empty); the first bad cell is an error
    naming its line (header = line 1)."""
    import pandas as pd
    raw = df[col].astype(str).str.strip()
    empty = raw.str.lower().isin(("", "na", "nan", "null", "none"))
    x = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(dtype=np.float64)
    what = what or (f"an integer {lo:g}..{hi:g}" if integer else "a number")
    bad = ~empty.to_numpy() & (~np.isfinite(x) | (x < lo) | (x > hi) |
                               ((x != np.round(x)) if integer else False))
    if required:
        bad |= empty.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        v = df[col].iloc[i]
        got = "an empty cell" if empty.iloc[i] else repr(v)
        raise InputError(f"{where}: row {i + 2}, column '{col}'", f"expected {what}, got {got}")
    return x


def _labels(df, col, where, mapping):
    """Text column mapped through `mapping` (stripped text -> label); empty -> None."""
    raw = df[col].astype(str).str.strip()
    out = np.empty(len(raw), dtype=object)
    for i, v in enumerate(raw):
        if v.lower() in ("", "na", "nan", "null", "none"):
            out[i] = None
        elif v in mapping:
            out[i] = mapping[v]
        else:
            raise InputError(f"{where}: row {i + 2}, column '{col}'",
                             f"expected one of {', '.join(repr(k) for k in mapping)} (or empty), got {v!r}")
    return out


def _read_csv(path, where):
    import pandas as pd
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                         encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(where, f"no such file {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise InputError(where, f"not a readable CSV table ({str(e).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    return df


def _check_header(df, where, required, optional):
    cols = list(df.columns)
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise InputError(f"{where}: header", f"column(s) {', '.join(dup)} appear more than once")
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputError(f"{where}: header", f"missing column(s) {', '.join(missing)}; "
                                             f"required: {', '.join(required)}")
    unknown = [c for c in cols if c not in required and c not in optional]
    if unknown:
        raise InputError(f"{where}: header", f"unknown column(s) {', '.join(unknown)}; allowed: "
                                             f"{', '.join(required + optional)} (docs/registry.md)")


# ------------------------------------------------------------------ registry

@dataclass(frozen=True)
class Drop:
    """Rows the PRO-ACT importer left out: table, reason, rows and patients concerned."""
    table: str
    reason: str
    rows: int
    patients: int

    def __str__(self):
        return f"{self.table}: {self.rows} row(s) of {self.patients} patient(s) dropped: {self.reason}"


@dataclass(frozen=True)
class Registry:
    """A registry in the contract's form.

    patients: one row per patient in registry order (the order that breaks
      matching ties), columns PATIENT_REQUIRED + onset_day; patient_id as text,
      categorical values as labels or None, numbers as floats (NaN missing).
    visits: patient_id, day, alsfrs_r, ft9_stage (from the domains where given),
      alsfrs_original, the 4 domain scores bulbar, fine_motor, gross_motor,
      respiratory (given or summed from the items; NaN where neither);
      sorted by patient (registry order) and day.
    drops: what an importer left out (empty for a contract registry).
    notes: what an importer assumed (e.g. patients without a riluzole record).
    """
    patients: object
    visits: object
    source: str
    drops: tuple = ()
    notes: tuple = ()

    @property
    def n_patients(self) -> int:
        return int(len(self.patients))

    def write(self, directory) -> None:
        """Write patients.csv and visits.csv (the contract) into `directory`."""
        os.makedirs(directory, exist_ok=True)
        p = self.patients.copy()
        for c in ("riluzole", "event"):
            p[c] = p[c].astype("Int64")
        p.to_csv(os.path.join(directory, "patients.csv"), index=False, float_format="%.17g")
        v = self.visits.copy()
        for c in ("alsfrs_r", "ft9_stage", "alsfrs_original") + DOMAIN_COLUMNS:
            if c in v:
                v[c] = v[c].astype("Int64")
        # optional score columns nobody filled are left out (an empty column reads back the same)
        v = v.drop(columns=[c for c in ("alsfrs_original",) + DOMAIN_COLUMNS if c in v and v[c].isna().all()])
        v.to_csv(os.path.join(directory, "visits.csv"), index=False, float_format="%.17g")


def _ft9(domains: np.ndarray) -> np.ndarray:
    """FT9 stage 1 + number of the 4 domains scoring < 9; NaN if a domain is missing."""
    st = 1.0 + np.sum(domains < 9, axis=1)
    return np.where(np.isnan(domains).any(axis=1), np.nan, st)


def _agree(given, derived, where, col, what):
    """given where present, else derived; an error where both are present and differ."""
    clash = ~np.isnan(given) & ~np.isnan(derived) & (given != derived)
    if clash.any():
        r = int(np.flatnonzero(clash)[0])
        raise InputError(f"{where}: row {r + 2}, column '{col}'", f"{given[r]:g} differs from {what} {derived[r]:g}")
    return np.where(np.isnan(given), derived, given)


def _visit_scores(df, where):
    """(alsfrs_r, ft9_stage, alsfrs_original, domains (n, 4)) of a visits table in contract columns."""
    n = len(df)
    have = lambda c: c in df.columns  # noqa: E731
    items = np.column_stack([_num(df, c, where, 0, 4, integer=True) if have(c) else np.full(n, np.nan)
                             for c in ITEM_COLUMNS])
    dom = np.column_stack([_num(df, c, where, 0, 12, integer=True) if have(c) else np.full(n, np.nan)
                           for c in DOMAIN_COLUMNS])
    from_items = np.column_stack([items[:, 3 * i:3 * i + 3].sum(axis=1) for i in range(4)])
    dom = np.column_stack([_agree(dom[:, i], from_items[:, i], where, d, "the sum of its items")
                           for i, d in enumerate(DOMAIN_COLUMNS)])
    total = _num(df, "alsfrs_r", where, 0, 48, integer=True) if have("alsfrs_r") else np.full(n, np.nan)
    total = _agree(total, dom.sum(axis=1), where, "alsfrs_r", "the sum of the domain / item scores")
    ft9 = _ft9(dom)
    if have("ft9_stage"):
        ft9 = _agree(_num(df, "ft9_stage", where, 1, 5, integer=True), ft9, where, "ft9_stage",
                     "the stage of the domain scores")
    orig = _num(df, "alsfrs_original", where, 0, 40, integer=True) if have("alsfrs_original") \
        else np.full(n, np.nan)
    return total, ft9, orig, dom


def read_contract(directory) -> Registry:
    """Read and check patients.csv and visits.csv of a registry directory."""
    import pandas as pd
    pp = os.path.join(directory, "patients.csv")
    vp = os.path.join(directory, "visits.csv")
    for p in (pp, vp):
        if not os.path.exists(p):
            raise InputError(str(directory), f"no {os.path.basename(p)}; a registry directory holds "
                                             "patients.csv and visits.csv (docs/registry.md) or the "
                                             "tables of a PRO-ACT download")
    pdf = _read_csv(pp, pp)
    _check_header(pdf, pp, PATIENT_REQUIRED, PATIENT_OPTIONAL)
    ids = pdf["patient_id"].astype(str).str.strip()
    if (ids == "").any():
        i = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise InputError(f"{pp}: row {i + 2}, column 'patient_id'", "is empty")
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{pp}: row {i + 2}, column 'patient_id'",
                         f"patient {ids.iloc[i]!r} appears more than once")
    race = pdf["race"].astype(str).str.strip()
    patients = pd.DataFrame({
        "patient_id": ids.to_numpy(),
        "sex": _labels(pdf, "sex", pp, {"M": "M", "F": "F"}),
        "race": np.array([None if r.lower() in ("", "na", "nan", "null", "none") else r for r in race],
                         dtype=object),
        "onset": _labels(pdf, "onset", pp, {"bulbar": "bulbar", "spinal": "spinal"}),
        "riluzole": _num(pdf, "riluzole", pp, 0, 1, integer=True, what="0 or 1"),
        "age": _num(pdf, "age", pp, 0, 130, what="an age in years 0..130"),
        "end_day": _num(pdf, "end_day", pp, required=True, what="a day number (death or last contact)"),
        "event": _num(pdf, "event", pp, 0, 1, integer=True, required=True, what="0 (alive) or 1 (death)"),
        "onset_day": _num(pdf, "onset_day", pp) if "onset_day" in pdf else np.full(len(pdf), np.nan),
    })
    vdf = _read_csv(vp, vp)
    _check_header(vdf, vp, VISIT_REQUIRED, VISIT_OPTIONAL)
    vid = vdf["patient_id"].astype(str).str.strip()
    day = _num(vdf, "day", vp, required=True, what="a day number")
    total, ft9, orig, dom = _visit_scores(vdf, vp)
    known = vid.isin(set(patients["patient_id"]))
    if not known.all():
        i = int(np.flatnonzero(~known.to_numpy())[0])
        raise InputError(f"{vp}: row {i + 2}, column 'patient_id'",
                         f"patient {vid.iloc[i]!r} is not in patients.csv")
    visits = pd.DataFrame({"patient_id": vid.to_numpy(), "day": day, "alsfrs_r": total,
                           "ft9_stage": ft9, "alsfrs_original": orig,
                           **{c: dom[:, i] for i, c in enumerate(DOMAIN_COLUMNS)}})
    dup = visits.duplicated(["patient_id", "day"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{vp}: row {i + 2}", f"patient {vid.iloc[i]!r} has a second visit on day "
                                                f"{day[i]:g}; one visit per patient and day")
    end = visits["patient_id"].map(dict(zip(patients["patient_id"], patients["end_day"])))
    ev = visits["patient_id"].map(dict(zip(patients["patient_id"], patients["event"])))
    late = (visits["day"] > end).to_numpy()
    if late.any():
        i = int(np.flatnonzero(late)[0])
        what = "death" if ev.iloc[i] == 1 else "last contact"
        raise InputError(f"{vp}: row {i + 2}, column 'day'",
                         f"visit on day {day[i]:g} of patient {vid.iloc[i]!r} is after the {what} "
                         f"(end_day {end.iloc[i]:g} in patients.csv)")
    visits = _sort_visits(visits, patients)
    return Registry(patients, visits, str(directory))


def _sort_visits(visits, patients):
    order = {p: i for i, p in enumerate(patients["patient_id"])}
    v = visits.assign(_o=visits["patient_id"].map(order))
    return v.sort_values(["_o", "day"], kind="mergesort").drop(columns="_o").reset_index(drop=True)


# ------------------------------------------------------------------ PRO-ACT

PROACT_TABLES = ("ALSFRS", "DEMOGRAPHICS", "RILUZOLE", "DEATHDATA", "ALSHISTORY")
# The PRO-ACT column names this importer reads, in one place: contract name ->
# PRO-ACT names tried in order (releases differ, e.g. R1_Dyspnea / R_1_Dyspnea).
PROACT_COLUMNS = {
    "ALSFRS": {
        "patient_id": ("subject_id",), "day": ("ALSFRS_Delta",),
        "alsfrs_r": ("ALSFRS_R_Total",), "alsfrs_original": ("ALSFRS_Total",),
        "q1_speech": ("Q1_Speech",), "q2_salivation": ("Q2_Salivation",),
        "q3_swallowing": ("Q3_Swallowing",), "q4_handwriting": ("Q4_Handwriting",),
        # Q5a without gastrostomy, Q5b with: a visit has one of them
        "q5_cutting": ("Q5_Cutting", "Q5a_Cutting_without_Gastrostomy", "Q5b_Cutting_with_Gastrostomy"),
        "q6_dressing_hygiene": ("Q6_Dressing_and_Hygiene",), "q7_turning_in_bed": ("Q7_Turning_in_Bed",),
        "q8_walking": ("Q8_Walking",), "q9_climbing_stairs": ("Q9_Climbing_Stairs",),
        "r1_dyspnea": ("R1_Dyspnea", "R_1_Dyspnea"), "r2_orthopnea": ("R2_Orthopnea", "R_2_Orthopnea"),
        "r3_respiratory_insufficiency": ("R3_Respiratory_Insufficiency", "R_3_Respiratory_Insufficiency"),
    },
    "DEMOGRAPHICS": {"patient_id": ("subject_id",), "sex": ("Sex",), "age": ("Age",),
                     "date_of_birth": ("Date_of_Birth",), "white": ("Race_Caucasian",),
                     "other_race": ("Race_Americ_Indian_Alaska_Native", "Race_Asian",
                                    "Race_Black_African_American", "Race_Hawaiian_Pacific_Islander",
                                    "Race_Other")},
    "RILUZOLE": {"patient_id": ("subject_id",), "riluzole": ("Subject_used_Riluzole",)},
    "DEATHDATA": {"patient_id": ("subject_id",), "died": ("Subject_Died",), "death_day": ("Death_Days",)},
    "ALSHISTORY": {"patient_id": ("subject_id",), "onset": ("Site_of_Onset",), "onset_day": ("Onset_Delta",),
                   # older releases: one 0/1 indicator column per site instead
                   "bulbar_flag": ("Site_of_Onset___Bulbar",),
                   "limb_flag": ("Site_of_Onset___Limb", "Site_of_Onset___Spine")},
}
PROACT_REQUIRED = {"ALSFRS": ("patient_id", "day"), "DEMOGRAPHICS": ("patient_id", "sex"),
                   "RILUZOLE": ("patient_id", "riluzole"), "DEATHDATA": ("patient_id", "died", "death_day"),
                   "ALSHISTORY": ("patient_id",)}
PROACT_SEX = {"Male": "M", "Female": "F", "M": "M", "F": "F"}
PROACT_ONSET = {"Onset: Bulbar": "bulbar", "Onset: Limb": "spinal", "Onset: Spine": "spinal",
                "Bulbar": "bulbar", "Limb": "spinal", "Spinal": "spinal"}
_YES = ("yes", "y", "1", "true")
_NO = ("no", "n", "0", "false")


def proact_paths(directory) -> dict | None:
    """{table: path} of a PRO-ACT download (PROACT_X.csv or F_PROACT_X.csv), None if
    the directory holds none of them; an error if it holds some but not all."""
    found = {}
    for t in PROACT_TABLES:
        for pre in ("PROACT_", "F_PROACT_"):
            p = os.path.join(directory, f"{pre}{t}.csv")
            if os.path.exists(p):
                found[t] = p
                break
    if not found:
        return None
    missing = [t for t in PROACT_TABLES if t not in found]
    if missing:
        raise InputError(str(directory), f"a PRO-ACT download needs the tables "
                                         f"{', '.join('PROACT_' + t + '.csv' for t in missing)} as well "
                                         f"(found {', '.join(os.path.basename(p) for p in found.values())})")
    return found


def _proact_table(path, table):
    """The table's columns renamed to contract names (first alias present)."""
    df = _read_csv(path, path)
    out = {}
    for name, aliases in PROACT_COLUMNS[table].items():
        present = [a for a in aliases if a in df.columns]
        if name == "q5_cutting" and present:
            # one of Q5a / Q5b per visit: take the first non-empty
            col = df[present[0]].astype(str).str.strip()
            for a in present[1:]:
                alt = df[a].astype(str).str.strip()
                col = col.where(col != "", alt)
            out[name] = col
        elif name == "other_race":
            if present:
                out[name] = df[present].apply(lambda c: c.astype(str).str.strip().isin(("1", "1.0", "Yes")))\
                    .any(axis=1).astype(str)
        elif present:
            out[name] = df[present[0]]
    missing = [c for c in PROACT_REQUIRED[table] if c not in out]
    if missing:
        names = [" or ".join(PROACT_COLUMNS[table][c]) for c in missing]
        raise InputError(f"{path}: header", f"missing PRO-ACT column(s) {', '.join(names)}")
    import pandas as pd
    return pd.DataFrame(out)


def import_proact(directory) -> Registry:
    """A PRO-ACT download (its ALSFRS, DEMOGRAPHICS, RILUZOLE, DEATHDATA and
    ALSHISTORY tables) in the registry contract; what cannot be used is dropped and
    listed in `drops` (docs/registry.md, "PRO-ACT")."""
    import pandas as pd
    paths = proact_paths(directory)
    if paths is None:
        raise InputError(str(directory), "no PROACT_*.csv tables")
    drops, notes = [], []

    def drop(table, reason, rows, ids):
        if rows:
            drops.append(Drop(table, reason, int(rows), int(pd.Series(ids).nunique())))

    demo = _proact_table(paths["DEMOGRAPHICS"], "DEMOGRAPHICS")
    demo["patient_id"] = demo["patient_id"].astype(str).str.strip()
    dup = demo["patient_id"].duplicated(keep="first")
    drop("DEMOGRAPHICS", "second row of a subject (the first is kept)", dup.sum(), demo["patient_id"][dup])
    demo = demo[~dup].reset_index(drop=True)
    sexes = demo["sex"].astype(str).str.strip()
    sex = sexes.map(PROACT_SEX)
    age = pd.to_numeric(demo.get("age", pd.Series(np.nan, index=demo.index)), errors="coerce")
    if "date_of_birth" in demo:
        # Date_of_Birth is a (negative) day offset: age at day 0 when Age is missing
        dob = pd.to_numeric(demo["date_of_birth"], errors="coerce")
        age = age.fillna(-dob / YEAR_DAYS)
    age = age.where((age > 0) & (age < 130))
    if "white" in demo:
        white = demo["white"].astype(str).str.strip().isin(("1", "1.0", "Yes"))
        other = demo["other_race"].eq("True") if "other_race" in demo else pd.Series(False, index=demo.index)
        race = pd.Series(np.where(white, "White", np.where(other, "Other", None)), dtype=object)
    else:
        race = pd.Series([None] * len(demo), dtype=object)

    ril = _proact_table(paths["RILUZOLE"], "RILUZOLE")
    ril["patient_id"] = ril["patient_id"].astype(str).str.strip()
    rv = ril["riluzole"].astype(str).str.strip().str.lower()
    ril["r"] = np.where(rv.isin(_YES), 1.0, np.where(rv.isin(_NO), 0.0, np.nan))
    # a subject with any 'Yes' record used riluzole
    ril_of = ril.groupby("patient_id")["r"].max()
    riluzole = demo["patient_id"].map(ril_of)
    no_rec = ~demo["patient_id"].isin(ril_of.index)
    riluzole = riluzole.where(~no_rec, 0.0)

    hist = _proact_table(paths["ALSHISTORY"], "ALSHISTORY")
    hist["patient_id"] = hist["patient_id"].astype(str).str.strip()
    if "onset" not in hist and "bulbar_flag" not in hist:
        raise InputError(f"{paths['ALSHISTORY']}: header", "missing PRO-ACT column Site_of_Onset "
                                                           "(or Site_of_Onset___Bulbar / ___Limb)")
    if "onset" not in hist:
        hist["onset"] = ""
    hist["o"] = hist["onset"].astype(str).str.strip().map(PROACT_ONSET)
    if "bulbar_flag" in hist:
        # an indicator decides only when it names one site
        flag = lambda c: hist[c].astype(str).str.strip().isin(("1", "1.0")) if c in hist else False  # noqa: E731
        b, lf = flag("bulbar_flag"), flag("limb_flag")
        hist.loc[hist["o"].isna() & b & ~lf, "o"] = "bulbar"
        hist.loc[hist["o"].isna() & lf & ~b, "o"] = "spinal"
    hist["d"] = pd.to_numeric(hist.get("onset_day", pd.Series(np.nan, index=hist.index)), errors="coerce")
    onset = demo["patient_id"].map(hist.dropna(subset=["o"]).groupby("patient_id")["o"].first())
    onset_day = demo["patient_id"].map(hist.dropna(subset=["d"]).groupby("patient_id")["d"].first())
    other_onset = demo["patient_id"].isin(
        set(hist.loc[hist["onset"].astype(str).str.strip().ne("") & hist["o"].isna(), "patient_id"])) & \
        onset.isna()

    death = _proact_table(paths["DEATHDATA"], "DEATHDATA")
    death["patient_id"] = death["patient_id"].astype(str).str.strip()
    died = death["died"].astype(str).str.strip().str.lower().isin(_YES)
    dday = pd.to_numeric(death["death_day"], errors="coerce")
    death = pd.DataFrame({"patient_id": death["patient_id"], "died": died, "dday": dday})
    dup = death["patient_id"].duplicated(keep="first")
    drop("DEATHDATA", "second row of a subject (the first is kept)", dup.sum(), death["patient_id"][dup])
    death = death[~dup].set_index("patient_id")

    alsfrs = _proact_table(paths["ALSFRS"], "ALSFRS")
    alsfrs["patient_id"] = alsfrs["patient_id"].astype(str).str.strip()
    day = pd.to_numeric(alsfrs["day"], errors="coerce")
    bad = day.isna()
    drop("ALSFRS", "no visit day (ALSFRS_Delta empty or not a number)", bad.sum(), alsfrs["patient_id"][bad])
    alsfrs, day = alsfrs[~bad].reset_index(drop=True), day[~bad].reset_index(drop=True)
    unknown = ~alsfrs["patient_id"].isin(set(demo["patient_id"]))
    drop("ALSFRS", "subject not in DEMOGRAPHICS", unknown.sum(), alsfrs["patient_id"][unknown])
    alsfrs, day = alsfrs[~unknown].reset_index(drop=True), day[~unknown].reset_index(drop=True)
    # scores: an out-of-range or non-numeric value drops that visit, not the import
    score_cols = [c for c in ("alsfrs_r", "alsfrs_original") + ITEM_COLUMNS if c in alsfrs]
    lim = {"alsfrs_r": 48, "alsfrs_original": 40}
    sc = {}
    badrow = np.zeros(len(alsfrs), bool)
    for c in score_cols:
        raw = alsfrs[c].astype(str).str.strip()
        empty = raw.str.lower().isin(("", "na", "nan", "null", "none"))
        x = pd.to_numeric(raw.where(~empty), errors="coerce").to_numpy(dtype=np.float64)
        hi = lim.get(c, 4)
        badrow |= ~empty.to_numpy() & (np.isnan(x) | (x < 0) | (x > hi) | (x != np.round(x)))
        sc[c] = x
    drop("ALSFRS", "a score out of range or not an integer", badrow.sum(), alsfrs["patient_id"][badrow])
    vis = pd.DataFrame({"patient_id": alsfrs["patient_id"], "day": day, **sc})[~badrow].reset_index(drop=True)
    # scores through the contract's rules (items -> domains -> total, FT9); a visit
    # whose given total disagrees with its items is dropped
    items = np.column_stack([vis[c].to_numpy() if c in vis else np.full(len(vis), np.nan)
                             for c in ITEM_COLUMNS])
    dom = np.column_stack([items[:, 3 * i:3 * i + 3].sum(axis=1) for i in range(4)])
    isum = dom.sum(axis=1)
    given = vis["alsfrs_r"].to_numpy() if "alsfrs_r" in vis else np.full(len(vis), np.nan)
    clash = ~np.isnan(given) & ~np.isnan(isum) & (given != isum)
    drop("ALSFRS", "ALSFRS_R_Total differs from the sum of its 12 items", clash.sum(), vis["patient_id"][clash])
    vis, dom, isum, given = vis[~clash].reset_index(drop=True), dom[~clash], isum[~clash], given[~clash]
    total = np.where(np.isnan(given), isum, given)
    v = pd.DataFrame({"patient_id": vis["patient_id"], "day": vis["day"], "alsfrs_r": total,
                      "ft9_stage": _ft9(dom),
                      "alsfrs_original": vis["alsfrs_original"] if "alsfrs_original" in vis else np.nan,
                      **{c: dom[:, i] for i, c in enumerate(DOMAIN_COLUMNS)}})
    only_orig = np.isnan(total) & ~np.isnan(v["alsfrs_original"].to_numpy())
    if only_orig.any():
        notes.append(f"{int(only_orig.sum())} visit(s) have only the original ALSFRS total (0..40): kept as "
                     f"alsfrs_original, not used as an ALSFRS-R total (the scales differ)")
    # duplicate visits: identical copies collapse to one; conflicting ones are dropped
    key = ["patient_id", "day"]
    exact = v.duplicated(keep="first")
    drop("ALSFRS", "exact copy of another visit (one kept)", exact.sum(), v["patient_id"][exact])
    v = v[~exact]
    conflict = v.duplicated(key, keep=False)
    drop("ALSFRS", "two or more different visits of a subject on the same day (all dropped)",
         conflict.sum(), v["patient_id"][conflict])
    v = v[~conflict]

    died_of = demo["patient_id"].map(death["died"]).astype("boolean").fillna(False).astype(bool)
    dday_of = demo["patient_id"].map(death["dday"])
    unknown_day = died_of & dday_of.isna()
    drop("DEATHDATA", "died, but Death_Days is empty (survival unknown)", unknown_day.sum(),
         demo["patient_id"][unknown_day])
    keep = ~unknown_day
    dmap = dict(zip(demo["patient_id"][died_of & keep], dday_of[died_of & keep]))
    vd = v["patient_id"].map(dmap)
    after = (v["day"] > vd).fillna(False).to_numpy()
    drop("ALSFRS", "visit after the subject's death day", after.sum(), v["patient_id"][after])
    v = v[~after & v["patient_id"].isin(set(demo["patient_id"][keep])).to_numpy()]
    last = v.groupby("patient_id")["day"].max()
    end = np.where(died_of, dday_of, demo["patient_id"].map(last))
    no_end = keep & np.isnan(end.astype(float))
    drop("DEMOGRAPHICS", "alive (or no death record) and no ALSFRS visit: no last-contact day",
         no_end.sum(), demo["patient_id"][no_end])
    keep &= ~no_end
    patients = pd.DataFrame({
        "patient_id": demo["patient_id"], "sex": sex.where(sex.notna(), None).astype(object),
        "race": race.values, "onset": onset.where(onset.notna(), None).astype(object),
        "riluzole": riluzole.astype(float), "age": age.astype(float), "end_day": end.astype(float),
        "event": died_of.astype(float), "onset_day": onset_day.astype(float),
    })[keep.to_numpy()].reset_index(drop=True)
    # what was assumed, counted over the subjects kept
    k = keep.to_numpy()
    for mask, text in ((no_rec, "without a RILUZOLE record: riluzole taken as 0"),
                       (other_onset, "with a site of onset other than bulbar or limb/spine (e.g. 'Onset: Limb "
                                     "and Bulbar'): onset left empty"),
                       (sexes.ne("") & sex.isna(), "with a Sex other than Male / Female: sex left empty")):
        if int(mask.to_numpy()[k].sum()):
            notes.insert(0, f"{int(mask.to_numpy()[k].sum())} subject(s) {text}")
    v = _sort_visits(v[v["patient_id"].isin(set(patients["patient_id"]))], patients)
    return Registry(patients, v.reset_index(drop=True), str(directory), tuple(drops), tuple(notes))


def read_registry(directory) -> Registry:
    """A registry directory: the contract (patients.csv, visits.csv) or a PRO-ACT download."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise InputError(directory, "no such directory; expected a registry directory (docs/registry.md)")
    if os.path.exists(os.path.join(directory, "patients.csv")) or \
            os.path.exists(os.path.join(directory, "visits.csv")):
        return read_contract(directory)
    if proact_paths(directory) is not None:
        return import_proact(directory)
    raise InputError(directory, "holds neither patients.csv + visits.csv (docs/registry.md) nor the "
                                "tables of a PRO-ACT download (PROACT_ALSFRS.csv, PROACT_DEMOGRAPHICS.csv, "
                                "PROACT_RILUZOLE.csv, PROACT_DEATHDATA.csv, PROACT_ALSHISTORY.csv)")


# ------------------------------------------------------- reference candidates

@dataclass(frozen=True)
class Candidates:
    """Reference candidates of a registry: one row per patient with an index visit,
    in registry order, in the matched-cohort contract's columns (baseline = index
    visit) plus patient_id, index_day, pre_day and duration_months."""
    table: object
    n_patients: int
    excluded: dict                 # reason -> number of patients
    tolerance_days: float
    followup_months: float

    @property
    def n(self) -> int:
        return int(len(self.table))


def _nearest(days, target, lo, hi, tol):
    """Index in days[lo:hi] nearest to target within tol (earlier on a tie), or -1."""
    best, bd = -1, math.inf
    for j in range(lo, hi):
        d = abs(days[j] - target)
        if d <= tol + _DAY_SLACK and d < bd - _DAY_SLACK:
            best, bd = j, d
    return best


def reference_candidates(reg: Registry, tolerance_days: float = 14.0, followup_months: float = 6.0,
                         pre_months: int = 6) -> Candidates:
    """Reference candidates: per patient the first visit (the index) that has
    - a visit pre_months (6) months before it, within tolerance_days,
    - if followup_months M > 0, the visits 2, 4, ... <= M months after it within
      tolerance_days and the patient alive more than M months after it (the
      immortal-time requirement of the simulation's pool, `immortal_time_reference`),
    - follow-up after it (end_day > index day).
    The visits 2, 4 and 6 months after the index fill alsfrs_2/4/6 where present.
    A month is 365.25 / 12 days.  A visit counts only with an ALSFRS-R total.
    """
    import pandas as pd
    try:
        tol = float(tolerance_days)
    except (TypeError, ValueError):
        raise InputError("tolerance", f"expected a number of days, got {tolerance_days!r}") from None
    if not 0 <= tol < MONTH_DAYS:
        # half the 2-month spacing: one visit can then never serve two targets
        raise InputError("tolerance", f"expected 0 <= days < {MONTH_DAYS:g} (one month), got {tolerance_days!r}")
    try:
        m_need = float(followup_months)
    except (TypeError, ValueError):
        m_need = math.nan
    if not 0 <= m_need <= 6:
        raise InputError("followup_months", f"expected months 0..6, got {followup_months!r}")
    P = reg.patients
    V = reg.visits[np.isfinite(reg.visits["alsfrs_r"].to_numpy())]
    by = {pid: (g["day"].to_numpy(), g["alsfrs_r"].to_numpy(), g["ft9_stage"].to_numpy())
          for pid, g in V.groupby("patient_id", sort=False)}
    need = [k for k in (2, 4, 6) if k <= m_need + 1e-12]
    excluded = {"no visit with an ALSFRS-R total": 0,
                f"no visit with a visit {pre_months} months before it": 0,
                "no such visit followed by the required visits and survival": 0,
                "a baseline variable of the matched table is missing": 0}
    rows = []
    cols = ("sex", "race", "onset", "riluzole", "age", "end_day", "event", "onset_day")
    for rec in zip(P["patient_id"], *(P[c] for c in cols)):
        pid, sex, race, onset, ril, age, end, ev, oday = rec
        if pid not in by:
            excluded["no visit with an ALSFRS-R total"] += 1
            continue
        days, tot, ft9 = by[pid]
        n = len(days)
        found = None
        any_pre = False
        for i in range(n):
            t = days[i]
            j = _nearest(days, t - pre_months * MONTH_DAYS, 0, i, tol)
            if j < 0:
                continue
            any_pre = True
            # known alive at index + M: died after it, or last contact no earlier than
            # it less the tolerance (follow-up may end on the visit that proves it)
            if not (end - t > m_need * MONTH_DAYS if ev == 1 else
                    end - t >= m_need * MONTH_DAYS - tol - _DAY_SLACK) or not end > t:
                continue
            if any(_nearest(days, t + k * MONTH_DAYS, i + 1, n, tol) < 0 for k in need):
                continue
            found = (i, j)
            break
        if found is None:
            excluded[f"no visit with a visit {pre_months} months before it" if not any_pre else
                     "no such visit followed by the required visits and survival"] += 1
            continue
        i, j = found
        t = days[i]
        fu = []
        for k in (2, 4, 6):
            q = _nearest(days, t + k * MONTH_DAYS, i + 1, n, tol)
            fu.append(tot[q] if q >= 0 else np.nan)
        row = {"patient_id": pid, "sex": sex, "race": race, "onset": onset, "riluzole": ril,
               "age": age + t / YEAR_DAYS if age is not None else np.nan, "ft9_stage": ft9[i],
               "alsfrs_pre": tot[j], "alsfrs_0": tot[i], "alsfrs_2": fu[0], "alsfrs_4": fu[1],
               "alsfrs_6": fu[2], "time_days": end - t, "event": ev, "index_day": t, "pre_day": days[j],
               "duration_months": (t - oday) / MONTH_DAYS}
        if any(_is_missing(row[c]) for c in ("sex", "race", "onset", "riluzole", "age", "ft9_stage")):
            excluded["a baseline variable of the matched table is missing"] += 1
            continue
        rows.append(row)
    names = ("patient_id",) + BASELINE_COLUMNS + ("index_day", "pre_day", "duration_months")
    table = pd.DataFrame(rows, columns=list(names))
    for c in ("riluzole", "age", "ft9_stage", "alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6",
              "time_days", "event", "index_day", "pre_day", "duration_months"):
        table[c] = table[c].astype(np.float64)
    return Candidates(table, reg.n_patients, excluded, tol, m_need)


# -------------------------------------------------------------------- treated

def read_treated(path):
    """The treated CSV: one row per treated patient with the matched-cohort
    contract's columns minus pair_id and arm (optional: id, duration_months); the
    contract's value rules; alsfrs_pre / alsfrs_0 may be empty (then unmatched)."""
    import pandas as pd
    path = os.fspath(path)
    df = _read_csv(path, path)
    _check_header(df, path, BASELINE_COLUMNS, TREATED_OPTIONAL)
    if len(df) == 0:
        raise InputError(path, "no treated patients: the file has no data rows")
    out = {c: [] for c in BASELINE_COLUMNS}
    for r in range(len(df)):
        rn = r + 2
        get = lambda c: df[c].iloc[r]  # noqa: E731
        for c in BASELINE_COLUMNS:
            if _is_missing(get(c)) and c not in SCORE_COLUMNS:
                raise InputError(f"{path}: {_where(rn, c)}", "is empty; only the ALSFRS-R score columns "
                                                             "may be empty")
        try:
            out["sex"].append(_as_label(get("sex"), rn, "sex", ("M", "F")))
            out["race"].append(str(get("race")).strip())
            out["onset"].append(_as_label(get("onset"), rn, "onset", ("bulbar", "spinal")))
            ril = _as_int(get("riluzole"), rn, "riluzole", "0 or 1")
            if ril not in (0, 1):
                raise InputError(_where(rn, "riluzole"), f"expected 0 or 1, got {get('riluzole')!r}")
            out["riluzole"].append(float(ril))
            age = _as_float(get("age"), rn, "age")
            if not 0 < age < 130:
                raise InputError(_where(rn, "age"), f"expected an age in years between 0 and 130, got {age!r}")
            out["age"].append(age)
            ft9 = _as_int(get("ft9_stage"), rn, "ft9_stage", "an integer 1..5")
            if not 1 <= ft9 <= 5:
                raise InputError(_where(rn, "ft9_stage"), f"expected an integer 1..5, got {ft9!r}")
            out["ft9_stage"].append(float(ft9))
            for c in SCORE_COLUMNS:
                v = get(c)
                if _is_missing(v):
                    out[c].append(np.nan)
                    continue
                s = _as_int(v, rn, c, "an integer ALSFRS-R total 0..48")
                if not 0 <= s <= 48:
                    raise InputError(_where(rn, c), f"expected an integer ALSFRS-R total 0..48, got {v!r}")
                out[c].append(float(s))
            t = _as_float(get("time_days"), rn, "time_days")
            if not t > 0:
                raise InputError(_where(rn, "time_days"), f"expected a survival time in days > 0, got {t!r}")
            out["time_days"].append(t)
            ev = _as_int(get("event"), rn, "event", "0 or 1")
            if ev not in (0, 1):
                raise InputError(_where(rn, "event"), f"expected 0 (censored) or 1 (death), got {ev!r}")
            out["event"].append(float(ev))
        except InputError as e:
            raise InputError(f"{path}: {e.where}", e.message) from None
    t = pd.DataFrame(out)
    t.insert(0, "id", df["id"].astype(str).str.strip().to_numpy() if "id" in df
             else np.arange(1, len(df) + 1).astype(str))
    t["duration_months"] = _num(df, "duration_months", path, 0) if "duration_months" in df \
        else np.full(len(df), np.nan)
    return t


# ------------------------------------------------------------------ matching

@dataclass(frozen=True)
class CaliperEffect:
    """What the caliper cost: treated dropped for each reason, and the matches
    that a match without the caliper (same exact set and choices) would make."""
    caliper: float
    unit: str
    n_missing: int                # a matching variable or the pre-slope missing
    n_no_stratum: int             # no candidate at all in their exact stratum
    n_beyond: int                 # candidates in the stratum, none free within the caliper
    n_matched_without: int        # matched with caliper = inf
    nearest_beyond: np.ndarray    # per n_beyond treated: |pre-slope difference| to the nearest candidate


@dataclass(frozen=True)
class RegistryMatch:
    """A treated cohort matched to a registry's candidates, with its diagnostics."""
    table: MatchedTable
    match: object                 # matching.MatchResult
    candidates: Candidates
    treated: object               # the treated DataFrame
    reference_ids: np.ndarray     # patient_id of each pair's reference
    caliper_effect: CaliperEffect
    balance: object               # balance.Balance
    drops: tuple = ()
    notes: tuple = ()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        m, c, ce = self.match, self.candidates, self.caliper_effect
        return {
            "n_treated": m.n_treated, "n_matched": m.n_matched, "match_rate": m.n_matched / m.n_treated,
            "caliper": m.caliper, "caliper_unit": m.caliper_unit, "exact": list(m.exact),
            "match_choice": m.match_choice, "match_order": m.match_order,
            "registry_patients": c.n_patients, "candidates": c.n, "not_candidates": dict(c.excluded),
            "tolerance_days": c.tolerance_days, "followup_months": c.followup_months,
            "dropped_missing_variable": ce.n_missing, "dropped_no_candidate_in_stratum": ce.n_no_stratum,
            "dropped_beyond_caliper": ce.n_beyond, "matched_without_caliper": ce.n_matched_without,
            "nearest_beyond_caliper": [float(x) for x in ce.nearest_beyond],
            "pairs": self.balance.pair_shares(), "balance": self.balance.records(),
            "importer_drops": [d.__dict__ for d in self.drops], "importer_notes": list(self.notes),
        }

    def summary(self) -> str:
        m, c, ce = self.match, self.candidates, self.caliper_effect
        lines = [f"Registry: {c.n_patients} patients, {c.n} reference candidates (index visit with a visit 6 "
                 f"months before, tolerance {c.tolerance_days:g} days; follow-up required "
                 f"{c.followup_months:g} months)."]
        for why, k in c.excluded.items():
            if k:
                lines.append(f"  not a candidate, {why}: {k}")
        for d in self.drops:
            lines.append(f"  importer: {d}")
        for n in self.notes:
            lines.append(f"  importer: {n}")
        lines.append(m.summary())
        lines.append(f"Match rate {m.n_matched}/{m.n_treated} = {m.n_matched / m.n_treated:.1%}.")
        lines.append(f"Dropped treated: {ce.n_missing} with a missing matching variable, {ce.n_no_stratum} "
                     f"with no candidate in their exact stratum, {ce.n_beyond} with candidates but none free "
                     f"within the caliper of {ce.caliper:g} {ce.unit}.")
        if ce.n_beyond:
            nb = ce.nearest_beyond
            lines.append(f"  their nearest candidate was {np.min(nb):.3g} to {np.max(nb):.3g} "
                         f"(median {np.median(nb):.3g}) {ce.unit} away (taken or beyond the caliper)")
        lines.append(f"Without the caliper {ce.n_matched_without} treated would be matched "
                     f"({ce.n_matched_without - m.n_matched} more).")
        lines.append(self.balance.render())
        return "\n".join(lines)


def _stratum_keys(df, exact):
    return [tuple(None if _is_missing(v) else (float(v) if isinstance(v, (int, float, np.floating)) else v)
                  for v in vals) for vals in zip(*(df[c] for c in exact))] if exact else [()] * len(df)


def _pairs_table(treated, cand, ti, ri, source) -> MatchedTable:
    """The matched-cohort table of pairs (treated row ti[k], candidate row ri[k])."""
    cols = {"pair_id": np.repeat(np.arange(1, len(ti) + 1), 2), "arm": ["treated", "reference"] * len(ti)}
    for c in BASELINE_COLUMNS:
        a, b = treated[c].to_numpy()[ti], cand[c].to_numpy()[ri]
        both = np.empty(2 * len(ti), dtype=object)
        both[0::2], both[1::2] = a, b
        cols[c] = [None if _is_missing(v) else v for v in both]
    return table_from_columns(cols, source=source)


def match_registry(treated, candidates: Candidates, exact=None, caliper=0.5, match_choice="nearest",
                   match_order="given", seed=0, drops=(), notes=(), *, match_peek=1,
                   badness=None, **remedies) -> RegistryMatch:
    """Match the treated (read_treated) to the candidates with simkit.design.matching's
    kernels; the matched table, the caliper's effect and the balance diagnostics.
    remedies: caliper_duration / caliper_delta_fs / caliper_total, as match_cohorts."""
    from simkit.design import matching as M
    from simkit.realdata.balance import balance_of
    exact = M.DEFAULT_EXACT if exact is None else tuple(exact)
    cand = candidates.table
    if candidates.n == 0:
        raise InputError("registry", "no reference candidates: no patient has an index visit with a visit "
                                     "6 months before it and the required follow-up (see the tolerance)")
    prep = M.prepare_pool(cand, exact)
    how = dict(match_choice=match_choice, match_order=match_order, seed=seed, match_peek=match_peek,
               badness=badness, **remedies)
    res = M.match_cohorts(treated, prep, exact, caliper, **how)
    free = M.match_cohorts(treated, prep, exact, math.inf, **how)
    ti, ri = res.treated_index, res.reference_index
    # why each dropped treated was dropped
    t_slope = ((treated["alsfrs_pre"] - treated["alsfrs_0"]) / 6.0).to_numpy()
    c_slope = ((cand["alsfrs_pre"] - cand["alsfrs_0"]) / 6.0).to_numpy()
    tk, ck = _stratum_keys(treated, exact), _stratum_keys(cand, exact)
    slopes_of = {}
    for k, s in zip(ck, c_slope):
        slopes_of.setdefault(k, []).append(s)
    n_missing = n_no = 0
    beyond = []
    for i in np.flatnonzero(res.match_index < 0):
        if np.isnan(t_slope[i]) or any(v is None for v in tk[i]):
            n_missing += 1
        elif tk[i] not in slopes_of:
            n_no += 1
        else:
            beyond.append(float(np.min(np.abs(np.asarray(slopes_of[tk[i]]) - t_slope[i]))))
    ce = CaliperEffect(res.caliper, res.caliper_unit, n_missing, n_no, len(beyond), free.n_matched,
                       np.array(beyond))
    if len(ti) == 0:
        raise InputError("match", f"no treated patient found a reference (exact on {', '.join(exact)}, "
                                  f"caliper {res.caliper:g} {res.caliper_unit}): no matched table to write")
    table = _pairs_table(treated, cand, ti, ri, f"{len(ti)} pairs matched in {candidates.n} registry candidates")
    bal = balance_of(treated, cand, ti, ri)
    return RegistryMatch(table, res, candidates, treated, cand["patient_id"].to_numpy()[ri], ce, bal,
                         tuple(drops), tuple(notes))


# ----------------------------------------------------- synthetic registries

def export_replicate(theta, design, seed: int, condition: int, k: int, out_dir):
    """Replicate k's registry pool in the registry contract (out_dir/registry/) and
    its enrolled treated cohort as a treated CSV (out_dir/treated.csv); returns the
    replicate laid open (design.ReplicateData), whose matched table matching the
    exported files reproduces.  Patient ids are the pool indices, in pool order.

    Per pool patient: visits at trial months 0 (entry), b0 - 6, b0 (the reference
    baseline, with its FT9 stage), b0 + 2, 4, 6 where the simulation has them
    (b0 = ref_baseline_month), day = month x 365.25/12; end_day and event from the
    survival follow-up from b0 (or, for a patient without one, censored at the last
    visit); age at day 0 and onset_day from the simulated duration at entry.  Every
    visit carries its total and its 4 observed domain scores (bulbar, fine_motor,
    gross_motor, respiratory: world.model.pool_domains, the same draws as the
    totals), from which the reader derives the FT9 stage.
    """
    import pandas as pd

    from simkit.world import model as W
    from simkit.design.replicate import replicate_data
    from simkit.kernels import history as H
    rd = replicate_data(theta, design, seed, condition, k)
    pool = W.generate_pool(theta, W.pool_key(seed, condition, k, design.pool_policy, design.pool_block_size),
                           design.pool_size)
    po = W.pool_outcomes(theta, pool.keys)
    dom = W.pool_domains(theta, pool.keys)      # (n, visit slot, domain)
    b0 = float(theta[H.REF_BASELINE_MONTH])
    p = pool.data
    n = p.shape[0]
    lab = lambda x, one, zero: np.where(x > 0.5, one, zero)  # noqa: E731
    time = po["time_days"]
    vrows = []
    end = np.empty(n)
    event = np.empty(n)
    for j in range(n):
        visits = [(0.0, p[j, H.PB_ENTRY_SCORE], 0)]      # (month, total, domain visit slot)
        if np.isfinite(p[j, H.PB_ALSFRS_0]):
            if b0 - 6 > 0:
                visits.append((b0 - 6, p[j, H.PB_ALSFRS_PRE], 1))
            visits.append((b0, p[j, H.PB_ALSFRS_0], 2))
            for slot, (m, name) in enumerate(((2, "alsfrs_2"), (4, "alsfrs_4"), (6, "alsfrs_6")), start=3):
                if np.isfinite(po[name][j]):
                    visits.append((b0 + m, po[name][j], slot))
        for mo, s, slot in visits:
            if dom[j, slot].sum() != s:
                raise AssertionError(f"pool patient {j}, month {mo:g}: domains {dom[j, slot]} do not sum to "
                                     f"the total {s:g} (kernels/pool.py pool_visit_domains out of step)")
            vrows.append((str(j), mo * MONTH_DAYS, s, *dom[j, slot]))
        if np.isfinite(time[j]):
            end[j] = b0 * MONTH_DAYS + time[j]
            event[j] = po["event"][j]
        else:
            end[j] = visits[-1][0] * MONTH_DAYS
            event[j] = 0.0
    patients = pd.DataFrame({
        "patient_id": [str(j) for j in range(n)], "sex": lab(p[:, H.PB_SEX], "M", "F"),
        "race": lab(p[:, H.PB_RACE], "Other", "White"), "onset": lab(p[:, H.PB_ONSET], "bulbar", "spinal"),
        "riluzole": p[:, H.PB_RILUZOLE], "age": p[:, H.PB_AGE] - b0 / 12.0, "end_day": end, "event": event,
        "onset_day": -p[:, H.PB_DURATION] * MONTH_DAYS,
    })
    visits = pd.DataFrame(vrows, columns=["patient_id", "day", "alsfrs_r", *DOMAIN_COLUMNS])
    os.makedirs(out_dir, exist_ok=True)
    Registry(patients, visits, "export").write(os.path.join(out_dir, "registry"))
    tr = rd.treated
    t = pd.DataFrame({
        "id": np.arange(tr.shape[0]), "sex": lab(tr[:, H.TC_SEX], "M", "F"),
        "race": lab(tr[:, H.TC_RACE], "Other", "White"), "onset": lab(tr[:, H.TC_ONSET], "bulbar", "spinal"),
        "riluzole": tr[:, H.TC_RILUZOLE].astype(int), "age": tr[:, H.TC_AGE],
        "ft9_stage": tr[:, H.TC_FT9].astype(int),
        **{c: pd.array(np.where(np.isfinite(tr[:, i]), np.round(tr[:, i]), np.nan), dtype="Int64")
           for c, i in zip(SCORE_COLUMNS, (H.TC_ALSFRS_PRE, H.TC_ALSFRS_0, H.TC_ALSFRS_2, H.TC_ALSFRS_4,
                                           H.TC_ALSFRS_6))},
        "time_days": tr[:, H.TC_TIME_DAYS], "event": tr[:, H.TC_EVENT].astype(int),
        "duration_months": tr[:, H.TC_DURATION],
    })
    t.to_csv(os.path.join(out_dir, "treated.csv"), index=False, float_format="%.17g")
    return rd


# ------------------------------------------------------------------ plasmode

def _cumhaz(time, event):
    """Nelson-Aalen cumulative hazard at its distinct death times: (t, H), both
    increasing; H is interpolated linearly between them (continuous, invertible)."""
    t = np.asarray(time, np.float64)
    d = np.asarray(event, np.float64)
    ut = np.unique(t[d > 0.5])
    at_risk = t.shape[0] - np.searchsorted(np.sort(t), ut, side="left")
    deaths = np.array([np.sum((t == u) & (d > 0.5)) for u in ut], np.float64)
    return np.r_[0.0, ut], np.r_[0.0, np.cumsum(deaths / at_risk)]


def _censor_curve(time, event):
    """Kaplan-Meier of the censoring times (deaths censor them): (t, G) increasing t."""
    t = np.asarray(time, np.float64)
    c = np.asarray(event, np.float64) < 0.5
    ut = np.unique(t[c])
    st = np.sort(t)
    at_risk = t.shape[0] - np.searchsorted(st, ut, side="left")
    n_c = np.array([np.sum((t == u) & c) for u in ut], np.float64)
    return ut, np.cumprod(1.0 - n_c / at_risk)


def inject_hazard_ratio(time, event, hr, cumhaz, censor, rng):
    """Survival from the index under a hazard ratio hr, for patients observed
    untreated: (time', event').

    Each patient's cumulative hazard at death E = H(T) is Exp(1) under the
    registry's hazard H (Nelson-Aalen, linear between death times); treatment
    multiplies the hazard by hr, so the treated death time is T' = H^-1(E / hr).
    This is exact when the registry's patients share one hazard up to constant
    factors that H tracks, approximate otherwise (docs/registry.md measures it).
    A death's unobserved censoring time is drawn from the censoring curve given
    C > T (no censoring after the registry's longest follow-up: C <= it); a
    censored patient's E is H(C) plus an Exp(1) draw (T > C).  Past the
    registry's last death time T' is infinite (censored).  hr = 1 returns the
    input unchanged.
    """
    th, hh = cumhaz
    ct, cg = censor
    t = np.asarray(time, np.float64)
    ev = np.asarray(event, np.float64)
    if hr == 1.0:
        return t.copy(), ev.copy()
    n = t.shape[0]
    u = rng.random(n)
    e_draw = rng.exponential(1.0, n)
    out_t, out_e = np.empty(n), np.empty(n)
    c_max = max(th[-1], ct[-1] if ct.size else 0.0, float(np.max(t)))
    for i in range(n):
        if ev[i] > 0.5:
            e = np.interp(t[i], th, hh)
            # censoring time given C > T: inverse of the conditional censoring curve
            g_t = np.interp(t[i], ct, cg, left=1.0) if ct.size else 1.0
            target = g_t * u[i]
            k = np.searchsorted(-cg, -target, side="left") if ct.size else 0
            c = ct[k] if ct.size and k < ct.size and ct[k] > t[i] else c_max
        else:
            c = t[i]
            e = np.interp(c, th, hh) + e_draw[i]
        e_new = e / hr
        t_new = np.interp(e_new, hh, th) if e_new <= hh[-1] else np.inf
        if t_new > c:
            out_t[i], out_e[i] = c, 0.0
        else:
            out_t[i], out_e[i] = t_new, 1.0
    return out_t, out_e


@dataclass(frozen=True)
class PlasmodeResult:
    """Plasmode replicates on a registry: `rows` (replicate, field) as an
    xarray.DataArray of the seed analysis' fields plus n_candidates and
    match_rate; the settings in its attrs."""
    rows: object

    def value(self, name):
        return self.rows.sel(field=name).to_numpy()

    def summary(self, alpha: float = 0.05) -> dict:
        lh = self.value("log_hr")
        ok = np.isfinite(lh)
        n = int(ok.sum())
        sd = float(np.std(lh[ok], ddof=1)) if n > 1 else np.nan
        p = self.value("hr_p")
        rej = np.isfinite(p) & (p < alpha)
        return {"replicates": int(lh.shape[0]), "with_hr": n, "mean_log_hr": float(np.mean(lh[ok])) if n else np.nan,
                "mean_log_hr_mcse": sd / math.sqrt(n) if n > 1 else np.nan, "sd_log_hr": sd,
                "rejection": float(np.mean(rej)), "mean_match_rate": float(np.mean(self.value("match_rate"))),
                **{k: self.rows.attrs[k] for k in ("hr", "rate_change", "n_treated", "selection")}}


@dataclass(frozen=True)
class PlasmodeSetup:
    """What every plasmode replicate on one candidate table shares: the table
    (registry order), the treated-draw weights exp(selection x pre-slope), the
    registry's Nelson-Aalen cumulative hazard and censoring curve, and the badness
    (-time_days: earliest death or censoring worst) a peeking analyst matches on."""
    cand: object
    weights: np.ndarray
    cumhaz: tuple
    censor: tuple
    badness: np.ndarray

    @property
    def n(self) -> int:
        return int(len(self.cand))


def plasmode_setup(candidates: Candidates, selection: float = 0.0) -> PlasmodeSetup:
    cand = candidates.table.reset_index(drop=True)
    slope = ((cand["alsfrs_pre"] - cand["alsfrs_0"]) / 6.0).to_numpy()
    w = np.exp(selection * (slope - np.nanmean(slope)))
    w = np.where(np.isfinite(w), w, 0.0)
    w = w / w.sum()
    return PlasmodeSetup(cand, w, _cumhaz(cand["time_days"], cand["event"]),
                         _censor_curve(cand["time_days"], cand["event"]),
                         -cand["time_days"].to_numpy(np.float64))


def plasmode_replicate(setup: PlasmodeSetup, rng, n_treated: int, hr: float, rate_change: float, exact,
                       caliper: float, match_choice: str, match_order: str, match_seed: int = 0,
                       match_key=None, match_peek: int = 1, firth: bool = False, remedies=None):
    """One plasmode replicate, its random numbers from `rng` (a numpy Generator):
    draw the treated, inject the effect, match, analyse.  Returns (analysis vector
    (kernels/seedanalysis.py FIELDS), the MatchResult, the treated table, the pool
    table).  `plasmode` and the scenario runner (realdata/plasmode_run.py) both
    call this: one implementation of the replicate.  remedies: the design-side
    remedy calipers (caliper_duration, ...), as match_cohorts takes them."""
    from simkit.analysis.matched import analyze_vector
    from simkit.design import matching as M
    from simkit.kernels import seedanalysis as SA
    cand, n = setup.cand, setup.n
    pick = np.sort(rng.choice(n, size=int(n_treated), replace=False, p=setup.weights))
    rest = np.setdiff1d(np.arange(n), pick)          # registry order kept
    tr = cand.iloc[pick].reset_index(drop=True).copy()
    tr["time_days"], tr["event"] = inject_hazard_ratio(tr["time_days"], tr["event"], hr, setup.cumhaz,
                                                       setup.censor, rng)
    for k, c in ((2, "alsfrs_2"), (4, "alsfrs_4"), (6, "alsfrs_6")):
        tr[c] = np.clip(np.round(tr[c] + rate_change * k), 0, 48)
    pool = cand.iloc[rest].reset_index(drop=True)
    peeks = match_choice == "worst" or match_peek > 1
    res = M.match_cohorts(tr, pool, exact, caliper, match_choice, match_order, int(match_seed),
                          setup.badness[rest] if peeks else None, match_peek=match_peek, key=match_key,
                          **(remedies or {}))
    vec = np.full(SA.N_FIELDS, np.nan)
    if res.n_matched:
        table = _pairs_table(tr, pool, res.treated_index, res.reference_index, "plasmode")
        vec = analyze_vector(table, firth)
    return vec, res, tr, pool


def plasmode(candidates: Candidates, n_treated: int = 67, hr: float = 1.0, rate_change: float = 0.0,
             selection: float = 0.0, reps: int = 100, seed: int = 0, start: int = 0, exact=None,
             caliper: float = 0.5, match_choice: str = "nearest", match_order: str = "given",
             condition: int | None = None) -> PlasmodeResult:
    """Replicates start .. start + reps - 1 of a plasmode simulation on a registry.

    Replicate r (random numbers from numpy's generator seeded by (seed, r), so a
    replicate does not depend on how the run is cut): n_treated candidates drawn
    without replacement, with probability proportional to exp(selection x
    pre-slope) (selection on the observed pre-slope, the regression-to-the-mean
    mechanism; 0 = at random); their survival from the index given the hazard
    ratio `hr` (inject_hazard_ratio) and their ALSFRS-R at index + 2, 4, 6 months
    raised by rate_change x months (rounded, clipped to 0..48; positive = slower
    decline); then matched 1:1 to the other candidates with simkit.design.matching and
    analysed with the seed analysis kernel, exactly as `simkit match` + `analyze`.

    condition: None (numpy's generator seeded by (seed, r), random matching choices
    from `seed`), or c: the generator seeded by (seed, c, r) and random matching
    choices keyed by rng.root_key(seed, c, r), exactly as replicate r of condition
    c of a plasmode scenario run (`simkit run`, realdata/plasmode_run.py).
    """
    import xarray as xr

    from simkit.design import matching as M
    from simkit.kernels import seedanalysis as SA
    from simkit.kernels.rng import root_key
    for name, v, ok in (("n_treated", n_treated, isinstance(n_treated, (int, np.integer)) and
                         1 <= n_treated < candidates.n),
                        ("reps", reps, isinstance(reps, (int, np.integer)) and reps >= 1),
                        ("seed", seed, isinstance(seed, (int, np.integer)) and seed >= 0),
                        ("start", start, isinstance(start, (int, np.integer)) and start >= 0),
                        ("hr", hr, isinstance(hr, (int, float)) and math.isfinite(hr) and hr > 0),
                        ("rate_change", rate_change, isinstance(rate_change, (int, float)) and
                         math.isfinite(rate_change)),
                        ("selection", selection, isinstance(selection, (int, float)) and math.isfinite(selection))):
        if not ok:
            raise InputError(f"plasmode.{name}", f"got {v!r}; expected " + {
                "n_treated": f"an integer 1..{candidates.n - 1} (fewer than the {candidates.n} candidates)",
                "reps": "an integer >= 1", "seed": "an integer >= 0", "start": "an integer >= 0",
                "hr": "a hazard ratio > 0", "rate_change": "points/month", "selection":
                    "log-odds per point/month of pre-slope"}[name])
    exact = M.DEFAULT_EXACT if exact is None else tuple(exact)
    setup = plasmode_setup(candidates, selection)
    n = setup.n
    fields = SA.FIELDS + ("n_candidates", "match_rate")
    out = np.full((reps, len(fields)), np.nan)
    for r in range(reps):
        key = [int(seed), int(start + r)] if condition is None else [int(seed), int(condition), int(start + r)]
        mkey = None if condition is None else np.uint64(root_key(np.uint64(seed), np.uint64(condition),
                                                                 np.uint64(start + r)))
        vec, res, _, _ = plasmode_replicate(setup, np.random.default_rng(key), n_treated, hr, rate_change,
                                            exact, caliper, match_choice, match_order, int(seed), mkey)
        out[r, -2] = n - n_treated
        out[r, -1] = res.n_matched / n_treated
        out[r, :SA.N_FIELDS] = vec
    rows = xr.DataArray(out, dims=("replicate", "field"),
                        coords={"replicate": np.arange(start, start + reps), "field": list(fields)},
                        name="plasmode",
                        attrs={"hr": float(hr), "rate_change": float(rate_change), "selection": float(selection),
                               "n_treated": int(n_treated), "seed": int(seed), "caliper": float(caliper),
                               "exact": ",".join(exact), "match_choice": match_choice, "match_order": match_order,
                               "tolerance_days": candidates.tolerance_days,
                               "followup_months": candidates.followup_months})
    return PlasmodeResult(rows)
