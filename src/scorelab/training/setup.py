"""From a configuration and data to the pieces of a run: noise levels, network, objective."""
import torch

from ..nn import EnergyMLP, Labelled, ScoreMLP, drop_labels, score_from_energy
from ..objectives import (NOISE_CONDITIONAL, SDE_OBJECTIVES, ReplayBuffer, continuous_denoising_score_matching,
                          contrastive_divergence, denoising_score_matching, exact_score_matching,
                          log_normal_denoising_score_matching, log_uniform_denoising_score_matching,
                          multiscale_denoising_score_matching, sliced_score_matching)
from ..samplers import geometric_sigmas, max_pairwise_distance, ncsnv2_num_levels
from ..sde import SDES, make_sde

DEFAULT_SIGMA_MIN = 0.01  # normalised units: 1% of the data scale (NCSNv2 uses 0.01 on [0, 1] images)
DEFAULT_DSM_SIGMA = 0.1
AUTO_WIDTH = {"mlp": 128, "unet": 16}  # model.width = "auto": hidden width of the MLP, base channels of the U-Net


def noise_levels(cfg, x_norm: torch.Tensor, scale: float) -> torch.Tensor:
    """The training noise levels in normalised units, largest first.

    ``ncsn``: geometric from σ_max (NCSNv2 technique 1: the largest pairwise distance of the
    normalised data) down to σ_min, L levels from :func:`ncsnv2_num_levels` (technique 2).
    ``ve``: as ``ncsn``; ``vp``, ``subvp``: the same, but σ_max = the schedule's σ̃(T) (its
    prior's scale): levels on the contract, the SDE's σ̃ range. ``dsm``: the single σ.
    Objectives without noise (ssm, ssm-vr, esm, cd): none.
    User-given values are in data units and divided by the data scale.
    """
    if cfg.objective == "dsm":
        sigma = DEFAULT_DSM_SIGMA if cfg.sigma == "auto" else cfg.sigma / scale
        return torch.tensor([sigma], dtype=torch.float32)
    if cfg.objective not in NOISE_CONDITIONAL:
        return torch.zeros(0)
    if cfg.objective in ("vp", "subvp") and cfg.sigma_max == "auto":
        smax = SDES[cfg.objective](schedule=cfg.vp_schedule).sigma_range[1]
    else:
        smax = max_pairwise_distance(x_norm) if cfg.sigma_max == "auto" else cfg.sigma_max / scale
    smin = DEFAULT_SIGMA_MIN if cfg.sigma_min == "auto" else cfg.sigma_min / scale
    if smin >= smax:
        raise ValueError(f"noise.sigma_min ({smin * scale:.4g}) must be below noise.sigma_max ({smax * scale:.4g})")
    dim = x_norm[0].numel()
    n = ncsnv2_num_levels(dim, smax, smin) if cfg.n_levels == "auto" else cfg.n_levels
    return geometric_sigmas(smax, smin, n)


def network_arch(cfg, kind: str) -> str:
    """``model.arch`` with ``"auto"`` resolved: a U-Net for images, an MLP otherwise."""
    return cfg.arch if cfg.arch != "auto" else ("unet" if kind == "images" else "mlp")


def network_width(cfg, arch: str) -> int:
    """``model.width`` with ``"auto"`` resolved for ``arch``: 128 for the MLP, 16 for the U-Net."""
    return AUTO_WIDTH[arch] if cfg.width == "auto" else cfg.width


def for_images(cfg, name: str, kind: str, images, points):
    """Option ``name`` with ``"auto"`` resolved by the data's kind."""
    value = getattr(cfg, name)
    return value if value != "auto" else (images if kind == "images" else points)


POINT_SCHEDULE = (12000, 256)  # training.steps, training.batch_size = "auto" for points


def image_steps(shape: tuple) -> int:
    """``training.steps = "auto"`` for images of ``shape`` (C, H, W): 6000 up to 16 pixels a side,
    40000 above (about an hour of 2 CPU cores for 28 x 28 at batch 64)."""
    return 6000 if max(shape[1:]) <= 16 else 40000


