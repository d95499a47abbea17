"""``noise-levels``: annealed Langevin's own accuracy, driven by the EXACT score.

The target is a 2-D mixture of three well-separated Gaussians with weights 0.6 / 0.3 / 0.1
(means on a circle of radius 5, so 8.66 apart; std 0.7). Its score at every noise level is in
closed form, so whatever goes wrong here is the sampler's fault, not a network's. Over a grid
of L (number of geometric levels), ε/σ_L² (the step size relative to the smallest level;
the sampler uses αᵢ = ε σᵢ²/σ_L²) and T (steps per level), annealed Langevin with the final
Tweedie denoising step starts from σ_max·z and is scored by

* the mixture weights it recovers (the fraction of its 5000 samples nearest to each mean;
  standard error up to 0.007), and
* the energy distance of 2500 of its samples to 2500 fresh data points, next to the *sampling
  floor*: the energy distance between two fresh data sets of that size (mean ± sd over
  replicate pairs; the estimate is a V-statistic, so the floor is positive). The weight
  error of fresh data sets of 5000 points is reported as a floor too.

σ_max is NCSNv2's rule: the largest pairwise distance in a data sample (2500 points). σ_min = 0.05 (7 % of
the components' std: the final level barely blurs the data, and the Tweedie step removes
what remains). A run that raises ``FloatingPointError`` (or returns NaN/Inf) is recorded as
"diverged". The library's defaults are run too (L from ``ncsnv2_num_levels``, ε = ANNEALED_EPS·σ_L²),
next to NCSNv2's own step-size rule (``ncsnv2_step_size``).

Why it matters (Song & Ermon 2019, 2020): the weights of separated modes are decided while
the noise still connects them, so the chain has to equilibrate level by level. Too few
levels (NCSN used 10) or too few steps lose the weights, even with the exact score; too large
a step makes Langevin's biased, or blows it up (ε/σ_L² > 4 is unstable at the large levels,
where α approaches 4 times the level's variance).
"""
import math
import time
from pathlib import Path

import torch

from ..distributions import GaussianMixture
from ..evaluation.metrics import energy_distance, mode_fractions
from ..samplers.named import ANNEALED_EPS
from ..samplers import (annealed_langevin, geometric_sigmas, max_pairwise_distance,
                        ncsnv2_num_levels, ncsnv2_step_size)
from ._common import generator, mean_sd, new_figure, save_figure

DESCRIPTION = ("Annealed Langevin with the exact score of a 0.6/0.3/0.1 mixture, over a grid of "
               "noise levels, step sizes and steps per level.")
CLAIM = ("Annealing through enough noise levels recovers the mixture weights; too few levels lose them "
         "even with the exact score, and too large a step diverges.")

WEIGHTS = (0.6, 0.3, 0.1)
RADIUS, STD = 5.0, 0.7
SIGMA_MIN = 0.05
WEIGHT_TOLERANCE = 0.02  # "recovers the weights": every fraction within this of its weight
FLOOR_SDS = 2.0  # "reaches the floor": energy distance <= floor mean + FLOOR_SDS * floor sd
FULL = {"levels": (5, 10, 20, 40), "step_ratios": (0.05, 0.2, 0.5, 2.0, 5.0),
        "steps_per_level": (20, 100), "n_samples": 5000, "ed_points": 2500, "floor_replicates": 20}
QUICK = {"levels": (5, 10, 40), "step_ratios": (0.5, 5.0),
         "steps_per_level": (20,), "n_samples": 2000, "ed_points": 2000, "floor_replicates": 10}


def three_modes() -> GaussianMixture:
    """0.6 / 0.3 / 0.1 mixture of N(μ_k, 0.7² I), μ_k at angles 90°, 210°, 330° on a circle of radius 5."""
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    means = RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(means, WEIGHTS, stds=STD, name="three_modes")


def _mean_sd(values) -> dict:
    return {**mean_sd(values), "n": len(values)}


def _weight_error(x: torch.Tensor, gm: GaussianMixture) -> tuple[list[float], float]:
    fractions = mode_fractions(x, gm.means)
    return fractions.tolist(), float((fractions - torch.tensor(WEIGHTS, dtype=torch.float64)).abs().max())


