"""The training loop: Adam, gradient clipping, EMA, a held-out loss, checkpoints, resume,
and data parallelism under torchrun (see :mod:`.distributed`)."""
import contextlib
import math
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from ..core.signals import Interrupted, StopRequest, signal_name
from . import checkpoint as ckpt
from .classifier import train_classifier
from .config import OPTIONS, make_config
from .distributed import Topology, stream_generator
from .lock import LOCK_FILE, RunLock, RunLockedError
from .logging import MetricsLog
from .normalization import Normalizer
from .run import Run
from .setup import (autocast_dtype, make_buffer, make_objective, network_arch, noise_levels, resolve_device,
                    resolve_schedule, training_threads, with_autocast)

RUN_FILES = (ckpt.CONFIG_FILE, ckpt.CHECKPOINT_FILE, "metrics.jsonl", "tensorboard")
BATCH_STREAM = -1  # the noise stream that draws the batch indices; chunks use 0, 1, ...


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


def prepare_run_dir(run_dir, force: bool, resume: bool, topo: Topology) -> bool:
    """Refuse to overwrite an existing run unless ``force``; with ``force`` remove only run files.
    ``resume`` on a directory with no checkpoint yet (or none at all: a requeued job's first
    start) starts from step 0 and says so, unless the directory holds files that are not a
    run's. Returns whether there is a checkpoint to resume from."""
    if run_dir is None:
        return False
    run_dir = Path(run_dir)
    if resume and (run_dir / ckpt.CHECKPOINT_FILE).exists():
        return True
    names = sorted(n for n in os.listdir(run_dir) if n != LOCK_FILE)
    if resume:
        foreign = [n for n in names if n not in RUN_FILES and not (n.startswith(".") and n.endswith(".tmp"))]
        if foreign:
            raise RunDirError(f"{run_dir}: no {ckpt.CHECKPOINT_FILE} to resume from, and it holds other "
                              f"files ({foreign[0]}); use another directory or --force")
        if topo.is_main:
            print(f"scorelab: {run_dir}: no checkpoint to resume from yet; starting from step 0", file=sys.stderr)
    elif names and not force:
        raise RunDirError(f"{run_dir}: exists and is not empty; use --force to overwrite or --resume to continue")
    if names:
        topo.barrier()  # every process has seen the old directory before rank 0 clears it
        if topo.is_main:
            for name in RUN_FILES:
                p = run_dir / name
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    return False


@contextlib.contextmanager
def claimed(run_dir, force: bool, resume: bool, topo: Topology):
    """Create ``run_dir`` and hold its lock (:mod:`.lock`, rank 0) for the block; every process
    refuses when it is taken."""
    if resume and force:
        raise RunDirError("--resume and --force contradict each other: choose one")
    if run_dir is None:
        yield
        return
    run_dir, lock, error = Path(run_dir), RunLock(run_dir), None
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory")
    if topo.is_main:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except RunLockedError as e:
            error = e
        except OSError as e:
            error = RunDirError(f"{run_dir}: cannot write here ({e.strerror or e})")
    if topo.max_int(error is not None):
        raise error or RunDirError(f"{run_dir}: the first process could not take the run's lock")
    try:
        yield
    finally:
        lock.release()


def refuse_other_config(cfg, stored, run_dir, keep) -> None:
    """Resuming continues the stored configuration: an option set to a value that is neither
    the stored one nor the default asks for another run, and is refused."""
    default = vars(make_config())
    for k, v in vars(cfg).items():
        if k not in keep and v != default.get(k, v) and v != getattr(stored, k, v):
            raise RunDirError(f"{run_dir}: this run was trained with {OPTIONS[k].section}.{k}="
                              f"{getattr(stored, k)!r}, not {v!r}; drop the option to continue it, "
                              "or use --force to start anew")


class _State:
    """What changes during training; (de)serialised with the checkpoint."""

    def __init__(self, run, device):
        self.run = run
        self.opt = torch.optim.Adam(run.net.parameters(), lr=run.cfg.lr)
        g = stream_generator(run.cfg.seed, 0, BATCH_STREAM - 1, device)
        self.buffer = make_buffer(run.cfg, tuple(run.data["shape"]), g, device)
        self.step = 0
        self.labels = None  # (train, held-out) class codes of a conditional model

    def save(self, run_dir):
        opt_tensors, groups = ckpt.optimizer_state(self.opt)
        extra = dict(opt_tensors)
        if self.buffer is not None:
            extra["buffer.samples"] = self.buffer.samples
        self.run.save(run_dir, extra, {"step": self.step, "optim_groups": groups})

    def restore(self, tensors, meta, path):
        step = meta.get("step")
        if not isinstance(step, int) or not 0 <= step <= self.run.cfg.steps:
            raise ckpt.CheckpointError(f"{path}: step {step!r} is missing or outside [0, training.steps]")
        ckpt.load_optimizer_state(self.opt, tensors, meta.get("optim_groups"), path)
        if self.buffer is not None:
            samples = tensors.get("buffer.samples")
            if samples is None or samples.shape != self.buffer.samples.shape:
                raise ckpt.CheckpointError(f"{path}: missing or misshapen replay buffer")
            self.buffer.samples = samples.to(self.buffer.samples)
        self.step = step


