"""Every hyper-parameter in one table: its TOML section, default, check and help.

The same names are the keyword arguments of :class:`scorelab.ScoreModel`, the keys of a
``--config FILE.toml`` (grouped in sections) and of ``--set section.name=value``.
Noise levels given by the user are in data units; ``"auto"`` picks them by NCSNv2's rules.
"""
import inspect
import math
import tomllib
from dataclasses import dataclass
from types import SimpleNamespace

from ..objectives import SDE_OBJECTIVES, ReplayBuffer, contrastive_divergence, sliced_score_matching
from ..samplers.named import SAMPLERS, run_sampler


class ConfigError(ValueError):
    """A configuration value or key that does not exist or is out of range."""


@dataclass(frozen=True)
class Option:
    section: str
    default: object
    kind: str  # "int", "float", "str", "bool"
    help: str
    choices: tuple = ()
    minimum: float | None = None  # inclusive, unless strict
    strict: bool = False  # minimum is exclusive
    maximum: float | None = None
    auto: bool = False  # accepts the string "auto"


OBJECTIVES = ("ncsn", "dsm", "ssm", "ssm-vr", "esm", "cd", "ve", "vp", "subvp")



def default_of(fn, name: str):
    """The default of ``fn``'s parameter ``name``: the objectives and samplers own their
    defaults, and the table below reads them from there."""
    return inspect.signature(fn).parameters[name].default