def sampling_floor(gm: GaussianMixture, cfg: dict, seed: int) -> dict:
    """What exact samples score: the energy distance between two fresh data sets of
    ``ed_points`` each, and the weight error of a fresh data set of ``n_samples``, each as
    mean ± sd over ``floor_replicates`` replicates."""
    distances, weight_errors = [], []
    for r in range(cfg["floor_replicates"]):
        g = generator(seed, "floor", r)
        a = gm.sample(cfg["n_samples"], g)
        distances.append(energy_distance(a[:cfg["ed_points"]], gm.sample(cfg["ed_points"], g)))
        weight_errors.append(_weight_error(a, gm)[1])
    return {"energy_distance": _mean_sd(distances), "weight_error": _mean_sd(weight_errors)}


def run_cell(gm, sigma_max: float, levels: int, step_ratio: float, steps: int, cfg: dict, seed: int,
             floor: dict) -> dict:
    """One annealed-Langevin run of ``n_samples`` chains from σ_max·z with the exact score, step
    size ε = ``step_ratio``·σ_L²: the weights it recovers, and the energy distance of its first
    ``ed_points`` samples to as many fresh data points (that costs O(n²), the weights O(n))."""
    n = cfg["n_samples"]
    sigmas = geometric_sigmas(sigma_max, SIGMA_MIN, levels)
    step_size = step_ratio * SIGMA_MIN**2
    g = generator(seed, "cell", levels, step_ratio, steps)
    cell = {"levels": levels, "step_size": step_size, "step_ratio": step_ratio,
            "steps_per_level": steps, "nfe": levels * steps + 1}
    start = time.perf_counter()
    try:
        x = annealed_langevin(gm.score, sigma_max * torch.randn(n, gm.dim, generator=g), sigmas,
                              step_size, steps, generator=g)
        diverged = not bool(torch.isfinite(x).all())
    except FloatingPointError:
        diverged = True
    cell["seconds"] = time.perf_counter() - start
    if diverged:
        return {**cell, "status": "diverged", "recovers_weights": False, "at_floor": False}
    fractions, weight_error = _weight_error(x, gm)
    data = gm.sample(cfg["ed_points"], generator(seed, "data", levels, step_ratio, steps))
    distance = energy_distance(x[:cfg["ed_points"]], data)
    ed_floor = floor["energy_distance"]
    return {**cell, "status": "ok", "fractions": fractions, "weight_error": weight_error,
            "energy_distance": distance,
            "energy_distance_over_floor": distance / ed_floor["mean"] if ed_floor["mean"] > 0 else math.nan,
            "energy_distance_excess_sd": (distance - ed_floor["mean"]) / ed_floor["sd"],
            "recovers_weights": weight_error <= WEIGHT_TOLERANCE,
            "at_floor": distance <= ed_floor["mean"] + FLOOR_SDS * ed_floor["sd"]}


def _error_or_inf(cell: dict) -> float:
    """Sort key 'best first': weight error, diverged cells last."""
    return cell["weight_error"] if cell["status"] == "ok" else math.inf


