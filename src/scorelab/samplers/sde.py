"""Samplers of the SDE view (Song et al. 2021; Ho et al. 2020; Song, Meng & Ermon 2021):
Euler–Maruyama and predictor–corrector on the reverse SDE of any :class:`~scorelab.sde.SDE`,
Heun on its probability-flow ODE in t,
DDPM's ancestral sampler and DDIM, all on the contract ``score_fn(x, sigma)``.

``euler_maruyama``, ``probability_flow`` and ``sde_predictor_corrector`` move x in the SDE's own coordinates
(x_T ~ the prior, ``sde.prior_sample``) on descending times ``ts`` and call the contract at
σ̃(t) on x/s(t) (``SDE.score``). ``ddpm`` and ``ddim`` need no SDE object: on DDPM's
x_t = √ᾱ_t(x₀ + σ̃_t z), ᾱ_t = 1/(1 + σ̃_t²), they are functions of the σ̃ schedule alone, so
they take ``sigmas`` (descending, ending in 0, like the ODE samplers) and x in the contract's
coordinates x̃ = x_t/√ᾱ_t (start from ``sqrt(1 + σ̃_max²)·randn`` for DDPM's x_T ~ N(0, I)).
Every sampler ends with Tweedie's denoiser at the last level. NFE: one per score call.
"""
import math

import torch

from ..core import gaussian_like
from ._base import SamplerRun, tweedie_denoise
from .ode import _schedule, langevin_corrector


def sde_times(sde, n: int) -> torch.Tensor:
    """n uniformly spaced times from T down to t_min (DDPM's discretisation of t), float64."""
    if n < 1:
        raise ValueError("sde_times: need n >= 1")
    return torch.linspace(sde.T, sde.t_min, n, dtype=torch.float64) if n > 1 else \
        torch.tensor([sde.T], dtype=torch.float64)


def sde_sigmas(sde, n: int) -> torch.Tensor:
    """σ̃ at :func:`sde_times` (n levels) with 0 appended: ``ddpm`` and ``ddim``'s schedule."""
    return torch.cat([sde.sigma_tilde(sde_times(sde, n)), torch.zeros(1, dtype=torch.float64)])


def _times(ts, name: str) -> list[float]:
    ts = torch.as_tensor(ts, dtype=torch.float64).flatten()
    if len(ts) < 1 or not bool((ts >= 0).all()) or bool((ts[1:] >= ts[:-1]).any()):
        shown = ts.tolist() if len(ts) <= 6 else [*ts[:3].tolist(), "...", *ts[-3:].tolist()]
        raise ValueError(f"{name}: need non-negative, strictly decreasing times ts, got {shown}")
    return ts.tolist()


def _denoise_at(run: SamplerRun, sde, x, t: float):
    """Tweedie's denoiser at time t: D(x/s(t), σ̃(t)), in data coordinates."""
    return tweedie_denoise(run.score, x / float(sde.mean_scale(t)), float(sde.sigma_tilde(t))).detach()


def euler_maruyama(score_fn, x, sde, ts, *, generator=None, callback=None, trajectory=False,
                   return_info=False):
    """Euler–Maruyama on the reverse-time SDE dx = [f(x, t) − g(t)²∇log p_t(x)] dt + g(t) dw̄
    (Song et al. 2021, eq. 6), from x at ts[0] down the descending times ``ts`` (≥ 0):

        x ← x − (tᵢ − tᵢ₊₁)·[f(x, tᵢ) − g(tᵢ)²∇log p_{tᵢ}(x)] + g(tᵢ)·√(tᵢ − tᵢ₊₁)·z,

    then Tweedie's denoiser at the last time (Song et al.'s final noise removal), which
    returns data coordinates. NFE = len(ts): one per step, one for the denoiser.
    """
    ts = _times(ts, "euler_maruyama")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="euler_maruyama")
    x = x.detach()
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:])):
        x = _em_step(run, sde, x, t, t_next, generator)
        run.step_done(i, x, float(sde.sigma_tilde(t_next)))
        run.check(x, f"blew up at t={t:.4g}; use more steps")
    x = _denoise_at(run, sde, x, ts[-1])
    run.step_done(len(ts) - 1, x, 0.0)
    run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)


