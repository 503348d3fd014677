"""The ledger: every claim of every section, as records, with world probabilities, as a table.

`ledger()` calls each section's builder on the transcription (read at call time, so
editing `simkit/data/seed_paper.json` changes the verdicts) and orders the claims by
SECTIONS; `to_records` gives JSON-ready dicts (what `simkit claims --json` prints),
`attach_probabilities` adds P(a result at least as extreme as the paper's) in each
simulated world for the claims in WORLD_EVENTS (the audit), `render` the readable table.
"""
from __future__ import annotations

import math
from dataclasses import asdict

from simkit.paper import seed as seedpaper
from simkit.errors import InputError
from .baseline import _matching, _table1
from .builders import VERDICTS, Claim, _fmt
from .early import _early
from .progression import _progression, _table2
from .survival import _power, _survival

# Section (the id's first part) -> heading, in the order the ledger lists them.
SECTIONS = {
    "matching": "Matching (Abstract; Methods: Reference Group; Table 1)",
    "table1": "Table 1: patient characteristics",
    "power": "Power (Methods: Statistical Analysis)",
    "survival": "Survival (Abstract; Results: MSCs Treatment Extends Survival)",
    "progression": "Progression (Abstract; Results: MSCs Reduce ALS Progression Rates; Table 2)",
    "table2": "Table 2: response classes by subgroup",
    "early": "Early response (Results: Early Response Predicts the Final Outcome; Table 3)",
}

# Claims a simulated world can speak to: the audit attaches P(a result at least as
# extreme as the paper's) in each world with `attach_probabilities`.
WORLD_EVENTS = {
    "survival.hr": "HR <= 0.30 with Cox Wald p <= 0.0004",
    "progression.decreased_pct": "21 or more of the 67 treated in the 'decreased progression rate' class",
    "survival.median_ratio": "KM median survival ratio treated / reference >= 1183/640",
    "progression.signed_rank_p": "signed-rank p <= 0.008",
    "progression.ols_p": "OLS treated-indicator p <= 0.0003",
}


def ledger(data: dict | None = None) -> list[Claim]:
    """Every quantitative claim of the seed paper with its recomputation and verdict.

    data: the transcription (default `simkit.paper.seed.reported()`, read at call time).
    """
    r = seedpaper.reported() if data is None else data
    claims = (_matching(r) + _table1(r) + _power(r) + _survival(r) + _progression(r)
              + _table2(r) + _early(r))
    ids = [c.id for c in claims]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:  # pragma: no cover - a programming error
        raise AssertionError(f"duplicate claim ids: {sorted(dup)}")
    order = {s: k for k, s in enumerate(SECTIONS)}
    return sorted(claims, key=lambda c: order.get(c.section, len(order)))  # stable within a section


_RECORD_KEYS = ("id", "where", "claim", "reported", "recomputed", "verdict", "difference", "note",
                "decimals")


def to_records(claims: list[Claim]) -> list[dict]:
    """Plain dicts (JSON-ready: numbers are int / float, missing values None)."""
    out = []
    for c in claims:
        d = asdict(c)
        rec = {k: d[k] for k in _RECORD_KEYS}
        for k in ("reported", "recomputed", "difference"):
            v = rec[k]
            if v is not None and not isinstance(v, int):
                v = float(v)
                rec[k] = v if math.isfinite(v) else None
        out.append(rec)
    return out


def counts(claims) -> dict:
    """{verdict: number of claims} for the three verdicts (records or Claim objects)."""
    get = (lambda c: c["verdict"]) if claims and isinstance(claims[0], dict) else (lambda c: c.verdict)
    n = {v: 0 for v in VERDICTS}
    for c in claims:
        n[get(c)] += 1
    return n


