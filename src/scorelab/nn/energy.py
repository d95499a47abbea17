"""Turn an energy into a score function: s(x, σ) = −∇ₓE(x, σ), a conservative field."""
import torch


def _inside_functorch_transform() -> bool:
    """True inside ``torch.func.vmap``/``grad``/``jacrev``/``jvp`` (where ``autograd.grad`` is not allowed)."""
    return torch._C._functorch.peek_interpreter_stack() is not None


class EnergyScore:
    """The score ``−∇ₓ E(x, σ)`` of an energy, by autograd.

    It is differentiable: with gradients enabled, the result carries the graph to the energy's
    parameters and to ``x`` (``create_graph=True``), so every objective, including those that
    need ∇ₓ s, accepts it. Under ``torch.no_grad()`` (sampling) it still computes −∇ₓE but keeps
    no graph. Inside ``torch.func`` transforms it switches to ``torch.func.grad``, which composes
    with them; outside, plain ``torch.autograd.grad`` does the same with less overhead per call.

    An energy that backpropagates itself, with a method ``score(x, σ)`` returning −∇ₓE
    (:meth:`EnergyMLP.score <scorelab.nn.EnergyMLP.score>`), is asked instead: its graph is
    first order, so training through the score costs one ordinary backward pass, not a
    double backward, and sampling needs no autograd at all.
    """

    def __init__(self, energy):
        self.energy = energy
        if hasattr(energy, "directional_derivatives"):  # forward mode through the energy (EnergyMLP)
            self.directional_derivatives = self._directional_derivatives
        if hasattr(energy, "score_and_trace"):  # (−∇ₓE, −ΔE), exact, in forward mode (EnergyMLP)
            self.score_and_trace = energy.score_and_trace

    def _directional_derivatives(self, x: torch.Tensor, sigma, v: torch.Tensor, with_score: bool = False):
        """``(vᵀs, vᵀ∇ₓs v[, s])`` for s = −∇ₓE: minus the energy's first and second directional
        derivatives along v (the protocol of :meth:`ScoreMLP.directional_derivatives`)."""
        _, d1, d2, *s = self.energy.directional_derivatives(x, sigma, v, with_score=with_score)
        return (-d1, -d2, *s)

    def __call__(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        own = getattr(self.energy, "score", None)
        if own is not None:
            return own(x, sigma)
        if _inside_functorch_transform():
            return -torch.func.grad(lambda y: self.energy(y, sigma).sum())(x)
        create = torch.is_grad_enabled()
        with torch.enable_grad():
            xi = x if x.requires_grad else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(xi, sigma).sum(), xi, create_graph=create)
        return -grad

    def log_prob_unnormalized(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """−E(x, σ): the unnormalised log-density (for MALA or likelihoods)."""
        return -self.energy(x, sigma)


def score_from_energy(energy) -> EnergyScore:
    """Wrap a scalar energy ``E(x, σ) -> (batch,)`` as a score function ``−∇ₓE``."""
    return EnergyScore(energy)
