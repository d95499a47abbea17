"""Noise schedules: functions returning a tensor of sigmas, largest first.

NCSNv2's rules (Song & Ermon 2020, "Improved techniques for training score-based generative
models") for choosing the levels and the annealed-Langevin step size live here too.
"""
import math

import torch


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> torch.Tensor:
    """σᵢ = σ_max·(σ_min/σ_max)^{i/(n−1)}, i = 0…n−1 (NCSN's geometric sequence)."""
    if not (sigma_max >= sigma_min > 0) or n < 1:
        raise ValueError("geometric_sigmas: need sigma_max >= sigma_min > 0 and n >= 1")
    if n == 1:
        return torch.tensor([float(sigma_max)])
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64)).float()


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0,
                  append_zero: bool = False) -> torch.Tensor:
    """EDM's schedule (Karras et al. 2022, eq. 5):
    σᵢ = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, optionally followed by σ_n = 0."""
    if not (sigma_max >= sigma_min > 0) or n < 2:
        raise ValueError("karras_sigmas: need sigma_max >= sigma_min > 0 and n >= 2")
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    if append_zero:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas.float()


def max_pairwise_distance(x: torch.Tensor, max_points: int = 4096) -> float:
    """NCSNv2 technique 1: σ_max ≈ the largest Euclidean distance between two data points.

    Computed exactly on up to ``max_points`` points (a deterministic subset beyond that).
    """
    flat = x.reshape(x.shape[0], -1).double()
    if flat.shape[0] > max_points:
        flat = flat[torch.linspace(0, flat.shape[0] - 1, max_points).long()]
    return float(torch.cdist(flat, flat).max())


def _normal_cdf(t: float) -> float:
    return 0.5 * (1 + math.erf(t / math.sqrt(2)))


def ncsnv2_ratio(dim: int, target: float = 0.5) -> float:
    """NCSNv2 technique 2: the ratio γ = σᵢ₋₁/σᵢ that solves
    Φ(√(2d)(γ−1) + 3γ) − Φ(√(2d)(γ−1) − 3γ) = ``target`` (by bisection).

    Adjacent noise shells then overlap enough for Langevin to move between levels."""
    c = math.sqrt(2 * dim)

    def overlap(g):
        return _normal_cdf(c * (g - 1) + 3 * g) - _normal_cdf(c * (g - 1) - 3 * g)

    lo, hi = 1.0 + 1e-9, 1e6  # overlap decreases in γ on this interval
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if overlap(mid) > target else (lo, mid)
    return lo


def ncsnv2_num_levels(dim: int, sigma_max: float, sigma_min: float, max_ratio: float = 1.5) -> int:
    """Number of geometric levels: L = ⌈log(σ_max/σ_min)/log γ⌉ + 1 with
    γ = min(:func:`ncsnv2_ratio`(d), ``max_ratio``).

    In low dimension (d ≲ 7) NCSNv2's overlap criterion holds for every γ (noise shells are
    thick), so it alone would allow 2 levels; there annealing is about letting Langevin
    re-weight modes, which needs gradual levels: ``max_ratio`` caps γ (1.5 gives 15-20 levels
    over factors of 300-2000 in σ). With the exact score of a mixture, 5 levels always lose
    the weights and 10 levels lose them with few steps per level, while 20-40 levels at
    ε = 0.2-0.5·σ_L² recover them within about 0.02 (see the ``noise-levels`` experiment)."""
    gamma = min(ncsnv2_ratio(dim), max_ratio)
    return max(2, math.ceil(math.log(sigma_max / sigma_min) / math.log(gamma)) + 1)


def ncsnv2_step_size(sigmas, steps_per_level: int) -> float:
    """NCSNv2 technique 4, in this library's convention x ← x + (ε/2)s + √ε z, αᵢ = ε σᵢ²/σ_L².

    For a Gaussian score the variance ratio after T steps at a level is
    r(ε) = c^{2T}(γ² − f) + f,  c = 1 − ε/(2σ_L²),  f = ε/(σ_L²(1 − c²)),
    and ε is chosen so that r(ε) is as close to 1 as possible (a grid in log ε).
    (NCSNv2 writes x ← x + αs + √(2α)z, so its ε is half of this one.)
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    s2 = float(sigmas[-1]) ** 2
    gamma = float(sigmas[0] / sigmas[1]) if len(sigmas) > 1 else 1.0

    def ratio(eps):
        c = 1 - eps / (2 * s2)
        f = eps / (s2 * (1 - c * c))
        return c ** (2 * steps_per_level) * (gamma**2 - f) + f

    grid = [s2 * 10 ** (k / 100) for k in range(-800, 60)]  # ε/σ_L² from 1e-8 to ~4
    return min(grid, key=lambda eps: abs(ratio(eps) - 1))
