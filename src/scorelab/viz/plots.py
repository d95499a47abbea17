"""Plots of 2-D (or few-D) points: densities on a grid, samples, score fields.

Object-oriented matplotlib only (``matplotlib.figure.Figure``, never ``pyplot``): no GUI
backend is touched and the caller's backend is left alone. Every ``plot_*`` draws on the
``ax`` it is given and returns it; every ``save_*`` writes a PNG and returns its path.
Tensors go in; the math runs in torch, the drawing on CPU numpy. Bounds are
``(xmin, xmax, ymin, ymax)``, matplotlib's ``extent`` order.
"""
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ..core import atomic_write

_CHUNK = 4096  # points per call of a density or score function


# ---------------------------------------------------------------------- helpers
def to_numpy(x) -> np.ndarray:
    """A tensor (any device, with or without grad) or array-like as a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _points(x, what: str = "samples") -> np.ndarray:
    """(n, d) numpy points; a 1-D input is one coordinate per point."""
    x = to_numpy(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{what} must be points of shape (n, d), got shape {x.shape}")
    return x


def new_figure(nrows: int = 1, ncols: int = 1, size: float = 4.0, **kwargs):
    """A ``Figure`` (constrained layout) and its axes as an (nrows, ncols) array."""
    fig = Figure(figsize=(size * ncols, size * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def save_figure(fig: Figure, path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically, parent folders created); return the path."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _evaluate(fn, points: torch.Tensor, *args) -> np.ndarray:
    """``fn(chunk, *args(chunk))`` over ``points`` in chunks, concatenated as numpy. Gradients stay
    enabled (an energy model's score needs autograd); results are detached chunk by chunk."""
    out = [to_numpy(fn(chunk, *(a(chunk) for a in args))) for chunk in points.split(_CHUNK)]
    return np.concatenate(out, axis=0)


def _sigma_for(sigma):
    """A function giving the contract's per-sample sigma, shape (batch,), for a chunk."""
    return lambda chunk: torch.full((chunk.shape[0],), float(sigma), dtype=chunk.dtype)


def grid_points(bounds, n: int):
    """An n x n grid over ``bounds``: (points (n*n, 2) float32, X (n, n), Y (n, n)).

    Row i of X, Y holds y = ys[i]; ``values.reshape(n, n)`` is then an image with y up
    (``imshow(..., origin="lower")``).
    """
    if n < 2:
        raise ValueError(f"grid_points: n must be >= 2, got {n}")
    xmin, xmax, ymin, ymax = map(float, bounds)
    Y, X = torch.meshgrid(torch.linspace(ymin, ymax, n), torch.linspace(xmin, xmax, n), indexing="ij")
    return torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1), X, Y


def auto_bounds(*point_sets, margin: float = 0.1):
    """Bounds ``(xmin, xmax, ymin, ymax)`` holding the first two coordinates of every finite
    point, widened by ``margin`` times the span on each side (a zero span counts as 1)."""
    sets = [_points(p)[:, :2] for p in point_sets if p is not None]
    if not sets or any(p.shape[1] < 2 for p in sets):
        raise ValueError("auto_bounds needs at least one set of points with two or more coordinates")
    pts = np.concatenate(sets)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("auto_bounds: no finite points")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def view_bounds(samples, data=None, margin: float = 0.1):
    """Bounds for samples shown with their data: both sets, but never wider than the data's own
    bounds widened by the data's span on each side, so diverged samples cannot shrink the view to
    nothing (``plot_samples`` reports how many fall outside)."""
    if data is None:
        return auto_bounds(samples, margin=margin)
    both, limit = auto_bounds(samples, data, margin=margin), auto_bounds(data, margin=1.0)
    return (max(both[0], limit[0]), min(both[1], limit[1]), max(both[2], limit[2]), min(both[3], limit[3]))


