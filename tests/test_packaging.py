"""A plain (non-editable) install works from any directory (issue 15).

The wheel is built from this tree and installed, without dependencies, into a
fresh venv that sees the running environment's packages through a .pth file
(offline, and no second copy of numpy & co.); then `simkit audit --reps 20`
runs from an empty directory, which needs the scenarios shipped in the wheel.
"""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_scenarios_are_the_shipped_ones():
    shipped = ROOT / "simkit" / "scenarios"
    top = ROOT / "scenarios"
    assert shipped.resolve() == top.resolve()   # one folder, linked: they cannot drift apart
    assert sorted(p.name for p in shipped.glob("*.toml")) == sorted(p.name for p in top.glob("*.toml"))
    from simkit.report.audit import scenario_dir
    assert (scenario_dir() / "seed-design.toml").is_file()


def build_wheel(out: Path) -> Path:
    """The wheel of this tree: without build isolation when the running setuptools
    can (offline), else with it (pip fetches setuptools>=68)."""
    try:
        import setuptools
        import wheel  # noqa: F401 - bdist_wheel for setuptools < 70.1
        local = True
    except ImportError:
        local = int(setuptools.__version__.split(".")[0]) >= 71
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)]
    r = subprocess.run(cmd + (["--no-build-isolation"] if local else []),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    [whl] = out.glob("simkit-*.whl")
    return whl


def fresh_install(whl: Path, where: Path):
    """Install the wheel into a new venv under `where` that sees the running
    environment's dependencies; returns (its python, its simkit script, env)."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the running environment's dependencies (not its simkit: .pth files there are not
    # processed; --ignore-installed: pip would see its metadata and install nothing)
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--ignore-installed", str(whl)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    where_ = subprocess.run([str(py), "-c", "import simkit; print(simkit.__file__)"], cwd=where,
                            env=env, capture_output=True, text=True, check=True).stdout
    assert where_.startswith(site), where_      # the installed copy, not this tree
    return py, venv / "bin" / "simkit", env


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_audit_from_an_empty_directory(tmp_path):
    whl = build_wheel(tmp_path / "dist")
    py, simkit, env = fresh_install(whl, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([str(simkit), "audit", "--reps", "20", "--jobs", "2", "--quiet"],
                       cwd=empty, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert (empty / "audit-report" / "report.md").is_file()


# The layers of docs/modules.md, lowest first: a module may import its own layer and
# the layers ranked below it, never one above (function-level imports included).
LAYER_RANK = {"errors": 0, "kernels": 1, "world": 2, "analysis": 3, "design": 4, "runner": 5, "paper": 5,
              "sensitivity": 6, "report": 7, "realdata": 8, "inference": 8, "api": 9, "commands": 10, "cli": 10,
              "__init__": 11}


def test_imports_flow_one_way_between_layers():
    import ast
    from pathlib import Path
    import simkit
    root = Path(simkit.__file__).parent
    bad = []
    for p in sorted(root.rglob("*.py")):
        layer = p.relative_to(root).with_suffix("").parts[0]
        assert layer in LAYER_RANK, f"{p}: a module outside the documented layers"
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level:
                assert layer in ("kernels", "paper"), f"{p}:{node.lineno}: relative import outside kernels/claims"
                mods = []
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                parts = m.split(".")
                if parts[0] != "simkit" or len(parts) == 1:
                    continue
                target = parts[1]
                if target == "__version__":
                    continue
                rank, mine = LAYER_RANK[target], LAYER_RANK[layer]
                if rank > mine or (rank == mine and target != layer):
                    bad.append(f"{p.relative_to(root)}:{node.lineno} ({layer}) imports {m}")
    assert bad == []


def test_every_subpackage_says_what_it_holds():
    from pathlib import Path
    import simkit
    root = Path(simkit.__file__).parent
    top = [p.stem for p in root.glob("*.py")]
    assert len(top) <= 6, f"top-level modules creep back: {top}"
    for init in root.glob("*/__init__.py"):
        doc = init.read_text().strip()
        assert doc.startswith('"""') and len(doc) > 200, f"{init}: no paragraph saying what it holds"
