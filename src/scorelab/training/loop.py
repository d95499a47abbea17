"""The training loop: Adam, gradient clipping, EMA, a held-out loss, checkpoints, resume."""
import math
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from . import checkpoint as ckpt
from .logging import MetricsLog
from .normalization import Normalizer
from .run import Run
from .setup import make_buffer, make_objective, noise_levels, resolve_device

RUN_FILES = (ckpt.CONFIG_FILE, ckpt.CHECKPOINT_FILE, "metrics.jsonl", "tensorboard")


class RunDirError(ValueError):
    """A run directory that exists (without --force / --resume) or cannot be resumed."""


def split(n: int, holdout: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic train/held-out split of ``n`` indices (at least one in each part)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_hold = min(n - 1, max(1, round(holdout * n))) if holdout > 0 else 0
    return perm[n_hold:], perm[:n_hold]


def learning_rate(cfg, step: int) -> float:
    """Cosine decay from ``lr`` to 5% of it over the run."""
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, net: torch.nn.Module, rate: float, step: int) -> None:
    """θ_ema ← θ_ema + (1 − r)(θ − θ_ema), r = min(rate, (1 + step)/(10 + step)) (warm-up)."""
    r = min(rate, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p, 1 - r)
    for e, b in zip(ema.buffers(), net.buffers()):
        e.copy_(b)


def prepare_run_dir(run_dir, force: bool, resume: bool) -> None:
    """Refuse to overwrite an existing run unless ``force``; with ``force`` remove only run files."""
    if run_dir is None:
        return
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / ckpt.CHECKPOINT_FILE).exists():
            raise RunDirError(f"{run_dir}: nothing to resume (no {ckpt.CHECKPOINT_FILE})")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        if not force:
            raise RunDirError(f"{run_dir}: exists and is not empty; use --force to overwrite or --resume to continue")
        for name in RUN_FILES:
            p = run_dir / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)


class _State:
    """What changes during training; (de)serialised with the checkpoint."""

    def __init__(self, run, device, seed):
        self.run = run
        self.opt = torch.optim.Adam(run.net.parameters(), lr=run.cfg.lr)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.buffer = make_buffer(run.cfg, tuple(run.data["shape"]), self.generator, device)
        self.step = 0

    def save(self, run_dir):
        opt_tensors, groups = ckpt.optimizer_state(self.opt)
        extra = {**opt_tensors, "rng.generator": self.generator.get_state()}
        if self.buffer is not None:
            extra["buffer.samples"] = self.buffer.samples
        self.run.save(run_dir, extra, {"step": self.step, "optim_groups": groups})

    def restore(self, tensors, meta, path):
        step = meta.get("step")
        if not isinstance(step, int) or not 0 <= step <= self.run.cfg.steps:
            raise ckpt.CheckpointError(f"{path}: step {step!r} is missing or outside [0, training.steps]")
        ckpt.load_optimizer_state(self.opt, tensors, meta.get("optim_groups"), path)
        try:
            self.generator.set_state(tensors["rng.generator"])
            if self.buffer is not None:
                samples = tensors["buffer.samples"]
                if samples.shape != self.buffer.samples.shape:
                    raise ValueError("replay buffer shape")
                self.buffer.samples = samples.to(self.buffer.samples)
        except (KeyError, RuntimeError, ValueError) as e:
            raise ckpt.CheckpointError(f"{path}: bad or missing training state ({e})") from None
        self.step = step


