#!/usr/bin/env python
"""scorelab against diffusers on 28×28 MNIST at equal wall-clock time, judged by one metric.

    python benchmarks/mnist_vs_diffusers.py              # 15 minutes of training each
    python benchmarks/mnist_vs_diffusers.py --minutes 60
    python benchmarks/mnist_vs_diffusers.py --quick      # smoke run (about a minute)

Both train on the same 4,000 images (``mnist:train``) on the same threads, one after the other
in this process, for the same training time:

* scorelab: ``ScoreModel()`` with every default (what ``scorelab train mnist`` does), sampled by
  its default sampler (Heun's probability-flow ODE, 35 score evaluations);
* diffusers: a ``UNet2DModel`` of about scorelab's parameter count (three resolutions, 16-32-32
  channels, self-attention at the lowest) with a 1000-step linear ``DDPMScheduler``, trained by
  the recipe of diffusers' ``train_unconditional.py`` (ε-prediction MSE, AdamW lr 1e-4,
  betas (0.95, 0.999), weight decay 1e-6, cosine schedule with 500 warm-up steps, gradient
  clipping at 1, EMA with inverse gamma 1 and power 3/4 up to 0.9999, batch 16, data in
  [-1, 1], no flips for digits), sampled by ``DDIMScheduler`` at the same number of network
  evaluations.

Each run's learning-rate schedule is sized to the budget: a short calibration measures its step
time, and its step count is the budget over that. Both are sampled (1,000 images, seed 0) at the
same fractions of their budget, with the training clock stopped, and judged by
:func:`scorelab.evaluation.image_report` (Fréchet distance of an MNIST classifier's features to
the test split). Writes ``results/mnist_vs_diffusers.{json,md,png}``. Run it alone on the
machine, with OpenMP's default wait policy (``OMP_WAIT_POLICY=PASSIVE`` halves the U-Nets'
speed on two cores).
"""
import argparse
import copy
import json
import time
from pathlib import Path

import torch

from scorelab import ScoreModel
from scorelab.data import load_data
from scorelab.evaluation.images import image_report

HERE = Path(__file__).resolve().parent
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
NFE = 35
N_SAMPLES = 1000
TARGET_END_RATIO = 0.7  # scorelab's final FD at most 0.7x diffusers'


def _pausable_clock():
    """``elapsed()`` seconds since creation, minus the time spent inside ``paused()``."""
    start, away = time.perf_counter(), [0.0]

    class Clock:
        def elapsed(self):
            return time.perf_counter() - start - away[0]

        def pause(self, fn):
            t = time.perf_counter()
            out = fn()
            away[0] += time.perf_counter() - t
            return out
    return Clock()


def _judge(samples: torch.Tensor) -> dict:
    r = image_report(samples.clamp(0, 1), "mnist", seed=0)
    return {k: r[k] for k in ("fd", "fd_floor", "fd_ratio", "n_samples")} | {"min_class": min(r["class_fractions"])}


