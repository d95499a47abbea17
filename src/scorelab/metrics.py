"""Metrics that compare samples and scores with the truth."""
import torch

from .utils import as_sigma, sum_except_batch


def _mean_dist(a: torch.Tensor, b: torch.Tensor, exclude_diagonal: bool) -> torch.Tensor:
    d = torch.cdist(a, b)
    if not exclude_diagonal:
        return d.mean()
    n = a.shape[0]
    return d.sum() / (n * (n - 1))


def energy_distance(x: torch.Tensor, y: torch.Tensor, max_points: int = 5000) -> float:
    """Energy distance (Székely & Rizzo 2013), unbiased U-statistic form:

        D²(X, Y) = 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖  (≥ 0 in expectation, 0 iff X ~ Y).

    Samples are flattened; at most ``max_points`` of each are used (the first ones).
    """
    x = x.reshape(x.shape[0], -1)[:max_points].double()
    y = y.reshape(y.shape[0], -1)[:max_points].double()
    if len(x) < 2 or len(y) < 2:
        raise ValueError("energy_distance: need at least 2 samples in each set")
    return float(2 * _mean_dist(x, y, False) - _mean_dist(x, x, True) - _mean_dist(y, y, True))


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
