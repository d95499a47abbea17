"""Argument types and small helpers shared by the subcommands."""
import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def load_model(run: str):
    from ..estimator import load
    return load(Path(run))


def check_output(path: Path, force: bool, suffixes) -> Path:
    """Refuse an unknown extension or an existing file (unless --force)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: unsupported output type {path.suffix or '(none)'!r}; use one of {', '.join(suffixes)}")
    if path.exists() and not force:
        raise FileExistsError(f"{path}: exists; use --force to overwrite")
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory")
    return path
