"""The facade: :class:`ScoreModel`, a scikit-learn-style estimator, and :func:`load`."""
from .score_model import NotFittedError, ScoreModel, load

__all__ = ["ScoreModel", "load", "NotFittedError"]
