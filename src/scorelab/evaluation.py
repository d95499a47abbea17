"""Evaluate a fitted model on held-out data: denoising loss per σ, energy distance against the
sampling floor, (energy models) the negative log-likelihood and (images) bits per dimension."""
import math

import torch

from .likelihood import bits_per_dim, ode_log_likelihood
from .metrics import energy_distance
from .objectives import denoising_score_matching, sliced_score_matching


def denoising_loss_per_sigma(model, x: torch.Tensor, seed: int = 0) -> dict:
    """½E‖σ·s(x̃, σ) + z‖² (dimensionless, NCSN's λ(σ) = σ² weighting) at every training σ."""
    run = model._check_fitted()
    xn = run.normalizer.forward(x.to(model.device_))
    score = model._normalised_score()
    out = {}
    for sigma_n, sigma in zip(run.sigmas.tolist(), model.sigmas_.tolist()):
        g = torch.Generator(device=xn.device).manual_seed(seed)
        with torch.enable_grad() if run.cfg.model == "energy" else torch.no_grad():
            loss = sigma_n**2 * denoising_score_matching(score, xn, sigma_n, generator=g)
        out[f"{sigma:.4g}"] = float(loss)
    return out


def sample_quality(model, x: torch.Tensor, seed: int = 0, max_points: int = 2000, **sample_options) -> dict:
    """Energy distance between model samples and half of ``x``, next to the distance between the
    two halves of ``x`` (the floor: what a perfect model would score with this many points)."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    half = min(len(x) // 2, max_points)
    a, b = x[perm[:half]].cpu(), x[perm[half:2 * half]].cpu()  # model.sample returns CPU tensors
    samples = model.sample(half, random_state=seed, **sample_options)
    return {"energy_distance": energy_distance(samples, a), "energy_distance_floor": energy_distance(b, a),
            "n_points": half}


GRID_MARGIN = 1.5  # energy_nll's grid box: the normalised points' range ± this many data scales


def grid_box(xn: torch.Tensor, margin: float = GRID_MARGIN) -> tuple:
    """(x_lo, x_hi, y_lo, y_hi): the range of the 2-D points ``xn`` widened by ``margin``."""
    lo, hi = xn.min(0).values - margin, xn.max(0).values + margin
    return (lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item())


def log_det_normalizer(normalizer, d: int) -> float:
    """Σ log scale over the d coordinates: log p(x) = log p_n(x_n) − this (change of variables)."""
    log_scale = torch.log(normalizer.scale.double())
    return float(log_scale.sum() * (1 if log_scale.ndim else d))


def energy_nll(model, x: torch.Tensor, seed: int = 0) -> dict:
    """Negative log-likelihood (nats per sample, data units) of an energy model: log Z on a grid
    in 2-D, by annealed importance sampling otherwise."""
    from . import partition
    run = model._check_fitted()
    xn = run.normalizer.forward(x.to(model.device_))
    energy = lambda y: run.ema_net(y, None)  # noqa: E731 - noise-free energies
    d = xn[0].numel()
    if d == 2:
        log_z, method = partition.grid_log_partition(energy, grid_box(xn), device=xn.device), "grid"
    else:
        g = torch.Generator(device=xn.device).manual_seed(seed)
        log_z, method = partition.ais_log_partition(energy, d, generator=g, device=xn.device), "ais"
    with torch.no_grad():
        nll = partition.negative_log_likelihood(energy, xn, log_z)
    return {"nll": nll + log_det_normalizer(run.normalizer, d), "log_z_method": method}


BPD_IMAGES = 64  # images in the bits/dim subset of ``evaluate`` (about 10-40 s for an 8×8 U-Net on a CPU)
MAX_LEVELS = 1024


def quantisation_levels(x: torch.Tensor, max_levels: int = MAX_LEVELS) -> int | None:
    """The smallest L in [2, ``max_levels``] such that every value of ``x`` is a multiple of 1/L
    (to within 10⁻³ of a cell), or None for continuous values. Digits (k/16): 16; 8-bit images
    divided by 255: 255; binary images: 2 (cells of width ½; dequantisation needs L ≥ 2)."""
    values = torch.as_tensor(x).detach().double().flatten().unique()
    for levels in range(2, max_levels + 1):
        scaled = values * levels
        if (scaled - scaled.round()).abs().max() <= 1e-3:
            return levels
    return None


def image_bits_per_dim(model, x: torch.Tensor, *, n_images: int = BPD_IMAGES, levels="auto",
                       sigma=None, exact_trace: bool = False, n_probes: int = 1, seed: int = 0,
                       rtol: float = 1e-5, atol: float = 1e-5) -> dict:
    """Bits per dimension of images (data units, e.g. pixels in [0, 1]) under the model's
    density p_σ, through the probability-flow ODE (:func:`scorelab.likelihood.ode_log_likelihood`).

    On ``n_images`` images of ``x`` (a random subset drawn with ``seed``; all if fewer):

    1. Uniform dequantisation (Theis et al. 2016). Values k/L (``levels`` L, by default found by
       :func:`quantisation_levels`: 16 for the 8×8 digits, whose 17 values 0…16 are divided by
       16) stand for cells of width 1/L *centred* on them: x̃ = x + (u − ½)/L, u ~ U[0, 1)^d,
       drawn with ``seed``. Any partition into cells of width 1/L gives a bound; centred cells
       suit a model trained on the values k/L themselves (its density peaks there, and the
       cells [k/L, (k+1)/L) would put every value on a cell's edge).
    2. Normalisation: x̃_n = (x̃ − m)/c, the model's own (stored) normaliser.
    3. log p_{n,σ}(x̃_n) in nats from the ODE, integrated from σ (normalised units) to the largest
       training σ with the prior N(0, σ_max²I); the divergence by Hutchinson's estimator with
       ``n_probes`` Rademacher probes (FFJORD), or exactly (``exact_trace``: d backward passes
       per evaluation, small networks only).
    4. Change of variables back to data units: log p_σ(x̃) = log p_{n,σ}(x̃_n) − Σᵢ log cᵢ
       (d·log c for the isotropic normaliser).
    5. bpd = −(log p_σ(x̃) − d·log L)/(d·log 2) = −log p_σ(x̃)/(d·log 2) + log₂ L: in expectation
       over u an upper bound on the bits/dim of the discrete images (Jensen), see
       :func:`scorelab.likelihood.bits_per_dim`. ``levels=None`` (or continuous data with
       ``"auto"``): the continuous bits/dim −log p_σ(x)/(d·log 2), no dequantisation.

    ``sigma`` (data units) picks the density p_σ = data ⊛ N(0, σ²I) as the model learnt it; by
    default the smallest training σ. The bound is tight only when σ is comparable to the cell
    width (σ ≈ 1/(L√12), the standard deviation of the uniform noise): a far smaller σ makes
    p_σ spiky at the values k/L and punishes every dequantised point between them.

    Returns ``bits_per_dim`` (the mean over the images), ``bits_per_dim_se`` (its standard
    error over the images, which includes the dequantisation and probe noise), ``per_image``
    (a tensor), ``n_images``, ``dequantize_levels``, ``sigma`` (data units) and ``nfe``.
    """
    run = model._check_fitted()
    if run.cfg.objective != "ncsn" or len(run.sigmas) < 2:
        raise ValueError("image_bits_per_dim needs a noise-conditional model (objective 'ncsn')")
    x = torch.as_tensor(x, dtype=torch.float32).cpu()  # dequantised on the CPU with g, whatever x's device
    g = torch.Generator().manual_seed(seed)
    x = x[torch.randperm(len(x), generator=g)[:n_images]]
    if levels == "auto":
        levels = quantisation_levels(x)
    d = x[0].numel()
    if levels is not None:
        if not (isinstance(levels, int) and levels >= 2):
            raise ValueError("image_bits_per_dim: levels must be an integer >= 2, 'auto' or None, "
                             f"got {levels!r}")
        x = x + (torch.rand(x.shape, generator=g) - 0.5) / levels
    scale = run.normalizer.sigma_scale
    sigma_n = float(run.sigmas[-1]) if sigma is None else float(sigma) / scale
    sigma_max_n = float(run.sigmas[0])
    if not 0 < sigma_n < sigma_max_n:
        raise ValueError(f"image_bits_per_dim: sigma must lie in (0, {sigma_max_n * scale:.4g}), the "
                         "largest training noise level")
    xn = run.normalizer.forward(x.to(model.device_))
    probe_g = torch.Generator(device=xn.device).manual_seed(seed + 1)
    log_p_n, info = ode_log_likelihood(model._normalised_score(), xn, sigma_min=sigma_n,
                                       sigma_max=sigma_max_n, exact_trace=exact_trace,
                                       n_probes=n_probes, rtol=rtol, atol=atol, generator=probe_g,
                                       return_info=True)
    bpd = bits_per_dim(log_p_n.double().cpu() - log_det_normalizer(run.normalizer, d), d, dequantize_levels=levels)
    se = float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else math.nan
    return {"bits_per_dim": float(bpd.mean()), "bits_per_dim_se": se, "per_image": bpd,
            "n_images": len(bpd), "dequantize_levels": levels, "sigma": sigma_n * scale,
            "nfe": info["nfe"]}


def evaluate(model, x: torch.Tensor, seed: int = 0, bpd_images: int = BPD_IMAGES, **sample_options) -> dict:
    """Held-out metrics of a fitted model on data ``x`` (data units); for images of a
    noise-conditional model also bits/dim on ``bpd_images`` images (:func:`image_bits_per_dim`)."""
    run = model._check_fitted()
    x = torch.as_tensor(x, dtype=torch.float32)
    result = {"n_data": len(x), "objective": run.cfg.objective, "model": run.cfg.model}
    if len(run.sigmas):
        result["denoising_loss_per_sigma"] = denoising_loss_per_sigma(model, x[:4096], seed)
    else:
        xn = run.normalizer.forward(x[:4096].to(model.device_))
        g = torch.Generator(device=xn.device).manual_seed(seed)
        result["sliced_score_matching_loss"] = float(sliced_score_matching(model._normalised_score(), xn, 4, generator=g))
    result.update(sample_quality(model, x, seed, **sample_options))
    if run.cfg.model == "energy":
        result.update(energy_nll(model, x[:4096], seed))
    if run.data["kind"] == "images" and run.cfg.objective == "ncsn" and bpd_images > 0:
        bpd = image_bits_per_dim(model, x, n_images=bpd_images, seed=seed)
        result.update({"bits_per_dim": bpd["bits_per_dim"], "bits_per_dim_se": bpd["bits_per_dim_se"],
                       "bits_per_dim_images": bpd["n_images"],
                       "bits_per_dim_levels": bpd["dequantize_levels"] or 0})
    return result
