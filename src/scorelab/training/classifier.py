"""Training the noise-conditional classifier of classifier guidance.

Minimises the cross-entropy −log p(y | x + σz, σ) with σ log-uniform over the score model's
training range (every σ a sampler visits), z ~ N(0, I), in the run's normalised units.
"""
import math

import torch

from .distributed import stream_generator

CLASSIFIER_STREAM = -4  # the classifier's random streams, apart from the score model's
CLASSIFIER_LR = 2e-3


def classifier_loss(classifier, x, y, sigma_min: float, sigma_max: float, generator=None) -> torch.Tensor:
    """Mean cross-entropy of ``classifier`` on x̃ = x + σz, log σ ~ U[log σ_min, log σ_max]."""
    u = torch.rand(x.shape[0], generator=generator, device=x.device)
    sigma = torch.exp(math.log(sigma_min) + (math.log(sigma_max) - math.log(sigma_min)) * u)
    z = torch.randn(x.shape, generator=generator, device=x.device)
    noisy = x + sigma.reshape(-1, *[1] * (x.ndim - 1)) * z
    return torch.nn.functional.cross_entropy(classifier(noisy, sigma), y)


def train_classifier(run, x_train: torch.Tensor, y_train: torch.Tensor, steps: int, log=None):
    """``run.classifier``: a :class:`NoisyClassifier` trained for ``steps`` Adam steps (batch
    ``training.batch_size``, cosine-decayed learning rate), deterministic in ``training.seed``.
    ``log(step, loss)``, if given, is called after each step."""
    cfg, device = run.cfg, x_train.device
    sigmas = run.sigmas.tolist()
    lo, hi = (sigmas[-1], sigmas[0]) if sigmas else (1e-3, 1e-3)
    torch.manual_seed(cfg.seed)
    classifier = run.new_classifier(device)
    opt = torch.optim.Adam(classifier.parameters(), lr=CLASSIFIER_LR)
    batch = min(cfg.batch_size, len(x_train))
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = CLASSIFIER_LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        g = stream_generator(cfg.seed, step, CLASSIFIER_STREAM, device)
        idx = torch.randint(len(x_train), (batch,), generator=g, device=device)
        loss = classifier_loss(classifier, x_train[idx], y_train[idx], lo, hi, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None:
            log(step + 1, loss.item())
    run.classifier = classifier.eval().requires_grad_(False)
    return run.classifier