def train(cfg, dataset, run_dir=None, *, resume=False, force=False, progress=None, on_step=None) -> Run:
    """Fit the configured model to ``dataset`` (a :class:`scorelab.data.Dataset`).

    With ``run_dir`` the run is checkpointed there every ``checkpoint_every`` steps and at the
    end, and ``resume=True`` continues from the last checkpoint: the result then equals an
    uninterrupted run (same seed, CPU). Under ``torchrun`` the batch is split across processes
    and rank 0 alone writes. ``on_step(step, run)``, if given, is called on rank 0 after every
    step (to write sample grids, say). Returns the trained :class:`Run`.

    One process at a time trains a run directory (:mod:`.lock`). SIGINT or SIGTERM stops the
    run after the current step: that step is checkpointed (a second signal waits for the
    write) and :class:`~scorelab.core.signals.Interrupted` is raised.
    """
    device = resolve_device(cfg.device)
    topo = Topology(device)
    with StopRequest() as stop, claimed(run_dir, force, resume, topo):
        resume = prepare_run_dir(run_dir, force, resume, topo)
        return _train(cfg, dataset, run_dir, resume, progress, on_step, device, topo, stop)


def _train(cfg, dataset, run_dir, resume, progress, on_step, device, topo, stop) -> Run:
    if resume:  # the stored configuration wins; only the length and cadence may change
        stored, tensors, meta = Run.load(run_dir)
        keep = {k: getattr(cfg, k) for k in ("steps", "eval_every", "checkpoint_every", "device")}
        refuse_other_config(cfg, stored.cfg, run_dir, {*keep, "threads", "sample_every"})
        cfg = SimpleNamespace(**{**vars(stored.cfg), **keep})
    cfg = resolve_schedule(cfg, dataset.kind, tuple(dataset.x.shape[1:]))
    if cfg.micro_batches % topo.world:
        raise ValueError(f"training.micro_batches ({cfg.micro_batches}) must be a multiple of the "
                         f"number of processes ({topo.world})")
    train_idx, hold_idx = split(len(dataset.x), cfg.holdout, cfg.seed)
    normalizer = Normalizer.fit(dataset.x[train_idx], cfg.normalize)
    x_train = normalizer.forward(dataset.x[train_idx]).to(device)
    x_hold = normalizer.forward(dataset.x[hold_idx][:2048]).to(device)
    sigmas = noise_levels(cfg, x_train, normalizer.sigma_scale)
    info = {"name": dataset.name, "kind": dataset.kind, "shape": list(dataset.x.shape[1:]),
            "n_train": len(train_idx), "n_holdout": len(hold_idx)}
    labels = None  # class codes of the training and held-out samples, for a conditional model
    if dataset.classes is not None:
        info["classes"] = list(dataset.classes)
        codes = torch.as_tensor(dataset.labels, dtype=torch.long)
        labels = (codes[train_idx].to(device), codes[hold_idx][:2048].to(device))
    torch.manual_seed(cfg.seed)
    run = Run.new(cfg, info, normalizer, sigmas, device)
    run.preview = dataset.x[train_idx][:2000].float().contiguous()
    state = _State(run, device)
    state.labels = labels
    if labels is not None:  # each class's mean: where its samplers' prior N(m_y, σ_max² I) is centred
        run.class_means = torch.stack([x_train[labels[0] == k].mean(0) for k in range(len(info["classes"]))])
    if resume:
        if stored.data["shape"] != info["shape"] or stored.data["n_train"] != info["n_train"] \
                or stored.classes != info.get("classes", []):
            raise RunDirError(f"{run_dir}: the data differ from the data this run was trained on")
        run.net.load_state_dict(stored.net.state_dict())
        run.ema_net.load_state_dict(stored.ema_net.state_dict())
        run.classifier = stored.classifier
        state.restore(tensors, meta, Path(run_dir) / ckpt.CHECKPOINT_FILE)
    elif run_dir is not None and topo.is_main:
        with stop.protected():
            state.save(run_dir)  # step 0: the directory is a loadable run from the start
    return _loop(state, x_train, x_hold, run_dir if topo.is_main else None, progress, topo,
                 on_step if topo.is_main else None, stop)


