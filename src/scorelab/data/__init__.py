"""Data in and samples out, with one-line errors that name the file, line, column or key.

- ``loaders.py``: :func:`load_data`, from an array, a file, a folder of images, a named data
  set (``digits``) or a toy (``toy:NAME``), to a :class:`Dataset`;
- ``dataset.py``: :class:`Dataset` and the checks every source goes through (:class:`DataError`);
- ``files.py``: .npy, .npz, .csv and .tsv; ``images.py``: folders of images (Pillow);
- ``digits.py``: scikit-learn's 8×8 digits and their fixed split; ``classifier.py``: the
  digit classifier that the image metrics use;
- ``save.py``: :func:`save_array`, samples written atomically.

Pillow and scikit-learn (``pip install 'scorelab[data]'``) are imported only when images or
digits are asked for.
"""
from .dataset import DataError, Dataset
from .digits import digits_split
from .loaders import FILE_TYPES, load_data
from .save import SAVE_TYPES, save_array

__all__ = ["Dataset", "DataError", "load_data", "save_array", "digits_split", "FILE_TYPES", "SAVE_TYPES"]
