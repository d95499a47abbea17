"""``score-field``: the score ∇ₓlog p(x) vanishes exactly where the density has its extrema.

(a) A 1-D bimodal mixture p(x) = 0.6 N(−2, 0.7²) + 0.4 N(2, 0.7²) beside its score
s(x) = d/dx log p(x) = p'(x)/p(x). Since p > 0, s and p' change sign at the same points:
the score's zeros (bisection on the exact score between sign changes on a fine grid) are
compared with the density's extrema, found independently from central finite differences
of the density itself (p' ≈ (p(x + h) − p(x − h))/2h, again with bisection). Left of each
mode the score is positive (it points uphill, to the right), right of it negative; at a
maximum the score crosses zero downwards, at the minimum between the modes upwards.

(b) The lecture's 2-D mixture 0.8 N((5, 5), I) + 0.2 N((−5, −5), I) as a heatmap with its
score as arrows: every arrow points to a mode, whatever that mode's weight.
"""
from pathlib import Path

import torch

from ..distributions import GaussianMixture, get_toy
from ._common import new_figure, save_figure

DESCRIPTION = "A 1-D bimodal density next to its score, and the lecture's 2-D mixture with its score field."
CLAIM = "The score points towards higher density and is zero exactly at the density's modes and valleys."

WEIGHTS, MEANS, STD = (0.6, 0.4), (-2.0, 2.0), 0.7
GRID = (-6.0, 6.0, 12001)  # 1-D grid: from, to, points (spacing 1e-3)
FD_STEP = 1e-4  # h of the central difference p'(x) ≈ (p(x + h) − p(x − h)) / 2h
TOL = 1e-12  # bisection stops when the bracket is this narrow


def bimodal() -> GaussianMixture:
    """The 1-D mixture of part (a)."""
    return GaussianMixture([[m] for m in MEANS], WEIGHTS, stds=STD, name="bimodal_1d")


def _bisect(f, lo: float, hi: float, tol: float = TOL) -> float:
    """A root of the scalar function f in [lo, hi], where f(lo) and f(hi) have opposite signs."""
    f_lo = f(lo)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def sign_change_roots(f, grid: torch.Tensor) -> list[tuple[float, int]]:
    """Roots of f: bisection in every grid interval where f changes sign.

    ``f`` maps a float64 tensor of points to values; returns ``(root, direction)`` pairs with
    direction +1 where f goes from negative to positive and −1 the other way.
    """
    values = f(grid)
    sign = torch.sign(values)
    roots = []
    for i in torch.nonzero(sign[:-1] * sign[1:] < 0).flatten().tolist():
        scalar = lambda t: float(f(torch.tensor([t], dtype=torch.float64))[0])  # noqa: E731
        roots.append((_bisect(scalar, float(grid[i]), float(grid[i + 1])), int(sign[i + 1])))
    return roots


