"""Inpainting: the known part kept exactly, the unknown part drawn from the true conditional.
(Seeds, NFE, trajectories and edges: the sampler contract, test_contract.py.)"""
import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.samplers import geometric_sigmas, inpaint

MEAN = torch.tensor([1.0, -1.0, 0.5, 2.0])
COV = torch.tensor([[1.0, 0.5, 0.3, 0.2],
                    [0.5, 1.0, 0.2, 0.3],
                    [0.3, 0.2, 1.0, 0.4],
                    [0.2, 0.3, 0.4, 1.0]])
KNOWN, UNKNOWN = [0, 3], [1, 2]


def conditional_gaussian(mean, cov, known, unknown, y):
    """x_u | x_k = y for x ~ N(mean, cov):
    N(μ_u + Σ_uk Σ_kk⁻¹ (y − μ_k), Σ_uu − Σ_uk Σ_kk⁻¹ Σ_ku)."""
    s_kk, s_uk, s_uu = cov[known][:, known], cov[unknown][:, known], cov[unknown][:, unknown]
    gain = s_uk @ torch.linalg.inv(s_kk)
    return mean[unknown] + gain @ (y - mean[known]), s_uu - gain @ s_uk.T


def test_inpainting_a_gaussian_reproduces_the_conditional_mean_and_covariance():
    gm = GaussianMixture(MEAN[None], [1.0], covariances=COV[None])
    y = torch.tensor([2.0, 1.0])  # one standard deviation above the mean in both known coordinates
    cond_mean, cond_cov = conditional_gaussian(MEAN, COV, KNOWN, UNKNOWN, y)
    n = 5000
    x_known = torch.full((n, 4), float("nan"))  # the unknown values are never read
    x_known[:, KNOWN] = y
    mask = torch.tensor([1, 0, 0, 1])
    # σ_L² = 9e-4 is 0.1% of the conditional variances; ε = σ_L² keeps every level stable.
    x, info = inpaint(gm.score, x_known, mask, geometric_sigmas(3.0, 0.03, 10), 0.03**2, 100,
                      generator=torch.Generator().manual_seed(0), return_info=True)
    assert info.nfe == 10 * 100 + 1
    assert torch.equal(x[:, KNOWN], x_known[:, KNOWN])
    u = x[:, UNKNOWN] - cond_mean
    for i in range(2):
        ok, msg = within_se(u[:, i], 0.0)
        assert ok, f"mean of x_{UNKNOWN[i]}: {msg}"
        for j in range(i, 2):
            ok, msg = within_se(u[:, i] * u[:, j], cond_cov[i, j].item())
            assert ok, f"covariance ({UNKNOWN[i]}, {UNKNOWN[j]}): {msg}"


def image_score(x, sigma):
    """Score of independent N(0.5, 0.1²) pixels noised to σ: −(x − 0.5)/(0.01 + σ²)."""
    return -(x - 0.5) / (0.01 + sigma.reshape(-1, *[1] * (x.ndim - 1)) ** 2)


def half_image_case(dtype=torch.float32):
    x_known = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1  # the left half is known
    return x_known, mask


def run_images(x_known, mask, seed, **kw):
    return inpaint(image_score, x_known, mask, geometric_sigmas(1.0, 0.01, 5), 1e-4, 4,
                   generator=torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_images_keep_their_known_half_exactly_and_fill_the_rest(dtype):
    x_known, mask = half_image_case(dtype)
    x = run_images(x_known, mask, seed=0)
    assert x.shape == x_known.shape and x.dtype == dtype and not x.requires_grad
    assert torch.equal(x[..., :4], x_known[..., :4])
    right = x[..., 4:]
    assert torch.isfinite(right).all()
    assert not torch.equal(right, x_known[..., 4:])
    # Pulled to the pixels' prior mean: the pixels are independent (so are their chains), and
    # the mean of the 192 unknown ones is within 4 of its standard errors of 0.5.
    ok, msg = within_se(right, 0.5)
    assert ok, msg


def test_bad_masks_and_schedules_are_rejected():
    x_known, mask = half_image_case()
    with pytest.raises(ValueError, match="only 0"):
        run_images(x_known, 0.5 * mask, seed=0)
    with pytest.raises(ValueError, match="broadcast"):
        run_images(x_known, torch.ones(3, 8), seed=0)
    with pytest.raises(ValueError, match="largest to smallest"):
        inpaint(image_score, x_known, mask, [0.1, 1.0], 1e-4, 2)
