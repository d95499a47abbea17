"""The user's data in, samples out, with one-line errors that name the file, line, column or key.

``load_data`` turns an array, a file (.npy, .npz, .csv, .tsv), a folder of images, ``"digits"``
or ``"toy:NAME?key=value"`` into a ``Dataset``; every bad input raises ``DataError`` (a
``ValueError``) whose message is one line starting with the source. ``save_array`` writes
samples atomically. Pillow and scikit-learn (``pip install 'scorelab[data]'``) are imported
only when images or digits are asked for.
"""
import csv
import inspect
import os
import tempfile
import tokenize
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .distributions import TOYS, get_toy

FILE_TYPES = (".npy", ".npz", ".csv", ".tsv")
IMAGE_TYPES = (".png", ".jpg", ".jpeg")
SAVE_TYPES = (".npy", ".csv")
NPZ_KEYS = ("x", "X", "data")
NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")  # .npy; .npz (a zip, or empty)
# numpy's .npy header parser raises SyntaxError and tokenize.TokenError on a bad header, and
# MemoryError when the header claims a shape far larger than the file
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError, tokenize.TokenError, MemoryError)


class DataError(ValueError):
    """Bad user data; the message is one line, starting with the source it came from."""


@dataclass
class Dataset:
    """Samples ``x`` (points: float32 (n, d); images: float32 (n, C, H, W) in [0, 1])."""

    x: torch.Tensor
    kind: str  # "points" or "images"
    name: str
    labels: torch.Tensor | None = None
    columns: list[str] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. (2,) or (1, 8, 8)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def load_data(source, *, image_size: int | tuple | None = None, n_toy: int = 5000,
              seed: int = 0) -> Dataset:
    """Load ``source``: a numpy array or torch tensor (1-D/2-D: points, 3-D (n, H, W) or 4-D
    (n, C, H, W): images), a path to a .npy/.npz/.csv/.tsv file or to a folder of
    .png/.jpg/.jpeg images, ``"digits"``, ``"digits:train"``, ``"digits:test"``, or
    ``"toy:NAME"`` / ``"toy:NAME?key=value&..."`` (``n_toy`` samples drawn with ``seed``).
    Images are resized (bilinear) to ``image_size`` (int or (H, W)) when it is given.
    uint8 image arrays are divided by 255; other image arrays must already lie in [0, 1]."""
    if isinstance(source, (np.ndarray, torch.Tensor)):
        src, data = "array", _from_array(source, "array", "array")
    elif isinstance(source, str) and source.startswith("toy:"):
        src, data = source, _load_toy(source, n_toy, seed)
    elif isinstance(source, str) and source in ("digits", "digits:train", "digits:test"):
        src, data = source, _digits(source) if source == "digits" else digits_split()[
            source == "digits:test"]
    elif isinstance(source, (str, os.PathLike)):
        src, data = str(source), _load_path(Path(source), image_size)
    else:
        raise DataError(f"{type(source).__name__}: not a data source; pass a path, an array, "
                        "'digits' or 'toy:NAME'")
    return data if image_size is None else _resized(data, image_size, src)


def _load_path(path: Path, image_size) -> Dataset:
    if not path.exists():
        hint = "" if path.suffix or os.sep in str(path) else " (names: digits, toy:NAME)"
        raise DataError(f"no such file or directory: {path}{hint}")
    if path.is_dir():
        return _load_image_folder(path, image_size)
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; supported: "
                        f"{', '.join(FILE_TYPES)} or a folder of {'/'.join(IMAGE_TYPES)} images")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return _load_table(path) if suffix in (".csv", ".tsv") else _load_numpy(path)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return np.asarray(x)


def _from_array(a, src: str, name: str, columns=None, labels=None) -> Dataset:
    """Validate an array-like of numbers and wrap it as points or images (see ``load_data``)."""
    a = _to_numpy(a)
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


