"""``manifold``: on data that live on a curve, the clean score does not exist; noise fixes that.

The data are the toy ``curve`` in R³ with no noise: c(t) = 2·(cos t, sin t, sin(2t)/2),
t ~ U[0, 2π), a 1-D manifold. Its density has no score (p is zero off the curve and not a
density on R³), so score matching of the clean data is ill-posed: sliced score matching,

    J(s) = E_x[½(vᵀs(x))² + vᵀ∇ₓ(vᵀs(x))],

rewards a negative divergence in the directions normal to the curve without limit (a field
that points ever harder into the curve has ever more negative trace, and the data never
see what it does off the curve). Three score networks (same ScoreMLP, steps and seed) are
trained on the same points (learning rate 5·10⁻³):

* ``ssm``: sliced score matching on the clean data, sampled with plain Langevin;
* ``dsm``: denoising score matching at a small σ (0.1, data units), whose target ∇log p_σ
  exists for every σ > 0; sampled with Langevin at σ from the same starts, then Tweedie's
  denoising step x + σ²s(x, σ) (the library's annealed sampler with its one level);
* ``ncsn``: the multi-scale objective, sampled with annealed Langevin (library defaults).

Plain-Langevin chains start uniformly in the box [−3, 3]³ around the curve and use the same
step size and number of steps for ``ssm`` and ``dsm``; SSM's chains are run again with a ten
times smaller step (a chain that blows up counts as infinitely far from the curve).
Reported: the training-loss trajectory (SSM's keeps falling, without bound), the distance
of the samples to the curve
(exact: :meth:`Curve.distance_to_curve`), how many are within ``ON_CURVE`` of it, the
coverage of the curve parameter t of those that are (``T_BINS`` bins of t; t of a sample is
that of its nearest curve point), and the learned field off the curve: at points a distance δ
from it along a random normal direction, the fraction whose score points back to the curve
and the median score norm.
"""
import math
from pathlib import Path

import torch

from ..distributions import get_toy
from ..estimator import ScoreModel
from ._common import generator, new_figure, save_figure

DESCRIPTION = ("Data on a 1-D curve in R³: sliced score matching on the clean data vs denoising at a small σ "
               "and the multi-scale objective; samples, distance to the curve, coverage.")
CLAIM = ("On a manifold the clean score is undefined: sliced score matching's loss falls without bound and "
         "its Langevin samples leave the curve, while denoising (one small σ or many) puts samples on it.")

BOX = 3.0  # plain Langevin starts uniform on [−BOX, BOX]³
DSM_SIGMA = 0.1
LR = 5e-3  # for all three (the library's default is 2e-3): the quick run's few steps then suffice
ON_CURVE = 0.1  # a sample "on the curve": within this distance (the curve's radius is 2)
T_BINS = 24
OFF_DISTANCES = (0.05, 0.2, 0.5)  # δ of the off-curve score probes
SMALL_STEP_FACTOR = 0.1  # SSM's chains are also run with this fraction of the step size
METHODS = {"ssm": {"objective": "ssm"},
           "dsm": {"objective": "dsm", "sigma": DSM_SIGMA},
           "ncsn": {"objective": "ncsn"}}
LABELS = {"ssm": "sliced SM, clean data", "dsm": f"denoising SM, σ = {DSM_SIGMA:g}",
          "ncsn": "multi-scale (NCSN), annealed"}
FULL = {"steps": 1500, "eval_every": 50, "n_data": 5000, "n_samples": 2000, "langevin_steps": 1000,
        "annealed_steps": 100, "step_size": 1e-3, "n_probe": 2000}
QUICK = {"steps": 300, "eval_every": 50, "n_data": 2000, "n_samples": 300, "langevin_steps": 200,
         "annealed_steps": 15, "step_size": 1e-3, "n_probe": 300}


def curve_coverage(curve, x: torch.Tensor, on: torch.Tensor) -> dict:
    """How the samples ``x[on]`` (those on the curve) spread over its parameter t.

    ``t_histogram``: fraction of ALL samples in each of ``T_BINS`` equal bins of t (off-curve
    samples are in none); ``coverage``: fraction of bins holding at least half of their share
    1/T_BINS; ``tv_to_uniform``: total-variation distance between (bin of t, or "off the curve")
    and the uniform law on the bins (0: perfect, 1: nothing on the curve). t ~ U[0, 2π) for the data.
    """
    counts = torch.zeros(T_BINS, dtype=torch.float64)
    if on.any():
        t = curve.nearest_t(x[on], n_grid=4096)
        bins = (t / (2 * math.pi) * T_BINS).long().clamp(max=T_BINS - 1)
        counts = torch.bincount(bins, minlength=T_BINS).double()
    hist = counts / len(x)
    off = 1.0 - float(hist.sum())
    return {"t_histogram": hist.tolist(),
            "coverage": float((hist >= 0.5 / T_BINS).double().mean()),
            "tv_to_uniform": 0.5 * float((hist - 1.0 / T_BINS).abs().sum()) + 0.5 * off}


