"""Samplers: moments and mixture weights against closed forms, and one contract for all."""
import math

import pytest
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
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, generator=g) * 2 - 1) * half


def test_lecture_claim_plain_langevin_keeps_the_initial_split():
    toy = get_toy("lecture")
    x = langevin(toy.score, _uniform_box(4000, 0), 0.1, 1000, generator=torch.Generator().manual_seed(0))
    frac = mode_fractions(x, toy.means)[0].item()
    assert abs(frac - 0.5) < 0.04, frac  # the initial split, not the weight 0.8


def test_lecture_claim_annealed_langevin_recovers_the_weights():
    toy = get_toy("lecture")
    sigmas = geometric_sigmas(20.0, 1.0, 10)
    x = annealed_langevin(toy.score, _uniform_box(4000, 1), sigmas, 0.1, 100,
                          generator=torch.Generator().manual_seed(1))
    frac = mode_fractions(x, toy.means)[0].item()
    assert abs(frac - 0.8) < 0.04, frac


def test_annealed_langevin_with_exact_score_matches_mixture_moments():
    gm = GaussianMixture(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), torch.tensor([0.6, 0.4]),
                         stds=torch.tensor([0.5, 1.0]))
    x = annealed_langevin(gm.score, 10 * torch.randn(6000, 2, generator=torch.Generator().manual_seed(2)),
                          geometric_sigmas(10.0, 0.1, 20), 0.5 * 0.1**2, 100,
                          generator=torch.Generator().manual_seed(3))
    # Standard errors of the mean are ~0.02: 0.08 is 4 of them.
    assert torch.allclose(x.mean(0), gm.mean().float(), atol=0.08)
    assert torch.allclose(torch.cov(x.T), gm.covariance().float(), atol=0.15)


def test_tweedie_denoise_is_the_posterior_mean_for_a_gaussian():
    # x₀ ~ N(0, I), x = x₀ + σz: E[x₀ | x] = x/(1 + σ²).
    x = torch.randn(10, 3)
    sigma = 0.7
    out = tweedie_denoise(lambda y, s: -y / (1 + s[:, None] ** 2), x, sigma)
    assert torch.allclose(out, x / (1 + sigma**2), atol=1e-6)


# ---------------------------------------------------------------- the contract suite
GM = GaussianMixture(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([0.5, 0.5]),
                     stds=torch.tensor([0.3, 0.3]))

SAMPLERS = {
    "langevin": (lambda x, n, **kw: langevin(GM.score, x, 0.01, n, sigma=kw.pop("sigma", 0.1), **kw),
                 lambda n: n),
    "annealed_langevin": (lambda x, n, **kw: annealed_langevin(
        GM.score, x, 10 * torch.tensor([1.0, 0.1]) * kw.pop("sigma", 0.1), 0.01, n, **kw), lambda n: 2 * n + 1),
    "mala": (lambda x, n, **kw: mala(GM.log_prob, x, 0.01, n, sigma=kw.pop("sigma", 0.1), **kw),
             lambda n: n + 1),
}


@pytest.fixture(params=sorted(SAMPLERS))
def sampler(request):
    return SAMPLERS[request.param]


def test_contract_shape_dtype_and_reproducibility(sampler):
    run, _ = sampler
    for dtype in (torch.float32, torch.float64):
        x0 = torch.randn(64, 2, dtype=dtype)
        a = run(x0, 5, generator=torch.Generator().manual_seed(0))
        b = run(x0, 5, generator=torch.Generator().manual_seed(0))
        c = run(x0, 5, generator=torch.Generator().manual_seed(1))
        assert a.shape == x0.shape and a.dtype == dtype
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        assert not a.requires_grad


def test_contract_nfe_trajectory_and_callback(sampler):
    run, expected_nfe = sampler
    seen = []
    x, info = run(torch.randn(8, 2), 3, generator=torch.Generator().manual_seed(0),
                  return_info=True, trajectory=True, callback=seen.append)
    assert info.nfe == expected_nfe(3)
    assert info.trajectory.shape[1:] == x.shape
    assert torch.equal(info.trajectory[-1], x)
    assert len(seen) == len(info.trajectory) - 1 and seen[-1]["nfe"] <= info.nfe


@pytest.mark.parametrize("sigma", [1e-6, 1e4])
def test_contract_no_nan_with_one_step_and_extreme_sigma(sampler, sigma):
    run, _ = sampler
    x = run(torch.randn(16, 2), 1, sigma=sigma, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()


def test_contract_autograd_stays_usable_for_energy_models(sampler):
    # An energy model's score needs autograd inside the sampler, also under no_grad.
    from scorelab.nn import EnergyMLP, score_from_energy
    energy = EnergyMLP(2, 8, 2)
    score = score_from_energy(energy)
    with torch.no_grad():
        x = langevin(score, torch.randn(8, 2), 0.01, 2)
        y = annealed_langevin(score, torch.randn(8, 2), [1.0, 0.5], 0.01, 2)
        z = mala(lambda v, s: -energy(v, s), torch.randn(8, 2), 0.01, 2)
    assert all(torch.isfinite(t).all() for t in (x, y, z))


def test_samplers_detect_a_blow_up():
    with pytest.raises(FloatingPointError, match="step size"):
        langevin(lambda x, s: x * 1e3, torch.ones(4, 2), 10.0, 200)
    # Annealed Langevin names the level that blew up.
    with pytest.raises(FloatingPointError, match=r"blew up at sigma=1\)"):
        annealed_langevin(lambda x, s: x * 1e3, torch.ones(4, 2), [1.0, 0.5], 10.0, 200)


def test_samplers_reject_bad_arguments():
    with pytest.raises(ValueError):
        langevin(GM.score, torch.zeros(2, 2), -1.0, 3)
    with pytest.raises(ValueError, match="largest to smallest"):
        annealed_langevin(GM.score, torch.zeros(2, 2), [0.1, 1.0], 0.1, 3)
