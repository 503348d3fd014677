"""The analyst's choices of the seed design: one table, one vocabulary.

Every choice the analyst makes (how many treated, which registry, the caliper,
the exact-match set, how candidates are picked, Firth) is one row of CHOICES:
its name, default, unit, allowed values, the kernel code each value maps to,
and what it means.  The same name is the scenario key (`[design]` or
`[analysis]`), the `Design` field, the `match_cohorts` keyword and the CLI flag;
scenario validation, `Design`, the kernel's design vector, scenarios/README.md
and the CLI help all read this table.  Adding a design option is one row here
plus the kernel code that reads its slot (kernels/replicate.py DESIGN_SLOTS).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simkit.errors import InputError
from simkit.kernels import history as H
from simkit.kernels import matching as KM
from simkit.kernels import replicate as R

CALIPER_UNIT = "ALSFRS-R points/month (absolute difference in pre-slope)"
EXACT_VARIABLES = ("sex", "race", "onset", "ft9_stage", "riluzole")


@dataclass(frozen=True)
class Choice:
    """One analyst's choice.

    kind: 'int' | 'float' | 'bool' | 'choice' (one of `codes`) | 'subset' (of `codes`).
    codes: allowed value -> kernel code (choice) or the kernel flag slot (subset).
    slot: the kernel design-vector slot this choice fills (None: not a kernel input).
    """
    name: str
    default: Any
    kind: str
    doc: str
    unit: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    codes: dict | None = None
    slot: str | None = None
    section: str = "design"

    def allowed(self) -> str:
        """What a valid value is, in words (for errors, the README and --help)."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(v) for v in self.codes)
        if self.kind == "subset":
            return "a list of names from " + ", ".join(self.codes)
        if self.kind == "bool":
            return "true or false"
        what = "an integer" if self.kind == "int" else "a number"

        def num(x):
            return f"{int(x):,}" if self.kind == "int" else f"{x:g}"
        if self.lo == -math.inf and self.hi == math.inf:
            return what
        if self.hi == math.inf:
            return f"{what} >= {num(self.lo)}" + (" (inf for none)" if self.kind == "float" else "")
        return f"{what} in [{num(self.lo)}, {num(self.hi)}]"

    def check(self, value, where: str | None = None):
        """The validated, normalised value, or an InputError naming the choice."""
        where = where or self.name
        unit = f" ({self.unit})" if self.unit else ""

        def bad(msg=None):
            raise InputError(where, msg or f"expected {self.allowed()}{unit}, got {value!r}")

        if self.kind == "bool":
            if not isinstance(value, bool):
                bad()
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.codes:
                bad()
            return value
        if self.kind == "subset":
            if isinstance(value, str) or not isinstance(value, (list, tuple)) \
                    or not all(isinstance(x, str) for x in value):
                bad()
            unknown = [x for x in value if x not in self.codes]
            if unknown:
                bad(f"unknown name {unknown[0]!r}; allowed: {', '.join(self.codes)}")
            if len(set(value)) != len(value):
                bad(f"names repeat in {list(value)!r}")
            return tuple(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) and \
                not type(value).__module__ == "numpy":
            bad()
        try:
            v = float(value)
        except (TypeError, ValueError):
            bad()
        if math.isnan(v) or (math.isinf(v) and not (self.kind == "float" and v == math.inf
                                                    and self.hi == math.inf)):
            bad()
        if self.kind == "int" and v != math.floor(v):
            bad()
        if v < self.lo or v > self.hi:
            bad()
        return int(v) if self.kind == "int" else v


