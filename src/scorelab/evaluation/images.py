"""How digit-like samples are, judged by a classifier trained here: a Fréchet distance on its
features (an FID in miniature, with nothing downloaded), next to the floor that real images
reach, and the classes the samples fall in."""
import torch

from ..data.classifier import N_CLASSES, digit_classifier
from ..data.digits import digits_split
from .frechet import frechet_distance

PRESENT_FRACTION = 0.01  # a label "appears" when at least 1% of the samples get it


def digit_report(samples, *, seed: int = 0) -> dict:
    """How digit-like ``samples`` (n, 1, 8, 8) are, judged by the classifier of ``seed``.

    Samples are clipped to [0, 1] first (the share of pixels moved is ``clipped_fraction``).
    The reference is the held-out split of ``digits_split()`` (the split ``"digits:train"``
    and ``"digits:test"`` use), whatever ``seed``. Keys:

    - ``fd``: Fréchet distance between the features of the samples and of the test split;
    - ``fd_floor``: the same for a random subset of the train split (drawn with ``seed``) as
      large as the test split: what real digits score, the floor for ~360 samples;
    - ``fd_ratio``: ``fd / fd_floor`` (≈ 1 for samples as good as real digits);
    - ``label_histogram``: 10 counts of the classifier's argmax on the samples;
    - ``digits_present``: how many labels get at least 1% of the samples;
    - ``mean_confidence`` and ``test_mean_confidence``: mean max-probability on the samples
      and on the test split;
    - ``n_samples``, ``clipped_fraction``.
    """
    x = torch.as_tensor(samples).detach().float().cpu()  # the classifier lives on the CPU
    if x.ndim < 2 or x.shape[0] < 2 or x[0].numel() != 64:
        raise ValueError(f"digit_report: expected (n, 1, 8, 8) samples with n >= 2, got shape "
                         f"{tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("digit_report: samples hold NaN or Inf")
    clipped = x.clamp(0.0, 1.0)
    clipped_fraction = float((clipped != x).double().mean())
    train, test = digits_split()
    model = digit_classifier(seed)
    g = torch.Generator().manual_seed(seed)
    subset = train.x[torch.randperm(len(train), generator=g)[: len(test)]]
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
        "digits_present": int((hist >= PRESENT_FRACTION * len(x)).sum()),
        "mean_confidence": float(proba.max(1).values.mean()),
        "test_mean_confidence": float(model.predict_proba(test.x).max(1).values.mean()),
        "n_samples": len(x),
        "clipped_fraction": clipped_fraction,
    }
