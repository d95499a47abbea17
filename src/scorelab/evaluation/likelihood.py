"""Exact log-likelihoods through the probability-flow ODE, and their conversion to bits/dim.

The VE probability-flow ODE dx/dσ = f(x, σ) = −σ·s(x, σ) transports p_σ into p_σ' exactly
when s is the true score. Along a trajectory the log-density changes by the instantaneous
change of variables (Chen et al. 2018; Grathwohl et al. 2019, FFJORD):

    d log p_σ(x(σ))/dσ = −∇·f(x(σ), σ),

so integrating x from σ_min up to σ_max (Song et al. 2021, "Score-based generative modeling
through SDEs", Appendix D):

    log p_{σ_min}(x) = log p_{σ_max}(x(σ_max)) + ∫_{σ_min}^{σ_max} ∇·f(x(σ), σ) dσ,

with p_{σ_max} replaced by the prior N(0, σ_max² I).
"""
import math

import torch

from ..core import hutchinson_trace, jacobian_trace, sum_except_batch


def ode_log_likelihood(score_fn, x, *, sigma_min: float, sigma_max: float,
                       exact_trace: bool = False, n_probes: int = 1, rtol: float = 1e-5,
                       atol: float = 1e-5, method: str = "dopri5", generator=None,
                       return_info: bool = False):
    """log p_{σ_min}(x) in nats, shape (batch,), through the probability-flow ODE.

    Integrates the augmented state (x(σ), ∫∇·f dσ) from σ_min to σ_max with torchdiffeq's
    ``odeint`` (``method``, ``rtol``, ``atol``), f(x, σ) = −σ·s(x, σ), and returns

        log N(x(σ_max); 0, σ_max² I) + ∫_{σ_min}^{σ_max} ∇·f(x(σ), σ) dσ.

    What it is: the density of the data convolved with N(0, σ_min² I) (the model's p_{σ_min}),
    not of the data themselves; and it is exact only up to the prior approximation
    p_{σ_max} ≈ N(0, σ_max² I), which needs σ_max ≫ the data's scale (the error per point is
    of order ‖mean‖·‖x(σ_max)‖/σ_max² + trace(cov)/σ_max², i.e. ~ data scale / σ_max).

    Divergence: ``exact_trace=True`` takes d backward passes per evaluation (small d);
    otherwise Hutchinson's estimator with ``n_probes`` Rademacher probes per sample, drawn
    once from ``generator`` and fixed for the whole integral (FFJORD), which makes the
    estimate unbiased for each point. The step size is shared by the batch, so a point's
    value depends on its batch-mates within the tolerance. The score is called under
    ``torch.enable_grad`` (also inside ``torch.no_grad``); nothing returned carries a graph.

    ``return_info=True`` also returns a dict with ``nfe`` (score evaluations),
    ``prior_log_prob`` and ``delta_log_prob`` (the integral), both (batch,), and
    ``x_sigma_max``, the end of each trajectory (to evaluate another prior there).
    """
    from torchdiffeq import odeint

    if not (sigma_max > sigma_min > 0):
        raise ValueError("ode_log_likelihood: need sigma_max > sigma_min > 0")
    if not exact_trace and n_probes < 1:
        raise ValueError("ode_log_likelihood: n_probes must be >= 1")
    x = x.detach()
    probes = None
    if not exact_trace:
        bits = torch.randint(0, 2, (n_probes, *x.shape), generator=generator, device=x.device)
        probes = (2 * bits - 1).to(x.dtype)
    nfe = 0

    def augmented_drift(sigma, state):
        nonlocal nfe
        y, _ = state
        nfe += 1
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            s = score_fn(y, sigma.expand(y.shape[0]))
            f = -sigma * s
            div = jacobian_trace(f, y) if probes is None else hutchinson_trace(f, y, probes)
        return f.detach(), div.detach()

    t = torch.tensor([float(sigma_min), float(sigma_max)], dtype=x.dtype, device=x.device)
    state0 = (x, x.new_zeros(x.shape[0]))
    try:
        x_end, delta = (v[-1] for v in odeint(augmented_drift, state0, t, rtol=rtol, atol=atol,
                                               method=method))
    except AssertionError as err:  # torchdiffeq's "underflow in dt": a NaN or exploding drift
        raise FloatingPointError(f"ode_log_likelihood: the solver failed ({err}); the score is "
                                 "probably not finite along the trajectory") from None
    d = x[0].numel()
    prior = (-0.5 * sum_except_batch(x_end.square()) / sigma_max**2
             - 0.5 * d * math.log(2 * math.pi * sigma_max**2))
    log_p = prior + delta
    if not torch.isfinite(log_p).all():
        raise FloatingPointError("ode_log_likelihood: non-finite log-likelihood "
                                 "(check the score near sigma_min, or tighten the tolerance)")
    if return_info:
        return log_p, {"nfe": nfe, "prior_log_prob": prior, "delta_log_prob": delta,
                       "x_sigma_max": x_end}
    return log_p


