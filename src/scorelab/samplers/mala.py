"""Metropolis-adjusted Langevin algorithm (Roberts & Tweedie 1996)."""
import torch

from ..utils import as_sigma, sum_except_batch
from ._base import SamplerRun, gaussian_like


def _value_and_score(log_density, x, sigma):
    """log p(x) (batch,) and ∇ₓ log p(x), by autograd (works under ``torch.no_grad``)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        logp = log_density(xg, sigma)
        (grad,) = torch.autograd.grad(logp.sum(), xg)
    return logp.detach(), grad.detach()


def mala(log_density, x, step_size: float, n_steps: int, sigma=0.0, *, generator=None,
         callback=None, trajectory=False, return_info=False):
    """MALA: a Langevin proposal corrected by a Metropolis–Hastings test, so it is exact.

    Proposal  y = x + (ε/2)·∇log p(x) + √ε·z;  accept with probability
    min(1, p(y) q(x|y) / (p(x) q(y|x))),  q(y|x) = N(y; x + (ε/2)∇log p(x), εI).

    ``log_density(x, sigma) -> (batch,)`` may be unnormalised (for an energy model pass
    ``lambda x, s: -energy(x, s)``). NFE = n_steps + 1 (log-density and gradient evaluations).
    ``return_info=True`` reports ``acceptance_rate`` (mean over steps and particles).
    """
    if step_size <= 0 or n_steps < 0:
        raise ValueError("mala: step_size must be > 0 and n_steps >= 0")
    run = SamplerRun(None, x, callback=callback, trajectory=trajectory, name="mala")
    sig = as_sigma(sigma, x)

    def evaluate(y):
        run.nfe += 1
        return _value_and_score(log_density, y, sig)

    def log_q(to, frm, grad_frm):  # log q(to | from), up to a constant
        return -sum_except_batch((to - frm - 0.5 * step_size * grad_frm) ** 2) / (2 * step_size)

    x = x.detach()
    logp, grad = evaluate(x)
    accepted = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(n_steps):
        y = x + 0.5 * step_size * grad + step_size**0.5 * gaussian_like(x, generator)
        logp_y, grad_y = evaluate(y)
        log_ratio = logp_y + log_q(x, y, grad_y) - logp - log_q(y, x, grad)
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        accept = torch.log(u) < log_ratio  # NaN ratios are rejected
        shape = (-1,) + (1,) * (x.ndim - 1)
        x = torch.where(accept.reshape(shape), y, x)
        grad = torch.where(accept.reshape(shape), grad_y, grad)
        logp = torch.where(accept, logp_y, logp)
        accepted += accept.double().mean()
        run.step_done(i, x, sigma)
    run.check(x, "the log-density or its gradient is not finite at the initial points")
    rate = float(accepted / max(n_steps, 1))
    return run.finish(x, return_info, acceptance_rate=rate)