def _plot(cells: list, cfg: dict, path: Path) -> None:
    steps, levels, ratios = cfg["steps_per_level"], cfg["levels"], cfg["step_ratios"]
    panels = [  # (what to colour, its transform, colour range, annotation format, title)
        ("weight_error", lambda v: v, (0.0, 0.25), "{:.3f}",
         f"max |fraction − weight|  (bold: ≤ {WEIGHT_TOLERANCE})"),
        ("energy_distance_over_floor", lambda v: math.log10(max(v, 1e-3)), (0.0, 3.0), "{:.1f}",
         f"energy distance / floor  (colour: log10; bold: ≤ floor + {FLOOR_SDS:g} sd)"),
    ]
    fig, axes = new_figure(len(steps), 2, size=5.0)
    for row, t in enumerate(steps):
        grid = {(c["levels"], c["step_ratio"]): c for c in cells if c["steps_per_level"] == t}
        for col, (what, transform, (vmin, vmax), fmt, title) in enumerate(panels):
            ax = axes[row, col]
            values = torch.full((len(levels), len(ratios)), math.nan)
            for i, L in enumerate(levels):
                for j, r in enumerate(ratios):
                    c = grid[(L, r)]
                    if c["status"] != "ok":
                        ax.text(j, i, "diverged", ha="center", va="center", fontsize=8, color="red")
                        continue
                    values[i, j] = transform(c[what])
                    good = c["recovers_weights"] if col == 0 else c["at_floor"]
                    dark = values[i, j] > vmin + 0.6 * (vmax - vmin)
                    ax.text(j, i, fmt.format(c[what]), ha="center", va="center", fontsize=8,
                            fontweight="bold" if good else "normal", color="white" if dark else "black")
            image = ax.imshow(values.numpy(), origin="lower", aspect="auto", cmap="YlOrRd", vmin=vmin, vmax=vmax)
            fig.colorbar(image, ax=ax, shrink=0.9)
            ax.set_facecolor("0.85")  # diverged cells (NaN) show the background
            ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
            ax.set_yticks(range(len(levels)), [str(L) for L in levels])
            ax.set_xlabel("ε / σ_L²  (step size at the smallest level)")
            ax.set_ylabel("levels L")
            ax.set_title(f"T = {t} steps per level\n{title}", fontsize=9)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Run the grid and the library's defaults; plot ``noise_levels.png``."""
    cfg = QUICK if quick else FULL
    gm = three_modes()
    sigma_max = max_pairwise_distance(gm.sample(cfg["ed_points"], generator(seed, "sigma_max")))
    floor = sampling_floor(gm, cfg, seed)
    cells = [run_cell(gm, sigma_max, L, r, t, cfg, seed, floor)
             for t in cfg["steps_per_level"] for L in cfg["levels"] for r in cfg["step_ratios"]]
    best = min(cells, key=_error_or_inf)

    default_levels = ncsnv2_num_levels(gm.dim, sigma_max, SIGMA_MIN)
    default_sigmas = geometric_sigmas(sigma_max, SIGMA_MIN, default_levels)
    rules = {"library_defaults": lambda t: ANNEALED_EPS,  # what ScoreModel.sample uses
             "ncsnv2_step_size_rule": lambda t: ncsnv2_step_size(default_sigmas, t) / SIGMA_MIN**2}
    compared = {}
    for name, ratio_for in rules.items():
        compared[name] = []
        for t in cfg["steps_per_level"]:
            cell = run_cell(gm, sigma_max, default_levels, ratio_for(t), t, cfg, seed, floor)
            error = _error_or_inf(cell)
            best_same_t = min(_error_or_inf(c) for c in cells if c["steps_per_level"] == t)
            cell["grid_cells_with_lower_weight_error"] = sum(_error_or_inf(c) < error for c in cells)
            cell["vs_grid_best"] = "better" if error <= _error_or_inf(best) else "worse"
            cell["vs_grid_best_same_steps"] = "better" if error <= best_same_t else "worse"
            compared[name].append(cell)

    _plot(cells, cfg, Path(out_dir) / "noise_levels.png")
    ok = [c for c in cells if c["status"] == "ok"]
    return {
        "mixture": {"weights": list(WEIGHTS), "means": gm.means.tolist(), "std": STD},
        "sigma_max": sigma_max,
        "sigma_min": SIGMA_MIN,
        "n_samples": cfg["n_samples"],
        "energy_distance_points": cfg["ed_points"],
        "floor": floor,
        # Binomial standard error of each recovered fraction: a single run's weight error is
        # only resolved to about twice this.
        "weight_standard_error": [math.sqrt(w * (1 - w) / cfg["n_samples"]) for w in WEIGHTS],
        "criteria": {"weight_tolerance": WEIGHT_TOLERANCE, "floor_sds": FLOOR_SDS},
        "grid": {k: list(cfg[k]) for k in ("levels", "step_ratios", "steps_per_level")},
        "cells": cells,
        "best_cell": best,
        "best_weight_error_by_levels": {str(L): min(_error_or_inf(c) for c in cells if c["levels"] == L)
                                        for L in cfg["levels"]},
        "recovered_and_at_floor": [(c["levels"], c["step_ratio"], c["steps_per_level"]) for c in ok
                                   if c["recovers_weights"] and c["at_floor"]],
        "recovers_weights": [(c["levels"], c["step_ratio"], c["steps_per_level"]) for c in ok
                             if c["recovers_weights"]],
        "diverged": [(c["levels"], c["step_ratio"], c["steps_per_level"]) for c in cells
                     if c["status"] == "diverged"],
        **compared,
    }