def train(cfg, dataset, run_dir=None, *, resume=False, force=False, progress=None) -> Run:
    """Fit the configured model to ``dataset`` (a :class:`scorelab.data.Dataset`).

    With ``run_dir`` the run is checkpointed there every ``checkpoint_every`` steps and at the
    end, and ``resume=True`` continues from the last checkpoint: the result then equals an
    uninterrupted run (same seed, CPU). Returns the trained :class:`Run`.
    """
    prepare_run_dir(run_dir, force, resume)
    if resume:  # the stored configuration wins; only the length and cadence may change
        stored, tensors, meta = Run.load(run_dir)
        keep = {k: getattr(cfg, k) for k in ("steps", "eval_every", "checkpoint_every", "device")}
        cfg = SimpleNamespace(**{**vars(stored.cfg), **keep})
    device = resolve_device(cfg.device)
    train_idx, hold_idx = split(len(dataset.x), cfg.holdout, cfg.seed)
    normalizer = Normalizer.fit(dataset.x[train_idx], cfg.normalize)
    x_train = normalizer.forward(dataset.x[train_idx]).to(device)
    x_hold = normalizer.forward(dataset.x[hold_idx][:2048]).to(device)
    sigmas = noise_levels(cfg, x_train, normalizer.sigma_scale)
    info = {"name": dataset.name, "kind": dataset.kind, "shape": list(dataset.x.shape[1:]),
            "n_train": len(train_idx), "n_holdout": len(hold_idx)}
    torch.manual_seed(cfg.seed)
    run = Run.new(cfg, info, normalizer, sigmas, device)
    run.preview = dataset.x[train_idx][:2000].float().contiguous()
    state = _State(run, device, cfg.seed)
    if resume:
        if stored.data["shape"] != info["shape"] or stored.data["n_train"] != info["n_train"]:
            raise RunDirError(f"{run_dir}: the data differ from the data this run was trained on")
        run.net.load_state_dict(stored.net.state_dict())
        run.ema_net.load_state_dict(stored.ema_net.state_dict())
        state.restore(tensors, meta, Path(run_dir) / ckpt.CHECKPOINT_FILE)
    elif run_dir is not None:
        state.save(run_dir)  # step 0: the directory is a loadable run from the start
    return _loop(state, x_train, x_hold, run_dir, progress)


def _loop(state, x_train, x_hold, run_dir, progress) -> Run:
    run, cfg = state.run, state.run.cfg
    objective = make_objective(cfg, run.sigmas.to(x_train.device), run.net, state.buffer)
    heldout_objective = make_objective(cfg, run.sigmas.to(x_train.device), run.ema_net, None)
    log = MetricsLog(run_dir, state.step, cfg.steps, progress)
    running, start = [], time.perf_counter()
    try:
        while state.step < cfg.steps:
            idx = torch.randint(len(x_train), (min(cfg.batch_size, len(x_train)),),
                                generator=state.generator, device=x_train.device)
            loss = _optimisation_step(state, objective, x_train[idx])
            running.append(loss)
            state.step += 1
            log.advance()
            if state.step % cfg.eval_every == 0 or state.step == cfg.steps:
                record = {"step": state.step, "loss": sum(running) / len(running),
                          "lr": learning_rate(cfg, state.step), "seconds": time.perf_counter() - start}
                if len(x_hold) and cfg.objective != "cd":
                    record["heldout"] = _heldout(heldout_objective, x_hold, cfg.seed)
                log.log(record)
                running = []
            if run_dir is not None and (state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps):
                state.save(run_dir)
    finally:
        log.close()
    run.extra["history"] = log.history
    return run


def _optimisation_step(state, objective, batch) -> float:
    cfg = state.run.cfg
    for group in state.opt.param_groups:
        group["lr"] = learning_rate(cfg, state.step)
    loss = objective(batch, state.generator)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training diverged at step {state.step + 1} (loss is {loss.item()}): lower training.lr "
            "or raise noise.sigma_min; the last checkpoint is intact")
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(state.run.net.parameters(), cfg.grad_clip)
        if not torch.isfinite(norm):
            raise FloatingPointError(f"non-finite gradient at step {state.step + 1}: lower training.lr")
    state.opt.step()
    update_ema(state.run.ema_net, state.run.net, cfg.ema, state.step)
    return loss.item()


def _heldout(objective, x_hold, seed) -> float:
    g = torch.Generator(device=x_hold.device).manual_seed(seed + 1)
    with torch.enable_grad():  # objectives differentiate in x; the EMA network has no grad
        return float(objective(x_hold, g).detach())
