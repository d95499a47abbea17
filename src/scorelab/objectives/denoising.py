"""Denoising score matching (Vincent 2011) at one noise level and over many (NCSN)."""
import torch

from ..utils import as_sigma, broadcast_like, sum_except_batch


def _noise(x, generator):
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def denoising_score_matching(score_fn, x: torch.Tensor, sigma, generator=None) -> torch.Tensor:
    """Denoising score matching: mean over the batch of ½‖s(x̃, σ) + (x̃ − x)/σ²‖².

    x̃ = x + σz, z ~ N(0, I). The minimiser is ∇log p_σ (Tweedie: E[x | x̃] = x̃ + σ²∇log p_σ(x̃)).
    ``sigma`` is a float or a tensor of shape (batch,). For N(0, I) data the minimum is
    d / (2σ²(1 + σ²)).
    """
    sig = as_sigma(sigma, x)
    z = _noise(x, generator)
    sb = broadcast_like(sig, x)
    x_noisy = x + sb * z
    return 0.5 * sum_except_batch((score_fn(x_noisy, sig) + z / sb) ** 2).mean()


def multiscale_denoising_score_matching(score_fn, x: torch.Tensor, sigmas, generator=None) -> torch.Tensor:
    """NCSN's objective (Song & Ermon 2019): one σ per sample drawn uniformly from ``sigmas``,
    weighted by λ(σ) = σ²:  mean of ½‖σ·s(x̃, σ) + z‖²,  x̃ = x + σz.

    For N(0, I) data the minimum is the mean over σ of d / (2(1 + σ²)).
    """
    sigmas = torch.as_tensor(sigmas, dtype=x.dtype, device=x.device).flatten()
    idx = torch.randint(len(sigmas), (x.shape[0],), generator=generator, device=x.device)
    sig = sigmas[idx]
    z = _noise(x, generator)
    sb = broadcast_like(sig, x)
    return 0.5 * sum_except_batch((sb * score_fn(x + sb * z, sig) + z) ** 2).mean()
