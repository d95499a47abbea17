"""Objectives against closed forms and against each other."""
import pytest
import torch

from conftest import standard_normal_score, within_se
from scorelab.nn import EnergyMLP, ScoreMLP, score_from_energy
from scorelab.objectives import (contrastive_divergence, denoising_score_matching,
                                 exact_score_matching, multiscale_denoising_score_matching,
                                 sliced_score_matching)


def minus_x(x, sigma):
    return -x


@pytest.mark.parametrize("method", ["vmap", "loop"])
@pytest.mark.parametrize("d", [1, 3, 7])
def test_exact_score_matching_of_minus_x_is_half_norm_minus_d(method, d):
    x = torch.randn(50, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    loss = exact_score_matching(minus_x, x, method=method)
    expected = (0.5 * (x**2).sum(1) - d).mean()
    assert torch.allclose(loss, expected, rtol=0, atol=1e-12)


def test_exact_score_matching_handles_image_shaped_inputs():
    x = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    expected = (0.5 * (x**2).flatten(1).sum(1) - 9).mean()
    assert torch.allclose(exact_score_matching(minus_x, x), expected, atol=1e-12)


def _param_grads(loss, module):
    params = [p for p in module.parameters()]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _network(kind, noise_conditional):
    """(module, its score function) in float64."""
    torch.manual_seed(7)
    if kind == "score":
        net = ScoreMLP(5, width=16, depth=3, noise_conditional=noise_conditional).double()
        return net, net
    net = EnergyMLP(5, width=16, depth=3, noise_conditional=noise_conditional).double()
    return net, score_from_energy(net)


@pytest.mark.parametrize("method", ["vmap", "forward"])
@pytest.mark.parametrize("noise_conditional", [False, True])
@pytest.mark.parametrize("kind", ["score", "energy"])
def test_exact_score_matching_equals_the_loop_on_a_network(kind, noise_conditional, method):
    module, score = _network(kind, noise_conditional)
    x = torch.randn(32, 5, dtype=torch.float64)   # d = 5: forward mode's chunks of 4 and 1
    sigma = torch.tensor([0.1, 0.3, 1.0, 3.0], dtype=torch.float64).repeat(8)
    a = exact_score_matching(score, x, method=method, sigma=sigma)
    b = exact_score_matching(score, x, method="loop", sigma=sigma)
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    for ga, gb in zip(_param_grads(a, module), _param_grads(b, module)):
        assert torch.allclose(ga, gb, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["forward", "hvp"])
@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
@pytest.mark.parametrize("variance_reduction", [False, True])
def test_sliced_score_matching_is_unbiased_for_exact(projection, variance_reduction, method):
    torch.manual_seed(1)
    net = ScoreMLP(4, width=16, depth=2).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    exact = exact_score_matching(net, x).item()
    g = torch.Generator().manual_seed(2)
    draws = torch.stack([
        sliced_score_matching(net, x, n_projections=8, projection=projection,
                              variance_reduction=variance_reduction, generator=g, method=method).detach()
        for _ in range(400)])
    ok, msg = within_se(draws, exact)
    assert ok, msg
    # It is an estimate, not the exact value: the draws do vary.
    assert draws.std() > 0


def test_sliced_score_matching_of_minus_x():
    # s = -x: (vᵀs)²/2 + vᵀ(-I)v ; expectation ½‖x‖² − d.
    x = torch.randn(8, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    draws = torch.stack([sliced_score_matching(minus_x, x, n_projections=4, generator=g)
                         for _ in range(2000)])
    ok, msg = within_se(draws, (0.5 * (x**2).sum(1) - 3).mean().item())
    assert ok, msg
    vr = sliced_score_matching(minus_x, x, projection="rademacher", variance_reduction=True)
    # Rademacher directions have vᵀv = d exactly: SSM-VR is then exact for a linear field.
    assert torch.allclose(vr, (0.5 * (x**2).sum(1) - 3).mean(), atol=1e-12)


@pytest.mark.parametrize("shape", [(24, 5), (24, 1, 1, 5)])
@pytest.mark.parametrize("variance_reduction", [False, True])
@pytest.mark.parametrize("noise_conditional", [False, True])
@pytest.mark.parametrize("kind", ["score", "energy"])
def test_forward_mode_sliced_equals_reverse_over_reverse(kind, noise_conditional, variance_reduction, shape):
    """The same projections give the same loss and the same parameter gradients both ways
    (points, and image-shaped inputs that the MLP flattens)."""
    module, score = _network(kind, noise_conditional)
    x = torch.randn(*shape, dtype=torch.float64)
    sigma = torch.linspace(0.2, 2.0, 24, dtype=torch.float64) if noise_conditional else None
    fwd, hvp = (sliced_score_matching(score, x, n_projections=2, projection="rademacher", sigma=sigma,
                                      variance_reduction=variance_reduction, method=m,
                                      generator=torch.Generator().manual_seed(8))
                for m in ("forward", "hvp"))
    assert torch.allclose(fwd, hvp, rtol=1e-10, atol=1e-12)
    for a, b in zip(_param_grads(fwd, module), _param_grads(hvp, module)):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-11)


def test_auto_sliced_method_uses_forward_mode_only_where_the_network_has_it():
    module, score = _network("energy", False)
    x = torch.randn(8, 5, dtype=torch.float64)
    losses = {m: sliced_score_matching(score, x, method=m, generator=torch.Generator().manual_seed(9))
              for m in ("auto", "forward", "hvp")}
    assert losses["auto"].item() == losses["forward"].item()
    assert torch.allclose(losses["auto"], losses["hvp"], rtol=1e-10)
    # A plain function has no forward mode: "auto" takes the reverse pass, "forward" refuses.
    assert sliced_score_matching(minus_x, x, generator=torch.Generator().manual_seed(9)).item() == \
        sliced_score_matching(minus_x, x, method="hvp", generator=torch.Generator().manual_seed(9)).item()
    with pytest.raises(ValueError, match="forward-mode"):
        sliced_score_matching(minus_x, x, method="forward")


def _sliced_pair(score, x, seed, **kw):
    """The HVP and finite-difference sliced losses with the same projections."""
    return tuple(sliced_score_matching(score, x, n_projections=2, generator=torch.Generator().manual_seed(seed),
                                       method=m, **kw) for m in ("hvp", "finite_difference"))


@pytest.mark.parametrize("variance_reduction", [False, True])
def test_finite_difference_sliced_is_exact_for_a_linear_field(variance_reduction):
    # s = -x: central differences of a linear field have no error, so FD-SSM equals SSM.
    x = torch.randn(8, 3, dtype=torch.float64)
    hvp, fd = _sliced_pair(minus_x, x, 4, variance_reduction=variance_reduction, fd_eps=0.3)
    assert torch.allclose(hvp, fd, rtol=0, atol=1e-12)


def test_finite_difference_sliced_error_is_second_order():
    torch.manual_seed(5)
    net = ScoreMLP(3, width=16, depth=2).double()
    x = torch.randn(32, 3, dtype=torch.float64)
    errors = []
    for eps in (0.1, 0.05, 0.025):
        hvp, fd = _sliced_pair(net, x, 6, fd_eps=eps)
        errors.append(abs((fd - hvp).item()))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(3.0 < r < 5.0 for r in ratios), (errors, ratios)  # halving eps quarters the bias
    # ... and the parameter gradients, the training signal, converge too.
    hvp, fd = _sliced_pair(net, x, 6, fd_eps=1e-3)
    g_hvp = torch.autograd.grad(hvp, list(net.parameters()))
    g_fd = torch.autograd.grad(fd, list(net.parameters()))
    for a, b in zip(g_hvp, g_fd):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("per_sample", [False, True], ids=["float", "tensor"])
@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("d", [1, 4])
def test_denoising_score_matching_optimum_for_standard_normal(sigma, d, per_sample):
    # A Python number takes scalar arithmetic, a per-sample tensor broadcasts: both are checked.
    g = torch.Generator().manual_seed(4)
    arg = torch.full((2000,), sigma, dtype=torch.float64) if per_sample else sigma
    draws = torch.stack([
        denoising_score_matching(standard_normal_score,
                                 torch.randn(2000, d, generator=g, dtype=torch.float64), arg,
                                 generator=g)
        for _ in range(100)])
    ok, msg = within_se(draws, d / (2 * sigma**2 * (1 + sigma**2)))
    assert ok, msg


def test_denoising_score_matching_same_loss_for_a_number_or_a_tensor_sigma():
    x = torch.randn(64, 3, dtype=torch.float64)
    net = ScoreMLP(3, 16, 2, noise_conditional=True).double()
    per_sample = torch.full((64,), 0.3, dtype=torch.float64)
    a, b = (denoising_score_matching(net, x, s, generator=torch.Generator().manual_seed(1)) for s in (0.3, per_sample))
    assert torch.allclose(a, b, rtol=1e-12)
    for bad in (0.0, -0.5):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            denoising_score_matching(net, x, bad)


def test_denoising_score_matching_wrong_score_is_worse():
    # DSM = Fisher divergence + const. With the same data and noise, s = −x̃ instead of the
    # optimum −x̃/(1 + σ²) costs ½E‖(σ²/(1+σ²))·x̃‖² = ½·0.2²·2·1.25 = 0.05 in expectation (the
    # cross term has mean 0): 100 independent batches of 2000, their mean within 4 standard
    # errors (4 SE ≈ 0.005).
    g = torch.Generator().manual_seed(5)
    excess = []
    for i in range(100):
        x = torch.randn(2000, 2, generator=g, dtype=torch.float64)
        best = denoising_score_matching(standard_normal_score, x, 0.5, generator=torch.Generator().manual_seed(i))
        worse = denoising_score_matching(lambda y, s: -y, x, 0.5, generator=torch.Generator().manual_seed(i))
        excess.append(worse - best)
    ok, msg = within_se(torch.stack(excess), 0.05)
    assert ok, msg


def test_multiscale_denoising_score_matching_optimum_for_standard_normal():
    d, sigmas = 3, torch.tensor([5.0, 1.0, 0.2], dtype=torch.float64)
    g = torch.Generator().manual_seed(6)
    draws = torch.stack([
        multiscale_denoising_score_matching(standard_normal_score,
                                            torch.randn(2000, d, generator=g, dtype=torch.float64),
                                            sigmas, generator=g)
        for _ in range(100)])
    expected = (d / (2 * (1 + sigmas**2))).mean().item()
    ok, msg = within_se(draws, expected)
    assert ok, msg


def test_objectives_accept_energy_models_and_score_networks():
    x = torch.randn(16, 2)
    for score in (ScoreMLP(2, 16, 2, noise_conditional=True), score_from_energy(EnergyMLP(2, 16, 2, noise_conditional=True))):
        for loss in (exact_score_matching(score, x, sigma=0.5), sliced_score_matching(score, x, sigma=0.5),
                     denoising_score_matching(score, x, 0.5),
                     multiscale_denoising_score_matching(score, x, [1.0, 0.1])):
            assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad


def test_objectives_reject_bad_options():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="method"):
        exact_score_matching(minus_x, x, method="nope")
    with pytest.raises(ValueError, match="score_and_trace"):
        exact_score_matching(minus_x, x, method="forward")   # a plain function has no forward mode
    with pytest.raises(ValueError, match="projection"):
        sliced_score_matching(minus_x, x, projection="uniform")
    with pytest.raises(ValueError, match="n_projections"):
        sliced_score_matching(minus_x, x, n_projections=0)
    with pytest.raises(ValueError, match="method"):
        sliced_score_matching(minus_x, x, method="forward")
    with pytest.raises(ValueError, match="fd_eps"):
        sliced_score_matching(minus_x, x, method="finite_difference", fd_eps=0.0)


