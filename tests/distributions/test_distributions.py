"""Analytic distributions and toys, checked against closed forms and Monte Carlo error."""
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from scorelab.distributions import (
    LECTURE_MODES,
    TOYS,
    Checkerboard,
    Curve,
    GaussianMixture,
    Rings,
    eight_gaussians,
    get_toy,
    lecture,
)


def random_mixture(kind: str, d: int, k: int = 3, seed: int = 0, spread: float = 2.0) -> GaussianMixture:
    """Modes in [-spread, spread]^d, stds in [0.3, 0.8] (isotropic) or eigenvalues in [0.1, 1] (full)."""
    g = torch.Generator().manual_seed(seed)
    means = spread * (2 * torch.rand(k, d, generator=g, dtype=torch.float64) - 1)
    weights = 0.5 + torch.rand(k, generator=g, dtype=torch.float64)
    if kind == "isotropic":
        return GaussianMixture(means, weights, stds=0.3 + 0.5 * torch.rand(k, generator=g, dtype=torch.float64))
    q, _ = torch.linalg.qr(torch.randn(k, d, d, generator=g, dtype=torch.float64))
    evals = 0.1 + 0.9 * torch.rand(k, d, generator=g, dtype=torch.float64)
    return GaussianMixture(means, weights, covariances=q @ torch.diag_embed(evals) @ q.mT)


def component_covariances(gm: GaussianMixture) -> torch.Tensor:
    """Exact (K, d, d) float64 covariances (for isotropic mixtures ``gm.covariances`` rounds std^2 to float32)."""
    if gm.stds is not None:
        return gm.stds.double().square()[:, None, None] * torch.eye(gm.dim, dtype=torch.float64)
    return gm.covariances.double()


def autograd_score(log_prob, x, sigma):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_prob(x, sigma).sum(), x)
    return grad


def grid_2d(lo: float, hi: float, n: int):
    """Points of an n x n grid on [lo, hi]^2 (float64) and trapezoid weights for them."""
    t = torch.linspace(lo, hi, n, dtype=torch.float64)
    w = torch.full((n,), (hi - lo) / (n - 1), dtype=torch.float64)
    w[[0, -1]] /= 2
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), (w[:, None] * w[None, :]).reshape(-1)


SIGMAS = [0.0, 0.1, 1.0, 10.0, "per-sample"]


def sigma_value(sigma, n: int):
    if sigma == "per-sample":
        return torch.logspace(-2, 1, n, dtype=torch.float64)
    return sigma


