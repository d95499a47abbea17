"""scikit-learn's 8×8 digits (bundled with scikit-learn, no download), and a fixed split."""
from functools import lru_cache

import numpy as np
import torch

from .dataset import DataError, Dataset, from_array, optional_import, stratified_split


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (bundled, no download): images / 16 in [0, 1], and targets."""
    datasets = optional_import("sklearn.datasets", "digits", "loading digits")
    bunch = datasets.load_digits()
    return bunch.images / 16.0, bunch.target


def digits(name: str = "digits", keep=slice(None)) -> Dataset:
    """The digits (all 1797, or those selected by ``keep``) as images (n, 1, 8, 8) with labels."""
    images, target = _digits_arrays()
    return from_array(images[keep], name, name, labels=torch.tensor(target[keep]))


def digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[Dataset, Dataset]:
    """A fixed train/test split of the 1797 digits, stratified by class (:func:`stratified_split`)."""
    if not 0 < test_fraction < 1:
        raise DataError(f"digits: test_fraction must lie in (0, 1), got {test_fraction}")
    is_test = stratified_split(torch.tensor(_digits_arrays()[1]), test_fraction, seed).numpy()
    return digits("digits-train", ~is_test), digits("digits-test", is_test)
