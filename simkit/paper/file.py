"""Paper files (TOML): a study's design as reported and its reported numbers.

A paper file says what a published matched-cohort study did (docs/paper-file.md)
and every number it prints that a simulated replicate also reports, each with
the precision it was printed at, where it is printed and whether `simkit infer`
uses it as evidence.  Layout:

    format = "simkit-paper/1"
    [paper]     citation (required), title, doi, license, notes
    [design]    n_treated (required), n_reference, exact, caliper, caliper_unit, ...
    [numbers.<name>]
    field = "hr"            # the per-replicate output field it corresponds to
    printed = "0.30"        # as printed: the value, and its precision [0.295, 0.305)
    # or: value = 0.0 and interval = [0.0, 0.05] (a reader's interval for "about 0%")
    where = "Results: ..."  # where the paper prints it
    evidence = true         # used in the inference's distance
    scale = 1.0             # printed = scale * field (67 for a share printed as a count of 67)
    transform = "log"       # the distance compares logs (ratios, times); default "identity"

`load_paper` validates a file key by key with the same InputError (naming the
dotted key) as scenario files; `dumps_paper` writes a Paper back (the round trip
is exact); `number_from_value` prints a simulated or real value at a given
precision (`simkit analyze --paper-out`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from simkit.errors import InputError, read_toml
from simkit.kernels import outputs as OUT

FORMAT = "simkit-paper/1"
TRANSFORMS = ("identity", "log")
PAPER_KEYS = {"citation": str, "title": str, "doi": str, "license": str, "notes": str}
# design key -> (type check, meaning); lists are of the given element type
DESIGN_KEYS = {
    "n_treated": ("int", "treated patients analysed"),
    "n_reference": ("int", "reference patients analysed"),
    "ratio": ("int", "references per treated patient (1 = 1:1)"),
    "exact": ("list[str]", "variables matched exactly"),
    "caliper": ("number", "largest allowed difference of the caliper variable within a pair"),
    "caliper_unit": ("str", "the caliper's unit"),
    "caliper_variable": ("str", "the variable the caliper applies to"),
    "response_threshold": ("number", "responder rule: points of difference that make a class"),
    "response_threshold_unit": ("str", "its unit"),
    "injection_months": ("list[number]", "months of the injections from time zero"),
    "visit_months": ("list[number]", "months of the scored visits (negative: before time zero)"),
    "enrolment_years": ("list[number]", "first and last year of enrolment"),
    "followup_end": ("str", "end of survival follow-up (last update), as printed"),
    "time_zero": ("str", "what time zero is"),
    "where": ("str", "where the design is described"),
    "notes": ("str", "anything else"),
}
NUMBER_KEYS = ("field", "printed", "value", "interval", "where", "evidence", "scale", "transform", "label",
               "note")
_PRINTED = re.compile(r"^[+-]?(\d+)(\.(\d+))?$")


@dataclass(frozen=True)
class Number:
    """One reported number: the printed value and the interval it stands for."""
    name: str
    field: str
    value: float
    low: float
    high: float
    where: str
    evidence: bool
    printed: str | None = None       # the text as printed (None: a reader's interval instead)
    scale: float = 1.0               # printed quantity = scale * simulated field
    transform: str = "identity"
    label: str = ""
    note: str = ""

    @property
    def decimals(self) -> int | None:
        if self.printed is None:
            return None
        m = _PRINTED.match(self.printed)
        return len(m.group(3)) if m.group(3) else 0

    def describe(self) -> str:
        if self.printed is not None:
            return f"{self.printed} (as printed: [{self.low:.6g}, {self.high:.6g}))"
        return f"{self.value:g} (reader's interval [{self.low:.6g}, {self.high:.6g}])"


@dataclass(frozen=True)
class Design:
    n_treated: int
    values: dict = field(default_factory=dict)   # every other [design] key as given

    def get(self, key, default=None):
        return self.n_treated if key == "n_treated" else self.values.get(key, default)


@dataclass(frozen=True)
class Paper:
    citation: str
    design: Design
    numbers: dict                        # name -> Number, in file order
    info: dict = field(default_factory=dict)   # the other [paper] keys
    path: str | None = None

    def evidence(self) -> list:
        return [n for n in self.numbers.values() if n.evidence]

    def __eq__(self, other):   # the path a paper was read from is not part of it
        return (isinstance(other, Paper) and (self.citation, self.design, self.numbers, self.info)
                == (other.citation, other.design, other.numbers, other.info))


# ---------------------------------------------------------------- reading

def printed_interval(text: str, where: str) -> tuple[float, float, float]:
    """(value, low, high) of a number as printed: [v - h, v + h) with h half a unit in the last place."""
    m = _PRINTED.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InputError(where, f"expected the number exactly as printed, as text like \"0.30\" or \"67\" "
                                f"(no %, <, ~; give value and interval for those), got {text!r}")
    from simkit.paper.claims.rounding import rounding_interval
    d = len(m.group(3)) if m.group(3) else 0
    v = float(text)
    lo, hi = rounding_interval(int(text) if d == 0 else v, d)
    return v, lo, hi


def _num(v, where, what="a number"):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(where, f"expected {what}, got {v!r}")
    return float(v)


def _check(kind, v, where):
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(where, f"expected a whole number >= 1, got {v!r}")
        return v
    if kind == "number":
        x = _num(v, where)
        if x < 0:
            raise InputError(where, f"expected a number >= 0, got {v!r}")
        return v
    if kind == "str":
        if not isinstance(v, str):
            raise InputError(where, f"expected text, got {v!r}")
        return v
    elem = kind[5:-1]
    if not isinstance(v, list):
        raise InputError(where, f"expected a list of {'text' if elem == 'str' else 'numbers'}, got {v!r}")
    for i, x in enumerate(v):
        if elem == "str" and not isinstance(x, str):
            raise InputError(f"{where}[{i}]", f"expected text, got {x!r}")
        if elem == "number":
            _num(x, f"{where}[{i}]")
    return list(v)


def _number(name: str, spec, where: str) -> Number:
    if not isinstance(spec, dict):
        raise InputError(where, "expected a table [numbers.<name>] with field, printed (or value and "
                                "interval), where and evidence")
    for k in spec:
        if k not in NUMBER_KEYS:
            raise InputError(f"{where}.{k}", "unknown key; allowed: " + ", ".join(NUMBER_KEYS))
    for k in ("field", "where", "evidence"):
        if k not in spec:
            raise InputError(f"{where}.{k}", "missing: every number needs field, where and evidence")
    fld = spec["field"]
    if not isinstance(fld, str) or fld not in OUT.NAMES:
        raise InputError(f"{where}.field", f"expected the name of a per-replicate output field "
                                           f"(docs/store.md, e.g. hr, median_days_reference), got {fld!r}")
    if not isinstance(spec["where"], str) or not spec["where"].strip():
        raise InputError(f"{where}.where", f"expected where the paper prints it (text), got {spec['where']!r}")
    if not isinstance(spec["evidence"], bool):
        raise InputError(f"{where}.evidence", f"expected true or false, got {spec['evidence']!r}")
    printed = spec.get("printed")
    if printed is not None and ("value" in spec or "interval" in spec):
        raise InputError(f"{where}.printed", "give either printed (its precision sets the interval) or "
                                             "value and interval (a reader's interval), not both")
    if printed is not None:
        value, lo, hi = printed_interval(printed, f"{where}.printed")
    else:
        if "value" not in spec or "interval" not in spec:
            raise InputError(f"{where}.{'value' if 'value' not in spec else 'interval'}",
                             "missing: give printed = \"...\" (as printed) or both value and interval = [low, high]")
        value = _num(spec["value"], f"{where}.value")
        iv = spec["interval"]
        if not isinstance(iv, list) or len(iv) != 2:
            raise InputError(f"{where}.interval", f"expected [low, high], got {iv!r}")
        lo = _num(iv[0], f"{where}.interval")
        hi = math.inf if isinstance(iv[1], float) and iv[1] == math.inf else _num(iv[1], f"{where}.interval")
        if not lo <= value <= hi:
            raise InputError(f"{where}.interval", f"expected low <= value <= high, got value {value:g} "
                                                  f"and [{lo:g}, {hi:g}]")
    scale = _num(spec.get("scale", 1.0), f"{where}.scale")
    if scale == 0:
        raise InputError(f"{where}.scale", "expected a non-zero number (printed = scale * field)")
    tr = spec.get("transform", "identity")
    if tr not in TRANSFORMS:
        raise InputError(f"{where}.transform", f"expected one of {', '.join(TRANSFORMS)}, got {tr!r}")
    if tr == "log" and (lo <= 0 or scale < 0):
        raise InputError(f"{where}.transform", f"log needs a positive interval and scale (got [{lo:g}, "
                                               f"{hi:g}], scale {scale:g})")
    for k in ("label", "note"):
        if k in spec and not isinstance(spec[k], str):
            raise InputError(f"{where}.{k}", f"expected text, got {spec[k]!r}")
    return Number(name, fld, value, lo, hi, spec["where"], spec["evidence"],
                  printed.strip() if printed is not None else None, scale, tr,
                  spec.get("label", ""), spec.get("note", ""))


def paper_from_dict(data: dict, path: str | None = None) -> Paper:
    """Validate a parsed paper file (as tomllib gives it)."""
    allowed = ("format", "[paper]", "[design]", "[numbers]")
    for k in data:
        if k not in ("format", "paper", "design", "numbers"):
            raise InputError(k, "unknown key or section; allowed: " + ", ".join(allowed))
    fmt = data.get("format")
    if fmt != FORMAT:
        raise InputError("format", f"expected format = \"{FORMAT}\" (docs/paper-file.md), got {fmt!r}")
    pp = data.get("paper")
    if not isinstance(pp, dict):
        raise InputError("paper", "missing: a [paper] table with at least citation")
    info = {}
    for k, v in pp.items():
        if k not in PAPER_KEYS:
            raise InputError(f"paper.{k}", "unknown key; allowed: " + ", ".join(PAPER_KEYS))
        if not isinstance(v, str):
            raise InputError(f"paper.{k}", f"expected text, got {v!r}")
        info[k] = v
    if not info.get("citation", "").strip():
        raise InputError("paper.citation", "missing: who wrote what, where (the study the numbers are from)")
    citation = info.pop("citation")
    dd = data.get("design")
    if not isinstance(dd, dict):
        raise InputError("design", "missing: a [design] table with at least n_treated")
    values = {}
    for k, v in dd.items():
        if k not in DESIGN_KEYS:
            raise InputError(f"design.{k}", "unknown key; allowed: " + ", ".join(DESIGN_KEYS))
        values[k] = _check(DESIGN_KEYS[k][0], v, f"design.{k}")
    if "n_treated" not in values:
        raise InputError("design.n_treated", "missing: the number of treated patients analysed")
    if "caliper" in values and "caliper_unit" not in values:
        raise InputError("design.caliper_unit", "missing: a caliper needs its unit (e.g. "
                                                "\"ALSFRS-R points/month\")")
    design = Design(values.pop("n_treated"), values)
    nn = data.get("numbers")
    if not isinstance(nn, dict) or not nn:
        raise InputError("numbers", "missing: at least one [numbers.<name>] table")
    numbers = {name: _number(name, spec, f"numbers.{name}") for name, spec in nn.items()}
    if not any(n.evidence for n in numbers.values()):
        raise InputError("numbers", "no number has evidence = true: the inference would have nothing to fit")
    return Paper(citation, design, numbers, info, path)


def load_paper(path) -> Paper:
    """Read and validate a paper file; errors name the file or the dotted key."""
    p = Path(path)
    _text, data = read_toml(path, "paper file")
    try:
        return paper_from_dict(data, str(p))
    except InputError as e:
        raise InputError(f"{p.name}: {e.where}", e.message) from None


def shipped(name: str = "barczewska2020") -> Path:
    """A paper file shipped with the package (simkit/papers, linked to the clone's papers/)."""
    d = Path(__file__).resolve().parent.parent / "papers"
    p = d / f"{name}.toml"
    if not p.is_file():
        have = ", ".join(sorted(x.stem for x in d.glob("*.toml"))) if d.is_dir() else "none"
        raise InputError("PAPER", f"no shipped paper {name!r} (shipped: {have})")
    return p


# ---------------------------------------------------------------- writing

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r or "n" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _toml_value(k)


def dumps_paper(paper: Paper, header: str = "") -> str:
    """The paper as a TOML paper file (load_paper of it gives the same Paper)."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    out += [f'format = "{FORMAT}"', "", "[paper]", f"citation = {_toml_value(paper.citation)}"]
    out += [f"{k} = {_toml_value(v)}" for k, v in paper.info.items()]
    out += ["", "[design]", f"n_treated = {paper.design.n_treated}"]
    out += [f"{k} = {_toml_value(v)}" for k, v in paper.design.values.items()]
    for n in paper.numbers.values():
        out += ["", f"[numbers.{_key(n.name)}]"]
        if n.label:
            out.append(f"label = {_toml_value(n.label)}")
        out.append(f"field = {_toml_value(n.field)}")
        if n.printed is not None:
            out.append(f"printed = {_toml_value(n.printed)}")
        else:
            out.append(f"value = {_toml_value(float(n.value))}")
            out.append(f"interval = {_toml_value([float(n.low), float(n.high)])}")
        if n.scale != 1.0:
            out.append(f"scale = {_toml_value(float(n.scale))}")
        if n.transform != "identity":
            out.append(f"transform = {_toml_value(n.transform)}")
        out.append(f"where = {_toml_value(n.where)}")
        out.append(f"evidence = {_toml_value(n.evidence)}")
        if n.note:
            out.append(f"note = {_toml_value(n.note)}")
    return "\n".join(out) + "\n"


def print_at(x: float, decimals: int) -> str:
    """x printed with `decimals` decimals ("-0" written "0")."""
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def number_from_value(template: Number, x: float | None, where: str) -> Number | None:
    """The template's number with the value x, printed at the template's precision (two decimals
    for a template given as a reader's interval); None if x is missing (not reached, no fit)."""
    if x is None or not math.isfinite(x):
        return None
    shown = template.scale * x
    d = template.decimals if template.decimals is not None else 2
    text = print_at(shown, d)
    v, lo, hi = printed_interval(text, where)
    if template.transform == "log" and lo <= 0:
        return None      # a printed 0.00 HR or 0 days cannot be compared on the log scale
    return replace(template, value=v, low=lo, high=hi, printed=text, where=where, note="")


def at_least(template: Number, bound: float, note: str, where: str) -> Number:
    """The template's number known only to exceed `bound` (a KM median not reached by the end of
    follow-up): the interval [bound, inf], printed at the template's precision."""
    d = template.decimals if template.decimals is not None else 2
    b = float(print_at(template.scale * bound, d))
    return replace(template, value=b, low=b, high=math.inf, printed=None, where=where, note=note)


def paper_with_numbers(template: Paper, values: dict, citation: str, where: str,
                       n_treated: int | None = None, lower_bounds: dict | None = None) -> tuple[Paper, list]:
    """A paper file with the template's design and numbers, each replaced by values[field] printed at the
    template's precision; a missing value with a lower bound (lower_bounds[field] = (bound, note)) becomes
    the interval [bound, inf]; (paper, names of numbers left out because their value is missing)."""
    numbers, missing = {}, []
    lower_bounds = lower_bounds or {}
    for name, t in template.numbers.items():
        n = number_from_value(t, values.get(t.field), where)
        if n is None and t.field in lower_bounds and t.scale > 0:
            n = at_least(t, *lower_bounds[t.field], where=where)
        if n is None:
            missing.append(name)
        else:
            numbers[name] = n
    design = Design(n_treated or template.design.n_treated, dict(template.design.values))
    if "n_reference" in design.values and n_treated:
        design.values["n_reference"] = n_treated * int(design.values.get("ratio", 1))
    return Paper(citation, design, numbers, {"notes": f"numbers computed by simkit ({where}); the design "
                                                      f"as in the template {template.citation[:60]}..."}), missing
