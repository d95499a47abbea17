"""``sde``: VE, VP and sub-VP trained with the same budget, on the lecture's mixture and the
8×8 digits, each judged at 35 score evaluations and by bits/dim; and whether the likelihood
weighting λ = g² lowers bits/dim (Song, Durkan, Murray & Ermon 2021).

Every model is a :class:`~scorelab.ScoreModel` with ``objective`` = ``ve``, ``vp`` or
``subvp`` (continuous-time DSM, λ = σ² unless ``weighting=likelihood``) and otherwise the
defaults, trained for the same number of steps. It is sampled at 35 NFE two ways: Heun's
probability-flow ODE on EDM's σ̃ schedule (18 steps) and DDIM (η = 0) on the SDE's own
uniform-t schedule (35 steps). Mixture: energy distance of 4,000 samples to 4,000 exact ones
(next to the two-sample floor) and the weight of the (5, 5) mode; bits/dim of 1,000 held-out
exact points through the probability-flow ODE. Digits: FD of 400 samples to the test split
(:func:`~scorelab.evaluation.image_report`, with its floor), and bits/dim of test images
(uniform dequantisation, Hutchinson's divergence) with the standard error over images; the
likelihood-weighting effect is the paired per-image difference (same images, dequantisation
and probes), mean ± SE. The figures show, for each SDE, its noise paths and its reverse SDE
from the prior with the exact score over the closed-form marginal density.
"""
import math
import time
from pathlib import Path

import torch

from ..distributions import get_toy
from ..estimator import ScoreModel
from ..evaluation import energy_distance, mode_fractions
from ..evaluation.report import image_bits_per_dim
from ..sde import SDES
from ._common import generator

DESCRIPTION = ("VE, VP and sub-VP diffusions trained with the same budget on the lecture's mixture "
               "and the 8×8 digits: samples at 35 NFE, bits/dim, and the likelihood weighting.")
CLAIM = ("On one contract the three SDEs are three noise distributions for the same score network; "
         "the likelihood weighting λ = g² trades sample quality for bits/dim.")

MODELS = {"ve": {"objective": "ve"}, "vp": {"objective": "vp"}, "subvp": {"objective": "subvp"},
          "vp-likelihood": {"objective": "vp", "weighting": "likelihood"}}
SAMPLERS = {"heun": 18, "ddim": 35}  # both 35 NFE
TITLES = {"ve": "VE", "vp": "VP", "subvp": "sub-VP"}
SETTINGS = {"lecture": {"train": {"steps": 2000}, "n": 4000, "n_bpd": 1000},
            "digits": {"train": {"steps": 1500}, "n": 400, "n_bpd": 100}}
QUICK = {"lecture": {"train": {"steps": 30, "width": 16, "eval_every": 15}, "n": 200, "n_bpd": 20},
         "digits": {"train": {"steps": 10, "width": 8, "batch_size": 8, "eval_every": 5}, "n": 20, "n_bpd": 2},
         "models": ("ve", "vp", "vp-likelihood")}


def _lecture(model, cfg, seed):
    mix = get_toy("lecture")
    g = generator(seed, "lecture")
    truth, other, held_out = (mix.sample(cfg["n"], g) for _ in range(3))
    row = {"floor": energy_distance(truth, other)}
    for sampler, steps in SAMPLERS.items():
        x, info = model.sample(cfg["n"], random_state=seed, sampler=sampler, steps=steps, return_info=True)
        row[sampler] = {"nfe": info.nfe, "energy_distance": energy_distance(x, truth),
                        "weight_55": float(mode_fractions(x, mix.means)[0])}
    log_p = model.score_samples(held_out[:cfg["n_bpd"]])
    row["bits_per_dim"] = float(-log_p.mean() / (2 * math.log(2)))
    row["bits_per_dim_se"] = float(log_p.std() / (2 * math.log(2) * len(log_p) ** 0.5))
    row["true_bits_per_dim"] = float(-mix.log_prob(held_out[:cfg["n_bpd"]]).mean() / (2 * math.log(2)))
    return row


def _digits(model, cfg, seed):
    from ..data import load_data
    from .images import judge

    row = {}
    for sampler, steps in SAMPLERS.items():
        r = judge(model, "digits", cfg["n"], seed, sampler=sampler, steps=steps)
        row[sampler] = {"nfe": r["nfe"], "fd": r["fd"], "fd_ratio": r["fd_ratio"]}
        row["floor"] = r["fd_floor"]
    bpd = image_bits_per_dim(model, load_data("digits:test").x, n_images=cfg["n_bpd"], seed=seed)
    row.update(bits_per_dim=bpd["bits_per_dim"], bits_per_dim_se=bpd["bits_per_dim_se"],
               _per_image=bpd["per_image"])
    return row


