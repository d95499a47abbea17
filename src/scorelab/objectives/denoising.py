"""Denoising score matching (Vincent 2011) at one noise level, over many (NCSN) and over a
continuum of noise levels (log-uniform σ, or EDM's log-normal σ).

Over many levels the loss is the mean of w(σ)·½‖σ·s(x̃, σ) + z‖², x̃ = x + σz: NCSN's
λ(σ) = σ² weighting of ½‖s + z/σ‖² (``weighting="sigma2"``, w = 1), or EDM's
λ(σ) = (σ² + σ_d²)/(σσ_d)² on ½‖D − x‖² (``weighting="edm"``, w = (σ² + σ_d²)/σ_d²), which
gives each σ a unit-variance target through EDM's preconditioning (Karras et al. 2022, eq. 8).
"""
import math

import torch

from ..core import as_sigma, broadcast_like, gaussian_like, half_mean_square


WEIGHTINGS = ("sigma2", "edm")


def _weighted_dsm(score_fn, x, sig, generator, weighting="sigma2", sigma_data=1.0, weight=None):
    """Mean of w(σ)·½‖σ·s(x + σz, σ) + z‖² for per-sample σ (``sig``, shape (batch,)), times
    ``weight`` (a number or one per sample) if given."""
    z = gaussian_like(x, generator)
    sb = broadcast_like(sig, x)
    r = z + sb * score_fn(torch.addcmul(x, sb, z), sig)   # addcmul: no graph
    if weight is not None:
        r = r * broadcast_like(torch.as_tensor(weight, dtype=x.dtype, device=x.device).sqrt().expand(len(x)), x)
    if weighting == "sigma2":
        return half_mean_square(r)
    if weighting != "edm":
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return half_mean_square(r * torch.sqrt(1 + (sb / sigma_data) ** 2))


def denoising_score_matching(score_fn, x: torch.Tensor, sigma, generator=None) -> torch.Tensor:
    """Denoising score matching: mean over the batch of ½‖s(x̃, σ) + (x̃ − x)/σ²‖².

    x̃ = x + σz, z ~ N(0, I). The minimiser is ∇log p_σ (Tweedie: E[x | x̃] = x̃ + σ²∇log p_σ(x̃)).
    ``sigma`` is a float or a tensor of shape (batch,). For N(0, I) data the minimum is
    d / (2σ²(1 + σ²)).
    """
    sig = as_sigma(sigma, x)
    z = gaussian_like(x, generator)
    if isinstance(sigma, (int, float)) and not isinstance(sigma, bool):  # one σ: scalar arithmetic
        if not sigma > 0:
            raise ValueError(f"denoising_score_matching: sigma must be > 0, got {sigma}")
        s = float(sigma)
        return half_mean_square(torch.add(score_fn(torch.add(x, z, alpha=s), sig), z, alpha=1 / s))
    sb = broadcast_like(sig, x)
    return half_mean_square(score_fn(torch.addcmul(x, sb, z), sig) + z / sb)


def multiscale_denoising_score_matching(score_fn, x: torch.Tensor, sigmas, generator=None,
                                        weighting: str = "sigma2", sigma_data: float = 1.0) -> torch.Tensor:
    """NCSN's objective (Song & Ermon 2019): one σ per sample drawn uniformly from ``sigmas``,
    weighted by λ(σ) = σ²:  mean of ½‖σ·s(x̃, σ) + z‖²,  x̃ = x + σz.

    For N(0, I) data the minimum is the mean over σ of d / (2(1 + σ²)).
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device).flatten()
    idx = torch.randint(len(sigmas), (x.shape[0],), generator=generator, device=x.device)
    sig = sigmas[idx]
    return _weighted_dsm(score_fn, x, sig, generator, weighting, sigma_data)


def log_uniform_denoising_score_matching(score_fn, x: torch.Tensor, sigma_min: float, sigma_max: float,
                                         generator=None, weighting: str = "sigma2",
                                         sigma_data: float = 1.0) -> torch.Tensor:
    """Denoising score matching over a continuum of noise levels: one σ per sample drawn
    log-uniformly, log σ ~ U[log σ_min, log σ_max], weighted by λ(σ) = σ² (as NCSN):

        mean of ½‖σ·s(x̃, σ) + z‖²,  x̃ = x + σz,  z ~ N(0, I).

    The continuous-σ version of :func:`multiscale_denoising_score_matching` (the density of
    log σ is uniform, as for NCSN's geometric levels, but every σ in the range is trained):
    the network is then fit between the discrete levels too, where ODE samplers evaluate it
    (Song et al. 2021, "Score-based generative modeling through SDEs", the VE SDE with
    t ~ U[0, 1] and σ(t) = σ_min (σ_max/σ_min)^t). σ_min = σ_max is single-σ DSM weighted by σ².
    For N(0, I) data the minimum is the mean over log-uniform σ of d / (2(1 + σ²)).
    """
    if not (0 < sigma_min <= sigma_max):
        raise ValueError("log_uniform_denoising_score_matching: need 0 < sigma_min <= sigma_max")
    u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    log_min, log_max = math.log(sigma_min), math.log(sigma_max)
    sig = torch.exp(log_min + (log_max - log_min) * u)
    return _weighted_dsm(score_fn, x, sig, generator, weighting, sigma_data)


def log_normal_denoising_score_matching(score_fn, x: torch.Tensor, p_mean: float = -0.5,
                                        p_std: float = 1.2, sigma_min: float = 0.0,
                                        sigma_max: float = math.inf, generator=None,
                                        weighting: str = "edm", sigma_data: float = 1.0) -> torch.Tensor:
    """Denoising score matching with EDM's noise distribution: ln σ ~ N(P_mean, P_std²) per
    sample (Karras et al. 2022, §5), clamped to [σ_min, σ_max], weighted as ``weighting``
    (default EDM's). P_mean = −1.2 and P_std = 1.2 in EDM's units, data in [−1, 1] with
    σ_d = 0.5; in units where the data have unit variance (scorelab's normalised data,
    σ_d = 1) the same distribution is P_mean = −1.2 + ln 2 ≈ −0.5.

    For N(0, I) data with σ_d = 1 the EDM-weighted minimum is d/2 at every σ (so its mean is
    d/2 whatever the σ distribution); σ²-weighted it is the mean of d/(2(1 + σ²)).
    """
    if not p_std > 0 or not 0 <= sigma_min < sigma_max:
        raise ValueError("log_normal_denoising_score_matching: need p_std > 0 and 0 <= sigma_min < sigma_max")
    n = torch.randn(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    sig = torch.exp(p_mean + p_std * n).clamp(sigma_min, sigma_max)
    return _weighted_dsm(score_fn, x, sig, generator, weighting, sigma_data)
