"""Checkpoints: tensors in safetensors, everything else in JSON; no pickle anywhere.

A run directory holds ``config.json`` (configuration, data description, versions) and
``checkpoint.safetensors`` (weights, EMA weights, optimiser state, step, RNG states and the
normalisation, with small JSON in the safetensors metadata). Every file is written atomically:
to a temporary file in the same directory, flushed, then renamed over the old one, so a crash
leaves either the old or the new file, never a torn one.
"""
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "scorelab-run-1"


class CheckpointError(ValueError):
    """A run directory or checkpoint that is missing, truncated, tampered with or of another format."""


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (POSIX-atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")
    atomic_write(path, write)


def save_tensors(path: Path, tensors: dict, metadata: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_json(path: Path) -> dict:
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (is this a scorelab run directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable or corrupt JSON ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return obj


def load_tensors(path: Path) -> tuple[dict, dict]:
    """Read a safetensors file: (tensors, metadata decoded from JSON)."""
    from safetensors import safe_open
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        meta = {k: json.loads(v) for k, v in raw.items()}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
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


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict, groups, path) -> None:
    state = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    own = opt.state_dict()["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(own) or any(
            not isinstance(g, dict) or g.get("params") != o["params"] for g, o in zip(groups, own)):
        raise CheckpointError(f"{path}: optimiser state does not match the model")
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: bad optimiser state ({e})") from None
