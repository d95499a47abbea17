"""A fitted model judged on data: the denoising loss per σ, the energy distance of its samples
against the sampling floor, log-likelihoods (probability-flow ODE for noise-conditional models,
the partition function for energy models) and bits per dimension for images.

Everything here works through a fitted :class:`scorelab.ScoreModel`'s public API: its
fitted attributes (``network_`` and ``normalizer_``, the network and its normalisation;
``sigmas_`` in data units; ``data_kind_``, ``data_shape_``, ``preview_``), its
hyper-parameters and ``sample``.
"""
import math

import torch

from ..nn import score_from_energy
from ..objectives import NOISE_CONDITIONAL, denoising_score_matching, sliced_score_matching
from . import partition
from .likelihood import bits_per_dim, ode_log_likelihood
from .images import REFERENCES, image_report
from .metrics import energy_distance

GRID_MARGIN = 1.5  # the grid's box for log Z: the normalised points' range ± this many data scales
DENSITY_MARGIN = 3.0  # the same for the normaliser of score_samples (over the training data's range)
EXACT_TRACE_DIM = 16  # log-likelihoods take the exact divergence up to this dimension, Hutchinson's above
BPD_IMAGES = 64  # images in the bits/dim subset of ``evaluate``
MAX_LEVELS = 1024
FD_SAMPLES = 1000  # samples behind the Fréchet distance of evaluate
IMAGE_KEYS = {k: k for k in ("fd", "fd_floor", "fd_ratio", "class_fractions", "mean_confidence", "digits_present")}
IMAGE_KEYS["fd_n_samples"] = "n_samples"  # evaluate's key: image_report's


def normalised(model, y=None):
    """``(score_fn, sigmas, device)`` of a fitted model in its own normalised coordinates
    (x_n = ``normalizer_.forward(x)``, σ_n = σ/``normalizer_.sigma_scale``); for a
    class-conditional model, s(x, σ | y) for the class ``y`` (None: the unconditional score)."""
    net = model.network_
    if y is not None:
        return model._guided_score(model._labels(y, 1), 0.0, "free"), *normalised(model)[1:]
    score = score_from_energy(net) if model.model == "energy" else net
    sigmas = model.sigmas_ / model.normalizer_.sigma_scale
    return score, sigmas, next(net.parameters()).device