def sde_log_likelihood(score_fn, x, sde, **options):
    """log p̃_{σ̃(t_min)}(x) in nats, shape (batch,), for ``sde``'s probability-flow ODE with its
    own prior (Song et al. 2021, Appendix D), on the contract's coordinates x̃ = x_t/s(t).

    The SDE's ODE in x̃ is the VE one in σ̃ (Karras et al. 2022), so this is
    :func:`ode_log_likelihood` over [σ̃(t_min), σ̃(T)] with the prior exchanged: x̃_T = x_T/s(T)
    and x_T ~ the SDE's prior give log p̃(x̃_T) = log p_prior(s(T)·x̃_T) + d·log s(T)
    (VP and sub-VP: N(0, I) on x_T, i.e. N(0, s(T)⁻²·I) on x̃; VE: N(0, σ_max²·I), as there).
    ``options`` go to :func:`ode_log_likelihood`; with ``return_info`` its dict comes too.
    """
    sigma_min, sigma_max = sde.sigma_range
    want_info = options.pop("return_info", False)
    _, info = ode_log_likelihood(score_fn, x, sigma_min=sigma_min, sigma_max=sigma_max,
                                 return_info=True, **options)
    s_T, d = float(sde.mean_scale(sde.T)), x[0].numel()
    prior = sde.prior_log_prob(s_T * info["x_sigma_max"]) + d * math.log(s_T)
    log_p = prior + info["delta_log_prob"]
    return (log_p, {**info, "prior_log_prob": prior}) if want_info else log_p


def bits_per_dim(log_likelihood_nats, dim: int, *, scale: float = 1.0,
                 dequantize_levels: int | None = None):
    """Convert log-likelihoods in nats per sample into bits per dimension (lower is better).

    Change of variables. The model was fit on normalised data x_n = (x − m)/``scale`` (x in the
    data's own units, e.g. pixels in [0, 1]), so its density in the data's units is

        log p(x) = log p_n(x_n) − d·log(scale).

    Dequantisation (Theis et al. 2016; Ho et al. 2019). For discrete data with ``levels`` values
    per dimension, a value k ∈ {0, …, levels−1} stands for the cell [k/levels, (k+1)/levels) of
    width 1/levels in the data's units, and the model must have seen (and be evaluated at) the
    dequantised point x = (k + u)/levels, u ~ U[0, 1)^d. Then, by Jensen's inequality,

        log P(k) = log E_u[p(x)·levels^{−d}] ≥ E_u[log p(x)] − d·log(levels),

    so the returned value is an upper bound (in expectation over u) on the discrete bits/dim:

        bpd = −(log p_n(x_n) − d·log(scale) − d·log(levels)) / (d·log 2)
            = −log p_n(x_n)/(d·log 2) + log₂(scale) + log₂(levels).

    ``levels`` = 256 for 8-bit images in [0, 1]; 17 for the 8×8 digits (values 0…16) mapped to
    (k + u)/17. What matters is the cell width in the data's units: digits scaled as
    (k + u)/16 have cells of width 1/16, so pass ``dequantize_levels=16`` there.
    Without ``dequantize_levels`` the result is the continuous bits/dim −log p(x)/(d·log 2).
    Works elementwise on a tensor (batch,) or a float.
    """
    if dim < 1 or scale <= 0:
        raise ValueError("bits_per_dim: need dim >= 1 and scale > 0")
    nats = log_likelihood_nats - dim * math.log(scale)
    if dequantize_levels is not None:
        if dequantize_levels < 2:
            raise ValueError("bits_per_dim: dequantize_levels must be >= 2")
        nats = nats - dim * math.log(dequantize_levels)
    return -nats / (dim * math.log(2))
