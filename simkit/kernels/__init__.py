"""Pure numba kernels on arrays: no I/O, no Python objects.

Everything above (world, design, analysis, CLI) calls down into these; nothing
here imports from the rest of the package.

numba's on-disk cache checks a cached kernel only against its own source
file, yet kernels inline and call code from other kernel files.  So that an
edit or upgrade of one file never leaves stale compiled code in use, importing
this package (which happens before any kernel module is loaded) hashes all
kernel sources and, if the hash differs from the one stamped in the cache
directory, deletes the cached kernels there (see _cacheguard.py).
"""
from ._cacheguard import guard as _guard

_guard()
