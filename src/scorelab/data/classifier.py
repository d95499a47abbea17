"""The classifiers whose features the Fréchet distance of digit samples is measured in (an FID
in miniature): trained here on the train split, so that no weights are downloaded.

- 8×8 digits: :class:`DigitClassifier`, an MLP trained in seconds, kept in memory;
- 28×28 MNIST: :class:`MnistClassifier`, a small CNN trained in about a minute on a CPU and
  cached in the user's cache directory (``$SCORELAB_CACHE``, else ``$XDG_CACHE_HOME/scorelab``,
  else ``~/.cache/scorelab``) as safetensors, keyed by its recipe and the data's checksum.
"""
import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from ..core import atomic_write
from .dataset import Dataset
from .digits import digits_split
from .mnist import mnist_split

N_CLASSES = 10


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


_CLASSIFIERS: dict = {}  # (data set, seed) -> classifier, once per process


def digit_classifier(seed: int = 0) -> DigitClassifier:
    """The classifier trained on ``digits:train`` with ``seed``; trained once per process
    (an in-memory cache, nothing is written to disk)."""
    if ("digits", seed) not in _CLASSIFIERS:
        _CLASSIFIERS[("digits", seed)] = train_digit_classifier(digits_split()[0], seed=seed)
    return _CLASSIFIERS[("digits", seed)]


class MnistClassifier(nn.Module):
    """A small CNN on 28×28 images in [0, 1]: two 3×3 conv + SiLU + 2×2 max-pool stages
    (32, 64 channels), then 3136 → 128 (SiLU) → 10. ``features(x)`` is the 128-d penultimate
    layer, the space of the Fréchet distance; ``predict_proba(x)`` the softmax."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.SiLU())
        self.head = nn.Linear(128, N_CLASSES)

    @staticmethod
    def _images(x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim < 2 or x[0].numel() != 784:
            raise ValueError(f"MnistClassifier: expected 28×28 images, (n, 1, 28, 28), got shape {tuple(x.shape)}")
        return 2.0 * x.reshape(x.shape[0], 1, 28, 28) - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self._images(x)))

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        """Penultimate-layer features, (n, 128), computed ``batch`` images at a time."""
        x = self._images(x)
        return torch.cat([self.body(x[i:i + batch]) for i in range(0, len(x), batch)])

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
        x = self._images(x)
        return torch.cat([torch.softmax(self.head(self.body(x[i:i + batch])), -1) for i in range(0, len(x), batch)])


MNIST_RECIPE = {"epochs": 6, "batch": 100, "lr": 2e-3, "weight_decay": 1e-4, "version": 1}


def train_mnist_classifier(train: Dataset, seed: int = 0, recipe: dict = MNIST_RECIPE) -> MnistClassifier:
    """Train a :class:`MnistClassifier` on ``train``: AdamW on the cross-entropy, minibatches
    in an order drawn from ``seed``, the learning rate cosine-decayed over ``recipe["epochs"]``."""
    if train.labels is None:
        raise ValueError(f"train_mnist_classifier: {train.name} has no labels")
    x, y = train.x, torch.as_tensor(train.labels, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MnistClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    steps = recipe["epochs"] * (len(x) // recipe["batch"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(recipe["epochs"]):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - recipe["batch"] + 1, recipe["batch"]):
            idx = order[i:i + recipe["batch"]]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    return model.eval().requires_grad_(False)


def cache_dir() -> Path:
    """Where scorelab keeps what it computes once per machine (the MNIST classifier)."""
    root = os.environ.get("SCORELAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scorelab")
    return Path(root)


def _cache_key(train: Dataset, seed: int) -> str:
    digest = hashlib.sha256(repr((sorted(MNIST_RECIPE.items()), seed)).encode())
    digest.update(train.x.numpy().tobytes())
    digest.update(train.labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def mnist_classifier(seed: int = 0) -> MnistClassifier:
    """The classifier trained on the MNIST train split with ``seed``: loaded from the cache
    directory when it holds one for this recipe and data, else trained and saved there
    (atomically; an unwritable cache only costs the training next time)."""
    if ("mnist", seed) in _CLASSIFIERS:
        return _CLASSIFIERS[("mnist", seed)]
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save
    train = mnist_split()[0]
    path = cache_dir() / f"mnist-classifier-{_cache_key(train, seed)}.safetensors"
    model = MnistClassifier()
    try:
        model.load_state_dict(load_file(str(path)))
        model.eval().requires_grad_(False)
    except (OSError, SafetensorError, RuntimeError, KeyError):
        model = train_mnist_classifier(train, seed)
        data = save({k: v.contiguous() for k, v in model.state_dict().items()})
        try:
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        except OSError:
            pass
    _CLASSIFIERS[("mnist", seed)] = model
    return model