# ------------------------------------------------------------------ scorelab
def scorelab_steps(budget_s: float, quick: bool) -> int:
    """Steps of the default recipe that fit in ``budget_s`` (from a 30-step calibration)."""
    marks = []
    ScoreModel(steps=30 if not quick else 6, eval_every=10**6).fit(
        "mnist:train", progress=False, callback=lambda step, m: marks.append(time.perf_counter()))
    per_step = (marks[-1] - marks[len(marks) // 3]) / (len(marks) - 1 - len(marks) // 3)
    return max(4, int(budget_s / per_step))


def run_scorelab(budget_s: float, quick: bool, log) -> tuple[list, dict]:
    steps = scorelab_steps(budget_s, quick)
    extra = {"width": 8} if quick else {}
    marks = {max(1, round(f * steps)) for f in FRACTIONS}
    rows, clock = [], None

    def evaluate(step, model):
        def sample():
            t = time.perf_counter()
            x, info = model.sample(N_SAMPLES if not quick else 64, random_state=0, return_info=True, batch_size=500)
            return x, info.nfe, time.perf_counter() - t
        x, nfe, seconds = clock.pause(sample)
        row = {"step": step, "train_seconds": clock.elapsed(), "nfe": nfe, "sample_seconds": seconds}
        row |= clock.pause(lambda: _judge(x))
        rows.append(row)
        log(f"  scorelab  step {step:6d}  {row['train_seconds'] / 60:5.1f} min  FD {row['fd']:7.2f}")

    model = ScoreModel(steps=steps, eval_every=10**6, **extra)
    clock = _pausable_clock()
    model.fit("mnist:train", progress=False, callback=lambda s, m: evaluate(s, m) if s in marks else None)
    info = {"steps": steps, "parameters": sum(p.numel() for p in model.network_.parameters()),
            "batch_size": model.run_.cfg.batch_size, "config": model.run_.config_json()["config"]}
    return rows, info


# ------------------------------------------------------------------ diffusers
def diffusers_unet(quick: bool):
    from diffusers import UNet2DModel
    blocks = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1,
                       block_out_channels=(8, 8, 8) if quick else (16, 32, 32), norm_num_groups=8,
                       down_block_types=blocks, up_block_types=tuple(b.replace("Down", "Up") for b in reversed(blocks)))


class DiffusersRun:
    """diffusers' ``train_unconditional.py`` recipe, one step at a time."""
    batch_size, lr, warmup = 16, 1e-4, 500

    def __init__(self, x: torch.Tensor, steps: int, quick: bool):
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_cosine_schedule_with_warmup
        from diffusers.training_utils import EMAModel
        torch.manual_seed(0)
        self.x = x * 2 - 1
        self.unet = diffusers_unet(quick)
        self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=self.lr, betas=(0.95, 0.999),
                                     weight_decay=1e-6, eps=1e-8)
        self.lr_schedule = get_cosine_schedule_with_warmup(self.opt, min(self.warmup, steps // 2), steps)
        self.ema = EMAModel(self.unet.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0,
                            power=0.75, model_cls=type(self.unet), model_config=self.unet.config)
        self.g = torch.Generator().manual_seed(0)

    def step(self) -> float:
        idx = torch.randint(len(self.x), (self.batch_size,), generator=self.g)
        clean = self.x[idx]
        noise = torch.randn(clean.shape, generator=self.g)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(clean),), generator=self.g)
        pred = self.unet(self.scheduler.add_noise(clean, noise, t), t).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.opt.step()
        self.lr_schedule.step()
        self.ema.step(self.unet.parameters())
        return loss.item()

    @torch.inference_mode()
    def sample(self, n: int, nfe: int) -> torch.Tensor:
        """``n`` images in [0, 1] by DDIM (η = 0) with ``nfe`` network evaluations, EMA weights."""
        from diffusers import DDIMScheduler
        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(nfe)
        net = copy.deepcopy(self.unet)
        self.ema.copy_to(net.parameters())
        net.eval()
        g, out = torch.Generator().manual_seed(0), []
        for start in range(0, n, 500):
            x = torch.randn((min(500, n - start), 1, 28, 28), generator=g)
            for t in ddim.timesteps:
                x = ddim.step(net(x, t).sample, t, x).prev_sample
            out.append((x + 1) / 2)
        return torch.cat(out)


