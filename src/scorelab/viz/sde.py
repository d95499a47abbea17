"""The SDE view's figure: noise paths of a diffusion and its reverse process over the true
marginal density, and where the reverse process lands."""
import numpy as np

from .plots import new_figure, plot_samples, save_figure, to_numpy


def save_sde_paths(path, times, density, x_grid, forward, reverse, samples, data, *, title: str,
                   n_paths: int = 40):
    """Three panels: (1) forward noise paths, first coordinate against t, over the marginal
    density p_t(x₁) (``density``: (len(times), len(x_grid))); (2) reverse-SDE paths from the
    prior, on the same background; (3) the reverse process's samples over the data.
    ``forward``/``reverse``: (len(times), n, 2) trajectories on ``times`` (reverse stored in
    forward time order)."""
    fig, axes = new_figure(1, 3, size=4.2)
    t = to_numpy(times)
    extent = [t[0], t[-1], float(x_grid[0]), float(x_grid[-1])]
    for ax, paths, label in [(axes[0, 0], forward, "forward: noise paths"),
                             (axes[0, 1], reverse, "reverse SDE from the prior")]:
        ax.imshow(np.asarray(to_numpy(density)).T, origin="lower", aspect="auto", extent=extent,
                  cmap="Blues", interpolation="bilinear")
        p = to_numpy(paths)
        ax.plot(t, p[:, :n_paths, 0], lw=0.6, color="tab:orange", alpha=0.7)
        ax.set(xlabel="t", ylabel="x₁(t)", title=label, xlim=(t[0], t[-1]), ylim=extent[2:])
    plot_samples(axes[0, 2], samples, data, max_points=2000)
    axes[0, 2].set_title("reverse process at t = 0 (grey: data)")
    fig.suptitle(title)
    return save_figure(fig, path)
