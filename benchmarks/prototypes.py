"""Variants of the slow parts of scorelab, timed against it by ``hotspots.py``.

Nothing here is imported by the library. Two kinds of code live here:

* candidates: changes the benchmark could recommend for ``src/``, written so that they can be
  dropped in (the exact-trace alternatives and the hoisted Langevin loops);
* "before" versions of fixes that have since moved into ``src/`` (the energy score by
  ``torch.func.grad``), kept so that the gain of each fix can still be measured. The fixes
  themselves are imported from scorelab. The exact trace before its fix (all d products in one
  batch) is ``handwritten.exact_batched``.

Each one computes the same quantity as its scorelab counterpart (``hotspots.py`` checks it),
except where a docstring says it is an approximation.
"""
import torch

from scorelab.samplers._base import SamplerRun, gaussian_like
from scorelab.utils import as_sigma, sum_except_batch


# ---------------------------------------------------------------- energy score

class FuncGradEnergyScore:
    """Before: scorelab's energy score −∇ₓE(x, σ) by ``torch.func.grad`` everywhere, replaced by
    :class:`scorelab.nn.EnergyScore` (``torch.autograd.grad`` outside ``torch.func`` transforms)."""

    def __init__(self, energy):
        self.energy = energy

    def __call__(self, x, sigma=None):
        def total_energy(y):
            return self.energy(y, sigma).sum()
        return -torch.func.grad(total_energy)(x)


# ---------------------------------------------------------------- exact score matching

def exact_replicated(score_fn, x, sigma=None):
    """Exact score matching as sliced score matching over the d coordinate directions:
    tr(∇ₓs) = Σᵢ eᵢᵀ∇ₓ(eᵢᵀs). The batch is tiled d times (block i probes eᵢ), so the d
    vector-Jacobian products are one ordinary backward pass of a (d·batch)-row forward, with
    no vmap machinery. Needs a network whose outputs do not mix samples (every scorelab
    network)."""
    b, d = x.shape[0], x[0].numel()
    xr = x.detach().repeat((d,) + (1,) * (x.ndim - 1)).requires_grad_(True)
    sig = as_sigma(0.0 if sigma is None else sigma, x).repeat(d)
    s = score_fn(xr, sig)
    sf = s.reshape(d, b, d)
    picked = torch.diagonal(sf, dim1=0, dim2=2).sum()  # Σ_i Σ_b s[i-th block, b, i]
    (g,) = torch.autograd.grad(picked, xr, create_graph=True)
    trace = torch.diagonal(g.reshape(d, b, d), dim1=0, dim2=2).sum(-1)
    first = 0.5 * sum_except_batch(sf[0] ** 2)
    return (first + trace).mean()


def exact_func_jacrev(score_fn, x, sigma=None):
    """tr(∇ₓs) from ``torch.func.vmap(torch.func.jacrev(per-sample score))``: the full
    d×d Jacobian per sample, then its diagonal (torchebm's way)."""
    x = x.detach().requires_grad_(True)
    sig = as_sigma(0.0 if sigma is None else sigma, x)
    s = score_fn(x, sig)

    def one(xi, si):
        return score_fn(xi.unsqueeze(0), si.unsqueeze(0)).squeeze(0)

    jac = torch.func.vmap(torch.func.jacrev(one))(x.detach(), sig)
    trace = torch.diagonal(jac.reshape(x.shape[0], x[0].numel(), -1), dim1=1, dim2=2).sum(-1)
    return (0.5 * sum_except_batch(s**2) + trace).mean()


def exact_jvp(score_fn, x, sigma=None):
    """tr(∇ₓs) by forward mode: d Jacobian-vector products ∇ₓs·eᵢ batched with
    ``torch.func.vmap(torch.func.jvp)``, then reverse mode over them for the parameters."""
    b, d = x.shape[0], x[0].numel()
    sig = as_sigma(0.0 if sigma is None else sigma, x)
    s = score_fn(x, sig)
    basis = torch.eye(d, dtype=x.dtype).reshape(d, 1, *x.shape[1:]).expand(d, *x.shape)

    def jvp_along(v):
        return torch.func.jvp(lambda y: score_fn(y, sig), (x,), (v,))[1]

    jv = torch.func.vmap(jvp_along)(basis)  # (d, b, ...): ∇ₓs·eᵢ
    trace = torch.diagonal(jv.reshape(d, b, d), dim1=0, dim2=2).sum(-1)
    return (0.5 * sum_except_batch(s**2) + trace).mean()


# ---------------------------------------------------------------- Langevin

def langevin(score_fn, x, step_size, n_steps, sigma=0.0, *, generator=None, callback=None,
             trajectory=False, return_info=False):
    """scorelab's ``langevin`` with the per-step book-keeping hoisted out of the loop: σ is
    made a (batch,) tensor once, the score is called directly and the NFE added up after the
    loop; ``step_done`` runs only when a callback or a trajectory asks for it."""
    if step_size <= 0 or n_steps < 0:
        raise ValueError("langevin: step_size must be > 0 and n_steps >= 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="langevin")
    record = callback is not None or trajectory
    sig = as_sigma(sigma, x)
    half, root = 0.5 * step_size, step_size**0.5
    x = x.detach()
    for i in range(n_steps):
        x = (x + half * score_fn(x, sig) + root * gaussian_like(x, generator)).detach()
        if record:
            run.step_done(i, x, sigma)
    run.nfe += n_steps
    run.check(x, "the step size is probably too large; lower step_size")
    return run.finish(x, return_info)


def annealed_langevin(score_fn, x, sigmas, step_size, steps_per_level, denoise=True, *,
                      generator=None, callback=None, trajectory=False, return_info=False):
    """scorelab's ``annealed_langevin`` with the same hoisting (σ tensor once per level)."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="annealed_langevin")
    record = callback is not None or trajectory
    sigma_min = float(sigmas[-1])
    x = x.detach()
    i = 0
    for sigma in sigmas.tolist():
        alpha = step_size * sigma**2 / sigma_min**2
        half, root = 0.5 * alpha, alpha**0.5
        sig = as_sigma(sigma, x)
        for _ in range(steps_per_level):
            x = (x + half * score_fn(x, sig) + root * gaussian_like(x, generator)).detach()
            if record:
                run.step_done(i, x, sigma)
            i += 1
        run.check(x, f"blew up at sigma={sigma:.4g}")
    run.nfe += i
    if denoise:
        x = (x + sigma_min**2 * run.score(x, sigma_min)).detach()
        if record:
            run.step_done(i, x, sigma_min)
        run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)
