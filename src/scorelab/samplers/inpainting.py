"""Inpainting with annealed Langevin dynamics: fill the unknown part of x given the known part."""
import torch

from ..core import gaussian_like
from .langevin import annealed_langevin


class KnownPart:
    """The constraint of inpainting, as ``annealed_langevin``'s ``project(x, σ)``: the known
    coordinates of x are set to the known values y noised to the current level, ỹ = y + σz,
    with z drawn once per level (when σ changes); at σ = 0 they are y itself."""

    def __init__(self, y: torch.Tensor, known: torch.Tensor, generator=None):
        self.y, self.known, self.generator = y, known, generator
        self.sigma, self.y_noisy = None, y

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma != self.sigma:
            self.sigma = sigma
            self.y_noisy = self.y if sigma == 0 else self.y + sigma * gaussian_like(self.y, self.generator)
        return torch.where(self.known, self.y_noisy, x).detach()


def known_mask(mask, y: torch.Tensor) -> torch.Tensor:
    """``mask`` (bool or 0/1, broadcastable to ``y``) as a bool tensor shaped like ``y``;
    ``ValueError`` naming the problem otherwise."""
    mask = torch.as_tensor(mask, device=y.device)
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("inpaint: mask must hold only 0 (unknown) and 1 (known)")
    try:
        return torch.broadcast_to(mask.bool(), y.shape)
    except RuntimeError:
        raise ValueError(f"inpaint: mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"x_known of shape {tuple(y.shape)}") from None


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
            x ← x + (αᵢ/2)·s(x, σᵢ) + √αᵢ·z,   αᵢ = ε·σᵢ²/σ_L²
            x ← ỹ where mask == 1

    which is :func:`annealed_langevin` with :class:`KnownPart` as its ``project``; then, if
    ``denoise``, Tweedie's step x ← x + σ_L²·s(x, σ_L) on the unknown part only. The known
    coordinates of the output are ``x_known``'s, exactly. Any data shape works (points
    (n, d), images (n, C, H, W)); ``mask`` (bool or 0/1) must broadcast to ``x_known``; the
    values of ``x_known`` where ``mask == 0`` are not used (they may be NaN).
    NFE = len(sigmas)·steps_per_level (+1 with ``denoise``). Returns the inpainted samples
    (and a :class:`SamplerInfo` when ``return_info``).
    """
    y = x_known.detach()
    known = known_mask(mask, y)
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if len(sigmas) == 0 or not (sigmas > 0).all():
        raise ValueError("inpaint: sigmas must be positive")
    x = torch.where(known, y, float(sigmas[0]) * gaussian_like(y, generator))
    try:
        out = annealed_langevin(score_fn, x, sigmas, step_size, steps_per_level, denoise,
                                project=KnownPart(y, known, generator), generator=generator,
                                callback=callback, trajectory=trajectory, return_info=return_info)
    except (FloatingPointError, ValueError) as err:  # its errors, in inpainting's name
        raise type(err)(str(err).replace("annealed_langevin", "inpaint", 1)) from None
    x, info = out if return_info else (out, None)
    x = torch.where(known, y, x)
    return (x, info) if return_info else x
