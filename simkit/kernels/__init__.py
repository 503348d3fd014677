"""Pure numba kernels on arrays: no I/O, no Python objects.

Everything above (world, design, analysis, CLI) calls down into these; nothing
here imports from the rest of the package.
"""
