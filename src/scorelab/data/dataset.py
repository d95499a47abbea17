"""A data set in memory, and the checks every source goes through (numbers only, finite,
images in [0, 1]); bad input raises :class:`DataError` with a one-line message naming its source."""
from dataclasses import dataclass

import numpy as np
import torch


class DataError(ValueError):
    """Bad user data; the message is one line, starting with the source it came from."""


@dataclass
class Dataset:
    """Samples ``x`` (points: float32 (n, d); images: float32 (n, C, H, W) in [0, 1])."""

    x: torch.Tensor
    kind: str  # "points" or "images"
    name: str
    labels: torch.Tensor | None = None  # what the source carries; class codes once ``classes`` is set
    columns: list[str] | None = None
    classes: list[str] | None = None  # the sorted class names of a conditional model's labels

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. (2,) or (1, 8, 8)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return np.asarray(x)


def optional_import(module: str, src: str, purpose: str):
    """Import an optional dependency, or explain how to install it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise DataError(f"{src}: {purpose} needs {module.split('.')[0]}; "
                        "pip install 'scorelab[data]'") from exc


def from_array(a, src: str, name: str, columns=None, labels=None) -> Dataset:
    """Validate an array-like of numbers and wrap it as points or images (see ``load_data``)."""
    a = to_numpy(a)
    if a.dtype.kind not in "biuf":
        raise DataError(f"{src}: non-numeric dtype {a.dtype}; expected an array of numbers")
    if a.ndim not in (1, 2, 3, 4):
        raise DataError(f"{src}: expected a 1-D/2-D array of points or a 3-D (n, H, W) / "
                        f"4-D (n, C, H, W) array of images, got {a.ndim}-D shape {a.shape}")
    if a.ndim == 4 and a.shape[1] not in (1, 3, 4) and a.shape[3] in (1, 3, 4):
        raise DataError(f"{src}: shape {a.shape} looks channels-last; scorelab wants "
                        "(n, C, H, W): use x.transpose(0, 3, 1, 2)")
    if len(a) < 2:
        raise DataError(f"{src}: need at least 2 samples, got {len(a)}")
    if 0 in a.shape[1:]:
        raise DataError(f"{src}: samples are empty (shape {a.shape})")
    kind = "points" if a.ndim <= 2 else "images"
    a = a.reshape(len(a), 1) if a.ndim == 1 else a[:, None] if a.ndim == 3 else a
    with np.errstate(over="ignore"):  # beyond float32's range: inf, refused below
        x = (a / 255.0 if kind == "images" and a.dtype == np.uint8 else a).astype(np.float32)  # native order
    rows = x.reshape(len(x), -1)
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():  # NaN, Inf, or a finite float64 beyond float32's range
        i = int(np.argmin(finite))
        value = a.reshape(len(a), -1)[i][~np.isfinite(rows[i])][0]
        beyond = " (beyond float32's range)" if np.isfinite(value) else ""
        raise DataError(f"{src}: row {i} (counting from 0) holds {value}{beyond}")
    if kind == "images":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"{src}: image values must lie in [0, 1], found [{lo:g}, {hi:g}]; "
                            "scale them (e.g. divide uint8 pixels by 255)")
    return Dataset(torch.from_numpy(x), kind, name, labels, columns)


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> torch.Tensor:
    """A bool mask of the test part: within each class, the first round(test_fraction · class
    size) members in a permutation seeded by ``seed``. The same labels and seed give the same split."""
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        members = perm[labels[perm] == c]
        is_test[members[: round(test_fraction * len(members))]] = True
    return is_test
