"""A noise-conditional classifier p(y | x̃, σ) for classifier guidance (Dhariwal & Nichol 2021;
Song et al. 2021, "Score-based generative modeling through SDEs", §5).

Trained on noisy data x̃ = x + σz at every σ of the score model, its input gradient
∇ₓ log p(y | x, σ) turns an unconditional score into a conditional one by Bayes' rule:
∇ₓ log p_σ(x | y) = ∇ₓ log p_σ(x) + ∇ₓ log p_σ(y | x).
"""
import torch
from torch import nn

from ..core import as_sigma, broadcast_like
from .embedding import SigmaEmbedding


class NoisyClassifier(nn.Module):
    """Logits of p(y | x, σ), shape (batch, n_classes), for points (``shape`` (d,)) or images
    ((C, H, W)). The input is scaled by c_in(σ) = 1/sqrt(σ_d² + σ²) (unit variance at every σ)
    and the σ-embedding is added to every hidden layer. Points: a residual MLP; images: two
    stride-2 convolutions, global average pooling and a linear layer."""

    def __init__(self, shape: tuple, n_classes: int, width: int = 64, sigma_data: float = 1.0):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"NoisyClassifier: needs at least 2 classes, got {n_classes}")
        self.shape, self.n_classes, self.sigma_data = tuple(shape), n_classes, sigma_data
        self.embed = SigmaEmbedding(width)
        self.images = len(self.shape) == 3
        if self.images:
            c = self.shape[0]
            self.layers = nn.ModuleList([nn.Conv2d(c, width, 3, padding=1),
                                         nn.Conv2d(width, width, 3, stride=2, padding=1),
                                         nn.Conv2d(width, width, 3, stride=2, padding=1)])
        else:
            dim = int(torch.tensor(self.shape).prod())
            self.layers = nn.ModuleList([nn.Linear(dim, width), nn.Linear(width, width), nn.Linear(width, width)])
        self.out = nn.Linear(width, n_classes)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = as_sigma(sigma, x)
        emb = self.embed(sigma)
        h = x * broadcast_like(torch.rsqrt(self.sigma_data**2 + sigma**2), x)
        h = h if self.images else h.reshape(len(h), -1)
        for i, layer in enumerate(self.layers):
            z = layer(h) + (emb[:, :, None, None] if self.images else emb)
            h = self.act(z) if i == 0 or z.shape != h.shape else h + self.act(z)
        return self.out(h.mean((2, 3)) if self.images else h)

    def log_prob(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """log p(y | x, σ) for every class, (batch, n_classes)."""
        return torch.log_softmax(self.forward(x, sigma), dim=-1)
