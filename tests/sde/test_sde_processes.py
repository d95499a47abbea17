"""The SDEs against their own closed forms: the kernel x_t = s(t)(x₀ + σ̃(t)z) is what the
drift f and diffusion g produce (σ²' = 2fσ² + g², s' = f·s, checked by autograd and by
simulating the forward SDE), the map t ↔ σ̃ is a bijection, a Gaussian mixture's marginal is
the closed-form mixture at every t, and the probability-flow log-likelihood with each SDE's
own prior equals the analytic log-density."""
import math

import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.evaluation import sde_log_likelihood
from scorelab.sde import VE, VP, SubVP, make_sde

SDES = {"ve": VE(0.01, 50.0), "vp": VP(), "vp-cosine": VP(schedule="cosine"), "subvp": SubVP(),
        "subvp-cosine": SubVP(schedule="cosine")}
# Mean zero, so that the VP prior N(0, I) is p_T up to O(s(T)²) (a few 1e-5 here).
GM = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5]]), torch.tensor([0.5, 0.5]),
                     stds=torch.tensor([0.3, 0.3]))


def _times(sde, n=7):
    return torch.linspace(sde.t_min + 0.01 * (sde.T - sde.t_min), sde.T, n, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(SDES))
def test_drift_and_diffusion_produce_the_kernel(name):
    sde = SDES[name]
    t = _times(sde).requires_grad_(True)
    var, log_s = sde.std(t) ** 2, torch.log(sde.mean_scale(t))
    dvar = torch.autograd.grad(var.sum(), t)[0]
    dlog_s = torch.autograd.grad(log_s.sum(), t)[0] if log_s.requires_grad else torch.zeros_like(t)  # VE: s = 1
    f, g = sde.drift_coefficient(t).detach(), sde.diffusion(t).detach()
    assert torch.allclose(dvar, 2 * f * var.detach() + g**2, rtol=1e-9, atol=1e-12)  # σ²' = 2fσ² + g²
    assert torch.allclose(dlog_s, f, atol=1e-12)  # s' = f·s


@pytest.mark.parametrize("name", sorted(SDES))
def test_time_and_sigma_tilde_are_inverse_maps(name):
    sde = SDES[name]
    t = torch.linspace(sde.t_min, sde.T, 50, dtype=torch.float64)
    sig = sde.sigma_tilde(t)
    assert bool((sig[1:] > sig[:-1]).all())
    assert torch.allclose(sde.t_of_sigma_tilde(sig), t, rtol=1e-9, atol=1e-12)
    lo, hi = sde.sigma_range
    rebuilt = make_sde(name.split("-")[0], lo, hi, "cosine" if "cosine" in name else "linear")
    assert rebuilt.sigma_range == pytest.approx((lo, hi), rel=1e-9)


def test_the_variance_preserving_families():
    t = torch.linspace(0.01, 1, 20, dtype=torch.float64)
    vp, sub = VP(), SubVP()
    assert torch.allclose(vp.mean_scale(t) ** 2 + vp.std(t) ** 2, torch.ones_like(t))  # VP: unit variance
    assert bool((sub.std(t) < vp.std(t)).all())  # sub-VP's variance is below VP's
    # The linear schedule at t = i/N is DDPM's ᾱ_i = Π(1 − β_j), β_j = β(j/N)/N, as N → ∞.
    n = 4000
    betas = vp.beta(torch.arange(1, n + 1, dtype=torch.float64) / n) / n
    assert torch.allclose(torch.cumprod(1 - betas, 0)[n // 2 - 1], vp.alpha_bar(0.5), rtol=1e-2)


@pytest.mark.parametrize("name", ["ve", "vp", "subvp-cosine"])
def test_simulated_forward_sde_has_the_closed_form_mixture_marginal(name):
    # Euler–Maruyama on dx = f x dt + g dw from mixture samples; at t the sample mean,
    # covariance and the mixture's log-likelihood agree with sde.marginal(GM, t) within SE.
    sde, n, steps = SDES[name], 4000, 400
    g = torch.Generator().manual_seed(0)
    x = GM.sample(n, g).double()
    t_end = sde.t_min + 0.5 * (sde.T - sde.t_min)
    ts = torch.linspace(0.0, t_end, steps + 1, dtype=torch.float64).tolist()
    for t, t_next in zip(ts[:-1], ts[1:]):
        dt = t_next - t
        x = x + sde.drift(x, t) * dt + float(sde.diffusion(t)) * math.sqrt(dt) * torch.randn(x.shape, generator=g, dtype=x.dtype)
    if name == "ve":  # Song et al.'s VE kernel is σ(t) itself: x₀ stands for the data at σ_min
        marginal = GaussianMixture(GM.means, GM.weights, covariances=GM.covariances + (
            float(sde.std(t_end)) ** 2 - float(sde.std(0)) ** 2) * torch.eye(2))
    else:
        marginal = sde.marginal(GM, t_end)
    mean, cov = marginal.mean().double(), marginal.covariance().double()
    for i in range(2):
        ok, msg = within_se(x[:, i], mean[i].item())
        assert ok, f"mean[{i}]: {msg}"
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        ok, msg = within_se((x[:, i] - mean[i]) * (x[:, j] - mean[j]), cov[i, j].item())
        assert ok, f"cov[{i},{j}]: {msg}"
    # A sharper check than the moments: the density itself. E_{p_t}[log p_t] from exact samples.
    truth = marginal.log_prob(marginal.sample(20000, g).double())
    ok, msg = within_se(marginal.log_prob(x) - truth.mean(), 0.0)
    assert ok, msg


@pytest.mark.parametrize("name", sorted(SDES))
def test_marginal_score_is_the_contract_at_sigma_tilde(name):
    # ∇log p_t(x) = score(x/s, σ̃)/s: the closed-form marginal mixture agrees, density and score.
    sde = SDES[name]
    x = 3 * torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for t in _times(sde, 4).tolist():
        s, sig = float(sde.mean_scale(t)), float(sde.sigma_tilde(t))
        marginal = sde.marginal(GM, t)
        assert torch.allclose(marginal.log_prob(x), GM.log_prob(x / s, sig) - 2 * math.log(s), atol=1e-4)
        assert torch.allclose(marginal.score(x), sde.score(GM.score, x, t), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["ve", "vp", "vp-cosine", "subvp"])
def test_probability_flow_log_likelihood_is_the_analytic_density(name):
    sde = SDES[name] if name != "ve" else VE(0.01, 1000.0)  # VE's prior N(0, σ_max²) needs σ_max ≫ data
    x = GM.sample(100, torch.Generator().manual_seed(2)).double()
    log_p = sde_log_likelihood(GM.score, x, sde, exact_trace=True, rtol=1e-7, atol=1e-7)
    # Measured: 9e-6 (VE), 2e-4 (VP, sub-VP: the prior N(0, I) against p_T).
    assert (log_p - GM.log_prob(x, sde.sigma_range[0])).abs().max() < 1e-3
