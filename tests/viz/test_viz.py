"""scorelab.viz: every function draws or writes a valid PNG; helpers have exact shapes."""
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from scorelab import viz
from scorelab.distributions import Checkerboard, lecture

BOUNDS = (-9.0, 9.0, -9.0, 9.0)


def assert_png(path, min_size=(100, 100)):
    assert path.exists()
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.verify()
    with Image.open(path) as img:
        assert img.size[0] >= min_size[0] and img.size[1] >= min_size[1], img.size
        return img.size


def new_ax():
    return Figure().subplots()


# ---------------------------------------------------------------------- helpers
def test_grid_points_shapes_and_layout():
    points, X, Y = viz.grid_points((-1.0, 3.0, -2.0, 2.0), 5)
    assert points.shape == (25, 2) and X.shape == Y.shape == (5, 5)
    assert points[0].tolist() == [-1.0, -2.0] and points[-1].tolist() == [3.0, 2.0]
    # values.reshape(n, n) is an image with rows along y
    assert torch.equal(points[:, 0].reshape(5, 5), X) and torch.equal(points[:, 1].reshape(5, 5), Y)
    assert torch.all(Y[:, 0].diff() > 0) and torch.all(X[0].diff() > 0)


def test_auto_bounds_holds_all_finite_points_with_margin():
    a = torch.tensor([[0.0, 0.0, 100.0], [1.0, 2.0, -100.0]])
    b = torch.tensor([[-1.0, 4.0, 0.0], [math.nan, 50.0, 0.0]])
    assert viz.auto_bounds(a, b, margin=0.0) == (-1.0, 1.0, 0.0, 4.0)
    assert viz.auto_bounds(a, b, margin=0.5) == (-2.0, 2.0, -2.0, 6.0)
    with pytest.raises(ValueError):
        viz.auto_bounds(torch.randn(3, 1))


def test_view_bounds_ignore_far_diverged_samples():
    data = torch.rand(100, 2)
    samples = torch.cat([torch.rand(100, 2), torch.tensor([[1e6, -1e6]])])
    xmin, xmax, ymin, ymax = viz.view_bounds(samples, data)
    assert -1.5 <= xmin and xmax <= 2.5 and -1.5 <= ymin and ymax <= 2.5


# ---------------------------------------------------------------------- density
def test_density_on_grid_matches_the_exact_density_and_ignores_log_z():
    g = lecture()
    n = 120
    exact = g.log_prob(viz.grid_points((-10, 10, -10, 10), n)[0]).exp().reshape(n, n).numpy()
    grid = viz.density_on_grid(g.log_prob, (-10, 10, -10, 10), n)
    cell = (20 / (n - 1)) ** 2
    assert grid.sum() * cell == pytest.approx(1.0)
    np.testing.assert_allclose(grid, exact, atol=1e-3 * exact.max())
    # An energy's unknown log Z: exp(log p - 1e4) underflows, the grid normalisation must not
    # (float32 log-densities near -1e4 keep only ~1e-3 absolute precision).
    shifted = viz.density_on_grid(lambda x: g.log_prob(x.double()) - 1e4, (-10, 10, -10, 10), n)
    np.testing.assert_allclose(shifted, grid, atol=1e-4 * grid.max())
    raw = viz.density_on_grid(g.log_prob, (-10, 10, -10, 10), n, normalize=False)
    np.testing.assert_allclose(raw, exact, rtol=1e-5, atol=1e-12)


def test_plot_density_returns_ax_and_handles_minus_inf():
    ax = new_ax()
    assert viz.plot_density(ax, lecture().log_prob, BOUNDS, n=50) is ax
    assert len(ax.images) == 1 and ax.get_title()
    ax = new_ax()
    viz.plot_density(ax, Checkerboard().log_prob, (-3, 3, -3, 3), n=60)
    values = ax.images[0].get_array()
    assert np.nanmin(values) == 0.0 and np.nanmax(values) == pytest.approx(1 / 8, rel=0.1)


# ---------------------------------------------------------------------- samples and fields
def test_plot_samples_scatters_samples_and_data_and_counts_off_view():
    ax = new_ax()
    samples = torch.cat([torch.randn(50, 3), torch.full((2, 3), 100.0)])
    assert viz.plot_samples(ax, samples, data=torch.randn(80, 3), bounds=(-4, 4, -4, 4)) is ax
    assert len(ax.collections) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "data" and "2 outside view" in labels[1]
    ax = new_ax()
    viz.plot_samples(ax, torch.randn(20, 1), data=torch.randn(30, 1))  # 1-D points: histograms
    assert ax.patches


def test_plot_score_field_follows_the_sigma_contract():
    seen = []

    def score_fn(x, sigma):
        seen.append(sigma)
        return lecture().score(x, sigma)

    ax = new_ax()
    assert viz.plot_score_field(ax, score_fn, 0.5, BOUNDS, n=7) is ax
    assert len(seen) == 1 and seen[0].shape == (49,) and torch.all(seen[0] == 0.5)
    assert len(ax.collections) == 1 and "0.5" in ax.get_title()