def sample_summary(curve, x: torch.Tensor) -> dict:
    """Distance of the samples to the curve (non-finite samples count as infinitely far) and
    their coverage of it."""
    finite = torch.isfinite(x).all(dim=1)
    distance = torch.full((len(x),), math.inf, dtype=torch.float64)
    if finite.any():
        distance[finite] = curve.distance_to_curve(x[finite]).double()
    on = distance < ON_CURVE
    return {"mean_distance": float(distance.mean()),
            "median_distance": float(distance.median()),
            "fraction_finite": float(finite.double().mean()),
            "fraction_on_curve": float(on.double().mean()),
            **curve_coverage(curve, x, on)}


def off_curve_probes(curve, n: int, delta: float, g: torch.Generator):
    """Points c(t) + δ·n at random t with n a random unit normal to the curve at t, and the unit
    vectors −n pointing back to it."""
    t = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    h = 1e-5
    tangent = (curve.point(t + h) - curve.point(t - h)) / (2 * h)
    tangent = tangent / tangent.norm(dim=1, keepdim=True)
    v = torch.randn(n, curve.dim, generator=g, dtype=torch.float64)
    normal = v - (v * tangent).sum(dim=1, keepdim=True) * tangent
    normal = normal / normal.norm(dim=1, keepdim=True)
    return (curve.point(t) + delta * normal).float(), (-normal).float()


def score_off_curve(model: ScoreModel, curve, n: int, seed: int) -> dict:
    """At each δ in ``OFF_DISTANCES``: the fraction of probes whose learned score points back
    to the curve (positive cosine with −n) and the median ‖s‖ (the true field of p_σ, σ ≪ δ,
    has norm ≈ δ/σ² and points back)."""
    out = {}
    for delta in OFF_DISTANCES:
        x, back = off_curve_probes(curve, n, delta, generator(seed, "probe", delta))
        with torch.no_grad():
            s = model.score_fn(x)
        cos = (s * back).sum(dim=1) / s.norm(dim=1).clamp_min(1e-30)
        out[f"{delta:g}"] = {"fraction_pointing_to_curve": float((cos > 0).double().mean()),
                             "median_cosine": float(cos.median()),
                             "median_score_norm": float(s.norm(dim=1).median())}
    return out


def draw_samples(name: str, model: ScoreModel, cfg: dict, seed: int, step_size: float) -> torch.Tensor:
    """``ssm``: plain Langevin from the box; ``dsm``: Langevin at σ from the same starts plus the
    Tweedie step; ``ncsn``: annealed Langevin from σ_max·z. Chains that blow up are NaN."""
    n = cfg["n_samples"]
    start = (2 * torch.rand(n, 3, generator=generator(seed, "start")) - 1) * BOX
    try:
        if name == "ssm":
            return model.sample(n, random_state=seed, sampler="langevin", x_init=start,
                                steps=cfg["langevin_steps"], step_size=step_size)
        if name == "dsm":
            return model.sample(n, random_state=seed, sampler="annealed", x_init=start,
                                steps=cfg["langevin_steps"], step_size=step_size)
        return model.sample(n, random_state=seed, sampler="annealed", steps=cfg["annealed_steps"])
    except FloatingPointError:  # the samplers refuse to return NaN/Inf: the chains blew up
        return torch.full((n, 3), math.nan)


