"""Scenario files (TOML) -> a validated Scenario.

Layout:
    seed = 20200331          # top-level: integer >= 0
    replicates = 1000        # top-level: integer >= 1
    name = "..."             # optional text
    description = "..."      # optional text
    [world]       natural history, registry and clinic populations (simkit.world.model.PARAMS)
    [mechanisms]  bias mechanisms that live in the world (simkit.world.model.PARAMS)
    [treatment]   the true treatment effect (simkit.world.model.PARAMS)
    [design]      the analyst's choices (simkit.design.choices.CHOICES): n_treated, pool_size,
                  caliper, exact, match_order, match_choice, pool_policy, pool_block_size

Validation is table-driven: SECTIONS maps a section name to {key: Field}; a
Field checks one value.  An unknown section or key, a value of the wrong type
or out of range raises InputError naming the full dotted key, the value and
what was expected.  To add a section, add its table to SECTIONS (and, if its
values need a home, a field to Scenario).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from simkit.design import choices as CH
from simkit.world import model as W
from simkit.errors import InputError
from simkit.errors import read_toml as _read_toml


@dataclass(frozen=True)
class Field:
    """One scenario key: `check(value, where) -> normalised value` and a default."""
    default: Any
    check: Callable[[Any, str], Any]
    doc: str = ""


def _num(value, where, *, integer=False, lo=-math.inf, hi=math.inf, lo_open=False, what=None):
    kind = "an integer" if integer else "a number"
    what = what or (kind + ("" if lo == -math.inf and hi == math.inf else
                            f" in {'(' if lo_open else '['}{lo:g}, {hi:g}]"))
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if not bad:
        bad = not math.isfinite(value) or (integer and float(value) != math.floor(value))
    if not bad:
        bad = value < lo or value > hi or (lo_open and value == lo)
    if bad:
        raise InputError(where, f"expected {what}, got {value!r}")
    return int(value) if integer else float(value)


def int_field(default, lo=-math.inf, hi=math.inf, doc=""):
    return Field(default, lambda v, w: _num(v, w, integer=True, lo=lo, hi=hi), doc)


def text_field(default="", doc=""):
    def check(v, w):
        if not isinstance(v, str):
            raise InputError(w, f"expected text, got {v!r}")
        return v
    return Field(default, check, doc)


def _param_field(p: W.Param) -> Field:
    return Field(p.default, lambda v, w, p=p: p.validate(v, w), p.doc)


def _choice_field(c: CH.Choice) -> Field:
    return Field(c.default, c.check, c.doc + (f" [{c.unit}]" if c.unit else ""))


# the analyst's choices: one table (simkit/design/choices.py) for scenario files, Design and the CLI
DESIGN_FIELDS = {c.name: _choice_field(c) for c in CH.CHOICES if c.section == "design"}

SECTIONS: dict[str, dict[str, Field]] = {
    "world": {p.name: _param_field(p) for p in W.PARAMS if p.section == "world"},
    "mechanisms": {p.name: _param_field(p) for p in W.PARAMS if p.section == "mechanisms"},
    "treatment": {p.name: _param_field(p) for p in W.PARAMS if p.section == "treatment"},
    "design": DESIGN_FIELDS,
}

TOP_FIELDS: dict[str, Field] = {
    "seed": int_field(20200331, 0, 2**63 - 1, "run seed"),
    "replicates": int_field(1000, 1, 2**62 - 1, "replicates per condition"),
    "name": text_field("", "short name"),
    "description": text_field("", "what the scenario is"),
}


@dataclass
class Scenario:
    seed: int
    replicates: int
    name: str = ""
    description: str = ""
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str | None = None

    @property
    def world(self) -> dict:
        return self.sections["world"]

    @property
    def mechanisms(self) -> dict:
        return self.sections["mechanisms"]

    @property
    def treatment(self) -> dict:
        return self.sections["treatment"]

    @property
    def design(self) -> dict:
        return self.sections["design"]

    def params(self) -> dict:
        """World + mechanism + treatment values: the input of world.build_theta."""
        return {**self.world, **self.mechanisms, **self.treatment}

    def theta(self) -> np.ndarray:
        return W.build_theta(self.params())


def _validate_section(name: str, table: dict[str, Field], data) -> dict:
    if not isinstance(data, dict):
        raise InputError(name, f"expected a [{name}] table, got {data!r}")
    out = {k: f.default for k, f in table.items()}
    for k, v in data.items():
        where = f"{name}.{k}"
        if k not in table:
            raise InputError(where, "unknown key; allowed: " + ", ".join(table))
        out[k] = table[k].check(v, where)
    return out


def scenario_from_dict(data: dict, path: str | None = None) -> Scenario:
    """Validate a parsed scenario (as tomllib gives it)."""
    allowed = list(TOP_FIELDS) + [f"[{s}]" for s in SECTIONS]
    top = {k: f.default for k, f in TOP_FIELDS.items()}
    sections = {}
    for k, v in data.items():
        if k in SECTIONS:
            continue
        if k not in TOP_FIELDS:
            raise InputError(k, "unknown key or section; allowed: " + ", ".join(allowed))
        top[k] = TOP_FIELDS[k].check(v, k)
    for s, table in SECTIONS.items():
        sections[s] = _validate_section(s, table, data.get(s, {}))
    sc = Scenario(seed=top["seed"], replicates=top["replicates"], name=top["name"],
                  description=top["description"], sections=sections, path=path)
    CH.check_together(sc.design)
    try:
        sc.theta()      # cross-field checks (e.g. enrol_end before censor_date)
    except InputError as e:
        if e.where in W.PARAM:
            raise InputError(f"{W.PARAM[e.where].section}.{e.where}", e.message) from None
        raise
    return sc


def read_toml(path) -> tuple[str, dict]:
    """(text, parsed dict) of a scenario file, or an InputError naming the file."""
    text, data = _read_toml(path, "scenario file")
    if not data:  # an empty file would silently run every default
        raise InputError(str(path), "the scenario file sets nothing (empty or only comments); "
                                    "refusing to run on defaults alone: start from a copy of "
                                    "scenarios/seed-design.toml")
    return text, data


def load_scenario(path) -> Scenario:
    """Read and validate a TOML scenario file (without a grid: see grid.load_study)."""
    text, data = read_toml(path)
    return scenario_from_dict(data, str(Path(path)))


def fields_markdown() -> str:
    """Every scenario key with its default and meaning, as Markdown tables (scenarios/README.md)."""
    def fmt(v):
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(f'"{x}"' if isinstance(x, str) else str(x) for x in v) + "]"
        return f"{v:g}" if isinstance(v, float) else str(v)
    out = ["| key | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | `{fmt(f.default)}` | {f.doc} |" for k, f in TOP_FIELDS.items()]
    for sec, table in SECTIONS.items():
        if sec == "design":   # the analyst's choices: with their allowed values
            out += ["", "**[design]**", "", CH.markdown("design"), "", "**[analysis]**", "",
                    CH.markdown("analysis"),
                    "| `alpha` | `0.05` | a number in (0, 1) | two-sided level of the rejection rates |"]
            continue
        out += ["", f"**[{sec}]**", "", "| key | default | meaning |", "|---|---|---|"]
        for k, f in table.items():
            unit = ""
            if k in W.PARAM and getattr(W.PARAM[k], "unit", ""):
                unit = f" [{W.PARAM[k].unit}]"
            out.append(f"| `{k}` | `{fmt(f.default)}` | {f.doc}{unit} |")
    return "\n".join(out)

