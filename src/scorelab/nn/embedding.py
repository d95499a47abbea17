"""Noise-level embeddings shared by the networks."""
import math

import torch
from torch import nn


class SigmaEmbedding(nn.Module):
    r"""Fourier features of :math:`c_{noise} = \ln(\sigma)/4` (EDM), followed by a small MLP.

    ``emb(σ) = MLP([cos(2π f c), sin(2π f c)])`` with fixed random frequencies ``f``.
    """

    def __init__(self, dim: int, n_frequencies: int = 16, scale: float = 4.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("freqs", torch.randn(n_frequencies, generator=g) * scale)
        self.mlp = nn.Sequential(nn.Linear(2 * n_frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, sigma: torch.Tensor) -> torch.Tensor:
        c = torch.log(sigma.clamp_min(1e-20)).unsqueeze(-1) / 4
        phase = 2 * math.pi * c * self.freqs
        return self.mlp(torch.cat([phase.cos(), phase.sin()], dim=-1))