def _plot(curve, data, panels: list, results: dict, path: Path) -> None:
    """``panels``: (title, samples, their summary) per method: samples in the top row, their
    coverage of t below; SSM's loss and the off-curve probes in the last column."""
    from ..viz import plot_samples

    fig, axes = new_figure(2, 4, size=4.0)
    t = torch.linspace(0, 2 * math.pi, 400, dtype=torch.float64)
    line = curve.point(t)
    bounds = (-BOX, BOX, -BOX, BOX)
    for col, (title, x, summary) in enumerate(panels):
        ax = axes[0, col]
        ax.plot(line[:, 0], line[:, 1], color="0.3", lw=1.0)
        finite = torch.isfinite(x).all(dim=1)
        plot_samples(ax, x[finite][:, :2], data[:, :2], bounds=bounds, color="tab:red", s=4, alpha=0.5,
                     label=f"samples, {int((~finite).sum())} non-finite" if (~finite).any() else "samples")
        ax.set_title(f"{title}\n(x₁, x₂) projection; mean distance {summary['mean_distance']:.3g}", fontsize=9)
        ax = axes[1, col]
        hist = summary["t_histogram"]
        ax.bar([(i + 0.5) * 2 * math.pi / T_BINS for i in range(T_BINS)], [h * T_BINS for h in hist],
               width=2 * math.pi / T_BINS * 0.9, color="tab:red", alpha=0.7)
        ax.axhline(1.0, color="0.3", ls="--", lw=1, label="uniform (data)")
        ax.set(xlim=(0, 2 * math.pi), xlabel="curve parameter t of the nearest curve point",
               ylabel="share × bins (on-curve samples)")
        ax.set_title(f"on the curve (< {ON_CURVE:g}): {summary['fraction_on_curve']:.0%}, "
                     f"coverage {summary['coverage']:.0%}", fontsize=9)
        ax.legend(fontsize=7)

    ax = axes[0, 3]
    history = results["ssm"]["loss_history"]
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], color="C0", label="training loss")
    ax.plot(steps, [h["heldout"] for h in history], color="C1", ls="--", label="held-out loss")
    ax.set(xlabel="training step", ylabel="sliced score-matching loss", yscale="symlog")
    ax.set_title("sliced SM on the clean curve: the loss has no floor", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1, 3]
    width = 0.25
    for k, name in enumerate(METHODS):
        probes = results[name]["score_off_curve"]
        ax.bar([i + (k - 1) * width for i in range(len(OFF_DISTANCES))],
               [probes[f"{d:g}"]["fraction_pointing_to_curve"] for d in OFF_DISTANCES],
               width=width, label=LABELS[name])
    ax.set_xticks(range(len(OFF_DISTANCES)), [f"δ = {d:g}" for d in OFF_DISTANCES])
    ax.set(ylim=(0, 1.05), ylabel="fraction of probes whose score points to the curve")
    ax.set_title("learned field at distance δ off the curve", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Train the three models, sample them, measure; plot ``manifold.png``."""
    cfg = QUICK if quick else FULL
    curve = get_toy("curve", dim=3)
    data = curve.sample(cfg["n_data"], generator(seed, "data"))
    results, panels = {}, []
    for name, params in METHODS.items():
        model = ScoreModel(steps=cfg["steps"], eval_every=cfg["eval_every"], lr=LR, seed=seed, **params).fit(data)
        samples = draw_samples(name, model, cfg, seed, cfg["step_size"])
        history = [{k: h[k] for k in ("step", "loss", "heldout")} for h in model.history_]
        with torch.no_grad():
            on_curve_norm = float(model.score_fn(data[:cfg["n_probe"]]).norm(dim=1).median())
        results[name] = {
            "loss_history": history,
            "final_loss": history[-1]["loss"],
            "samples": sample_summary(curve, samples),
            "median_score_norm_on_curve": on_curve_norm,
            "score_off_curve": score_off_curve(model, curve, cfg["n_probe"], seed),
        }
        panels.append((LABELS[name], samples, results[name]["samples"]))
        if name == "ssm":  # not a matter of the step size: a ten times smaller one fails as well
            step = SMALL_STEP_FACTOR * cfg["step_size"]
            smaller = draw_samples(name, model, cfg, seed, step)
            results[name]["samples_smaller_step"] = {"step_size": step, **sample_summary(curve, smaller)}
            blown = 1 - results[name]["samples"]["fraction_finite"]
            if blown > 0:  # show the chains that did not blow up
                title = (f"{LABELS[name]}\nε = {cfg['step_size']:g}: {blown:.0%} of chains blew up; "
                         f"shown: ε = {step:g}")
                panels[-1] = (title, smaller, results[name]["samples_smaller_step"])
    for r in results.values():  # still falling at the end of training? (SSM: it has no floor)
        history = r["loss_history"]
        r["loss_at_half"] = history[len(history) // 2 - 1]["loss"]
        r["loss_drop_second_half"] = r["loss_at_half"] - r["final_loss"]
    _plot(curve, data, panels, results, Path(out_dir) / "manifold.png")
    return {
        "curve": {"dim": curve.dim, "scale": curve.scale, "noise": curve.noise},
        "config": {**cfg, "box": BOX, "dsm_sigma": DSM_SIGMA, "lr": LR, "on_curve": ON_CURVE, "t_bins": T_BINS},
        "methods": results,
        "mean_distance": {name: r["samples"]["mean_distance"] for name, r in results.items()},
        "fraction_on_curve": {name: r["samples"]["fraction_on_curve"] for name, r in results.items()},
        "coverage": {name: r["samples"]["coverage"] for name, r in results.items()},
    }
