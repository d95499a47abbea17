"""Multi-layer perceptrons for vectors: a score network (any vector field) and an energy network.

Both follow the contract ``f(x, sigma)`` with ``sigma`` of shape (batch,). A noise-conditional
network sees ``sigma`` through :class:`SigmaEmbedding` and preconditions its input and output:

    s(x, σ) = F(c_in(σ)·x, emb(σ)) / σ,      c_in(σ) = 1/sqrt(σ_data² + σ²)

(the 1/σ output scaling is NCSNv2's; the input scaling keeps the network's inputs at unit
variance for every σ, as in EDM). A network that is not noise-conditional ignores ``sigma``.
"""
import torch
from torch import nn

from ..utils import as_sigma, broadcast_like
from .embedding import SigmaEmbedding


class _Trunk(nn.Module):
    """Residual MLP trunk; when ``cond_dim`` is set, each block adds a projection of the embedding."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, cond_dim: int | None):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.cond = None if cond_dim is None else nn.ModuleList(
            nn.Linear(cond_dim, width) for _ in range(depth))
        self.out = nn.Linear(width, out_dim)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None, inverse: torch.Tensor | None = None) -> torch.Tensor:
        """``emb`` holds one row per distinct σ; ``inverse`` maps each sample to its row."""
        def cond(i):
            return self.cond[i](emb)[inverse]
        h = self.inp(x)
        if emb is not None:
            h = h + cond(0)
        h = self.act(h)
        for i, layer in enumerate(self.blocks, start=1):
            u = layer(h)
            if emb is not None:
                u = u + cond(i)
            h = h + self.act(u)
        return self.out(h)


class _ConditionalMLP(nn.Module):
    def __init__(self, dim, out_dim, width, depth, noise_conditional, sigma_data):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1:
            raise ValueError("dim, width and depth must be positive")
        self.dim, self.width, self.depth = dim, width, depth
        self.noise_conditional, self.sigma_data = noise_conditional, sigma_data
        self.embed = SigmaEmbedding(width) if noise_conditional else None
        self.trunk = _Trunk(dim, out_dim, width, depth, width if noise_conditional else None)

    def _features(self, x, sigma):
        """Return (F(c_in·x, emb), σ) — σ is None for an unconditional network.

        The σ-embedding is computed once per distinct σ (a batch usually holds a few levels,
        a sampler's batch just one) and gathered, which halves the cost of a sampling step."""
        flat = x.reshape(x.shape[0], -1)
        if not self.noise_conditional:
            return self.trunk(flat, None), None
        sigma = as_sigma(sigma, x)
        levels, inverse = torch.unique(sigma, return_inverse=True)
        c_in = torch.rsqrt(self.sigma_data**2 + sigma**2).unsqueeze(-1)
        return self.trunk(flat * c_in, self.embed(levels), inverse), sigma


class ScoreMLP(_ConditionalMLP):
    """A score network: an unconstrained vector field ``s(x, σ)`` shaped like ``x``."""

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0):
        super().__init__(dim, dim, width, depth, noise_conditional, sigma_data)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        out, sigma = self._features(x, sigma)
        out = out.reshape(x.shape)
        return out if sigma is None else out / broadcast_like(sigma, out)


class EnergyMLP(_ConditionalMLP):
    """A scalar energy ``E(x, σ)`` of shape (batch,); the model density is ∝ exp(−E).

    Noise-conditional energies are scaled by 1/σ like the score network, so that
    −∇ₓE has the magnitude of a score at noise σ.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0):
        super().__init__(dim, 1, width, depth, noise_conditional, sigma_data)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        out, sigma = self._features(x, sigma)
        out = out.squeeze(-1)
        return out if sigma is None else out / sigma
