"""Experiments: each makes one claim of the lecture on score-based models runnable.

An experiment is a module with a one-line ``DESCRIPTION``, the ``CLAIM`` it shows, and
``run(out_dir: Path, quick: bool, seed: int) -> dict`` that writes its figures into
``out_dir`` and returns its metrics (plain JSON-able values). :func:`run_experiment`
creates the folder, runs it and writes ``metrics.json`` next to the figures.
"""
from pathlib import Path

from . import ebm_training, noise_levels, score_field, sliced_vs_exact
from . import dsm_sigma, low_density, manifold, mixture_weights
from ._common import record_run

EXPERIMENTS = {
    "score-field": score_field,
    "sliced-vs-exact": sliced_vs_exact,
    "noise-levels": noise_levels,
    "ebm-training": ebm_training,
    "dsm-sigma": dsm_sigma,
    "manifold": manifold,
    "low-density": low_density,
    "mixture-weights": mixture_weights,
}


def list_experiments() -> list[dict]:
    """``[{"name", "description", "claim"}, ...]`` for every experiment (for ``--list``)."""
    return [{"name": name, "description": module.DESCRIPTION, "claim": module.CLAIM}
            for name, module in EXPERIMENTS.items()]


def run_experiment(name: str, out_root="runs/experiments", quick: bool = False, seed: int = 0) -> dict:
    """Run the experiment ``name`` into ``out_root/name/`` and return its metrics.

    The metrics, with a ``"run"`` entry added (name, quick, seed, wall-clock seconds, torch
    threads), are written to ``out_root/name/metrics.json`` (pretty, sorted keys).
    ``quick=True`` runs a reduced version (seconds, for tests and smoke runs).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return record_run(name, EXPERIMENTS[name].run, Path(out_root) / name, quick, seed)


__all__ = ["EXPERIMENTS", "list_experiments", "run_experiment"]