def resolve_schedule(cfg, kind: str, shape: tuple):
    """``cfg`` with ``training.steps`` and ``training.batch_size`` resolved for the data."""
    steps, batch = (image_steps(shape), 64) if kind == "images" else POINT_SCHEDULE
    steps = steps if cfg.steps == "auto" else cfg.steps
    batch = batch if cfg.batch_size == "auto" else cfg.batch_size
    if batch % cfg.micro_batches:
        raise ValueError(f"training.micro_batches ({cfg.micro_batches}) must divide training.batch_size ({batch})")
    return type(cfg)(**{**vars(cfg), "steps": steps, "batch_size": batch})


def unet_levels(cfg, shape: tuple) -> int:
    """``model.levels`` with ``"auto"`` resolved: 2 resolutions up to 16 pixels, 3 above."""
    return cfg.levels if cfg.levels != "auto" else (2 if max(shape[1:]) <= 16 else 3)


def training_threads(cfg, arch: str, current: int) -> int:
    """``training.threads`` with ``"auto"`` resolved: one for the MLP (its small matrix products
    are too small to share between threads), ``current`` (torch's setting) for the U-Net."""
    if cfg.threads != "auto":
        return cfg.threads
    return 1 if arch == "mlp" else current


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (not by emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def autocast_dtype(cfg, arch: str, device: torch.device):
    """``training.precision`` resolved: ``torch.bfloat16`` to train under autocast, or None."""
    if cfg.precision == "auto":
        return torch.bfloat16 if arch == "unet" and native_bfloat16(device) else None
    return torch.bfloat16 if cfg.precision == "bfloat16" else None


def with_autocast(objective, dtype):
    """``objective`` with its forward pass under ``torch.autocast`` to ``dtype`` (None: as is)."""
    if dtype is None:
        return objective

    def loss(x, g, *labels):
        with torch.autocast(x.device.type, dtype=dtype):
            return objective(x, g, *labels).float()
    return loss


LABELLED_OBJECTIVES = ("ncsn", "dsm", *SDE_OBJECTIVES)  # objectives that train on labels (denoising)


def build_network(cfg, shape: tuple, kind: str, n_classes: int = 0) -> torch.nn.Module:
    """An MLP for points (flattened), a U-Net for images; noise-conditional for ``ncsn``;
    class-conditional with ``n_classes`` (a label embedding beside the noise's)."""
    conditional = cfg.objective in NOISE_CONDITIONAL
    if n_classes and cfg.objective not in LABELLED_OBJECTIVES:
        raise ValueError(f"labels: class-conditional training needs objective "
                         f"{' or '.join(LABELLED_OBJECTIVES)}, not {cfg.objective!r}")
    arch = network_arch(cfg, kind)
    width = network_width(cfg, arch)
    if arch == "unet":
        if len(shape) != 3:
            raise ValueError("model.arch: 'unet' needs image data (C, H, W)")
        if cfg.model == "energy" or not conditional:
            raise ValueError("model.arch: the U-Net is a noise-conditional score network (objective 'ncsn', model 'score')")
        from ..nn.unet import ScoreUNet
        edm = for_images(cfg, "precondition", kind, "edm", "ncsn") == "edm"
        return ScoreUNet(channels=shape[0], base_channels=width,
                         channel_mults=tuple(min(2**i, 4) for i in range(unet_levels(cfg, shape))),
                         num_res_blocks=cfg.res_blocks, attention=cfg.attention,
                         precondition="edm" if edm else "ncsn", sigma_data=1.0 if edm else 0.5,
                         n_classes=n_classes)
    dim = int(torch.tensor(shape).prod())
    cls = EnergyMLP if cfg.model == "energy" else ScoreMLP
    return cls(dim, width=width, depth=cfg.depth, noise_conditional=conditional, n_classes=n_classes)


def score_function(net: torch.nn.Module, model: str):
    """The contract ``score(x, sigma)`` of a network: itself, or −∇E for an energy."""
    return score_from_energy(net) if model == "energy" else net


def make_buffer(cfg, shape, generator, device):
    if cfg.objective != "cd" or cfg.cd_buffer == 0:
        return None
    return ReplayBuffer(shape, size=cfg.cd_buffer, reinit_prob=cfg.cd_reinit, generator=generator,
                        device=device)


def make_objective(cfg, sigmas: torch.Tensor, net: torch.nn.Module, buffer=None, kind: str = "points",
                   labelled: bool = False):
    """``loss(x, generator)`` for the configured objective, on normalised data of ``kind``;
    ``labelled``: ``loss(x, generator, y)`` for a class-conditional network, each label
    dropped to the null class with probability ``label_dropout`` (drawn from ``generator``)."""
    if not labelled:
        return _objective(cfg, score_function(net, cfg.model), sigmas, net, buffer, kind)

    def loss(x, g, y):
        score = score_function(Labelled(net, drop_labels(y, cfg.label_dropout, g)), cfg.model)
        return _objective(cfg, score, sigmas, net, buffer, kind)(x, g)
    return loss


def _objective(cfg, score, sigmas, net, buffer, kind):
    name = cfg.objective
    if name == "ncsn":
        return _multiscale_objective(cfg, score, sigmas, kind)
    if name in SDE_OBJECTIVES:
        sde, weighting = model_sde(cfg, sigmas), "sigma2" if cfg.weighting == "auto" else cfg.weighting
        return lambda x, g: continuous_denoising_score_matching(score, x, sde, weighting=weighting, generator=g)
    if name == "dsm":
        return lambda x, g: denoising_score_matching(score, x, float(sigmas[0]), generator=g)
    if name in ("ssm", "ssm-vr"):
        method = cfg.sliced_method.replace("-", "_")
        return lambda x, g: sliced_score_matching(score, x, cfg.n_projections, variance_reduction=name == "ssm-vr",
                                                  generator=g, method=method, fd_eps=cfg.fd_eps)
    if name == "esm":
        return lambda x, g: exact_score_matching(score, x)
    return lambda x, g: contrastive_divergence(net, x, n_steps=cfg.cd_steps, step_size=cfg.cd_step_size,
                                               buffer=buffer, alpha=cfg.cd_alpha, generator=g)


def model_sde(cfg, sigmas: torch.Tensor):
    """The SDE of a noise-conditional model: that of its objective (``ve``, ``vp``, ``subvp``,
    ``noise.vp_schedule``) over its levels' σ̃ range; VE over the levels for ``ncsn``."""
    name = cfg.objective if cfg.objective in SDE_OBJECTIVES else "ve"
    return make_sde(name, float(sigmas[-1]), float(sigmas[0]), cfg.vp_schedule)


def _multiscale_objective(cfg, score, sigmas, kind):
    """Objective ``ncsn``: σ drawn as ``noise.sigma_sampling`` says, weighted as ``noise.weighting``."""
    sampling = for_images(cfg, "sigma_sampling", kind, "log-normal", "levels")
    weighting = for_images(cfg, "weighting", kind, "edm", "sigma2")
    lo, hi = float(sigmas[-1]), float(sigmas[0])
    if sampling == "log-uniform":
        return lambda x, g: log_uniform_denoising_score_matching(score, x, lo, hi, generator=g, weighting=weighting)
    if sampling == "log-normal":
        return lambda x, g: log_normal_denoising_score_matching(score, x, cfg.p_mean, cfg.p_std, lo, hi,
                                                                generator=g, weighting=weighting)
    return lambda x, g: multiscale_denoising_score_matching(score, x, sigmas.to(x), generator=g, weighting=weighting)


def resolve_device(name: str, what: str = "training.device") -> torch.device:
    """``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"`` as a device; ``what`` names the
    setting in the error when CUDA is asked for and absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{what}: 'cuda' requested but CUDA is not available")
    return torch.device(name)
