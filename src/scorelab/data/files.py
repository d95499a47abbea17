"""Arrays and tables from files: .npy, .npz (one array, or the one named x, X or data), .csv and
.tsv (numbers, an optional header row); never unpickled."""
import csv
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset, from_array, one_line

NPZ_KEYS = ("x", "X", "data")
NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")  # .npy; .npz (a zip, or empty)
# numpy's .npy header parser raises SyntaxError and tokenize.TokenError on a bad header, and
# MemoryError when the header claims a shape far larger than the file
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, SyntaxError, tokenize.TokenError, MemoryError)


def load_numpy(path: Path) -> Dataset:
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
        reason = "it holds pickled Python objects" if "pickle" in str(exc) else one_line(exc)
        raise DataError(f"{path}: not a readable {path.suffix} file ({reason})") from exc
    return from_array(a, src, path.stem)


def parse_number(text: str) -> int | float | None:
    """``text`` as an int, else a float, else None."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def _column(j: int, columns: list[str] | None) -> str:
    return f"column {j + 1}" + (f" ({columns[j]!r})" if columns and columns[j] else "")


def _is_header(row: list[str], label_column) -> bool:
    """A first row with a non-number is a header, but for a label column given by index,
    whose cells may be any text."""
    j = parse_number(label_column) if isinstance(label_column, str) else label_column
    if isinstance(j, int) and not isinstance(j, bool) and -len(row) <= j < len(row):
        row = row[:j % len(row)] + row[j % len(row) + 1:]
    return any(parse_number(cell) is None for cell in row)


def _label_index(path: Path, label_column, columns, width: int) -> int:
    """The index of the label column, given by header name or by index (from 0; −1 the last)."""
    if isinstance(label_column, str) and columns and label_column.strip() in columns:
        return columns.index(label_column.strip())
    j = parse_number(label_column) if isinstance(label_column, str) else label_column
    if not isinstance(j, int) or isinstance(j, bool) or not -width <= j < width:
        names = f"; its columns: {', '.join(columns)}" if columns else " (the table has no header)"
        raise DataError(f"{path}: no label column {label_column!r}{names} (or give an index 0..{width - 1})")
    return j % width


def load_table(path: Path, label_column=None) -> Dataset:
    """A .csv (comma) or .tsv (tab) table of numbers, one sample a row. A first row holding a
    non-number is a header (kept as ``columns``); blank lines at the end are ignored.
    ``label_column`` (a header name, or an index from 0) is taken out as the labels (any text)."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable {path.suffix} file ({one_line(exc)})") from exc
    while rows and not "".join(rows[-1][1]).strip():
        rows.pop()
    columns = None
    if rows and _is_header(rows[0][1], label_column):
        columns = [cell.strip() for cell in rows.pop(0)[1]]
    if not rows:
        raise DataError(f"{path}: no data rows" + (" (only a header)" if columns else ""))
    first_line, width = (1, len(columns)) if columns else (rows[0][0], len(rows[0][1]))
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}: line {line}: expected {width} columns (as on line "
                            f"{first_line}), found {len(row)}")
    labels = None
    if label_column is not None:
        j = _label_index(path, label_column, columns, width)
        if width < 2:
            raise DataError(f"{path}: the label column is the only column; no features are left")
        labels = [row[j] for _, row in rows]
        rows = [(line, row[:j] + row[j + 1:]) for line, row in rows]
        columns = None if columns is None else columns[:j] + columns[j + 1:]
    values = []
    for line, row in rows:
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            j = next(j for j, cell in enumerate(row) if parse_number(cell) is None)
            raise DataError(f"{path}: line {line}, {_column(j, columns)}: "
                            f"{row[j].strip()!r} is not a number") from None
    a = np.array(values)
    if not np.isfinite(a).all():
        i, j = np.argwhere(~np.isfinite(a))[0]
        raise DataError(f"{path}: line {rows[i][0]}, {_column(j, columns)}: "
                        f"{rows[i][1][j].strip()!r} is not a finite number")
    return from_array(a, str(path), path.stem, columns=columns, labels=labels)
