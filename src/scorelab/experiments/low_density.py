"""``low-density``: a learned score is accurate where the data are and wrong where they are not.

Score matching weights its errors by the data density: DSM at one σ minimises
E_{x̃~p_σ}‖s_θ(x̃) − ∇log p_σ(x̃)‖² (up to a constant), so wherever p_σ is tiny the network
is hardly constrained (Song & Ermon 2019, section 3.2). A non-conditional score network is
trained with DSM at a small σ (0.1) on the lecture's mixture 0.8·N((5, 5), I) +
0.2·N((−5, −5), I), whose modes are 14 apart, and its error ‖s_θ(x) − ∇log p_σ(x)‖ (the
truth is exact) is mapped on a grid over [−10, 10]², next to the density p_σ. Reported:

* the density-weighted mean error Σ p_σ·err / Σ p_σ over the grid (≈ E_{x~p_σ} err, what
  the loss sees), against the mean error in the low-density region, the grid points with
  p_σ < 10⁻³·max p_σ, and in the rest (the high-density region);
* the relative error err/‖∇log p_σ‖ in both regions (medians: the true score itself grows
  away from the modes, so the absolute error alone would overstate the contrast);
* the correlation of the error with log p_σ over the grid: Pearson between log err and
  log p_σ, and Spearman (ranks);
* the mean error in each decade of p_σ/max p_σ.

Langevin dynamics started in the low-density region (plain Langevin from a uniform box, as
the lecture does) follows this wrong field first: see ``mixture-weights``.
"""
import math
from pathlib import Path

import torch

from ..distributions import get_toy
from ..estimator import ScoreModel
from ._common import generator, new_figure, save_figure

DESCRIPTION = ("DSM at a small σ on the lecture mixture: a map of the learned score's error next to the "
               "density, and the error in high- vs low-density regions.")
CLAIM = ("The learned score is accurate where the data are and wrong in low-density regions, because the "
         "objective weights errors by the data density.")

