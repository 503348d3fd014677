"""Summaries, figures and the audit as a narrative.

`measures` is generic Monte Carlo performance measures with MCSE (imports nothing
from simkit); `summary` turns a store into an xarray Dataset of measures; `plots`
draws every figure; `writer` writes Markdown / HTML reports; `audit` says what the
seed audit runs and what each section means.
"""
