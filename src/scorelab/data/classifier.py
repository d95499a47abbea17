"""The digit classifier whose features the Fréchet distance of digit samples is measured in:
trained here on the train split, in seconds, so that nothing is downloaded (an FID in miniature)."""
import torch
from torch import nn

from .dataset import Dataset
from .digits import digits_split

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


_CLASSIFIERS: dict[int, DigitClassifier] = {}


def digit_classifier(seed: int = 0) -> DigitClassifier:
    """The classifier trained on ``digits:train`` with ``seed``; trained once per process
    (an in-memory cache, nothing is written to disk)."""
    if seed not in _CLASSIFIERS:
        _CLASSIFIERS[seed] = train_digit_classifier(digits_split()[0], seed=seed)
    return _CLASSIFIERS[seed]
