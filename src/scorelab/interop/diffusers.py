"""A diffusers noise-prediction network with its scheduler, as a scorelab score function.

DDPM's x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε is, divided by √ᾱ_t, the contract's x̃ = x₀ + σ̃z at
σ̃_t = √((1 − ᾱ_t)/ᾱ_t) (Karras et al. 2022, Appendix C.1). So a network ε(x_t, t) gives

    score(x̃, σ̃) = −ε(x̃/√(1 + σ̃²), t(σ̃))/σ̃,

with t(σ̃) the (fractional) training step whose σ̃ it is: linear interpolation of the step
index in log σ̃ over the scheduler's ``alphas_cumprod`` (k-diffusion's ``DiscreteSchedule``
does the same). Every scorelab sampler, likelihood and inpainting path then runs on the
model; DDIM with η = 0 is :func:`scorelab.samplers.euler` on :func:`diffusers_sigmas`.
The adapter reads only ``scheduler.alphas_cumprod``, ``config.prediction_type`` and, for the
schedule, ``timesteps``: diffusers itself is never imported here.
"""
import math

import torch

from ..core import broadcast_like


class DiffusersScore:
    """``score(x, sigma)`` of a diffusers network ``unet`` (called as ``unet(x_t, t).sample``,
    or returning a tensor) trained with ``scheduler``'s ᾱ table.

    ``prediction_type`` (the scheduler's by default): ``"epsilon"`` (score = −ε/σ̃),
    ``"v_prediction"`` (ε = √ᾱ·v + √(1 − ᾱ)·x_t, Salimans & Ho 2022) or ``"sample"``
    (x̂₀: score = (x̂₀ − x̃)/σ̃²), with ᾱ = 1/(1 + σ̃²) of the σ̃ asked for; the network is
    trained on σ̃ in ``sigma_range`` (see :meth:`timestep` for σ̃ outside it).
    """

    def __init__(self, unet, scheduler, prediction_type: str | None = None):
        self.unet = unet
        abar = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float64)
        self.log_sigmas = 0.5 * (torch.log1p(-abar) - torch.log(abar))  # increasing in t
        self.prediction_type = prediction_type or scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"prediction_type {self.prediction_type!r}: expected epsilon, v_prediction or sample")

    @property
    def sigma_range(self) -> tuple[float, float]:
        """(σ̃ of the first training step, σ̃ of the last)."""
        return math.exp(float(self.log_sigmas[0])), math.exp(float(self.log_sigmas[-1]))

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """t(σ̃): the step index, linear in log σ̃ between the table's steps (float64, shape of
        ``sigma``) and continued linearly past either end: adaptive ODE solvers (the likelihood)
        evaluate a little beyond their end point, where the network then sees a t just outside
        [0, N − 1]; stay inside ``sigma_range`` to avoid it."""
        log_sigma = torch.log(sigma.detach().double().cpu())
        i = torch.searchsorted(self.log_sigmas, log_sigma).clamp(1, len(self.log_sigmas) - 1)
        left, right = self.log_sigmas[i - 1], self.log_sigmas[i]
        t = (i - 1) + (log_sigma - left) / (right - left)
        # A σ̃ within float32 rounding of a training step's is that step (diffusers' own t).
        nearest = t.round()
        return torch.where((t - nearest).abs() < 1e-3, nearest, t)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sb = broadcast_like(sigma, x)
        scale = torch.rsqrt(1 + sb**2)  # √ᾱ
        x_t = x * scale
        t = self.timestep(sigma).to(device=x.device, dtype=x.dtype)
        out = self.unet(x_t, t)
        out = getattr(out, "sample", out)
        if self.prediction_type == "sample":
            return (out - x) / sb**2
        if self.prediction_type == "v_prediction":
            out = scale * out + sb * scale * x_t  # ε = √ᾱ·v + √(1 − ᾱ)·x_t
        return -out / sb


def diffusers_sigmas(scheduler) -> torch.Tensor:
    """σ̃ at ``scheduler.timesteps`` (after its ``set_timesteps``) with 0 appended: the schedule
    on which :func:`~scorelab.samplers.euler` (= DDIM, η = 0), ``ddim`` and ``ddpm`` take the
    scheduler's own steps. Start them from x̃ = x_T·√(1 + σ̃₀²) for the scheduler's x_T ~ N(0, I).
    Its last step lands on ᾱ = 1 (DDIM's ``set_alpha_to_one``, DDPM's t = −1): 0 here."""
    final = getattr(scheduler, "final_alpha_cumprod", None)
    if final is not None and float(final) != 1.0:
        raise ValueError("diffusers_sigmas: the scheduler ends at alpha_cumprod "
                         f"{float(final):.4g} < 1 (set_alpha_to_one=False); scorelab's samplers end at sigma 0")
    abar = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float64)[torch.as_tensor(scheduler.timesteps).long()]
    return torch.cat([torch.sqrt((1 - abar) / abar), torch.zeros(1, dtype=torch.float64)])
