"""simkit: how far can a study design fool its own authors?

Synthetic ALS cohorts with a known truth, the seed paper's matched-cohort design
re-run on them many times, and what the design reports.
"""
__version__ = "0.1.0"
