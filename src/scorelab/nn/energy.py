"""Turn an energy into a score function: s(x, σ) = −∇ₓE(x, σ), a conservative field."""
import torch


class EnergyScore:
    """The score ``−∇ₓ E(x, σ)`` of an energy, by autograd (``torch.func.grad``).

    It is differentiable: with gradients enabled, the result carries the graph to the energy's
    parameters and to ``x`` (as ``create_graph=True`` would), so every objective, including those
    that need ∇ₓ s, accepts it; it composes with ``torch.func`` transforms (``vmap``, ``jacrev``).
    Under ``torch.no_grad()`` (sampling) it still computes −∇ₓE but builds no graph.
    """

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        def total_energy(y):
            return self.energy(y, sigma).sum()
        return -torch.func.grad(total_energy)(x)

    def log_prob_unnormalized(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """−E(x, σ): the unnormalised log-density (for MALA or likelihoods)."""
        return -self.energy(x, sigma)


def score_from_energy(energy) -> EnergyScore:
    """Wrap a scalar energy ``E(x, σ) -> (batch,)`` as a score function ``−∇ₓE``."""
    return EnergyScore(energy)
