"""The Fréchet distance between Gaussian fits of two feature sets (FID's statistic,
Heusel et al. 2017), on any features."""
import torch


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
