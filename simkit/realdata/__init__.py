"""Bring-your-own data: registries, matching real cohorts, balance.

`registry` imports a registry (the documented contract, or a PRO-ACT download),
builds reference candidates, matches a treated CSV with the simulation's kernels
and resamples it for plasmode simulation; `balance` is the standardised-difference
table, the pair diagnostics papers print and the Love plot.
"""
