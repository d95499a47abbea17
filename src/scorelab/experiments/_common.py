"""What every experiment shares: figures, timing, seeds and JSON.

Figures are drawn with :mod:`scorelab.viz` (matplotlib's object-oriented ``Figure``, saved as
PNG through the Agg renderer; no pyplot, no backend switch). It is imported inside the figure
helpers only, so listing or importing the experiments does not need matplotlib (the
optional ``viz`` extra).
"""
import json
import math
import statistics
import time
import zlib
from pathlib import Path

import torch


def new_figure(nrows: int = 1, ncols: int = 1, size: float = 4.0, **subplot_kw):
    """``(fig, axes)`` from :func:`scorelab.viz.plots.new_figure`: ``size`` inches per panel,
    ``axes`` always an (nrows, ncols) array."""
    from ..viz.plots import new_figure as viz_new_figure

    return viz_new_figure(nrows, ncols, size, **subplot_kw)


def save_figure(fig, path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (through Agg, parent folders created); return the path."""
    from ..viz.plots import save_figure as viz_save_figure

    return viz_save_figure(fig, path)


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


def mean_sd(values) -> dict:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def record_run(name: str, run_fn, out_dir, quick: bool, seed: int, **options) -> dict:
    """``run_fn(out_dir, quick=quick, seed=seed, **options)`` with a ``"run"`` entry added (name,
    quick, seed, the options, wall-clock seconds, torch threads), written to ``out_dir/metrics.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    metrics = dict(run_fn(out_dir, quick=quick, seed=seed, **options))
    metrics["run"] = {"experiment": name, "quick": quick, "seed": seed, **options,
                      "seconds": time.perf_counter() - start, "torch_threads": torch.get_num_threads()}
    write_json(metrics, out_dir / "metrics.json")
    return metrics
