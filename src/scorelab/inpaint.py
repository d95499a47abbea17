"""Inpainting with annealed Langevin dynamics: fill the unknown part of x given the known part."""
import torch

from .samplers._base import SamplerRun, gaussian_like

_HINT = "the step size is probably too large for the smallest sigma; lower step_size"


def inpaint(score_fn, x_known, mask, sigmas, step_size: float, steps_per_level: int,
            denoise: bool = True, *, generator=None, callback=None, trajectory=False,
            return_info=False):
    """Fill the coordinates where ``mask == 0`` consistently with those where ``mask == 1``.

    Annealed Langevin inpainting (Song & Ermon 2019, NCSN, appendix, Algorithm 2 "Inpainting
    with annealed Langevin dynamics"). The unknown part starts from N(0, σ₁²) noise (NCSN
    draws it uniform on [0, 1]; a Gaussian at the largest level suits any data); then for
    each σᵢ in ``sigmas`` (largest first)

        ỹ ← y + σᵢ·z                       (the known part y noised to σᵢ, once a level)
        repeat ``steps_per_level`` times:
            x ← x + (αᵢ/2)·s(x, σᵢ) + √αᵢ·z,   αᵢ = ε·σᵢ²/σ_L²  (``annealed_langevin``'s)
            x ← ỹ where mask == 1

    and, if ``denoise``, Tweedie's step on the unknown part only, x ← x + σ_L²·s(x, σ_L)
    where mask == 0 (as ``annealed_langevin`` ends; Jolicoeur-Martineau et al. 2021). The
    known coordinates of the output are ``x_known``'s, exactly. Any data shape works (points
    (n, d), images (n, C, H, W)); ``mask`` (bool or 0/1) must broadcast to ``x_known``; the
    values of ``x_known`` where ``mask == 0`` are not used (they may be NaN).
    NFE = len(sigmas)·steps_per_level (+1 with ``denoise``). Returns the inpainted samples
    (and a :class:`SamplerInfo` when ``return_info``).
    """
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if len(sigmas) == 0 or (sigmas <= 0).any() or step_size <= 0 or steps_per_level < 0:
        raise ValueError("inpaint: sigmas must be positive, step_size > 0, steps_per_level >= 0")
    if (sigmas[1:] > sigmas[:-1]).any():
        raise ValueError("inpaint: sigmas must run from largest to smallest")
    y = x_known.detach()
    mask = torch.as_tensor(mask, device=y.device)
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("inpaint: mask must hold only 0 (unknown) and 1 (known)")
    try:
        known = torch.broadcast_to(mask.bool(), y.shape)
    except RuntimeError:
        raise ValueError(f"inpaint: mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"x_known of shape {tuple(y.shape)}") from None
    sigma_max, sigma_min = float(sigmas[0]), float(sigmas[-1])
    x = torch.where(known, y, sigma_max * gaussian_like(y, generator))
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="inpaint")
    i = 0
    for sigma in sigmas.tolist():
        alpha = step_size * sigma**2 / sigma_min**2
        # Noise the known part to this level, once for the whole level.
        y_noisy = y + sigma * gaussian_like(y, generator)
        x = torch.where(known, y_noisy, x)
        for _ in range(steps_per_level):
            # Langevin step on everything, then put the noised known part back.
            x = x + 0.5 * alpha * run.score(x, sigma) + alpha**0.5 * gaussian_like(x, generator)
            x = torch.where(known, y_noisy, x).detach()
            run.step_done(i, x, sigma)
            i += 1
        run.check(x, _HINT + f" (blew up at sigma={sigma:.4g})")
    if denoise:
        # Tweedie's step on the unknown part only; the known part exactly as given.
        x = torch.where(known, y, x + sigma_min**2 * run.score(x, sigma_min)).detach()
        run.check(x, "the final denoising step diverged")
        run.step_done(i, x, sigma_min)
    else:
        x = torch.where(known, y, x)
    return run.finish(x, return_info)