@contextlib.contextmanager
def _threads(run, device):
    """Train on ``training.threads`` CPU threads, then restore torch's setting."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(training_threads(run.cfg, network_arch(run.cfg, run.data["kind"]), before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _loop(state, x_train, x_hold, run_dir, progress, topo, on_step, stop) -> Run:
    with _threads(state.run, x_train.device):
        return _train_steps(state, x_train, x_hold, run_dir, progress, topo, on_step, stop)


def _train_steps(state, x_train, x_hold, run_dir, progress, topo, on_step, stop) -> Run:
    run, cfg = state.run, state.run.cfg
    kind = run.data["kind"]
    dtype = autocast_dtype(cfg, network_arch(cfg, kind), x_train.device)
    labelled = state.labels is not None
    objective = with_autocast(make_objective(cfg, run.sigmas.to(x_train.device), run.net, state.buffer, kind,
                                             labelled), dtype)
    heldout_objective = make_objective(cfg, run.sigmas.to(x_train.device), run.ema_net, None, kind, labelled)
    log = MetricsLog(run_dir, state.step, cfg.steps, progress if topo.is_main else False)
    run.extra["history"] = log.history  # the list being filled: on_step sees the losses so far
    running, start, saved = [], time.perf_counter(), state.step
    try:
        saved = _stop_if_asked(state, stop, run_dir, topo, saved)
        while state.step < cfg.steps:
            loss = topo.sum_scalar(_optimisation_step(state, objective, x_train, topo))
            running.append(loss)
            state.step += 1
            log.advance()
            if on_step is not None:
                on_step(state.step, run)
            if state.step % cfg.eval_every == 0 or state.step == cfg.steps:
                record = {"step": state.step, "loss": sum(running) / len(running),
                          "lr": learning_rate(cfg, state.step), "seconds": time.perf_counter() - start}
                if len(x_hold) and cfg.objective != "cd":
                    record["heldout"] = _heldout(heldout_objective, x_hold, cfg.seed,
                                                 state.labels[1] if labelled else None)
                log.log(record)
                running = []
            if run_dir is not None and (state.step % cfg.checkpoint_every == 0 or state.step == cfg.steps):
                with stop.protected():
                    state.save(run_dir)
                saved = state.step
            saved = _stop_if_asked(state, stop, run_dir, topo, saved)
    finally:
        log.close()
    topo.barrier()
    if labelled and cfg.classifier_steps and run.classifier is None:
        train_classifier(run, x_train, state.labels[0], cfg.classifier_steps)
        if run_dir is not None:
            with stop.protected():
                state.save(run_dir)
    return run


def _stop_if_asked(state, stop, run_dir, topo, saved: int) -> int:
    """Between two steps: if any process got SIGINT or SIGTERM (all agree on the step), save
    this step unless it is saved or the run is complete, and raise ``Interrupted``. Returns the
    step of the last checkpoint."""
    signum, steps = topo.max_int(stop.signum or 0), state.run.cfg.steps
    if not signum or state.step == steps:
        return saved
    if run_dir is not None and saved != state.step:
        with stop.protected():
            state.save(run_dir)
    if not topo.is_main:
        raise Interrupted(signum, f"rank {topo.rank} stopped by {signal_name(signum)} at step {state.step}")
    if run_dir is None:
        raise Interrupted(signum, f"stopped by {signal_name(signum)} at step {state.step} of {steps}; "
                          "nothing was saved (no run directory)")
    raise Interrupted(signum, f"stopped by {signal_name(signum)} at step {state.step} of {steps}; its "
                      f"checkpoint is saved in {run_dir}: continue with --resume", resumable=True)


def _optimisation_step(state, objective, x_train, topo) -> float:
    """One step on the global batch: this process's chunks, gradients summed over processes."""
    cfg, device = state.run.cfg, x_train.device
    for group in state.opt.param_groups:
        group["lr"] = learning_rate(cfg, state.step)
    chunk = min(cfg.batch_size, len(x_train)) // cfg.micro_batches
    if chunk < 1:
        raise ValueError("training.micro_batches exceeds the number of training samples")
    g = stream_generator(cfg.seed, state.step, BATCH_STREAM, device)
    idx = torch.randint(len(x_train), (chunk * cfg.micro_batches,), generator=g, device=device)
    loss = 0.0
    for k in topo.chunks(cfg.micro_batches):
        gk = stream_generator(cfg.seed, state.step, k, device)
        part = idx[k * chunk:(k + 1) * chunk]
        labels = () if state.labels is None else (state.labels[0][part],)
        loss = loss + objective(x_train[part], gk, *labels) / cfg.micro_batches
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"training diverged at step {state.step + 1} (loss is {loss.item()}): lower training.lr "
            "or raise noise.sigma_min; the last checkpoint is intact")
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    topo.sum_gradients(state.run.net.parameters())
    norm = torch.nn.utils.clip_grad_norm_(state.run.net.parameters(),  # max_norm inf: only measures
                                          cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
    if not torch.isfinite(norm):
        raise FloatingPointError(f"training diverged at step {state.step + 1} (the gradient is not finite): "
                                 "lower training.lr or raise noise.sigma_min; the last checkpoint is intact")
    state.opt.step()
    update_ema(state.run.ema_net, state.run.net, cfg.ema, state.step)
    return loss.item()


def _heldout(objective, x_hold, seed, y_hold=None) -> float:
    g = stream_generator(seed, 0, BATCH_STREAM - 2, x_hold.device)
    with torch.enable_grad():  # objectives differentiate in x; the EMA network has no grad
        return float(objective(x_hold, g, *(() if y_hold is None else (y_hold,))).detach())
