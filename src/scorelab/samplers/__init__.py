"""Samplers: small pure functions on the contract ``score_fn(x, sigma)``.

Each takes ``(score_fn, x_init, schedule..., *, generator=None, callback=None)``, returns the
samples (and a :class:`SamplerInfo` with the NFE and, on request, the trajectory when
``return_info=True``). None is wrapped in ``no_grad``: an energy model's score needs autograd.
"""
from ._base import SamplerInfo
from .langevin import annealed_langevin, langevin, tweedie_denoise
from .mala import mala
from .ode import dpmpp_2m, euler, heun, ode_adaptive, predictor_corrector
from .schedules import (geometric_sigmas, karras_sigmas, max_pairwise_distance,
                        ncsnv2_num_levels, ncsnv2_ratio, ncsnv2_step_size)

__all__ = ["langevin", "annealed_langevin", "mala", "tweedie_denoise", "SamplerInfo",
           "geometric_sigmas", "karras_sigmas", "max_pairwise_distance", "ncsnv2_ratio",
           "ncsnv2_num_levels", "ncsnv2_step_size",
           "euler", "heun", "dpmpp_2m", "ode_adaptive", "predictor_corrector"]
