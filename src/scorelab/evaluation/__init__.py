"""How good a model is: metrics against the truth and against data, likelihoods, partition
functions, and the evaluation report of a fitted model.

- ``metrics.py``: energy distance, mode fractions, relative Fisher divergence;
- ``frechet.py``: the Fréchet distance between feature sets;
- ``likelihood.py``: exact log-likelihoods through the probability-flow ODE, bits/dim;
- ``partition.py``: an energy model's log Z (grid quadrature, annealed importance sampling);
- ``images.py``: digit samples judged by the digit classifier's features;
- ``report.py``: :func:`evaluate`, the report of ``scorelab eval``, and the per-model
  likelihoods behind ``ScoreModel.score_samples``.

Everything but ``images.py`` and ``report.py`` works on tensors and score functions alone and
imports no data; those two are imported on first use of their names here.
"""
import importlib

from .frechet import frechet_distance
from .likelihood import bits_per_dim, ode_log_likelihood, sde_log_likelihood
from .metrics import energy_distance, mode_fractions, relative_fisher_divergence
from .partition import ais_log_partition, grid_log_partition, negative_log_likelihood

_LATE = {"evaluate": "report", "image_bits_per_dim": "report", "energy_nll": "report",
         "log_likelihood": "report", "sample_quality": "report", "denoising_loss_per_sigma": "report",
         "quantisation_levels": "report", "digit_report": "images",
         "mnist_report": "images", "image_report": "images"}


def __getattr__(name):
    if name in _LATE:
        return getattr(importlib.import_module(f".{_LATE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["sde_log_likelihood", "energy_distance", "mode_fractions", "relative_fisher_divergence", "frechet_distance",
           "ode_log_likelihood", "bits_per_dim", "grid_log_partition", "ais_log_partition",
           "negative_log_likelihood", *_LATE]
