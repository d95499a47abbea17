"""The contract ``score_fn(x, sigma)``: noise levels as a per-sample tensor, broadcast to any data rank."""
import torch


def as_sigma(sigma, x: torch.Tensor) -> torch.Tensor:
    """``sigma`` (a number, a 0-d or one-element tensor, or one value per sample) as a tensor
    of shape (batch,) in ``x``'s dtype and device. Anything else raises ``ValueError``."""
    n = x.shape[0]
    if isinstance(sigma, (int, float)):  # the common case, in one call (it runs every step)
        return torch.full((n,), float(sigma), dtype=x.dtype, device=x.device)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.numel() == 1:
        return sigma.reshape(1).expand(n)
    if sigma.numel() != n:
        raise ValueError(f"sigma must be a number or hold one value per sample ({n}), "
                         f"got shape {tuple(sigma.shape)}")
    return sigma.reshape(n)


def broadcast_like(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector (batch,) to broadcast against ``x`` of any rank."""
    return v.reshape(v.shape[0], *([1] * (x.ndim - 1)))