# ---------------------------------------------------------------- GaussianMixture: score


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("d", [2, 5])
@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_score_is_gradient_of_log_prob(kind, d, sigma):
    gm = random_mixture(kind, d)
    x = 3 * torch.randn(64, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = sigma_value(sigma, len(x))
    torch.testing.assert_close(gm.score(x, s), autograd_score(gm.log_prob, x, s), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("d", [2, 5])
@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_score_far_from_every_mode(kind, d, sigma):
    """50 units from every mode: finite, equal to autograd, and equal to the score of the
    component that dominates the posterior there (the nearest, in the model's metric)."""
    gm = random_mixture(kind, d, k=4)
    g = torch.Generator().manual_seed(2)
    u = torch.randn(200, d, generator=g, dtype=torch.float64)
    x = 52 * u / u.norm(dim=1, keepdim=True)  # modes lie within 2 sqrt(d) of the origin
    assert torch.cdist(x, gm.means.double()).min() > 50 - 2 * math.sqrt(d)
    s = sigma_value(sigma, len(x))
    for dtype in (torch.float32, torch.float64):
        score, logp = gm.score(x.to(dtype), s), gm.log_prob(x.to(dtype), s)
        assert torch.isfinite(score).all() and torch.isfinite(logp).all()
        assert torch.isfinite(autograd_score(gm.log_prob, x.to(dtype), s)).all()
    torch.testing.assert_close(gm.score(x, s), autograd_score(gm.log_prob, x, s), rtol=1e-9, atol=1e-9)

    # Single-component scores and log joints, from scipy-free closed forms.
    s2 = torch.as_tensor(s, dtype=torch.float64).reshape(-1, 1, 1) ** 2
    cov = component_covariances(gm) + s2[..., None] * torch.eye(d, dtype=torch.float64)  # (n or 1, K, d, d)
    diff = gm.means.double() - x[:, None, :]  # (n, K, d)
    comp_score = torch.linalg.solve(cov, diff.unsqueeze(-1)).squeeze(-1)
    log_joint = gm.weights.double().log() - 0.5 * ((diff * comp_score).sum(-1) + torch.logdet(cov))
    top2 = log_joint.topk(2, dim=1)
    clear = top2.values[:, 0] - top2.values[:, 1] > 40  # the runner-up weighs < e^-40
    if sigma != 10.0:  # at sigma = 10 every component is ~N(mu_k, 100 I) and none dominates at 50
        assert clear.sum() >= 20, clear.sum()
    nearest = comp_score[torch.arange(len(x)), top2.indices[:, 0]]
    torch.testing.assert_close(gm.score(x, s)[clear], nearest[clear], rtol=1e-9, atol=1e-9)


def test_isotropic_nearest_mode_dominates_far_away():
    """Equal stds: far from the modes the score is that of the Euclidean-nearest mode."""
    gm = GaussianMixture([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]], [1.0, 1.0, 1.0], stds=0.5)
    x = torch.tensor([[60.0, 0.0], [0.0, 60.0], [-60.0, -1.0]], dtype=torch.float64)
    nearest = gm.means.double()[torch.cdist(x, gm.means.double()).argmin(1)]
    torch.testing.assert_close(gm.score(x), (nearest - x) / 0.25, rtol=1e-12, atol=1e-12)


def test_score_under_no_grad_and_differentiable():
    gm = random_mixture("full", 2)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        s_nograd = gm.score(x, 0.5)
    x_req = x.clone().requires_grad_(True)
    s = gm.score(x_req, 0.5)
    assert s.requires_grad
    torch.testing.assert_close(s.detach(), s_nograd)
    (grad,) = torch.autograd.grad(s.square().sum(), x_req)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_single_component_score_jacobian(kind):
    """For one Gaussian, d score / dx = -(Sigma + sigma^2 I)^{-1} everywhere."""
    gm = random_mixture(kind, 3, k=1)
    x = torch.randn(3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: gm.score(v[None], 0.7)[0], x)
    expected = -torch.linalg.inv(component_covariances(gm)[0] + 0.49 * torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(jac, expected, rtol=1e-10, atol=1e-10)


def test_sigma_forms_and_batch_composition():
    gm = random_mixture("full", 2)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    base = gm.score(x, 0.3)
    torch.testing.assert_close(gm.score(x, torch.tensor(0.3)), base)
    torch.testing.assert_close(gm.score(x, torch.full((10,), 0.3)), base)
    per_sample = torch.linspace(0.1, 2.0, 10, dtype=torch.float64)
    batched = gm.score(x, per_sample)
    for i in (0, 4, 9):
        torch.testing.assert_close(batched[i], gm.score(x[i : i + 1], per_sample[i])[0])
    with pytest.raises(ValueError):
        gm.score(x, torch.ones(3))


# ---------------------------------------------------------------- GaussianMixture: density


@pytest.mark.parametrize("sigma", [0.0, 0.5])
@pytest.mark.parametrize("d", [2, 5])
@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_log_prob_single_component_matches_scipy(kind, d, sigma):
    gm = random_mixture(kind, d, k=1)
    x = torch.randn(20, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    cov = component_covariances(gm)[0].numpy() + sigma**2 * np.eye(d)
    expected = multivariate_normal(gm.means[0].double().numpy(), cov).logpdf(x.numpy())
    np.testing.assert_allclose(gm.log_prob(x, sigma).numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_log_prob_mixture_matches_hand_logsumexp(kind):
    d = 3
    gm = random_mixture(kind, d, k=4)
    x = 4 * torch.randn(30, d, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    sigma = torch.linspace(0.0, 3.0, 30, dtype=torch.float64)  # per-sample
    log_joint = np.stack(
        [
            [
                np.log(gm.weights[k].item())
                + multivariate_normal(gm.means[k].double().numpy(), component_covariances(gm)[k].numpy() + s**2 * np.eye(d)).logpdf(xi)
                for k in range(gm.n_components)
            ]
            for xi, s in zip(x.numpy(), sigma.numpy())
        ]
    )
    # gm.weights is the float32 view of float64 weights: allow its rounding (< 1e-7 in log).
    np.testing.assert_allclose(gm.log_prob(x, sigma).numpy(), logsumexp(log_joint, axis=1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.0, 1.0])
@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_log_prob_integrates_to_one(kind, sigma):
    """Trapezoid rule on [-10, 10]^2 with h = 0.05: for a Gaussian of std s >= 0.3 its error is
    ~exp(-2 pi^2 s^2 / h^2) (negligible), and the mass beyond the box (modes in [-2, 2]^2,
    std <= sqrt(2)) is < 1e-8; so 1e-6 is a safe tolerance."""
    gm = random_mixture(kind, 2)
    if kind == "full":  # keep the smallest std >= 0.3 for the grid
        gm = GaussianMixture(gm.means, gm.weights, covariances=gm.covariances.double() + 0.1 * torch.eye(2))
    points, w = grid_2d(-10.0, 10.0, 401)
    mass = (gm.log_prob(points, sigma).exp() * w).sum().item()
    assert mass == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------- GaussianMixture: sampling


def test_sampled_component_fractions_match_weights():
    """Modes 40 apart (std 1): nearest-mode labels equal the sampled components with
    probability 1 - O(e^-200); fractions must match the weights within 4 binomial SE."""
    weights = torch.tensor([0.5, 0.3, 0.15, 0.05])
    means = 40 * torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gm = GaussianMixture(means, weights)
    n = 20_000
    x = gm.sample(n, generator=torch.Generator().manual_seed(7))
    labels = torch.cdist(x, means).argmin(1)
    frac = torch.bincount(labels, minlength=4).double() / n
    se = (weights.double() * (1 - weights.double()) / n).sqrt()
    assert ((frac - weights.double()).abs() < 4 * se).all(), (frac, weights)


def test_lecture_fractions_and_modes():
    toy = lecture()
    assert torch.equal(toy.means, torch.tensor(LECTURE_MODES))
    n = 20_000
    x = toy.sample(n, generator=torch.Generator().manual_seed(8))
    frac = (x.sum(1) > 0).double().mean().item()  # modes are 7 std from the line x + y = 0
    assert abs(frac - 0.8) < 4 * math.sqrt(0.8 * 0.2 / n)


@pytest.mark.parametrize("kind", ["isotropic", "full"])
def test_sample_moments_match_mean_and_covariance(kind):
    """Sample mean and covariance within 4 Monte Carlo standard errors of the closed forms."""
    d = 3
    gm = random_mixture(kind, d, k=3)
    n = 40_000
    x = gm.sample(n, generator=torch.Generator().manual_seed(9)).double()
    m, c = gm.mean().double(), gm.covariance().double()
    assert ((x.mean(0) - m).abs() < 4 * (c.diagonal() / n).sqrt()).all()
    centred = x - m
    products = centred[:, :, None] * centred[:, None, :]  # unbiased for c since m is exact
    se = products.std(0) / math.sqrt(n)
    assert ((products.mean(0) - c).abs() < 4 * se).all()
    torch.testing.assert_close(gm.covariance(2.0), gm.covariance() + 4 * torch.eye(d))


def test_mixture_validation():
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0]], [1.0], stds=[1.0], covariances=[torch.eye(2)])
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0], [1.0, 1.0]], [1.0, -1.0])
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0]], [1.0], covariances=[[[1.0, 0.0], [0.0, -1.0]]])
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0]], [1.0], covariances=[[[1.0, 0.5], [0.0, 1.0]]])
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0]], [1.0], stds=[0.0])
    with pytest.raises(ValueError):
        GaussianMixture([[0.0, 0.0]], [1.0, 2.0])
    gm = GaussianMixture(np.zeros((2, 3)), [1, 3])  # numpy / lists, unit isotropic by default
    assert (gm.dim, gm.n_components) == (3, 2)
    torch.testing.assert_close(gm.weights, torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(gm.covariances, torch.eye(3).expand(2, 3, 3))
    with pytest.raises(ValueError):
        gm.log_prob(torch.zeros(4, 2))


# ---------------------------------------------------------------- toys


@pytest.mark.parametrize("name", list(TOYS))
def test_toy_contract(name):
    toy = get_toy(name)
    assert toy.name == name
    a = toy.sample(500, generator=torch.Generator().manual_seed(10))
    b = toy.sample(500, generator=torch.Generator().manual_seed(10))
    c = toy.sample(500, generator=torch.Generator().manual_seed(11))
    assert a.shape == (500, toy.dim) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    if name != "lecture":
        assert a.abs().max() < 4.5


def test_get_toy_forwards_kwargs_and_rejects_unknown_names():
    assert get_toy("curve", dim=5).sample(3).shape == (3, 5)
    torch.testing.assert_close(get_toy("eight_gaussians", radius=3.0).means.norm(dim=1), torch.full((8,), 3.0))
    with pytest.raises(ValueError, match="eight_gaussians"):
        get_toy("nope")


def test_eight_gaussians_geometry():
    toy = eight_gaussians(std=0.3)
    torch.testing.assert_close(toy.means.norm(dim=1), torch.full((8,), 2.0))
    torch.testing.assert_close(toy.weights, torch.full((8,), 1 / 8))
    torch.testing.assert_close(toy.stds, torch.full((8,), 0.3))


def test_rings_log_prob_integrates_to_one():
    """Trapezoid on [-4, 4]^2 with h = 8/399 ~ 0.02 against a radial profile of std 0.1: by
    Poisson summation the error is ~exp(-(2 pi 0.1 / h)^2 / 2) (negligible); the outer ring is
    10 std inside the box and the even grid avoids the origin's 1/rho singularity
    (of weight ~e^-50), so 1e-6 is a safe tolerance."""
    toy = Rings(radii=(1.0, 2.0, 3.0), weights=(1.0, 2.0, 3.0))
    points, w = grid_2d(-4.0, 4.0, 400)
    mass = (toy.log_prob(points).exp() * w).sum().item()
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_rings_score_and_ring_fractions():
    toy = Rings(radii=(1.0, 2.0), weights=(1.0, 3.0))
    n = 20_000
    x = toy.sample(n, generator=torch.Generator().manual_seed(12)).double()
    frac = (x.norm(dim=1) > 1.5).double().mean().item()  # rings are 5 std from rho = 1.5
    assert abs(frac - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)
    torch.testing.assert_close(toy.score(x[:200]), autograd_score(toy.log_prob, x[:200], 0.0), rtol=1e-9, atol=1e-9)
    with pytest.raises(NotImplementedError):
        toy.log_prob(x, 0.5)


def test_checkerboard_density_and_samples():
    """Midpoint rule on cell-aligned squares of side 0.05 over [-3, 3]^2 is exact for a
    density that is constant on each unit cell, so the mass must be 1 to rounding."""
    toy = Checkerboard()
    h = 0.05
    t = torch.arange(-3 + h / 2, 3, h, dtype=torch.float64)
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    logp = toy.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1))
    assert set(logp.unique().tolist()) == {-math.inf, -math.log(8)}
    assert (logp.exp().sum() * h * h).item() == pytest.approx(1.0, abs=1e-9)
    x = toy.sample(5_000, generator=torch.Generator().manual_seed(13))
    assert torch.isfinite(toy.log_prob(x)).all()
    assert not hasattr(toy, "score")


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_curve_samples_lie_on_the_curve(dim):
    curve = Curve(dim=dim)
    x = curve.sample(2_000, generator=torch.Generator().manual_seed(14))
    assert curve.distance_to_curve(x).max() < 1e-5
    assert (x.var(0) > 1e-3).all()  # non-degenerate in every coordinate


def test_curve_distance_off_the_curve():
    """A point moved by delta along a normal of c(t) is at distance delta (delta << curvature radius)."""
    curve = Curve(dim=3)
    t = torch.linspace(0, 2 * math.pi, 50, dtype=torch.float64)[:-1]
    tangent = torch.autograd.functional.jacobian(lambda s: curve.point(s).sum(0), t).T  # (50, 3)
    v = torch.randn(len(t), 3, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    normal = v - (v * tangent).sum(1, keepdim=True) / tangent.square().sum(1, keepdim=True) * tangent
    normal = normal / normal.norm(dim=1, keepdim=True)
    delta = 0.01
    distance = curve.distance_to_curve(curve.point(t) + delta * normal)
    torch.testing.assert_close(distance, torch.full_like(distance, delta), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        Curve(dim=1)