def _likelihood_effect(rows: dict) -> dict:
    """bits/dim(likelihood) − bits/dim(σ²) per test image, mean ± SE (VP; sub-VP if run)."""
    out = {}
    for name in ("vp", "subvp"):
        if f"{name}-likelihood" in rows and name in rows:
            d = (rows[f"{name}-likelihood"]["_per_image"] - rows[name]["_per_image"]).double()
            out[name] = {"mean": float(d.mean()), "se": float(d.std() / len(d) ** 0.5), "n_images": len(d)}
    return out


def paths_figures(out_dir: Path, seed: int):
    """For each SDE (VE up to σ = 20 as the lecture's NCSN, VP, sub-VP), on the raw lecture
    mixture: forward paths, the reverse SDE from the prior with the exact score, its samples."""
    from ..samplers import euler_maruyama, sde_times
    from ..sde import VE
    from ..viz.sde import save_sde_paths

    mix = get_toy("lecture")
    g = generator(seed, "paths")
    figures = []
    x_grid = torch.linspace(-12, 12, 241)
    for name, sde in {"ve": VE(0.01, 20.0), "vp": SDES["vp"](), "subvp": SDES["subvp"]()}.items():
        times = sde_times(sde, 200).flip(0)
        x = mix.sample(2000, g)
        forward = [x]
        for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
            x = x + sde.drift(x, t) * (t_next - t) + float(sde.diffusion(t)) * math.sqrt(t_next - t) * torch.randn(
                x.shape, generator=g)
            forward.append(x)
        frames = []
        samples = euler_maruyama(mix.score, sde.prior_sample((2000, 2), generator=g), sde, times.flip(0),
                                 generator=g, callback=lambda c: frames.append(c["x"]))
        reverse = torch.stack([sde.prior_sample((2000, 2), generator=g)] + frames[:-1]).flip(0)  # forward order
        # The closed-form marginal of the first coordinate: a 1-D mixture at every t.
        density = torch.stack([_first_coordinate_density(sde, mix, t, x_grid) for t in times.tolist()])
        figures.append(save_sde_paths(out_dir / f"sde_{name}.png", times, density, x_grid, torch.stack(forward),
                                      reverse, samples, mix.sample(2000, g),
                                      title=f"{TITLES[name]} SDE on the lecture mixture"))
    return figures


def _first_coordinate_density(sde, mix, t, x_grid):
    m = sde.marginal(mix, t)
    var = m.covariances[:, 0, 0]
    z = (x_grid[:, None] - m.means[:, 0]) ** 2 / var
    return (m.weights * torch.exp(-0.5 * z) / torch.sqrt(2 * math.pi * var)).sum(1) ** 0.5  # √p: both modes visible


def run(out_dir: Path, quick: bool = False, seed: int = 0, models=tuple(MODELS), datasets=("lecture", "digits"),
        digits_steps=None, log=print) -> dict:
    """Train ``models`` on ``datasets`` (digits for ``digits_steps`` steps if given), judge them,
    draw the three SDEs' figures; return the metrics (see the module docstring)."""
    out_dir = Path(out_dir)
    models = QUICK["models"] if quick else tuple(models)
    results = {}
    for data, judge_fn in ((d, {"lecture": _lecture, "digits": _digits}[d]) for d in datasets):
        cfg = QUICK[data] if quick else SETTINGS[data]
        if data == "digits" and digits_steps and not quick:
            cfg = {**cfg, "train": {**cfg["train"], "steps": digits_steps}}
        rows = {}
        for name in models:
            start = time.perf_counter()
            source = "toy:lecture" if data == "lecture" else "digits:train"
            model = ScoreModel(**MODELS[name], **cfg["train"], seed=seed).fit(source)
            seconds = time.perf_counter() - start
            rows[name] = {"train_seconds": seconds, **judge_fn(model, cfg, seed)}
            log(_line(data, name, rows[name]))
        effect = _likelihood_effect(rows) if data == "digits" else {}
        for r in rows.values():
            r.pop("_per_image", None)
        results[data] = {"rows": rows, "train": cfg["train"], "likelihood_weighting_effect": effect}
    figures = paths_figures(out_dir, seed)
    return {**results, "figures": [p.name for p in figures]}


def _line(data, name, row):
    key = "energy_distance" if data == "lecture" else "fd"
    quality = "  ".join(f"{s} {row[s][key]:.4g}" for s in SAMPLERS)
    return (f"  {data:8s} {name:17s} {row['train_seconds']:5.0f} s  {key}: {quality} (floor {row['floor']:.4g})  "
            f"bits/dim {row['bits_per_dim']:.3f} ± {row['bits_per_dim_se']:.3f}")


def summary(metrics: dict) -> list[str]:
    lines = []
    for name, e in metrics["digits"]["likelihood_weighting_effect"].items():
        lines.append(f"digits, {name}: likelihood weighting changes bits/dim by {e['mean']:+.3f} ± {e['se']:.3f} "
                     f"({e['n_images']} test images)")
    return lines
