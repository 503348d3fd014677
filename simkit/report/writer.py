"""A report as sections of paragraphs, tables and figures, written as Markdown and HTML.

Knows nothing of what is reported: simkit.report.audit builds the sections, this module
formats numbers ("estimate (MCSE)") and writes DIR/report.md and DIR/report.html.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) | ("table", header, rows) | ("img", file, caption)
    headline: list = field(default_factory=list)  # lines the command prints at the end (the section's finding)

    def text(self, s):
        self.blocks.append(("p", s))

    def table(self, header, rows):
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def figure(self, file, caption):
        self.blocks.append(("img", str(file), caption))


def fmt(m, digits=3, pct=False):
    """'estimate (MCSE)' of a Measure (simkit.report.measures); '-' if it has no estimate and
    'n/a' for an MCSE that cannot be estimated (e.g. fewer than 2 registries)."""
    if m is None or not math.isfinite(m.estimate):
        return "-"
    e, s = m.estimate, m.mcse
    ok = math.isfinite(s)
    if pct:
        return f"{100 * e:.1f}% ({100 * s:.1f})" if ok else f"{100 * e:.1f}% (n/a)"
    return f"{e:.{digits}g} ({s:.2g})" if ok else f"{e:.{digits}g} (n/a)"


def num(x):
    """A plain number for a table: 4 significant digits; '-' for None or NaN."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else "-"
    return str(x)


def md_table(header, rows):
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
         "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px}"
         "th{background:#f0f0f0}figcaption{font-size:13px;color:#444}")


def write_report(out, title, preamble, sections):
    """DIR/report.md and DIR/report.html: `title`, the paragraphs of `preamble`, then the sections."""
    out = Path(out)
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for p in preamble:
        md += [p, ""]
        body.append(f"<p>{html.escape(p)}</p>")
    for s in sections:
        md += [f"## {s.title}", ""]
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if b[0] == "p":
                md += [b[1], ""]
                body.append(f"<p>{html.escape(b[1])}</p>")
            elif b[0] == "table":
                md += [md_table(b[1], b[2]), ""]
                body.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1]) + "</tr>"
                            + "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                                      for r in b[2]) + "</table>")
            elif b[0] == "img":
                md += [f"![{b[2]}]({b[1]})", "", f"*{b[2]}*", ""]
                body.append(f'<figure><img src="{html.escape(b[1])}" style="max-width:100%">'
                            f"<figcaption>{html.escape(b[2])}</figcaption></figure>")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                                     f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
                                     f"<body>{''.join(body)}</body></html>", encoding="utf-8")
