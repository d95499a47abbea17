"""Notebooks 1-4 execute without error, draw a figure and pass their exercise check (each ends
its check cell by printing "correct" after asserting against the closed form); the stored
notebooks are exactly what notebooks/build.py writes, without outputs."""
import pytest
from notebook_runner import NAMES, NOTEBOOK_DIR, execute_notebook, has_figure, load_build, outputs_of


@pytest.mark.parametrize("name", NAMES[:4])
def test_notebook_runs_and_its_exercise_checks_out(name, monkeypatch):
    nb = execute_notebook(name, monkeypatch)
    assert has_figure(nb)
    assert outputs_of(nb).rstrip().endswith("correct")


def test_stored_notebooks_are_the_generated_ones_without_outputs():
    build = load_build()
    assert len(NAMES) == 9 and sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NAMES)
    for name in NAMES:
        text = (NOTEBOOK_DIR / f"{name}.ipynb").read_text()
        assert text == build.render(name), f"{name}.ipynb is stale: run python notebooks/build.py"
        assert '"outputs": []' in text and '"image/png"' not in text
