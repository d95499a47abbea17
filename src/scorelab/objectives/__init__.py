"""Objectives: small pure functions ``(score_fn, x, ...) -> scalar loss`` (mean over the batch)."""
from .contrastive_divergence import ReplayBuffer, contrastive_divergence
from .continuous import NOISE_CONDITIONAL, SDE_OBJECTIVES, SDE_WEIGHTINGS, continuous_denoising_score_matching
from .denoising import (denoising_score_matching, log_normal_denoising_score_matching,
                        log_uniform_denoising_score_matching, multiscale_denoising_score_matching)
from .score_matching import exact_score_matching, sliced_score_matching

__all__ = ["exact_score_matching", "sliced_score_matching", "denoising_score_matching",
           "multiscale_denoising_score_matching", "continuous_denoising_score_matching", "SDE_WEIGHTINGS",
           "SDE_OBJECTIVES", "NOISE_CONDITIONAL",
           "log_uniform_denoising_score_matching", "log_normal_denoising_score_matching", "contrastive_divergence", "ReplayBuffer"]
