"""A Fréchet distance for 8×8 digits that needs no download (an FID in miniature).

FID (Heusel et al. 2017) compares the Gaussian fits of two sets of network features,

    FD = ‖μa − μb‖² + tr(Σa + Σb − 2(ΣaΣb)^{1/2}).

Inception features need a download; here the features are the penultimate layer of a small MLP,
:class:`DigitClassifier`, trained in a few seconds on the ``digits:train`` split (scikit-learn's
bundled digits). :func:`digit_report` scores samples against the held-out ``digits:test`` split,
next to the floor that real training images reach on the same test set.
"""
import torch
from torch import nn

from .data import Dataset, digits_split

N_CLASSES = 10
PRESENT_FRACTION = 0.01  # a label "appears" when at least 1% of the samples get it


class DigitClassifier(nn.Module):
    """An MLP 64 → 128 → 64 → 10 with SiLU on flattened 8×8 images in [0, 1].

    ``features(x)`` is the 64-d penultimate layer (after its SiLU), the space the Fréchet
    distance is measured in; ``predict_proba(x)`` the softmax over the 10 digits.
    """

    def __init__(self, hidden: tuple[int, int] = (128, 64)):
        super().__init__()
        h1, h2 = hidden
        self.body = nn.Sequential(nn.Linear(64, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU())
        self.head = nn.Linear(h2, N_CLASSES)

    @staticmethod
    def _flat(x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim < 2 or x[0].numel() != 64:
            raise ValueError(f"DigitClassifier: expected 8×8 images, (n, 1, 8, 8), (n, 8, 8) or "
                             f"(n, 64), got shape {tuple(x.shape)}")
        return 2.0 * x.reshape(x.shape[0], 64) - 1.0  # [0, 1] → [−1, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, (n, 10)."""
        return self.head(self.body(self._flat(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, (n, 64)."""
        return self.body(self._flat(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities, (n, 10)."""
        return torch.softmax(self(x), dim=-1)


def train_digit_classifier(train: Dataset, seed: int = 0, steps: int = 300, lr: float = 1e-2,
                           weight_decay: float = 1e-3) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on ``train`` (images with ``labels``): full-batch AdamW
    on the cross-entropy, ``steps`` steps, initialised from ``seed`` (the global RNG is left
    as it was). Deterministic on the CPU for a given seed and thread count; a few seconds."""
    if train.labels is None:
        raise ValueError(f"train_digit_classifier: {train.name} has no labels")
    x, y = train.x, torch.as_tensor(train.labels, dtype=torch.long)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval().requires_grad_(False)


_CLASSIFIERS: dict[int, DigitClassifier] = {}


def digit_classifier(seed: int = 0) -> DigitClassifier:
    """The classifier trained on ``digits:train`` with ``seed``; trained once per process
    (an in-memory cache, nothing is written to disk)."""
    if seed not in _CLASSIFIERS:
        _CLASSIFIERS[seed] = train_digit_classifier(digits_split()[0], seed=seed)
    return _CLASSIFIERS[seed]


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (n, k) and (m, k):

        ‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa Σb)^{1/2}   (Fréchet 1957; Dowson & Landau 1982),

    with unbiased covariances, in float64. tr (Σa Σb)^{1/2} = Σᵢ √λᵢ, λᵢ the eigenvalues of the
    symmetric PSD matrix Σa^{1/2} Σb Σa^{1/2} (similar to Σa Σb), so no scipy and no complex
    square roots. Rounding can make the result a hair below zero; it is clamped at 0.
    """
    a, b = (torch.as_tensor(f).double() for f in (feats_a, feats_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: expected (n, k) and (m, k) features, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("frechet_distance: need at least 2 samples in each set")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError("frechet_distance: features hold NaN or Inf")
    k = a.shape[1]
    cov_a, cov_b = torch.cov(a.T).reshape(k, k), torch.cov(b.T).reshape(k, k)
    evals, evecs = torch.linalg.eigh(cov_a)
    sqrt_a = (evecs * evals.clamp(min=0).sqrt()) @ evecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    lam = torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp(min=0)
    mean_term = (a.mean(0) - b.mean(0)).square().sum()
    fd = mean_term + cov_a.trace() + cov_b.trace() - 2 * lam.sqrt().sum()
    return max(float(fd), 0.0)


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
