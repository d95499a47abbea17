"""The lecture's experiments on training and sampling failures (dsm-sigma, manifold, low-density,
mixture-weights) in quick mode: each writes its figure and metrics.json, and its metrics show
the claimed facts with the right signs."""
import math

import torch

from conftest import run_quick_experiment
from scorelab.distributions import get_toy
from scorelab.experiments import EXPERIMENTS
from scorelab.experiments.low_density import pearson
from scorelab.experiments.manifold import curve_coverage


def test_the_four_are_registered():
    for name in ("dsm-sigma", "manifold", "low-density", "mixture-weights"):
        assert name in EXPERIMENTS


def test_dsm_sigma_bias_grows_and_gradient_variance_falls_with_sigma(tmp_path):
    m = run_quick_experiment("dsm-sigma", tmp_path, "dsm_sigma.png")
    rows = m["rows"]
    assert [r["sigma"] for r in rows] == m["sigmas"] == sorted(m["sigmas"])
    bias = [r["bias_exact"] for r in rows]
    variance = [r["grad_variance_fixed"]["trace"] for r in rows]
    assert all(a < b for a, b in zip(bias, bias[1:])) and m["bias_increases_with_sigma"]
    assert all(a > b for a, b in zip(variance, variance[1:])) and m["grad_variance_decreases_with_sigma"]
    # The label noise z/σ makes the variance grow like 1/σ²: between σ = 0.01 and 0.1 by
    # about 100 (the fitted exponent is about −2).
    assert -2.6 < m["grad_variance_log_slope_small_sigma"] < -1.4
    # The pure bias vanishes as σ → 0 (order σ⁴) and, at large σ, approaches E‖∇log p‖².
    assert bias[0] < 1e-4 and bias[-1] > 0.5 * m["clean_score_mean_sq_norm"]
    # At the largest σ the network learns its target ∇log p_σ, not ∇log p: it is closer to
    # the former than the two are to each other.
    assert rows[-1]["fisher_learned_to_target"] < rows[-1]["bias_exact"]


def test_manifold_denoising_puts_samples_on_the_curve_sliced_does_not(tmp_path):
    m = run_quick_experiment("manifold", tmp_path, "manifold.png")
    distance = {name: float(d) for name, d in m["mean_distance"].items()}  # "inf" if chains blew up
    assert distance["dsm"] < distance["ssm"] and distance["ncsn"] < distance["ssm"]
    assert distance["dsm"] < 0.5 and distance["ncsn"] < 0.5
    assert m["fraction_on_curve"]["ncsn"] > m["fraction_on_curve"]["ssm"]
    assert m["fraction_on_curve"]["dsm"] > m["fraction_on_curve"]["ssm"]
    # Sliced score matching of the clean curve has no floor: its loss is negative and still falling.
    ssm = m["methods"]["ssm"]
    assert ssm["final_loss"] < 0 and ssm["loss_drop_second_half"] > 0
    assert float(ssm["samples_smaller_step"]["mean_distance"]) > distance["dsm"]


def test_curve_coverage_of_exact_curve_points_is_full():
    curve = get_toy("curve", dim=3)
    # 100 points in each of the 24 bins of t, every one at least a grid step from a bin edge.
    t = (torch.arange(2400, dtype=torch.float64) + 0.5) * (2 * math.pi / 2400)
    x = curve.point(t).float()
    assert torch.allclose(curve.nearest_t(x, n_grid=4096), t, atol=2 * math.pi / 4096)
    cov = curve_coverage(curve, x, torch.ones(len(x), dtype=torch.bool))
    assert cov["coverage"] == 1.0 and cov["tv_to_uniform"] < 1e-9
    none = curve_coverage(curve, x, torch.zeros(len(x), dtype=torch.bool))
    assert none["coverage"] == 0.0 and none["tv_to_uniform"] == 1.0


def test_low_density_error_is_larger_where_the_data_are_not(tmp_path):
    m = run_quick_experiment("low-density", tmp_path, "low_density.png")
    low, high = m["low_density"], m["high_density"]
    assert low["mean_error"] > high["mean_error"]
    assert low["mean_error"] > m["density_weighted_error"]
    assert low["median_relative_error"] > high["median_relative_error"]
    assert 0 < high["fraction_of_grid"] < 1 and abs(low["fraction_of_grid"] + high["fraction_of_grid"] - 1) < 1e-9
    # The error falls as the density rises.
    assert m["pearson_log_error_log_density"] < 0 and m["spearman_error_log_density"] < 0


def test_pearson_of_a_line_and_its_reverse():
    v = torch.arange(10.0)
    assert abs(pearson(v, 2 * v + 1) - 1) < 1e-12 and abs(pearson(v, -v) + 1) < 1e-12


def test_mixture_weights_annealed_is_closer_to_the_truth(tmp_path):
    m = run_quick_experiment("mixture-weights", tmp_path, "mixture_weights.png")
    assert m["annealed_abs_error"] < m["plain_abs_error"]
    assert abs(m["annealed_mean"] - 0.8) < abs(m["plain_mean"] - 0.8)
    table = m["table"]
    assert set(table) == {"plain", "plain_exact_score", "annealed", "annealed_exact_score"}
    for row in table.values():
        assert abs(row["mode_55"]["mean"] + row["mode_m5m5"]["mean"] - 1) < 1e-9
    # With the exact score the sampler alone decides: annealed recovers 0.8 (to a few binomial
    # standard errors of the 300 samples), plain keeps about the box's 50/50 split.
    n = m["sampling"]["n_samples"]
    se = math.sqrt(0.8 * 0.2 / n)
    assert abs(table["annealed_exact_score"]["mode_55"]["mean"] - 0.8) < 4 * se
    assert abs(table["plain_exact_score"]["mode_55"]["mean"] - 0.5) < 4 * math.sqrt(0.25 / n) + 0.05
