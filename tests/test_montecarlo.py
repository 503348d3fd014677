"""The Monte Carlo runner and the results store (simkit.runner.montecarlo, simkit.runner.store).

The toy compute (tests/_toy_chunk.py) draws replicate k of condition c from the
counter-based stream (seed, c, k); the reference for every store is the toy
called once per whole condition, so chunking, workers, backends and resumption
are all checked against the same independent computation.
"""
import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import _toy_chunk as toy
from simkit.runner import store
from simkit.errors import InputError
from simkit.kernels.status import NO_EVENTS, OK
from simkit.runner.montecarlo import Job, RunInfo, run
from simkit.runner.store import open_results

TESTS = Path(__file__).resolve().parent
SEED = 20240


def assert_same(a: xr.Dataset, b: xr.Dataset):
    """Same dims, coords, variables, dtypes, variable attrs and bit-identical values."""
    xr.testing.assert_equal(a, b)
    assert list(a.dims) == list(b.dims)
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        assert a[name].dims == b[name].dims, name
        assert a[name].dtype == b[name].dtype, name
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
        assert a[name].attrs == b[name].attrs, name


def by_condition(ds: xr.Dataset, name: str) -> np.ndarray:
    """(condition, replicate) view of a variable of an unstacked store."""
    return ds[name].values.reshape(-1, ds.sizes["replicate"])


