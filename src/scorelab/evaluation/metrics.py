"""Metrics that compare samples and scores with the truth."""
import torch

from ..core import as_sigma, sum_except_batch


def energy_distance(x: torch.Tensor, y: torch.Tensor, max_points: int = 5000) -> float:
    """Energy distance (Székely & Rizzo 2013), the plug-in (V-statistic) estimate

        D²(X, Y) = 2·mean‖xᵢ − yⱼ‖ − mean‖xᵢ − xⱼ‖ − mean‖yᵢ − yⱼ‖  (all pairs, i = j included),

    which is ≥ 0 for every pair of samples and, for two samples of the same law, has a positive
    expected value of order E‖X − X'‖·(1/n + 1/m): the "sampling floor" that a model's samples
    are compared with. Samples are flattened; at most ``max_points`` of each (the first) are used.
    """
    x = x.reshape(x.shape[0], -1)[:max_points].double()
    y = y.reshape(y.shape[0], -1)[:max_points].double()
    if len(x) < 2 or len(y) < 2:
        raise ValueError("energy_distance: need at least 2 samples in each set")
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())


def mode_fractions(x: torch.Tensor, means) -> torch.Tensor:
    """Fraction of the samples whose nearest mode (Euclidean) is each of ``means`` (K, d)."""
    means = torch.as_tensor(means, dtype=x.dtype, device=x.device)
    nearest = torch.cdist(x.reshape(x.shape[0], -1), means).argmin(dim=1)
    return torch.bincount(nearest, minlength=len(means)).to(torch.float64) / x.shape[0]


def relative_fisher_divergence(score_fn, true_score_fn, x: torch.Tensor, sigma) -> float:
    """E‖s_θ(x, σ) − ∇log p_σ(x)‖² / E‖∇log p_σ(x)‖² over the points ``x`` (drawn from p_σ)."""
    sig = as_sigma(sigma, x)
    with torch.no_grad():
        truth = true_score_fn(x, sig)
        err = sum_except_batch((score_fn(x, sig) - truth) ** 2).mean()
        return float(err / sum_except_batch(truth**2).mean())
