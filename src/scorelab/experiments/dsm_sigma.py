"""``dsm-sigma``: the noise level of denoising score matching trades bias for gradient variance.

Denoising score matching at one σ (Vincent 2011),

    L_σ(θ) = E_{x~p, z~N(0,I)} ½‖s_θ(x + σz) + z/σ‖²,

is minimised by ∇log p_σ, the score of the data blurred by N(0, σ²I), not by the score
∇log p of the clean data. On a 2-D Gaussian mixture (three components of std 0.5), whose
score is exact at every σ, a non-conditional score network is trained with DSM at each
σ ∈ {0.01, 0.03, 0.1, 0.3, 1, 2} (data units; same network, steps, batch and seed for all)
and measured against the clean data, x ~ p:

* the Fisher divergence of the learned score to the clean score, E‖s_θ(x) − ∇log p(x)‖²;
* the pure bias, E‖∇log p_σ(x) − ∇log p(x)‖², with both scores exact (Monte Carlo over x
  only): what even a perfect network trained at σ would be off by;
* the distance of the learned score to its own target, E‖s_θ(x) − ∇log p_σ(x)‖²;
* the variance of the stochastic DSM gradient ∇_θL over mini-batches: tr Cov(g) over
  ``grad_batches`` mini-batches of the training batch size, at one fixed network (a freshly
  initialised ScoreMLP of the same shape, the same for every σ, so that only σ changes) and,
  for comparison, at each σ's own trained network. It is the variance of the gradient the
  optimiser sees (normalised data units, as in training).

Why the variance explodes: the regression target −z/σ has variance d/σ², and near the
optimum the residual s_θ(x̃) + z/σ is dominated by it, so tr Cov(g) ∝ 1/σ² as σ → 0. With the
same step budget (and the library's gradient clipping at norm 1, which turns a noisy gradient
into a short, random step) the network then no longer reaches its target. Large σ gives a
quiet gradient but the wrong target. The learned error is smallest in between: σ as small as
possible for low bias, but not smaller.
"""
import copy
from pathlib import Path

import torch

from ..distributions import GaussianMixture
from ..estimator import ScoreModel
from ..nn import ScoreMLP
from ..objectives import denoising_score_matching
from ._common import generator, new_figure, save_figure

DESCRIPTION = ("Denoising score matching at σ from 0.01 to 2 on a 2-D mixture: Fisher divergence to the "
               "clean score, its pure bias, and the variance of the DSM gradient.")
CLAIM = ("DSM learns ∇log p_σ, whose bias from ∇log p grows with σ, while the variance of its gradient "
         "grows like 1/σ² as σ → 0: the best σ is small, but not too small.")

MEANS = ((-2.0, 0.0), (2.0, 0.0), (0.0, 2.5))
WEIGHTS, STD = (0.5, 0.3, 0.2), 0.5
SMALL_SIGMA = 0.1  # the power law of the gradient variance is fitted over σ ≤ this
FULL = {"sigmas": (0.01, 0.03, 0.1, 0.3, 1.0, 2.0), "steps": 1500, "n_data": 10000, "n_eval": 20000,
        "grad_batches": 200}
QUICK = {"sigmas": (0.01, 0.1, 1.0), "steps": 150, "n_data": 2000, "n_eval": 4000, "grad_batches": 40}


def three_blobs() -> GaussianMixture:
    """0.5·N((−2, 0), 0.5²I) + 0.3·N((2, 0), 0.5²I) + 0.2·N((0, 2.5), 0.5²I)."""
    return GaussianMixture(MEANS, WEIGHTS, stds=STD, name="three_blobs")


def mean_squared_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """E‖a − b‖² over the rows: a Fisher divergence when a, b are two scores at x ~ p."""
    return float((a - b).square().sum(dim=1).mean())