def _load_numpy(path: Path) -> Dataset:
    """A .npy array, or the single array (else key x, X or data) of a .npz archive."""
    try:
        with open(path, "rb") as f:
            if not f.read(6).startswith(NUMPY_MAGIC):
                raise DataError(f"{path}: not a .npy or .npz file (it does not start like one)")
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            a, src = loaded, str(path)
        else:
            with loaded:
                keys = list(loaded.files)
                key = keys[0] if len(keys) == 1 else next((k for k in NPZ_KEYS if k in keys), None)
                if key is None:
                    raise DataError(f"{path}: holds arrays {', '.join(keys) or '(none)'}; expected "
                                    f"one array or one named {', '.join(NPZ_KEYS)}")
                a, src = loaded[key], f"{path}[{key!r}]"
    except DataError:
        raise
    except _READ_ERRORS as exc:
        reason = "it holds pickled Python objects" if "pickle" in str(exc) else _one_line(exc)
        raise DataError(f"{path}: not a readable {path.suffix} file ({reason})") from exc
    return _from_array(a, src, path.stem)


def _number(text: str) -> int | float | None:
    """``text`` as an int, else a float, else None."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def _column(j: int, columns: list[str] | None) -> str:
    return f"column {j + 1}" + (f" ({columns[j]!r})" if columns and columns[j] else "")


def _load_table(path: Path) -> Dataset:
    """A .csv (comma) or .tsv (tab) table of numbers, one sample a row. A first row holding a
    non-number is a header (kept as ``columns``); blank lines at the end are ignored."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable {path.suffix} file ({_one_line(exc)})") from exc
    while rows and not "".join(rows[-1][1]).strip():
        rows.pop()
    columns = None
    if rows and any(_number(cell) is None for cell in rows[0][1]):
        columns = [cell.strip() for cell in rows.pop(0)[1]]
    if not rows:
        raise DataError(f"{path}: no data rows" + (" (only a header)" if columns else ""))
    first_line, width = (1, len(columns)) if columns else (rows[0][0], len(rows[0][1]))
    values = []
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}: line {line}: expected {width} columns (as on line "
                            f"{first_line}), found {len(row)}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            j = next(j for j, cell in enumerate(row) if _number(cell) is None)
            raise DataError(f"{path}: line {line}, {_column(j, columns)}: "
                            f"{row[j].strip()!r} is not a number") from None
    a = np.array(values)
    if not np.isfinite(a).all():
        i, j = np.argwhere(~np.isfinite(a))[0]
        raise DataError(f"{path}: line {rows[i][0]}, {_column(j, columns)}: "
                        f"{rows[i][1][j].strip()!r} is not a finite number")
    return _from_array(a, str(path), path.stem, columns=columns)


def _import(module: str, src: str, purpose: str):
    """Import an optional dependency, or explain how to install it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise DataError(f"{src}: {purpose} needs {module.split('.')[0]}; "
                        "pip install 'scorelab[data]'") from exc


def _open_image(Image, path: Path):
    """One image file as a Pillow image in mode 'L' (grayscale) or 'RGB'."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith(("I", "F")):
                raise DataError(f"{path}: {im.mode} (16-bit or float) images are not supported; "
                                "save as 8-bit")
            return im.convert("L" if im.mode in ("1", "L", "LA", "La") else "RGB")
    except DataError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds of exception
        raise DataError(f"{path}: not a readable image ({_one_line(exc)})") from exc


def _hw(image_size, src: str) -> tuple[int, int]:
    hw = tuple(image_size) if isinstance(image_size, (tuple, list)) else (image_size,) * 2
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in hw):
        raise DataError(f"{src}: image_size must be a positive int or (H, W), got {image_size!r}")
    return int(hw[0]), int(hw[1])


