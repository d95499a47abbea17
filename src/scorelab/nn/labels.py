"""Class labels for conditional networks: an embedding with a null class, label dropout, and
labels bound into the contract ``score_fn(x, sigma)``.

A class-conditional network computes s(x, σ | y); label ``NULL_LABEL`` (−1) asks for the
unconditional s(x, σ), which the same network learns when labels are dropped in training with
probability p (classifier-free guidance, Ho & Salimans 2022).
"""
import torch
from torch import nn

NULL_LABEL = -1


def labels_like(y, x: torch.Tensor) -> torch.Tensor:
    """``y`` (an int, a 0-d or (batch,) tensor, or None for the null class) as int64 labels of
    shape (batch,) on ``x``'s device."""
    n = x.shape[0]
    if y is None:
        return torch.full((n,), NULL_LABEL, dtype=torch.long, device=x.device)
    y = torch.as_tensor(y, dtype=torch.long, device=x.device)
    if y.ndim == 0 or y.numel() == 1:
        return y.reshape(1).expand(n)
    if y.shape != (n,):
        raise ValueError(f"labels: expected one label or {n}, got shape {tuple(y.shape)}")
    return y


class LabelEmbedding(nn.Module):
    """A learned vector per class and one for the null class (index ``n_classes``), added to
    the noise embedding."""

    def __init__(self, n_classes: int, dim: int):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"LabelEmbedding: n_classes must be positive, got {n_classes}")
        self.n_classes = n_classes
        self.table = nn.Embedding(n_classes + 1, dim)
        nn.init.normal_(self.table.weight, std=0.1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if ((y < NULL_LABEL) | (y >= self.n_classes)).any():
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1} (or {NULL_LABEL}: none)")
        return self.table(torch.where(y == NULL_LABEL, self.n_classes, y))


def drop_labels(y: torch.Tensor, p: float, generator=None) -> torch.Tensor:
    """Each label replaced by ``NULL_LABEL`` with probability ``p`` (label dropout)."""
    if p <= 0:
        return y
    u = torch.rand(y.shape, generator=generator, device=y.device)
    return torch.where(u < p, NULL_LABEL, y)


class Labelled:
    """``net`` with its labels fixed: the contract ``score_fn(x, sigma)`` of s(x, σ | y)
    (``y`` None: the unconditional score s(x, σ))."""

    def __init__(self, net, y):
        self.net, self.y = net, y

    def __call__(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        return self.net(x, sigma, y=labels_like(self.y, x))