def _em_step(run, sde, x, t, t_next, generator):
    """One Euler–Maruyama step of the reverse SDE from t to t_next < t."""
    dt = t - t_next
    drift = sde.reverse_drift(run.score, x, t)
    return (x - dt * drift + float(sde.diffusion(t)) * math.sqrt(dt) * gaussian_like(x, generator)).detach()


def probability_flow(score_fn, x, sde, ts, *, generator=None, callback=None, trajectory=False,
                     return_info=False):
    """Heun's method on the probability-flow ODE dx/dt = f(x, t) − ½g(t)²∇log p_t(x) of ``sde``
    (Song et al. 2021, eq. 13) in its own time and coordinates, down the descending times ``ts``,
    then Tweedie's denoiser at the last time. NFE = 2·(len(ts) − 1) + 1. Deterministic:
    ``generator`` is accepted for the common signature and not used.

    In x̃ = x/s(t) this ODE is dx̃/dσ̃ = −σ̃·s(x̃, σ̃) for every SDE (Karras et al. 2022, eq. 4),
    so it is a check on the σ̃ samplers (:func:`~scorelab.samplers.heun`, :func:`ddim`).
    """
    ts = _times(ts, "probability_flow")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="probability_flow")
    x = x.detach()
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:])):
        h = t_next - t
        d = sde.probability_flow(run.score, x, t)
        # Euler step, then the trapezoidal correction.
        x_euler = x + h * d
        x = (x + 0.5 * h * (d + sde.probability_flow(run.score, x_euler, t_next))).detach()
        run.step_done(i, x, float(sde.sigma_tilde(t_next)))
        run.check(x, f"blew up at t={t:.4g}; use more steps")
    x = _denoise_at(run, sde, x, ts[-1])
    run.step_done(len(ts) - 1, x, 0.0)
    run.check(x, "the final denoising step diverged")
    return run.finish(x, return_info)


def sde_predictor_corrector(score_fn, x, sde, ts, *, snr: float = 0.16, n_corrector: int = 1,
                            generator=None, callback=None, trajectory=False, return_info=False):
    """Predictor–corrector sampling of the reverse SDE of any ``sde`` (Song et al. 2021,
    Algorithm 1): at each time tᵢ, ``n_corrector`` Langevin corrector steps on p_{tᵢ}, then an
    Euler–Maruyama predictor step to tᵢ₊₁; at the last time, the corrector and Tweedie's
    denoiser.

    The corrector works on x̃ = x/s(t), where it is the VE corrector at σ̃(t) with
    ε = 2α(snr·‖z‖/‖s‖)² (:func:`~scorelab.samplers.ode.langevin_corrector`, norms averaged over
    the batch) and α = s(tᵢ)²/s(tᵢ₊₁)², i.e. 1 for VE and e^{−∫β} ≈ 1 − β_i for VP, as in
    Song et al.'s code. NFE = len(ts)·(n_corrector + 1).
    """
    ts = _times(ts, "sde_predictor_corrector")
    if snr < 0 or n_corrector < 0:
        raise ValueError("sde_predictor_corrector: need snr >= 0 and n_corrector >= 0")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="sde_predictor_corrector")
    x = x.detach()
    for i, (t, t_next) in enumerate(zip(ts, ts[1:] + [None])):
        s, sigma = float(sde.mean_scale(t)), float(sde.sigma_tilde(t))
        alpha = 1.0 if t_next is None else (s / float(sde.mean_scale(t_next))) ** 2
        for _ in range(n_corrector):
            x = s * langevin_corrector(run, x / s, sigma, snr, generator, alpha=alpha)
        if t_next is None:
            x, sigma_next = _denoise_at(run, sde, x, t), 0.0
        else:
            x, sigma_next = _em_step(run, sde, x, t, t_next, generator), float(sde.sigma_tilde(t_next))
        run.step_done(i, x, sigma_next)
        run.check(x, f"blew up at t={t:.4g}; lower snr or use more steps")
    return run.finish(x, return_info)


