"""Folders of images (.png, .jpg, .jpeg) and resizing; Pillow is imported only here."""
from pathlib import Path

import numpy as np
import torch

from .dataset import DataError, Dataset, from_array, one_line, optional_import

IMAGE_TYPES = (".png", ".jpg", ".jpeg")


def _open_image(Image, path: Path):
    """One image file as a Pillow image in mode 'L' (grayscale) or 'RGB'. Palette, bilevel,
    CMYK and other 8-bit modes are converted; an alpha channel is dropped when every pixel is
    opaque and refused otherwise (what is behind a transparent pixel is not in the file)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith(("I", "F")):
                raise DataError(f"{path}: {im.mode} (16-bit or float) images are not supported; "
                                "save as 8-bit")
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            alpha = next((b for b in im.getbands() if b in ("A", "a")), None)
            if alpha is not None and im.getchannel(alpha).getextrema()[0] < 255:
                raise DataError(f"{path}: has transparent pixels ({im.mode}); flatten the images onto "
                                "a background first")
            return im.convert("L" if im.mode in ("1", "L", "LA", "La") else "RGB")
    except DataError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds of exception
        raise DataError(f"{path}: not a readable image ({one_line(exc)})") from exc


def _hw(image_size, src: str) -> tuple[int, int]:
    hw = tuple(image_size) if isinstance(image_size, (tuple, list)) else (image_size,) * 2
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in hw):
        raise DataError(f"{src}: image_size must be a positive int or (H, W), got {image_size!r}")
    return int(hw[0]), int(hw[1])


def _image_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES and p.is_file())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list this folder ({one_line(exc)})") from exc


def load_image_folder(folder: Path, image_size) -> Dataset:
    """Every .png/.jpg/.jpeg file in ``folder`` (sorted by name; other files are ignored), or,
    for a folder holding no images but sub-folders of them, the images of every sub-folder
    with the sub-folder's name as their label (one class per sub-folder, as torchvision's
    ImageFolder). All grayscale: C = 1; otherwise all are converted to RGB, C = 3 (see
    :func:`_open_image` for the other modes). Values are divided by 255. Sizes must agree unless
    ``image_size`` is given."""
    files, labels = _image_files(folder), None
    if not files:
        try:
            subs = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError as exc:
            raise DataError(f"{folder}: cannot list this folder ({one_line(exc)})") from exc
        per_class = [(sub.name, _image_files(sub)) for sub in subs]
        files = [f for _, fs in per_class for f in fs]
        labels = [name for name, fs in per_class for _ in fs]
    if not files:
        raise DataError(f"{folder}: a folder with no {', '.join(IMAGE_TYPES)} images in it "
                        "(nor sub-folders of them, one per class)")
    data = _load_files(files, folder, image_size)
    data.labels = labels
    return data


def _load_files(files: list[Path], folder: Path, image_size) -> Dataset:
    Image = optional_import("PIL.Image", str(folder), "reading images")
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
                            f"{files[0].name}'s {w0}x{h0} (width x height); resize them all with "
                            "--set training.image_size=N (image_size=N in Python)")
    a = np.stack([np.asarray(im) for im in images])  # uint8, (n, H, W) or (n, H, W, 3)
    return from_array(a if a.ndim == 3 else a.transpose(0, 3, 1, 2), str(folder), folder.name)


def resized(data: Dataset, image_size, src: str) -> Dataset:
    """``data`` with its images resized (bilinear, antialiased) to ``image_size``."""
    h, w = _hw(image_size, src)
    if data.kind != "images":
        raise DataError(f"{src}: image_size applies to images, but this data is points")
    if data.shape[1:] == (h, w):
        return data
    x = torch.nn.functional.interpolate(data.x, size=(h, w), mode="bilinear", antialias=True)
    data.x = x.clamp(0, 1)  # only rounding: the weights are convex
    return data
