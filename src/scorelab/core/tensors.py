"""Reductions, noise and checks on batches of any shape (batch, ...)."""
import torch


def sum_except_batch(x: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (batch, ...) -> (batch,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)


def sum_parts(parts: list) -> torch.Tensor:
    """The sum of same-shaped tensors (a trace computed in chunks): one stacked reduction, and
    nothing at all for a single part (no zeros to start from)."""
    return parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)


def half_mean_square(r: torch.Tensor) -> torch.Tensor:
    """Mean over the batch (the first dimension) of ½‖r‖², as one product and one sum (the
    last step of every loss)."""
    return (r * r).sum() * (0.5 / r.shape[0])


def gaussian_like(x: torch.Tensor, generator: torch.Generator | None = None,
                  scale: float = 1.0) -> torch.Tensor:
    """N(0, scale²·I) noise shaped like ``x`` (its dtype and device), drawn from ``generator``."""
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return z if scale == 1.0 else z.mul_(scale)

