"""The public API of `import simkit` and the one table of the analyst's choices."""
import math
import subprocess
import sys

import numpy as np
import pytest

import simkit
from simkit.design import choices as CH
from simkit.errors import InputError


def test_every_public_name_resolves():
    for name in simkit.__all__:
        assert getattr(simkit, name) is not None, name
    with pytest.raises(AttributeError):
        simkit.no_such_thing  # noqa: B018


def test_import_simkit_is_lazy():
    code = "import sys, simkit; print('numpy' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_one_vocabulary_for_the_choices():
    """Scenario keys, Design fields and match_cohorts keywords are the table's names."""
    from simkit.runner.scenario import SECTIONS
    names = {c.name for c in CH.CHOICES if c.section == "design"}
    assert set(SECTIONS["design"]) == names
    d = simkit.Design()
    assert set(d.values()) == {c.name for c in CH.CHOICES}
    for c in CH.CHOICES:
        assert getattr(d, c.name) == (tuple(c.default) if c.kind == "subset" else c.default)
    import inspect
    params = inspect.signature(simkit.match_cohorts).parameters
    for n in ("exact", "caliper", "match_choice", "match_order"):
        assert params[n].default == CH.CHOICE[n].default


@pytest.mark.parametrize("choice", CH.CHOICES, ids=lambda c: c.name)
def test_each_choice_refuses_a_bad_value_naming_itself(choice):
    bad = {"int": 0.5, "float": "wide", "bool": 1, "choice": "nope", "subset": ["nope"]}[choice.kind]
    with pytest.raises(InputError) as e:
        simkit.Design(**{choice.name: bad})
    assert choice.name in e.value.where
    assert choice.allowed().split()[0] in str(e.value) or "unknown name" in str(e.value)


def test_design_vector_slots():
    from simkit.kernels import matching as KM
    from simkit.kernels import replicate as R
    v = simkit.Design(match_order="optimal", match_choice="worst", caliper=math.inf, exact=("sex",)).vector()
    assert v[R.D_POLICY] == KM.OPTIMAL and v[R.D_ORDER] == KM.AS_GIVEN and v[R.D_CALIPER] == math.inf
    assert v[R.D_EXACT0:R.D_EXACT0 + 5].tolist() == [1, 0, 0, 0, 0]
    v = simkit.Design(match_order="hardest_first", match_choice="random", pool_policy="block",
                      pool_block_size=7, firth=True).vector()
    assert (v[R.D_POLICY], v[R.D_ORDER], v[R.D_BLOCK_SIZE], v[R.D_FIRTH]) == (KM.RANDOM, KM.HARDEST_FIRST, 7, 1)
    # every slot is finite by default except the remedies, which are off at inf
    v = simkit.Design().vector()
    off = slice(R.D_XCAL0, R.D_XCAL0 + 3)
    assert np.all(np.isfinite(np.delete(v, np.arange(R.N_DESIGN)[off]))) and np.all(v[off] == math.inf)
    v = simkit.Design(caliper_duration=2.0, caliper_total=0.0).vector()
    assert v[off].tolist() == [2.0, math.inf, 0.0]


def test_scenario_readme_lists_the_table():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "scenarios" / "README.md").read_text()
    for c in CH.CHOICES:
        assert f"`{c.name}`" in text, c.name


def test_store_docs_list_every_output_field():
    from pathlib import Path

    from simkit.kernels.outputs import markdown
    text = (Path(__file__).resolve().parents[1] / "docs" / "store.md").read_text()
    block = text.split("<!-- fields:start -->")[1].split("<!-- fields:end -->")[0]
    assert block.strip() == markdown().strip()


def test_match_command_default_exact_is_the_choices_default():
    from simkit.commands import match
    assert match.DEFAULT_EXACT == CH.CHOICE["exact"].default
