"""scorelab: energy-based and score-based generative models, proven against closed forms.

Layers, lowest first: ``distributions`` (analytic truth, toy data) → ``nn`` (networks) →
``samplers`` → ``objectives`` → ``metrics`` → ``training`` → ``estimator`` / ``cli`` /
``experiments``. Plots live in ``viz`` (matplotlib), apart from the math.
"""
__version__ = "0.1.0"

from .estimator import ScoreModel, load  # noqa: E402

__all__ = ["ScoreModel", "load", "__version__"]