def attach_probabilities(records: list[dict], probs: dict) -> list[dict]:
    """Add `probability_in_worlds` to the records of the claims in WORLD_EVENTS.

    probs: {claim id: {world name: (p, mcse)}}, P(a result at least as extreme as the
    paper's) in each simulated world with its Monte Carlo SE.  The records are changed
    in place (and returned); each gets {"world_event": description,
    "probability_in_worlds": {world: {"p": p, "mcse": mcse}}}.  An id not in
    WORLD_EVENTS or not in the records, or a p outside [0, 1] / a negative MCSE, is an
    InputError.
    """
    by_id = {r["id"]: r for r in records}
    for cid, worlds in probs.items():
        if cid not in WORLD_EVENTS:
            raise InputError("probabilities", f"{cid!r} is not a claim a world can speak to; "
                             f"expected one of {', '.join(WORLD_EVENTS)}")
        if cid not in by_id:
            raise InputError("probabilities", f"claim {cid!r} is not in the records")
        entry = {}
        for world, val in dict(worlds).items():
            try:
                p, se = (float(v) for v in val)
            except (TypeError, ValueError):
                raise InputError("probabilities", f"{cid} / {world}: expected (p, mcse), got {val!r}") from None
            if not (0.0 <= p <= 1.0) or not (se >= 0.0) or not math.isfinite(se):
                raise InputError("probabilities", f"{cid} / {world}: expected 0 <= p <= 1 and a finite "
                                 f"mcse >= 0, got ({p!r}, {se!r})")
            entry[str(world)] = {"p": p, "mcse": se}
        by_id[cid]["world_event"] = WORLD_EVENTS[cid]
        by_id[cid]["probability_in_worlds"] = entry
    return records


def render(claims: list[Claim], notes: str = "inconsistent") -> str:
    """A readable table grouped by section, with the verdict counts at the end.

    notes: which notes to print under their rows: "none", "inconsistent" (default:
    inconsistent and unverifiable claims) or "all".
    """
    hdr = ["id", "claim", "reported", "recomputed", "verdict", "difference"]
    rows_by_sec = {}
    for c in claims:
        rows_by_sec.setdefault(c.section, []).append(c)
    def cells(c):
        rd = c.decimals
        return [c.id, c.claim, _fmt(c.reported, rd) if rd is None or float(c.reported) == int(c.reported) and rd == 0
                else f"{float(c.reported):.{rd}f}", _fmt(c.recomputed, rd), c.verdict, _fmt(c.difference, rd)]
    allrows = [cells(c) for c in claims]
    w = [max([len(h)] + [len(r[i]) for r in allrows]) for i, h in enumerate(hdr)]
    w[1] = min(w[1], 70)
    def line(r):
        claim = r[1] if len(r[1]) <= w[1] else r[1][: w[1] - 3] + "..."
        rr = [r[0], claim] + r[2:]
        return "  ".join(x.ljust(w[i]) if i in (0, 1, 4) else x.rjust(w[i]) for i, x in enumerate(rr)).rstrip()
    out = [f"simkit claims: {len(claims)} quantitative claims of the seed paper against its own numbers",
           f"({seedpaper.citation()})",
           "rounding rule: a value printed with k decimals stands for [v - 0.5*10^-k, v + 0.5*10^-k]; "
           "difference = reported - recomputed", ""]
    secs = list(SECTIONS) + [s for s in rows_by_sec if s not in SECTIONS]
    for s in secs:
        if s not in rows_by_sec:
            continue
        out.append(f"== {SECTIONS.get(s, s)} ==")
        out.append(line(hdr))
        for c in rows_by_sec[s]:
            out.append(line(cells(c)))
            show = (notes == "all" or (notes == "inconsistent" and c.verdict != "consistent"))
            if show and c.note:
                out.append(f"    note: {c.note}")
        out.append("")
    n = counts(claims)
    out.append("verdicts: " + ", ".join(f"{n[v]} {v}" for v in VERDICTS) + f" ({len(claims)} claims)")
    return "\n".join(out)