def ddim(score_fn, x, sigmas, *, eta: float = 0.0, generator=None, callback=None, trajectory=False,
         return_info=False):
    """DDIM (Song, Meng & Ermon 2021, eq. 12) on the σ̃ schedule ``sigmas`` (descending, ending in 0).

    DDIM's x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1 − ᾱ_{t−1} − c_t²)·ε̂ + c_t·z, with
    c_t = η·√((1 − ᾱ_{t−1})/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1}), divided by √ᾱ_{t−1} is, in
    x̃ = x/√ᾱ with x̂₀ = D(x̃, σ̃) and ε̂ = (x̃ − D)/σ̃ = −σ̃·s(x̃, σ̃),

        x̃ ← D + √(σ̃ᵢ₊₁² − c²)·ε̂ + c·z,   c = η·σ̃ᵢ₊₁·√(1 − σ̃ᵢ₊₁²/σ̃ᵢ²),

    which no longer depends on ᾱ: η = 0 is Euler's method on the probability-flow ODE in σ̃
    (Karras et al. 2022, §4; :func:`~scorelab.samplers.euler` gives the same samples), η = 1
    is DDPM's ancestral sampler (:func:`ddpm`). NFE = len(sigmas) − 1 (one per step).
    """
    sigmas = _schedule(sigmas, "ddim", ends_at_zero=True)
    if not 0 <= eta <= 1:
        raise ValueError(f"ddim: eta must lie in [0, 1], got {eta}")
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="ddim")
    x = x.detach()
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        eps_hat = -sigma * run.score(x, sigma)
        denoised = x - sigma * eps_hat
        c = eta * sigma_next * math.sqrt(1 - (sigma_next / sigma) ** 2)
        x = denoised + math.sqrt(max(sigma_next**2 - c**2, 0.0)) * eps_hat
        if c > 0:
            x = x + c * gaussian_like(x, generator)
        x = x.detach()
        run.step_done(i, x, sigma_next)
        run.check(x, "the score is not finite along the trajectory")
    return run.finish(x, return_info)


def ddpm(score_fn, x, sigmas, *, generator=None, callback=None, trajectory=False, return_info=False):
    """DDPM's ancestral sampler (Ho et al. 2020, Algorithm 2, with σ_t² = β̃_t) on the σ̃ schedule
    ``sigmas`` (descending, ending in 0), x in the contract's coordinates x̃ = x_t/√ᾱ_t.

    With ᾱᵢ = 1/(1 + σ̃ᵢ²), αᵢ = ᾱᵢ/ᾱᵢ₊₁, βᵢ = 1 − αᵢ, β̃ᵢ = βᵢ(1 − ᾱᵢ₊₁)/(1 − ᾱᵢ) and
    ε̂ = −σ̃ᵢ·s(x̃, σ̃ᵢ), each step is, on x_t = √ᾱᵢ·x̃,

        x_{t−1} = (x_t − βᵢ/√(1 − ᾱᵢ)·ε̂)/√αᵢ + √β̃ᵢ·z,

    and x̃ ← x_{t−1}/√ᾱᵢ₊₁; the last step (σ̃ = 0, ᾱ = 1) adds no noise and returns x̂₀, Tweedie's
    denoiser. Algebraically this is :func:`ddim` with η = 1 (the same noise gives the same
    samples). NFE = len(sigmas) − 1 (one per step).
    """
    sigmas = _schedule(sigmas, "ddpm", ends_at_zero=True)
    run = SamplerRun(score_fn, x, callback=callback, trajectory=trajectory, name="ddpm")
    x = x.detach()
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        # 1 − ᾱ, β and β̃ written in σ̃ without cancellation.
        abar, abar_next = 1 / (1 + sigma**2), 1 / (1 + sigma_next**2)
        alpha = abar / abar_next
        beta = (sigma**2 - sigma_next**2) * abar
        eps_hat = -sigma * run.score(x, sigma)
        x_t = math.sqrt(abar) * x
        x_prev = (x_t - beta / (sigma * math.sqrt(abar)) * eps_hat) / math.sqrt(alpha)
        if sigma_next > 0:
            var = beta * (sigma_next / sigma) ** 2 * abar_next / abar
            x_prev = x_prev + math.sqrt(var) * gaussian_like(x, generator)
        x = (x_prev / math.sqrt(abar_next)).detach()
        run.step_done(i, x, sigma_next)
        run.check(x, "the score is not finite along the trajectory")
    return run.finish(x, return_info)