def dsm_gradient_variance(net: torch.nn.Module, x: torch.Tensor, sigma: float, batch_size: int,
                          n_batches: int, generator: torch.Generator) -> dict:
    """Spread of the mini-batch DSM gradient g = ∇_θ L_σ(θ) at the fixed parameters of ``net``.

    Over ``n_batches`` mini-batches (indices and noise from ``generator``):
    ``trace`` = tr Cov(g) = Σ_j Var(g_j) (unbiased), ``mean_norm_sq`` = ‖ḡ‖², the squared norm
    of the average gradient (the signal the noise is compared with).
    """
    params = [p for p in net.parameters()]
    total = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
    total_sq = 0.0
    for _ in range(n_batches):
        batch = x[torch.randint(len(x), (batch_size,), generator=generator)]
        loss = denoising_score_matching(net, batch, sigma, generator=generator)
        g = torch.cat([d.flatten() for d in torch.autograd.grad(loss, params)]).double()
        total += g
        total_sq += float(g.square().sum())
    mean = total / n_batches
    trace = (total_sq - n_batches * float(mean.square().sum())) / (n_batches - 1)
    return {"trace": trace, "mean_norm_sq": float(mean.square().sum())}


def _trainable_copy(model: ScoreModel) -> torch.nn.Module:
    """A copy of the fitted (EMA) network with gradients switched on, in normalised units, on
    the CPU (where the data and the generator of :func:`dsm_gradient_variance` are)."""
    return copy.deepcopy(model.network_).cpu().requires_grad_(True)


def initial_network(model: ScoreModel, seed: int) -> torch.nn.Module:
    """A freshly initialised non-conditional ScoreMLP shaped like ``model``'s (seeded; the
    global random state is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator(seed, "init"))))
        return ScoreMLP(model.n_features_in_, model.network_.width, model.network_.depth)


def log_slope(xs, ys) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ∝ x^k)."""
    lx = torch.tensor(xs, dtype=torch.float64).log()
    ly = torch.tensor(ys, dtype=torch.float64).log()
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / lx.square().sum())