DSM_SIGMA = 0.1
BOUNDS = (-10.0, 10.0, -10.0, 10.0)
LOW_DENSITY = 1e-3  # the low-density region: p_σ < LOW_DENSITY · max p_σ on the grid
DECADES = 12  # error by decade of p_σ / max p_σ: 10^0 ... 10^-DECADES (and below)
FULL = {"steps": 2000, "n_data": 10000, "grid": 121}
QUICK = {"steps": 300, "n_data": 2000, "grid": 61}


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n−1 (ties broken by position; the grid's values are continuous)."""
    r = torch.empty_like(v, dtype=torch.float64)
    r[v.argsort()] = torch.arange(len(v), dtype=torch.float64)
    return r


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    return float((a * b).sum() / (a.square().sum() * b.square().sum()).sqrt())


def error_map(model: ScoreModel, toy, points: torch.Tensor, sigma: float) -> dict:
    """Learned and exact score of p_σ at ``points``: the error norm, its size relative to the
    true score, and log p_σ (all (n,) tensors)."""
    with torch.no_grad():
        learned = model.score_fn(points)
    true = toy.score(points, sigma)
    error = (learned - true).norm(dim=1)
    return {"error": error, "relative": error / true.norm(dim=1).clamp_min(1e-30),
            "log_density": toy.log_prob(points, sigma)}


def region_summary(maps: dict, mask: torch.Tensor) -> dict:
    return {"fraction_of_grid": float(mask.double().mean()),
            "mean_error": float(maps["error"][mask].mean()),
            "median_error": float(maps["error"][mask].median()),
            "median_relative_error": float(maps["relative"][mask].median())}


def _plot(toy, maps: dict, n: int, data: torch.Tensor, decades: list, path: Path) -> None:
    from ..viz import log_color_norm, plot_density

    fig, axes = new_figure(1, 3, size=5.0)
    extent = (BOUNDS[0], BOUNDS[1], BOUNDS[2], BOUNDS[3])
    rel_logp = (maps["log_density"] - maps["log_density"].max()).reshape(n, n)
    ax = axes[0, 0]
    plot_density(ax, lambda x: toy.log_prob(x, DSM_SIGMA), BOUNDS, n=n, normalize=True,
                 title=f"data density p_σ (σ = {DSM_SIGMA:g})")
    ax.contour(rel_logp.numpy(), levels=[math.log(LOW_DENSITY)], extent=extent, colors="tab:red",
               linewidths=1.0)
    ax.text(0.02, 0.02, f"red: p_σ = {LOW_DENSITY:g}·max", transform=ax.transAxes, color="tab:red", fontsize=8)

    ax = axes[0, 1]
    error = maps["error"].reshape(n, n).numpy()
    image = ax.imshow(error, origin="lower", extent=extent, cmap="magma",
                      norm=log_color_norm(max(float(error.min()), 1e-3), float(error.max())))
    fig.colorbar(image, ax=ax, shrink=0.8, label="‖s_θ(x) − ∇log p_σ(x)‖")
    ax.contour(rel_logp.numpy(), levels=[math.log(LOW_DENSITY)], extent=extent, colors="cyan", linewidths=1.0)
    shown = data[:500]
    ax.scatter(shown[:, 0], shown[:, 1], s=1, c="white", alpha=0.4, linewidths=0, rasterized=True)
    ax.set(aspect="equal",
           title="error of the learned score (log colour)\nwhite: data; cyan: low-density boundary")

    ax = axes[0, 2]
    centers = [d["decade"] + 0.5 for d in decades if d["points"]]
    ax.plot([-c for c in centers], [d["mean_error"] for d in decades if d["points"]], "o-", color="C0",
            label="mean error")
    ax.plot([-c for c in centers], [d["median_relative_error"] for d in decades if d["points"]], "s--",
            color="C3", label="median relative error (÷ ‖∇log p_σ‖)")
    ax.axvline(math.log10(LOW_DENSITY), color="tab:red", lw=0.8, ls=":", label="low-density threshold")
    ax.set(yscale="log", xlabel="log₁₀(p_σ / max p_σ), by decade (leftmost: all below)",
           ylabel="over the grid points of each decade")
    ax.set_title("error against density", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Train the DSM model, map its error against the exact score; plot ``low_density.png``."""
    cfg = QUICK if quick else FULL
    toy = get_toy("lecture")
    data = toy.sample(cfg["n_data"], generator(seed, "data"))
    model = ScoreModel(objective="dsm", sigma=DSM_SIGMA, steps=cfg["steps"], seed=seed).fit(data)
    from ..viz import grid_points   # (matplotlib only when the experiment runs)
    points = grid_points(BOUNDS, cfg["grid"])[0]
    maps = error_map(model, toy, points, DSM_SIGMA)

    density = (maps["log_density"] - maps["log_density"].max()).exp()
    low = density < LOW_DENSITY
    weighted = float((density * maps["error"]).sum() / density.sum())
    log10_rel = (maps["log_density"] - maps["log_density"].max()) / math.log(10)
    decade = (-log10_rel).floor().clamp(max=DECADES).long()
    decades = []
    for k in range(DECADES + 1):
        m = decade == k
        decades.append({"decade": k, "points": int(m.sum()),
                        "mean_error": float(maps["error"][m].mean()) if m.any() else math.nan,
                        "median_relative_error": float(maps["relative"][m].median()) if m.any() else math.nan})
    _plot(toy, maps, cfg["grid"], data, decades, Path(out_dir) / "low_density.png")

    high_region, low_region = region_summary(maps, ~low), region_summary(maps, low)
    return {
        "mixture": "lecture: 0.8 N((5,5), I) + 0.2 N((-5,-5), I)",
        "dsm_sigma": DSM_SIGMA,
        "training": {"steps": cfg["steps"], "n_data": cfg["n_data"]},
        "grid": {"bounds": list(BOUNDS), "points_per_side": cfg["grid"]},
        "low_density_threshold": LOW_DENSITY,
        "density_weighted_error": weighted,
        "high_density": high_region,
        "low_density": low_region,
        "low_over_weighted_error": low_region["mean_error"] / weighted,
        "pearson_log_error_log_density": pearson(maps["error"].log(), maps["log_density"]),
        "spearman_error_log_density": pearson(_ranks(maps["error"]), _ranks(maps["log_density"])),
        # Decade k holds the grid points with 10^-(k+1) < p_σ/max p_σ <= 10^-k (the last: all below).
        "error_by_density_decade": decades,
        "final_training_loss": model.history_[-1]["loss"],
    }
