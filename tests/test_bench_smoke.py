"""Every benchmark script still runs (at a trivial size), so they do not rot.

Nothing here asserts a speed: the figures live in benchmarks/results and
benchmarks/README.md.  What is asserted is what would make a benchmark lie:
the stage profiler computes exactly what run_chunk computes, the peer agrees
with simkit on the replicates both computed, and every script writes its JSON
(with the machine and the command).
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))


def _doc(path):
    d = json.loads(Path(path).read_text())
    assert d["machine"]["logical_cpus"] >= 1 and d["command"] and "uptime" in d["load_at_end"]
    return d


def test_profile_and_limit(tmp_path):
    import bench_profile
    res = bench_profile.main(["--replicates", "12", "--fresh-replicates", "2", "--limit-replicates", "2",
                              "--chunks", "20", "--results-dir", str(tmp_path)])
    for case in ("fixed", "fresh"):
        c = res["cases"][case]
        assert c["profile_rows_equal_run_chunk"], f"stages.profile_chunk drifted from run_chunk ({case})"
        assert c["limit_us"] > 0 and all(v >= 0 for v in c["stages_us"].values())
    _doc(tmp_path / "profile.json")


@pytest.mark.parametrize("kw", [{}, {"match_choice": "worst"}, {"match_order": "optimal", "firth": True},
                                {"pool_policy": "block", "pool_block_size": 2, "match_choice": "random",
                                 "match_order": "hardest_first"}, {"match_choice": "worst", "pool_policy": "replicate"}])
def test_profiled_chunk_is_run_chunk(kw):
    import stages as S
    from simkit.world import model as world
    from simkit.design.replicate import Design, run_replicates
    from simkit.kernels import replicate as R
    theta = world.build_theta()
    d = Design(pool_size=800, n_treated=25, **kw)
    out = np.empty((5, R.N_OUT))
    T = np.zeros(S.N_STAGES)
    S.profile_chunk(theta, d.vector(), np.uint64(3), np.uint64(1), 4, 9, out, T)
    ref = run_replicates(theta, d, 3, 1, 4, 9)
    assert np.array_equal(np.isnan(out), np.isnan(ref)) and np.array_equal(out[~np.isnan(out)], ref[~np.isnan(ref)])
    assert T.sum() > 0


def test_replicate_vs_peer(tmp_path):
    import bench_replicate
    rows = bench_replicate.main(["--peer-reps", "1", "--seconds", "0.05", "--cases", "fixed",
                                 "--pool-size", "1500", "--results-dir", str(tmp_path)])
    ag = rows[0]["agreement"]
    assert ag["agree"] and ag["matched_pairs_identical"] == ag["replicates_compared"] == 1
    assert rows[0]["ratio"] > 0
    _doc(tmp_path / "replicate.json")


def test_scaling_quick(tmp_path):
    import bench_scaling
    res = bench_scaling.main(["--quick", "--pools", "fixed", "--results-dir", str(tmp_path)])
    assert res["memory"][0]["peak_rss_tree_mib"] > 0
    assert {r["pool_size"] for r in res["pool"]} == {1000, 3000}
    _doc(tmp_path / "scaling_quick.json")
    assert (tmp_path / "scaling_quick.png").stat().st_size > 10_000


def test_startup_warm(tmp_path):
    import bench_startup
    res = bench_startup.main(["--no-cold", "--repeats", "1", "--pool-size", "500",
                              "--results-dir", str(tmp_path)])
    assert set(res["import_s"]) == {"simkit", "simkit.design.replicate", "simkit.cli"} and "warm" in res
    _doc(tmp_path / "startup.json")


def test_whole_command(tmp_path):
    import bench_command
    res = bench_command.main(["--repeats", "1", "--large-repeats", "1", "--small", "20", "--large", "600",
                              "--priors", "300", "--results-dir", str(tmp_path)])
    assert res["small"]["runs"][0]["report"].startswith(tuple("/.s"))
    assert res["large"]["600"]["replicates_per_s_best"] > 0 and res["priors"]["cpu_s_median"] > 0
    d = _doc(tmp_path / "command.json")
    assert d["targets"]["small_wall_s"] == 1.5


def test_existing_scripts(tmp_path):
    import bench_analysis
    import bench_world
    r = bench_analysis.main(["--tables", "2", "--peer-tables", "1", "--json", str(tmp_path / "a.json")])
    assert r["ratio"] > 0
    bench_world.main(["--repeats", "2"])


def test_targets_table_reads_every_figure_from_the_results():
    import targets
    rows = targets.rows(BENCH / "results")
    assert len(rows) >= 12
    # the committed results hold a measurement of every target
    assert [r[0] for r in rows if r[1] == "n/a"] == []
    assert all(r[4].endswith(tuple("0123456789")) for r in rows)  # file + date of the run


def test_targets_table_without_results(tmp_path):
    import targets
    rows = targets.rows(tmp_path)
    assert all(r[1] == "n/a" and r[3] is None and r[4].endswith("missing") for r in rows)
    assert "| figure | measured | target | met | from |" in targets.table(tmp_path)


def test_targets_run_passes_the_results_dir(tmp_path, monkeypatch, capsys):
    import targets
    monkeypatch.setattr(targets, "RUNS", [(["bench_startup.py", "--no-cold", "--repeats", "1"], True)])
    assert targets.main(["--run", "--results-dir", str(tmp_path)]) == 0
    assert (tmp_path / "startup.json").exists()
    row = next(r for r in targets.rows(tmp_path) if r[0].startswith("import simkit"))
    assert row[3] is not None and row[4].startswith("startup.json 20")


def test_grid_end_to_end(tmp_path):
    import bench_grid
    res = bench_grid.main(["--reps", "2", "--jobs", "1", "--results-dir", str(tmp_path)])
    assert res["complete"] and res["conditions"] == 100 and res["replicates"] == 200
    assert res["summarized_conditions"] == 100
    _doc(tmp_path / "grid.json")
