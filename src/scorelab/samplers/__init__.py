"""Samplers: small pure functions on the contract ``score_fn(x, sigma)``.

Each takes ``(score_fn, x_init, schedule..., *, generator=None, callback=None)``, returns the
samples (and a :class:`SamplerInfo` with the NFE and, on request, the trajectory when
``return_info=True``). None is wrapped in ``no_grad``: an energy model's score needs autograd.

- ``langevin.py``: plain and annealed Langevin dynamics;
- ``mala.py``: the Metropolis-adjusted Langevin algorithm (and its single transition);
- ``ode.py``: the probability-flow ODE (Euler, Heun, DPM-Solver++(2M), adaptive) and
  predictor–corrector sampling of the reverse SDE;
- ``sde.py``: the SDE view: Euler–Maruyama and predictor–corrector on the reverse SDE of
  VE, VP or sub-VP, DDPM's ancestral sampler and DDIM (with η) on a σ̃ schedule;
- ``inpainting.py``: annealed Langevin constrained to known coordinates;
- ``guidance.py``: conditional scores (classifier-free and classifier guidance) as closures;
- ``schedules.py``: noise schedules and NCSNv2's rules for choosing them;
- ``named.py``: the samplers by name, with the defaults the estimator and the CLI use.
"""
from ._base import SamplerInfo, tweedie_denoise
from .guidance import classifier_free_guidance, classifier_guidance, conditional_score
from .inpainting import inpaint
from .langevin import annealed_langevin, langevin
from .mala import mala, mala_step
from .ode import dpmpp_2m, euler, heun, ode_adaptive, predictor_corrector
from .sde import ddim, ddpm, euler_maruyama, probability_flow, sde_predictor_corrector, sde_sigmas, sde_times
from .schedules import (geometric_sigmas, karras_sigmas, max_pairwise_distance,
                        ncsnv2_num_levels, ncsnv2_ratio, ncsnv2_step_size)

__all__ = ["langevin", "annealed_langevin", "mala", "mala_step", "tweedie_denoise", "inpaint",
           "SamplerInfo", "geometric_sigmas", "karras_sigmas", "max_pairwise_distance",
           "ncsnv2_ratio", "ncsnv2_num_levels", "ncsnv2_step_size",
           "euler", "heun", "dpmpp_2m", "ode_adaptive", "predictor_corrector",
           "classifier_free_guidance", "classifier_guidance", "conditional_score",
           "euler_maruyama", "probability_flow", "sde_predictor_corrector", "ddim", "ddpm", "sde_times", "sde_sigmas"]
