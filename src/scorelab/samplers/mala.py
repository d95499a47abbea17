"""Metropolis-adjusted Langevin algorithm (Roberts & Tweedie 1996)."""
import torch

from ..core import as_sigma, gaussian_like, sum_except_batch
from ._base import SamplerRun


def _value_and_score(log_density, x, sigma):
    """log p(x) (batch,) and ∇ₓ log p(x), by autograd (works under ``torch.no_grad``)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        logp = log_density(xg, sigma)
        (grad,) = torch.autograd.grad(logp.sum(), xg)
    return logp.detach(), grad.detach()


def mala_step(x, state: tuple, evaluate, step_size: float, generator=None):
    """One MALA transition at x, exactly invariant for p.

    ``state`` = ``(log p(x), ∇log p(x), *aux)``, and ``evaluate(y)`` returns the same tuple at
    a point y: per-sample values (batch, ...) that follow the accepted point (``aux``, say a
    cached energy and its gradient). The proposal y = x + (ε/2)·∇log p(x) + √ε·z is accepted
    with probability min(1, p(y) q(x|y) / (p(x) q(y|x))), q(y|x) = N(y; x + (ε/2)∇log p(x), εI);
    a NaN ratio is rejected. Returns ``(x, state, accepted)``, ``accepted`` (batch,) bool.
    """
    def log_q(to, frm, grad_frm):  # log q(to | from), up to a constant
        return -sum_except_batch((to - frm - 0.5 * step_size * grad_frm) ** 2) / (2 * step_size)

    y = x + 0.5 * step_size * state[1] + step_size**0.5 * gaussian_like(x, generator)
    proposed = evaluate(y)
    log_ratio = proposed[0] + log_q(x, y, proposed[1]) - state[0] - log_q(y, x, state[1])
    u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    accept = torch.log(u) < log_ratio

    def pick(new, old):
        return torch.where(accept.reshape(-1, *[1] * (new.ndim - 1)), new, old)
    return pick(y, x), tuple(map(pick, proposed, state)), accept


def mala(log_density, x, step_size: float, n_steps: int, sigma=0.0, *, generator=None,
         callback=None, trajectory=False, return_info=False):
    """MALA: a Langevin proposal corrected by a Metropolis–Hastings test, so it is exact
    (:func:`mala_step`, ``n_steps`` times).

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

    x = x.detach()
    state = evaluate(x)
    if not (torch.isfinite(state[0]).all() and torch.isfinite(state[1]).all()):
        raise FloatingPointError("mala: the log-density or its gradient is not finite at the initial points")
    accepted = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(n_steps):
        x, state, accept = mala_step(x, state, evaluate, step_size, generator)
        accepted += accept.double().mean()
        run.step_done(i, x, sigma)
    run.check(x, "the log-density or its gradient is not finite at the initial points")
    rate = float(accepted / max(n_steps, 1))
    return run.finish(x, return_info, acceptance_rate=rate)