def expected(job, mus):
    """field -> (condition, replicate) array computed without the runner."""
    rows = np.stack([toy.expected_rows(SEED, mus, c, job.n_replicates)
                     for c in range(job.n_conditions)])
    return {f: rows[:, :, i] for i, f in enumerate(job.fields)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    job, mus = toy.make_job()
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    info = run(job, path, jobs=1, progress=False)
    return job, mus, path, info, open_results(path)


def test_reference_store_holds_the_direct_computation(reference):
    job, mus, path, info, ds = reference
    assert info == RunInfo(store=str(path), n_chunks_total=6 * 11, n_chunks_computed=66,
                           n_chunks_skipped=0, seconds=info.seconds,
                           replicates_per_second=info.replicates_per_second)
    assert info.replicates_per_second > 0
    exp = expected(job, mus)
    for f in job.fields:
        got = by_condition(ds, f)
        assert got.dtype == (np.int32 if f in job.int_fields else np.float64)
        np.testing.assert_array_equal(got, exp[f])
    # the toy's degenerate replicates come through as NaN + reason code
    status = by_condition(ds, "status")
    assert set(np.unique(status)) == {OK, NO_EVENTS}
    assert np.array_equal(np.isnan(by_condition(ds, "estimate")), status == NO_EVENTS)
    assert ds.attrs["complete"] is True
    assert ds.attrs["scenario_hash"] == "toy-hash-1" and ds.attrs["seed"] == SEED
    assert ds.attrs["fields"] == list(job.fields) and ds.attrs["chunk_size"] == 10
    assert ds.attrs["history"][-1]["chunks_computed"] == 66
    # one zarr chunk per run chunk: (1 condition, chunk_size replicates, every field)
    g = zarr.open_group(str(path), mode="r")
    assert g["rows"].chunks == (1, 10, len(job.fields))
    assert g["rows"].shape == (6, 103, len(job.fields))
    assert g["field"][...].tolist() == list(job.fields)
    assert g["chunk_done"].shape == (6, 11)


def test_open_results_unstacks_a_product_grid(reference):
    job, mus, path, info, ds = reference
    assert ds["estimate"].dims == ("policy", "hr", "replicate")
    assert dict(ds.sizes) == {"policy": 2, "hr": 3, "replicate": 103}
    assert ds["policy"].values.tolist() == ["greedy", "optimal"]
    assert ds["hr"].values.tolist() == [0.5, 0.7, 1.0]
    assert ds["replicate"].values.tolist() == list(range(103))
    # condition index = C-order ravel of (policy, hr)
    assert ds["condition"].values.tolist() == [[0, 1, 2], [3, 4, 5]]
    # a non-grid condition coordinate is kept on the grid dims
    np.testing.assert_array_equal(ds["log_hr"].values, np.log([[0.5, 0.7, 1.0]] * 2))
    cell = ds.sel(policy="optimal", hr=0.7)
    ref = toy.expected_rows(SEED, mus, 4, 103)
    np.testing.assert_array_equal(cell["estimate"].values, ref[:, 0])
    np.testing.assert_array_equal(cell["n_events"].values, ref[:, 3])
    assert ds["estimate"].attrs == {"units": "log hazard ratio", "long_name": "estimate"}
    assert ds["status"].attrs == {"long_name": "reason code"}
    # `variables` loads a subset
    sub = open_results(path, variables=["status"])
    assert list(sub.data_vars) == ["status"]
    with pytest.raises(InputError, match="no such fields"):
        open_results(path, variables=["nope"])


def test_explicit_rows_keep_the_condition_dim(tmp_path):
    job, mus = toy.make_job(n_replicates=25, grid=False)
    run(job, tmp_path / "s", jobs=1, progress=False)
    ds = open_results(tmp_path / "s")
    assert ds["pvalue"].dims == ("condition", "replicate")
    assert ds["condition"].values.tolist() == list(range(6))
    assert ds["hr"].dims == ("condition",)
    assert ds["n"].values.tolist() == [10, 10, 10, 20, 20, 30]
    np.testing.assert_array_equal(ds["pvalue"].values, expected(job, mus)["pvalue"])


def test_raw_store_opens_in_xarray(reference):
    job, mus, path, info, ds = reference
    raw = xr.open_zarr(path, consolidated=False)
    assert raw["rows"].dims == ("condition", "replicate", "field")
    assert {"policy", "hr", "log_hr"} <= set(raw.coords)
    assert raw["field"].values.tolist() == list(job.fields)
    # the recipe of docs/store.md: one variable per field
    flat = raw["rows"].to_dataset("field")
    for f in job.fields:
        assert flat[f].dims == ("condition", "replicate")
        np.testing.assert_array_equal(flat[f].values, by_condition(ds, f))
    assert raw.attrs["field_attrs"]["estimate"]["units"] == "log hazard ratio"


def test_jobs_2_gives_the_same_store(reference, tmp_path):
    job, mus, path, info, ds = reference
    info2 = run(job, tmp_path / "s", jobs=2, progress=False)
    assert info2.n_chunks_computed == 66
    assert_same(open_results(tmp_path / "s"), ds)
    # and the chunks really ran in two worker processes, not in this one
    pid_job = Job("pids", 1, 8, 1, ("pid",), frozenset({"pid"}),
                  functools.partial(toy.pid_chunk, sleep=0.2), {}, None, {})
    run(pid_job, tmp_path / "pids", jobs=2, progress=False)
    pids = set(open_results(tmp_path / "pids")["pid"].values.ravel().tolist())
    assert len(pids) == 2 and os.getpid() not in pids


def test_dask_backend_gives_the_same_store(reference, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    job, mus, path, info, ds = reference
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster:
        info2 = run(job, tmp_path / "s", backend="dask", scheduler=cluster.scheduler_address,
                    progress=False)
    assert info2.n_chunks_computed == 66
    assert_same(open_results(tmp_path / "s"), ds)


def test_chunk_size_changes_layout_not_values(reference, tmp_path):
    job, mus, path, info, ds = reference
    for cs in (7, 50):
        info2 = run(dataclasses.replace(job, chunk_size=cs), tmp_path / f"s{cs}", jobs=1,
                    progress=False)
        assert info2.n_chunks_total == 6 * -(-103 // cs)
        assert zarr.open_group(str(tmp_path / f"s{cs}"), mode="r")["rows"].chunks == (1, cs, len(job.fields))
        assert_same(open_results(tmp_path / f"s{cs}"), ds)


def test_resume_after_sigkill(tmp_path):
    n, cs = 200, 10
    job, mus = toy.make_job(n_replicates=n, chunk_size=cs)
    path = tmp_path / "killed.zarr"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TESTS.parent)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    child = subprocess.Popen([sys.executable, str(TESTS / "_toy_chunk.py"), str(path), str(n),
                              str(cs), "0.05"], env=env, cwd=str(TESTS.parent))
    total = 6 * (n // cs)
    done = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                pytest.fail(f"child finished before it was killed (rc {child.returncode})")
            try:
                done = store.read_status(path)["chunks_done"]
            except InputError:
                done = 0  # not created yet
            if done >= 5:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    status = store.read_status(path)
    assert 5 <= status["chunks_done"] < total
    with pytest.raises(InputError, match="incomplete"):
        open_results(path)
    partial = open_results(path, allow_incomplete=True)
    assert partial.attrs["complete"] is False
    info = run(job, path, jobs=1, progress=False)
    assert info.n_chunks_skipped == status["chunks_done"]
    assert info.n_chunks_computed == total - status["chunks_done"]
    fresh = tmp_path / "fresh.zarr"
    run(job, fresh, jobs=1, progress=False)
    assert_same(open_results(path), open_results(fresh))
    np.testing.assert_array_equal(by_condition(open_results(path), "estimate"),
                                  expected(job, mus)["estimate"])


def test_half_written_chunk_is_hidden_and_redone(reference, tmp_path):
    job, mus, path, info, ds = reference
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    g = zarr.open_group(str(copy), mode="r+")
    # a crash after chunk 3 of condition 4 was written but before its flag was
    g["rows"][4, 30:40, :] = -999.0
    done = g["chunk_done"][...]
    done[4, 3] = 0
    g["chunk_done"][...] = done
    with pytest.raises(InputError, match="65 of 66 chunks"):
        open_results(copy)
    part = open_results(copy, allow_incomplete=True)
    assert part.attrs["complete"] is False and part.attrs["chunks_done"] == 65
    for f in job.fields:
        got = by_condition(part, f)
        assert got.dtype == np.float64  # int fields widen to hold NaN
        assert np.isnan(got[4, 30:40]).all()
        mask = np.ones(got.shape, bool)
        mask[4, 30:40] = False
        np.testing.assert_array_equal(got[mask], by_condition(ds, f)[mask].astype(np.float64))
    info2 = run(job, copy, jobs=1, progress=False)
    assert (info2.n_chunks_computed, info2.n_chunks_skipped) == (1, 65)
    assert_same(open_results(copy), ds)
    # the rerun of a complete store computes nothing, whatever chunk size is asked
    info3 = run(dataclasses.replace(job, chunk_size=33), copy, jobs=1, progress=False)
    assert (info3.n_chunks_computed, info3.n_chunks_skipped) == (0, 66)
    assert open_results(copy).attrs["chunk_size"] == 10


def test_store_of_another_scenario_or_shape_is_refused(reference, tmp_path):
    job, mus, path, info, ds = reference
    copy = tmp_path / "copy.zarr"
    shutil.copytree(path, copy)
    before = store.read_status(copy)["done"].copy()
    with pytest.raises(InputError, match="another scenario.*choose another --out or delete") as e:
        run(dataclasses.replace(job, scenario_hash="toy-hash-2"), copy, jobs=1, progress=False)
    assert e.value.where == "--out"
    with pytest.raises(InputError, match="differs in n_replicates"):
        run(dataclasses.replace(job, n_replicates=104), copy, jobs=1, progress=False)
    with pytest.raises(InputError, match="differs in fields"):
        run(dataclasses.replace(job, fields=job.fields[::-1]), copy, jobs=1, progress=False)
    coords = dict(job.condition_coords, hr=[0.5, 0.8, 1.0] * 2)
    with pytest.raises(InputError, match="differs in condition_coords"):
        run(dataclasses.replace(job, condition_coords=coords), copy, jobs=1, progress=False)
    np.testing.assert_array_equal(store.read_status(copy)["done"], before)
    assert_same(open_results(copy), ds)


def test_paths_that_are_not_stores_are_refused(tmp_path):
    job, mus = toy.make_job(n_replicates=5, chunk_size=5)
    a_file = tmp_path / "results.csv"
    a_file.write_text("x\n1\n")
    other_dir = tmp_path / "mydata"
    other_dir.mkdir()
    (other_dir / "notes.txt").write_text("keep me")
    plain_zarr = tmp_path / "plain.zarr"
    zarr.open_group(str(plain_zarr), mode="w").attrs["x"] = 1
    for p in (a_file, other_dir, plain_zarr):
        with pytest.raises(InputError, match="not a simkit results store") as e:
            run(job, p, jobs=1, progress=False)
        assert e.value.where == "--out"
        with pytest.raises(InputError, match="not a simkit results store"):
            open_results(p)
    assert (other_dir / "notes.txt").read_text() == "keep me"
    assert a_file.read_text() == "x\n1\n"
    with pytest.raises(InputError, match="no results store"):
        open_results(tmp_path / "missing.zarr")
    with pytest.raises(InputError, match="does not exist"):
        run(job, tmp_path / "no" / "such" / "dir.zarr", jobs=1, progress=False)
    # an empty directory is fine (the user made it for the store)
    empty = tmp_path / "empty"
    empty.mkdir()
    run(job, empty, jobs=1, progress=False)
    assert open_results(empty).attrs["complete"] is True
    # no temporary directories left behind
    assert not [p for p in tmp_path.iterdir() if ".creating-" in p.name]


def test_bad_arguments_name_the_flag(tmp_path):
    job, mus = toy.make_job(n_replicates=5, chunk_size=5)
    cases = [(dict(jobs=0), "--jobs"), (dict(jobs=1.5), "--jobs"), (dict(jobs=True), "--jobs"),
             (dict(backend="spark"), "--backend"),
             (dict(scheduler="tcp://127.0.0.1:8786"), "--scheduler")]
    for kwargs, flag in cases:
        with pytest.raises(InputError) as e:
            run(job, tmp_path / "s", progress=False, **kwargs)
        assert e.value.where == flag, kwargs
    assert not (tmp_path / "s").exists()  # nothing created on a bad argument


def test_unreachable_scheduler(tmp_path):
    pytest.importorskip("dask.distributed")
    job, mus = toy.make_job(n_replicates=5, chunk_size=5)
    with pytest.raises(InputError, match="cannot connect") as e:
        run(job, tmp_path / "s", backend="dask", scheduler="tcp://127.0.0.1:9", progress=False)
    assert e.value.where == "--scheduler"
    assert not (tmp_path / "s").exists()


def test_a_store_in_use_is_refused(tmp_path):
    job, mus = toy.make_job(n_replicates=5, chunk_size=5)
    holder = store.open_for_run(tmp_path / "s", job)
    try:
        with pytest.raises(InputError, match="being written by another run"):
            run(job, tmp_path / "s", jobs=1, progress=False)
    finally:
        holder.close()
    assert run(job, tmp_path / "s", jobs=1, progress=False).n_chunks_computed == 6


def _bad_int(condition, start, stop):
    out = np.zeros((stop - start, 4))
    out[:, 2] = 0.5 if condition == 1 else 0.0
    return out


def _bad_shape(condition, start, stop):
    return np.zeros((stop - start, 3))


def test_compute_errors_are_not_stored_and_earlier_chunks_are_kept(tmp_path):
    job, mus = toy.make_job(n_replicates=10, chunk_size=5)
    with pytest.raises(ValueError, match="'status' is stored as int32"):
        run(dataclasses.replace(job, compute=_bad_int), tmp_path / "a", jobs=1, progress=False)
    st = store.read_status(tmp_path / "a")
    assert st["done"].tolist()[0] == [True, True] and not st["done"][1:].any()
    assert store.read_status(tmp_path / "a")["attrs"]["history"][-1]["finished"] is None
    with pytest.raises(ValueError, match=r"returned shape \(5, 3\)"):
        run(dataclasses.replace(job, compute=_bad_shape), tmp_path / "b", jobs=1,
            progress=False)


def test_job_validation():
    job, mus = toy.make_job(n_replicates=5, chunk_size=5)
    bad = [
        dict(grid_dims=("hr", "policy")),          # not the C-order product in this order
        dict(grid_dims=("hr",)),                   # levels do not multiply to 6
        dict(int_fields=frozenset({"nope"})),
        dict(fields=("a", "a", "b", "c")),
        dict(attrs={"complete": True}),            # reserved attr
        dict(attrs={"x": np.int64(1)}),            # not JSON
        dict(condition_coords={"hr": [1, 2]}),     # wrong length
        dict(condition_coords={"replicate": list(range(6))}, grid_dims=None),
        dict(chunk_size=0),
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            store.spec_of(dataclasses.replace(job, **kw))


def test_progress_bar_on_request(tmp_path, capsys):
    job, mus = toy.make_job(n_replicates=20, chunk_size=10)
    run(job, tmp_path / "s", jobs=1, progress=True)
    err = capsys.readouterr().err
    assert "rep/s" in err and "120/120" in err
    run(job, tmp_path / "t", jobs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_store_of_an_older_layout_is_refused_with_what_to_do(reference, tmp_path):
    job, mus, path, info, ds = reference
    old = tmp_path / "old.zarr"
    shutil.copytree(path, old)
    meta = json.loads((old / "zarr.json").read_text())
    meta["attributes"][store.MARKER] = 1  # the layout of one array per field
    (old / "zarr.json").write_text(json.dumps(meta))
    for call in (lambda: open_results(old), lambda: store.read_fields(old, ["estimate"]),
                 lambda: run(job, old, jobs=1, progress=False)):
        with pytest.raises(InputError, match="format 1.*reads format 2.*rerun"):
            call()


def test_read_fields_gives_the_columns_in_blocks(reference, monkeypatch):
    job, mus, path, info, ds = reference
    # blocks of 3 chunks (30 of a condition's 103 rows): the loop must stitch them
    monkeypatch.setattr(store, "_READ_BLOCK_BYTES", 8 * len(job.fields) * 10 * 3)
    rows = zarr.open_group(str(path), mode="r")["rows"]
    got = store._read_columns(rows, [2, 0])
    exp = expected(job, mus)
    np.testing.assert_array_equal(got[0], exp[job.fields[2]])
    np.testing.assert_array_equal(got[1], exp[job.fields[0]])
    attrs, cols = store.read_fields(path, [job.fields[1]])
    np.testing.assert_array_equal(cols[job.fields[1]], exp[job.fields[1]])


def _pids_store(path):
    return set(open_results(path)["pid"].values.ravel().tolist())


def test_tasks_group_consecutive_chunks_of_one_condition():
    from simkit.runner.montecarlo import _tasks
    todo = [(0, 0, 0, 10), (0, 1, 10, 20), (0, 3, 30, 40), (1, 0, 0, 10), (1, 1, 10, 20), (1, 2, 20, 25)]
    # unknown cost: one chunk per task, as before
    assert _tasks(todo, 2, None) == [(c, [(j, a, b)], a, b) for c, j, a, b in todo]
    tasks = _tasks(todo, 1, 1e-9)   # cheap replicates: tasks as long as allowed
    for c, chunks, a, b in tasks:
        assert chunks[0][1] == a and chunks[-1][2] == b
        assert all(x[2] == y[1] for x, y in zip(chunks, chunks[1:]))   # contiguous, never across a gap
        assert all((c, j, s, e) in todo for j, s, e in chunks)
    assert sorted((c, j) for c, ch, _, _ in tasks for j, _, _ in ch) == sorted((c, j) for c, j, _, _ in todo)
    # towards the end, tasks shrink so that the processes finish together
    long = [(0, j, 10 * j, 10 * j + 10) for j in range(100)]
    sizes = [t[3] - t[2] for t in _tasks(long, 2, 1e-6)]
    assert sum(sizes) == 1000 and sizes[0] > sizes[-1] == 10


def test_tasks_of_several_chunks_give_the_same_store(reference, tmp_path, monkeypatch):
    """With a cost hint, chunks travel to the workers in tasks of several: the same store."""
    from simkit.runner import montecarlo
    job, mus, path, info, ds = reference
    monkeypatch.setattr(montecarlo, "IN_PROCESS_SECONDS", 0.0)
    hinted = dataclasses.replace(job, seconds_per_replicate=1e-6)
    info2 = run(hinted, tmp_path / "s", jobs=2, progress=False)
    assert info2.n_chunks_computed == 66
    assert_same(open_results(tmp_path / "s"), ds)
    # and in one process, tasks of several chunks as well
    info3 = run(hinted, tmp_path / "s1", jobs=1, progress=False)
    assert info3.n_chunks_computed == 66
    assert_same(open_results(tmp_path / "s1"), ds)


def test_little_work_stays_in_this_process(reference, tmp_path):
    """A run estimated below IN_PROCESS_SECONDS starts no workers whatever --jobs says;
    the store is the same and its history says so."""
    job, mus, path, info, ds = reference
    run(dataclasses.replace(job, seconds_per_replicate=1e-6), tmp_path / "s", jobs=2, progress=False)
    assert_same(open_results(tmp_path / "s"), ds)
    hist = store.read_status(tmp_path / "s")["attrs"]["history"]
    assert hist[-1]["in_process"] is True and hist[-1]["jobs"] == 2
    pid_job = Job("pids", 1, 8, 1, ("pid",), frozenset({"pid"}), functools.partial(toy.pid_chunk),
                  {}, None, {}, seconds_per_replicate=1e-6)
    run(pid_job, tmp_path / "pids", jobs=2, progress=False)
    assert _pids_store(tmp_path / "pids") == {os.getpid()}
    # much work: the workers, each set up once by the job's worker_setup
    big = dataclasses.replace(pid_job, scenario_hash="pids-big", seconds_per_replicate=10.0,
                              compute=functools.partial(toy.pid_chunk, sleep=0.2))
    run(big, tmp_path / "big", jobs=2, progress=False)
    pids = _pids_store(tmp_path / "big")
    assert len(pids) == 2 and os.getpid() not in pids


def _pid_setup():
    os.environ["SIMKIT_TEST_SETUP_PID"] = str(os.getpid())


def test_workers_started_early_are_forked_after_the_setup(reference, tmp_path):
    """start_workers with a setup: (on Linux) the setup runs here once and the workers
    are forked from this process; the run uses them, then they are gone."""
    from simkit.runner import montecarlo
    os.environ.pop("SIMKIT_TEST_SETUP_PID", None)
    job = Job("pids-forked", 1, 8, 1, ("pid",), frozenset({"pid"}),
              functools.partial(toy.pid_chunk, sleep=0.2), {}, None, {},
              seconds_per_replicate=10.0, worker_setup=_pid_setup)
    assert montecarlo.start_workers(2, _pid_setup, seconds=80.0)
    if montecarlo._can_fork():
        assert os.environ["SIMKIT_TEST_SETUP_PID"] == str(os.getpid())   # ran here, before the fork
        procs = list(montecarlo._forked[2]._processes.values())
        assert len(procs) == 2
    run(job, tmp_path / "p", jobs=2, progress=False)
    pids = _pids_store(tmp_path / "p")
    assert len(pids) == 2 and os.getpid() not in pids
    assert montecarlo._forked is None
    if montecarlo._can_fork():
        assert {p.pid for p in procs} == pids
        for p in procs:
            p.join(5)
            assert not p.is_alive()
    # and nothing started for a run that stays in this process
    assert not montecarlo.start_workers(2, _pid_setup, seconds=0.1)
    assert montecarlo._forked is None
