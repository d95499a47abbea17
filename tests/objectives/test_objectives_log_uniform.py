"""Log-uniform (continuous-σ) denoising score matching against closed forms and quadrature."""
import math

import numpy as np
import pytest
import torch

from conftest import standard_normal_score, within_se
from scorelab.objectives import log_uniform_denoising_score_matching

SIGMA_MIN, SIGMA_MAX = 0.05, 20.0


def _log_uniform_mean(f, sigma_min, sigma_max, nodes=200):
    """E[f(σ)] for log σ ~ U[log σ_min, log σ_max], by Gauss–Legendre quadrature in log σ."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    a, b = math.log(sigma_min), math.log(sigma_max)
    sigma = np.exp(0.5 * (b - a) * t + 0.5 * (b + a))
    return float(0.5 * np.sum(w * f(sigma)))  # ∫ f dt/(b − a) with dt = (b − a)/2 · dt'


def _draws(score_fn, shape, sigma_min, sigma_max, seed, n_batches=100, batch=2000):
    """``n_batches`` losses, each on ``batch`` fresh N(0, I) points of ``shape``."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([
        log_uniform_denoising_score_matching(
            score_fn, torch.randn(batch, *shape, generator=g, dtype=torch.float64),
            sigma_min, sigma_max, generator=g)
        for _ in range(n_batches)])


def test_quadrature_matches_the_closed_form():
    # ∫ dt/(1 + e^{2t}) = t − ½ log(1 + e^{2t}): a check of the oracle itself.
    a, b = math.log(SIGMA_MIN), math.log(SIGMA_MAX)
    antiderivative = lambda t: t - 0.5 * math.log1p(math.exp(2 * t))  # noqa: E731
    closed = (antiderivative(b) - antiderivative(a)) / (b - a)
    assert abs(_log_uniform_mean(lambda s: 1 / (1 + s**2), SIGMA_MIN, SIGMA_MAX) - closed) < 1e-10


@pytest.mark.parametrize("d", [1, 3])
def test_optimum_for_standard_normal_is_the_log_uniform_mean(d):
    draws = _draws(standard_normal_score, (d,), SIGMA_MIN, SIGMA_MAX, seed=d)
    expected = _log_uniform_mean(lambda s: d / (2 * (1 + s**2)), SIGMA_MIN, SIGMA_MAX)
    ok, msg = within_se(draws, expected)
    assert ok, msg


def test_image_shaped_data():
    draws = _draws(standard_normal_score, (1, 4, 4), SIGMA_MIN, SIGMA_MAX, seed=7, n_batches=50, batch=200)
    expected = _log_uniform_mean(lambda s: 16 / (2 * (1 + s**2)), SIGMA_MIN, SIGMA_MAX)
    ok, msg = within_se(draws, expected)
    assert ok, msg


def test_a_single_sigma_is_sigma_squared_weighted_dsm():
    # σ_min = σ_max = σ: the minimum is σ²·d/(2σ²(1 + σ²)) = d/(2(1 + σ²)).
    draws = _draws(standard_normal_score, (2,), 0.7, 0.7, seed=8)
    ok, msg = within_se(draws, 2 / (2 * (1 + 0.7**2)))
    assert ok, msg


def test_excess_of_a_wrong_score_is_the_sigma_squared_weighted_fisher_divergence():
    # s = −x̃ instead of −x̃/(1 + σ²): the error is −σ²x̃/(1 + σ²), E‖x̃‖² = d(1 + σ²), so
    # the excess is ½·σ²·σ⁴·d/(1 + σ²) averaged over log-uniform σ. Same seeds: same σ, z.
    d, lo, hi = 2, 0.05, 2.0
    best = _draws(standard_normal_score, (d,), lo, hi, seed=9)
    worse = _draws(lambda y, s: -y, (d,), lo, hi, seed=9)
    expected = _log_uniform_mean(lambda s: 0.5 * d * s**6 / (1 + s**2), lo, hi)
    ok, msg = within_se(worse - best, expected)
    assert ok, msg


def test_sigma_is_log_uniform_in_the_range_and_reproducible():
    seen = []

    def record(x, sigma):
        seen.append(sigma)
        return torch.zeros_like(x)

    x = torch.zeros(20000, 1, dtype=torch.float64)
    log_uniform_denoising_score_matching(record, x, SIGMA_MIN, SIGMA_MAX,
                                         generator=torch.Generator().manual_seed(0))
    sigma = seen[0]
    assert sigma.shape == (20000,)
    assert sigma.min() >= SIGMA_MIN and sigma.max() <= SIGMA_MAX
    u = (sigma.log() - math.log(SIGMA_MIN)) / math.log(SIGMA_MAX / SIGMA_MIN)
    ok, msg = within_se(u, 0.5)  # U[0, 1]: mean ½ ...
    assert ok, msg
    ok, msg = within_se((u - 0.5) ** 2, 1 / 12)  # ... and variance 1/12
    assert ok, msg
    again = log_uniform_denoising_score_matching(standard_normal_score, x + 1, SIGMA_MIN, SIGMA_MAX,
                                                 generator=torch.Generator().manual_seed(0))
    once = log_uniform_denoising_score_matching(standard_normal_score, x + 1, SIGMA_MIN, SIGMA_MAX,
                                                generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, once)


@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bad_ranges_are_rejected(lo, hi):
    with pytest.raises(ValueError, match="sigma_min"):
        log_uniform_denoising_score_matching(standard_normal_score, torch.randn(4, 2), lo, hi)


def test_noise_sigma_sampling_log_uniform_trains_with_it():
    from scorelab import ScoreModel
    from scorelab.nn import ScoreMLP
    from scorelab.training.config import make_config
    from scorelab.training.setup import make_objective

    net = ScoreMLP(2, width=16, depth=2, noise_conditional=True)
    sigmas = torch.tensor([4.0, 1.0, 0.25, 0.0625])
    x = torch.randn(64, 2)
    direct = log_uniform_denoising_score_matching(net, x, 0.0625, 4.0, generator=torch.Generator().manual_seed(7))
    for mode in ("log-uniform", "levels"):
        loss = make_objective(make_config(sigma_sampling=mode), sigmas, net)(x, torch.Generator().manual_seed(7))
        # log-uniform: exactly the continuous objective; levels (the default): NCSN's, not it.
        assert torch.equal(loss, direct) == (mode == "log-uniform")
    model = ScoreModel(steps=30, width=16, depth=2, sigma_sampling="log-uniform").fit(torch.randn(200, 2))
    assert model.run_.cfg.sigma_sampling == "log-uniform"  # the fitted run was configured with it
    assert torch.isfinite(model.sample(20, random_state=0, sampler="heun", steps=5)).all()
