"""The seed paper's reported numbers, as data shipped with the package.

Barczewska et al. (2020), Stem Cell Reviews and Reports, doi:10.1007/s12015-020-10016-7,
CC BY 4.0.  The numbers are transcribed from the article in `data/seed_paper.json`;
a user's clone needs nothing outside the package.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def reported() -> dict:
    """The seed paper's reported values (a fresh dict per process; do not mutate)."""
    with resources.files("simkit").joinpath("data/seed_paper.json").open("r", encoding="utf-8") as f:
        return json.load(f)


def citation() -> str:
    return reported()["citation"]