def _plot(rows: list, batch: int, path: Path) -> None:
    sig = [r["sigma"] for r in rows]
    fig, axes = new_figure(1, 2, size=5.0)
    ax = axes[0, 0]
    ax.plot(sig, [r["fisher_learned_to_clean"] for r in rows], "o-", color="C0",
            label="learned vs clean: E‖s_θ − ∇log p‖²")
    ax.plot(sig, [r["bias_exact"] for r in rows], "s--", color="C3",
            label="pure bias (exact): E‖∇log p_σ − ∇log p‖²")
    ax.plot(sig, [r["fisher_learned_to_target"] for r in rows], "^:", color="C2",
            label="learned vs its target: E‖s_θ − ∇log p_σ‖²")
    best = min(rows, key=lambda r: r["fisher_learned_to_clean"])
    ax.axvline(best["sigma"], color="0.6", lw=0.8, ls="--")
    ax.set(xscale="log", yscale="log", xlabel="σ of denoising score matching (data units)",
           ylabel="Fisher divergence, x ~ p (clean data)")
    ax.set_title(f"(a) error of the learned score: best σ = {best['sigma']:g}", fontsize=10)
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    fixed = [r["grad_variance_fixed"]["trace"] for r in rows]
    ax.plot(sig, fixed, "o-", color="C1", label="tr Cov(∇_θL), fixed network (at initialisation)")
    ax.plot(sig, [r["grad_variance_fixed"]["mean_norm_sq"] for r in rows], "x:", color="C1",
            label="‖E ∇_θL‖², fixed network (the signal)")
    ax.plot(sig, [r["grad_variance_own"]["trace"] for r in rows], "s--", color="C4",
            label="tr Cov(∇_θL), each σ's own trained network")
    ax.plot(sig, [fixed[0] * (sig[0] / s) ** 2 for s in sig], color="0.7", lw=1, label="∝ 1/σ² (guide)")
    ax.set(xscale="log", yscale="log", xlabel="σ of denoising score matching (data units)",
           ylabel="gradient w.r.t. the network's parameters, per mini-batch")
    ax.set_title(f"(b) variance of the DSM gradient (mini-batches of {batch})", fontsize=10)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Train one DSM model per σ, measure its errors and gradient variance; plot ``dsm_sigma.png``."""
    cfg = QUICK if quick else FULL
    gm = three_blobs()
    x_train = gm.sample(cfg["n_data"], generator(seed, "data"))
    x_eval = gm.sample(cfg["n_eval"], generator(seed, "eval"))
    clean = gm.score(x_eval)
    models = {sigma: ScoreModel(objective="dsm", sigma=sigma, steps=cfg["steps"], seed=seed).fit(x_train)
              for sigma in cfg["sigmas"]}
    reference = models[cfg["sigmas"][0]]  # every model saw the same data: one normaliser, one shape
    fixed_net = initial_network(reference, seed)
    x_norm = reference.normalizer_.forward(x_train)
    scale = reference.normalizer_.sigma_scale  # σ in normalised units = σ / scale
    batch = reference.run_.cfg.batch_size  # the resolved value ('auto' in the parameters)

    rows = []
    for sigma, model in models.items():
        with torch.no_grad():
            learned = model.score_fn(x_eval)
        target = gm.score(x_eval, sigma)
        g = generator(seed, "grad", sigma)
        rows.append({
            "sigma": sigma,
            "fisher_learned_to_clean": mean_squared_distance(learned, clean),
            "bias_exact": mean_squared_distance(target, clean),
            "fisher_learned_to_target": mean_squared_distance(learned, target),
            "final_training_loss": model.history_[-1]["loss"],
            "grad_variance_fixed": dsm_gradient_variance(fixed_net, x_norm, sigma / scale, batch,
                                                         cfg["grad_batches"], g),
            "grad_variance_own": dsm_gradient_variance(_trainable_copy(model), x_norm, sigma / scale, batch,
                                                       cfg["grad_batches"], g),
        })
    _plot(rows, batch, Path(out_dir) / "dsm_sigma.png")

    sigmas = [r["sigma"] for r in rows]
    small = [r for r in rows if r["sigma"] <= SMALL_SIGMA]
    best = min(rows, key=lambda r: r["fisher_learned_to_clean"])
    return {
        "mixture": {"means": [list(m) for m in MEANS], "weights": list(WEIGHTS), "std": STD},
        "sigmas": sigmas,
        "training": {"steps": cfg["steps"], "batch_size": batch, "n_data": cfg["n_data"],
                     "objective": "dsm", "network": f"ScoreMLP width {reference.network_.width}, depth {reference.network_.depth}"},
        "n_eval": cfg["n_eval"],
        "grad_batches": cfg["grad_batches"],
        "clean_score_mean_sq_norm": float(clean.square().sum(dim=1).mean()),
        "rows": rows,
        "best_sigma": best["sigma"],
        "best_fisher_learned_to_clean": best["fisher_learned_to_clean"],
        "bias_by_sigma": {f"{r['sigma']:g}": r["bias_exact"] for r in rows},
        "fisher_by_sigma": {f"{r['sigma']:g}": r["fisher_learned_to_clean"] for r in rows},
        "grad_variance_by_sigma": {f"{r['sigma']:g}": r["grad_variance_fixed"]["trace"] for r in rows},
        # Exponent k of tr Cov ∝ σ^k over σ ≤ SMALL_SIGMA (the theory says −2 as σ → 0).
        "grad_variance_log_slope_small_sigma": log_slope([r["sigma"] for r in small],
                                                         [r["grad_variance_fixed"]["trace"] for r in small]),
        # Noise-to-signal of one mini-batch gradient at the fixed network: tr Cov(g) / ‖E g‖².
        "grad_noise_to_signal_by_sigma": {f"{r['sigma']:g}": r["grad_variance_fixed"]["trace"]
                                          / r["grad_variance_fixed"]["mean_norm_sq"] for r in rows},
        "bias_increases_with_sigma": all(a["bias_exact"] < b["bias_exact"] for a, b in zip(rows, rows[1:])),
        "grad_variance_decreases_with_sigma": all(
            a["grad_variance_fixed"]["trace"] > b["grad_variance_fixed"]["trace"] for a, b in zip(rows, rows[1:])),
    }
