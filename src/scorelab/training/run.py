"""A trained model as data: configuration, networks, normalisation and noise levels.

``Run`` is what a run directory holds and what :class:`scorelab.ScoreModel` wraps; it is
saved as ``config.json`` + ``checkpoint.safetensors`` (see :mod:`.checkpoint`).
"""
import copy
import platform
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

from .. import __version__
from . import checkpoint as ckpt
from .config import ConfigError, make_config
from .normalization import Normalizer
from .setup import build_network


@dataclass
class Run:
    cfg: SimpleNamespace
    net: torch.nn.Module
    ema_net: torch.nn.Module
    normalizer: Normalizer
    sigmas: torch.Tensor  # normalised units, largest first (empty for noise-free objectives)
    data: dict  # name, kind, shape, n_train, n_holdout
    preview: torch.Tensor | None = None  # up to 2000 training samples (data units), for plots
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(cls, cfg, data: dict, normalizer: Normalizer, sigmas: torch.Tensor, device) -> "Run":
        net = build_network(cfg, tuple(data["shape"]), data["kind"]).to(device)
        return cls(cfg, net, copy.deepcopy(net).requires_grad_(False), normalizer, sigmas, data)

    def config_json(self) -> dict:
        return {"format": ckpt.FORMAT, "config": vars(self.cfg), "data": self.data,
                "normalize": self.normalizer.mode,
                "versions": {"scorelab": __version__, "torch": torch.__version__.split("+")[0],
                             "python": platform.python_version()}}

    def tensors(self) -> dict:
        preview = {} if self.preview is None else {"data.preview": self.preview}
        return {**ckpt.module_state("model", self.net), **ckpt.module_state("ema", self.ema_net),
                **self.normalizer.state(), "sigmas": self.sigmas, **preview}

    def save(self, run_dir: Path, extra_tensors=None, metadata=None) -> None:
        """Write the run (and optional training state) atomically into ``run_dir``."""
        ckpt.write_json(Path(run_dir) / ckpt.CONFIG_FILE, self.config_json())
        ckpt.save_tensors(Path(run_dir) / ckpt.CHECKPOINT_FILE, {**self.tensors(), **(extra_tensors or {})},
                          {"format": ckpt.FORMAT, **(metadata or {})})

    @classmethod
    def load(cls, run_dir, device="cpu") -> tuple["Run", dict, dict]:
        """Read a run directory; returns (run, all tensors, metadata). Refuses anything malformed."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ckpt.CheckpointError(f"{run_dir}: no such run directory")
        meta_json = ckpt.read_json(run_dir / ckpt.CONFIG_FILE)
        path = run_dir / ckpt.CHECKPOINT_FILE
        tensors, meta = ckpt.load_tensors(path)
        if meta_json.get("format") != ckpt.FORMAT or meta.get("format") != ckpt.FORMAT:
            raise ckpt.CheckpointError(f"{run_dir}: not a {ckpt.FORMAT} run (format field missing or different)")
        cfg, data = _checked_config(meta_json, run_dir)
        for key in ("normalizer.mean", "normalizer.scale", "sigmas"):
            if key not in tensors:
                raise ckpt.CheckpointError(f"{path}: missing tensor {key!r}")
        normalizer = Normalizer.from_state(tensors, cfg.normalize)
        if normalizer.mean.shape != tuple(data["shape"]) or not torch.isfinite(normalizer.scale).all() \
                or (normalizer.scale <= 0).any():
            raise ckpt.CheckpointError(f"{path}: normalisation does not match the data shape or is not positive")
        sigmas = tensors["sigmas"]
        if sigmas.ndim != 1 or not torch.isfinite(sigmas).all() or (sigmas <= 0).any():
            raise ckpt.CheckpointError(f"{path}: noise levels must be a finite positive 1-D tensor")
        try:
            run = cls.new(cfg, data, normalizer, sigmas, device)
        except (ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{run_dir}: configuration cannot build a network ({e})") from None
        preview = tensors.get("data.preview")
        if preview is not None and (tuple(preview.shape[1:]) != tuple(data["shape"])
                                    or not torch.isfinite(preview).all()):
            raise ckpt.CheckpointError(f"{path}: data.preview does not match the data shape")
        run.preview = preview
        ckpt.load_module_state(run.net, tensors, "model", path)
        ckpt.load_module_state(run.ema_net, tensors, "ema", path)
        return run, tensors, meta


def _checked_config(meta_json: dict, run_dir: Path):
    try:
        cfg = make_config(**meta_json["config"])
        data = meta_json["data"]
        shape = data["shape"]
        if not (isinstance(shape, list) and 1 <= len(shape) <= 3
                and all(isinstance(s, int) and 0 < s <= 1 << 20 for s in shape)):
            raise ValueError("bad data shape")
        if data.get("kind") not in ("points", "images") or cfg.normalize != meta_json.get("normalize"):
            raise ValueError("bad data kind or normalisation")
        if int(torch.tensor(shape).prod()) > 1 << 22:
            raise ValueError("data shape too large")
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{run_dir / ckpt.CONFIG_FILE}: invalid ({e})") from None
    return cfg, data