OPTIONS = {
    # [model]
    "model": Option("model", "score", "str", "what the network outputs: a score (any vector field) or an energy (score = -grad E)", ("score", "energy")),
    "arch": Option("model", "auto", "str", "network: an MLP for points, a U-Net for images ('auto' picks by data)", ("auto", "mlp", "unet")),
    "width": Option("model", "auto", "int", "hidden width of the MLP / base channels of the U-Net ('auto': 128 for the MLP, 16 for the U-Net)", minimum=1, auto=True),
    "depth": Option("model", 3, "int", "number of hidden layers of the MLP", minimum=1),
    "levels": Option("model", "auto", "int", "resolutions of the U-Net, channels (1, 2, 4, 4, ...) x width ('auto': 2 up to 16 pixels, 3 above)", minimum=1, auto=True),
    "res_blocks": Option("model", 1, "int", "residual blocks per resolution of the U-Net", minimum=1),
    "attention": Option("model", False, "bool", "self-attention at the U-Net's lowest resolution"),
    "precondition": Option("model", "auto", "str", "how the U-Net's output becomes a score: ncsn (F/sigma) or edm (EDM's c_skip, c_out, c_in, c_noise); 'auto': edm for images", ("auto", "ncsn", "edm")),
    "label_dropout": Option("model", 0.1, "float", "class-conditional models (trained with labels): probability that a training label is replaced by the null class, so that one network gives s(x, sigma | y) and s(x, sigma) (classifier-free guidance)", minimum=0, maximum=1),
    # [objective]
    "objective": Option("objective", "ncsn", "str", "training objective: ncsn (multi-scale denoising), dsm, ssm, ssm-vr, esm (exact), cd (contrastive divergence, energy models), or continuous-time denoising for an SDE: ve, vp (DDPM), subvp", OBJECTIVES),
    "sigma": Option("objective", "auto", "float", "noise level of single-sigma denoising score matching, data units ('auto': 0.1 x data scale)", minimum=0, strict=True, auto=True),
    "n_projections": Option("objective", default_of(sliced_score_matching, "n_projections"), "int", "random projections per sample for sliced score matching", minimum=1),
    "sliced_method": Option("objective", "auto", "str", "sliced score matching's derivative: forward (exact, forward mode, MLPs), hvp (exact, reverse over reverse, any network), auto (forward where the network has it, else hvp) or finite-difference (FD-SSM, O(fd_eps^2) bias)", ("auto", "forward", "hvp", "finite-difference")),
    "fd_eps": Option("objective", default_of(sliced_score_matching, "fd_eps"), "float", "step of finite-difference sliced score matching (normalised units)", minimum=0, strict=True),
    "cd_steps": Option("objective", default_of(contrastive_divergence, "n_steps"), "int", "Langevin steps per contrastive-divergence update", minimum=1),
    "cd_step_size": Option("objective", default_of(contrastive_divergence, "step_size"), "float", "Langevin step size for the negatives (normalised units)", minimum=0, strict=True),
    "cd_alpha": Option("objective", default_of(contrastive_divergence, "alpha"), "float", "weight of the energy-magnitude regulariser alpha*(E+^2 + E-^2)", minimum=0),
    "cd_buffer": Option("objective", default_of(ReplayBuffer, "size"), "int", "persistent chains in the replay buffer (0: CD-k from the data)", minimum=0),
    "cd_reinit": Option("objective", default_of(ReplayBuffer, "reinit_prob"), "float", "fraction of chains re-initialised from noise at each update", minimum=0, maximum=1),
    # [noise]
    "sigma_max": Option("noise", "auto", "float", "largest noise level, data units ('auto': the largest pairwise distance, NCSNv2; for vp and subvp the schedule's sigma-tilde(T), 152 data scales)", minimum=0, strict=True, auto=True),
    "sigma_min": Option("noise", "auto", "float", "smallest noise level, data units ('auto': 0.01 x data scale)", minimum=0, strict=True, auto=True),
    "n_levels": Option("noise", "auto", "int", "number of geometric noise levels ('auto': from the dimension, NCSNv2)", minimum=2, auto=True),
    "sigma_sampling": Option("noise", "auto", "str", "how objective 'ncsn' draws sigma per sample: one of the geometric levels (NCSN), log-uniform between sigma_min and sigma_max, or log-normal (EDM: ln sigma ~ N(p_mean, p_std^2), normalised units); 'auto': log-normal for images, levels for points", ("auto", "levels", "log-uniform", "log-normal")),
    "p_mean": Option("noise", -0.5, "float", "mean of ln sigma for log-normal sigma sampling (normalised units; EDM's -1.2 for data in [-1, 1])"),
    "p_std": Option("noise", 1.2, "float", "standard deviation of ln sigma for log-normal sigma sampling", minimum=0, strict=True),
    "weighting": Option("noise", "auto", "str", "loss weight per sigma: sigma2 (NCSN's lambda = sigma^2), edm (EDM's lambda = (sigma^2 + 1)/sigma^2; objective ncsn) or likelihood (lambda = g^2, Song et al. 2021; objectives ve, vp, subvp); 'auto': edm for ncsn on images, sigma2 otherwise", ("auto", "sigma2", "edm", "likelihood")),
    "vp_schedule": Option("noise", "linear", "str", "beta schedule of objectives vp and subvp: linear (DDPM, beta in [0.1, 20]) or cosine (Nichol & Dhariwal)", ("linear", "cosine")),
    "normalize": Option("noise", "isotropic", "str", "data normalisation, stored and undone on output: isotropic (one scale), per-dim, none", ("isotropic", "per-dim", "none")),
    # [training]
    "steps": Option("training", "auto", "int", "optimisation steps ('auto': 12000 for points; for images 40000 above 16 pixels a side, 6000 up to 16)", minimum=1, auto=True),
    "batch_size": Option("training", "auto", "int", "samples per step ('auto': 256 for points, 64 for images)", minimum=1, auto=True),
    "lr": Option("training", 2e-3, "float", "Adam learning rate (cosine-decayed to 5% at the end)", minimum=0, strict=True, maximum=10),
    "ema": Option("training", 0.999, "float", "EMA rate of the weights used for sampling (0: no EMA)", minimum=0, maximum=1, strict=False),
    "grad_clip": Option("training", 1.0, "float", "clip the gradient norm to this (0: no clipping)", minimum=0),
    "holdout": Option("training", 0.1, "float", "fraction of the data held out for the validation loss", minimum=0, maximum=0.5),
    "sample_every": Option("training", 0, "int", "steps between sample grids written to RUN/samples/ (images; 0: none)", minimum=0),
    "eval_every": Option("training", 500, "int", "steps between held-out evaluations", minimum=1),
    "checkpoint_every": Option("training", 1000, "int", "steps between checkpoints", minimum=1),
    "micro_batches": Option("training", 1, "int", "chunks of each batch, each with its own noise stream; torchrun processes split them, so results do not depend on the process count", minimum=1),
    "threads": Option("training", "auto", "int", "CPU threads while training ('auto': 1 for an MLP, whose small matrix products do not gain from more threads; torch's setting for the U-Net)", minimum=1, auto=True),
    "precision": Option("training", "auto", "str", "arithmetic of the training forward pass: float32, or bfloat16 autocast (weights, optimiser and loss stay float32); 'auto': bfloat16 for the U-Net where the hardware computes it natively (CPUs with AVX-512 BF16, CUDA cards with bf16), float32 otherwise", ("auto", "float32", "bfloat16")),
    "classifier_steps": Option("training", 0, "int", "class-conditional models: steps of a noise-conditional classifier p(y | x, sigma) trained after the score model, for classifier guidance (0: none)", minimum=0),
    "seed": Option("training", 0, "int", "random seed (data split, initialisation, batches, noise)", minimum=0),
    "device": Option("training", "auto", "str", "auto (CUDA when present), cpu, cuda", ("auto", "cpu", "cuda")),
    "image_size": Option("training", "auto", "int", "resize images to this size ('auto': keep; they must then share one size)", minimum=2, auto=True),
    # [sampling]
    "sampler": Option("sampling", "auto", "str", "default sampler of 'scorelab sample' and 'eval' ('auto': heun, the probability-flow ODE with 35 NFE, for noise-conditional models; langevin otherwise)", SAMPLERS),
    "steps_per_level": Option("sampling", default_of(run_sampler, "steps_per_level"), "int", "annealed Langevin steps per noise level", minimum=1),
    "step_size": Option("sampling", "auto", "float", "Langevin step size eps (annealed: at the smallest sigma), data units squared ('auto': 0.35 sigma_min^2 for annealed Langevin, 0.01 data scales^2 for plain Langevin and MALA)", minimum=0, strict=True, auto=True),
    "guidance": Option("sampling", 0.0, "float", "class-conditional models: default guidance strength (classifier-free: w in (1 + w) s(x | y) - w s(x); classifier: the scale of grad log p(y | x))", minimum=0),
    "langevin_steps": Option("sampling", default_of(run_sampler, "langevin_steps"), "int", "steps of plain Langevin / MALA", minimum=1),
}

