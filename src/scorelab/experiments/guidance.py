"""``guidance`` and ``guidance-mnist``: choosing what to sample, measured.

1. A 2-D mixture of three labelled Gaussian components, a class-conditional model trained with
   every default (``scorelab train FILE --labels COLUMN``): with no guidance, the fraction of
   each class's samples nearest their own component, and each class's energy distance to fresh
   samples of its component next to the two-sample floor (the mean distance between two fresh
   sample sets of that size), both averaged over five fresh reference sets (a single energy
   distance at the floor varies by a factor of about 2 from draw to draw).
2. digits (or MNIST): a class-conditional model with the defaults and a noise-conditional
   classifier (``classifier_steps``); for classifier-free guidance weights w and classifier-
   guidance scales γ, ``per_class`` samples of every class, judged by the held-out classifier
   the image metric uses (the fraction assigned the asked class) and by the Fréchet distance of
   all of them with its floor (:func:`scorelab.evaluation.image_report`). Both methods run the
   default sampler (Heun, 35 score evaluations); a classifier-free evaluation runs the network
   on a doubled batch, a classifier-guided one adds the classifier's gradient.

Figures: accuracy and FD against the guidance strength, a grid with one row per class, and
inpainting with a class (the top half of test digits kept, the rest filled as each class).
Targets (``targets``): the mixture, ≥ 98% nearest their component and energy distance ≤ 2× the
floor for every class; the images, ≥ 95% accuracy at some w ≤ 3 with FD ≤ 2× the floor.
"""
from pathlib import Path

import torch

from ..data import load_data
from ..data.labels import with_labels
from ..distributions import GaussianMixture
from ..estimator import ScoreModel
from ..evaluation import energy_distance, mode_fractions
from ..evaluation.images import REFERENCES, image_report
from ._common import generator, new_figure, save_figure

DESCRIPTION = "Class-conditional sampling: a labelled 2-D mixture, and digits under classifier-free and classifier guidance."
CLAIM = ("A class-conditional model samples the asked class: on a labelled mixture each class lands on its "
         "component at the energy-distance floor, and on digits guidance brings a held-out classifier's "
         "agreement to 95% while the Fréchet distance stays within 2x that of real digits.")
MIXTURE = GaussianMixture(torch.tensor([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]]), torch.ones(3), stds=0.6)
SETTINGS = {
    "digits": {"per_class": 100, "weights": (0.0, 0.5, 1.0, 2.0, 3.0), "scales": (1.0, 2.0, 4.0, 8.0),
               "classifier_steps": 3000, "mixture_n": 3000, "train": {}},
    "mnist": {"per_class": 100, "weights": (0.0, 0.5, 1.0, 2.0, 3.0), "scales": (1.0, 2.0, 4.0, 8.0),
              "classifier_steps": 3000, "mixture_n": 3000, "train": {}},
}
QUICK = {"per_class": 4, "weights": (0.0, 1.0), "scales": (1.0,), "classifier_steps": 20, "mixture_n": 300,
         "train": {"steps": 40, "width": 8, "batch_size": 16, "checkpoint_every": 40}, "mixture_steps": 200}
ACCURACY, FD_RATIO, NEAREST, ED_RATIO, MAX_W = 0.95, 2.0, 0.98, 2.0, 3.0
N_PER_CLASS, N_REFERENCES = 2000, 5  # both distances averaged over 5 fresh reference sets


