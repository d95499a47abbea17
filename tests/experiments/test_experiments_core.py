"""The lecture's experiments (score-field, sliced-vs-exact, noise-levels) in quick mode:
each writes its figure and metrics.json, and its metrics show the claimed facts."""
import pytest
import torch

from conftest import run_quick_experiment
from scorelab.experiments import EXPERIMENTS, list_experiments, run_experiment, sliced_vs_exact
from scorelab.nn import ScoreMLP
from scorelab.samplers import ncsnv2_num_levels


def test_every_experiment_states_its_claim():
    for name, e in EXPERIMENTS.items():
        module = e.module
        assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION, name
        assert isinstance(module.CLAIM, str) and module.CLAIM, name
        assert callable(module.run), name
    assert [e["name"] for e in list_experiments()] == list(EXPERIMENTS)


def test_unknown_experiment_lists_the_valid_names(tmp_path):
    with pytest.raises(ValueError, match="score-field"):
        run_experiment("nope", out_root=tmp_path)
    assert not (tmp_path / "nope").exists()


def test_score_field_zeros_are_the_density_extrema(tmp_path):
    m = run_quick_experiment("score-field", tmp_path, "score_field.png")
    # Two modes and the valley between them, found from the score and, independently, from
    # finite differences of the density: the same points.
    assert m["score_zero_kinds"] == m["density_extrema_kinds"] == ["maximum", "minimum", "maximum"]
    assert len(m["score_zeros"]) == len(m["density_extrema"]) == 3
    assert m["zeros_match_extrema"]
    assert m["max_abs_difference"] < 1e-3
    for zero, extremum in zip(m["score_zeros"], m["density_extrema"]):
        assert abs(zero - extremum) < 1e-3
    # Well-separated components: the modes sit (almost) at the means, the valley between them.
    for mode, mean in zip(m["density_maxima"], m["density_1d"]["means"]):
        assert abs(mode - mean) < 1e-3
    lo, hi = m["density_maxima"]
    assert lo < m["density_minima"][0] < hi
    # The score points uphill: positive left of each mode, negative right of it.
    assert m["score_positive_left_of_modes"] and m["score_negative_right_of_modes"]
    assert all(v > 0 for v in m["score_min_left_of_each_mode"])
    assert all(v < 0 for v in m["score_max_right_of_each_mode"])
    assert max(m["lecture_2d"]["score_norm_at_modes"]) < 1e-3


def test_sliced_vs_exact_exact_cost_grows_with_dimension(tmp_path, monkeypatch):
    m = run_quick_experiment("sliced-vs-exact", tmp_path, "sliced_vs_exact.png")
    assert m["dims"] == [2, 8] and m["growth_ratio_dims"] == [2, 8]
    for method in sliced_vs_exact.METHODS:
        assert set(m["seconds_per_step"][method]) == {"2", "8"}
        assert all(t > 0 for t in m["seconds_per_step"][method].values())
        row = m["seconds_per_step"][method]
        assert m["growth_ratio"][method] == pytest.approx(row["8"] / row["2"])
    growth = m["growth_ratio"]
    assert m["exact_grows_faster_than_sliced"] == (min(growth["esm_loop"], growth["esm_vmap"]) > max(
        growth["ssm"], growth["ssm_vr"], growth["dsm"]))
    # The claim behind the timings, without a clock (wall time belongs to the benchmarks):
    # the backward passes each method's loss takes for its trace. d = 8 needs four times those
    # of d = 2 for the exact trace by loop, the same few for vmap (d/16 chunks, rounded up);
    # sliced (forward mode for ScoreMLP) and denoising need none.
    passes = {}
    real_grad = torch.autograd.grad

    def counted_grad(*args, **kwargs):
        passes[key] += 1
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted_grad)
    for method, loss in sliced_vs_exact.METHODS.items():
        for d in m["dims"]:
            key = (method, d)
            passes[key] = 0
            loss(ScoreMLP(d, 16, 2), torch.randn(8, d), torch.Generator().manual_seed(0))
    assert [passes["esm_loop", d] for d in (2, 8)] == [2, 8]
    assert [passes["esm_vmap", d] for d in (2, 8)] == [1, 1]
    for method in ("ssm", "ssm_vr", "dsm"):
        assert [passes[method, d] for d in (2, 8)] == [0, 0], method


def test_noise_levels_more_levels_recover_weights_better(tmp_path):
    m = run_quick_experiment("noise-levels", tmp_path, "noise_levels.png")
    cells = {(c["levels"], c["step_ratio"], c["steps_per_level"]): c for c in m["cells"]}
    assert len(cells) == 3 * 2 * 1
    # With the exact score, 10 levels (NCSN) lose the weights that 40 levels recover better,
    # and 5 levels lose more; the weights drift towards uniform (the 0.1 mode is over-filled).
    e5, e10, e40 = (cells[(L, 0.5, 20)]["weight_error"] for L in (5, 10, 40))
    assert e40 <= e10 <= e5
    # over-filled beyond Monte Carlo noise: by more than 4 binomial standard errors
    assert cells[(10, 0.5, 20)]["fractions"][2] > 0.1 + 4 * m["weight_standard_error"][2]
    # ε = 5 σ_L² is unstable at the large levels (α > 4 × the level's variance) and blows up.
    assert cells[(40, 5.0, 20)]["status"] == "diverged"
    assert (40, 5.0, 20) in [tuple(c) for c in m["diverged"]]
    # The floor is what exact samples score; the best cell is much closer to it than 5 levels.
    assert m["floor"]["energy_distance"]["n"] == 10
    assert cells[(40, 0.5, 20)]["energy_distance"] < cells[(5, 0.5, 20)]["energy_distance"]
    # The library's defaults are reported next to the grid.
    (default,) = m["library_defaults"]
    assert default["levels"] == ncsnv2_num_levels(2, m["sigma_max"], m["sigma_min"])
    grid_best = min(c["weight_error"] for c in m["cells"] if c["status"] == "ok")
    assert default["vs_grid_best"] == ("better" if default["weight_error"] <= grid_best else "worse")
    assert default["grid_cells_with_lower_weight_error"] == sum(
        c["status"] == "ok" and c["weight_error"] < default["weight_error"] for c in m["cells"])


def test_guidance_experiment_quick(tmp_path):
    stored = run_quick_experiment("guidance", tmp_path, "sweep.png")
    assert {r["method"] for r in stored["sweep"]} == {"free", "classifier"}
    assert all(0 <= r["accuracy"] <= 1 and r["fd"] > 0 and r["nfe"] == 35 for r in stored["sweep"])
    assert set(stored["targets"]) == {"mixture_nearest_own", "mixture_energy_distance_ratio", "image_accuracy",
                                      "image_fd_ratio"}
    assert (tmp_path / "guidance" / "class_rows.png").stat().st_size > 0
    assert (tmp_path / "guidance" / "inpaint.png").stat().st_size > 0
