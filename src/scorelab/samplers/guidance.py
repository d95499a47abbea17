"""Guidance: conditional scores on the one contract ``score_fn(x, sigma)``.

Each function returns a closure over the class and the guidance strength, so every sampler,
the likelihood and inpainting run conditionally without knowing it.

- :func:`classifier_free_guidance` (Ho & Salimans 2022): from one network that gives both
  s(x, σ | y) and s(x, σ) (trained with label dropout),
  s_w = (1 + w)·s(x, σ | y) − w·s(x, σ), the score of p_σ(x | y)^(1+w) p_σ(x)^(−w).
- :func:`classifier_guidance` (Dhariwal & Nichol 2021): s(x, σ) + γ·∇ₓ log p_σ(y | x), with
  a noise-conditional classifier; γ = 1 is Bayes' rule, the exact conditional score.

Here ``labelled_score(x, sigma, y)`` is a class-conditional score with ``y`` of shape (batch,)
(−1 for the null class), e.g. a conditional network.
"""
import torch

from ..nn.labels import NULL_LABEL, labels_like

GUIDANCE_METHODS = ("free", "classifier")  # classifier-free guidance, classifier guidance


def conditional_score(labelled_score, y):
    """s(x, σ | y) on the contract ``score_fn(x, sigma)``."""
    return lambda x, sigma: labelled_score(x, sigma, labels_like(y, x))


def classifier_free_guidance(labelled_score, y, w: float):
    """s_w(x, σ) = (1 + w)·s(x, σ | y) − w·s(x, σ | ∅) (Ho & Salimans 2022, eq. 6).

    w = 0 is the conditional score; w > 0 sharpens towards p(x | y)^(1+w) / p(x)^w. Both
    terms come from one call on the doubled batch [x | y; x | ∅]."""
    if not w >= 0:
        raise ValueError(f"guidance: the weight w must be >= 0, got {w!r}")
    if w == 0:
        return conditional_score(labelled_score, y)

    def guided(x, sigma):
        n, yb = x.shape[0], labels_like(y, x)
        sig = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1).expand(n)
        s = labelled_score(torch.cat([x, x]), torch.cat([sig, sig]),
                           torch.cat([yb, torch.full_like(yb, NULL_LABEL)]))
        return torch.lerp(s[n:], s[:n], 1 + w)  # s_∅ + (1 + w)(s_y − s_∅)
    return guided


def classifier_guidance(score_fn, log_prob_fn, y, scale: float = 1.0):
    """s(x, σ) + γ·∇ₓ log p(y | x, σ), γ = ``scale``, with ``log_prob_fn(x, sigma)`` the
    classifier's log-probabilities (batch, K) (Dhariwal & Nichol 2021, §4.1; Song et al. 2021,
    eq. 48). The gradient is taken by autograd, even under ``torch.no_grad``."""
    if not scale >= 0:
        raise ValueError(f"guidance: the classifier scale must be >= 0, got {scale!r}")

    def guided(x, sigma):
        yb = labels_like(y, x)
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            chosen = log_prob_fn(xi, sigma).gather(1, yb[:, None]).sum()
            (grad,) = torch.autograd.grad(chosen, xi)
        return score_fn(x, sigma) + scale * grad
    return guided
