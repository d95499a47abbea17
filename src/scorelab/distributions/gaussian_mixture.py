"""Gaussian mixtures in any dimension: exact density and score at every noise level.

A mixture convolved with N(0, sigma^2 I) is again a mixture, with each covariance widened:

    p_sigma(x) = sum_k w_k N(x; mu_k, Sigma_k + sigma^2 I).

So the density and its score are in closed form at every sigma, which makes the mixture
the oracle that trained score models and samplers are checked against (as in edm2's
toy ``GaussianMixture``).
"""
import math

import torch

from ..core import as_sigma

_LOG_2PI = math.log(2.0 * math.pi)


def _as_points(x, dim: int) -> torch.Tensor:
    """Return ``x`` as a floating (n, dim) tensor (integers become float32), or raise."""
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected points of shape (n, {dim}), got {tuple(x.shape)}")
    return x if x.is_floating_point() else x.float()


class GaussianMixture:
    """A mixture of K Gaussians in R^d with an exact score at every noise level sigma.

        p_sigma(x) = sum_k w_k N(x; mu_k, Sigma_k + sigma^2 I)
        grad_x log p_sigma(x) = sum_k r_k(x) (Sigma_k + sigma^2 I)^{-1} (mu_k - x),
        r_k(x) = softmax_k(log w_k + log N(x; mu_k, Sigma_k + sigma^2 I)).

    Args:
        means: (K, d) component means.
        weights: (K,) positive weights, normalised here to sum to one.
        stds: (K,) standard deviations of isotropic components (or one float for all).
        covariances: (K, d, d) symmetric positive-definite covariances. Give ``stds`` or
            ``covariances``, not both; with neither, every component has covariance I.
        name: a label (the toys set it).

    Attributes (float32, read-only: they define the distribution exactly): ``means`` (K, d),
    ``weights`` (K,), ``covariances`` (K, d, d), ``stds`` (K,) or None for full covariances.

    Lists, numpy arrays and tensors are accepted. ``log_prob`` and ``score`` compute in the
    dtype of ``x`` (at least float32) on the device of ``x``. Full covariances are
    eigendecomposed once, Sigma_k = U_k diag(lambda_k) U_k^T, so that
    (Sigma_k + sigma^2 I)^{-1} = U_k diag(1 / (lambda_k + sigma^2)) U_k^T costs no
    factorisation per sigma, even when every point has its own sigma.
    """

    def __init__(self, means, weights, stds=None, covariances=None, *, name: str = "gaussian_mixture"):
        means = torch.as_tensor(means, dtype=torch.float32)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {tuple(means.shape)}")
        k, d = means.shape
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {tuple(weights.shape)}")
        if not bool(torch.all(torch.isfinite(weights) & (weights > 0))):
            raise ValueError("weights must be positive and finite")
        if stds is not None and covariances is not None:
            raise ValueError("give stds (isotropic components) or covariances, not both")
        self.name = name
        self.means = means
        self.weights = (weights / weights.sum()).float()
        # Computed from the stored float32 weights, renormalised in float64 (to sum to one exactly).
        self._log_weights = self.weights.double().log() - self.weights.double().sum().log()
        self.stds = self.covariances = self._evals = self._evecs = None
        if covariances is None:
            stds = torch.ones(k) if stds is None else torch.as_tensor(stds, dtype=torch.float32)
            if stds.ndim == 0:
                stds = stds.expand(k)
            if stds.shape != (k,):
                raise ValueError(f"stds must have shape ({k},), got {tuple(stds.shape)}")
            if not bool(torch.all(torch.isfinite(stds) & (stds > 0))):
                raise ValueError("stds must be positive and finite")
            self.stds = stds.clone()
        else:
            cov = torch.as_tensor(covariances, dtype=torch.float32)
            if cov.shape != (k, d, d):
                raise ValueError(f"covariances must have shape ({k}, {d}, {d}), got {tuple(cov.shape)}")
            if not torch.allclose(cov, cov.mT, rtol=1e-5, atol=1e-8):
                raise ValueError("covariances must be symmetric")
            self.covariances = 0.5 * (cov + cov.mT)  # removes rounding asymmetry only
            evals, evecs = torch.linalg.eigh(self.covariances.double())
            if not bool(torch.all(evals > 0)):
                raise ValueError("covariances must be positive definite")
            self._evals, self._evecs = evals, evecs
        if self.covariances is None:
            self.covariances = self.stds.square()[:, None, None] * torch.eye(d)

    # ------------------------------------------------------------------ parameters
    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def mean(self) -> torch.Tensor:
        """Mixture mean sum_k w_k mu_k, shape (d,), float32 (the same at every sigma)."""
        return (self._log_weights.exp() @ self.means.double()).float()

    def covariance(self, sigma: float = 0.0) -> torch.Tensor:
        """Mixture covariance sum_k w_k (Sigma_k + (mu_k - m)(mu_k - m)^T) + sigma^2 I, (d, d) float32."""
        w, means = self._log_weights.exp(), self.means.double()
        centred = means - w @ means
        cov = torch.einsum("k,kij->ij", w, self.covariances.double())
        cov = cov + torch.einsum("k,ki,kj->ij", w, centred, centred)
        return (cov + sigma**2 * torch.eye(self.dim, dtype=torch.float64)).float()

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw n points, (n, d) float32: a component k ~ Categorical(w), then x ~ N(mu_k, Sigma_k)."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator | None = None):
        """``(x, k)``: n points (n, d) float32 and the component each was drawn from (n,) int64,
        the class labels of a mixture whose components are the classes (same stream as ``sample``)."""
        if n == 0:
            return torch.empty(0, self.dim), torch.empty(0, dtype=torch.long)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        means = self.means[k]
        if self.stds is not None:
            return means + self.stds[k, None] * eps, k
        scaled = self._evals.float().sqrt()[k] * eps
        return means + torch.einsum("nij,nj->ni", self._evecs.float()[k], scaled), k

    def component(self, k: int) -> "GaussianMixture":
        """The k-th component alone, p(x | y = k) = N(mu_k, Sigma_k), as a one-component mixture
        (so the exact conditional score at every sigma is its ``score``)."""
        if not 0 <= k < self.n_components:
            raise ValueError(f"component {k} is not in 0..{self.n_components - 1}")
        if self.stds is not None:
            return GaussianMixture(self.means[k:k + 1], [1.0], stds=self.stds[k:k + 1], name=f"{self.name}[{k}]")
        return GaussianMixture(self.means[k:k + 1], [1.0], covariances=self.covariances[k:k + 1],
                               name=f"{self.name}[{k}]")

    # ------------------------------------------------------------------ density and score
    def _components(self, x: torch.Tensor, sigma, with_score: bool):
        """Log joint log w_k + log N(x; mu_k, Sigma_k + sigma^2 I), shape (n, K), and, if
        asked, each component's score (Sigma_k + sigma^2 I)^{-1} (mu_k - x), shape (n, K, d)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        x = x.to(dtype)
        s2 = as_sigma(sigma, x).square()[:, None]  # (n, 1)
        diff = x[:, None, :] - self.means.to(x.device, dtype)  # (n, K, d)
        comp_score = None
        if self.stds is not None:
            var = self.stds.to(x.device, dtype).square() + s2  # (n, K)
            maha = diff.square().sum(-1) / var
            logdet = self.dim * var.log()
            if with_score:
                comp_score = -diff / var[..., None]
        else:
            evecs = self._evecs.to(x.device, dtype)
            var = self._evals.to(x.device, dtype) + s2[..., None]  # (n, K, d)
            proj = torch.einsum("nki,kij->nkj", diff, evecs)  # U_k^T (x - mu_k)
            maha = (proj.square() / var).sum(-1)
            logdet = var.log().sum(-1)
            if with_score:
                comp_score = -torch.einsum("nkj,kij->nki", proj / var, evecs)
        log_joint = self._log_weights.to(x.device, dtype) - 0.5 * (maha + logdet + self.dim * _LOG_2PI)
        return log_joint, comp_score

    def log_prob(self, x, sigma=0.0) -> torch.Tensor:
        """log p_sigma(x) = logsumexp_k(log w_k + log N(x; mu_k, Sigma_k + sigma^2 I)), shape (n,).

        ``sigma`` is a float or a tensor of shape (n,) (one noise level per point).
        """
        x = _as_points(x, self.dim)
        log_joint, _ = self._components(x, sigma, with_score=False)
        return torch.logsumexp(log_joint, dim=-1).to(x.dtype)

    def log_posterior(self, x, sigma=0.0) -> torch.Tensor:
        """log p_sigma(k | x) = log w_k + log N(x; mu_k, Sigma_k + sigma^2 I) - log p_sigma(x),
        shape (n, K): the exact noisy-class posterior (the ideal classifier of classifier guidance)."""
        x = _as_points(x, self.dim)
        log_joint, _ = self._components(x, sigma, with_score=False)
        return torch.log_softmax(log_joint, dim=-1).to(x.dtype)

    def score(self, x, sigma=0.0) -> torch.Tensor:
        """grad_x log p_sigma(x) = sum_k r_k(x) (Sigma_k + sigma^2 I)^{-1} (mu_k - x), shape (n, d).

        Closed form (no autograd inside), so it runs under ``torch.no_grad`` and is itself
        differentiable in ``x``. A score function in the library's sense: ``score(x, sigma)``.
        """
        x = _as_points(x, self.dim)
        log_joint, comp_score = self._components(x, sigma, with_score=True)
        resp = torch.softmax(log_joint, dim=-1)  # r_k(x), (n, K)
        return torch.einsum("nk,nki->ni", resp, comp_score).to(x.dtype)

    def __repr__(self) -> str:
        kind = "isotropic" if self.stds is not None else "full-covariance"
        return f"GaussianMixture(name={self.name!r}, n_components={self.n_components}, dim={self.dim}, {kind})"
