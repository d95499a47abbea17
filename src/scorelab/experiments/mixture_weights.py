"""``mixture-weights``: plain Langevin loses the weights of separated modes, annealed Langevin keeps them.

The demo's claim over seeds, as a table. One noise-conditional score network is trained on
the lecture's mixture 0.8·N((5, 5), I) + 0.2·N((−5, −5), I) (the demo's
:func:`~scorelab.experiments.demo.train_lecture_model`) and sampled with five seeds by the
demo's :func:`~scorelab.experiments.demo.mode_fraction_by_sampler`: plain Langevin at the
smallest σ from a uniform start on [−8, 8]², and annealed Langevin over the training σ's
(library defaults for both). Each sample goes to its nearest mode.

Next to the learned score, the same two samplers are run with the EXACT score of p_σ
(same σ's, step sizes and steps; plain Langevin from its own uniform starts on the same
box), which separates the sampler's failure from the network's: plain Langevin cannot move
between modes 14 apart in any reasonable time (the valley's density is ~e⁻²⁵ of the peak),
so its chains keep the split of their starting points, whatever the score; annealed
Langevin crosses while the noise still joins the modes.
"""
import statistics
from pathlib import Path

import torch

from ..distributions import get_toy
from ..evaluation.metrics import mode_fractions
from ..samplers import annealed_langevin, langevin
from ..samplers.named import ANNEALED_EPS, LANGEVIN_EPS
from ._common import generator, mean_sd, new_figure, save_figure
from .demo import BOX, DEFAULTS as DEMO, fisher_per_sigma, mode_fraction_by_sampler, train_lecture_model

DESCRIPTION = ("The lecture mixture 0.8/0.2: the fraction of samples in each mode for plain and annealed "
               "Langevin with a trained network (5 seeds), with the exact score, and the truth.")
CLAIM = ("Plain Langevin keeps the split of its starting points instead of the mixture weights; annealed "
         "Langevin recovers 0.8/0.2.")

ROWS = {"plain": "plain Langevin, learned score", "plain_exact_score": "plain Langevin, exact score",
        "annealed": "annealed Langevin, learned score", "annealed_exact_score": "annealed Langevin, exact score"}
FULL = {"steps": DEMO["steps"], "n_data": DEMO["n_data"], "n_samples": 1000, "n_seeds": 5}  # the demo's model
QUICK = {"steps": 400, "n_data": 4000, "n_samples": 300, "n_seeds": 1}


def exact_score_fractions(model, n: int, seed: int) -> dict:
    """Fraction of samples nearest to (5, 5) for plain and annealed Langevin driven by the exact
    score of p_σ, with the settings ``model.sample`` uses (converted to data units)."""
    toy = get_toy("lecture")
    g = generator(seed, "exact")
    sigmas = model.sigmas_.double()
    sigma_min = float(sigmas[-1])
    start = (2 * torch.rand(n, 2, generator=g) - 1) * BOX
    plain = langevin(toy.score, start, LANGEVIN_EPS * model.normalizer_.sigma_scale**2, model.langevin_steps,
                     sigma=sigma_min, generator=g)
    annealed = annealed_langevin(toy.score, float(sigmas[0]) * torch.randn(n, 2, generator=g), sigmas,
                                 ANNEALED_EPS * sigma_min**2, model.steps_per_level, generator=g)
    return {"plain_exact_score": float(mode_fractions(plain, toy.means)[0]),
            "annealed_exact_score": float(mode_fractions(annealed, toy.means)[0])}


def _plot(table: dict, fractions: dict, samples: dict, path: Path) -> None:
    from ..viz import plot_density, plot_samples

    toy = get_toy("lecture")
    fig, axes = new_figure(1, 4, size=4.5)
    ax = axes[0, 0]
    for i, name in enumerate(ROWS):
        ax.bar(i, table[name]["mode_55"]["mean"], color="C0" if name.startswith("plain") else "C2",
               alpha=0.5 if name.endswith("exact_score") else 0.9)
        ax.plot([i] * len(fractions[name]), fractions[name], "k.", ms=5)
    ax.axhline(0.8, color="tab:red", ls="--", lw=1, label="truth 0.8")
    ax.axhline(0.5, color="0.5", ls=":", lw=1, label="share of the box nearer (5, 5)")
    ax.set_xticks(range(len(ROWS)), ["plain\nlearned", "plain\nexact", "annealed\nlearned", "annealed\nexact"])
    ax.set(ylim=(0, 1), ylabel="fraction of samples in the (5, 5) mode")
    ax.set_title("mean over seeds (dots: each seed)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[0, 1]
    ax.axis("off")
    cells = [[ROWS[name].replace(", ", "\n"), f"{r['mode_55']['mean']:.3f} ± {r['mode_55']['sd']:.3f}",
              f"{r['mode_m5m5']['mean']:.3f} ± {r['mode_m5m5']['sd']:.3f}"] for name, r in table.items()]
    cells.append(["truth", "0.800", "0.200"])
    tab = ax.table(cellText=cells, colLabels=["sampler", "(5, 5)", "(−5, −5)"], loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.scale(1.0, 3.0)
    ax.set_title(f"fraction in each mode, mean ± sd over {len(fractions['plain'])} seeds", fontsize=10)

    bounds = (-9.0, 9.0, -9.0, 9.0)
    for ax, name in zip(axes[0, 2:], ("plain", "annealed")):
        plot_density(ax, toy.log_prob, bounds, n=181, colorbar=False)
        plot_samples(ax, samples[name], bounds=bounds, color="tab:red", s=4, alpha=0.5,
                     title=f"{ROWS[name]} (seed 0): {fractions[name][0]:.3f} in (5, 5)")
        ax.title.set_fontsize(9)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Train once, sample with every seed; plot ``mixture_weights.png``."""
    cfg = QUICK if quick else FULL
    model = train_lecture_model(cfg["steps"], cfg["n_data"], seed=seed)
    seeds = tuple(seed + k for k in range(cfg["n_seeds"]))
    fractions, samples = mode_fraction_by_sampler(model, cfg["n_samples"], seeds)
    for s in seeds:
        for name, value in exact_score_fractions(model, cfg["n_samples"], s).items():
            fractions.setdefault(name, []).append(value)
    fractions = {name: fractions[name] for name in ROWS}
    table = {name: {"mode_55": mean_sd(v), "mode_m5m5": mean_sd([1 - f for f in v])}
             for name, v in fractions.items()}
    _plot(table, fractions, samples, Path(out_dir) / "mixture_weights.png")
    fisher = fisher_per_sigma(model)
    return {
        "truth": {"mode_55": 0.8, "mode_m5m5": 0.2},
        "training": {"steps": cfg["steps"], "n_data": cfg["n_data"], "levels": len(model.sigmas_),
                     "sigma_max": float(model.sigmas_[0]), "sigma_min": float(model.sigmas_[-1])},
        "sampling": {"n_samples": cfg["n_samples"], "seeds": list(seeds), "box": BOX,
                     "plain_steps": model.langevin_steps, "annealed_steps_per_level": model.steps_per_level},
        "fraction_55_by_seed": fractions,
        "table": table,
        "plain_mean": table["plain"]["mode_55"]["mean"],
        "annealed_mean": table["annealed"]["mode_55"]["mean"],
        "plain_abs_error": abs(table["plain"]["mode_55"]["mean"] - 0.8),
        "annealed_abs_error": abs(table["annealed"]["mode_55"]["mean"] - 0.8),
        "median_relative_fisher_divergence": statistics.median(fisher.values()),
    }