def check_shape(model, x: torch.Tensor, what: str = "data") -> torch.Tensor:
    """``x`` as a float tensor of samples shaped like the model's data, or ``ValueError``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if tuple(x.shape[1:]) != tuple(model.data_shape_):
        raise ValueError(f"{what}: samples have shape {tuple(x.shape[1:])}, the model was trained "
                         f"on {tuple(model.data_shape_)}")
    return x


def denoising_loss_per_sigma(model, x: torch.Tensor, seed: int = 0) -> dict:
    """½E‖σ·s(x̃, σ) + z‖² (dimensionless, NCSN's λ(σ) = σ² weighting) at every training σ,
    keyed by σ in data units."""
    score, sigmas_n, device = normalised(model)
    xn = model.normalizer_.forward(x.to(device))
    out = {}
    for sigma_n, sigma in zip(sigmas_n.tolist(), model.sigmas_.tolist()):
        g = torch.Generator(device=device).manual_seed(seed)
        with torch.enable_grad() if model.model == "energy" else torch.no_grad():
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


def grid_box(xn: torch.Tensor, margin: float = GRID_MARGIN) -> tuple:
    """(x_lo, x_hi, y_lo, y_hi): the range of the 2-D points ``xn`` widened by ``margin``."""
    lo, hi = xn.min(0).values - margin, xn.max(0).values + margin
    return (lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item())


def _energy(model):
    """The fitted energy E_n(x_n) at its smallest noise level (noise-free energies ignore σ)."""
    sigma_n = float(model.sigmas_[-1] / model.normalizer_.sigma_scale) if len(model.sigmas_) else None
    return lambda y: model.network_(y, sigma_n)


def log_partition(model, xn: torch.Tensor, seed: int = 0, margin: float = GRID_MARGIN) -> tuple[float, str]:
    """``(log Z_n, method)`` of an energy model in normalised units: a grid over the points
    ``xn``'s box widened by ``margin`` in 2-D (exact to the grid's resolution), annealed
    importance sampling (an estimate, seeded by ``seed``) in any other dimension."""
    energy, d = _energy(model), xn[0].numel()
    if d == 2:
        return partition.grid_log_partition(energy, grid_box(xn, margin), device=xn.device), "grid"
    g = torch.Generator(device=xn.device).manual_seed(seed)
    return partition.ais_log_partition(energy, d, generator=g, device=xn.device), "ais"


def energy_nll(model, x: torch.Tensor, seed: int = 0) -> dict:
    """Negative log-likelihood (nats per sample, data units) of an energy model, with log Z from
    :func:`log_partition` over the box of ``x`` itself."""
    xn = model.normalizer_.forward(x.to(next(model.network_.parameters()).device))
    log_z, method = log_partition(model, xn, seed)
    nll = partition.negative_log_likelihood(_energy(model), xn, log_z)
    return {"nll": nll + model.normalizer_.log_abs_det(xn[0].numel()), "log_z_method": method}


def log_likelihood(model, x: torch.Tensor, *, sigma=None, exact_trace: bool | None = None,
                   n_probes: int = 1, seed: int = 0, rtol: float = 1e-5, atol: float = 1e-5,
                   log_z: float | None = None, y=None) -> tuple[torch.Tensor, dict]:
    """log p(x) per row of ``x``, in nats and data units, and how it was computed (for a
    class-conditional noise-conditional model and a class ``y``: log p(x | y)).

    - A noise-conditional model (two or more training levels): log p_σ(x) of the data blurred
      to σ (data units; default the smallest training level) through the probability-flow ODE
      (:func:`~scorelab.evaluation.ode_log_likelihood`), with the exact divergence up to
      ``EXACT_TRACE_DIM`` dimensions (``exact_trace`` None) and Hutchinson's unbiased estimate
      with ``n_probes`` probes above it, seeded by ``seed``.
    - An energy model: −E(x) − log Z, with log Z (``log_z``, or by default over the training
      data's box widened by ``DENSITY_MARGIN`` through :func:`log_partition`: a grid in 2-D, an
      AIS estimate otherwise).

    The change of variables to data units subtracts ``normalizer_.log_abs_det``. Anything else
    (a score network without noise levels) has no density to give: ``ValueError``.
    """
    score, sigmas_n, device = normalised(model, y)
    xn = model.normalizer_.forward(x.to(device))
    d = xn[0].numel()
    if model.model == "energy":
        if y is not None:
            raise ValueError("a class-conditional log-likelihood needs a noise-conditional score model")
        if log_z is None:
            log_z, method = log_partition(model, model.normalizer_.forward(model.preview_.to(device)), seed,
                                          DENSITY_MARGIN)
        else:
            method = "given"
        with torch.no_grad():
            log_p = -_energy(model)(xn).double() - log_z
        return (log_p - model.normalizer_.log_abs_det(d)).cpu(), {"method": method, "log_z": log_z}
    if len(sigmas_n) < 2:
        raise ValueError("a log-likelihood needs a noise-conditional model (objective 'ncsn') or an "
                         "energy model (model 'energy')")
    sigma_n = float(sigmas_n[-1]) if sigma is None else float(sigma) / model.normalizer_.sigma_scale
    sigma_max_n = float(sigmas_n[0])
    if not 0 < sigma_n < sigma_max_n:
        raise ValueError(f"sigma must lie in (0, {float(model.sigmas_[0]):.4g}), the largest "
                         "training noise level")
    exact = d <= EXACT_TRACE_DIM if exact_trace is None else exact_trace
    probe_g = torch.Generator(device=device).manual_seed(seed + 1)
    log_p_n, info = ode_log_likelihood(score, xn, sigma_min=sigma_n, sigma_max=sigma_max_n,
                                       exact_trace=exact, n_probes=n_probes, rtol=rtol, atol=atol,
                                       generator=probe_g, return_info=True)
    log_p = log_p_n.double().cpu() - model.normalizer_.log_abs_det(d)
    return log_p, {"method": "ode", "exact_trace": exact, "nfe": info["nfe"],
                   "sigma": sigma_n * model.normalizer_.sigma_scale}


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
    density p_σ, through the probability-flow ODE (:func:`log_likelihood`).

    On ``n_images`` images of ``x`` (a random subset drawn with ``seed``; all if fewer):

    1. Uniform dequantisation (Theis et al. 2016). Values k/L (``levels`` L, by default found by
       :func:`quantisation_levels`: 16 for the 8×8 digits, whose 17 values 0…16 are divided by
       16) stand for cells of width 1/L *centred* on them: x̃ = x + (u − ½)/L, u ~ U[0, 1)^d,
       drawn with ``seed``. Any partition into cells of width 1/L gives a bound; centred cells
       suit a model trained on the values k/L themselves (its density peaks there, and the
       cells [k/L, (k+1)/L) would put every value on a cell's edge).
    2. log p_σ(x̃) in nats and data units from the ODE, integrated from σ to the largest
       training σ with the prior N(0, σ_max²I); the divergence by Hutchinson's estimator with
       ``n_probes`` Rademacher probes (FFJORD), or exactly (``exact_trace``: d backward passes
       per evaluation, small networks only).
    3. bpd = −(log p_σ(x̃) − d·log L)/(d·log 2) = −log p_σ(x̃)/(d·log 2) + log₂ L: in expectation
       over u an upper bound on the bits/dim of the discrete images (Jensen), see
       :func:`scorelab.evaluation.bits_per_dim`. ``levels=None`` (or continuous data with
       ``"auto"``): the continuous bits/dim −log p_σ(x)/(d·log 2), no dequantisation.

    ``sigma`` (data units) picks the density p_σ = data ⊛ N(0, σ²I) as the model learnt it; by
    default the smallest training σ. The bound is tight only when σ is comparable to the cell
    width (σ ≈ 1/(L√12), the standard deviation of the uniform noise): a far smaller σ makes
    p_σ spiky at the values k/L and punishes every dequantised point between them.

    Returns ``bits_per_dim`` (the mean over the images), ``bits_per_dim_se`` (its standard
    error over the images, which includes the dequantisation and probe noise), ``per_image``
    (a tensor), ``n_images``, ``dequantize_levels``, ``sigma`` (data units) and ``nfe``.
    """
    if model.objective not in NOISE_CONDITIONAL or len(model.sigmas_) < 2:
        raise ValueError("image_bits_per_dim needs a noise-conditional model (objective 'ncsn', 've', 'vp' or 'subvp')")
    x = torch.as_tensor(x, dtype=torch.float32).cpu()  # dequantised on the CPU with g, whatever x's device
    g = torch.Generator().manual_seed(seed)
    x = x[torch.randperm(len(x), generator=g)[:n_images]]
    if levels == "auto":
        levels = quantisation_levels(x)
    if levels is not None:
        if not (isinstance(levels, int) and levels >= 2):
            raise ValueError("image_bits_per_dim: levels must be an integer >= 2, 'auto' or None, "
                             f"got {levels!r}")
        x = x + (torch.rand(x.shape, generator=g) - 0.5) / levels
    log_p, info = log_likelihood(model, x, sigma=sigma, exact_trace=exact_trace, n_probes=n_probes,
                                 seed=seed, rtol=rtol, atol=atol)
    bpd = bits_per_dim(log_p, x[0].numel(), dequantize_levels=levels)
    se = float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else math.nan
    return {"bits_per_dim": float(bpd.mean()), "bits_per_dim_se": se, "per_image": bpd,
            "n_images": len(bpd), "dequantize_levels": levels, "sigma": info["sigma"],
            "nfe": info["nfe"]}


