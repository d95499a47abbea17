"""Samplers for the variance-exploding (NCSN / EDM) probability-flow ODE, and Song et al.'s
predictor–corrector sampler for the reverse VE SDE.

With x_σ = x₀ + σz, the denoiser and the probability-flow ODE (Song et al. 2021, "Score-based
generative modeling through SDEs"; Karras et al. 2022, "Elucidating the design space", eq. 1):

    D(x, σ) = x + σ²·s(x, σ)                      (Tweedie's formula)
    dx/dσ  = (x − D(x, σ))/σ = −σ·s(x, σ).

Every ODE sampler here takes ``x`` already at σ_max (draw ``sigma_max * randn``) and a
schedule ``sigmas`` running from σ_max down to 0 (``karras_sigmas(..., append_zero=True)``);
the last step, σ_min → 0, lands on the denoiser D(x, σ_min), so every sampler ends with the
same map. NFE: one per call of the score function on the whole batch (see ``_base``).
"""
import math

import torch

from ..core import broadcast_like, gaussian_like, sum_except_batch
from ._base import SamplerRun, tweedie_denoise


def _schedule(sigmas, name: str, *, ends_at_zero: bool) -> list[float]:
    """Validate a descending schedule and return it as Python floats."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if ends_at_zero:
        ok = len(sigmas) >= 2 and sigmas[-1] == 0 and bool((sigmas[:-1] > 0).all())
        need = "at least two sigmas, positive and ending in 0 (karras_sigmas(..., append_zero=True))"
    else:
        ok = len(sigmas) >= 1 and bool((sigmas > 0).all())
        need = "positive sigmas (the final step to 0 is added by the sampler)"
    if not ok:
        raise ValueError(f"{name}: need {need}, got {sigmas.tolist()}")
    if (sigmas[1:] >= sigmas[:-1]).any():
        raise ValueError(f"{name}: sigmas must decrease strictly, from largest to smallest")
    return sigmas.tolist()


def _derivative(run: SamplerRun, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """dx/dσ = (x − D(x, σ))/σ = −σ·s(x, σ) (written without the cancellation x − D)."""
    return -sigma * run.score(x, sigma)


def euler(score_fn, x, sigmas, *, generator=None, callback=None, trajectory=False,
          return_info=False):
    """Euler's method on the probability-flow ODE (Karras et al. 2022; k-diffusion's ``sample_euler``).

    x ← x + (σᵢ₊₁ − σᵢ)·(x − D(x, σᵢ))/σᵢ for each step; the last step (to σ = 0) is exactly
    Tweedie's denoiser D(x, σ_min). NFE = len(sigmas) − 1 (one per step). Deterministic:
    ``generator`` is accepted for the common signature and not used.
    """
    sigmas = _schedule(sigmas, "euler", ends_at_zero=True)
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="euler")
    x = x.detach()
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x = (x + (sigma_next - sigma) * _derivative(run, x, sigma)).detach()
        run.step_done(i, x, sigma_next)
    run.check(x, "the score is not finite along the trajectory")
    return run.finish(x, return_info)


def heun(score_fn, x, sigmas, *, generator=None, callback=None, trajectory=False,
         return_info=False):
    """Heun's 2nd-order method, deterministic (Karras et al. 2022, Algorithm 2 without churn).

    Euler step to σᵢ₊₁, then, unless σᵢ₊₁ = 0, the trapezoidal correction with the slope at
    the Euler point. With n = len(sigmas) − 1 steps (n nonzero sigmas) the NFE is
    2n − 1 = 2·(n − 1) + 1: two per step, one for the last (Euler) step to σ = 0.
    Deterministic: ``generator`` is accepted for the common signature and not used.
    """
    sigmas = _schedule(sigmas, "heun", ends_at_zero=True)
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="heun")
    x = x.detach()
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        h = sigma_next - sigma
        d = _derivative(run, x, sigma)
        # Euler step.
        x_next = x + h * d
        if sigma_next > 0:
            # Apply 2nd order correction.
            d_next = _derivative(run, x_next, sigma_next)
            x_next = x + h * (0.5 * d + 0.5 * d_next)
        x = x_next.detach()
        run.step_done(i, x, sigma_next)
    run.check(x, "the score is not finite along the trajectory")
    return run.finish(x, return_info)


def dpmpp_2m(score_fn, x, sigmas, *, generator=None, callback=None, trajectory=False,
             return_info=False):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in the VE parametrisation, t = −log σ.

    With Dᵢ = D(xᵢ, σᵢ), hᵢ = tᵢ₊₁ − tᵢ = log(σᵢ/σᵢ₊₁) and rᵢ = hᵢ₋₁/hᵢ:

        xᵢ₊₁ = (σᵢ₊₁/σᵢ)·xᵢ − (e^{−hᵢ} − 1)·D̂ᵢ,
        D̂ᵢ = (1 + 1/(2rᵢ))·Dᵢ − (1/(2rᵢ))·Dᵢ₋₁     (multistep: the previous denoised output),

    the first step first-order (D̂₀ = D₀, DPM-Solver++(1) = DDIM) and the last step, to σ = 0,
    returning D(x, σ_min) itself. NFE = len(sigmas) − 1 (one per step).
    Deterministic: ``generator`` is accepted for the common signature and not used.
    """
    sigmas = _schedule(sigmas, "dpmpp_2m", ends_at_zero=True)
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="dpmpp_2m")
    x = x.detach()
    denoised_prev, h_prev = None, None
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        denoised = tweedie_denoise(run.score, x, sigma).detach()
        if sigma_next == 0:
            x = denoised  # the limit σᵢ₊₁/σᵢ → 0, e^{−h} → 0 of the update
        else:
            h = math.log(sigma / sigma_next)
            if denoised_prev is None:
                d_hat = denoised
            else:
                r = h_prev / h
                d_hat = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * denoised_prev
            x = ((sigma_next / sigma) * x - math.expm1(-h) * d_hat).detach()
            h_prev = h
        denoised_prev = denoised
        run.step_done(i, x, sigma_next)
    run.check(x, "the score is not finite along the trajectory")
    return run.finish(x, return_info)


