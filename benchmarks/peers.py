"""torchebm adapters: its losses and Langevin sampler, configured to compute scorelab's quantities.

torchebm is imported lazily (``available()``): without it the benchmark skips its rows.

What is matched (torchebm 0.8.x, read from its source):

- Networks. torchebm's losses and samplers take a ``BaseModel`` (an energy ``E(x)``), so
  :class:`EnergyModel` wraps the *same* ``EnergyMLP`` instance; conditioning (σ) goes through
  torchebm's ``model_kwargs``. :class:`ScoreModel` wraps a score network by overriding
  ``BaseModel.gradient`` (torchebm's documented hook for analytic gradients) with ``−s(x, σ)``:
  the only way to drive its Langevin sampler with a score network.
- ``DenoisingScoreMatching(noise_scale=σ)``: ½‖∇E(x̃) − (x̃ − x)/σ²‖² = scorelab's DSM with
  s = −∇E.
- ``SlicedScoreMatching(n_projections=1, projection_type="gaussian")``: ½(vᵀs)² + vᵀ∇(vᵀs)
  = scorelab's plain SSM with Gaussian projections (no variance-reduced variant exists).
- ``ScoreMatching(hessian_method="exact")``: ½‖s‖² + tr(∇s) by ``vmap(jacrev(grad))`` per
  sample = scorelab's exact score matching.
- ``ContrastiveDivergence(k_steps=k, energy_reg_weight=α)`` with ``LangevinDynamics``
  (step_size=ε/2, noise_scale=1): torchebm's update x − η∇E + √(2η)·z with η = ε/2 is
  scorelab's x + (ε/2)s + √ε·z; chains start at the data (CD-k), and the loss
  mean E(x) − mean E(x⁻) + α(mean E(x)² + mean E(x⁻)²) is scorelab's.
- Annealed Langevin: torchebm has no NCSN sampler, so one ``LangevinDynamics`` per level
  (built once, outside the timing) runs ``steps_per_level`` steps with σᵢ passed as
  ``model_kwargs``; Tweedie's final step is one extra score call. Multi-scale DSM has no
  torchebm equivalent.
"""
import torch


def available() -> bool:
    try:
        import torchebm  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str | None:
    try:
        import torchebm
    except ImportError:
        return None
    return getattr(torchebm, "__version__", "unknown")


def _net_model():
    """A torchebm ``BaseModel`` class holding a scorelab network as ``self.net`` (its parameters
    shared); subclasses say what the network is to torchebm."""
    from torchebm.core import BaseModel

    class NetModel(BaseModel):
        def __init__(self, net):
            super().__init__()
            self.net = net

    return NetModel


def energy_model(net):
    """torchebm ``BaseModel`` around a scorelab energy network (shares its parameters)."""
    class EnergyModel(_net_model()):
        def forward(self, x, sigma=None):
            return self.net(x, sigma)

    return EnergyModel(net)


def score_model(net):
    """torchebm ``BaseModel`` whose ``gradient`` is −s(x, σ) for a score network."""
    class ScoreModel(_net_model()):
        def forward(self, x, sigma=None):
            raise NotImplementedError("a score network has no energy")

        def gradient(self, x, model_kwargs=None):
            return -self.net(x, (model_kwargs or {}).get("sigma"))

    return ScoreModel(net)


def dsm_loss(model, sigma):
    from torchebm.losses import DenoisingScoreMatching
    return DenoisingScoreMatching(model=model, noise_scale=sigma)


def sliced_loss(model):
    from torchebm.losses import SlicedScoreMatching
    return SlicedScoreMatching(model=model, n_projections=1, projection_type="gaussian")


def exact_loss(model):
    from torchebm.losses import ScoreMatching
    return ScoreMatching(model=model, hessian_method="exact")


def langevin_sampler(model, step_size):
    """torchebm's Langevin in scorelab's convention: η = ε/2, noise_scale = 1."""
    from torchebm.samplers import LangevinDynamics
    return LangevinDynamics(model, step_size=step_size / 2, noise_scale=1.0)


def cd_loss(model, n_steps, step_size, alpha):
    from torchebm.losses import ContrastiveDivergence
    sampler = langevin_sampler(model, step_size)
    return ContrastiveDivergence(model=model, sampler=sampler, k_steps=n_steps,
                                 persistent=False, energy_reg_weight=alpha)


def langevin(sampler, x, n_steps, sigma, generator):
    mk = None if sigma is None else {"sigma": torch.full((x.shape[0],), float(sigma), device=x.device)}
    return sampler.sample(x=x, n_steps=n_steps, model_kwargs=mk, generator=generator)


class AnnealedLangevin:
    """NCSN's annealed Langevin on torchebm: one prebuilt sampler per level, then Tweedie."""

    def __init__(self, model, sigmas, step_size, steps_per_level):
        self.model, self.steps = model, steps_per_level
        self.sigmas = [float(s) for s in sigmas]
        s_min = self.sigmas[-1]
        self.samplers = [langevin_sampler(model, step_size * s**2 / s_min**2) for s in self.sigmas]

    def __call__(self, x, generator):
        for sampler, sigma in zip(self.samplers, self.sigmas):
            x = langevin(sampler, x, self.steps, sigma, generator)
        s_min = self.sigmas[-1]
        grad = self.model.gradient(x, {"sigma": torch.full((x.shape[0],), s_min, device=x.device)})
        return x - s_min**2 * grad

