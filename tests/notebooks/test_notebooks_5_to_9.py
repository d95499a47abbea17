"""Notebooks 5-9 (see test_notebooks_1_to_4.py; a second file so that xdist's loadfile
spreads the notebooks over both workers)."""
import pytest
from notebook_runner import NAMES, execute_notebook, has_figure, outputs_of


@pytest.mark.parametrize("name", NAMES[4:])
def test_notebook_runs_and_its_exercise_checks_out(name, monkeypatch):
    nb = execute_notebook(name, monkeypatch)
    assert has_figure(nb)
    assert outputs_of(nb).rstrip().endswith("correct")
