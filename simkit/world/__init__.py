"""The simulated world: who the patients are and what happens to them.

`model` holds the parameter table (every world parameter and bias mechanism, its
default, its "off" value and its source) and generates registry pools and treated
cohorts through the kernels; `truth` computes the estimands the design is judged
against; `priors` draws uncertain magnitudes per replicate; `calibration` and
`plausibility` compare the world with published ALS figures; `export` writes a
world as tables. Nothing here knows about matching or the paper's analysis.
"""
