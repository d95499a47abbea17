"""Continuous-time denoising score matching for each SDE against its closed-form optimum on
N(0, I) data: with the exact score −x/(1 + σ̃²) the loss at σ̃ is d/(2(1 + σ̃²)), so the
σ²-weighted optimum is d/(2(T − t_min))·∫dt/(1 + σ̃(t)²) (quadrature) and the likelihood-
weighted one d/(2(T − t_min))·[log(σ̃²/(1 + σ̃²))] between the ends of the σ̃ range; any other
score does worse. The objectives are also trained end to end through the configuration."""
import math

import pytest
import torch

from conftest import standard_normal_score, within_se
from scorelab.objectives import continuous_denoising_score_matching
from scorelab.sde import VE, VP, SubVP
from scorelab.training.config import ConfigError, make_config

SDES = {"ve": VE(0.01, 50.0), "vp": VP(), "vp-cosine": VP(schedule="cosine"), "subvp": SubVP()}
D = 3


def optimum(sde, weighting):
    span = sde.T - sde.t_min
    if weighting == "likelihood":
        lo, hi = sde.sigma_range
        return D / (2 * span) * (math.log(hi**2 / (1 + hi**2)) - math.log(lo**2 / (1 + lo**2)))
    t = torch.linspace(sde.t_min, sde.T, 200_001, dtype=torch.float64)
    return D / (2 * span) * torch.trapezoid(1 / (1 + sde.sigma_tilde(t) ** 2), t).item()


def batch_losses(score, sde, n_batches=200, batch=500, **kw):
    g = torch.Generator().manual_seed(0)
    return torch.stack([continuous_denoising_score_matching(
        score, torch.randn(batch, D, generator=g, dtype=torch.float64), sde, generator=g, **kw)
        for _ in range(n_batches)])


@pytest.mark.parametrize("weighting, importance", [("sigma2", True), ("likelihood", True), ("likelihood", False)],
                         ids=["sigma2", "likelihood", "likelihood-no-is"])
@pytest.mark.parametrize("name", sorted(SDES))
def test_the_exact_score_attains_the_closed_form_optimum(name, weighting, importance):
    sde = SDES[name]
    losses = batch_losses(standard_normal_score, sde, weighting=weighting, importance_sampling=importance)
    ok, msg = within_se(losses, optimum(sde, weighting))
    assert ok, msg
    # Another score (the right direction, 20% too long) is strictly worse, on the same draws.
    worse = batch_losses(lambda x, s: 1.2 * standard_normal_score(x, s), sde, weighting=weighting,
                         importance_sampling=importance)
    excess = worse - losses
    assert excess.mean() > 4 * excess.std() / len(excess) ** 0.5


def test_importance_sampling_lowers_the_variance_of_the_likelihood_weighting():
    sde = SDES["vp"]
    with_is = batch_losses(standard_normal_score, sde, 50, weighting="likelihood")
    without = batch_losses(standard_normal_score, sde, 50, weighting="likelihood", importance_sampling=False)
    assert with_is.std() < 0.5 * without.std()


def test_bad_weighting_is_refused():
    with pytest.raises(ValueError, match="weighting"):
        continuous_denoising_score_matching(standard_normal_score, torch.zeros(4, 2), VP(), weighting="edm")
    with pytest.raises(ConfigError, match="likelihood"):
        make_config(objective="ncsn", weighting="likelihood")
    with pytest.raises(ConfigError, match="edm"):
        make_config(objective="vp", weighting="edm")


@pytest.mark.parametrize("settings", [{"objective": "vp"}, {"objective": "subvp", "weighting": "likelihood"},
                                      {"objective": "ve"}, {"objective": "vp", "vp_schedule": "cosine"}],
                         ids=["vp", "subvp-likelihood", "ve", "vp-cosine"])
def test_sde_objectives_train_save_and_load(tmp_path, settings):
    # Through the facade: the levels span the SDE's σ̃ range (in data units), the run reloads
    # with the same levels and samples, and its samples are in the data's range.
    import scorelab
    from scorelab.sde import SDES as BY_NAME

    x = torch.randn(400, 2, generator=torch.Generator().manual_seed(0)) * 2 + 1
    model = scorelab.ScoreModel(steps=60, eval_every=30, **settings).fit(x.numpy())
    scale = model.normalizer_.sigma_scale
    if settings["objective"] != "ve":
        expected = BY_NAME[settings["objective"]](schedule=settings.get("vp_schedule", "linear")).sigma_range[1]
        assert float(model.sigmas_[0]) / scale == pytest.approx(expected, rel=1e-5)
    model.save(tmp_path / "run")
    loaded = scorelab.load(tmp_path / "run")
    assert torch.equal(loaded.sigmas_, model.sigmas_)
    a = model.sample(50, random_state=0, sampler="ddim")
    assert torch.equal(a, loaded.sample(50, random_state=0, sampler="ddim"))
    assert torch.isfinite(a).all()


def test_the_cli_trains_a_vp_model_and_samples_it_with_every_sde_sampler(tmp_path, points_csv, tiny_run):
    import numpy as np

    from scorelab.cli import main
    from scorelab.samplers.named import SDE_SAMPLERS

    run = tiny_run(points_csv, ["--set", "objective.objective=vp", "--set", "noise.weighting=likelihood",
                                "--set", "training.steps=40", "--set", "training.eval_every=20"])
    for sampler in SDE_SAMPLERS:
        out = tmp_path / f"{sampler}.npy"
        assert main(["sample", str(run), "-n", "20", "--sampler", sampler, "--steps", "5", "--out", str(out)]) == 0
        x = np.load(out)
        assert x.shape == (20, 2) and np.isfinite(x).all()
