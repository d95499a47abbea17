"""Contrastive divergence for energy-based models (Hinton 2002; Tieleman 2008; Du & Mordatch 2019).

The maximum-likelihood gradient of an EBM p(x) ∝ exp(−E(x)) is
    ∇θ NLL = E_data[∇θE(x)] − E_model[∇θE(x)],
so the loss E_data[E(x)] − E_neg[E(x⁻)] has that gradient when the negatives x⁻ come from
the model. Here they come from Langevin dynamics, started at the data (CD-k) or from a
persistent replay buffer (PCD).
"""
import torch

from ..nn import score_from_energy
from ..samplers import langevin


class ReplayBuffer:
    """Persistent Langevin chains (Du & Mordatch 2019): a bank of negatives reused across steps.

    Each draw re-initialises a fraction ``reinit_prob`` of the chains from uniform noise on
    [low, high]^d (the data are normalised, so the default box covers them).
    """

    def __init__(self, shape, size: int = 1000, reinit_prob: float = 0.05, low: float = -3.0,
                 high: float = 3.0, generator=None, device=None):
        if size < 1 or not 0 <= reinit_prob <= 1 or not high > low:
            raise ValueError("ReplayBuffer: need size >= 1, 0 <= reinit_prob <= 1 and high > low")
        self.shape, self.reinit_prob, self.low, self.high = tuple(shape), reinit_prob, low, high
        self.samples = self.noise(size, generator, device)

    def noise(self, n, generator=None, device=None):
        u = torch.rand((n, *self.shape), generator=generator, device=device)
        return self.low + (self.high - self.low) * u

    def draw(self, n: int, generator=None):
        """Return (chains, indices): ``n`` stored chains, some re-initialised from noise."""
        idx = torch.randint(len(self.samples), (n,), generator=generator, device=self.samples.device)
        x = self.samples[idx].clone()
        fresh = torch.rand(n, generator=generator, device=x.device) < self.reinit_prob
        x[fresh] = self.noise(int(fresh.sum()), generator, x.device)
        return x, idx

    def update(self, idx, x):
        self.samples[idx] = x.detach()


def contrastive_divergence(energy, x: torch.Tensor, *, sigma=None, n_steps: int = 20,
                           step_size: float = 5e-3, buffer: ReplayBuffer | None = None,
                           alpha: float = 0.1, generator=None) -> torch.Tensor:
    """The contrastive-divergence loss, whose gradient is the maximum-likelihood gradient:

        L = mean E(x) − mean E(x⁻) + α·mean(E(x)² + E(x⁻)²)

    x⁻: ``n_steps`` Langevin steps (x ← x + (ε/2)(−∇E) + √ε z, ε = ``step_size``) from the data
    (CD-k, ``buffer=None``) or from persistent chains in ``buffer`` (PCD), which are updated.
    The α-term (Du & Mordatch 2019) keeps the energies near zero, which stops the joint drift of
    data and negative energies that otherwise makes CD diverge; ``alpha=0`` gives the plain
    estimator. A non-finite energy raises ``FloatingPointError``: it is never hidden.
    """
    score = score_from_energy(energy)
    start, idx = (x.detach(), None) if buffer is None else buffer.draw(x.shape[0], generator)
    with torch.no_grad():
        negatives = langevin(score, start.to(x), step_size, n_steps, sigma=0.0 if sigma is None else sigma,
                             generator=generator)
    if buffer is not None:
        buffer.update(idx, negatives)
    e_pos, e_neg = energy(x, sigma), energy(negatives, sigma)
    if not (torch.isfinite(e_pos).all() and torch.isfinite(e_neg).all()):
        raise FloatingPointError(
            "contrastive_divergence: non-finite energy; lower the learning rate or step_size, "
            "or raise alpha")
    return e_pos.mean() - e_neg.mean() + alpha * (e_pos**2 + e_neg**2).mean()