CHOICES: tuple[Choice, ...] = (
    Choice("n_treated", 67, "int", "treated patients enrolled and analysed", "patients", 1, 100_000,
           slot="n_treated"),
    Choice("pool_size", 10_000, "int", "registry patients (trial participants) in the pool", "patients",
           1, 10_000_000, slot="pool_size"),
    Choice("caliper", 0.5, "float", "largest absolute pre-slope difference of a pair (equal counts as "
           "within)", CALIPER_UNIT, 0.0, math.inf, slot="caliper"),
    # design-side remedies: match also on what the seed design left unmatched (inf = off)
    Choice("caliper_duration", math.inf, "float", "remedy: largest absolute difference in disease duration "
           "at time zero (treated: the first injection; references: their index visit)", "months since onset",
           0.0, math.inf, slot="caliper_duration"),
    Choice("caliper_delta_fs", math.inf, "float", "remedy: largest absolute difference in delta-FS = "
           "(48 - baseline total) / disease duration at time zero", "ALSFRS-R points/month", 0.0, math.inf,
           slot="caliper_delta_fs"),
    Choice("caliper_total", math.inf, "float", "remedy: largest absolute difference in the baseline ALSFRS-R "
           "total (0 = exact matching on it)", "ALSFRS-R points", 0.0, math.inf, slot="caliper_total"),
    Choice("exact", EXACT_VARIABLES, "subset", "variables matched exactly",
           codes={v: f"exact_{v}" for v in EXACT_VARIABLES}),
    Choice("match_order", "given", "choice",
           "order the treated are matched in: as given, random, hardest to match first, or 'optimal' "
           "(minimum total slope distance within strata instead of a greedy pass)",
           codes={"given": KM.AS_GIVEN, "random": KM.RANDOM_ORDER, "hardest_first": KM.HARDEST_FIRST,
                  "optimal": KM.AS_GIVEN}, slot="order"),
    Choice("match_choice", "nearest", "choice",
           "which eligible candidate a greedy match takes: the nearest pre-slope, the first in the "
           "registry, a random one, or the one with the worst observed outcome (the analyst who peeks)",
           codes={"nearest": KM.NEAREST, "first": KM.FIRST, "random": KM.RANDOM, "worst": KM.WORST},
           slot="policy"),
    Choice("match_peek", 1, "int",
           "the analyst's look among near candidates: with match_choice 'nearest', of the match_peek "
           "nearest eligible candidates the one with the worst observed outcome (earliest death) is "
           "taken; 1 = off (plain nearest), large = 'worst' within the caliper", "candidates", 1,
           slot="peek"),
    Choice("pool_policy", "condition", "choice",
           "one registry per condition (the real registry is one fixed database), per replicate, or per "
           "block of pool_block_size replicates",
           codes=dict(H.POOL_POLICIES), slot="pool_policy"),
    Choice("pool_block_size", 100, "int", "replicates sharing a registry when pool_policy = 'block'",
           "replicates", 1, slot="block_size"),
    Choice("firth", False, "bool", "also fit Firth-penalised Cox and logistic models", section="analysis",
           slot="firth"),
)
CHOICE = {c.name: c for c in CHOICES}
assert all(c.slot is None or c.slot in R.DESIGN_NAMES for c in CHOICES), "slot not in the kernel layout"
assert set(CHOICE["exact"].codes.values()) <= set(R.DESIGN_NAMES)


def check_together(values: dict, where: str = "design") -> None:
    """Rules that tie choices together (each choice alone is checked by its row)."""
    if values["match_peek"] > 1 and (values["match_choice"] != "nearest" or values["match_order"] == "optimal"):
        raise InputError(f"{where}.match_peek", "a peek at more than one candidate needs match_choice = "
                         f"'nearest' and a greedy match_order, got match_choice = {values['match_choice']!r}, "
                         f"match_order = {values['match_order']!r}")


def from_policy(policy: str, where: str = "--policy") -> dict:
    """The choices a `--policy` shorthand of a command stands for: a match_choice
    ('nearest', 'first', 'random', 'worst'), or 'optimal' (match_order)."""
    if policy == "optimal":
        return {"match_order": "optimal"}
    return {"match_choice": CHOICE["match_choice"].check(policy, where)}


POLICY_NAMES = tuple(CHOICES[[c.name for c in CHOICES].index("match_choice")].codes) + ("optimal",)


def defaults(section: str | None = None) -> dict:
    return {c.name: c.default for c in CHOICES if section is None or c.section == section}


def policy_code(values: dict) -> int:
    """The kernel's match policy: OPTIMAL when match_order is 'optimal', else match_choice's code."""
    if values["match_order"] == "optimal":
        return KM.OPTIMAL
    return CHOICE["match_choice"].codes[values["match_choice"]]


def design_vector(values: dict):
    """The flat float64 vector kernels/replicate.py reads, from validated choice values."""
    import numpy as np
    d = np.zeros(R.N_DESIGN)
    for c in CHOICES:
        v = values[c.name]
        if c.kind == "subset":
            for name, slot in c.codes.items():
                d[R.DESIGN_NAMES.index(slot)] = 1.0 if name in v else 0.0
        elif c.slot is not None:
            d[R.DESIGN_NAMES.index(c.slot)] = (c.codes[v] if c.kind == "choice" else float(v))
    d[R.D_POLICY] = policy_code(values)
    return d


def markdown(section: str | None = None) -> str:
    """The choices as a Markdown table (scenarios/README.md, docs)."""
    def fmt(v):
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, tuple):
            return "[" + ", ".join(f'"{x}"' for x in v) + "]"
        if isinstance(v, bool):
            return str(v).lower()
        return f"{v:g}" if isinstance(v, float) else str(v)
    out = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for c in CHOICES:
        if section is None or c.section == section:
            unit = f" [{c.unit}]" if c.unit else ""
            out.append(f"| `{c.name}` | `{fmt(c.default)}` | {c.allowed()} | {c.doc}{unit} |")
    return "\n".join(out)


def cli_help(name: str) -> str:
    """--help text of a CLI flag that sets choice `name`."""
    c = CHOICE[name]
    unit = f"; {c.unit}" if c.unit else ""
    return f"{c.doc} ({c.allowed()}{unit}; default {c.default!r})"