def mixture_part(n: int, seed: int, steps=None, log=print) -> dict:
    """Part 1: the labelled mixture, CLI defaults, no guidance."""
    x, k = MIXTURE.sample_labelled(n, generator=generator(seed, "mixture"))
    model = ScoreModel(seed=seed, **({} if steps is None else {"steps": steps})).fit(x, k, progress=False)
    g = generator(seed, "reference")
    rows = []
    for c in range(MIXTURE.n_components):
        comp = MIXTURE.component(c)
        s = model.sample(N_PER_CLASS, random_state=seed + c, y=c)
        floor = sum(energy_distance(comp.sample(N_PER_CLASS, g), comp.sample(N_PER_CLASS, g))
                    for _ in range(N_REFERENCES)) / N_REFERENCES
        ed = sum(energy_distance(s, comp.sample(N_PER_CLASS, g)) for _ in range(N_REFERENCES)) / N_REFERENCES
        rows.append({"class": c, "nearest_own": float(mode_fractions(s, MIXTURE.means)[c]),
                     "energy_distance": ed, "floor": floor, "ratio": ed / floor})
        log(f"  class {c}: {rows[-1]['nearest_own']:.1%} nearest its component, energy distance "
            f"{ed:.4f} = {ed / floor:.2f}x floor")
    return {"classes": rows, "steps": model.run_.cfg.steps}


def judge_guidance(model, data: str, per_class: int, seed: int, method: str, strength: float) -> dict:
    """``per_class`` samples of every class at one guidance strength: accuracy by the metric's
    classifier, FD with its floor, NFE, seconds; and the samples."""
    import time
    start = time.perf_counter()
    x, info = model.sample(per_class, random_state=seed, y="all", guidance=strength, guidance_method=method,
                           batch_size=500, return_info=True)
    seconds = time.perf_counter() - start
    asked = torch.arange(len(model.classes_)).repeat_interleave(per_class)
    predicted = REFERENCES[data][0](seed).predict_proba(x.clamp(0, 1)).argmax(1)
    report = image_report(x, data, seed=seed)
    per = [(predicted[asked == c] == c).double().mean().item() for c in range(len(model.classes_))]
    return {"method": method, "strength": strength, "accuracy": float((predicted == asked).double().mean()),
            "accuracy_per_class": per, "fd": report["fd"], "fd_floor": report["fd_floor"],
            "fd_ratio": report["fd_ratio"], "n_samples": report["n_samples"], "nfe": info.nfe,
            "sample_seconds": seconds, "_samples": x}


def image_part(data: str, cfg: dict, out_dir: Path, seed: int, log=print) -> dict:
    """Part 2: train the conditional model and its classifier, sweep both guidance methods."""
    model = ScoreModel(seed=seed, classifier_steps=cfg["classifier_steps"], **cfg["train"])
    model.fit(with_labels(load_data(f"{data}:train"), True, data), run_dir=out_dir / "model", force=True,
              progress=False)
    rows, samples = [], {}
    for method, strengths in (("free", cfg["weights"]), ("classifier", cfg["scales"])):
        for s in strengths:
            r = judge_guidance(model, data, cfg["per_class"], seed, method, s)
            samples[(method, s)] = r.pop("_samples")
            rows.append(r)
            log(f"  {method:10s} {s:4.1f}: accuracy {r['accuracy']:.1%}, FD {r['fd']:.2f} "
                f"({r['fd_ratio']:.2f}x floor), {r['nfe']} NFE, {r['sample_seconds']:.1f} s")
    return {"model": model, "rows": rows, "samples": samples}


def chosen(rows: list) -> dict:
    """The classifier-free row that meets the image target with the smallest w (else the most accurate)."""
    free = [r for r in rows if r["method"] == "free" and r["strength"] <= MAX_W]
    good = [r for r in free if r["accuracy"] >= ACCURACY and r["fd_ratio"] <= FD_RATIO]
    return min(good, key=lambda r: r["strength"]) if good else max(free, key=lambda r: r["accuracy"])


