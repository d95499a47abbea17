"""A diffusers noise-prediction network with its scheduler, sampled by scorelab: the same
samples as diffusers' own DDIM (η = 0) and DDPM schedulers on the same network and noise,
the exact score of N(0, I) data through an exact ε-network, its bits/dim against the closed
form, and inpainting on a U-Net. Skipped when diffusers (the ``bench`` extra) is absent."""
import math

import pytest
import torch

from conftest import standard_normal_score
from scorelab.evaluation import bits_per_dim, ode_log_likelihood
from scorelab.interop import DiffusersScore, diffusers_sigmas
from scorelab.samplers import ddpm, euler, geometric_sigmas, inpaint

diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def unet():
    """A small U-Net for 1×8×8 images, random weights (seed 0): nothing downloaded."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32),
                                     layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                                     up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8).eval()


def _noise(seed=1, n=4):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def _run_scheduler(unet, scheduler, x, **step_kw):
    for t in scheduler.timesteps:
        x = scheduler.step(unet(x, t).sample, t, x, **step_kw).prev_sample
    return x


@torch.no_grad()
@pytest.mark.parametrize("steps", [1, 10])
def test_ddim_without_noise_is_euler_on_the_schedulers_sigmas(unet, steps):
    scheduler = diffusers.DDIMScheduler(clip_sample=False)
    scheduler.set_timesteps(steps)
    x_T = _noise()
    theirs = _run_scheduler(unet, scheduler, x_T, eta=0.0)
    sigmas = diffusers_sigmas(scheduler)
    ours = euler(DiffusersScore(unet, scheduler), x_T * math.sqrt(1 + sigmas[0] ** 2), sigmas)
    # float32 throughout; measured 4e-7 of the samples' scale at 10 steps.
    assert (ours - theirs).abs().max() < 1e-5 * theirs.abs().max()


@torch.no_grad()
def test_ddpm_ancestral_is_the_ddpm_scheduler_on_the_same_noise(unet):
    scheduler = diffusers.DDPMScheduler(clip_sample=False)
    scheduler.set_timesteps(10)
    x_T = _noise()
    theirs = _run_scheduler(unet, scheduler, x_T, generator=torch.Generator().manual_seed(5))
    sigmas = diffusers_sigmas(scheduler)
    ours = ddpm(DiffusersScore(unet, scheduler), x_T * math.sqrt(1 + sigmas[0] ** 2), sigmas,
                generator=torch.Generator().manual_seed(5))
    assert (ours - theirs).abs().max() < 1e-5 * theirs.abs().max()


class ExactEpsilon(torch.nn.Module):
    """The optimal ε-network of N(0, I) data, ε(x_t, t) = √(1 − ᾱ(t))·x_t, at fractional t
    with ᾱ(t) = 1/(1 + σ̃(t)²) and log σ̃(t) interpolated linearly between the table's steps."""

    def __init__(self, scheduler):
        super().__init__()
        abar = scheduler.alphas_cumprod.double()
        self.log_sigmas = 0.5 * (torch.log1p(-abar) - abar.log())

    def forward(self, x_t, t):
        i = t.double().floor().clamp(0, len(self.log_sigmas) - 2).long()
        log_sigma = torch.lerp(self.log_sigmas[i], self.log_sigmas[i + 1], t.double() - i)
        abar = torch.sigmoid(-2 * log_sigma).to(x_t.dtype)  # 1/(1 + σ̃²)
        return torch.sqrt(1 - abar).reshape(-1, *[1] * (x_t.ndim - 1)) * x_t


def test_an_exact_epsilon_network_gives_the_exact_score_and_bits_per_dim():
    scheduler = diffusers.DDPMScheduler()
    score = DiffusersScore(ExactEpsilon(scheduler), scheduler)
    lo, hi = score.sigma_range
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    # Off the grid too, and a little past its ends (where adaptive solvers look).
    sigma = torch.exp(torch.linspace(math.log(lo) - 0.05, math.log(hi) + 0.05, 32, dtype=torch.float64))
    assert torch.allclose(score(x, sigma), standard_normal_score(x, sigma), rtol=1e-9, atol=1e-12)
    log_p = ode_log_likelihood(score, x, sigma_min=lo, sigma_max=hi, exact_trace=True, rtol=1e-7, atol=1e-7)
    var = 1 + lo**2  # the data at σ̃_min: N(0, (1 + σ̃_min²)I)
    truth = -0.5 * (x.square().sum(1) / var + 4 * math.log(2 * math.pi * var))
    assert torch.allclose(bits_per_dim(log_p, 4), bits_per_dim(truth, 4), atol=1e-3)


@torch.no_grad()
def test_inpainting_runs_on_a_diffusers_unet(unet):
    scheduler = diffusers.DDPMScheduler()
    score = DiffusersScore(unet, scheduler)
    lo, hi = score.sigma_range
    x = _noise(3, n=2).clamp(-1, 1)
    mask = (torch.arange(64) < 32).float().reshape(1, 8, 8)  # the top half known
    filled = inpaint(score, x, mask, geometric_sigmas(10.0, max(lo, 0.02), 5), 1e-5, 3,
                     generator=torch.Generator().manual_seed(4))
    assert filled.shape == x.shape and torch.isfinite(filled).all()
    assert torch.equal(filled[:, :, :4], x[:, :, :4])
    assert not torch.equal(filled[:, :, 4:], x[:, :, 4:])


@torch.no_grad()
def test_bits_per_dim_runs_on_a_diffusers_unet(unet):
    # A smoke test (random weights: the value means nothing); the exact network above checks it.
    score = DiffusersScore(unet, diffusers.DDPMScheduler())
    lo, hi = score.sigma_range
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1  # pixels in [−1, 1]
    log_p, info = ode_log_likelihood(score, x, sigma_min=lo, sigma_max=hi, rtol=1e-2, atol=1e-2,
                                     generator=torch.Generator().manual_seed(0), return_info=True)
    bpd = bits_per_dim(log_p, 64, scale=2.0, dequantize_levels=256)
    assert torch.isfinite(bpd).all() and info["nfe"] > 6
