"""Exports of a replicate for people and other tools: `simkit simulate`'s table.

`replicate_table` lays one replicate's treated cohort and registry pool out as one
pandas DataFrame, a row per patient, in the columns TABLE_COLUMNS (documented in
docs/world.md): the contract's columns of docs/matched-cohort.md, then the hidden truth
and the counterfactual twin.  The data come from the world's generators with the
replicate's keys, so the table is the replicate the runner analyses.
"""
from __future__ import annotations

import numpy as np

from simkit.kernels import history as H
from simkit.world.model import generate_pool, generate_treated, pool_key, pool_outcomes, treated_key

TABLE_COLUMNS = (
    "cohort", "id", "eligible", "sex", "race", "onset", "riluzole", "age", "ft9_stage",
    "alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4", "alsfrs_6", "pre_rate",
    "time_days", "event",
    "enrol_year", "true_u", "true_rate", "true_duration_months", "true_death_days",
    "true_total_0", "true_total_6", "true_log_hr", "true_rate_change",
    "twin_alsfrs_2", "twin_alsfrs_4", "twin_alsfrs_6", "twin_time_days", "twin_event",
    "twin_death_days", "twin_true_total_6",
)


def replicate_table(theta: np.ndarray, seed: int, condition: int, replicate: int, *,
                    n_treated: int = 67, pool_size: int = 10_000, pool_policy: str = "condition",
                    pool_block_size: int = 1):
    """One replicate's treated cohort and registry pool as one pandas DataFrame.

    Layout (docs/world.md): a row per patient, `cohort` = treated / pool; the
    contract's columns (sex, race, onset, riluzole, age, ft9_stage, alsfrs_pre,
    alsfrs_0..6, time_days, event) with the baseline being the first injection
    (treated) or the reference baseline (pool); `eligible` (pool: may serve as a
    reference); then the hidden truth (true_*) and, for treated rows, the
    counterfactual twin (twin_*).  Missing values are empty.
    """
    import pandas as pd

    tr = generate_treated(theta, treated_key(seed, condition, replicate), n_treated)
    pool = generate_pool(theta, pool_key(seed, condition, replicate, pool_policy, pool_block_size),
                         pool_size)
    po = pool_outcomes(theta, pool.keys)
    t, tw, p = tr.data, tr.twin, pool.data
    nan_p = np.full(pool_size, np.nan)

    def both(a, b):
        return np.r_[a, b]

    cols = {
        "cohort": np.r_[np.repeat("treated", n_treated), np.repeat("pool", pool_size)],
        "id": both(np.arange(n_treated), np.arange(pool_size)),
        "eligible": both(np.ones(n_treated), p[:, H.PB_ELIGIBLE]),
        "sex": both(t[:, H.TC_SEX], p[:, H.PB_SEX]),
        "race": both(t[:, H.TC_RACE], p[:, H.PB_RACE]),
        "onset": both(t[:, H.TC_ONSET], p[:, H.PB_ONSET]),
        "riluzole": both(t[:, H.TC_RILUZOLE], p[:, H.PB_RILUZOLE]),
        "age": both(t[:, H.TC_AGE], p[:, H.PB_AGE]),
        "ft9_stage": both(t[:, H.TC_FT9], p[:, H.PB_FT9]),
        "alsfrs_pre": both(t[:, H.TC_ALSFRS_PRE], p[:, H.PB_ALSFRS_PRE]),
        "alsfrs_0": both(t[:, H.TC_ALSFRS_0], p[:, H.PB_ALSFRS_0]),
        "alsfrs_2": both(t[:, H.TC_ALSFRS_2], po["alsfrs_2"]),
        "alsfrs_4": both(t[:, H.TC_ALSFRS_4], po["alsfrs_4"]),
        "alsfrs_6": both(t[:, H.TC_ALSFRS_6], po["alsfrs_6"]),
        "time_days": both(t[:, H.TC_TIME_DAYS], po["time_days"]),
        "event": both(t[:, H.TC_EVENT], po["event"]),
        "enrol_year": both(t[:, H.TC_ENROL_YEAR], nan_p),
        "true_u": both(t[:, H.TC_U], p[:, H.PB_U]),
        "true_rate": both(t[:, H.TC_RATE], p[:, H.PB_RATE]),
        "true_duration_months": both(t[:, H.TC_DURATION],
                                     p[:, H.PB_DURATION] + theta[H.REF_BASELINE_MONTH]),
        "true_death_days": both(t[:, H.TC_DEATH_DAYS], po["death_days"]),
        "true_total_0": both(t[:, H.TC_TRUE_0], po["true_0"]),
        "true_total_6": both(t[:, H.TC_TRUE_6], po["true_6"]),
        "true_log_hr": both(t[:, H.TC_LOG_HR], nan_p),
        "true_rate_change": both(t[:, H.TC_RATE_CHANGE], nan_p),
        "twin_alsfrs_2": both(tw[:, H.TC_ALSFRS_2], nan_p),
        "twin_alsfrs_4": both(tw[:, H.TC_ALSFRS_4], nan_p),
        "twin_alsfrs_6": both(tw[:, H.TC_ALSFRS_6], nan_p),
        "twin_time_days": both(tw[:, H.TC_TIME_DAYS], nan_p),
        "twin_event": both(tw[:, H.TC_EVENT], nan_p),
        "twin_death_days": both(tw[:, H.TC_DEATH_DAYS], nan_p),
        "twin_true_total_6": both(tw[:, H.TC_TRUE_6], nan_p),
    }
    df = pd.DataFrame(cols)
    df["pre_rate"] = (df["alsfrs_pre"] - df["alsfrs_0"]) / 6.0
    for c in ("eligible", "riluzole", "ft9_stage", "alsfrs_pre", "alsfrs_0", "alsfrs_2", "alsfrs_4",
              "alsfrs_6", "event", "twin_alsfrs_2", "twin_alsfrs_4", "twin_alsfrs_6", "twin_event"):
        df[c] = df[c].round().astype("Int64")
    df["sex"] = np.where(df["sex"] > 0.5, "M", "F")
    df["race"] = np.where(df["race"] > 0.5, "Other", "White")
    df["onset"] = np.where(df["onset"] > 0.5, "bulbar", "spinal")
    return df[list(TABLE_COLUMNS)]