class QuadraticEnergy(torch.nn.Module):
    """E(x) = ½ Σᵢ (xᵢ − mᵢ)² / vᵢ, the energy of N(m, diag(v))."""

    def __init__(self, d):
        super().__init__()
        self.mean = torch.nn.Parameter(torch.zeros(d))
        self.log_var = torch.nn.Parameter(torch.zeros(d))

    def forward(self, x, sigma=None):
        return 0.5 * ((x - self.mean) ** 2 * torch.exp(-self.log_var)).sum(-1)


@pytest.mark.parametrize("persistent", [True, False])
def test_contrastive_divergence_recovers_a_gaussian(persistent):
    from scorelab.objectives import ReplayBuffer
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    true_mean, true_var = torch.tensor([1.0, -0.5]), torch.tensor([0.5, 2.0])
    energy = QuadraticEnergy(2)
    opt = torch.optim.Adam(energy.parameters(), lr=0.05)
    schedule = torch.optim.lr_scheduler.MultiStepLR(opt, [300, 450], 0.2)
    buffer = ReplayBuffer((2,), size=4000, generator=g) if persistent else None
    for _ in range(600):
        x = true_mean + true_var.sqrt() * torch.randn(512, 2, generator=g)
        loss = contrastive_divergence(energy, x, buffer=buffer, n_steps=20, step_size=0.05,
                                      alpha=0.0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    # Langevin with step ε = 0.05 biases the fitted variance by ~ε/(4v) (2.5% at v = 0.5) and
    # finite chains add a few percent more: 10% is well outside both, well inside a failure.
    assert torch.allclose(energy.mean.detach(), true_mean, atol=0.1)
    assert torch.allclose(energy.log_var.exp().detach(), true_var, rtol=0.1)


def test_contrastive_divergence_raises_on_non_finite_energy():
    class Broken(torch.nn.Module):
        def forward(self, x, sigma=None):
            return (x.sum(-1) * float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite|NaN"):
        contrastive_divergence(Broken(), torch.randn(8, 2), n_steps=1)
