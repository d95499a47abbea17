"""Langevin dynamics, plain and annealed.

Step-size convention (Welling & Teh 2011; Song & Ermon 2019, NCSN):

    x ← x + (ε/2)·s(x, σ) + √ε·z,    z ~ N(0, I).
"""
import torch

from ..core import as_sigma, gaussian_like
from ._base import SamplerRun, tweedie_denoise

_HINT = "the step size is probably too large for the smallest sigma; lower step_size"


def _step(x, score, noise, half_step: float, root_step: float) -> torch.Tensor:
    """x + (ε/2)·s + √ε·z as two fused multiply-adds (two kernels where four would do the
    same: small networks are launch-bound on a GPU), keeping no graph."""
    return torch.add(x, score.detach(), alpha=half_step).add_(noise, alpha=root_step)


def langevin(score_fn, x, step_size: float, n_steps: int, sigma=0.0, *, generator=None,
             callback=None, trajectory=False, return_info=False):
    """Unadjusted Langevin dynamics at a fixed noise level σ.

    x ← x + (ε/2)·s(x, σ) + √ε·z for ``n_steps`` steps, ε = ``step_size``. NFE = ``n_steps``.
    Returns the samples (and a :class:`SamplerInfo` when ``return_info``).
    """
    if step_size <= 0 or n_steps < 0:
        raise ValueError("langevin: step_size must be > 0 and n_steps >= 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="langevin")
    x = x.detach()
    sig = as_sigma(sigma, x)
    noise_scale = step_size**0.5
    for i in range(n_steps):
        x = _step(x, run.score(x, sig), gaussian_like(x, generator), 0.5 * step_size, noise_scale)
        run.step_done(i, x, sigma)
    run.check(x, _HINT)
    return run.finish(x, return_info)


def annealed_langevin(score_fn, x, sigmas, step_size: float, steps_per_level: int,
                      denoise: bool = True, *, project=None, generator=None, callback=None,
                      trajectory=False, return_info=False):
    """Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1).

    For each σᵢ in ``sigmas`` (largest first), ``steps_per_level`` Langevin steps with
    αᵢ = ε·σᵢ²/σ_L² (σ_L the smallest σ); then, if ``denoise``, Tweedie's step
    x ← x + σ_L²·s(x, σ_L) (Jolicoeur-Martineau et al. 2021; NCSNv2).
    NFE = len(sigmas)·steps_per_level (+1 with ``denoise``).

    ``project(x, σ) -> x``, if given, constrains the chain: it is applied at the start of each
    level, after every step, and (with σ = 0) after the final denoising step. Inpainting
    (:func:`scorelab.samplers.inpaint`) re-imposes the known coordinates with it.
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if len(sigmas) == 0 or (sigmas <= 0).any() or step_size <= 0 or steps_per_level < 0:
        raise ValueError("annealed_langevin: sigmas must be positive, step_size > 0, steps_per_level >= 0")
    if (sigmas[1:] > sigmas[:-1]).any():
        raise ValueError("annealed_langevin: sigmas must run from largest to smallest")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="annealed_langevin")
    keep = project or (lambda y, sigma: y)
    sigma_min = float(sigmas[-1])
    x = x.detach()
    i = 0
    for sigma in sigmas.tolist():
        alpha = step_size * sigma**2 / sigma_min**2
        sig = as_sigma(sigma, x)
        x = keep(x, sigma)
        for _ in range(steps_per_level):
            x = keep(_step(x, run.score(x, sig), gaussian_like(x, generator), 0.5 * alpha, alpha**0.5), sigma)
            run.step_done(i, x, sigma)
            i += 1
        run.check(x, _HINT + f" (blew up at sigma={sigma:.4g})")
    if denoise:
        x = keep(tweedie_denoise(run.score, x, sigma_min).detach(), 0.0)
        run.step_done(i, x, sigma_min)
        run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)
