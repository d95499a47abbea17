"""scorelab: energy-based and score-based generative models, proven against closed forms.

Layers, lowest first: ``distributions`` (analytic truth, toy data) → ``nn`` (networks) →
``samplers`` → ``objectives`` → ``metrics`` → ``training`` → ``estimator`` / ``cli`` /
``experiments``. Plots live in ``viz`` (matplotlib), apart from the math.
"""
import os

# Small tensor ops on few cores: a busy-waiting OpenMP pool next to another busy process can be
# 50x slower. Passive waiting costs nothing measurable here; set it before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .estimator import ScoreModel, load  # noqa: E402

__all__ = ["ScoreModel", "load", "__version__"]