def ode_adaptive(score_fn, x, sigma_max: float, sigma_min: float, *, rtol: float = 1e-5,
                 atol: float = 1e-5, method: str = "dopri5", options: dict | None = None,
                 generator=None, callback=None, trajectory=False, return_info=False):
    """The probability-flow ODE dx/dσ = −σ·s(x, σ) from σ_max down to σ_min with an adaptive
    solver (torchdiffeq's ``odeint``; Song et al. 2021 used RK45), then Tweedie's denoiser
    x ← x + σ_min²·s(x, σ_min).

    ``method``, ``rtol``, ``atol`` and ``options`` go to ``odeint``; the step size is chosen
    for the whole batch at once, so a sample depends on its batch-mates within the tolerance.
    NFE = the number of drift evaluations ``odeint`` made + 1 (the denoiser).
    The trajectory holds [x(σ_max), x(σ_min), denoised]; the callback sees the last two.
    Deterministic: ``generator`` is accepted for the common signature and not used.
    """
    from torchdiffeq import odeint

    if not (sigma_max > sigma_min > 0):
        raise ValueError("ode_adaptive: need sigma_max > sigma_min > 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="ode_adaptive")

    def drift(sigma, y):
        return (-sigma * run.score(y, sigma)).detach()

    x = x.detach()
    t = torch.tensor([float(sigma_max), float(sigma_min)], dtype=x.dtype, device=x.device)
    try:
        x = odeint(drift, x, t, rtol=rtol, atol=atol, method=method, options=options)[-1].detach()
    except AssertionError as err:  # torchdiffeq's "underflow in dt": a NaN or exploding drift
        raise FloatingPointError(f"ode_adaptive: the solver failed ({err}); the score is probably not "
                                 "finite along the trajectory") from None
    run.step_done(0, x, sigma_min)
    run.check(x, "the ODE solution is not finite (try a tighter tolerance or another method)")
    x = tweedie_denoise(run.score, x, sigma_min).detach()
    run.step_done(1, x, 0.0)
    run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)


