"""Diffusions as stochastic differential equations (Song et al. 2021): VE, VP, sub-VP.

A diffusion with kernel x_t = s(t)(x₀ + σ̃(t)z) is the contract's model at σ̃ = σ(t)/s(t)
(Karras et al. 2022): ``SDE.score(score_fn, x, t) = score_fn(x/s, σ̃)/s``. So the SDEs add
no second contract; the samplers that need t (Euler–Maruyama, predictor–corrector) live in
``scorelab.samplers.sde``, the continuous-time objectives in ``scorelab.objectives.continuous``.
"""
from .processes import SDE, SDES, VE, VP, SubVP, make_sde

__all__ = ["SDE", "SDES", "VE", "VP", "SubVP", "make_sde"]
