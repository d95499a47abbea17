"""Plots, apart from the math: nothing outside ``viz`` imports matplotlib.

Needs the ``viz`` extra (``pip install scorelab[viz]``). Uses matplotlib's object-oriented
``Figure`` API only, so it never selects or changes a backend.
"""
try:
    import matplotlib  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("scorelab.viz needs matplotlib: pip install 'scorelab[viz]'") from exc

from .images import image_grid, plot_image_grid, save_image_grid
from .plots import (
    auto_bounds,
    density_on_grid,
    grid_points,
    log_color_norm,
    plain_log_ticks,
    plot_density,
    plot_pairs,
    plot_samples,
    plot_score_field,
    save_samples_over_density,
    save_scatter,
    save_score_comparison,
    view_bounds,
)
from .run import save_run_plots

__all__ = [
    "auto_bounds",
    "density_on_grid",
    "grid_points",
    "log_color_norm",
    "plain_log_ticks",
    "image_grid",
    "plot_density",
    "plot_image_grid",
    "plot_pairs",
    "plot_samples",
    "plot_score_field",
    "save_image_grid",
    "save_run_plots",
    "save_samples_over_density",
    "save_scatter",
    "save_score_comparison",
    "view_bounds",
]
