"""Evaluate a fitted model on held-out data: denoising loss per σ, energy distance against the
sampling floor, and (energy models) the negative log-likelihood."""
import torch

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
    a, b = x[perm[:half]], x[perm[half:2 * half]]
    samples = model.sample(half, random_state=seed, **sample_options)
    return {"energy_distance": energy_distance(samples, a), "energy_distance_floor": energy_distance(b, a),
            "n_points": half}


def energy_nll(model, x: torch.Tensor, seed: int = 0) -> dict:
    """Negative log-likelihood (nats per sample, data units) of an energy model: log Z on a grid
    in 2-D, by annealed importance sampling otherwise."""
    from . import partition
    run = model._check_fitted()
    xn = run.normalizer.forward(x.to(model.device_))
    energy = lambda y: run.ema_net(y, None)  # noqa: E731 - noise-free energies
    d = xn[0].numel()
    if d == 2:
        lo, hi = xn.min(0).values - 1.5, xn.max(0).values + 1.5
        log_z, method = partition.grid_log_partition(energy, (lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item())), "grid"
    else:
        g = torch.Generator(device=xn.device).manual_seed(seed)
        log_z, method = partition.ais_log_partition(energy, d, generator=g), "ais"
    with torch.no_grad():
        nll = partition.negative_log_likelihood(energy, xn, log_z)
    # Change of variables back to data units: log p(x) = log p_n(x_n) − Σ log scale.
    log_det = float(torch.log(run.normalizer.scale).sum() * (1 if run.normalizer.scale.ndim else d))
    return {"nll": nll + log_det, "log_z_method": method}


def evaluate(model, x: torch.Tensor, seed: int = 0, **sample_options) -> dict:
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
    return result
