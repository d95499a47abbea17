"""Continuous-time denoising score matching for an SDE (Song et al. 2021, eq. 7), with the
λ(t) = σ(t)² weighting or the likelihood weighting λ(t) = g(t)² (Song, Durkan, Murray & Ermon
2021, "Maximum likelihood training of score-based diffusion models", Theorem 1).

The loss ½·E_t E λ(t)‖s_θ(x_t, t) − ∇log p_{0t}(x_t | x₀)‖², t ~ U[t_min, T], becomes on the
contract, with s_θ(x_t, t) = score_fn(x_t/s, σ̃)/s and ∇log p_{0t} = −z/σ(t):

    ½·E_t w(t)·‖σ̃·score_fn(x₀ + σ̃z, σ̃) + z‖²,   w = λ/σ² = 1 (σ²) or g²/σ² (likelihood).

Since σ²' = 2fσ² + g², g²/σ² = d log σ̃²/dt for every linear SDE, so the likelihood-weighted
loss is ∫ ½‖σ̃s + z‖² d log σ̃² / (T − t_min): it depends on the SDE only through its σ̃
range, and drawing log σ̃ uniformly (importance sampling, the default) estimates it with
the constant weight w = 2 log(σ̃_max/σ̃_min)/(T − t_min).

For N(0, I) data in d dimensions the exact score gives ½E‖σ̃s + z‖² = d/(2(1 + σ̃²)) at each
σ̃, so the minimum is d/(2(T − t_min))·∫ dt/(1 + σ̃(t)²) (σ²), and
d/(2(T − t_min))·[log(σ̃²/(1 + σ̃²))] from σ̃_min to σ̃_max (likelihood).
"""
import math

import torch

from .denoising import _weighted_dsm

SDE_WEIGHTINGS = ("sigma2", "likelihood")
SDE_OBJECTIVES = ("ve", "vp", "subvp")  # the configuration's names for this loss on each SDE
NOISE_CONDITIONAL = ("ncsn", *SDE_OBJECTIVES)  # the objectives that train a score at every sigma


def continuous_denoising_score_matching(score_fn, x: torch.Tensor, sde, *, weighting: str = "sigma2",
                                        importance_sampling: bool = True,
                                        generator=None) -> torch.Tensor:
    """The continuous-time DSM loss of ``sde`` (see the module): mean over the batch of
    ½·w(t)·‖σ̃(t)·score_fn(x + σ̃(t)z, σ̃(t)) + z‖², one t ~ U[sde.t_min, sde.T] per sample.

    ``weighting``: ``"sigma2"`` (λ = σ², w = 1) or ``"likelihood"`` (λ = g², w = g²/σ²); with
    ``importance_sampling`` the likelihood weighting draws log σ̃ uniformly instead of t and
    weights by the constant 2 log(σ̃_max/σ̃_min)/(T − t_min) (the same expectation, far less
    variance than w = g²/σ², which grows as 1/t near t = 0 for VP).
    """
    if weighting not in SDE_WEIGHTINGS:
        raise ValueError(f"weighting must be one of {SDE_WEIGHTINGS}, got {weighting!r}")
    n, span = x.shape[0], sde.T - sde.t_min
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=x.device)
    if weighting == "likelihood" and importance_sampling:
        lo, hi = sde.sigma_range
        sig = torch.exp(math.log(lo) + math.log(hi / lo) * u)
        w = 2 * math.log(hi / lo) / span
    else:
        t = sde.t_min + span * u
        sig = sde.sigma_tilde(t)
        w = 1.0 if weighting == "sigma2" else sde.diffusion(t) ** 2 / sde.std(t) ** 2
    return _weighted_dsm(score_fn, x, sig.to(x.dtype), generator, weight=w)
