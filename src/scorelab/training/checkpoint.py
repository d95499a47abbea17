"""Checkpoints: tensors in safetensors, everything else in JSON; no pickle anywhere.

A run directory holds ``config.json`` (configuration, data description, versions) and
``checkpoint.safetensors`` (weights, EMA weights, optimiser state, step, RNG states and the
normalisation, with small JSON in the safetensors metadata). Every file is written atomically
(:func:`scorelab.core.atomic_write`: a temporary file in the same directory, fsynced, then
renamed over the old one), so a crash leaves either the old or the new file, never a torn
one. A crash mid-write can leave a temporary ``.NAME.*.tmp`` behind: readers never look at it,
and the next write of NAME removes it (a run directory has one writer at a time).

Nothing read from these files is trusted: the loaders check every key, type, shape, dtype and
value, never unpickle, and never open a path named inside a file.
"""
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..core import files

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "scorelab-run-1"


class CheckpointError(ValueError):
    """A run directory or checkpoint that is missing, truncated, tampered with or of another format."""


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON atomically; a file that already holds exactly this text is left alone
    (a run rewrites an unchanged config.json at every checkpoint, and each write costs fsyncs)."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    try:
        if Path(path).read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    write_atomically(path, write)


def save_tensors(path: Path, tensors: dict, metadata: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    data = save(tensors, metadata=meta)  # not save_file: it leaves its own .tmpXXXXXX behind when killed
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(data))


class CheckpointWriteError(OSError):
    """A run file that could not be written (no space, read-only, quota); the old one is intact."""

    def __str__(self):
        return self.strerror


def write_atomically(path: Path, write) -> None:
    """:func:`scorelab.core.atomic_write`, a failure as one line that says the old file is intact."""
    try:
        files.atomic_write(path, write)
    except OSError as e:
        raise CheckpointWriteError(e.errno, f"{path}: cannot write ({e.strerror or e}); the previous "
                                   "version of this file, if any, is intact: make room, then --resume") from e


def read_json(path: Path) -> dict:
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (is this a scorelab run directory?)") from None
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON, UTF-8, huge ints
        raise CheckpointError(f"{path}: unreadable or corrupt JSON ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return obj


def load_tensors(path: Path) -> tuple[dict, dict]:
    """Read a safetensors file: (tensors, metadata decoded from JSON), from one open handle so
    that tensors and metadata come from the same version of the file."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = {k: json.loads(v) for k, v in raw.items()}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:  # RecursionError is a RuntimeError
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({msg})") from None
    return tensors, meta


def module_state(prefix: str, module: torch.nn.Module) -> dict:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module_state(module: torch.nn.Module, tensors: dict, prefix: str, path) -> None:
    """Load ``prefix.*`` tensors into ``module``, refusing missing keys, extra keys and wrong shapes."""
    own = module.state_dict()
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or extra:
        raise CheckpointError(f"{path}: {prefix} weights do not match the configuration "
                              f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in state.items():
        if v.shape != own[k].shape or v.dtype != own[k].dtype:
            raise CheckpointError(f"{path}: {prefix}.{k} has shape {tuple(v.shape)} {v.dtype}, "
                                  f"expected {tuple(own[k].shape)} {own[k].dtype}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: {prefix}.{k} holds NaN or Inf")
    module.load_state_dict(state)


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    tensors = {f"optim.{i}.{name}": torch.as_tensor(v) for i, st in sd["state"].items()
               for name, v in st.items()}
    return tensors, sd["param_groups"]


ADAM_STATE = {"step", "exp_avg", "exp_avg_sq"}  # per parameter (+ max_exp_avg_sq with amsgrad)
ADAM_GROUP = {"params", "lr", "betas", "eps", "weight_decay"}  # torch fills in the other keys


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict, groups, path) -> None:
    """Load Adam's state saved by :func:`optimizer_state`, refusing anything that does not fit
    ``opt``: other parameters, unknown or mistyped hyper-parameters, misshapen or NaN moments."""
    own_groups = opt.state_dict()["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(own_groups) or not all(
            isinstance(g, dict) and g.get("params") == o["params"] and ADAM_GROUP <= set(g) <= set(o)
            and all(_same_kind(g[k], o[k]) for k in g if k != "params")
            for g, o in zip(groups, own_groups)):
        raise CheckpointError(f"{path}: optimiser state does not match the model")
    params = [p for group in opt.param_groups for p in group["params"]]
    state = {}
    for key, v in tensors.items():
        if not key.startswith("optim."):
            continue
        idx, _, name = key.removeprefix("optim.").partition(".")
        if not idx.isdigit() or int(idx) >= len(params):
            raise CheckpointError(f"{path}: optimiser state {key!r} names no parameter")
        state.setdefault(int(idx), {})[name] = v
    for idx, st in state.items():
        p, group = params[idx], next(g for g in groups if idx in g["params"])
        names = ADAM_STATE | ({"max_exp_avg_sq"} if group.get("amsgrad") else set())
        if set(st) != names or st["step"].numel() != 1 or any(
                not v.is_floating_point() or not torch.isfinite(v).all() for v in st.values()) or any(
                st[n].shape != p.shape for n in names - {"step"}):
            raise CheckpointError(f"{path}: optimiser state of parameter {idx} is incomplete, "
                                  "misshapen or not finite")
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: bad optimiser state ({e})") from None


def _same_kind(saved, own) -> bool:
    """Is ``saved`` (read from a file) a JSON value of the same kind as the optimiser's ``own``?"""
    if own is None or isinstance(own, bool):
        return saved is None or isinstance(saved, bool)
    if isinstance(own, (int, float)):
        return isinstance(saved, (int, float)) and not isinstance(saved, bool) and math.isfinite(saved)
    if isinstance(own, (list, tuple)):
        return isinstance(saved, list) and len(saved) == len(own) and all(map(_same_kind, saved, own))
    return type(saved) is type(own)
