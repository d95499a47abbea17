"""Plain PyTorch versions of every objective and sampler, the baseline scorelab is held to.

Each function computes exactly the quantity of its scorelab namesake, as one would write it
inline in a training script: no validation, no helpers, no dataclasses. They take the same
networks (``net(x, sigma)``) and the same random generator, so the work per call is equal and
the timing difference is scorelab's overhead (or saving).

Energy networks are turned into scores with ``torch.autograd.grad`` (``create_graph`` when
the loss needs gradients through the score), the textbook way.
"""
import math

import torch


def score_of_energy(energy, create_graph):
    """s(x) = −∇ₓE(x) by one reverse pass; differentiable when ``create_graph``."""
    def score(x, sigma):
        with torch.enable_grad():
            xi = x if x.requires_grad else x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(xi, sigma).sum(), xi, create_graph=create_graph)
        return -g
    return score


# Objectives: (score, x, ..., generator) -> scalar loss.

def dsm(score, x, sigma, generator):
    """½‖s(x + σz, σ) + z/σ‖², batch mean."""
    z = torch.randn(x.shape, generator=generator, device=x.device)
    sig = torch.full((x.shape[0],), sigma, device=x.device)
    s = score(x + sigma * z, sig)
    return 0.5 * ((s + z / sigma) ** 2).sum(1).mean()


def multiscale_dsm(score, x, sigmas, generator):
    """½‖σ·s(x + σz, σ) + z‖² with σ drawn per sample from ``sigmas``."""
    idx = torch.randint(len(sigmas), (x.shape[0],), generator=generator, device=x.device)
    sig = sigmas[idx]
    z = torch.randn(x.shape, generator=generator, device=x.device)
    s = score(x + sig[:, None] * z, sig)
    return 0.5 * ((sig[:, None] * s + z) ** 2).sum(1).mean()


def sliced(score, x, generator, variance_reduction=False):
    """½(vᵀs)² + vᵀ∇(vᵀs) (or ½‖s‖² + vᵀ∇(vᵀs)), one Gaussian v per sample."""
    x = x.detach().requires_grad_(True)
    s = score(x, torch.zeros(x.shape[0], device=x.device))
    v = torch.randn(x.shape, generator=generator, device=x.device)
    vs = (v * s).sum(1)
    (g,) = torch.autograd.grad(vs.sum(), x, create_graph=True)
    first = 0.5 * (s**2).sum(1) if variance_reduction else 0.5 * vs**2
    return (first + (v * g).sum(1)).mean()


def sliced_fd(score, x, generator, eps=1e-2):
    """Finite-difference sliced SM: s± = s(x ± εv); ½(vᵀ(s₊+s₋)/2)² + vᵀ(s₊−s₋)/(2ε)."""
    v = torch.randn(x.shape, generator=generator, device=x.device)
    s = score(torch.cat([x + eps * v, x - eps * v]), torch.zeros(2 * x.shape[0], device=x.device))
    s_plus, s_minus = s.chunk(2)
    vs = (v * (s_plus + s_minus)).sum(1) / 2
    return (0.5 * vs**2 + (v * (s_plus - s_minus)).sum(1) / (2 * eps)).mean()


def exact_loop(score, x):
    """½‖s‖² + tr(∇s) with one reverse pass per dimension."""
    x = x.detach().requires_grad_(True)
    s = score(x, torch.zeros(x.shape[0], device=x.device))
    trace = 0
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(s[:, i].sum(), x, create_graph=True)
        trace = trace + g[:, i]
    return (0.5 * (s**2).sum(1) + trace).mean()


def exact_batched(score, x):
    """½‖s‖² + tr(∇s) with the d reverse passes batched (``is_grads_batched``)."""
    x = x.detach().requires_grad_(True)
    s = score(x, torch.zeros(x.shape[0], device=x.device))
    d = x.shape[1]
    eye = torch.eye(d, device=x.device).unsqueeze(1).expand(d, x.shape[0], d)
    (jac,) = torch.autograd.grad(s, x, eye, create_graph=True, is_grads_batched=True)
    trace = torch.diagonal(jac, dim1=0, dim2=2).sum(-1)  # jac[i, b, i]
    return (0.5 * (s**2).sum(1) + trace).mean()


def contrastive_divergence(energy, x, n_steps, step_size, alpha, generator):
    """CD-k: E(x) − E(x⁻) + α(E(x)² + E(x⁻)²), x⁻ from k Langevin steps started at the data."""
    score = score_of_energy(energy, create_graph=False)
    neg = langevin(score, x.detach(), step_size, n_steps, 0.0, generator)
    e_pos, e_neg = energy(x, None), energy(neg, None)
    return e_pos.mean() - e_neg.mean() + alpha * ((e_pos**2).mean() + (e_neg**2).mean())


# Samplers.

def langevin(score, x, step_size, n_steps, sigma, generator):
    """x ← x + (ε/2)s(x, σ) + √ε z, ``n_steps`` times."""
    sig = torch.full((x.shape[0],), float(sigma), device=x.device)
    half, root = 0.5 * step_size, math.sqrt(step_size)
    for _ in range(n_steps):
        x = x + half * score(x, sig) + root * torch.randn(x.shape, generator=generator, device=x.device)
    return x


def annealed_langevin(score, x, sigmas, step_size, steps_per_level, generator):
    """NCSN's Algorithm 1 (α = ε σ²/σ_L²) and Tweedie's denoising step at σ_L."""
    sigma_min = float(sigmas[-1])
    for sigma in sigmas:
        alpha = step_size * sigma**2 / sigma_min**2
        x = langevin(score, x, alpha, steps_per_level, sigma, generator)
    return x + sigma_min**2 * score(x, torch.full((x.shape[0],), sigma_min, device=x.device))
