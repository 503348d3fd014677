"""Two findings of the fair-world investigation (2026-12-06), fixed and kept as tests.

1. A [[conditions]] row that sets a list-valued key (design.exact) while another row leaves it
   at the base scenario's value makes `simkit run` stop with an internal error: the base's
   value is a tuple, and runner/grid.py joins only lists into the store's string coordinate,
   so the coordinate is ragged (store._coord_array: np.asarray fails).
2. `simkit summarize` prints, for a store with one fixed registry (pool_policy "condition"),
   MCSEs that are conditional on that registry without saying so (the Dataset's and the
   JSON's mcse_note say it; the text does not).  In the fair world the registry-to-registry
   SD of a fixed registry's mean log HR is about 0.05, eight times the conditional MCSE at
   1,000 replicates: the -0.06 (MCSE 0.009) "bias" a helper reported was one registry's draw.
"""
from simkit.cli import main

BASE = 'seed = 1\nreplicates = 4\n[design]\nn_treated = 20\npool_size = 500\n'


def test_conditions_may_change_a_list_valued_key_in_only_some_rows(tmp_path):
    f = tmp_path / "exact.toml"
    f.write_text(BASE + '[[conditions]]\nlabel = "published exact set"\n'
                        '[[conditions]]\nlabel = "exact on sex only"\n"design.exact" = ["sex"]\n')
    assert main(["run", str(f), "--out", str(tmp_path / "e.zarr"), "--jobs", "1", "--quiet"]) == 0


def test_text_summary_says_when_mcses_are_conditional_on_one_registry(tmp_path, capsys):
    f = tmp_path / "fixed.toml"
    f.write_text(BASE + 'pool_policy = "condition"\n')
    out = tmp_path / "f.zarr"
    assert main(["run", str(f), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["summarize", str(out)]) == 0
    assert "one registry" in capsys.readouterr().out
