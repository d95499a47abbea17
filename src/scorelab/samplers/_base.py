"""What every sampler shares: NFE counting, trajectories, callbacks, blow-up checks, and the
denoiser D(x, σ) = x + σ²·s(x, σ) (Tweedie's formula).

Every sampler counts one function evaluation (NFE) per call of the score function on the
whole batch, whatever the sampler; the final denoising step counts as one.
"""
from dataclasses import dataclass, field

import torch

from ..core import as_sigma, broadcast_like


@dataclass
class SamplerInfo:
    """What a sampler reports besides its samples (``return_info=True``)."""

    nfe: int = 0
    trajectory: torch.Tensor | None = None  # (n_records, *x.shape), the initial state first
    acceptance_rate: float | None = None  # Metropolis-adjusted samplers only
    extra: dict = field(default_factory=dict)


class SamplerRun:
    """Book-keeping for one sampler call; the sampler's own loop stays readable."""

    def __init__(self, score_fn, x, *, callback=None, trajectory=False, name="sampler"):
        self.score_fn, self.callback, self.name = score_fn, callback, name
        self.nfe = 0
        self.frames = [x.detach().clone()] if trajectory else None

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """Evaluate the score at ``x`` (σ a float or (batch,) tensor); counts one NFE."""
        self.nfe += 1
        return self.score_fn(x, as_sigma(sigma, x))

    def step_done(self, i: int, x: torch.Tensor, sigma) -> None:
        """Record the state after step ``i`` and call the user's callback."""
        if self.frames is not None:
            self.frames.append(x.detach().clone())
        if self.callback is not None:
            self.callback({"i": i, "x": x, "sigma": sigma, "nfe": self.nfe})

    def check(self, x: torch.Tensor, hint: str) -> None:
        """Raise ``FloatingPointError`` if the particles blew up (NaN or Inf)."""
        if not torch.isfinite(x).all():
            raise FloatingPointError(f"{self.name}: the samples became NaN or Inf ({hint})")

    def finish(self, x: torch.Tensor, return_info: bool, **extra):
        if not return_info:
            return x
        traj = torch.stack(self.frames) if self.frames is not None else None
        acc = extra.pop("acceptance_rate", None)
        return x, SamplerInfo(nfe=self.nfe, trajectory=traj, acceptance_rate=acc, extra=extra)



def tweedie_denoise(score_fn, x, sigma):
    """Tweedie's formula: E[x₀ | x] = x + σ²·s(x, σ) for x = x₀ + σz (Efron 2011), the
    denoiser D(x, σ) of the ODE samplers. ``sigma``: a number or one value per sample."""
    if isinstance(sigma, (int, float)):
        return x + sigma**2 * score_fn(x, as_sigma(sigma, x))
    s = as_sigma(sigma, x)
    return x + broadcast_like(s, x) ** 2 * score_fn(x, s)
