"""Small helpers shared by every layer (the lowest layer: imports nothing from scorelab)."""
import torch


def as_sigma(sigma, x: torch.Tensor) -> torch.Tensor:
    """Return ``sigma`` (a float or a tensor) as a tensor of shape (batch,) like ``x``'s batch."""
    if isinstance(sigma, (int, float)):  # the common case, in one call (it runs every step)
        return torch.full((x.shape[0],), float(sigma), dtype=x.dtype, device=x.device)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    return sigma.reshape(x.shape[0])


def broadcast_like(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector (batch,) to broadcast against ``x`` of any rank."""
    return v.reshape(v.shape[0], *([1] * (x.ndim - 1)))


def sum_except_batch(x: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (batch, ...) -> (batch,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def sum_parts(parts: list) -> torch.Tensor:
    """The sum of same-shaped tensors (a trace computed in chunks): one stacked reduction, and
    nothing at all for a single part (no zeros to start from)."""
    return parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)


def half_mean_square(r: torch.Tensor) -> torch.Tensor:
    """Mean over the batch (the first dimension) of ½‖r‖², as one product and one sum (the
    losses' last step, every training step: 3-4% of a small network's step against
    ``0.5 * (r**2).sum(1).mean()``, ``make bench``)."""
    return (r * r).sum() * (0.5 / r.shape[0])


def check_finite(x: torch.Tensor, what: str, hint: str = "") -> torch.Tensor:
    """Raise ``FloatingPointError`` naming ``what`` (and a likely cause) if ``x`` has NaN or Inf."""
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"non-finite {what}" + (f": {hint}" if hint else ""))
    return x
