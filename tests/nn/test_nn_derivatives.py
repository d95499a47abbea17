"""The MLPs' own derivatives (forward-mode JVP and second directional derivative, hand-written
input gradient) against autograd, in float64, with and without noise conditioning."""
import pytest
import torch

from scorelab.nn import EnergyMLP, ScoreMLP, score_from_energy

N, D = 12, 4


def _inputs(noise_conditional):
    g = torch.Generator().manual_seed(0)
    x, v = (torch.randn(N, D, generator=g, dtype=torch.float64) for _ in range(2))
    # several distinct σ in one batch (the embedding is gathered per level)
    sigma = torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64).repeat(N // 3) if noise_conditional else None
    return x, v, sigma


def _jacobian(s, xs):
    """(batch, d, d) per-sample Jacobian of s w.r.t. xs, a row at a time by reverse mode
    (samples do not interact, so the row of the batch sum is every sample's row)."""
    return torch.stack([torch.autograd.grad(s[:, i].sum(), xs, retain_graph=True)[0] for i in range(D)], 1)


def _net(cls, noise_conditional):
    torch.manual_seed(1)
    return cls(D, width=16, depth=3, noise_conditional=noise_conditional).double()


@pytest.mark.parametrize("noise_conditional", [False, True])
def test_score_mlp_jvp_is_the_jacobian_vector_product(noise_conditional):
    x, v, sigma = _inputs(noise_conditional)
    net = _net(ScoreMLP, noise_conditional)
    s, jv = net.jvp(x, sigma, v)
    xs = x.clone().requires_grad_(True)
    s_ref = net(xs, sigma)
    jac = _jacobian(s_ref, xs)
    jv_ref = torch.einsum("bij,bj->bi", jac, v)
    assert torch.allclose(s, s_ref, rtol=1e-12, atol=1e-13)
    assert torch.allclose(jv, jv_ref, rtol=1e-10, atol=1e-12)
    assert jv.abs().max() > 1e-3  # not trivially zero
    # the projected form: (vᵀs, vᵀ∇ₓs v) without forming s
    vs, vjv = net.directional_derivatives(x, sigma, v)
    assert torch.allclose(vs, (v * s_ref).sum(1), rtol=1e-10, atol=1e-12)
    assert torch.allclose(vjv, (v * jv_ref).sum(1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("noise_conditional", [False, True])
def test_energy_mlp_directional_derivatives_are_the_taylor_coefficients(noise_conditional):
    x, v, sigma = _inputs(noise_conditional)
    net = _net(EnergyMLP, noise_conditional)
    e, d1, d2 = net.directional_derivatives(x, sigma, v)
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xs, sigma).sum(), xs, create_graph=True)
    (hv,) = torch.autograd.grad((grad * v).sum(), xs)
    assert torch.allclose(e, net(x, sigma), rtol=1e-12, atol=1e-13)
    assert torch.allclose(d1, (grad * v).sum(1), rtol=1e-10, atol=1e-12)
    assert torch.allclose(d2, (hv * v).sum(1), rtol=1e-10, atol=1e-12)
    # With the score, vᵀ∇²E v comes from the backward pass (curvature sources), not a tangent.
    e_s, d1_s, d2_s, score = net.directional_derivatives(x, sigma, v, with_score=True)
    assert torch.equal(e_s, e) and torch.equal(d1_s, d1)
    assert torch.allclose(d2_s, (hv * v).sum(1), rtol=1e-10, atol=1e-12)
    assert torch.allclose(score, -grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("noise_conditional", [False, True])
def test_energy_mlp_score_is_minus_the_gradient_with_the_same_parameter_gradients(noise_conditional):
    x, _, sigma = _inputs(noise_conditional)
    net = _net(EnergyMLP, noise_conditional)
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xs, sigma).sum(), xs, create_graph=True)
    own = net.score(x, sigma)
    assert torch.allclose(own, -grad, rtol=1e-10, atol=1e-12)
    # Training through either gives the same parameter gradients (a loss quadratic in s).
    params = list(net.parameters())
    g_own = torch.autograd.grad((own**2).sum(), params, allow_unused=True)
    g_ref = torch.autograd.grad((grad**2).sum(), params, allow_unused=True)
    for a, b in zip(g_own, g_ref):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_energy_score_asks_the_networks_own_gradient_with_and_without_gradients(monkeypatch):
    x, _, sigma = _inputs(True)
    net = _net(EnergyMLP, True)
    calls = []
    own = net.score
    monkeypatch.setattr(net, "score", lambda *a: calls.append(1) or own(*a))
    score = score_from_energy(net)
    with torch.no_grad():
        a = score(x, sigma)      # torch's fused SiLU derivative, no graph
    b = score(x, sigma)          # plain operations, differentiable
    assert calls == [1, 1] and not a.requires_grad and b.requires_grad
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xs, sigma).sum(), xs)
    assert torch.allclose(a, -grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(b, -grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 3, 16])
@pytest.mark.parametrize("noise_conditional", [False, True])
@pytest.mark.parametrize("cls", [ScoreMLP, EnergyMLP])
def test_score_and_trace_is_the_score_and_the_jacobian_trace(cls, noise_conditional, chunk):
    """Forward mode along every basis vector (an energy's Laplacian from first-order tangents
    and the backward pass) against d autograd backward passes; chunks that do not divide d."""
    x, _, sigma = _inputs(noise_conditional)
    net = _net(cls, noise_conditional)
    score = net if cls is ScoreMLP else score_from_energy(net)
    s, trace = score.score_and_trace(x, sigma, chunk=chunk)
    xs = x.clone().requires_grad_(True)
    s_ref = (net if cls is ScoreMLP else score_from_energy(net.forward))(xs, sigma)
    trace_ref = torch.diagonal(_jacobian(s_ref, xs), dim1=1, dim2=2).sum(1)
    assert torch.allclose(s, s_ref, rtol=1e-10, atol=1e-12)
    assert torch.allclose(trace, trace_ref, rtol=1e-10, atol=1e-12)