DEFAULTS = {name: opt.default for name, opt in OPTIONS.items()}


def _coerce(name: str, value):
    opt = OPTIONS[name]
    if opt.auto and value == "auto":
        return value
    try:
        if opt.kind == "bool":
            if isinstance(value, str):
                value = {"true": True, "false": False}[value.lower()]
            return bool(value)
        if opt.kind in ("int", "float") and isinstance(value, bool):
            raise ValueError
        if opt.kind == "int":
            if isinstance(value, str) and "." in value:
                value = float(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if opt.kind == "float":
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
            return value
        return str(value)
    except (ValueError, TypeError, KeyError, OverflowError):
        expected = {"int": "an integer", "float": "a finite number", "bool": "true or false"}.get(opt.kind, "a string")
        auto = " or 'auto'" if opt.auto else ""
        raise ConfigError(f"{opt.section}.{name}: expected {expected}{auto}, got {value!r}") from None


def check_value(name: str, value):
    """Coerce ``value`` to the option's type and check its range; return it."""
    if name not in OPTIONS:
        raise ConfigError(f"unknown option {name!r}; valid options: {', '.join(OPTIONS)}")
    opt = OPTIONS[name]
    value = _coerce(name, value)
    if value == "auto":
        return value
    where = f"{opt.section}.{name}"
    if opt.choices and value not in opt.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(opt.choices)}")
    if opt.minimum is not None and (value < opt.minimum or (opt.strict and value == opt.minimum)):
        raise ConfigError(f"{where}: must be {'>' if opt.strict else '>='} {opt.minimum:g}, got {value!r}")
    if opt.maximum is not None and value > opt.maximum:
        raise ConfigError(f"{where}: must be <= {opt.maximum:g}, got {value!r}")
    return value


def make_config(**values) -> SimpleNamespace:
    """A complete, validated configuration: the defaults updated by ``values``."""
    cfg = dict(DEFAULTS)
    for name, value in values.items():
        cfg[name] = check_value(name, value)
    if cfg["batch_size"] != "auto" and cfg["batch_size"] % cfg["micro_batches"]:
        raise ConfigError("training.micro_batches must divide training.batch_size")
    if cfg["objective"] == "cd" and cfg["model"] != "energy":
        raise ConfigError("objective.objective: 'cd' (contrastive divergence) needs model.model = 'energy'")
    if cfg["weighting"] == "likelihood" and cfg["objective"] not in SDE_OBJECTIVES:
        raise ConfigError("noise.weighting: 'likelihood' is for the SDE objectives ve, vp, subvp")
    if cfg["weighting"] == "edm" and cfg["objective"] in SDE_OBJECTIVES:
        raise ConfigError("noise.weighting: 'edm' is for objective 'ncsn'; the SDE objectives take sigma2 or likelihood")
    return SimpleNamespace(**cfg)


def _flat_key(key: str) -> str:
    section, _, name = key.rpartition(".")
    if name not in OPTIONS or (section and OPTIONS[name].section != section):
        raise ConfigError(f"unknown config key {key!r}; valid keys: "
                          + ", ".join(f"{o.section}.{n}" for n, o in OPTIONS.items()))
    return name


def parse_toml(path) -> dict:
    """Read a TOML file of sections ([model], [training], ...) into flat ``{name: value}``."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a valid TOML file ({str(e).splitlines()[0]})") from None
    flat = {}
    for section, table in doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
        for name, value in table.items():
            flat[_flat_key(f"{section}.{name}")] = value
    return flat


def parse_set(assignments) -> dict:
    """Parse ``["training.steps=5000", ...]`` into flat ``{name: value}`` (values as strings)."""
    flat = {}
    for item in assignments or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        flat[_flat_key(key.strip())] = value.strip()
    return flat
