"""Every notebook in notebooks/ runs from top to bottom at a small size.

Each notebook's first code cell is tagged `parameters` (papermill's convention) and
sets REPS, OUT and JOBS; like papermill, the test inserts a cell after it that sets
small values, then executes the notebook in a fresh kernel with nbclient and fails
on the first cell that raises.  The notebooks are committed without outputs.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
EXPECTED = ["01-bias-distributions.ipynb", "02-decomposition.ipynb", "03-power.ipynb", "04-caliper.ipynb",
            "05-bring-your-own-csv.ipynb", "06-audit-a-paper.ipynb"]
PARAMETERS = {"REPS", "OUT", "JOBS"}
CI_REPS = 30          # replicates per condition in CI: enough for every cell to run, not for the numbers


def _parameters_cell(nb):
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    i = tagged[0]
    assert nb.cells[i].cell_type == "code"
    first_code = next(k for k, c in enumerate(nb.cells) if c.cell_type == "code")
    assert i == first_code, "the parameters cell must be the first code cell"
    return i


def test_the_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_clean_with_parameters(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, f"{path.name}: clear the outputs before committing"
    src = nb.cells[_parameters_cell(nb)].source
    names = {t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets}
    assert names == PARAMETERS
    # the defaults: a small REPS and a temporary OUT
    ns: dict = {}
    exec(src, ns)
    assert isinstance(ns["REPS"], int) and 20 <= ns["REPS"] <= 1000
    assert ns["OUT"] is None and ns["JOBS"] in (1, 2)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    i = _parameters_cell(nb)
    injected = nbformat.v4.new_code_cell(f"REPS = {CI_REPS}\nOUT = {str(tmp_path)!r}\nJOBS = 1")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(i + 1, injected)
    # "python3" is ipykernel's spec; jupyter_client starts it with this interpreter (sys.executable)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()   # raises CellExecutionError, naming the cell, if any cell fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 1, f"{path.name} drew no figure"
    assert any(tmp_path.iterdir()), "the notebook should write its stores under OUT"
