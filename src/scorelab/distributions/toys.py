"""Toy data sets, with their exact density where one exists.

Every toy has ``name``, ``dim`` and ``sample(n, generator=None) -> (n, dim) float32``; the
same generator seed gives the same samples. Toys with a closed-form density add
``log_prob(x, sigma=0.0)``, and ``score(x, sigma=0.0)`` where that density is smooth.
All live roughly in [-4, 4]^dim, except ``lecture`` (modes at (5, 5) and (-5, -5)).
"""
import math

import torch

from .gaussian_mixture import GaussianMixture, _as_points

LECTURE_MODES = ((5.0, 5.0), (-5.0, -5.0))
LECTURE_WEIGHTS = (0.8, 0.2)


def _require_sigma_zero(sigma, toy: str) -> None:
    if bool(torch.any(torch.as_tensor(sigma) != 0)):
        raise NotImplementedError(f"{toy}: the density is in closed form only at sigma=0")


def lecture() -> GaussianMixture:
    """The lecture's example: p(x) = 0.8 N(x; (5, 5), I) + 0.2 N(x; (-5, -5), I)."""
    return GaussianMixture(LECTURE_MODES, LECTURE_WEIGHTS, stds=1.0, name="lecture")


def eight_gaussians(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    """Eight equal-weight N(mu_k, std^2 I), mu_k = radius (cos(k pi/4), sin(k pi/4)), k = 0..7."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(means, torch.ones(8), stds=std, name="eight_gaussians")


class Rings:
    """Concentric rings: ring j with probability w_j, theta ~ U[0, 2 pi), r ~ N(R_j, s^2),
    x = r (cos theta, sin theta).

    The density is exact, with no R_j >> s approximation: (r, theta) and (-r, theta + pi)
    give the same point, so with rho = |x|

        p(x) = sum_j w_j [N(rho; R_j, s^2) + N(-rho; R_j, s^2)] / (2 pi rho),

    which integrates to one. It is +inf at the origin (a 1/rho singularity of weight about
    exp(-R_j^2 / 2 s^2)), where the score is undefined. Only sigma = 0 is in closed form
    (smoothing by N(0, sigma^2 I) leaves a Bessel-function integral); other sigmas raise
    NotImplementedError.
    """

    name = "rings"
    dim = 2

    def __init__(self, radii=(1.0, 2.0, 3.0), weights=None, noise: float = 0.1):
        radii = torch.as_tensor(radii, dtype=torch.float64).reshape(-1)
        weights = torch.ones_like(radii) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if not bool(torch.all(radii > 0)) or noise <= 0:
            raise ValueError("ring radii and noise must be positive")
        self.radii, self.noise = radii.float(), float(noise)
        self.weights = (weights / weights.sum()).float()
        # The radial profile g(rho) = 2 * (1-D mixture with means +-R_j, weights w_j / 2).
        self._radial = GaussianMixture(
            torch.cat([radii, -radii])[:, None], torch.cat([weights, weights]), stds=noise, name="rings_radial"
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if n == 0:  # torch.multinomial refuses to draw nothing
            return torch.empty(0, 2)
        ring = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        theta = 2 * math.pi * torch.rand(n, generator=generator)
        r = self.radii[ring] + self.noise * torch.randn(n, generator=generator)
        return r[:, None] * torch.stack([theta.cos(), theta.sin()], dim=1)

    def log_prob(self, x, sigma=0.0) -> torch.Tensor:
        """log p(x) = log g(rho) - log(2 pi rho), g as in the class docstring; +inf at the origin."""
        _require_sigma_zero(sigma, self.name)
        x = _as_points(x, self.dim)
        rho = x.norm(dim=1)
        return self._radial.log_prob(rho[:, None]) - torch.log(math.pi * rho)

    def score(self, x, sigma=0.0) -> torch.Tensor:
        """grad log p(x) = (g'(rho) / g(rho) - 1 / rho) x / rho (undefined at the origin)."""
        _require_sigma_zero(sigma, self.name)
        x = _as_points(x, self.dim)
        rho = x.norm(dim=1, keepdim=True)
        return (self._radial.score(rho) - 1 / rho) * x / rho


class Checkerboard:
    """Uniform on the 8 filled squares of a 4 x 4 checkerboard of unit cells on [-2, 2]^2.

    Cell (i, j) = [-2 + i, -1 + i) x [-2 + j, -1 + j) is filled when i + j is even, so
    log p(x) = log(1/8) on filled squares and -inf elsewhere (exact). The density is not
    differentiable, so there is no ``score``.
    """

    name = "checkerboard"
    dim = 2

    def __init__(self):
        cells = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
        self.corners = torch.tensor(cells, dtype=torch.float32) - 2.0  # lower-left corners, (8, 2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        cell = torch.randint(len(self.corners), (n,), generator=generator)
        return self.corners[cell] + torch.rand(n, 2, generator=generator)

    def log_prob(self, x, sigma=0.0) -> torch.Tensor:
        """log(1/8) inside a filled square, -inf outside (not a large finite number)."""
        _require_sigma_zero(sigma, self.name)
        x = _as_points(x, self.dim)
        cell = torch.floor(x + 2.0)
        filled = ((cell >= 0) & (cell <= 3)).all(dim=1) & (cell.sum(dim=1) % 2 == 0)
        return torch.full_like(x[:, 0], -math.inf).masked_fill(filled, -math.log(8.0))


class TwoMoons:
    """Two interleaved half circles, as scikit-learn's ``make_moons`` (with uniform random
    angles), centred and scaled by 2 onto [-3, 3] x [-1.5, 1.5], plus N(0, noise^2 I)."""

    name = "two_moons"
    dim = 2

    def __init__(self, noise: float = 0.1):
        self.noise = float(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        t = math.pi * torch.rand(n, generator=generator)
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, t.cos(), 1 - t.cos())
        y = torch.where(upper, t.sin(), 0.5 - t.sin())
        points = 2 * (torch.stack([x, y], dim=1) - torch.tensor([0.5, 0.25]))
        return points + self.noise * torch.randn(n, 2, generator=generator)


class SwissRoll:
    """2-D Swiss roll: t = 1.5 pi (1 + 2u), u ~ U[0, 1), x = (t cos t, t sin t) / 4, plus
    N(0, noise^2 I) (noise in output units). The spiral spans about [-3.5, 3.5]^2."""

    name = "swiss_roll"
    dim = 2

    def __init__(self, noise: float = 0.1):
        self.noise = float(noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        points = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 4
        return points + self.noise * torch.randn(n, 2, generator=generator)


class Curve:
    """A smooth closed curve in R^dim (a 1-D manifold), t ~ U[0, 2 pi) plus N(0, noise^2 I):

        c(t) = scale * (cos t, sin t, sin(2t)/2, cos(3t)/3, sin(4t)/4, ...),

    coordinate i >= 2 being sin(i t)/i for even i and cos(i t)/i for odd i. The first two
    coordinates make it injective; every coordinate varies, so no dimension is degenerate.
    t is uniform in the parameter, not in arc length.
    """

    name = "curve"

    def __init__(self, dim: int = 3, noise: float = 0.0, scale: float = 2.0):
        if int(dim) != dim or dim < 2:
            raise ValueError(f"curve dim must be an integer >= 2, got {dim}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.dim, self.noise, self.scale = int(dim), float(noise), float(scale)
        i = torch.arange(self.dim, dtype=torch.float64)
        self._freq = torch.cat([torch.ones(2, dtype=torch.float64), i[2:]])
        # cos(k t - phase): phase 0 gives cos, pi/2 gives sin.
        is_sin = torch.cat([torch.tensor([False, True]), i[2:] % 2 == 0])
        self._phase = is_sin.double() * (math.pi / 2)

    def point(self, t) -> torch.Tensor:
        """c(t) for a 1-D tensor of parameters t, shape (len(t), dim), in t's dtype."""
        t = torch.as_tensor(t)
        t = t if t.is_floating_point() else t.float()
        freq, phase = self._freq.to(t.dtype), self._phase.to(t.dtype)
        return self.scale * torch.cos(freq * t[:, None] - phase) / freq

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        points = self.point(2 * math.pi * torch.rand(n, generator=generator))
        if self.noise > 0:
            points = points + self.noise * torch.randn(n, self.dim, generator=generator)
        return points

    @torch.no_grad()
    def nearest_t(self, x, n_grid: int = 2048) -> torch.Tensor:
        """t of the nearest of ``n_grid`` equally spaced curve points c(t), for each row of ``x`` (float64)."""
        x64 = _as_points(x, self.dim).double()
        grid_t = torch.arange(n_grid, dtype=torch.float64) * (2 * math.pi / n_grid)
        grid = self.point(grid_t)
        return grid_t[torch.cat([torch.cdist(chunk, grid).argmin(dim=1) for chunk in x64.split(4096)])]

    @torch.no_grad()
    def distance_to_curve(self, x, n_grid: int = 2048) -> torch.Tensor:
        """min_t |x - c(t)|, shape (n,): the nearest of n_grid equally spaced t, refined by a
        golden-section search within one grid step (in float64)."""
        x = _as_points(x, self.dim)
        x64 = x.double()
        step = 2 * math.pi / n_grid
        t0 = self.nearest_t(x64, n_grid)

        def sq_dist(t):
            return (x64 - self.point(t)).square().sum(dim=1)

        lo, hi = t0 - step, t0 + step
        shrink = (math.sqrt(5) - 1) / 2
        for _ in range(40):  # the bracket shrinks to 2 * step * 0.618^40 ~ 3e-11
            a, b = hi - shrink * (hi - lo), lo + shrink * (hi - lo)
            left = sq_dist(a) < sq_dist(b)
            lo, hi = torch.where(left, lo, a), torch.where(left, b, hi)
        best = torch.minimum(sq_dist((lo + hi) / 2), sq_dist(t0))
        return best.sqrt().to(x.dtype)


TOYS = {
    "lecture": lecture,
    "eight_gaussians": eight_gaussians,
    "rings": Rings,
    "checkerboard": Checkerboard,
    "two_moons": TwoMoons,
    "swiss_roll": SwissRoll,
    "curve": Curve,
}


def get_toy(name: str, **kwargs):
    """The toy called ``name`` (a key of ``TOYS``), built with ``kwargs``."""
    if name not in TOYS:
        raise ValueError(f"unknown toy {name!r}; valid names: {', '.join(TOYS)}")
    return TOYS[name](**kwargs)
