"""How digit-like samples are (8×8 digits or 28×28 MNIST), judged by a classifier trained
here: a Fréchet distance on its features (an FID in miniature, with nothing downloaded), next
to the floor that as many real images reach, and the classes the samples fall in."""
import torch

from ..data.classifier import N_CLASSES, digit_classifier, mnist_classifier
from ..data.digits import digits_split
from ..data.mnist import mnist_split
from .frechet import frechet_distance

PRESENT_FRACTION = 0.01  # a label "appears" when at least 1% of the samples get it


REFERENCES = {"digits": (digit_classifier, digits_split, 64), "mnist": (mnist_classifier, mnist_split, 784)}


def image_report(samples, data: str = "digits", *, seed: int = 0) -> dict:
    """How much ``samples`` look like the real images of ``data`` (``"digits"``, 8×8, or
    ``"mnist"``, 28×28), judged by that data set's classifier trained with ``seed``.

    Samples are clipped to [0, 1] first (the share of pixels moved is ``clipped_fraction``).
    The reference is the data set's fixed test split, whatever ``seed``. Keys:

    - ``fd``: Fréchet distance between the classifier features of the samples and of the test split;
    - ``fd_floor``: the same for as many real training images as there are samples (a random
      subset drawn with ``seed``; at most the whole train split, ``n_floor`` of them): what
      real images score at this n. An FD is biased upwards by O(1/n), so FD and floor are
      comparable only at equal n;
    - ``fd_ratio``: ``fd / fd_floor`` (≈ 1 for samples as good as real images);
    - ``label_histogram`` and ``class_fractions``: the classifier's argmax on the samples;
    - ``digits_present``: how many classes get at least 1% of the samples;
    - ``mean_confidence`` and ``test_mean_confidence``: mean max-probability on the samples
      and on the test split;
    - ``n_samples``, ``n_floor``, ``n_test``, ``clipped_fraction``.
    """
    if data not in REFERENCES:
        raise ValueError(f"image_report: data must be one of {', '.join(REFERENCES)}, got {data!r}")
    classifier, split, pixels = REFERENCES[data]
    x = torch.as_tensor(samples).detach().float().cpu()  # the classifier lives on the CPU
    if x.ndim < 2 or x.shape[0] < 2 or x[0].numel() != pixels:
        raise ValueError(f"image_report: expected {data} images ({pixels} pixels) with n >= 2, got shape "
                         f"{tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("image_report: samples hold NaN or Inf")
    clipped = x.clamp(0.0, 1.0)
    train, test = split()
    model = classifier(seed)
    g = torch.Generator().manual_seed(seed)
    subset = train.x[torch.randperm(len(train), generator=g)[: min(len(x), len(train))]]
    test_feats = model.features(test.x)
    fd = frechet_distance(model.features(clipped), test_feats)
    fd_floor = frechet_distance(model.features(subset), test_feats)
    proba = model.predict_proba(clipped)
    hist = torch.bincount(proba.argmax(1), minlength=N_CLASSES)
    return {
        "fd": fd,
        "fd_floor": fd_floor,
        "fd_ratio": fd / fd_floor,
        "label_histogram": hist.tolist(),
        "class_fractions": (hist.double() / len(x)).tolist(),
        "digits_present": int((hist >= PRESENT_FRACTION * len(x)).sum()),
        "mean_confidence": float(proba.max(1).values.mean()),
        "test_mean_confidence": float(model.predict_proba(test.x).max(1).values.mean()),
        "n_samples": len(x),
        "n_floor": len(subset),
        "n_test": len(test),
        "clipped_fraction": float((clipped != x).double().mean()),
    }


def digit_report(samples, *, seed: int = 0) -> dict:
    """:func:`image_report` of 8×8 digit samples (n, 1, 8, 8)."""
    return image_report(samples, "digits", seed=seed)


def mnist_report(samples, *, seed: int = 0) -> dict:
    """:func:`image_report` of 28×28 MNIST samples (n, 1, 28, 28)."""
    return image_report(samples, "mnist", seed=seed)