def _density_1d(gm: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    return gm.log_prob(x[:, None]).exp()


def _score_1d(gm: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    return gm.score(x[:, None])[:, 0]


def _density_slope(gm: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """p'(x) by central differences of the density (no score involved)."""
    return (_density_1d(gm, x + FD_STEP) - _density_1d(gm, x - FD_STEP)) / (2 * FD_STEP)


def one_dimensional_facts(gm: GaussianMixture) -> dict:
    """Score zeros vs density extrema, and the sign of the score around each mode."""
    grid = torch.linspace(*GRID, dtype=torch.float64)
    zeros = sign_change_roots(lambda x: _score_1d(gm, x), grid)
    extrema = sign_change_roots(lambda x: _density_slope(gm, x), grid)
    maxima = [x for x, direction in extrema if direction < 0]  # p' goes + → −
    minima = [x for x, direction in extrema if direction > 0]
    matched = len(zeros) == len(extrema)
    max_diff = max((abs(z - e) for (z, _), (e, _) in zip(zeros, extrema)), default=float("nan"))

    # The sign check uses the density's maxima (not the score's zeros, which would make it
    # circular): between the neighbouring extrema (or the grid's ends) and each mode,
    # the score must be > 0 on the left and < 0 on the right.
    score = _score_1d(gm, grid)
    bounds = [GRID[0]] + [x for x, _ in extrema] + [GRID[1]]
    left_min, right_max = [], []
    for m in maxima:
        i = bounds.index(m)
        left = score[(grid > bounds[i - 1]) & (grid < m)]
        right = score[(grid > m) & (grid < bounds[i + 1])]
        left_min.append(float(left.min()))
        right_max.append(float(right.max()))
    return {
        "score_zeros": [z for z, _ in zeros],
        # A zero where the score falls (− direction) is a maximum of p, where it rises a minimum.
        "score_zero_kinds": ["maximum" if d < 0 else "minimum" for _, d in zeros],
        "density_extrema": [e for e, _ in extrema],
        "density_extrema_kinds": ["maximum" if d < 0 else "minimum" for _, d in extrema],
        "density_maxima": maxima,
        "density_minima": minima,
        "zeros_match_extrema": matched and [d for _, d in zeros] == [d for _, d in extrema],
        "max_abs_difference": max_diff if matched else float("inf"),
        "score_min_left_of_each_mode": left_min,
        "score_max_right_of_each_mode": right_max,
        "score_positive_left_of_modes": all(v > 0 for v in left_min),
        "score_negative_right_of_modes": all(v < 0 for v in right_max),
        "grid": {"from": GRID[0], "to": GRID[1], "points": GRID[2]},
        "finite_difference_step": FD_STEP,
    }


def _plot_1d(ax, gm: GaussianMixture, facts: dict) -> None:
    x = torch.linspace(-5.5, 5.5, 1101, dtype=torch.float64)
    ax.plot(x, _density_1d(gm, x), color="C0", label="density p(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("p(x)", color="C0")
    twin = ax.twinx()
    twin.plot(x, _score_1d(gm, x), color="C3", label="score d/dx log p(x)")
    twin.axhline(0.0, color="C3", lw=0.6, ls=":")
    twin.set_ylabel("score d/dx log p(x)", color="C3")
    for z, kind in zip(facts["score_zeros"], facts["score_zero_kinds"]):
        ax.axvline(z, color="0.4", lw=0.8, ls="--")
        twin.plot([z], [0.0], marker="o", color="C3")
        ax.text(z, 0.62, f" {kind} x = {z:.4f}", transform=ax.get_xaxis_transform(), rotation=90,
                fontsize=8, va="bottom")
    extrema = torch.tensor(facts["density_extrema"], dtype=torch.float64)
    ax.plot(extrema, _density_1d(gm, extrema), "x", color="C0", ms=8, label="extrema of p (finite differences)")
    ax.set_title(f"(a) score zeros = density extrema (max |diff| = {facts['max_abs_difference']:.1e})")
    ax.legend(loc="upper right", fontsize=8)


def _plot_2d(ax, gm: GaussianMixture) -> None:
    from ..viz import plot_density, plot_score_field

    bounds = (-9.0, 9.0, -9.0, 9.0)
    plot_density(ax, lambda x: gm.log_prob(x), bounds, n=181, cmap="Greys", colorbar=False)
    # 20 x 20 arrows: the modes (5, 5) and (−5, −5) fall between grid points, so the
    # colour scale is not stretched down to the score's exact zero there.
    plot_score_field(ax, gm.score, 0.0, bounds, n=20, cmap="plasma",
                     title="(b) lecture mixture 0.8 N((5,5), I) + 0.2 N((−5,−5), I):\n"
                           "density (grey) and score (arrows of equal length, colour = ‖score‖)")
    ax.title.set_fontsize(9)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Compute the facts of both panels and draw ``score_field.png`` (deterministic: no
    randomness, so ``quick`` and ``seed`` change nothing)."""
    gm = bimodal()
    facts = one_dimensional_facts(gm)
    lecture = get_toy("lecture")
    fig, axes = new_figure(1, 2, size=5.5)
    _plot_1d(axes[0, 0], gm, facts)
    _plot_2d(axes[0, 1], lecture)
    save_figure(fig, Path(out_dir) / "score_field.png")
    return {
        "density_1d": {"weights": list(WEIGHTS), "means": list(MEANS), "std": STD},
        **facts,
        # The score vanishes at the modes of well-separated components (each one's pull dominates).
        "lecture_2d": {"score_norm_at_modes": lecture.score(lecture.means).norm(dim=1).tolist()},
    }
