"""Variants of the slow parts of scorelab, timed against it by ``hotspots.py``.

Nothing here is imported by the library. Two kinds of code live here:

* candidates: changes the benchmark could recommend for ``src/``, written so that they can be
  dropped in: ``langevin`` and ``annealed_langevin`` with their per-step book-keeping hoisted
  out of the loop;
* a "before" version of a fix that has since moved into ``src/``: ``FuncGradEnergyScore``, the
  energy score by ``torch.func.grad``, kept so that the gain of the fix can still be measured
  (the fixes themselves, the autograd energy score and the energy network's own derivatives,
  are imported from scorelab), and ``TangentCurvatureEnergyScore``, SSM-VR's vᵀ∇²E v by a
  second-order tangent before it came from the score's backward pass. The exact trace's
  "before" (all d products in one batch) is ``handwritten.exact_batched``.

Each one computes the same quantity as its scorelab counterpart (``hotspots.py`` checks it).
"""
import torch

from scorelab.nn.mlp import _scaled
from scorelab.core import gaussian_like
from scorelab.samplers._base import SamplerRun
from scorelab.samplers.langevin import _step
from scorelab.core import as_sigma


# ---------------------------------------------------------------- energy score

class FuncGradEnergyScore:
    """Before: scorelab's energy score −∇ₓE(x, σ) by ``torch.func.grad`` everywhere, replaced by
    :class:`scorelab.nn.EnergyScore` (``torch.autograd.grad`` outside ``torch.func`` transforms)."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x, sigma=None):
        def total_energy(y):
            return self.energy(y, sigma).sum()
        return -torch.func.grad(total_energy)(x)


class TangentCurvatureEnergyScore:
    """Before: an EnergyMLP's score with ``directional_derivatives(..., with_score=True)`` (what
    SSM-VR asks) computing vᵀ∇²E v as a second-order tangent: a third pass through every
    layer, where :meth:`scorelab.nn.EnergyMLP.directional_derivatives` now reads it off the
    score's backward pass. Only the ``with_score=True`` form (SSM-VR) is timed: it always
    returns the score."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x, sigma=None):
        return self.energy.score(x, sigma)

    def directional_derivatives(self, x, sigma, v, with_score=False):
        net, kept = self.energy, []
        coeffs, c_in, sigma = net._taylor(x, sigma, v, order=2, keep=kept)
        grad, _ = net.trunk.input_gradient(kept)   # order 2 keeps no curvature sources
        _, d1, d2 = (_scaled(c, sigma, x.shape[:1]) for c in coeffs)
        return -d1, -d2, net._negative_gradient(grad, c_in, sigma, x.shape)


# ---------------------------------------------------------------- Langevin

def langevin(score_fn, x, step_size, n_steps, sigma=0.0, *, generator=None, callback=None,
             trajectory=False, return_info=False):
    """scorelab's ``langevin`` with the per-step book-keeping hoisted out of the loop: σ is
    made a (batch,) tensor once, the score is called directly and the NFE added up after the
    loop; ``step_done`` runs only when a callback or a trajectory asks for it."""
    if step_size <= 0 or n_steps < 0:
        raise ValueError("langevin: step_size must be > 0 and n_steps >= 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="langevin")
    record = callback is not None or trajectory
    sig = as_sigma(sigma, x)
    half, root = 0.5 * step_size, step_size**0.5
    x = x.detach()
    for i in range(n_steps):
        x = _step(x, score_fn(x, sig), gaussian_like(x, generator), half, root)
        if record:
            run.step_done(i, x, sigma)
    run.nfe += n_steps
    run.check(x, "the step size is probably too large; lower step_size")
    return run.finish(x, return_info)


def annealed_langevin(score_fn, x, sigmas, step_size, steps_per_level, denoise=True, *,
                      generator=None, callback=None, trajectory=False, return_info=False):
    """scorelab's ``annealed_langevin`` with the same hoisting (σ tensor once per level)."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="annealed_langevin")
    record = callback is not None or trajectory
    sigma_min = float(sigmas[-1])
    x = x.detach()
    i = 0
    for sigma in sigmas.tolist():
        alpha = step_size * sigma**2 / sigma_min**2
        half, root = 0.5 * alpha, alpha**0.5
        sig = as_sigma(sigma, x)
        for _ in range(steps_per_level):
            x = _step(x, score_fn(x, sig), gaussian_like(x, generator), half, root)
            if record:
                run.step_done(i, x, sigma)
            i += 1
        run.check(x, f"blew up at sigma={sigma:.4g}")
    run.nfe += i
    if denoise:
        x = (x + sigma_min**2 * run.score(x, sigma_min)).detach()
        if record:
            run.step_done(i, x, sigma_min)
        run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)
