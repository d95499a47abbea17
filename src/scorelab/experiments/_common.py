"""What every experiment shares: figures (matplotlib's Agg canvas), timing, seeds and JSON.

matplotlib is imported inside the figure helpers only, so listing or importing the
experiments does not need it (it is the optional ``viz`` extra).
"""
import json
import math
import statistics
import time
import zlib
from pathlib import Path

import torch


def new_figure(nrows: int = 1, ncols: int = 1, figsize=(6.0, 4.0), **subplot_kw):
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot, no global backend switch) and its axes.

    Returns ``(fig, axes)`` with ``axes`` an array of shape (nrows, ncols), squeezed as
    ``plt.subplots`` does.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplot_kw)
    return fig, axes


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (PNG through Agg) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def time_call(fn, repeats: int = 5, warmup: int = 1) -> dict:
    """Wall-clock time of ``fn()`` in seconds: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Returns ``{"median": ..., "min": ..., "repeats": ...}`` (the median is the number to
    report: it ignores the odd slow call caused by other processes on a shared machine).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError("time_call: need repeats >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "repeats": repeats}


def generator(seed: int, *keys) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and ``keys`` (say, a grid cell), so that each
    cell's random numbers do not depend on which cells ran before it."""
    key = zlib.crc32(repr((seed,) + keys).encode())
    return torch.Generator().manual_seed(key)


def jsonable(obj):
    """``obj`` as plain JSON types: tensors and numpy values become lists or floats, tuples
    become lists, paths strings; a non-finite float becomes the string ``"nan"``, ``"inf"``
    or ``"-inf"`` (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def write_json(obj, path) -> Path:
    """Write ``obj`` (through :func:`jsonable`) as pretty JSON with sorted keys; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path
