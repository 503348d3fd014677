"""The two-process compilation of a fresh install (simkit/kernels/warmup.py).

One test compiles everything from an empty numba cache in a new interpreter
(about 25 s on 2 cores): the helper process's analysis kernels must be loaded
from the cache, not compiled again, by the loop; every world kernel must be
compiled once (a signature in warmup.py that differed from the loop's call
would compile it a second time); a second interpreter compiles nothing.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from simkit.kernels import warmup
from simkit.kernels import seedanalysis as SA

PROBE = r"""
import json
from numba.core import event as ev
compiled = []
class L(ev.Listener):
    def on_start(self, e):
        f = e.data["dispatcher"].py_func
        compiled.append(f.__module__ + "." + f.__name__)
    def on_end(self, e):
        pass
ev.register("numba:compile", L())
from simkit.kernels import warmup
from simkit.world import model as world
from simkit.design import replicate as D
cold = warmup.is_cold()
secs = warmup.warm_up()
rows = D.run_replicates(world.build_theta(), D.Design(pool_size=2000), 7, 0, 0, 3)
print(json.dumps({"cold": cold, "secs": secs, "compiled": compiled, "rows": rows.tolist()}))
"""


def _probe(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_cold_cache_compiles_each_kernel_once_and_in_two_processes(tmp_path):
    first = _probe(tmp_path)
    assert first["cold"] and first["secs"] > 0
    ours = [n for n in first["compiled"] if n.startswith("simkit.")]
    analysis_modules = ("seedanalysis", "cox", "km", "logrank", "logistic", "ols", "signedrank",
                        "chi2", "distributions", "linalg")
    # the helper compiled these; the loop loaded them from the cache
    assert not [n for n in ours if n.split(".")[2] in analysis_modules], ours
    counts = collections.Counter(ours)
    for name in ("simkit.kernels.treated._cohort", "simkit.kernels.treated._applicant",
                 "simkit.kernels.pool.pool_baseline", "simkit.kernels.pool.pool_outcomes",
                 "simkit.kernels.matching.prepare_pool_grid", "simkit.kernels.matching.match_prepared_offsets",
                 "simkit.kernels.replicate.run_chunk"):
        assert counts[name] == 1, (name, counts[name])
    second = _probe(tmp_path)
    assert not second["cold"] and second["secs"] == 0.0
    assert not [n for n in second["compiled"] if n.startswith("simkit.")], second["compiled"]
    # and the numbers do not depend on where the kernels were compiled
    np.testing.assert_array_equal(np.array(first["rows"]), np.array(second["rows"]))


def test_warmup_cli_rejects_unknown_group(capsys):
    assert warmup.main(["nonsense"]) == 2
    assert "unknown group 'nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 10, 51])
def test_median_kernel_matches_numpy(n):
    rng = np.random.default_rng(n)
    for ties in (False, True):
        x = rng.normal(50, 10, n)
        if ties:
            x = np.round(x / 5) * 5
        got = SA.median(x)
        if n == 0:
            assert np.isnan(got)
        else:
            assert got == np.median(x)
    if n:
        x = rng.normal(size=n)
        x[n // 2] = np.nan
        assert np.isnan(SA.median(x))


@pytest.mark.parametrize("helper", ["/nonexistent/python", "/bin/false"])
def test_a_helper_that_cannot_start_or_fails_leaves_the_work_to_this_process(helper, monkeypatch):
    # the cache is warm in the test process: compile_group only loads, so this
    # checks the plumbing, not the compile times
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "is_cold", lambda: True)
    monkeypatch.setattr(warmup, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(warmup.sys, "executable", helper)
    compiled = []
    monkeypatch.setattr(warmup, "compile_group", compiled.append)
    assert warmup.warm_up() >= 0.0
    assert compiled == ["world", "loop"]
    # once per process
    assert warmup.warm_up() == 0.0 and compiled == ["world", "loop"]


def test_one_cpu_compiles_everything_here(monkeypatch):
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "is_cold", lambda: True)
    monkeypatch.setattr(warmup, "_usable_cpus", lambda: 1)
    started = []
    monkeypatch.setattr(warmup.subprocess, "Popen", lambda *a, **k: started.append(a))
    compiled = []
    monkeypatch.setattr(warmup, "compile_group", compiled.append)
    warmup.warm_up()
    assert started == [] and compiled == ["world", "loop"]


def test_a_helper_that_hangs_is_killed(monkeypatch, tmp_path):
    monkeypatch.setattr(warmup, "_done", False)
    monkeypatch.setattr(warmup, "is_cold", lambda: True)
    monkeypatch.setattr(warmup, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(warmup, "HELPER_TIMEOUT_S", 0.5)
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setattr(warmup.sys, "executable", str(hang))
    compiled = []
    monkeypatch.setattr(warmup, "compile_group", compiled.append)
    assert warmup.warm_up() < 30
    assert compiled == ["world", "loop"]
