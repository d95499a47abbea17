"""The partition function of an energy-based model, to report its negative log-likelihood.

An energy E defines p(x) = exp(−E(x)) / Z with Z = ∫ exp(−E(x)) dx, which nothing in training
computes. Two estimates of log Z:

- :func:`grid_log_partition`, a quadrature on a 2-D grid: exact up to the grid's resolution
  and the mass outside the box, for 2-D toys only;
- :func:`ais_log_partition`, annealed importance sampling (Neal 2001) in any dimension, with a
  standard error.

Then :func:`negative_log_likelihood` reports mean E(x) + log Z, in nats.

``energy_fn(x) -> (batch,)`` takes points of shape (batch, dim); a scorelab ``EnergyMLP`` (whose
σ defaults to None) can be passed as is, a noise-conditional energy as ``lambda x: net(x, sigma)``.
"""
import math
import warnings
from dataclasses import dataclass

import torch

from ..samplers.mala import mala_step


# ---------------------------------------------------------------------------------- grid
def grid_log_partition(energy_fn, bounds, n: int = 400, *, chunk_size: int = 65536,
                       dtype=None, device=None) -> float:
    """log Z on a 2-D grid: the midpoint rule over the box ``bounds = (xmin, xmax, ymin, ymax)``,

        log Z ≈ log Σᵢⱼ exp(−E(xᵢ, yⱼ)) · Δx·Δy,   xᵢ = xmin + (i + ½)·Δx,  Δx = (xmax − xmin)/n,

    (``n`` × ``n`` cell centres, likewise in y), a stable log-sum-exp evaluated ``chunk_size``
    points at a time under ``no_grad``. Mass outside the box is ignored, so the box must cover
    the model's mass: a ``RuntimeWarning`` is raised when the outermost ring of cells holds more
    than 1e-6 of the mass in the box (a sign that the box cuts the density off).
    For a smooth density well inside the box the rule converges faster than any power of Δx.
    """
    xmin, xmax, ymin, ymax = (float(b) for b in bounds)
    if not (xmax > xmin and ymax > ymin) or n < 2:
        raise ValueError("grid_log_partition: need xmax > xmin, ymax > ymin and n >= 2")
    dtype = dtype or torch.get_default_dtype()
    dx, dy = (xmax - xmin) / n, (ymax - ymin) / n
    xs = xmin + (torch.arange(n, dtype=torch.float64) + 0.5) * dx
    ys = ymin + (torch.arange(n, dtype=torch.float64) + 0.5) * dy
    rows = max(1, chunk_size // n)  # whole rows of the grid per chunk: the edges are easy to find
    all_parts, edge_parts = [], []
    with torch.no_grad():
        for start in range(0, n, rows):
            gx, gy = torch.meshgrid(xs[start:start + rows], ys, indexing="ij")
            points = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(device=device, dtype=dtype)
            log_f = -energy_fn(points).reshape(gx.shape).to(torch.float64).cpu()
            if torch.isnan(log_f).any():
                raise FloatingPointError("grid_log_partition: the energy is NaN on the grid")
            all_parts.append(torch.logsumexp(log_f.reshape(-1), 0))
            i = torch.arange(start, start + gx.shape[0])[:, None]
            j = torch.arange(n)[None, :]
            on_edge = (i == 0) | (i == n - 1) | (j == 0) | (j == n - 1)
            edge_parts.append(torch.logsumexp(log_f[on_edge], 0))
    log_sum = torch.logsumexp(torch.stack(all_parts), 0)
    if not torch.isfinite(log_sum):
        raise FloatingPointError(f"grid_log_partition: log Σ exp(−E) = {float(log_sum)} on the grid")
    edge_fraction = math.exp(float(torch.logsumexp(torch.stack(edge_parts), 0) - log_sum))
    if edge_fraction > 1e-6:
        warnings.warn(f"grid_log_partition: the box's outermost cells hold {edge_fraction:.2g} of the "
                      "mass; the box probably cuts the density off (log Z is underestimated)",
                      RuntimeWarning, stacklevel=2)
    return float(log_sum) + math.log(dx * dy)


# ---------------------------------------------------------------------------------- AIS
@dataclass
class AISInfo:
    """What :func:`ais_log_partition` reports besides log Ẑ (``return_info=True``).

    ``log_z_se``: standard error of log Ẑ by the delta method, std(w) / (√N · mean(w)) over the
    N chains' weights; it is itself estimated from the weights, so it is optimistic when they are
    heavy-tailed (few temperatures, a base that misses the target's mass): check ``ess`` too.
    ``ess``: effective sample size (Σw)² / Σw², between 1 and N.
    ``acceptance_rate``: MALA acceptance, averaged over temperatures, steps and chains.
    ``log_weights`` (N,) float64, ``samples`` (N, dim): the chains at β = 1 with their log-weights
    (a weighted sample of the target). ``betas``: the schedule; ``step_sizes``: ε used at each
    intermediate temperature; ``nfe``: energy-and-gradient evaluations on the whole batch.
    """

    log_z_se: float
    ess: float
    acceptance_rate: float
    log_weights: torch.Tensor
    samples: torch.Tensor
    betas: torch.Tensor
    step_sizes: torch.Tensor
    nfe: int


def _sigmoid_betas(n_temps: int, delta: float = 4.0) -> torch.Tensor:
    """β₀ = 0 < β₁ < … < β_T = 1 (T = ``n_temps``): a sigmoid schedule rescaled to [0, 1],

        β̃ₜ = sigmoid(δ(2t/T − 1)),  βₜ = (β̃ₜ − β̃₀) / (β̃_T − β̃₀),

    denser near both ends, where log f_β changes fastest (Grosse et al. 2015, "Sandwiching the
    marginal likelihood using bidirectional Monte Carlo", δ = 4). Float64, shape (T + 1,).
    """
    s = torch.sigmoid(delta * (2 * torch.arange(n_temps + 1, dtype=torch.float64) / n_temps - 1))
    return (s - s[0]) / (s[-1] - s[0])


def _logmeanexp(v: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(v, 0) - math.log(v.numel())


def ais_log_partition(energy_fn, dim: int, *, n_chains: int = 256, n_temps: int = 200,
                      n_mcmc: int = 1, step_size: float | None = None, base_std: float = 3.0,
                      target_acceptance: float = 0.6, generator=None, dtype=None, device=None,
                      return_info: bool = False):
    """log Z of exp(−E) by annealed importance sampling (Neal 2001, "Annealed importance sampling").

    Anneals ``n_chains`` independent chains from the base q₀ = N(0, s² I) (s = ``base_std``) to
    exp(−E) along the geometric path

        f_β(x) = q̃₀(x)^{1−β} · exp(−β·E(x)),   q̃₀(x) = exp(−‖x‖²/(2s²)),   Z₀ = (2πs²)^{d/2},

    over the sigmoid schedule 0 = β₀ < … < β_T = 1 (T = ``n_temps``, see ``_sigmoid_betas``).
    Each chain starts at x ~ q₀ and, for t = 1 … T,

        log w += (βₜ − βₜ₋₁)·(−E(x) − log q̃₀(x))        (= log fₜ(x) − log fₜ₋₁(x)),
        x ← ``n_mcmc`` MALA steps leaving fₜ invariant   (t < T; none is needed at β = 1),

    and log Ẑ = log Z₀ + log mean exp(log w): E[w] = Z/Z₀ exactly, whatever the schedule and
    however badly the chains mix; those only set the variance (log Ẑ itself is biased low by
    about Var(w)/(2N·E[w]²), Jensen). The returned ``info`` has the standard error.

    Transitions: :func:`scorelab.samplers.mala_step` (Roberts & Tweedie 1996) in the library's convention
    y = x + (ε/2)·∇log fₜ(x) + √ε·z, with a Metropolis–Hastings test, so each step is exactly
    invariant for fₜ. The energy and its gradient are cached per chain; one evaluation on the
    whole batch per MALA step (NFE = 1 + (T − 1)·``n_mcmc``). With ``step_size`` None, ε starts
    at s²·d^(−1/3) and after each temperature becomes ε·exp(acc − ``target_acceptance``), acc
    the acceptance over all chains at that temperature: the step size depends on the chains'
    past (jointly, not per chain), a bias of order 1/N that is negligible next to the Monte Carlo
    error; pass a float ``step_size`` to fix ε and keep the estimate exactly unbiased.

    Runs under ``no_grad`` but for ∇E (``torch.enable_grad`` inside). Points are made in
    ``dtype`` (default: torch's default) on ``device``; weights are accumulated in float64.
    Returns log Ẑ as a float, or ``(log Ẑ, AISInfo)`` with ``return_info``.
    """
    if n_chains < 1 or n_temps < 1 or n_mcmc < 0 or dim < 1 or base_std <= 0:
        raise ValueError("ais_log_partition: need n_chains, n_temps, dim >= 1, n_mcmc >= 0, base_std > 0")
    if step_size is not None and step_size <= 0:
        raise ValueError("ais_log_partition: step_size must be > 0 (or None to adapt it)")
    dtype = dtype or torch.get_default_dtype()
    betas = _sigmoid_betas(n_temps)
    var0 = base_std**2
    log_z0 = 0.5 * dim * math.log(2 * math.pi * var0)
    nfe = 0

    def energy_and_grad(x):
        nonlocal nfe
        nfe += 1
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            e = energy_fn(xg).reshape(x.shape[0])
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g.detach()

    def log_q0(x):  # log q̃₀(x), (batch,)
        return -0.5 * x.square().sum(1) / var0

    def log_f_and_grad(x, e, g, beta):  # log f_β(x) and ∇log f_β(x) from the cached E, ∇E
        return (1 - beta) * log_q0(x) - beta * e, -(1 - beta) * x / var0 - beta * g

    def tempered(y, beta):  # (log f_β, ∇log f_β, E, ∇E) at y: one evaluation
        e_y, g_y = energy_and_grad(y)
        return (*log_f_and_grad(y, e_y, g_y, beta), e_y, g_y)

    with torch.no_grad():
        x = base_std * torch.randn(n_chains, dim, generator=generator, dtype=dtype, device=device)
        e, g = energy_and_grad(x)
        log_w = torch.zeros(n_chains, dtype=torch.float64, device=x.device)
        eps = step_size if step_size is not None else var0 * dim ** (-1 / 3)
        acceptances, step_sizes = [], []
        for t in range(1, n_temps + 1):
            # Importance weight: log fₜ(x) − log fₜ₋₁(x) at the current state.
            log_w += float(betas[t] - betas[t - 1]) * (-e - log_q0(x)).double()
            if t == n_temps:
                break
            # MALA steps leaving fₜ invariant.
            beta = float(betas[t])
            accepted = 0.0
            for _ in range(n_mcmc):
                state = (*log_f_and_grad(x, e, g, beta), e, g)
                x, (*_, e, g), accept = mala_step(x, state, lambda y: tempered(y, beta), eps, generator)
                accepted += float(accept.double().mean()) / n_mcmc
            if n_mcmc > 0:
                acceptances.append(accepted)
                step_sizes.append(eps)
                if step_size is None:  # Adapt ε towards the target acceptance.
                    eps *= math.exp(accepted - target_acceptance)
        if torch.isnan(log_w).any() or not torch.isfinite(log_w).any():
            raise FloatingPointError("ais_log_partition: the importance weights are NaN or all zero "
                                     "(is the energy finite where the base N(0, base_std² I) puts mass?)")
        log_z = log_z0 + float(_logmeanexp(log_w))
        if not return_info:
            return log_z
        w = torch.exp(log_w - log_w.max())  # weights scaled so the largest is 1
        se = float(w.std() / (w.mean() * n_chains**0.5)) if n_chains > 1 else math.nan
        ess = float(w.sum() ** 2 / w.square().sum())
        acc = sum(acceptances) / len(acceptances) if acceptances else math.nan
        return log_z, AISInfo(log_z_se=se, ess=ess, acceptance_rate=acc, log_weights=log_w, samples=x,
                              betas=betas, step_sizes=torch.tensor(step_sizes, dtype=torch.float64),
                              nfe=nfe)


# ---------------------------------------------------------------------------------- NLL
def negative_log_likelihood(energy_fn, x: torch.Tensor, log_z: float) -> float:
    """Mean negative log-likelihood in nats, −mean log p(xᵢ) = mean E(xᵢ) + log Z, under ``no_grad``.

    ``log_z`` from :func:`grid_log_partition` or :func:`ais_log_partition`; an error δ in log Z
    shifts the NLL by exactly δ (report its standard error with it).
    """
    with torch.no_grad():
        return float(energy_fn(x).double().mean()) + float(log_z)