def test_plot_score_field_keeps_autograd_for_energy_scores():
    def score_fn(x, sigma):  # -grad E by autograd, E = |x|^2 / 2: would fail under no_grad
        x = x.detach().requires_grad_(True)
        return -torch.autograd.grad(0.5 * x.square().sum(), x)[0]

    ax = viz.plot_score_field(new_ax(), score_fn, 1.0, BOUNDS, n=5)
    (arrows,) = ax.collections  # the field was drawn: every arrow points along -x
    points = viz.grid_points(BOUNDS, 5)[0].numpy()
    uv, norms = np.stack([arrows.U, arrows.V], 1), np.linalg.norm(points, axis=1)
    away = norms > 0
    np.testing.assert_allclose(uv[away] / np.linalg.norm(uv[away], axis=1, keepdims=True),
                               -points[away] / norms[away, None], atol=1e-6)


def test_plot_pairs_fills_a_grid_of_axes():
    axes = Figure().subplots(3, 3)
    assert viz.plot_pairs(axes, torch.randn(40, 5), torch.randn(60, 5)) is axes
    assert all(ax.has_data() for ax in axes.ravel())


def test_save_score_comparison(tmp_path):
    g = lecture()
    path = viz.save_score_comparison(tmp_path / "cmp.png", lambda x, s: 0.9 * g.score(x, s), g.score,
                                     torch.tensor([5.0, 1.0, 0.1]), BOUNDS, n=8, n_difference=30)
    width, height = assert_png(path)
    assert height > 2 * width / 3 * 0.9  # three rows of three panels


def test_save_samples_over_density_and_scatter(tmp_path):
    g = lecture()
    panels = {"plain Langevin": g.sample(200), "annealed Langevin": torch.randn(200, 2) * 5}
    path = viz.save_samples_over_density(tmp_path / "sub" / "panels.png", panels, g.log_prob, BOUNDS, n=60)
    width, height = assert_png(path)
    assert width > 1.5 * height
    assert_png(viz.save_scatter(tmp_path / "s2.png", g.sample(100), data=g.sample(300)))
    assert_png(viz.save_scatter(tmp_path / "s5.png", torch.randn(100, 5)))


# ---------------------------------------------------------------------- images
def test_image_grid_exact_shape_upscaling_padding_and_clipping():
    images = torch.rand(16, 1, 8, 8) * 3 - 1  # values outside [0, 1]
    grid = viz.image_grid(images, scale=4, padding=1)
    assert grid.shape == (4 * (8 * 4 + 1) + 1,) * 2 == (133, 133)
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    first = np.clip(images[0, 0].numpy(), 0, 1)
    np.testing.assert_allclose(grid[1:33, 1:33], np.kron(first, np.ones((4, 4))), rtol=1e-6)
    assert np.all(grid[0] == 1.0) and np.all(grid[:, 33] == 1.0)  # padding lines
    rgb = viz.image_grid(torch.rand(10, 3, 8, 8), nrow=5, scale=2)
    assert rgb.shape == (2 * 17 + 1, 5 * 17 + 1, 3)
    assert viz.image_grid(torch.rand(5, 8, 8), scale=1, padding=0).shape == (16, 24)  # 3 per row, 2 rows
    with pytest.raises(ValueError):
        viz.image_grid(torch.rand(4, 2, 8, 8))


def test_save_image_grid_pixel_size(tmp_path):
    path = viz.save_image_grid(tmp_path / "grid.png", torch.rand(16, 1, 8, 8))
    assert assert_png(path) == (133, 133)
    ax = new_ax()
    assert viz.plot_image_grid(ax, torch.rand(4, 3, 8, 8), title="x") is ax


# ---------------------------------------------------------------------- save_run_plots
class FakeModel:
    """The fitted-model duck type save_run_plots relies on (data coordinates throughout)."""

    def __init__(self, shape, model="score"):
        self.shape, self.model = shape, model
        self.sigmas_ = torch.tensor([5.0, 2.0, 1.0, 0.5, 0.1])

    def sample(self, n_samples, random_state=None):
        x = torch.randn(n_samples, *self.shape, generator=torch.Generator().manual_seed(random_state))
        return x.sigmoid() * 1.2 - 0.1 if len(self.shape) == 3 else x  # images: some pixels to clip

    def energy(self, x):
        return 0.5 * x.square().sum(dim=1)

    def score_fn(self, x, sigma):
        if self.model == "energy":  # -grad E by autograd
            x = x.detach().requires_grad_(True)
            return -torch.autograd.grad(self.energy(x).sum(), x)[0]
        return -x / (1 + torch.as_tensor(sigma).reshape(-1, 1) ** 2)


@pytest.mark.parametrize("shape, model, expected", [
    ((2,), "score", {"samples.png", "score_field.png"}),
    ((2,), "energy", {"samples.png", "score_field.png", "density.png"}),
    ((5,), "score", {"samples.png"}),
    ((1, 8, 8), "score", {"samples.png"}),
])
def test_save_run_plots(tmp_path, shape, model, expected):
    keep = tmp_path / "checkpoint.pt"
    keep.write_bytes(b"not mine")
    data = torch.rand(300, *shape) if len(shape) == 3 else torch.randn(300, *shape)
    paths = viz.save_run_plots(FakeModel(shape, model), data, tmp_path, n_samples=64 if len(shape) == 3 else 200)
    assert {p.name for p in paths} == expected
    assert {p.name for p in tmp_path.iterdir()} == expected | {"checkpoint.pt"}
    assert keep.read_bytes() == b"not mine"
    for p in paths:
        assert p.parent == tmp_path
        assert_png(p)
