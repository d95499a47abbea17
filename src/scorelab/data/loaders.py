"""The user's data in: ``load_data`` turns an array, a file, a folder of images, a named data
set or a toy into a :class:`Dataset`, with one-line errors that name the file, line, column or
key (:class:`DataError`)."""
import inspect
import os
from pathlib import Path

import numpy as np
import torch

from ..distributions import TOYS, get_toy
from .dataset import DataError, Dataset, from_array, one_line
from .digits import digits, digits_split
from .files import load_numpy, load_table, parse_number
from .images import IMAGE_TYPES, load_image_folder, resized
from .mnist import mnist, mnist_split

FILE_TYPES = (".npy", ".npz", ".csv", ".tsv")
NAMED = {  # the data sets that packages ship
    "digits": digits, "digits:train": lambda: digits_split()[0], "digits:test": lambda: digits_split()[1],
    "mnist": lambda: mnist_split()[0], "mnist:train": lambda: mnist_split()[0],
    "mnist:test": lambda: mnist_split()[1], "mnist:all": mnist,
}


def load_data(source, *, image_size: int | tuple | None = None, n_toy: int = 5000,
              seed: int = 0, label_column: str | int | None = None) -> Dataset:
    """Load ``source``: a numpy array or torch tensor (1-D/2-D: points, 3-D (n, H, W) or 4-D
    (n, C, H, W): images), a path to a .npy/.npz/.csv/.tsv file or to a folder of
    .png/.jpg/.jpeg images, a named data set (``"digits"``, ``"digits:train"``, ``"digits:test"``;
    ``"mnist"`` = ``"mnist:train"``, ``"mnist:test"``, ``"mnist:all"``: see ``NAMED``), or
    ``"toy:NAME"`` / ``"toy:NAME?key=value&..."`` (``n_toy`` samples drawn with ``seed``).
    Images are resized (bilinear) to ``image_size`` (int or (H, W)) when it is given.
    uint8 image arrays are divided by 255; other image arrays must already lie in [0, 1].

    Labels come with the data where the source has them: digits and MNIST's digit, a toy
    mixture's component, an image folder's sub-folder (a folder of class folders), and
    ``label_column`` of a .csv/.tsv table (its header name, or its index counting from 0),
    which is taken out of the features (see :mod:`scorelab.data.labels`)."""
    if label_column is not None and not (isinstance(source, (str, os.PathLike))
                                         and Path(source).suffix.lower() in (".csv", ".tsv")):
        raise DataError(f"labels: a label column ({label_column!r}) applies to .csv/.tsv tables only")
    if isinstance(source, (np.ndarray, torch.Tensor)):
        src, data = "array", from_array(source, "array", "array")
    elif isinstance(source, str) and source.startswith("toy:"):
        src, data = source, _load_toy(source, n_toy, seed)
    elif isinstance(source, str) and source in NAMED:
        src, data = source, NAMED[source]()
    elif isinstance(source, (str, os.PathLike)):
        src, data = str(source), _load_path(Path(source), image_size, label_column)
    else:
        raise DataError(f"{type(source).__name__}: not a data source; pass a path, an array, "
                        "'digits', 'mnist' or 'toy:NAME'")
    return data if image_size is None else resized(data, image_size, src)


def _load_path(path: Path, image_size, label_column=None) -> Dataset:
    if not path.exists():
        hint = "" if path.suffix or os.sep in str(path) else f" (names: {', '.join(NAMED)}, toy:NAME)"
        raise DataError(f"no such file or directory: {path}{hint}")
    if path.is_dir():
        return load_image_folder(path, image_size)
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; supported: "
                        f"{', '.join(FILE_TYPES)} or a folder of {'/'.join(IMAGE_TYPES)} images")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return load_table(path, label_column) if suffix in (".csv", ".tsv") else load_numpy(path)


def _load_toy(source: str, n: int, seed: int) -> Dataset:
    """``n`` samples of ``toy:NAME?key=value&...`` (numeric values) drawn with ``seed``."""
    name, _, query = source.removeprefix("toy:").partition("?")
    kwargs = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        kwargs[key] = parse_number(value)
        if not key or kwargs[key] is None:
            raise DataError(f"{source}: {item!r} is not key=NUMBER")
    if n < 2:
        raise DataError(f"{source}: n_toy must be at least 2, got {n}")
    try:
        toy = get_toy(name, **kwargs)
    except TypeError as exc:
        takes = ", ".join(inspect.signature(TOYS[name]).parameters) or "no parameters"
        raise DataError(f"{source}: {one_line(exc)}; toy {name!r} takes {takes}") from exc
    except ValueError as exc:
        raise DataError(f"{source}: {one_line(exc)}") from exc
    g = torch.Generator().manual_seed(seed)
    if hasattr(toy, "sample_labelled"):  # a mixture: each sample's component is its class
        x, k = toy.sample_labelled(n, generator=g)
        return from_array(x, source, source, labels=k)
    return from_array(toy.sample(n, generator=g), source, source)