def _load_image_folder(folder: Path, image_size) -> Dataset:
    """Every .png/.jpg/.jpeg file in ``folder`` (sorted by name; other files are ignored).
    All grayscale: C = 1; otherwise all are converted to RGB, C = 3. Values are divided by 255."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES
                       and p.is_file())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list this folder ({_one_line(exc)})") from exc
    if not files:
        raise DataError(f"{folder}: a folder with no {', '.join(IMAGE_TYPES)} images in it")
    Image = _import("PIL.Image", str(folder), "reading images")
    images = [_open_image(Image, p) for p in files]
    if any(im.mode == "RGB" for im in images):
        images = [im.convert("RGB") for im in images]
    if image_size is not None:
        h, w = _hw(image_size, str(folder))
        images = [im.resize((w, h), Image.Resampling.BILINEAR) for im in images]
    (w0, h0) = images[0].size
    for path, im in zip(files, images):
        if im.size != (w0, h0):
            raise DataError(f"{path}: size {im.size[0]}x{im.size[1]} differs from "
                            f"{files[0].name}'s {w0}x{h0} (width x height); pass image_size "
                            "(--image-size) to resize all")
    a = np.stack([np.asarray(im) for im in images])  # uint8, (n, H, W) or (n, H, W, 3)
    return _from_array(a if a.ndim == 3 else a.transpose(0, 3, 1, 2), str(folder), folder.name)


def _resized(data: Dataset, image_size, src: str) -> Dataset:
    """``data`` with its images resized (bilinear, antialiased) to ``image_size``."""
    h, w = _hw(image_size, src)
    if data.kind != "images":
        raise DataError(f"{src}: image_size applies to images, but this data is points")
    if data.shape[1:] == (h, w):
        return data
    x = torch.nn.functional.interpolate(data.x, size=(h, w), mode="bilinear", antialias=True)
    data.x = x.clamp(0, 1)  # only rounding: the weights are convex
    return data


def _load_toy(source: str, n: int, seed: int) -> Dataset:
    """``n`` samples of ``toy:NAME?key=value&...`` (numeric values) drawn with ``seed``."""
    name, _, query = source.removeprefix("toy:").partition("?")
    kwargs = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        kwargs[key] = _number(value)
        if not key or kwargs[key] is None:
            raise DataError(f"{source}: {item!r} is not key=NUMBER")
    if n < 2:
        raise DataError(f"{source}: n_toy must be at least 2, got {n}")
    try:
        toy = get_toy(name, **kwargs)
    except TypeError as exc:
        takes = ", ".join(inspect.signature(TOYS[name]).parameters) or "no parameters"
        raise DataError(f"{source}: {_one_line(exc)}; toy {name!r} takes {takes}") from exc
    except ValueError as exc:
        raise DataError(f"{source}: {_one_line(exc)}") from exc
    x = toy.sample(n, generator=torch.Generator().manual_seed(seed))
    return _from_array(x, source, source)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (bundled, no download): images / 16 in [0, 1], and targets."""
    datasets = _import("sklearn.datasets", "digits", "loading digits")
    bunch = datasets.load_digits()
    return bunch.images / 16.0, bunch.target


def _digits(name: str, keep=slice(None)) -> Dataset:
    images, target = _digits_arrays()
    return _from_array(images[keep], name, name, labels=torch.tensor(target[keep]))


def digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[Dataset, Dataset]:
    """A fixed, stratified train/test split of the 1797 digits: within each class, the first
    round(test_fraction * class size) of a permutation seeded by ``seed`` go to the test set."""
    if not 0 < test_fraction < 1:
        raise DataError(f"digits: test_fraction must lie in (0, 1), got {test_fraction}")
    target = torch.tensor(_digits_arrays()[1])
    perm = torch.randperm(len(target), generator=torch.Generator().manual_seed(seed))
    is_test = torch.zeros(len(target), dtype=torch.bool)
    for c in target.unique():
        members = perm[target[perm] == c]
        is_test[members[: round(test_fraction * len(members))]] = True
    is_test = is_test.numpy()
    return _digits("digits-train", ~is_test), _digits("digits-test", is_test)


def save_array(path, x, *, overwrite: bool = False) -> Path:
    """Write ``x`` (array or tensor) to ``path``: .npy, or .csv (comma, no header, %.8g; 1-D or
    2-D only). Refuses an existing file unless ``overwrite``; creates parent folders; writes a
    temporary file in the same folder and renames it, so a reader never sees half a file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_TYPES:
        raise DataError(f"{path}: unsupported output type {suffix or '(none)'!r}; "
                        f"supported: {', '.join(SAVE_TYPES)}")
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; use --force to overwrite")
    a = _to_numpy(x)
    if suffix == ".csv" and a.ndim > 2:
        raise DataError(f"{path}: .csv holds 1-D or 2-D arrays, got shape {a.shape}; use .npy")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            if suffix == ".npy":
                np.save(f, a, allow_pickle=False)
            else:
                np.savetxt(f, a, fmt="%.8g", delimiter=",")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: cannot write ({_one_line(exc)})") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path
