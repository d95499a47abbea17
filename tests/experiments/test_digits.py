"""Digits end to end: a short U-Net training run samples finite 8×8 images, and bits/dim through
the probability-flow ODE is right (normalisation, dequantisation, Hutchinson's trace)."""
import dataclasses
import math

import pytest
import torch

from conftest import standard_normal_score, within_se
from scorelab.data import load_data
from scorelab.estimator import ScoreModel
from scorelab.evaluation import evaluate, image_bits_per_dim, quantisation_levels
from scorelab.core import broadcast_like

TINY = dict(steps=40, width=8, batch_size=32, eval_every=40, checkpoint_every=40, holdout=0.05)


@pytest.fixture(scope="module")
def tiny_model():
    return ScoreModel(**TINY).fit("digits:train")


@pytest.fixture(scope="module")
def test_images():
    return load_data("digits:test").x


@pytest.mark.parametrize("sampler, steps, nfe", [("annealed", 2, None), ("heun", None, 35)])
def test_short_training_run_gives_finite_digits(tiny_model, sampler, steps, nfe):
    x, info = tiny_model.sample(6, random_state=0, sampler=sampler, steps=steps, return_info=True)
    assert x.shape == (6, 1, 8, 8) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    levels = len(tiny_model.sigmas_)
    assert info.nfe == (nfe if nfe is not None else levels * steps + 1)
    assert torch.equal(x, tiny_model.sample(6, random_state=0, sampler=sampler, steps=steps))


def test_digits_are_quantised_in_sixteenths(test_images):
    # 17 values 0, 1/16, ..., 1: cells of width 1/16, so 16 "levels" for the dequantisation.
    assert quantisation_levels(test_images) == 16
    assert quantisation_levels(torch.arange(256) / 255.0) == 255
    assert quantisation_levels(torch.rand(100, generator=torch.Generator().manual_seed(0))) is None


class _GaussianScore(torch.nn.Module):
    """The exact score of N(0, I) data at every σ in normalised units: −y/(1 + σ²)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, y, sigma):
        return standard_normal_score(y, sigma)


def test_bits_per_dim_of_a_gaussian_model_matches_the_closed_form(tiny_model, test_images):
    # The model's density in normalised units is p_σ = N(0, (1 + σ²)I), for which the ODE is
    # exact: with A = ‖ỹ‖², ỹ = (x̃ − m)/c, the returned log-density (prior N(0, σ_max²I)) is
    #   −A·s_M²/(2 s_0² σ_M²) − (d/2)·log(2π s_0²) + (d/2)·log(s_M²/σ_M²),  s² = 1 + σ²,
    # then −d·log c (normalisation) and −d·log 16 (dequantisation) in data units; and the
    # centred uniform noise makes E_u A = ‖(x − m)/c‖² + d/(12·16²·c²).
    run = dataclasses.replace(tiny_model.run_, ema_net=_GaussianScore())
    oracle = ScoreModel(**TINY)._set_fitted(run)
    out = image_bits_per_dim(oracle, test_images, n_images=48, exact_trace=True, seed=3)
    assert out["dequantize_levels"] == 16 and out["n_images"] == 48
    m, c = run.normalizer.mean.double(), float(run.normalizer.scale)
    s0, sm = 1 + float(run.sigmas[-1]) ** 2, 1 + float(run.sigmas[0]) ** 2
    smax2, d = float(run.sigmas[0]) ** 2, 64
    chosen = test_images[torch.randperm(len(test_images), generator=torch.Generator().manual_seed(3))[:48]]

    def log_p(a):  # the returned log-density in normalised units, before the data-unit terms
        return -a * sm / (2 * s0 * smax2) - 0.5 * d * math.log(2 * math.pi * s0) + 0.5 * d * math.log(sm / smax2)

    a = ((chosen.double() - m) / c).square().flatten(1).sum(1)  # ‖(x − m)/c‖²
    expected = -(log_p(a + d / (12 * 16**2 * c**2)) - d * math.log(c) - d * math.log(16)) / (d * math.log(2))
    ok, msg = within_se(out["per_image"] - expected, 0.0)
    assert ok, msg
    # Without dequantisation the value is deterministic: exact up to the ODE tolerance.
    plain = image_bits_per_dim(oracle, test_images, n_images=48, levels=None, exact_trace=True, seed=3)
    assert torch.allclose(plain["per_image"], -(log_p(a) - d * math.log(c)) / (d * math.log(2)), atol=1e-3)


class _SmallConvScore(torch.nn.Module):
    """A small fixed random conv net: −y/(1 + σ²) + conv(tanh(conv(y)))/(1 + σ), a Jacobian
    with off-diagonal terms (so Hutchinson's estimate has variance) and cheap backward passes
    (the exact trace takes 64 of them per evaluation)."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.inner, self.outer = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, y, sigma):
        return standard_normal_score(y, sigma) + self.outer(torch.tanh(self.inner(y))) / (1 + broadcast_like(sigma, y))


def test_bits_per_dim_are_finite_for_a_trained_unet(tiny_model, test_images):
    out = image_bits_per_dim(tiny_model, test_images, n_images=4, rtol=1e-3, atol=1e-3)
    assert out["per_image"].shape == (4,) and torch.isfinite(out["per_image"]).all()
    assert out["nfe"] > 0 and out["sigma"] == pytest.approx(float(tiny_model.sigmas_[-1]))


def test_hutchinson_bits_per_dim_agree_with_the_exact_trace(tiny_model, test_images):
    run = dataclasses.replace(tiny_model.run_, ema_net=_SmallConvScore().requires_grad_(False))
    model = ScoreModel(**TINY)._set_fitted(run)
    kw = dict(n_images=32, seed=1, rtol=1e-3, atol=1e-3)
    exact = image_bits_per_dim(model, test_images, exact_trace=True, **kw)
    hutch = image_bits_per_dim(model, test_images, n_probes=2, **kw)
    assert math.isfinite(exact["bits_per_dim"]) and math.isfinite(hutch["bits_per_dim"])
    diff = hutch["per_image"] - exact["per_image"]  # same images, same dequantisation noise
    assert diff.std() > 1e-4  # Hutchinson's estimate is noisy ...
    ok, msg = within_se(diff, 0.0)  # ... and unbiased
    assert ok, msg


def test_evaluate_reports_bits_per_dim_for_images(tiny_model, test_images):
    out = evaluate(tiny_model, test_images[:40], bpd_images=4, sampler="dpmpp-2m", steps=4)
    assert out["bits_per_dim_images"] == 4 and out["bits_per_dim_levels"] == 16
    assert math.isfinite(out["bits_per_dim"]) and out["bits_per_dim_se"] > 0
