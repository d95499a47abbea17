"""The layering that scorelab/__init__.py states: no layer imports one above it, the math never
imports matplotlib, ``import scorelab`` loads and sets nothing, and the previous release's
module names still import (with a DeprecationWarning) and hand over the moved names."""
import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import scorelab

SRC = Path(scorelab.__file__).parent
# Lowest first, as scorelab/__init__.py lists them; viz is kept apart from the math (checked
# below by running it). sde (the diffusions, on the contract) and interop (other libraries'
# networks as score functions) sit with nn: none reads another. Some layers share a rank, and one
# of each pair may read the other: the evaluation report reads data, the CLI runs the experiments
# and the playground, the playground takes its failure-mode presets from the experiments.
RANK = {"core": 0, "distributions": 1, "nn": 2, "sde": 2, "interop": 2, "samplers": 3, "objectives": 4,
        "evaluation": 5, "data": 5, "training": 6, "estimator": 7, "cli": 8, "experiments": 8, "playground": 8}
SIDEWAYS = {("evaluation", "data"), ("cli", "experiments"), ("cli", "playground"), ("playground", "experiments")}


def _imported_layers(path: Path):
    """The scorelab packages (first component under scorelab/) that ``path`` imports."""
    here = path.relative_to(SRC).parts[:-1]  # the package path of the module
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[1] for a in node.names if a.name.startswith("scorelab."))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "scorelab":
                    yield from ([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
                continue
            base = list(here[:len(here) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            yield from (target[:1] if target else [a.name for a in node.names])


def test_no_layer_imports_a_layer_above_it():
    upward = set()
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        rel = path.relative_to(SRC)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        if layer not in RANK:
            continue
        for other in _imported_layers(path):
            if other in RANK and other != layer and RANK[other] >= RANK[layer] and (layer, other) not in SIDEWAYS:
                upward.add((rel.as_posix(), other))
    assert not upward, sorted(upward)


def test_core_never_imports_matplotlib():
    code = """
import importlib, pkgutil, sys
import scorelab
names = []
for top in pkgutil.iter_modules(scorelab.__path__, "scorelab."):
    if top.name.split(".")[1] in ("viz", "cli", "experiments", "__main__"):
        continue  # walk_packages would import these too
    names.append(top.name)
    if top.ispkg:
        try:
            package = importlib.import_module(top.name)
            names += [m.name for m in pkgutil.walk_packages(package.__path__, top.name + ".")]
        except Exception:
            pass  # a broken module is another test's business
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(len(names) > 5, "matplotlib" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True False", out.stderr


def test_importing_scorelab_loads_nothing_and_sets_nothing():
    code = """
import os, sys
before = dict(os.environ)
import scorelab
loaded = sorted(m for m in sys.modules if m.startswith("scorelab.") and m not in scorelab._compat.MOVED)
print("torch" in sys.modules, dict(os.environ) == before, loaded)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False True ['scorelab._compat', 'scorelab._version']", out.stderr


@pytest.mark.parametrize("old, name, new", [
    ("metrics", "energy_distance", "scorelab.evaluation.metrics"),
    ("sampling", "run_sampler", "scorelab.samplers.named"),
    ("inpaint", "inpaint", "scorelab.samplers.inpainting"),
    ("frechet", "frechet_distance", "scorelab.evaluation.frechet"),
    ("utils", "broadcast_like", "scorelab.core.contract"),
])
def test_old_module_names_warn_and_hand_over_the_moved_name(old, name, new):
    import importlib

    module = importlib.import_module(f"scorelab.{old}")
    with pytest.warns(DeprecationWarning, match=new):
        obj = getattr(module, name)
    assert obj is getattr(importlib.import_module(new), name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            getattr(module, "no_such_name")
