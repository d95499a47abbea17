"""Class labels: integers or strings, mapped to 0..K−1 through a stored, sorted vocabulary.

A label per sample arrives from the caller (``fit(X, y)``), a column of a table, an image
folder's sub-folders, or what a data set carries (digits, MNIST, a toy mixture's component).
Bad labels raise :class:`DataError` with a one-line message: a missing value (naming the
row), a class with a single sample, fewer than two classes, a length that does not match.
"""
import math

import numpy as np
import torch

from .dataset import DataError, Dataset, to_numpy


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _key(name: str):
    """Sort integers numerically (2 before 10), then everything else as text."""
    try:
        return (0, int(name), "")
    except ValueError:
        return (1, 0, name)


def _name(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    return str(v).strip()


def encode_labels(values, src: str, n: int) -> tuple[torch.Tensor, list[str]]:
    """``(codes, classes)``: each label's index (int64, (n,)) in ``classes``, the sorted names."""
    values = list(to_numpy(values).tolist() if isinstance(values, (np.ndarray, torch.Tensor)) else values)
    if len(values) != n:
        raise DataError(f"{src}: {len(values)} labels for {n} samples")
    for i, v in enumerate(values):
        if _missing(v):
            raise DataError(f"{src}: the label of row {i} (counting from 0) is missing")
    names = [_name(v) for v in values]
    classes = sorted(set(names), key=_key)
    if len(classes) < 2:
        raise DataError(f"{src}: only one class ({classes[0]!r}); a conditional model needs at least 2")
    index = {c: k for k, c in enumerate(classes)}
    codes = torch.tensor([index[c] for c in names], dtype=torch.long)
    counts = torch.bincount(codes, minlength=len(classes))
    if (counts < 2).any():
        lone = classes[int(torch.argmin(counts))]
        raise DataError(f"{src}: class {lone!r} has a single sample; every class needs at least 2")
    return codes, classes


def with_labels(data: Dataset, y, src: str) -> Dataset:
    """``data`` with labels for a conditional model: ``y`` a sequence of labels (one per
    sample), or True for the labels the data carry. Sets ``labels`` (codes) and ``classes``."""
    if y is True:
        if data.labels is None:
            raise DataError(f"{src}: this data carries no labels; pass them (fit(X, y)) or name "
                            "a label column of a .csv/.tsv table")
        y = data.labels
    data.labels, data.classes = encode_labels(y, src, len(data))
    return data


def resolve_class(name, classes: list[str]) -> int:
    """A class given by name (as stored) or by index (an int, or digits naming no class)."""
    text = _name(name) if not isinstance(name, str) else name.strip()
    if text in classes:
        return classes.index(text)
    try:
        k = int(text)
    except ValueError:
        k = None
    if k is None or not 0 <= k < len(classes):
        shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
        raise ValueError(f"class {name!r} is not one of the model's classes ({shown}) "
                         f"nor an index 0..{len(classes) - 1}")
    return k
