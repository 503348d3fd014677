"""The seed paper's analysis of one matched-cohort table.

`matched` reads and validates a matched-cohort table (docs/matched-cohort.md) and
runs the exact analysis the paper reports (Cox, Kaplan-Meier, the response
classes, the signed-rank and OLS steps) through the numba kernels, returning small
named result objects. It knows nothing of simulation.
"""