def predictor_corrector(score_fn, x, sigmas, *, snr: float = 0.16, n_corrector: int = 1,
                        per_sample_step: bool = False, generator=None, callback=None,
                        trajectory=False, return_info=False):
    """Predictor–corrector sampling of the reverse VE SDE (Song et al. 2021, Algorithms 2–3).

    ``sigmas`` are positive and descending (e.g. :func:`geometric_sigmas`); the sampler appends
    σ = 0 itself. At each level σᵢ (σ_{n} = 0 after the last):

    * corrector, ``n_corrector`` Langevin steps in Song et al.'s convention
      x ← x + ε·s(x, σᵢ) + √(2ε)·z with ε = 2·(snr·‖z‖/‖s(x, σᵢ)‖)², the norms taken over every
      dimension but the batch;
    * predictor, reverse diffusion: x ← x + (σᵢ² − σᵢ₊₁²)·s(x, σᵢ) + √(σᵢ² − σᵢ₊₁²)·z; the last
      one (σᵢ₊₁ = 0) adds no noise, so it is Tweedie's denoiser.

    The step ε: by default, as in the reference code, ‖z‖ and ‖s‖ are each averaged over the
    batch, so one ε serves the whole batch (a sample then depends on its batch-mates through ε).
    With ``per_sample_step=True`` every sample gets its own ε from its own norms and is
    independent of the others, but ε then depends on the state: the corrector's Langevin
    limit targets p_σ(x)·‖s(x, σ)‖² instead of p_σ(x). In high dimension ‖s‖ concentrates
    and the two agree; in low dimension (2-D toys) the per-sample rule drives samples away
    from the modes and its huge steps where s ≈ 0 blow them up: use the default there.
    A sample (or batch) whose score norm is exactly zero is not moved by the corrector.

    NFE = len(sigmas)·(n_corrector + 1). One trajectory frame / callback per level.
    """
    sigmas = _schedule(sigmas, "predictor_corrector", ends_at_zero=False)
    if snr < 0 or n_corrector < 0:
        raise ValueError("predictor_corrector: need snr >= 0 and n_corrector >= 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory,
                     name="predictor_corrector")
    x = x.detach()
    for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:] + [0.0])):
        for _ in range(n_corrector):
            x = langevin_corrector(run, x, sigma, snr, generator, per_sample_step)
        var = sigma**2 - sigma_next**2
        x = x + var * run.score(x, sigma)
        if sigma_next > 0:
            x = x + var**0.5 * gaussian_like(x, generator)
        x = x.detach()
        run.step_done(i, x, sigma_next)
        run.check(x, f"blew up at sigma={sigma:.4g}; lower snr")
    return run.finish(x, return_info)


def langevin_corrector(run: SamplerRun, x, sigma: float, snr: float, generator=None,
                       per_sample_step: bool = False, alpha: float = 1.0):
    """One corrector step of Song et al. 2021 (Algorithms 4–5): x ← x + ε·s(x, σ) + √(2ε)·z,
    ε = 2α·(snr·‖z‖/‖s(x, σ)‖)², norms over every dimension but the batch, averaged over the
    batch unless ``per_sample_step`` (see :func:`predictor_corrector`); α = 1 for VE, the
    step's 1 − β_i for VP. One NFE; a zero score norm leaves the sample where it is."""
    s = run.score(x, sigma)
    z = gaussian_like(x, generator)
    s_norm = sum_except_batch(s.square()).sqrt()
    z_norm = sum_except_batch(z.square()).sqrt()
    if not per_sample_step:
        s_norm, z_norm = s_norm.mean().expand_as(s_norm), z_norm.mean().expand_as(z_norm)
    eps = torch.where(s_norm > 0, 2 * alpha * (snr * z_norm / s_norm) ** 2, torch.zeros_like(s_norm))
    eps = broadcast_like(eps, x)
    return (x + eps * s + (2 * eps).sqrt() * z).detach()
