"""Clear numba's on-disk cache of the kernels when any kernel source changes.

numba validates a cached function only against the source file that defines
it, but a kernel inlines or links functions (and module-level constants) from
other kernel files: after an edit or an upgrade of e.g. history.py the cached
replicate.run_chunk would still be loaded and run the old code.  So the
package's __init__ calls `guard()` before any kernel module is imported (hence
before any cache entry is loaded): it hashes every kernel source and, if the
hash differs from the one stamped in the cache directory, deletes every cached
kernel there and stamps the new hash.

Code outside simkit/kernels whose cache=True functions inline kernels
(benchmarks/limit.py, benchmarks/stages.py, tests/_toy_chunk.py) has the same
problem in its own cache directory, so such a module calls `guard(__file__)`
before any of its functions runs: the same check on the directory numba caches
that file's functions in, against the same kernel fingerprint (not the file's
own bytes: numba checks those itself, and files sharing a cache directory must
agree on its stamp).

Best effort: an unreadable source, a missing or read-only directory or a
private numba interface that has changed makes it do nothing; it never raises
and never prints.  Two processes running it at once can at worst delete each
other's fresh entries (one extra compilation).
"""
import hashlib
import os

STAMP_NAME = "simkit-kernels.sha256"
_CACHE_SUFFIXES = (".nbi", ".nbc")  # numba's index and data files; not its "*.tmp.*" files in flight


def source_fingerprint(sources):
    """sha256 hex digest of the `.py` files of directory `sources`, or of the
    files in the iterable `sources`: their base names and bytes, sorted by name."""
    if isinstance(sources, (str, os.PathLike)):
        with os.scandir(sources) as it:
            paths = [e.path for e in it if e.name.endswith(".py") and e.is_file()]
    else:
        paths = [os.fspath(p) for p in sources]
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: (os.path.basename(p), p)):
        with open(path, "rb") as f:
            data = f.read()
        # name and length delimit each file, so no two file sets hash the same stream
        h.update(b"%s\0%d\0" % (os.path.basename(path).encode("utf-8", "surrogateescape"), len(data)))
        h.update(data)
    return h.hexdigest()


def sync_cache(cache_dir, fingerprint):
    """Make numba's cache directory `cache_dir` match the sources `fingerprint`.

    If the stamp file there is missing or holds another fingerprint, delete
    every `*.nbi` and `*.nbc` file in `cache_dir` and then write the stamp
    (atomically).  Returns True if it deleted the cache files, False if the
    stamp matched or anything failed (never raises OSError)."""
    stamp_path = os.path.join(cache_dir, STAMP_NAME)
    want = fingerprint.encode("ascii")
    try:
        with open(stamp_path, "rb") as f:
            if f.read().strip() == want:
                return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        with os.scandir(cache_dir) as it:
            names = [e.name for e in it if e.name.endswith(_CACHE_SUFFIXES)]
        for name in names:
            try:
                os.unlink(os.path.join(cache_dir, name))
            except FileNotFoundError:  # another process cleared it first
                pass
    except OSError:
        # not all stale entries are gone: no stamp, so the next import tries again
        return False
    tmp = "%s.tmp.%d.%s" % (stamp_path, os.getpid(), os.urandom(6).hex())
    try:
        with open(tmp, "wb") as f:
            f.write(want + b"\n")
        os.replace(tmp, stamp_path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return True


def cache_dir_of(py_file):
    """The directory numba caches the cache=True functions of source file
    `py_file` in, or None.

    A probe compiled as if written in `py_file` gets a cache=True dispatcher, so
    numba's own locators (NUMBA_CACHE_DIR, the in-tree __pycache__, the
    user-wide fallback) pick the directory; creating it compiles nothing.
    Private numba API."""
    try:
        from numba import njit
        ns = {"__name__": "_simkit_cache_probe"}
        exec(compile("def _probe():\n    return 0\n", os.path.abspath(py_file), "exec"), ns)
        return njit(cache=True)(ns["_probe"])._cache._cache_path
    except Exception:
        return None


def kernel_cache_dir():
    """The directory numba caches the functions of simkit/kernels in, or None."""
    return cache_dir_of(__file__)


def guard(py_file=None):
    """Clear numba's cache of the functions of `py_file` (default: the kernels)
    if the kernel sources changed since that cache was stamped.  Returns True
    if it cleared.  Never raises."""
    try:
        fingerprint = source_fingerprint(os.path.dirname(os.path.abspath(__file__)))
        cache_dir = kernel_cache_dir() if py_file is None else cache_dir_of(py_file)
        if cache_dir is None:
            return False
        return sync_cache(cache_dir, fingerprint)
    except Exception:
        return False
