"""ScoreUNet: shapes, the 1/σ output scaling, per-sample independence and finite gradients."""
import pytest
import torch

from scorelab.nn import ScoreUNet


def _net(**kw):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return ScoreUNet(**kw)


@pytest.mark.parametrize("kw, shape", [
    ({}, (4, 1, 8, 8)),
    ({"channels": 3, "base_channels": 16}, (2, 3, 16, 16)),
    ({"channels": 3, "base_channels": 16, "channel_mults": (1, 2, 2), "num_res_blocks": 2}, (2, 3, 16, 16)),
    ({"base_channels": 8, "channel_mults": (1, 2, 2, 2)}, (2, 1, 32, 32)),
])
def test_output_is_shaped_like_the_input(kw, shape):
    net = _net(**kw)
    x = torch.randn(shape)
    out = net(x, torch.rand(shape[0]) + 0.1)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


def test_scalar_and_per_sample_sigma_agree():
    net, x = _net(), torch.randn(3, 1, 8, 8)
    a = net(x, 0.7)
    assert torch.allclose(a, net(x, torch.tensor(0.7)), atol=1e-6)
    assert torch.allclose(a, net(x, torch.full((3,), 0.7)), atol=1e-6)


def test_output_is_a_score_scaled_by_one_over_sigma():
    # s = F(c_in·x, emb(σ))/σ: σ·s stays bounded as σ → 0 (c_in → 1/σ_data) while s grows
    # like 1/σ; and for x = σ·x' (inputs at the data's scale after c_in) σ·s stays bounded
    # as σ → ∞.
    net, x = _net(), torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = (1.0 * net(x, 1.0)).abs().max()
        small = {s: net(x, s) for s in (1e-2, 1e-4, 1e-6)}
        for s, out in small.items():
            assert (s * out).abs().max() < 10 * ref, s
        assert small[1e-6].abs().max() > 100 * small[1e-2].abs().max()
        for s in (1e2, 1e4):
            assert (s * net(s * x, s)).abs().max() < 10 * ref, s


def test_a_sample_does_not_depend_on_the_rest_of_the_batch():
    # GroupNorm normalises within each sample; nothing else mixes the batch.
    net = _net()
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    sigma = torch.logspace(-2, 1, 6)
    with torch.no_grad():
        full = net(x, sigma)
        alone = torch.cat([net(x[i:i + 1], sigma[i:i + 1]) for i in range(6)])
        perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
        permuted = net(x[perm], sigma[perm])
        other = x.clone()
        other[1:] = 100 * torch.randn(5, 1, 8, 8)
        changed = net(other, sigma)
    # Compared as σ·s (order one at every σ), to float32 rounding (convolution kernels may
    # differ with the batch size).
    scaled = sigma[:, None, None, None]
    assert torch.allclose(scaled * full, scaled * alone, atol=1e-5)
    assert torch.allclose((scaled * full)[perm], scaled[perm] * permuted, atol=1e-5)
    assert torch.allclose(scaled[0] * full[0], scaled[0] * changed[0], atol=1e-5)


def test_gradients_are_finite_through_a_denoising_loss():
    net = _net()
    x0 = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    sigma = torch.logspace(-3, 2, 16)
    z = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    x = (x0 + sigma[:, None, None, None] * z).requires_grad_(True)
    # Denoising score matching, σ²-weighted: ‖σ·s(x, σ) + z‖².
    loss = (sigma[:, None, None, None] * net(x, sigma) + z).square().mean()
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(bool((g != 0).any()) for g in grads) == len(grads)
    assert torch.isfinite(x.grad).all()


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="divisible by groups"):
        ScoreUNet(base_channels=12, groups=8)
    net = _net()
    with pytest.raises(ValueError, match="expected"):
        net(torch.randn(2, 3, 8, 8), 1.0)
    with pytest.raises(ValueError, match="divisible by 2"):
        net(torch.randn(2, 1, 7, 7), 1.0)