def _plot_sweep(rows: list, data: str, path: Path) -> Path:
    fig, axes = new_figure(1, 2, size=4.5)
    for method, label in (("free", "classifier-free, weight w"), ("classifier", "classifier guidance, scale γ")):
        mine = [r for r in rows if r["method"] == method]
        axes[0, 0].plot([r["strength"] for r in mine], [r["accuracy"] for r in mine], marker="o", label=label)
        axes[0, 1].plot([r["strength"] for r in mine], [r["fd_ratio"] for r in mine], marker="o", label=label)
    axes[0, 0].axhline(ACCURACY, color="k", ls=":", lw=1, label=f"{ACCURACY:.0%}")
    axes[0, 1].axhline(FD_RATIO, color="k", ls=":", lw=1, label=f"{FD_RATIO:g}× floor")
    axes[0, 0].set(xlabel="guidance strength", ylabel="held-out classifier agrees with the asked class",
                   title=f"{data}: accuracy")
    axes[0, 1].set(xlabel="guidance strength", ylabel="FD / floor", title=f"{data}: Fréchet distance")
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def _inpaint_grid(model, data: str, seed: int, path: Path, quick: bool) -> Path:
    """Row 0: test digits with their bottom half removed; row 1 + k: the bottom half filled as class k."""
    from ..viz import save_image_grid
    test = load_data(f"{data}:test").x[:8]
    mask = torch.zeros_like(test)
    mask[..., : test.shape[-2] // 2, :] = 1
    rows = [test * mask]
    for k in range(len(model.classes_)):
        rows.append(model.inpaint(test, mask, random_state=seed + k, y=k, guidance=1.0, steps=2 if quick else 20))
    return save_image_grid(path, torch.cat(rows), nrow=len(test), scale=4 if data == "digits" else 2)


def targets(mixture: dict, rows: list) -> dict:
    worst_near = min(r["nearest_own"] for r in mixture["classes"])
    worst_ed = max(r["ratio"] for r in mixture["classes"])
    best = chosen(rows)
    return {"mixture_nearest_own": {"value": worst_near, "limit": NEAREST, "met": worst_near >= NEAREST},
            "mixture_energy_distance_ratio": {"value": worst_ed, "limit": ED_RATIO, "met": worst_ed <= ED_RATIO},
            "image_accuracy": {"value": best["accuracy"], "limit": ACCURACY, "w": best["strength"],
                               "met": best["accuracy"] >= ACCURACY and best["fd_ratio"] <= FD_RATIO},
            "image_fd_ratio": {"value": best["fd_ratio"], "limit": FD_RATIO, "w": best["strength"],
                               "met": best["fd_ratio"] <= FD_RATIO}}


def run(out_dir: Path, quick: bool = False, seed: int = 0, data: str = "digits", log=print) -> dict:
    from ..viz import save_image_grid
    cfg = {**SETTINGS[data], **(QUICK if quick else {})}
    out_dir = Path(out_dir)
    log("labelled 2-D mixture, defaults, no guidance:")
    mixture = mixture_part(cfg["mixture_n"], seed, cfg.get("mixture_steps"), log)
    log(f"{data}: class-conditional model and classifier with the defaults:")
    part = image_part(data, cfg, out_dir, seed, log)
    best = chosen(part["rows"])
    samples = part["samples"][("free", best["strength"])]
    per = cfg["per_class"]
    grid = torch.cat([samples[c * per: c * per + min(per, 10)] for c in range(len(part["model"].classes_))])
    figures = [_plot_sweep(part["rows"], data, out_dir / "sweep.png"),
               save_image_grid(out_dir / "class_rows.png", grid, nrow=min(per, 10), scale=4 if data == "digits" else 2),
               _inpaint_grid(part["model"], data, seed, out_dir / "inpaint.png", quick)]
    return {"data": data, "mixture": mixture, "sweep": part["rows"], "chosen_w": best["strength"],
            "targets": targets(mixture, part["rows"]), "figures": [p.name for p in figures],
            "classifier_steps": cfg["classifier_steps"]}


def summary(metrics: dict) -> list[str]:
    return [f"{name}: {t['value']:.3g} (limit {t['limit']:g}) -> {'met' if t['met'] else 'NOT met'}"
            for name, t in metrics["targets"].items()]
