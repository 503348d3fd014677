"""The simulated world's kernels, in one namespace for the layers above.

The kernels live in four sibling modules, one layer each:
    layout   theta layout, streams and keys, output column layouts
    patient  one patient's natural history (covariates, progression, visits, death)
    pool     the registry pool (matching variables; outcomes on demand)
    treated  the treated cohort and its counterfactual twin
This module re-exports their names, so `from simkit.kernels import history as H`
gives H.TC_SEX, H.pool_baseline, ... wherever the layer does not matter.
docs/world.md writes the model out.
"""
# Star imports on purpose: this module is the namespace of the world's kernels
# (each layer module keeps its own explicit imports).
from .layout import *  # noqa: F401,F403
from .patient import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .pool import _pool_core, _pool_draws  # noqa: F401  (tests draw a candidate's uniforms)
from .treated import *  # noqa: F401,F403
