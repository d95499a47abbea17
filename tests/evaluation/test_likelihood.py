"""Log-likelihoods through the probability-flow ODE against a mixture's exact log-density,
Hutchinson against the exact trace, and bits/dim against closed forms."""
import math

import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.evaluation.likelihood import bits_per_dim, ode_log_likelihood
from scorelab.nn import ScoreMLP

GM = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.5], [0.0, 3.0]]), torch.tensor([0.5, 0.3, 0.2]),
                     stds=torch.tensor([0.4, 0.7, 1.0]))
SIGMA_MIN, SIGMA_MAX = 0.01, 100.0


@pytest.fixture(scope="module")
def points_and_exact():
    x = GM.sample(200, torch.Generator().manual_seed(0)).double()
    ll, info = ode_log_likelihood(GM.score, x, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
                                  exact_trace=True, return_info=True)
    return x, ll, info


def test_exact_trace_matches_the_mixture_log_density(points_and_exact):
    x, ll, info = points_and_exact
    truth = GM.log_prob(x, SIGMA_MIN)
    # Measured 0.007 nats: the prior N(0, σ_max²I) stands in for p_{σ_max}, an error of
    # order |mean|/σ_max ≈ 0.01 per point (0.014 at σ_max = 50, 0.0035 at 200).
    assert (ll - truth).abs().mean() < 0.02
    # With the true p_{σ_max} at the trajectory's end, only the ODE tolerance remains.
    through_true_prior = info["delta_log_prob"] + GM.log_prob(info["x_sigma_max"], SIGMA_MAX)
    assert (through_true_prior - truth).abs().max() < 1e-3
    assert info["nfe"] > 10 and ll.shape == (200,) and not ll.requires_grad


def test_hutchinson_is_unbiased_for_each_point(points_and_exact):
    x, exact, _ = points_and_exact
    hutch = ode_log_likelihood(GM.score, x, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
                               n_probes=4, generator=torch.Generator().manual_seed(1))
    diff = hutch - exact
    assert diff.std() > 1e-3  # it is an estimate, not the exact trace
    ok, msg = within_se(diff, 0.0)
    assert ok, msg


def test_hutchinson_matches_the_exact_trace_in_64_dimensions():
    # A small fixed random network on 8×8 "images"; one point repeated 256 times, each copy
    # with its own 8 Rademacher probes: 256 independent Hutchinson estimates of one quantity.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = ScoreMLP(64, width=32, depth=2, noise_conditional=True).double()
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    kw = dict(sigma_min=0.1, sigma_max=10.0, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # the likelihood must still get its divergence by autograd
        exact, info = ode_log_likelihood(net, x, exact_trace=True, return_info=True, **kw)
        hutch = ode_log_likelihood(net, x.expand(256, 1, 8, 8), n_probes=8,
                                   generator=torch.Generator().manual_seed(3), **kw)
    # Measured: the divergence integral is ≈ 1.05 nats and the SE of the mean ≈ 0.1.
    assert hutch.std() > 1e-3
    ok, msg = within_se(hutch, exact.item())
    assert ok, msg
    # The divergence is resolved: ignoring it (a zero divergence) would be rejected.
    ok_without, _ = within_se(hutch, exact.item() - info["delta_log_prob"].item())
    assert not ok_without


def test_likelihood_of_a_gaussian_at_any_dimension_shape():
    # N(0, v I) data: p_σ = N(0, (v + σ²) I) and the ODE is linear, for images too.
    v = 0.25

    def score(x, sigma):
        return -x / (v + sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2)

    x = torch.randn(5, 2, 3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ll = ode_log_likelihood(score, x, sigma_min=0.05, sigma_max=50.0, exact_trace=True)
    s2 = v + 0.05**2
    truth = -0.5 * (x.square().flatten(1).sum(1) / s2 + 18 * math.log(2 * math.pi * s2))
    # The prior is exact up to the variance v/σ_max² ~ 1e-4 per dimension.
    assert torch.allclose(ll, truth, atol=5e-3)


def test_likelihood_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ode_log_likelihood(GM.score, torch.zeros(2, 2), sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError):
        ode_log_likelihood(GM.score, torch.zeros(2, 2), sigma_min=0.1, sigma_max=1.0, n_probes=0)


# ---------------------------------------------------------------- bits per dimension
def test_bits_per_dim_of_a_uniform_density_is_log2_levels_whatever_the_scale():
    # A uniform density on the data cube [0, 1]^d, seen through x_n = (x − 0.5)/scale:
    # p_n = scale^d on its cube, so log p_n = d·log(scale). The bound is then log₂(levels)
    # exactly, as every cell gets probability levels^{−d}.
    d = 64
    for scale in (1.0, 0.5, 2.0):
        ll = torch.full((3,), d * math.log(scale))
        assert torch.allclose(bits_per_dim(ll, d, scale=scale, dequantize_levels=256), torch.tensor(8.0))
        assert torch.allclose(bits_per_dim(ll, d, scale=scale), torch.tensor(0.0), atol=1e-6)
    assert bits_per_dim(-d * math.log(2), d) == pytest.approx(1.0)


def test_dequantised_bits_per_dim_bounds_the_discrete_likelihood():
    # 1-D model N(0.4, 0.15²) in [0, 1] units, fit on x_n = (x − 0.5)/0.25; 17 levels.
    levels, mu, sd, scale = 17, 0.4, 0.15, 0.25
    k = torch.arange(levels, dtype=torch.float64)

    def cdf(t):
        return 0.5 * (1 + torch.erf((t - mu) / (sd * math.sqrt(2))))

    log_p_discrete = torch.log(cdf((k + 1) / levels) - cdf(k / levels))  # P(k), exactly
    u = torch.rand(20000, levels, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x = (k + u) / levels
    x_n = (x - 0.5) / scale
    log_p_n = -0.5 * ((x_n - (mu - 0.5) / scale) / (sd / scale)) ** 2 - math.log(sd / scale * math.sqrt(2 * math.pi))
    bound = bits_per_dim(log_p_n, 1, scale=scale, dequantize_levels=levels).mean(0)  # E_u, per k
    exact = -log_p_discrete / math.log(2)
    assert (bound >= exact - 1e-3).all()  # Jensen: the bound is above the discrete bits
    assert (bound - exact)[6:11].max() < 0.05  # and tight where the density is smooth


def test_bits_per_dim_rejects_bad_arguments():
    with pytest.raises(ValueError):
        bits_per_dim(0.0, 0)
    with pytest.raises(ValueError):
        bits_per_dim(0.0, 2, scale=0.0)
    with pytest.raises(ValueError):
        bits_per_dim(0.0, 2, dequantize_levels=1)


def test_binary_images_dequantise_with_two_levels():
    # 0/1 pixels are multiples of 1/2: two levels, the smallest that bits_per_dim accepts
    # (it used to return 1, and evaluate() then failed on binary image sets).
    from scorelab.evaluation import quantisation_levels
    x = (torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    assert quantisation_levels(x) == 2
    assert quantisation_levels(torch.full((5,), 3.0)) == 2
