"""The guard that clears numba's cache of the kernels when any kernel source changes.

sync_cache and source_fingerprint are driven on temp dirs only; the real cache
directory is only located (and the guard already ran on it when simkit.kernels
was imported, which is intended)."""
import importlib
import os
import re
import subprocess
import sys
import textwrap

import pytest

import simkit.kernels
from simkit.kernels import _cacheguard as G

KERNELS_DIR = os.path.dirname(os.path.abspath(simkit.kernels.__file__))
REPO = os.path.dirname(os.path.dirname(KERNELS_DIR))

CACHE_FILES = ["replicate.run_chunk-250.py311.nbi", "replicate.run_chunk-250.py311.1.nbc",
               "replicate.run_chunk-250.py311.2.nbc", "history.pool_key-40.py312.nbi",
               "history.pool_key-40.py312.1.nbc"]
# .pyc files share the in-tree __pycache__; "*.tmp.*" are numba's writes in flight
OTHER_FILES = ["history.cpython-311.pyc", "notes.txt", "rng.derive-36.py311.nbi.tmp.0123abcd",
               "x.nbc.bak"]


def _make_cache(d):
    for name in CACHE_FILES + OTHER_FILES:
        (d / name).write_bytes(b"data of " + name.encode())


def _listing(d):
    return sorted(os.listdir(d))


def _stamp(d):
    return (d / G.STAMP_NAME).read_text()


def _sources(d, files):
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_bytes(text)
    return d


# --- sync_cache ------------------------------------------------------------

def test_missing_stamp_clears_only_cache_files_and_stamps(tmp_path):
    _make_cache(tmp_path)
    fp = "ab" * 32
    assert G.sync_cache(str(tmp_path), fp) is True
    assert _listing(tmp_path) == sorted(OTHER_FILES + [G.STAMP_NAME])
    assert _stamp(tmp_path).strip() == fp
    for name in OTHER_FILES:
        assert (tmp_path / name).read_bytes() == b"data of " + name.encode()
    # no temp file of the atomic write left behind
    assert not [n for n in os.listdir(tmp_path) if n.startswith(G.STAMP_NAME + ".tmp")]


def test_other_stamp_clears(tmp_path):
    _make_cache(tmp_path)
    (tmp_path / G.STAMP_NAME).write_text("cd" * 32 + "\n")
    assert G.sync_cache(str(tmp_path), "ef" * 32) is True
    assert _listing(tmp_path) == sorted(OTHER_FILES + [G.STAMP_NAME])
    assert _stamp(tmp_path).strip() == "ef" * 32


def test_matching_stamp_keeps_everything(tmp_path):
    _make_cache(tmp_path)
    fp = "01" * 32
    (tmp_path / G.STAMP_NAME).write_text(fp + "\n")
    before = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}
    assert G.sync_cache(str(tmp_path), fp) is False
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before


def test_second_call_is_a_no_op_and_new_entries_survive(tmp_path):
    _make_cache(tmp_path)
    fp = "23" * 32
    assert G.sync_cache(str(tmp_path), fp) is True
    (tmp_path / "replicate.run_chunk-250.py311.nbi").write_bytes(b"fresh")
    assert G.sync_cache(str(tmp_path), fp) is False
    assert (tmp_path / "replicate.run_chunk-250.py311.nbi").read_bytes() == b"fresh"


def test_empty_dir_gets_stamped(tmp_path):
    assert G.sync_cache(str(tmp_path), "45" * 32) is True
    assert _listing(tmp_path) == [G.STAMP_NAME]


def test_undeletable_files_no_raise_no_stamp(tmp_path, monkeypatch):
    # root ignores chmod, so a read-only directory is simulated at os.unlink
    _make_cache(tmp_path)
    (tmp_path / G.STAMP_NAME).write_text("old\n")

    def refuse(path, *a, **k):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(G.os, "unlink", refuse)
    assert G.sync_cache(str(tmp_path), "67" * 32) is False
    # stale stamp kept, so the next process tries again
    assert _stamp(tmp_path) == "old\n"
    assert set(CACHE_FILES) <= set(os.listdir(tmp_path))


def test_stamp_write_failure_no_raise(tmp_path, monkeypatch):
    _make_cache(tmp_path)

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", dst)
    monkeypatch.setattr(G.os, "replace", refuse)
    assert G.sync_cache(str(tmp_path), "89" * 32) is True  # cleared, only the stamp is missing
    assert _listing(tmp_path) == sorted(OTHER_FILES)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_dir_no_raise(tmp_path):
    _make_cache(tmp_path)
    os.chmod(tmp_path, 0o555)
    try:
        assert G.sync_cache(str(tmp_path), "ab" * 32) is False
        assert set(CACHE_FILES) <= set(os.listdir(tmp_path))
    finally:
        os.chmod(tmp_path, 0o755)


