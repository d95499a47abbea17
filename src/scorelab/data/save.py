"""Samples out: arrays written atomically as .npy or .csv, whole or chunk by chunk."""
import contextlib
import errno
import os
from pathlib import Path

import numpy as np

from ..core import atomic_write
from .dataset import DataError, one_line, to_numpy

SAVE_TYPES = (".npy", ".csv")


def check_destination(path, overwrite: bool = False, suffixes=SAVE_TYPES) -> Path:
    """``path`` if samples may be written there: one of ``suffixes``, not a directory, and not
    an existing file unless ``overwrite``; else :class:`DataError`. Called before any work
    (the CLI checks before it samples) and by :func:`save_array` itself."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise DataError(f"{path}: unsupported output type {suffix or '(none)'!r}; "
                        f"supported: {', '.join(suffixes)}")
    if path.is_dir():
        raise DataError(f"{path}: is a directory")
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; use --force to overwrite")
    return path


def save_array(path, x, *, overwrite: bool = False) -> Path:
    """Write ``x`` (array or tensor) to ``path``: .npy, or .csv (comma, no header, %.8g; 1-D or
    2-D only). Refuses an existing file unless ``overwrite``; creates parent folders; writes
    atomically (:func:`scorelab.core.atomic_write`), so a reader never sees half a file and a
    failed write leaves the old file as it was."""
    path = check_destination(path, overwrite)
    suffix = path.suffix.lower()
    a = to_numpy(x)
    if suffix == ".csv" and a.ndim > 2:
        raise DataError(f"{path}: .csv holds 1-D or 2-D arrays, got shape {a.shape}; use .npy")

    def write(tmp):
        with open(tmp, "wb") as f:
            if suffix == ".npy":
                np.save(f, a, allow_pickle=False)
            else:
                np.savetxt(f, a, fmt="%.8g", delimiter=",")
    return _write_atomically(path, write)


def save_array_chunks(path, chunks, n: int, shape: tuple, *, overwrite: bool = False) -> Path:
    """Write the ``n`` samples of ``shape`` that the iterable ``chunks`` yields (arrays or
    tensors of any number of rows) to ``path`` as they come: .npy (a memory-mapped array filled
    in place) or .csv (one flattened sample a row). Memory stays that of one chunk. All or
    nothing: the file appears under its name only when every row is written; an error or an
    interruption leaves the old file (if any) as it was and no partial one."""
    path = check_destination(path, overwrite)
    suffix = path.suffix.lower()

    def write(tmp):
        filled = 0
        if suffix == ".npy":
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, *shape))
            _reserve(tmp)
        with open(tmp, "w") if suffix == ".csv" else contextlib.nullcontext() as text:
            for chunk in chunks:
                a = to_numpy(chunk).astype(np.float32, copy=False)
                if suffix == ".npy":
                    out[filled:filled + len(a)] = a
                else:
                    np.savetxt(text, a.reshape(len(a), -1), fmt="%.8g", delimiter=",")
                filled += len(a)
        if filled != n:
            raise ValueError(f"expected {n} samples, got {filled}")
        if suffix == ".npy":
            out.flush()
            del out
    return _write_atomically(path, write)


def _reserve(path) -> None:
    """Allocate every block of the (sparse) file at ``path`` now: a memory-mapped write to a full
    disk would otherwise kill the process with SIGBUS instead of raising ENOSPC here."""
    with open(path, "rb+") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems that cannot: try anyway
                raise


def _write_atomically(path: Path, write) -> Path:
    """``atomic_write(path, write)``, its failures as one-line :class:`DataError`."""
    try:
        return atomic_write(path, write)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: cannot write ({one_line(exc)})") from exc