def run_diffusers(budget_s: float, quick: bool, log) -> tuple[list, dict]:
    x = load_data("mnist:train").x
    probe = DiffusersRun(x, 100, quick)
    for _ in range(5):
        probe.step()
    t = time.perf_counter()
    for _ in range(20 if not quick else 4):
        probe.step()
    steps = max(4, int(budget_s / ((time.perf_counter() - t) / (20 if not quick else 4))))
    marks = {max(1, round(f * steps)) for f in FRACTIONS}
    run, rows = DiffusersRun(x, steps, quick), []
    clock = _pausable_clock()
    for step in range(1, steps + 1):
        run.step()
        if step in marks:
            t0 = time.perf_counter()
            samples = clock.pause(lambda: run.sample(N_SAMPLES if not quick else 64, NFE))
            row = {"step": step, "train_seconds": clock.elapsed(), "nfe": NFE, "sample_seconds": time.perf_counter() - t0}
            row |= clock.pause(lambda: _judge(samples))
            rows.append(row)
            log(f"  diffusers step {step:6d}  {row['train_seconds'] / 60:5.1f} min  FD {row['fd']:7.2f}")
    return rows, {"steps": steps, "parameters": sum(p.numel() for p in run.unet.parameters()),
                  "batch_size": run.batch_size}


# ------------------------------------------------------------------ report
def report(result: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name in ("scorelab", "diffusers"):
        rows = result[name]["curve"]
        ax.plot([r["train_seconds"] / 60 for r in rows], [r["fd"] for r in rows], marker="o",
                label=f"{name} ({result[name]['parameters'] / 1e3:.0f}k parameters)")
    floor = result["scorelab"]["curve"][-1]["fd_floor"]
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"floor (real digits) {floor:.2f}")
    ax.set(xlabel="training time (minutes)", ylabel=f"FD of {result['n_samples']} samples ({NFE} NFE)",
           yscale="log", title="MNIST 28×28, 4,000 training images, equal time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    lines = ["# MNIST: scorelab against diffusers at equal training time", "",
             f"`python benchmarks/mnist_vs_diffusers.py --minutes {result['minutes']:g}`, "
             f"{result['threads']} threads, torch {torch.__version__}. FD of {result['n_samples']} samples "
             f"(seed 0, {NFE} network evaluations) to `mnist:test`; floor {floor:.2f}.", "",
             "| fraction of budget | scorelab min | scorelab FD | diffusers min | diffusers FD | ratio |",
             "|---|---|---|---|---|---|"]
    for f, a, b in zip(FRACTIONS, result["scorelab"]["curve"], result["diffusers"]["curve"]):
        lines.append(f"| {f:g} | {a['train_seconds'] / 60:.1f} | {a['fd']:.2f} | {b['train_seconds'] / 60:.1f} | "
                     f"{b['fd']:.2f} | {a['fd'] / b['fd']:.2f} |")
    t = result["targets"]
    lines += ["", f"scorelab {result['scorelab']['steps']} steps of batch {result['scorelab']['batch_size']}, "
              f"diffusers {result['diffusers']['steps']} steps of batch {result['diffusers']['batch_size']}.",
              f"Below diffusers at every point: {'yes' if t['below_everywhere'] else 'no'}; "
              f"final ratio {t['final_ratio']:.2f} (target ≤ {TARGET_END_RATIO}): {'met' if t['final_met'] else 'NOT met'}.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, sort_keys=True))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="training time of each (default: 15)")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run, into results/quick/")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    budget = 6.0 if args.quick else args.minutes * 60
    out = args.out or HERE / "results" / ("quick" if args.quick else "") / "mnist_vs_diffusers"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"minutes": budget / 60, "threads": torch.get_num_threads(), "n_samples": N_SAMPLES if not args.quick else 64}
    for name, fn in (("scorelab", run_scorelab), ("diffusers", run_diffusers)):
        print(f"{name}: {budget / 60:.1f} minutes of training ...", flush=True)
        curve, info = fn(budget, args.quick, lambda s: print(s, flush=True))
        result[name] = {"curve": curve, **info}
    pairs = list(zip(result["scorelab"]["curve"], result["diffusers"]["curve"]))
    final = pairs[-1][0]["fd"] / pairs[-1][1]["fd"]
    result["targets"] = {"below_everywhere": all(a["fd"] < b["fd"] for a, b in pairs),
                         "final_ratio": final, "final_met": final <= TARGET_END_RATIO}
    report(result, out)
    print(out.with_suffix(".md").read_text())
    return result


if __name__ == "__main__":
    main()