def test_missing_dir_and_unreadable_stamp_no_raise(tmp_path):
    assert G.sync_cache(str(tmp_path / "nowhere"), "ab" * 32) is False
    assert not (tmp_path / "nowhere").exists()
    _make_cache(tmp_path)
    (tmp_path / G.STAMP_NAME).mkdir()  # reading it raises IsADirectoryError
    assert G.sync_cache(str(tmp_path), "ab" * 32) is False
    assert set(CACHE_FILES) <= set(os.listdir(tmp_path))


def test_guard_without_numba_cache_is_a_no_op(monkeypatch):
    monkeypatch.setattr(G, "kernel_cache_dir", lambda: None)
    assert G.guard() is False

    def boom():
        raise RuntimeError("private numba API changed")
    monkeypatch.setattr(G, "kernel_cache_dir", boom)
    assert G.guard() is False


# --- source_fingerprint ----------------------------------------------------

def test_fingerprint_changes_with_one_byte_and_with_a_new_file(tmp_path):
    src = {"a.py": b"x = 1\n" * 100, "b.py": b"def f():\n    return 2\n"}
    d = _sources(tmp_path / "k", src)
    fp = G.source_fingerprint(str(d))
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert G.source_fingerprint(str(d)) == fp

    (d / "b.py").write_bytes(b"def f():\n    return 3\n")  # one byte
    fp_byte = G.source_fingerprint(str(d))
    assert fp_byte != fp
    (d / "b.py").write_bytes(src["b.py"])
    assert G.source_fingerprint(str(d)) == fp

    (d / "c.py").write_bytes(b"")  # an empty new module still counts
    assert G.source_fingerprint(str(d)) not in (fp, fp_byte)
    (d / "c.py").unlink()
    assert G.source_fingerprint(str(d)) == fp


def test_fingerprint_names_matter_and_boundaries_are_unambiguous(tmp_path):
    a = _sources(tmp_path / "a", {"a.py": b"12", "b.py": b"3"})
    b = _sources(tmp_path / "b", {"a.py": b"1", "b.py": b"23"})
    c = _sources(tmp_path / "c", {"a.py": b"12", "c.py": b"3"})
    fps = {G.source_fingerprint(str(x)) for x in (a, b, c)}
    assert len(fps) == 3


def test_fingerprint_of_dir_is_of_its_py_files_in_any_order(tmp_path):
    d = _sources(tmp_path / "k", {"z.py": b"z", "m.py": b"m", "a.py": b"a"})
    fp = G.source_fingerprint(str(d))
    (d / "notes.txt").write_bytes(b"ignored")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"ignored")
    assert G.source_fingerprint(str(d)) == fp
    files = [d / "m.py", d / "z.py", d / "a.py"]
    assert G.source_fingerprint(files) == fp
    assert G.source_fingerprint([str(f) for f in reversed(files)]) == fp
    assert G.source_fingerprint(files[:2]) != fp


def test_real_fingerprint_covers_every_kernel_module():
    names = sorted(n for n in os.listdir(KERNELS_DIR) if n.endswith(".py"))
    assert {"__init__.py", "_cacheguard.py", "history.py", "replicate.py", "rng.py"} <= set(names)
    assert G.source_fingerprint(KERNELS_DIR) == G.source_fingerprint(
        [os.path.join(KERNELS_DIR, n) for n in names])


# --- the real cache directory -----------------------------------------------

def _kernel_dispatchers():
    """Every cache=True dispatcher defined in simkit/kernels."""
    out = []
    for name in sorted(os.listdir(KERNELS_DIR)):
        if not name.endswith(".py") or name.startswith("_"):
            continue
        mod = importlib.import_module("simkit.kernels." + name[:-3])
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) == mod.__name__ and hasattr(obj, "_cache"):
                out.append(obj)
    return out


def test_cache_dir_is_run_chunks_and_every_kernels():
    from simkit.kernels import replicate as R
    d = G.kernel_cache_dir()
    assert d is not None and os.path.isdir(d)
    assert d == R.run_chunk._cache._cache_path
    disps = _kernel_dispatchers()
    assert len(disps) > 50
    assert {disp._cache._cache_path for disp in disps} == {d}
    # the import of simkit.kernels ran the guard on it
    stamp = open(os.path.join(d, G.STAMP_NAME)).read().strip()
    assert len(stamp) == 64 and int(stamp, 16) >= 0


