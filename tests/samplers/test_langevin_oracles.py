"""Langevin dynamics, annealed Langevin and MALA against closed forms: moments, mixture
weights and the denoiser. (What every sampler must do whatever its target, shapes, seeds,
NFE, callbacks, edges, is in test_contract.py.)"""
import math

import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture, get_toy
from scorelab.evaluation.metrics import mode_fractions
from scorelab.samplers import annealed_langevin, geometric_sigmas, langevin, mala, tweedie_denoise


def gaussian_score(mean, var):
    return lambda x, sigma: -(x - mean) / var


def test_langevin_reproduces_a_gaussian_with_its_known_discretisation_bias():
    mean, var, eps = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0]), 0.05
    g = torch.Generator().manual_seed(0)
    x = langevin(gaussian_score(mean, var), torch.zeros(20000, 2), eps, 800, generator=g)
    # Unadjusted Langevin on N(m, v) is an AR(1) chain with stationary variance v/(1 − ε/(4v)).
    stationary_var = var / (1 - eps / (4 * var))
    for j in range(2):
        ok, msg = within_se(x[:, j], mean[j].item())
        assert ok, msg
        centred = (x[:, j] - mean[j]) ** 2
        ok, msg = within_se(centred, stationary_var[j].item())
        assert ok, msg


def log_gamma_density(k):
    """x = log y, y ~ Gamma(k, 1): p(x) ∝ exp(kx − eˣ); mean ψ(k), variance ψ'(k). Skewed."""
    return lambda x, sigma: (k * x - torch.exp(x)).sum(-1)


def test_mala_is_exact_on_a_skewed_target_where_langevin_is_biased():
    k, eps, n = 2.0, 0.8, 20000
    true_mean = torch.special.digamma(torch.tensor(k)).item()
    true_var = torch.special.polygamma(1, torch.tensor(k)).item()
    logp = log_gamma_density(k)

    def score(x, sigma):
        return k - torch.exp(x)

    x0 = torch.zeros(n, 1)
    y, info = mala(logp, x0, eps, 300, generator=torch.Generator().manual_seed(1), return_info=True)
    assert 0.3 < info.acceptance_rate < 0.99
    assert info.nfe == 301
    ok, msg = within_se(y[:, 0], true_mean)
    assert ok, msg
    ok, msg = within_se((y[:, 0] - true_mean) ** 2, true_var)
    assert ok, msg
    z = langevin(score, x0, eps, 300, generator=torch.Generator().manual_seed(1))
    biased_mean, _ = within_se(z[:, 0], true_mean, k=10)
    biased_var, _ = within_se((z[:, 0] - true_mean) ** 2, true_var, k=10)
    assert not (biased_mean and biased_var), "unadjusted Langevin at this step should be visibly biased"


def _uniform_box(n, seed, half=8.0):
    """n points uniform on the box [−half, half]²."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, generator=g) * 2 - 1) * half


def _binomial_se(p, n):
    return math.sqrt(p * (1 - p) / n)


def test_lecture_claim_plain_langevin_keeps_the_initial_split():
    toy = get_toy("lecture")
    n, half = 4000, 8.0
    x = langevin(toy.score, _uniform_box(n, 0, half), 0.1, 1000, generator=torch.Generator().manual_seed(0))
    frac = mode_fractions(x, toy.means)[0].item()
    # The chains stay in the basin they start in: the weight of the mode (5, 5) becomes the
    # share of the uniform box on its side of the posterior boundary 0.8·e^{10(x+y)} =
    # 0.2·e^{−10(x+y)}, i.e. x + y = c = −log(4)/20, which is 1/2 − c/(2·half) (not the weight
    # 0.8). The bound: 4 binomial standard errors of the n samples.
    split = 0.5 + math.log(4) / (40 * half)
    assert abs(frac - split) < 4 * _binomial_se(split, n), (frac, split)


def test_lecture_claim_annealed_langevin_recovers_the_weights():
    toy = get_toy("lecture")
    n = 4000
    # 17 levels from 20 to 1 and ε = 0.35·σ_L² (the library's default rule, samplers.named):
    # the sampler's own bias is then -0.003 ± 0.003 (24 000 samples over 6 seeds), far below
    # one run's binomial standard error (0.006). (With 10 levels it is -0.020 ± 0.002.)
    sigmas = geometric_sigmas(20.0, 1.0, 17)
    x = annealed_langevin(toy.score, _uniform_box(n, 1), sigmas, 0.35, 100,
                          generator=torch.Generator().manual_seed(1))
    frac = mode_fractions(x, toy.means)[0].item()
    assert abs(frac - 0.8) < 4 * _binomial_se(0.8, n), frac  # 4 binomial standard errors


def test_annealed_langevin_with_exact_score_matches_mixture_moments():
    gm = GaussianMixture(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), torch.tensor([0.6, 0.4]),
                         stds=torch.tensor([0.5, 1.0]))
    x = annealed_langevin(gm.score, 10 * torch.randn(6000, 2, generator=torch.Generator().manual_seed(2)),
                          geometric_sigmas(10.0, 0.1, 20), 0.5 * 0.1**2, 100,
                          generator=torch.Generator().manual_seed(3)).double()
    # Each moment within 4 of its own standard errors (i.i.d. chains): the mean's are ~0.02,
    # the covariance entries' ~0.02-0.04.
    mean, cov = gm.mean().double(), gm.covariance().double()
    for i in range(2):
        ok, msg = within_se(x[:, i], mean[i].item())
        assert ok, f"mean[{i}]: {msg}"
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        ok, msg = within_se((x[:, i] - mean[i]) * (x[:, j] - mean[j]), cov[i, j].item())
        assert ok, f"cov[{i},{j}]: {msg}"


def test_tweedie_denoise_is_the_posterior_mean_for_a_gaussian():
    # x₀ ~ N(0, I), x = x₀ + σz: E[x₀ | x] = x/(1 + σ²).
    x = torch.randn(10, 3)
    sigma = 0.7
    out = tweedie_denoise(lambda y, s: -y / (1 + s[:, None] ** 2), x, sigma)
    assert torch.allclose(out, x / (1 + sigma**2), atol=1e-6)
