"""Analytic truth and toy data: Gaussian mixtures at any noise level, and 2-D (or few-D) toys."""
from .gaussian_mixture import GaussianMixture
from .toys import (
    LECTURE_MODES,
    LECTURE_WEIGHTS,
    TOYS,
    Checkerboard,
    Curve,
    Rings,
    SwissRoll,
    TwoMoons,
    eight_gaussians,
    get_toy,
    lecture,
)

__all__ = [
    "GaussianMixture",
    "LECTURE_MODES",
    "LECTURE_WEIGHTS",
    "TOYS",
    "Checkerboard",
    "Curve",
    "Rings",
    "SwissRoll",
    "TwoMoons",
    "eight_gaussians",
    "get_toy",
    "lecture",
]