def image_reference(model) -> str | None:
    """``"digits"`` or ``"mnist"`` when ``model`` was trained on that data set (its Fréchet
    distance then has a classifier to judge it), else None."""
    name = str(model.run_.data.get("name", "")).replace(":", "-").split("-")[0]  # "mnist-train": mnist
    if model.data_kind_ != "images" or name not in REFERENCES:
        return None
    return name if model.n_features_in_ == REFERENCES[name][2] else None


def evaluate(model, x: torch.Tensor, seed: int = 0, bpd_images: int = BPD_IMAGES, **sample_options) -> dict:
    """Held-out metrics of a fitted model on data ``x`` (data units): the denoising loss per σ
    (or the sliced score-matching loss of a noise-free model), :func:`sample_quality`, the NLL
    of an energy model, for a model of the digits or MNIST the Fréchet distance of
    min(n, 1000) samples next to its floor, the class fractions and the classifier's confidence
    (:func:`~scorelab.evaluation.images.image_report`), and for images of a noise-conditional
    model bits/dim on ``bpd_images`` images (:func:`image_bits_per_dim`)."""
    x = check_shape(model, x)
    result = {"n_data": len(x), "objective": model.objective, "model": model.model}
    if len(model.sigmas_):
        result["denoising_loss_per_sigma"] = denoising_loss_per_sigma(model, x[:4096], seed)
    else:
        score, _, device = normalised(model)
        xn = model.normalizer_.forward(x[:4096].to(device))
        g = torch.Generator(device=device).manual_seed(seed)
        result["sliced_score_matching_loss"] = float(sliced_score_matching(score, xn, 4, generator=g))
    result.update(sample_quality(model, x, seed, **sample_options))
    if model.model == "energy":
        result.update(energy_nll(model, x[:4096], seed))
    reference = image_reference(model)
    if reference is not None:
        n = min(len(x), FD_SAMPLES)
        report = image_report(model.sample(n, random_state=seed, batch_size=500, **sample_options), reference, seed=seed)
        result.update({name: report[key] for name, key in IMAGE_KEYS.items()})
    if model.data_kind_ == "images" and model.objective in NOISE_CONDITIONAL and bpd_images > 0:
        bpd = image_bits_per_dim(model, x, n_images=bpd_images, seed=seed)
        result.update({"bits_per_dim": bpd["bits_per_dim"], "bits_per_dim_se": bpd["bits_per_dim_se"],
                       "bits_per_dim_images": bpd["n_images"],
                       "bits_per_dim_levels": bpd["dequantize_levels"] or 0})
    return result
