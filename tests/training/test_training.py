"""scorelab.training: the data normalisation (and its change of variables) and the
configuration table. (Training runs end to end through the estimator and the CLI in
estimator_cli/, and are killed, poisoned and tampered with in reliability/.)"""
import math

import pytest
import torch

from scorelab.training import ConfigError, make_config, parse_set, parse_toml
from scorelab.training.config import DEFAULTS, OPTIONS
from scorelab.training.normalization import Normalizer

MEAN, STD = torch.tensor([10.0, -3.0, 0.5]), torch.tensor([4.0, 0.5, 1.0])


def _data(n=5000):
    return MEAN + STD * torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("mode", ["isotropic", "per-dim", "none"])
def test_normalizer_round_trip_and_scales(mode):
    x = _data()
    norm = Normalizer.fit(x, mode)
    xn = norm.forward(x)
    torch.testing.assert_close(norm.inverse(xn), x, rtol=1e-6, atol=1e-5)
    var = xn.var(0, unbiased=False)
    if mode == "isotropic":  # one scale: the mean of the per-feature variances becomes 1
        assert norm.scale.shape == () and var.mean().item() == pytest.approx(1.0, rel=1e-5)
        assert norm.sigma_scale == pytest.approx(float(norm.scale))
    elif mode == "per-dim":  # every feature unit variance
        torch.testing.assert_close(var, torch.ones(3, dtype=torch.float64), rtol=1e-5, atol=0)
    else:
        torch.testing.assert_close(xn, x)
    if mode != "none":
        torch.testing.assert_close(xn.mean(0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-5)
    s = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(norm.score_to_data(s), s / norm.scale.double())


@pytest.mark.parametrize("mode", ["isotropic", "per-dim"])
def test_log_abs_det_is_the_change_of_variables(mode):
    # x ~ N(MEAN, diag(STD²)); x_n = (x − m)/c is N((MEAN − m)/c, diag(STD²/c²)):
    # log p(x) = log p_n(x_n) − Σ log c, exactly, for any m and c.
    x = _data(10)
    norm = Normalizer.fit(_data(), mode)
    scale = norm.scale.double().expand(3)

    def log_normal(y, mean, std):
        return (-0.5 * ((y - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)

    log_p = log_normal(x, MEAN.double(), STD.double())
    log_p_n = log_normal(norm.forward(x), (MEAN - norm.mean).double() / scale, STD.double() / scale)
    torch.testing.assert_close(log_p, log_p_n - norm.log_abs_det(3), rtol=1e-9, atol=1e-9)


def test_a_constant_feature_is_left_unscaled():
    x = torch.stack([torch.randn(100, generator=torch.Generator().manual_seed(1)), torch.full((100,), 7.0)], 1)
    norm = Normalizer.fit(x, "per-dim")
    assert norm.scale[1] == 1.0 and torch.isfinite(norm.forward(x)).all()
    assert torch.equal(norm.forward(x)[:, 1], torch.zeros(100))


def test_defaults_and_values_are_checked():
    assert vars(make_config()) == DEFAULTS
    assert set(DEFAULTS) == set(OPTIONS)
    cfg = make_config(steps="20", lr="0.01", width="auto")
    assert cfg.steps == 20 and cfg.lr == 0.01 and cfg.width == "auto"
    for bad, needle in [({"steps": 0}, "training.steps"), ({"steps": 1.5}, "training.steps"),
                        ({"lr": float("nan")}, "training.lr"), ({"objective": "magic"}, "magic"),
                        ({"nope": 1}, "unknown option"), ({"objective": "cd"}, "energy"),
                        ({"batch_size": 10, "micro_batches": 3}, "micro_batches")]:
        with pytest.raises(ConfigError, match=needle):
            make_config(**bad)


def test_set_strings_and_toml_files_give_flat_options(tmp_path):
    assert parse_set(["training.steps=5", " model.width = 8 ", "steps=7"]) == {"steps": "7", "width": "8"}
    for bad in (["model.steps=1"], ["training.nope=1"], ["training.steps"], ["=3"]):
        with pytest.raises(ConfigError):
            parse_set(bad)
    path = tmp_path / "c.toml"
    path.write_text("[training]\nsteps = 40\n[model]\nwidth = 16\n")
    assert parse_toml(path) == {"steps": 40, "width": 16}
    path.write_text("[model]\nsteps = 40\n")
    with pytest.raises(ConfigError, match="model.steps"):
        parse_toml(path)
