"""The analyst's choices and the matching they drive.

`choices` is the one table of design options (name, default, unit, allowed values,
kernel slot); `matching` is 1:1 matching of treated patients to registry
candidates on the same kernels the simulation uses; `replicate` turns a scenario
into the kernels' design vector and runs replicates in memory. Imports the world
and the analysis, never the runner.
"""
