"""The lecture's notebooks (notebooks/*.ipynb), executed in a fresh kernel each.

Two test files split them, because the suite runs with ``--dist loadfile`` (one file per
xdist worker): each half runs on its own worker. ``OMP_NUM_THREADS=1`` is set for the kernels,
as for the test processes (2 cores, 2 workers).
"""
import importlib.util
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def load_build():
    """notebooks/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("notebook_build", NOTEBOOK_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NAMES = list(load_build().NOTEBOOKS)


def execute_notebook(name: str, monkeypatch):
    """Run ``name``.ipynb; fail with the cell's error if any cell raises. Returns the executed notebook."""
    pytest.importorskip("nbclient", reason="the notebooks need the test extra (nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="the notebooks need the test extra (nbclient, ipykernel)")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return load_build().execute(NOTEBOOK_DIR / f"{name}.ipynb", timeout=240)


def outputs_of(nb) -> str:
    """Every stream output of the executed notebook, joined."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def has_figure(nb) -> bool:
    return any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
