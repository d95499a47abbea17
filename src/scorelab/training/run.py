"""A trained model as data: configuration, networks, normalisation and noise levels.

``Run`` is what a run directory holds and what :class:`scorelab.ScoreModel` wraps; it is
saved as ``config.json`` + ``checkpoint.safetensors`` (see :mod:`.checkpoint`). ``Run.load``
treats both files as untrusted: every key, type, shape, dtype and value is checked, and the
configured network may not be larger than the weights stored for it.
"""
import copy
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

from .._version import __version__
from ..objectives import NOISE_CONDITIONAL, SDE_OBJECTIVES
from . import checkpoint as ckpt
from .config import OPTIONS, ConfigError, make_config
from .normalization import Normalizer
from .setup import build_network, network_arch, network_width


CONFIG_KEYS = {"format", "config", "data", "normalize", "versions"}  # what config.json holds
DATA_KEYS = {"name": str, "kind": str, "shape": list, "n_train": int, "n_holdout": int}
OPTIONAL_DATA_KEYS = {"classes": list}  # a class-conditional run's sorted class names
CLASSIFIER_WIDTH = 64
_JSON_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool}


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
    classifier: torch.nn.Module | None = None  # p(y | x, σ) for classifier guidance, normalised units
    class_means: torch.Tensor | None = None  # (K, *shape) mean of each class, normalised units

    @classmethod
    def new(cls, cfg, data: dict, normalizer: Normalizer, sigmas: torch.Tensor, device) -> "Run":
        net = build_network(cfg, tuple(data["shape"]), data["kind"], len(data.get("classes", ()))).to(device)
        return cls(cfg, net, copy.deepcopy(net).requires_grad_(False), normalizer, sigmas, data)

    @property
    def classes(self) -> list[str]:
        """The class names of a class-conditional run (empty otherwise)."""
        return self.data.get("classes", [])

    def new_classifier(self, device) -> torch.nn.Module:
        """An untrained :class:`NoisyClassifier` for this run's data and classes."""
        from ..nn import NoisyClassifier
        return NoisyClassifier(tuple(self.data["shape"]), len(self.classes), CLASSIFIER_WIDTH).to(device)

    def config_json(self) -> dict:
        return {"format": ckpt.FORMAT, "config": vars(self.cfg), "data": self.data,
                "normalize": self.normalizer.mode,
                "versions": {"scorelab": __version__, "torch": torch.__version__.split("+")[0],
                             "python": platform.python_version()}}

    def tensors(self) -> dict:
        preview = {} if self.preview is None else {"data.preview": self.preview}
        classifier = {} if self.classifier is None else ckpt.module_state("classifier", self.classifier)
        means = {} if self.class_means is None else {"classes.mean": self.class_means}
        return {**ckpt.module_state("model", self.net), **ckpt.module_state("ema", self.ema_net),
                **self.normalizer.state(), "sigmas": self.sigmas, **preview, **classifier, **means}

    def save(self, run_dir: Path, extra_tensors=None, metadata=None) -> None:
        """Write the run (and optional training state) atomically into ``run_dir``.

        Refuses (``FloatingPointError``, nothing written) to replace the last checkpoint by one
        holding NaN or Inf: a diverged run keeps its last good checkpoint.
        """
        if not _sigmas_fit(self.cfg, self.sigmas):
            raise ValueError(f"noise levels {self.sigmas.tolist()[-3:]}... are not positive and decreasing in "
                             "float32 (is noise.sigma_min below ~1e-38?)")
        tensors = {**self.tensors(), **(extra_tensors or {})}
        for name, t in tensors.items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise FloatingPointError(
                    f"training diverged: {name} holds NaN or Inf (lower training.lr, keep "
                    "training.grad_clip > 0, or raise noise.sigma_min); the last checkpoint is intact")
        ckpt.write_json(Path(run_dir) / ckpt.CONFIG_FILE, self.config_json())
        ckpt.save_tensors(Path(run_dir) / ckpt.CHECKPOINT_FILE, tensors, {"format": ckpt.FORMAT, **(metadata or {})})

    @classmethod
    def load(cls, run_dir, device="cpu") -> tuple["Run", dict, dict]:
        """Read a run directory; returns (run, all tensors, metadata). Refuses anything malformed.

        Only ``run_dir/config.json`` and ``run_dir/checkpoint.safetensors`` are opened; no path
        read from a file is ever used.
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ckpt.CheckpointError(f"{run_dir}: no such run directory")
        meta_json = ckpt.read_json(run_dir / ckpt.CONFIG_FILE)
        path = run_dir / ckpt.CHECKPOINT_FILE
        tensors, meta = ckpt.load_tensors(path)
        if meta_json.get("format") != ckpt.FORMAT or meta.get("format") != ckpt.FORMAT:
            raise ckpt.CheckpointError(f"{run_dir}: not a {ckpt.FORMAT} run (format field missing or "
                                       "different: written by another version of scorelab?)")
        cfg, data = _checked_config(meta_json, run_dir)
        shape = tuple(data["shape"])
        for key in ("normalizer.mean", "normalizer.scale", "sigmas"):
            if key not in tensors or not tensors[key].is_floating_point():
                raise ckpt.CheckpointError(f"{path}: missing or non-float tensor {key!r}")
        normalizer = Normalizer.from_state(tensors, cfg.normalize)
        scale_shape = shape if cfg.normalize == "per-dim" else ()
        if normalizer.mean.shape != shape or normalizer.scale.shape != scale_shape \
                or not torch.isfinite(normalizer.mean).all() or not torch.isfinite(normalizer.scale).all() \
                or (normalizer.scale <= 0).any():
            raise ckpt.CheckpointError(f"{path}: normalisation does not match the data shape or is not "
                                       "finite and positive")
        sigmas = tensors["sigmas"]
        if not _sigmas_fit(cfg, sigmas):
            raise ckpt.CheckpointError(f"{path}: noise levels must be a finite, positive, decreasing 1-D "
                                       f"tensor with as many levels as objective {cfg.objective!r} uses")
        preview = tensors.get("data.preview")
        if preview is not None and (preview.ndim < 1 or tuple(preview.shape[1:]) != shape
                                    or not preview.is_floating_point() or not torch.isfinite(preview).all()):
            raise ckpt.CheckpointError(f"{path}: data.preview does not match the data shape")
        stored = [v for k, v in tensors.items() if k.startswith("model.")]
        width = network_width(cfg, network_arch(cfg, data["kind"]))
        if cfg.depth > len(stored) or width > sum(v.numel() for v in stored):
            raise ckpt.CheckpointError(f"{run_dir}: model.width={width} / model.depth={cfg.depth} "
                                       "describe a network larger than the weights stored for it")
        try:
            run = cls.new(cfg, data, normalizer, sigmas, device)
        except (ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{run_dir}: configuration cannot build a network ({e})") from None
        run.preview = preview
        ckpt.load_module_state(run.net, tensors, "model", path)
        ckpt.load_module_state(run.ema_net, tensors, "ema", path)
        means = tensors.get("classes.mean")
        if run.classes and (means is None or tuple(means.shape) != (len(run.classes), *shape)
                            or not means.is_floating_point() or not torch.isfinite(means).all()):
            raise ckpt.CheckpointError(f"{path}: classes.mean is missing or does not match the classes and shape")
        run.class_means = means.to(device) if run.classes else None
        if any(k.startswith("classifier.") for k in tensors):
            if len(run.classes) < 2:
                raise ckpt.CheckpointError(f"{path}: a classifier is stored but the run has no classes")
            run.classifier = run.new_classifier(device).requires_grad_(False)
            ckpt.load_module_state(run.classifier, tensors, "classifier", path)
        return run, tensors, meta


def _sigmas_fit(cfg, sigmas: torch.Tensor) -> bool:
    """Finite, positive, strictly decreasing, and as many as the objective uses (ncsn:
    n_levels, the SDEs ve, vp, subvp: n_levels ≥ 2 spanning their σ̃ range, dsm: 1, others: 0)?"""
    if sigmas.ndim != 1 or not torch.isfinite(sigmas).all() or (sigmas <= 0).any() \
            or (sigmas[1:] >= sigmas[:-1]).any():
        return False
    if cfg.objective in NOISE_CONDITIONAL:  # ncsn and the SDEs: n_levels levels on the contract
        return len(sigmas) >= (2 if cfg.objective in SDE_OBJECTIVES else 1) and cfg.n_levels in ("auto", len(sigmas))
    return len(sigmas) == (1 if cfg.objective == "dsm" else 0)


def _checked_config(meta_json: dict, run_dir: Path):
    """The configuration and data description of config.json, with every key and type checked."""
    try:
        unknown, missing = set(meta_json) - CONFIG_KEYS, CONFIG_KEYS - {"versions"} - set(meta_json)
        if unknown or missing:
            raise ValueError(f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        values, data = meta_json["config"], meta_json["data"]
        if not isinstance(values, dict) or not isinstance(data, dict):
            raise ValueError("'config' and 'data' must be objects")
        for name, value in values.items():
            opt = OPTIONS.get(name)  # make_config refuses unknown names
            if opt is not None and not (opt.auto and value == "auto") and (
                    not isinstance(value, _JSON_TYPES[opt.kind])
                    or isinstance(value, bool) != (opt.kind == "bool")):
                raise ValueError(f"{opt.section}.{name} = {value!r} is not of type {opt.kind}")
        cfg = make_config(**values)
        if not set(DATA_KEYS) <= set(data) <= set(DATA_KEYS) | set(OPTIONAL_DATA_KEYS) or not all(
                isinstance(data[k], t) and not isinstance(data[k], bool) for k, t in DATA_KEYS.items()):
            raise ValueError(f"'data' must hold exactly {', '.join(DATA_KEYS)} (and optionally "
                             f"{', '.join(OPTIONAL_DATA_KEYS)}) with their types")
        if "classes" in data:
            _check_classes(data["classes"])
        shape = data["shape"]
        if not (1 <= len(shape) <= 3 and all(isinstance(s, int) and not isinstance(s, bool)
                                             and 0 < s <= 1 << 20 for s in shape)):
            raise ValueError("bad data shape")
        if data["kind"] not in ("points", "images") or cfg.normalize != meta_json["normalize"]:
            raise ValueError("bad data kind or normalisation")
        if math.prod(shape) > 1 << 22:
            raise ValueError("data shape too large")
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{run_dir / ckpt.CONFIG_FILE}: invalid ({e})") from None
    return cfg, data


def _check_classes(classes) -> None:
    """Class names: a list of at least 2 distinct, non-empty strings, at most 100,000."""
    if not (isinstance(classes, list) and 2 <= len(classes) <= 100_000
            and all(isinstance(c, str) and c.strip() for c in classes) and len(set(classes)) == len(classes)):
        raise ValueError("'data.classes' must be a list of at least 2 distinct, non-empty strings")