def _thin(x: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` rows of ``x`` (a fixed random subset, the same on every call)."""
    if len(x) <= max_points:
        return x
    return x[np.sort(np.random.default_rng(0).choice(len(x), max_points, replace=False))]


# ---------------------------------------------------------------------- density
def density_on_grid(log_density_fn, bounds, n: int = 200, normalize: bool = True) -> np.ndarray:
    """exp(log density) on an n x n grid, shape (n, n) (rows are y).

    With ``normalize``, normalised on the grid: p = exp(l - max l) / (sum exp(l - max l) dA),
    i.e. log p = l - log Z_grid, so an unnormalised log-density such as -E works. Entries where
    the log-density is +inf or NaN are NaN (left blank); -inf gives 0.
    """
    points, _, _ = grid_points(bounds, n)
    with torch.no_grad():
        logd = _evaluate(log_density_fn, points).reshape(n, n)
    logd = np.where(np.isnan(logd) | np.isposinf(logd), np.nan, logd)
    if not normalize:
        return np.exp(logd)
    finite = np.isfinite(logd)
    if not finite.any():
        return np.full_like(logd, np.nan)
    density = np.exp(logd - logd[finite].max())
    xmin, xmax, ymin, ymax = map(float, bounds)
    cell = (xmax - xmin) * (ymax - ymin) / (n - 1) ** 2
    return density / (np.nansum(density) * cell)


def _draw_heatmap(ax, values: np.ndarray, bounds, *, cmap="Blues", colorbar=True, label=None, norm=None):
    """``values`` (n, n), rows are y, at the grid points of ``bounds``: pixels centred on them."""
    xmin, xmax, ymin, ymax = map(float, bounds)
    dx, dy = (xmax - xmin) / (values.shape[1] - 1), (ymax - ymin) / (values.shape[0] - 1)
    extent = (xmin - dx / 2, xmax + dx / 2, ymin - dy / 2, ymax + dy / 2)
    im = ax.imshow(values, origin="lower", extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set(xlim=(xmin, xmax), ylim=(ymin, ymax), aspect="equal")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label=label)
    return im


def plot_density(ax, log_density_fn, bounds, n: int = 200, normalize: bool = True, *,
                 cmap="Blues", colorbar=True, title=None):
    """Heatmap of exp(``log_density_fn(x)``) on an n x n grid (see :func:`density_on_grid`)."""
    density = density_on_grid(log_density_fn, bounds, n, normalize)
    label = "density (grid-normalised)" if normalize else "exp(log density)"
    _draw_heatmap(ax, density, bounds, cmap=cmap, colorbar=colorbar, label=label)
    ax.set_title("density" if title is None else title)
    return ax


# ---------------------------------------------------------------------- samples
def plot_samples(ax, samples, data=None, *, bounds=None, max_points: int = 5000, s: float = 3.0,
                 alpha: float = 0.5, color="tab:blue", data_color="0.6", label="samples",
                 title=None, legend=True):
    """Scatter of ``samples`` (first two coordinates) over a lighter scatter of ``data``.

    At most ``max_points`` of each are drawn (the legend says so). With ``bounds`` the view is
    fixed and the legend counts the samples outside it. One-dimensional points are drawn as
    histograms instead.
    """
    x = _points(samples)
    y = None if data is None else _points(data, "data")
    if x.shape[1] == 1:
        return _plot_histograms(ax, x[:, 0], None if y is None else y[:, 0], color, data_color, label, title)
    if y is not None:
        shown = _thin(y, max_points)
        note = f" ({len(shown)} of {len(y)})" if len(shown) < len(y) else ""
        ax.scatter(shown[:, 0], shown[:, 1], s=s, alpha=min(1.0, 0.6 * alpha), c=data_color,
                   linewidths=0, label="data" + note, rasterized=True)
    shown = _thin(x, max_points)
    note = f" ({len(shown)} of {len(x)})" if len(shown) < len(x) else ""
    if bounds is not None:
        xmin, xmax, ymin, ymax = map(float, bounds)
        inside = (x[:, 0] >= xmin) & (x[:, 0] <= xmax) & (x[:, 1] >= ymin) & (x[:, 1] <= ymax)
        if (~inside).any():
            note += f", {int((~inside).sum())} outside view"
        ax.set(xlim=(xmin, xmax), ylim=(ymin, ymax))
    ax.scatter(shown[:, 0], shown[:, 1], s=s, alpha=alpha, c=color, linewidths=0, label=label + note,
               rasterized=True)
    ax.set_aspect("equal")
    if legend:
        ax.legend(loc="upper right", fontsize="small", markerscale=3, framealpha=0.8)
    if title is not None:
        ax.set_title(title)
    return ax


def _plot_histograms(ax, x, y, color, data_color, label, title):
    bins = np.histogram_bin_edges(x[np.isfinite(x)] if y is None else np.concatenate([x, y]), bins=50)
    if y is not None:
        ax.hist(y, bins=bins, density=True, color=data_color, alpha=0.5, label="data")
    ax.hist(x, bins=bins, density=True, histtype="step", color=color, label=label)
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_pairs(axes, samples, data=None, *, max_points: int = 2000, color="tab:blue", data_color="0.6"):
    """Pair plot of the first k coordinates on a k x k array of axes: scatter (samples over data)
    off the diagonal, overlaid histograms on it. Returns ``axes``."""
    axes = np.asarray(axes)
    k = axes.shape[0]
    x = _points(samples)[:, :k]
    y = None if data is None else _points(data, "data")[:, :k]
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                _plot_histograms(ax, x[:, i], None if y is None else y[:, i], color, data_color, "samples", None)
                if i > 0:
                    ax.get_legend().remove()
            else:
                for pts, c, a in ((y, data_color, 0.5), (x, color, 0.4)):
                    if pts is not None:
                        pts = _thin(pts, max_points)
                        ax.scatter(pts[:, j], pts[:, i], s=2, alpha=a, c=c, linewidths=0, rasterized=True)
            if i == k - 1:
                ax.set_xlabel(f"x{j + 1}")
            if j == 0:
                ax.set_ylabel(f"x{i + 1}")
    return axes


# ---------------------------------------------------------------------- score fields
def _score_on_grid(score_fn, sigma, bounds, n: int):
    points, X, Y = grid_points(bounds, n)
    return to_numpy(X), to_numpy(Y), _evaluate(score_fn, points, _sigma_for(sigma))


def _magnitude_norm(*magnitudes):
    """A shared colour scale for score magnitudes: logarithmic (they span decades at small sigma)."""
    m = np.concatenate([np.ravel(v) for v in magnitudes])
    m = m[np.isfinite(m) & (m > 0)]
    if len(m) == 0:
        return Normalize(0.0, 1.0)
    vmax = float(m.max())
    return LogNorm(max(float(m.min()), vmax * 1e-6), vmax) if m.min() < vmax else Normalize(0.0, vmax)


def _draw_field(ax, X, Y, score, *, normalize=True, norm=None, cmap="viridis", colorbar=True):
    """Quiver of ``score`` (n*n, 2) at the grid X, Y: direction, colour = magnitude."""
    n = X.shape[0]
    mag = np.linalg.norm(score, axis=1)
    spacing = min(X[0, -1] - X[0, 0], Y[-1, 0] - Y[0, 0]) / (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize:  # every arrow 0.8 grid cells long
            uv = score / np.where(mag > 0, mag, 1.0)[:, None]
        else:  # the longest arrow 0.8 grid cells long
            uv = score / (np.nanmax(mag) if np.nanmax(mag) > 0 else 1.0)
    uv = np.ma.masked_invalid(0.8 * spacing * uv)
    norm = _magnitude_norm(mag) if norm is None else norm
    q = ax.quiver(X.ravel(), Y.ravel(), uv[:, 0], uv[:, 1], np.ma.masked_invalid(np.clip(mag, norm.vmin, None)),
                  angles="xy", scale_units="xy", scale=1, pivot="mid", cmap=cmap, norm=norm, width=0.005)
    ax.set(xlim=(X[0, 0] - spacing, X[0, -1] + spacing), ylim=(Y[0, 0] - spacing, Y[-1, 0] + spacing),
           aspect="equal")
    if colorbar:
        ax.figure.colorbar(q, ax=ax, shrink=0.8, label="‖score‖")
    return q


def plot_score_field(ax, score_fn, sigma, bounds, n: int = 20, *, normalize=True, norm=None,
                     cmap="viridis", colorbar=True, title=None):
    """Quiver of ``score_fn(x, sigma)`` on an n x n grid: arrows of equal length (with
    ``normalize``) showing the direction, colour showing the magnitude (log scale)."""
    X, Y, score = _score_on_grid(score_fn, sigma, bounds, n)
    _draw_field(ax, X, Y, score, normalize=normalize, norm=norm, cmap=cmap, colorbar=colorbar)
    ax.set_title(f"score, σ = {float(sigma):.3g}" if title is None else title)
    return ax


def save_score_comparison(path, learned_fn, true_fn, sigmas, bounds, *, n: int = 20,
                          difference: bool = True, n_difference: int = 100) -> Path:
    """One row per sigma: the learned field, the true field (one colour scale per row) and, with
    ``difference``, a heatmap of ‖learned − true‖ on an ``n_difference`` grid."""
    sigmas = [float(s) for s in to_numpy(sigmas).ravel()]
    fig, axes = new_figure(len(sigmas), 3 if difference else 2)
    for row, sigma in zip(axes, sigmas):
        X, Y, learned = _score_on_grid(learned_fn, sigma, bounds, n)
        _, _, true = _score_on_grid(true_fn, sigma, bounds, n)
        norm = _magnitude_norm(np.linalg.norm(learned, axis=1), np.linalg.norm(true, axis=1))
        _draw_field(row[0], X, Y, learned, norm=norm, colorbar=False)
        _draw_field(row[1], X, Y, true, norm=norm)
        row[0].set_title(f"learned score, σ = {sigma:.3g}")
        row[1].set_title(f"true score, σ = {sigma:.3g}")
        if difference:
            _, _, ld = _score_on_grid(learned_fn, sigma, bounds, n_difference)
            _, _, td = _score_on_grid(true_fn, sigma, bounds, n_difference)
            err = np.linalg.norm(ld - td, axis=1).reshape(n_difference, n_difference)
            _draw_heatmap(row[2], err, bounds, cmap="magma", label="‖learned − true‖")
            row[2].set_title(f"‖learned − true‖, σ = {sigma:.3g}\nmean {np.nanmean(err):.3g}")
    return save_figure(fig, path)


# ---------------------------------------------------------------------- figures
def save_samples_over_density(path, panels: dict, log_density_fn, bounds, *, n: int = 200,
                              normalize: bool = True, max_points: int = 5000) -> Path:
    """One panel per ``title -> samples``: the samples scattered over the density heatmap
    (computed once, one colour scale), e.g. plain vs annealed Langevin."""
    density = density_on_grid(log_density_fn, bounds, n, normalize)
    fig, axes = new_figure(1, len(panels))
    for k, (ax, (title, samples)) in enumerate(zip(axes[0], panels.items())):
        _draw_heatmap(ax, density, bounds, colorbar=k == len(panels) - 1,
                      label="density (grid-normalised)" if normalize else "exp(log density)")
        plot_samples(ax, samples, bounds=bounds, max_points=max_points, color="tab:red", s=4, alpha=0.6,
                     title=str(title))
    return save_figure(fig, path)


def save_scatter(path, samples, data=None, *, title=None, max_points: int = 5000) -> Path:
    """Scatter of ``samples`` (over ``data``): the first two coordinates, said in the title when
    there are more (one coordinate: histograms)."""
    x = _points(samples)
    d = x.shape[1]
    if title is None:
        title = f"{len(x)} samples" + (f" (coordinates 1-2 of {d})" if d > 2 else "")
    fig, axes = new_figure()
    bounds = None if d == 1 else view_bounds(x, data)
    plot_samples(axes[0, 0], x, data, bounds=bounds, max_points=max_points, title=title)
    return save_figure(fig, path)


def log_color_norm(vmin: float, vmax: float):
    """A logarithmic colour scale from ``vmin`` to ``vmax`` (for ``imshow``'s ``norm``)."""
    return LogNorm(vmin=vmin, vmax=vmax)


def plain_log_ticks(ax) -> None:
    """Label both log-scaled axes of ``ax`` with plain numbers (10, 20, 50), not powers of ten."""
    from matplotlib.ticker import ScalarFormatter
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)
