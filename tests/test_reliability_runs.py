"""Killed, interrupted and damaged runs lose nothing and leave nothing behind (issue 15).

The toy job of _toy_chunk.py stands in for the replicate: its rows depend on
(seed, condition, replicate) only, so a store is checked value by value
against one uninterrupted run.
"""
import errno
import os
import random
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import _toy_chunk as toy
from simkit.runner import store
from simkit.errors import InputError
from simkit.runner.montecarlo import run
from simkit.runner.store import open_results

TESTS = Path(__file__).parent
N, CS = 120, 6          # 6 conditions x 20 chunks


def _env(mark):
    return dict(os.environ, SIMKIT_TEST_MARK=mark, PYTHONPATH=os.pathsep.join(
        [str(TESTS), str(TESTS.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


CHILD = """
import sys
import _toy_chunk as toy
from simkit.runner.montecarlo import run
job, _ = toy.make_job(n_replicates=int(sys.argv[2]), chunk_size=int(sys.argv[3]), sleep=float(sys.argv[4]))
try:
    run(job, sys.argv[1], jobs=int(sys.argv[5]), backend=sys.argv[6], progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _child(path, mark, sleep=0.05, jobs=2, backend="joblib"):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(N), str(CS), str(sleep),
                             str(jobs), backend], env=_env(mark), cwd=str(TESTS.parent))


def _marked(mark):
    """Live processes (workers, resource trackers, ...) that inherited our mark."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if f"SIMKIT_TEST_MARK={mark}".encode() in env.split(b"\0") and ") Z " not in stat:
            pids.append(int(d.name))
    return pids


def _wait_gone(mark, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = _marked(mark)
        if not left:
            return []
        time.sleep(0.1)
    return _marked(mark)


def _kill_all(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rows(path):
    g = zarr.open_group(str(path), mode="r")
    return np.asarray(g["rows"][...]), np.asarray(g["chunk_done"][...])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    job, mus = toy.make_job(n_replicates=N, chunk_size=CS)
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run(job, path, jobs=1, progress=False)
    return job, path, _rows(path)[0]


def _same(path, ref_rows):
    rows, done = _rows(path)
    assert done.all()
    # bit for bit (NaN where the toy gives NaN, in the same places)
    assert rows.tobytes() == ref_rows.tobytes()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sigkill_at_random_times_resumes_bit_identical_and_leaves_no_process(reference, tmp_path):
    job, _, ref_rows = reference
    path = tmp_path / "killed.zarr"
    rnd = random.Random(15)
    kills = 0
    for trial in range(10):
        mark = uuid.uuid4().hex
        # 0.5 s per chunk: 10 runs of at most 2.5 s on 2 workers compute at most 100 of
        # the 120 chunks, so every kill lands in a running job however fast the machine
        child = _child(path, mark, sleep=0.5)
        # a random point: store creation, pool start-up or mid-run
        time.sleep(rnd.uniform(0.2, 2.5))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        left = _wait_gone(mark)
        _kill_all(left)
        assert not left, f"trial {trial}: processes {left} outlived their killed run"
    assert kills == 10
    # the same command, uninterrupted, finishes the store
    info = run(job, path, jobs=2, progress=False)
    assert info.n_chunks_computed + info.n_chunks_skipped == 6 * (N // CS)
    _same(path, ref_rows)


def test_sigkill_of_a_dask_run_leaves_no_process_and_resumes(reference, tmp_path):
    pytest.importorskip("dask.distributed")
    job, _, ref_rows = reference
    path = tmp_path / "dask-killed.zarr"
    mark = uuid.uuid4().hex
    child = _child(path, mark, sleep=0.2, backend="dask")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if store.read_status(path)["chunks_done"] >= 3:
                break
        except InputError:
            pass
        time.sleep(0.05)
    assert child.poll() is None, "the dask run ended before it was killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = _wait_gone(mark, 20)      # the local cluster's nannies and workers
    _kill_all(left)
    assert not left
    run(job, path, jobs=1, progress=False)
    _same(path, ref_rows)


def test_ctrl_c_stops_within_seconds_keeping_what_is_done(reference, tmp_path):
    job, _, ref_rows = reference
    path = tmp_path / "interrupted.zarr"
    mark = uuid.uuid4().hex
    child = _child(path, mark, sleep=0.5)   # 0.5 s chunks: many still running at the signal
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if store.read_status(path)["chunks_done"] >= 4:
                break
        except InputError:
            pass
        time.sleep(0.05)
    t0 = time.monotonic()
    child.send_signal(signal.SIGINT)
    try:
        rc = child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert time.monotonic() - t0 < 5
    assert rc == 130
    left = _wait_gone(mark)
    _kill_all(left)
    assert not left
    st = store.read_status(path)
    assert 4 <= st["chunks_done"] < st["chunks_total"]
    assert st["attrs"]["history"][-1]["finished"] is None   # the run was recorded as unfinished
    run(job, path, jobs=1, progress=False)
    _same(path, ref_rows)


def _crash_once(condition, start, stop, flag, seed, mus):
    """Kills its own worker process the first time it meets chunk (2, 1)."""
    if (condition, start) == (2, CS) and not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(9)
    return toy.toy_chunk(condition, start, stop, seed, mus)


def test_dask_worker_killed_mid_run_is_replaced_and_the_result_is_identical(reference, tmp_path):
    pytest.importorskip("dask.distributed")
    import dataclasses
    import functools
    job, _, ref_rows = reference
    flag = tmp_path / "crashed"
    _, mus = toy.make_job(n_replicates=N, chunk_size=CS)
    crashing = dataclasses.replace(job, compute=functools.partial(
        _crash_once, flag=str(flag), seed=job.compute.keywords["seed"], mus=mus))
    path = tmp_path / "dask.zarr"
    run(crashing, path, jobs=2, backend="dask", progress=False)
    assert flag.exists()      # a worker really died
    _same(path, ref_rows)


def test_truncated_missing_or_damaged_chunks_are_recomputed(reference, tmp_path):
    import shutil
    job, ref_path, ref_rows = reference
    path = tmp_path / "damaged.zarr"
    shutil.copytree(ref_path, path)
    rows_dir = path / "rows" / "c"
    f_trunc, f_flip, f_gone = rows_dir / "1" / "3" / "0", rows_dir / "4" / "0" / "0", rows_dir / "5" / "19" / "0"
    data = f_trunc.read_bytes()
    f_trunc.write_bytes(data[: len(data) // 2])
    data = bytearray(f_flip.read_bytes())
    data[len(data) // 2] ^= 0xFF                   # one flipped byte: caught by crc32c
    f_flip.write_bytes(bytes(data))
    f_gone.unlink()
    info = run(job, path, jobs=1, progress=False)
    assert (info.n_chunks_computed, info.n_chunks_skipped) == (3, 117)
    hist = store.read_status(path)["attrs"]["history"][-1]
    assert sorted(map(tuple, hist["recomputed_damaged"])) == [(1, 3), (4, 0), (5, 19)]
    _same(path, ref_rows)


def test_damaged_done_flags_fall_back_on_the_row_checksums(reference, tmp_path):
    import shutil
    job, ref_path, ref_rows = reference
    path = tmp_path / "flags.zarr"
    shutil.copytree(ref_path, path)
    flag = path / "chunk_done" / "c" / "2" / "0"
    flag.write_bytes(flag.read_bytes()[:3])
    (path / "rows" / "c" / "2" / "7" / "0").unlink()
    info = run(job, path, jobs=1, progress=False)
    assert info.n_chunks_computed == 1
    _same(path, ref_rows)


def test_stores_are_consolidated_so_xarray_does_not_warn(reference):
    _, path, _ = reference
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ds = xr.open_zarr(str(path))
    assert "rows" in ds


def test_a_full_disk_is_one_line_and_the_rerun_resumes(reference, tmp_path, monkeypatch):
    job, _, ref_rows = reference
    path = tmp_path / "full.zarr"
    real = store.RunStore.write_chunk
    calls = []

    def filling(self, c, j, rows):
        calls.append((c, j))
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, c, j, rows)

    monkeypatch.setattr(store.RunStore, "write_chunk", filling)
    with pytest.raises(InputError, match=r"No space left on device; the 5 chunk\(s\) written"):
        run(job, path, jobs=1, progress=False)
    monkeypatch.setattr(store.RunStore, "write_chunk", real)
    assert store.read_status(path)["chunks_done"] == 5
    info = run(job, path, jobs=1, progress=False)
    assert info.n_chunks_skipped == 5
    _same(path, ref_rows)


def test_a_store_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    job, _ = toy.make_job(n_replicates=5, chunk_size=5)
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:   # root writes anywhere: simulate the refusal
        def denied(*a, **k):
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr(store, "_create", denied)
    else:
        ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot create the store .*Permission denied"):
            run(job, ro / "s.zarr", jobs=1, progress=False)
    finally:
        ro.chmod(0o700)
    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a simkit results store"):
        run(job, f, jobs=1, progress=False)


def test_progress_lines_reach_a_log_when_stderr_is_not_a_terminal(tmp_path, capsys):
    job, _ = toy.make_job(n_replicates=N, chunk_size=CS)
    run(job, tmp_path / "a.zarr", jobs=1, progress=None, log_seconds=0.0)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("simkit run: ")]
    assert len(lines) == 6 * (N // CS)
    assert lines[-1].startswith(f"simkit run: {6 * N:,} of {6 * N:,} replicates (100.0%)")
    run(job, tmp_path / "b.zarr", jobs=1, progress=False, log_seconds=0.0)
    assert capsys.readouterr().err == ""


# about 5 s of CPU in tasks of about 0.5 s: the signal lands mid-run even on a quiet machine
REAL = """seed = 11
replicates = 20000
[design]
pool_size = 1500
n_treated = 150
pool_policy = "condition"
[run]
chunk_size = 300
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_real_run_on_workers_started_early_is_stopped_and_resumes_identical(tmp_path, sig):
    """`simkit run` of a run large enough for workers (started by build_job, on Linux
    forked from the command after it loaded the kernels, tasks of several chunks):
    Ctrl-C or SIGKILL mid-run leaves no process, keeps the chunks written, and the
    resumed store equals one computed chunk by chunk in one process."""
    from simkit.runner.grid import build_job, load_study
    f = tmp_path / "s.toml"
    f.write_text(REAL)
    path = tmp_path / "r.zarr"
    mark = uuid.uuid4().hex
    child = subprocess.Popen([sys.executable, "-m", "simkit.cli", "run", str(f), "--out", str(path), "--jobs", "2",
                              "--quiet"], env=_env(mark), cwd=str(TESTS.parent))
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and child.poll() is None:
        try:
            done = store.read_status(path)["chunks_done"]
        except InputError:
            done = 0
        if done >= 3:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the run ended before the signal"
    if sys.platform.startswith("linux"):   # the workers were forked from the command, not spawned
        cmds = [Path(f"/proc/{p}/cmdline").read_bytes() for p in _marked(mark)]
        assert sum(b"simkit.cli" in c for c in cmds) == 3 and not any(b"loky" in c for c in cmds), cmds
    child.send_signal(sig)
    try:
        rc = child.wait(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
    st = store.read_status(path)
    assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL), (rc, st["chunks_done"])
    left = _wait_gone(mark)
    _kill_all(left)
    assert not left
    assert 3 <= st["chunks_done"] < st["chunks_total"], st["chunks_done"]
    job = build_job(load_study(f))
    run(job, path, jobs=2, progress=False)
    ref = tmp_path / "ref.zarr"
    import dataclasses
    run(dataclasses.replace(job, seconds_per_replicate=None), ref, jobs=1, progress=False)
    _same(path, _rows(ref)[0])
