"""Argument types and small helpers shared by the subcommands."""
import argparse
from pathlib import Path


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what} integer, got {text!r}")
        return value
    return parse


positive_int = _int_at_least(1, "a positive")
non_negative_int = _int_at_least(0, "a non-negative")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def class_list(text, classes: list[str], n: int):
    """``--class``: None (unconditional), ``all``, or K / K1,K2,... (names or indices), as one
    class name per sample, ``n`` of each class in turn."""
    if text is None:
        return None
    if not classes:
        raise ValueError("--class: this run was trained without labels (scorelab train ... --labels)")
    from ..data.labels import resolve_class
    wanted = list(range(len(classes))) if text.strip() == "all" else [
        resolve_class(k, classes) for k in text.split(",")]
    return [classes[k] for k in wanted for _ in range(n)]


DEVICES = ("auto", "cpu", "cuda")


def add_device(p, default="auto", what="where the model runs"):
    p.add_argument("--device", choices=DEVICES, default=default,
                   help=f"{what}: auto (CUDA when present), cpu or cuda (default: {default or 'the config'})")


def load_model(run: str, device: str = "auto"):
    from ..estimator import load
    return load(Path(run), device=device)


OUTPUTS = (".npy", ".csv", ".png")


def check_output(path, force: bool) -> Path:
    """Refuse a bad output file before any work (:func:`scorelab.data.save.check_destination`)."""
    from ..data.save import check_destination
    return check_destination(path, force, OUTPUTS)


def write_samples(path: Path, chunks, n: int, shape: tuple, force: bool, preview=None) -> Path:
    """The ``n`` samples that ``chunks`` yields to ``path``: .npy or .csv as they come (all or
    nothing, :func:`scorelab.data.save.save_array_chunks`), .png as one picture of them all
    (an image grid, or a scatter over ``preview`` for points)."""
    if path.suffix.lower() == ".png":
        import torch

        from ..viz import save_image_grid, save_scatter
        from ..data.dataset import DataError, one_line
        x = torch.cat([torch.as_tensor(c) for c in chunks])
        try:
            return save_image_grid(path, x) if x.ndim == 4 else save_scatter(path, x, preview)
        except OSError as e:
            raise DataError(f"{path}: cannot write ({one_line(e)})") from e
    from ..data.save import save_array_chunks
    return save_array_chunks(path, chunks, n, shape, overwrite=force)


def progress_bar(total: int, desc: str, unit: str, quiet: bool):
    """A tqdm bar on stderr (in a terminal only, and not with --quiet)."""
    from tqdm.auto import tqdm

    from ..training.logging import show_progress
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet or not show_progress(None), dynamic_ncols=True)
