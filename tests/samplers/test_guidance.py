"""Guidance against closed forms.

Truth: for a Gaussian mixture whose components are the classes, the exact conditional score is
the component's score and the exact posterior p_σ(k | x) is closed form at every σ
(``GaussianMixture.component``, ``log_posterior``). Classifier guidance with that posterior at
scale 1 is Bayes' rule: the conditional score, pointwise and in samples. Classifier-free
guidance with exact scores is the score of p(x | y)^(1+w) p(x)^(−w); for Gaussian p(x | y) and
p(x) that density is Gaussian, and unadjusted Langevin's stationary law for a Gaussian target is
known exactly, so the guided samples are checked against a closed form.
"""
import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.evaluation import energy_distance
from scorelab.nn import NULL_LABEL
from scorelab.samplers import (classifier_free_guidance, classifier_guidance, conditional_score, heun,
                               karras_sigmas, langevin)

GM = GaussianMixture(torch.tensor([[-3.0, 0.0], [3.0, 1.0], [0.0, 4.0]]), torch.tensor([0.5, 0.3, 0.2]),
                     stds=torch.tensor([0.6, 0.8, 1.0]))


def exact_labelled(gm):
    """s(x, σ | y) of ``gm``'s components, and the mixture's score where y is the null class."""
    comps = [gm.component(k) for k in range(gm.n_components)]

    def score(x, sigma, y):
        out = gm.score(x, sigma)
        for k, comp in enumerate(comps):
            rows = y == k
            if rows.any():
                out[rows] = comp.score(x[rows], torch.as_tensor(sigma).expand(len(x))[rows])
        return out
    return score


@pytest.mark.parametrize("sigma", [0.0, 0.3, 2.0, 20.0])
def test_classifier_guidance_with_the_exact_posterior_is_the_conditional_score(sigma):
    x = 6 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    sig = torch.full((500,), sigma)
    for k in range(3):
        guided = classifier_guidance(GM.score, GM.log_posterior, k, scale=1.0)(x, sig)
        torch.testing.assert_close(guided, GM.component(k).score(x, sig), rtol=1e-4, atol=1e-4)
    # scale 0 is the unconditional score: the guidance is what moves it
    torch.testing.assert_close(classifier_guidance(GM.score, GM.log_posterior, 1, scale=0.0)(x, sig), GM.score(x, sig))


def _sample(score_fn, n, seed):
    x0 = 80 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return heun(score_fn, x0, karras_sigmas(40, 0.002, 80.0, append_zero=True))


def test_classifier_guided_samples_reach_the_energy_distance_floor_of_the_component():
    g = torch.Generator().manual_seed(5)
    comp = GM.component(2)  # the lightest component: unconditional samples are far from it
    floor = sum(energy_distance(comp.sample(1500, g), comp.sample(1500, g)) for _ in range(5)) / 5
    guided = _sample(classifier_guidance(GM.score, GM.log_posterior, 2), 1500, seed=1)
    assert energy_distance(guided, comp.sample(1500, g)) < 3 * floor
    plain = _sample(GM.score, 1500, seed=1)
    assert energy_distance(plain, comp.sample(1500, g)) > 30 * floor


def test_conditional_score_and_zero_weight_guidance_are_the_component_score():
    x, sig = torch.randn(200, 2), torch.full((200,), 0.5)
    labelled = exact_labelled(GM)
    for k in range(3):
        want = GM.component(k).score(x, sig)
        torch.testing.assert_close(conditional_score(labelled, k)(x, sig), want)
        torch.testing.assert_close(classifier_free_guidance(labelled, k, 0.0)(x, sig), want)
    torch.testing.assert_close(conditional_score(labelled, None)(x, sig), GM.score(x, sig))


@pytest.mark.parametrize("w", [0.5, 2.0])
def test_classifier_free_guidance_is_the_score_of_the_tilted_density(w):
    """s_w = ∇ log [p(x | y)^(1+w) p(x)^(−w)] pointwise, at any σ (autograd of the log-densities)."""
    x = 4 * torch.randn(300, 2, generator=torch.Generator().manual_seed(3))
    sig = torch.full((300,), 0.7)
    xi = x.clone().requires_grad_(True)
    log_tilted = (1 + w) * GM.component(0).log_prob(xi, sig) - w * GM.log_prob(xi, sig)
    (want,) = torch.autograd.grad(log_tilted.sum(), xi)
    torch.testing.assert_close(classifier_free_guidance(exact_labelled(GM), 0, w)(x, sig), want,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_classifier_free_guided_langevin_samples_the_tilted_gaussian(w):
    """p(x | y) = N(μ, v₁I), p(x) = N(0, v₀I): the tilted density is N(m, I/λ) with
    λ = (1+w)/v₁ − w/v₀ and m = (1+w)μ/(v₁λ). Langevin x ← x + (ε/2)s + √ε z on it has the
    stationary law N(m, I/(λ(1 − ελ/4))) exactly (a linear recursion), which the samples match."""
    mu, v1, v0 = torch.tensor([2.0, -1.0]), 0.5, 4.0
    cond, uncond = GaussianMixture(mu[None], [1.0], stds=v1**0.5), GaussianMixture(torch.zeros(1, 2), [1.0], stds=v0**0.5)

    def labelled(x, sigma, y):
        return torch.where((y == NULL_LABEL)[:, None], uncond.score(x, sigma), cond.score(x, sigma))
    lam = (1 + w) / v1 - w / v0
    m = (1 + w) * mu / (v1 * lam)
    eps = 0.2 / lam
    var = 1 / (lam * (1 - eps * lam / 4))
    n = 20000
    x0 = torch.randn(n, 2, generator=torch.Generator().manual_seed(7))
    x = langevin(classifier_free_guidance(labelled, 0, w), x0, eps, 400, generator=torch.Generator().manual_seed(8))
    for i in range(2):
        ok, msg = within_se(x[:, i], float(m[i]))
        assert ok, f"w={w} mean[{i}]: {msg}"
        ok, msg = within_se((x[:, i] - m[i]) ** 2, var)
        assert ok, f"w={w} variance[{i}]: {msg}"


def test_guidance_refuses_negative_strength():
    with pytest.raises(ValueError, match="w must be >= 0"):
        classifier_free_guidance(exact_labelled(GM), 0, -1.0)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        classifier_guidance(GM.score, GM.log_posterior, 0, -0.5)
