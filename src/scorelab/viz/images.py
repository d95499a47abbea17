"""Image grids: a batch (n, C, H, W) in [0, 1] tiled into one picture, pixels upscaled."""
from pathlib import Path

import numpy as np
from matplotlib.image import imsave

from ..core import atomic_write

from .plots import to_numpy


def image_grid(images, nrow: int | None = None, *, scale: int = 4, padding: int = 1,
               pad_value: float = 1.0) -> np.ndarray:
    """Tile ``images`` (n, C, H, W), C = 1 (gray) or 3 (RGB), or (n, H, W), into one array.

    Values are clipped to [0, 1] for display (NaN shows as 0). Each pixel becomes a
    ``scale`` x ``scale`` block (nearest neighbour), then ``nrow`` images per row (default
    ceil(sqrt(n))) are laid out with ``padding`` pixels of ``pad_value`` between and around
    them. Shape: (rows (H scale + padding) + padding, nrow (W scale + padding) + padding),
    with a trailing 3 for RGB.
    """
    x = to_numpy(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"images must have shape (n, C, H, W) with n >= 1 and C = 1 or 3, got {x.shape}")
    if scale < 1 or padding < 0:
        raise ValueError("image_grid: scale must be >= 1 and padding >= 0")
    x = np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)
    x = x.repeat(scale, axis=2).repeat(scale, axis=3).transpose(0, 2, 3, 1)  # (n, Hs, Ws, C)
    n, h, w, c = x.shape
    nrow = int(np.ceil(np.sqrt(n))) if nrow is None else max(1, min(int(nrow), n))
    rows = -(-n // nrow)
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), pad_value, dtype=np.float64)
    for k in range(n):
        top, left = padding + (k // nrow) * (h + padding), padding + (k % nrow) * (w + padding)
        grid[top:top + h, left:left + w] = x[k]
    return grid[..., 0] if c == 1 else grid


def plot_image_grid(ax, images, nrow: int | None = None, *, scale: int = 4, title=None):
    """Draw :func:`image_grid` of ``images`` on ``ax`` (gray or RGB, no axes)."""
    ax.imshow(image_grid(images, nrow, scale=scale), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def save_image_grid(path, images, nrow: int | None = None, *, scale: int = 4, padding: int = 1) -> Path:
    """Write :func:`image_grid` of ``images`` as a PNG, one array pixel per file pixel."""
    grid = image_grid(images, nrow, scale=scale, padding=padding)
    return atomic_write(path, lambda tmp: imsave(tmp, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png"))
