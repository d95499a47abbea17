"""The standard pictures of a fitted model (``scorelab plot RUN``)."""
from pathlib import Path

import numpy as np

from .images import plot_image_grid
from .plots import (
    _points,
    auto_bounds,
    new_figure,
    plot_density,
    plot_pairs,
    plot_samples,
    plot_score_field,
    save_figure,
    to_numpy,
    view_bounds,
)


def _field_sigmas(model) -> list[float]:
    """The smallest, a middle and the largest of ``model.sigmas_`` (largest first), without
    repeats; [0.0] for a model with no noise levels."""
    sigmas = getattr(model, "sigmas_", None)
    sigmas = [] if sigmas is None else [float(s) for s in to_numpy(sigmas).ravel()]
    if not sigmas:
        return [0.0]
    picked = [sigmas[-1], sigmas[len(sigmas) // 2], sigmas[0]]
    return [s for k, s in enumerate(picked) if s not in picked[:k]]


def _clip_note(x: np.ndarray) -> str:
    outside = float(np.mean((x < 0) | (x > 1) | np.isnan(x)))
    return f" ({100 * outside:.1f}% of pixels clipped to [0, 1])" if outside > 0 else ""


def save_run_plots(model, data, out_dir, *, n_samples: int | None = None) -> list[Path]:
    """Write the standard plots of a fitted ``model`` beside its ``data`` into ``out_dir``.

    Duck-typed: ``model.sample(n_samples, random_state=0)``, ``model.score_fn(x, sigma)``,
    ``model.sigmas_`` (largest first), ``model.model`` ("score" or "energy") and, for energy
    models, ``model.energy(x)``; all in data coordinates.

    - images (data of shape (n, C, H, W)): ``samples.png``, 64 samples beside 64 data images;
    - 2-D points: ``samples.png`` (samples over the data), ``score_field.png`` (the learned score
      at the smallest, a middle and the largest sigma over the data) and, for energy models,
      ``density.png`` (exp(-E) normalised on the grid beside a 2-D histogram of the data);
    - other points: ``samples.png``, a pair plot of the first 3 coordinates (samples vs data).

    Only these file names are written. Returns their paths.
    """
    if data is None:
        raise ValueError("the run holds no data preview to plot against")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = to_numpy(data)
    if data.ndim == 4:
        return [_save_image_samples(model, data, out_dir / "samples.png", n_samples or 64)]
    data = _points(data, "data")
    samples = _points(model.sample(n_samples or 1000, random_state=0))
    d = data.shape[1]
    if d != 2:
        return [_save_pairs(samples, data, out_dir / "samples.png")]

    written = []
    fig, axes = new_figure()
    plot_samples(axes[0, 0], samples, data, bounds=view_bounds(samples, data),
                 title=f"{len(samples)} samples over the data")
    written.append(save_figure(fig, out_dir / "samples.png"))

    bounds = auto_bounds(data)
    sigmas = _field_sigmas(model)
    fig, axes = new_figure(1, len(sigmas))
    for ax, sigma in zip(axes[0], sigmas):
        plot_samples(ax, data, bounds=bounds, color="0.75", s=2, label="data", legend=False)
        plot_score_field(ax, model.score_fn, sigma, bounds, title=f"learned score, σ = {sigma:.3g}")
    written.append(save_figure(fig, out_dir / "score_field.png"))

    if getattr(model, "model", None) == "energy":
        fig, axes = new_figure(1, 2)
        plot_density(axes[0, 0], lambda x: -model.energy(x), bounds, title="exp(−E), normalised on the grid")
        xmin, xmax, ymin, ymax = bounds
        *_, im = axes[0, 1].hist2d(data[:, 0], data[:, 1], bins=100, range=[[xmin, xmax], [ymin, ymax]],
                                   density=True, cmap="Blues")
        fig.colorbar(im, ax=axes[0, 1], shrink=0.8, label="density (histogram)")
        axes[0, 1].set(aspect="equal", title=f"data, {len(data)} points")
        written.append(save_figure(fig, out_dir / "density.png"))
    return written


def _save_image_samples(model, data: np.ndarray, path: Path, n: int) -> Path:
    samples = to_numpy(model.sample(n, random_state=0))
    shown = data[:n]
    fig, axes = new_figure(1, 2, size=5.0)
    plot_image_grid(axes[0, 0], samples, title=f"{len(samples)} samples" + _clip_note(samples))
    plot_image_grid(axes[0, 1], shown, title=f"{len(shown)} data images" + _clip_note(shown))
    return save_figure(fig, path)


def _save_pairs(samples: np.ndarray, data: np.ndarray, path: Path) -> Path:
    d = data.shape[1]
    if d == 1:
        fig, axes = new_figure()
        plot_samples(axes[0, 0], samples, data, title=f"{len(samples)} samples vs data")
        return save_figure(fig, path)
    k = min(3, d)
    fig, axes = new_figure(k, k, size=2.5)
    plot_pairs(axes, samples, data)
    fig.suptitle(f"{len(samples)} samples (blue) vs data (gray), coordinates 1-{k} of {d}")
    return save_figure(fig, path)