def test_cache_dir_with_numba_cache_dir_in_a_subprocess(tmp_path):
    cache_root = tmp_path / "numba-cache"
    code = textwrap.dedent("""
        import os
        import simkit.kernels._cacheguard as G
        from simkit.kernels import replicate as R
        from simkit.kernels import history as H
        print(G.kernel_cache_dir())
        print(R.run_chunk._cache._cache_path)
        print(H.pool_baseline._cache._cache_path)
        print(G.source_fingerprint(os.path.dirname(G.__file__)))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_root))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, check=True, timeout=120).stdout.split()
    guard_dir, run_chunk_dir, history_dir, fp = out
    assert guard_dir == run_chunk_dir == history_dir
    assert os.path.dirname(guard_dir) == str(cache_root)
    assert guard_dir != G.kernel_cache_dir()
    # the guard ran on import there too: stamp written, nothing compiled
    assert sorted(os.listdir(guard_dir)) == [G.STAMP_NAME]
    assert open(os.path.join(guard_dir, G.STAMP_NAME)).read().strip() == fp


# --- cached code outside simkit/kernels that inlines kernels -------------------

_CACHED_NJIT = re.compile(r"^\s*@(?:numba\.)?n?jit\([^)]*\bcache\s*=\s*(?!False\b)\w+", re.M)


def _files_with_cached_kernels():
    out = []
    for top in ("benchmarks", "tests", "simkit", "notebooks"):
        for root, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", ".ipynb_checkpoints")]
            if os.path.abspath(root) == KERNELS_DIR:
                continue
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                    if _CACHED_NJIT.search(text) and "simkit.kernels" in text:
                        out.append((os.path.relpath(path, REPO), text))
    return out


def test_every_cached_kernel_outside_the_kernels_is_guarded():
    found = _files_with_cached_kernels()
    assert {"benchmarks/limit.py", "benchmarks/stages.py", "tests/_toy_chunk.py"} <= {p for p, _ in found}
    for path, text in found:
        # the call at module level, before any of the file's cached functions can run
        assert re.search(r"^guard\(__file__\)$", text, re.M), f"{path} does not call guard(__file__)"


def test_cache_dir_of_is_where_numba_caches_that_file(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "benchmarks"))
    limit = importlib.import_module("limit")
    disps = [o for o in vars(limit).values()
             if getattr(o, "__module__", None) == "limit" and hasattr(o, "_cache")]
    assert len(disps) >= 5
    d = G.cache_dir_of(limit.__file__)
    assert d is not None and {disp._cache._cache_path for disp in disps} == {d}
    # importing limit ran the guard on that directory against the kernels' sources
    assert open(os.path.join(d, G.STAMP_NAME)).read().strip() == G.source_fingerprint(KERNELS_DIR)
    assert G.kernel_cache_dir() == G.cache_dir_of(G.__file__)
    assert G.cache_dir_of(str(REPO) + "/no/such/file.py") is None


def test_guard_of_a_file_clears_its_cache_when_the_kernels_change(tmp_path):
    mod = tmp_path / "inliner.py"
    mod.write_text("from numba import njit\nfrom simkit.kernels.rng import derive\n\n"
                   "@njit(cache=True)\ndef f(k):\n    return derive(k, 1)\n")
    d = G.cache_dir_of(str(mod))
    assert d is not None and d != G.kernel_cache_dir()
    stale = ["inliner.f-4.py311.nbi", "inliner.f-4.py311.1.nbc"]
    for name in stale:
        open(os.path.join(d, name), "wb").write(b"compiled against older kernels")
    with open(os.path.join(d, G.STAMP_NAME), "w") as f:
        f.write("00" * 32 + "\n")                     # stamped by other kernel sources
    assert G.guard(str(mod)) is True
    assert sorted(os.listdir(d)) == [G.STAMP_NAME]
    assert open(os.path.join(d, G.STAMP_NAME)).read().strip() == G.source_fingerprint(KERNELS_DIR)
    for name in stale:                                # the same kernel sources: kept
        open(os.path.join(d, name), "wb").write(b"compiled against these kernels")
    assert G.guard(str(mod)) is False
    assert set(stale) <= set(os.listdir(d))
    # the kernels' own cache is not this directory's business
    assert os.path.isfile(os.path.join(G.kernel_cache_dir(), G.STAMP_NAME))
