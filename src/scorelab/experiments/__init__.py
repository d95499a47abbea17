"""Experiments: each makes one claim of the lecture on score-based models runnable.

An experiment is a module with a one-line ``DESCRIPTION``, the ``CLAIM`` it shows,
``run(out_dir: Path, quick: bool, seed: int, **options) -> dict`` that writes its figures into
``out_dir`` and returns its metrics (plain JSON-able values), and optionally
``summary(metrics) -> list[str]``, the lines ``scorelab experiment`` prints. ``EXPERIMENTS``
registers each under its name, with the options of that entry (the five-seed check of
contrastive divergence is ``ebm-training`` with ``cd_seeds=5``); :func:`run_experiment`
creates the folder, runs it and writes ``metrics.json`` next to the figures. A new experiment
is a module here and one line in ``EXPERIMENTS``.
"""
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from . import dsm_sigma, ebm_training, guidance, images, low_density, manifold, mixture_weights, noise_levels
from . import score_field, sde, sliced_vs_exact
from ._common import record_run


@dataclass(frozen=True)
class Experiment:
    module: ModuleType
    options: dict = field(default_factory=dict)
    description: str | None = None  # default: the module's DESCRIPTION

    def summary(self, metrics: dict) -> list[str]:
        return getattr(self.module, "summary", lambda m: [])(metrics)


EXPERIMENTS = {
    "score-field": Experiment(score_field),
    "sliced-vs-exact": Experiment(sliced_vs_exact),
    "noise-levels": Experiment(noise_levels),
    "ebm-training": Experiment(ebm_training),
    "ebm-training-5-seeds": Experiment(ebm_training, {"cd_seeds": ebm_training.SWEEP_SEEDS},
                                       "ebm-training with the contrastive-divergence claim checked "
                                       "over five seeds (every method fitted on every seed)."),
    "dsm-sigma": Experiment(dsm_sigma),
    "manifold": Experiment(manifold),
    "low-density": Experiment(low_density),
    "mixture-weights": Experiment(mixture_weights),
    "digits": Experiment(images, {"data": "digits"}, images.DIGITS_DESCRIPTION),
    "mnist": Experiment(images, {"data": "mnist"}),
    "guidance": Experiment(guidance, {"data": "digits"}),
    "guidance-mnist": Experiment(guidance, {"data": "mnist"}, "guidance on 28×28 MNIST (an hour of training "
                                 "on two cores)."),
    "sde": Experiment(sde),
    "sde-likelihood": Experiment(sde, {"models": ("vp", "vp-likelihood"), "datasets": ("digits",), "digits_steps": 6000},
                                 "sde's likelihood-weighting question at the default digits budget: VP with "
                                 "lambda = sigma^2 and lambda = g^2, 6000 steps each."),
}


def list_experiments() -> list[dict]:
    """``[{"name", "description", "claim"}, ...]`` for every experiment (for ``--list``)."""
    return [{"name": name, "description": e.description or e.module.DESCRIPTION, "claim": e.module.CLAIM}
            for name, e in EXPERIMENTS.items()]


def run_experiment(name: str, out_root="runs/experiments", quick: bool = False, seed: int = 0) -> dict:
    """Run the experiment ``name`` into ``out_root/name/`` and return its metrics.

    The metrics, with a ``"run"`` entry added (name, quick, seed, options, wall-clock seconds,
    torch threads), are written to ``out_root/name/metrics.json`` (pretty, sorted keys).
    ``quick=True`` runs a reduced version (seconds, for tests and smoke runs).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    e = EXPERIMENTS[name]
    return record_run(name, e.module.run, Path(out_root) / name, quick, seed, **e.options)


__all__ = ["EXPERIMENTS", "Experiment", "list_experiments", "run_experiment"]
