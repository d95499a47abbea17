"""The diffusions of Song et al. 2021 ("Score-based generative modeling through stochastic
differential equations", SDEs 9, 11 and 13): variance exploding (VE, NCSN), variance
preserving (VP, DDPM; the linear β schedule or Nichol & Dhariwal's cosine one) and sub-VP.

Each is a linear SDE dx = f(t)·x dt + g(t) dw on t ∈ [0, T] whose perturbation kernel is

    x_t = s(t)·(x₀ + σ̃(t)·z),   z ~ N(0, I),   std σ(t) = s(t)·σ̃(t),

with the mean scale s(t) = exp ∫₀ᵗ f and the kernel variance obeying σ²' = 2f·σ² + g².
So (Karras et al. 2022, "Elucidating the design space", eq. 4) x_t/s(t) is the data blurred
by N(0, σ̃(t)²I), and the score of x_t is that of the contract at σ̃ = σ(t)/s(t):

    ∇log p_t(x) = s(t)⁻¹·score_fn(x/s(t), σ̃(t)).

Every sampler, likelihood and inpainting path on ``score_fn(x, sigma)`` then serves all three
SDEs through the map t ↔ σ̃ (:meth:`SDE.sigma_tilde`, :meth:`SDE.t_of_sigma_tilde`).
Time arguments are tensors (any shape; results have it) or floats.
"""
import math

import torch


def _t(t) -> torch.Tensor:
    return torch.as_tensor(t, dtype=torch.float64) if not torch.is_tensor(t) else t


class SDE:
    """A linear diffusion dx = f(t)·x dt + g(t) dw with kernel x_t = s(t)(x₀ + σ̃(t)z).

    Subclasses give ``mean_scale`` s(t), ``sigma_tilde`` σ̃(t), its inverse
    ``t_of_sigma_tilde``, ``drift_coefficient`` f(t) and ``diffusion`` g(t); ``t_min`` and ``T``
    bound the time range used for training and sampling (σ̃ runs over [σ̃(t_min), σ̃(T)]).
    """

    name = "sde"
    t_min: float = 0.0
    T: float = 1.0

    # --- the kernel, and the map to the contract
    def mean_scale(self, t):
        raise NotImplementedError

    def sigma_tilde(self, t):
        raise NotImplementedError

    def t_of_sigma_tilde(self, sigma):
        raise NotImplementedError

    def std(self, t):
        """σ(t) = s(t)·σ̃(t), the standard deviation of x_t given x₀."""
        return self.mean_scale(t) * self.sigma_tilde(t)

    @property
    def sigma_range(self) -> tuple[float, float]:
        """(σ̃(t_min), σ̃(T)): the contract's noise levels that this SDE spans."""
        return float(self.sigma_tilde(self.t_min)), float(self.sigma_tilde(self.T))

    def score(self, score_fn, x: torch.Tensor, t: float) -> torch.Tensor:
        """∇log p_t(x) = s(t)⁻¹·score_fn(x/s(t), σ̃(t)) from a score function on the contract."""
        s, sig = float(self.mean_scale(t)), float(self.sigma_tilde(t))
        return score_fn(x / s, torch.full((x.shape[0],), sig, dtype=x.dtype, device=x.device)) / s

    # --- the SDE
    def drift_coefficient(self, t):
        raise NotImplementedError

    def diffusion(self, t):
        raise NotImplementedError

    def drift(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """f(x, t) = f(t)·x."""
        return float(self.drift_coefficient(t)) * x

    def reverse_drift(self, score_fn, x: torch.Tensor, t: float) -> torch.Tensor:
        """The reverse-time SDE dx = [f(x, t) − g(t)²∇log p_t(x)] dt + g(t) dw̄ (Anderson 1982;
        Song et al. 2021, eq. 6): its drift, with dt < 0."""
        return self.drift(x, t) - float(self.diffusion(t)) ** 2 * self.score(score_fn, x, t)

    def probability_flow(self, score_fn, x: torch.Tensor, t: float) -> torch.Tensor:
        """The probability-flow ODE dx/dt = f(x, t) − ½g(t)²∇log p_t(x) (Song et al. 2021, eq. 13),
        which has the SDE's marginals p_t at every t."""
        return self.drift(x, t) - 0.5 * float(self.diffusion(t)) ** 2 * self.score(score_fn, x, t)

    # --- the prior p_T
    def prior_std(self) -> float:
        """The standard deviation of the prior N(0, prior_std²·I) that stands in for p_T."""
        return float(self.std(self.T))

    def prior_sample(self, shape, generator=None, dtype=torch.float32, device="cpu") -> torch.Tensor:
        """x_T ~ N(0, prior_std²·I), of ``shape`` (batch first)."""
        return self.prior_std() * torch.randn(shape, generator=generator, dtype=dtype, device=device)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; 0, prior_std²·I), shape (batch,)."""
        v, d = self.prior_std() ** 2, x[0].numel()
        return -0.5 * x.reshape(len(x), -1).square().sum(1) / v - 0.5 * d * math.log(2 * math.pi * v)

    def marginal(self, mixture, t: float):
        """p_t of Gaussian-mixture data: the mixture with means s·μ_k and covariances
        s²Σ_k + σ²I (a linear map and a Gaussian blur of a mixture are again a mixture)."""
        from ..distributions import GaussianMixture

        s, sig = float(self.mean_scale(t)), float(self.std(t))
        eye = torch.eye(mixture.dim)
        return GaussianMixture(s * mixture.means, mixture.weights,
                               covariances=s**2 * mixture.covariances + sig**2 * eye)

    def __repr__(self):
        lo, hi = self.sigma_range
        return f"{type(self).__name__}(t in [{self.t_min:g}, {self.T:g}], sigma_tilde in [{lo:.4g}, {hi:.4g}])"


class VE(SDE):
    """The variance-exploding SDE (SMLD / NCSN; Song et al. 2021, eq. 9 and Appendix C):

        dx = √(dσ²/dt) dw,   σ(t) = σ_min·(σ_max/σ_min)^t,   g(t) = σ(t)·√(2 log(σ_max/σ_min)),

    s(t) = 1, σ̃ = σ; prior N(0, σ_max² I). As in Song et al.'s code, the kernel std is σ(t)
    itself (x₀ is taken to carry σ_min's noise already), so t ∈ [0, 1] spans [σ_min, σ_max].
    """

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"VE: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self._log_ratio = math.log(sigma_max / sigma_min)

    def mean_scale(self, t):
        return torch.ones_like(_t(t))

    def sigma_tilde(self, t):
        return self.sigma_min * torch.exp(self._log_ratio * _t(t))

    def t_of_sigma_tilde(self, sigma):
        return torch.log(_t(sigma) / self.sigma_min) / self._log_ratio

    def drift_coefficient(self, t):
        return torch.zeros_like(_t(t))

    def diffusion(self, t):
        return self.sigma_tilde(t) * math.sqrt(2 * self._log_ratio)


class _Beta(SDE):
    """What VP and sub-VP share: β(t) and B(t) = ∫₀ᵗ β, so that ᾱ(t) = e^{−B(t)}.

    ``schedule="linear"``: β(t) = β_min + t(β_max − β_min), DDPM's β_i = β(i/N)/N in the limit
    N → ∞ (Ho et al. 2020; Song et al. 2021, Appendix B), B(t) = β_min t + ½t²(β_max − β_min).
    ``schedule="cosine"`` (Nichol & Dhariwal 2021, eq. 17): ᾱ(t) = cos²(u(t))/cos²(u(0)),
    u(t) = (t + δ)/(1 + δ)·π/2, δ = 0.008, so β(t) = −d log ᾱ/dt = π·tan(u(t))/(1 + δ). ᾱ(1) = 0,
    so T < 1: by default where ᾱ(T) equals the linear schedule's ᾱ(1) (the same σ̃_max).
    ``t_min`` (default 10⁻³, Song et al.'s sampling end) bounds the small-noise end.
    """

    DELTA = 0.008

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, schedule: str = "linear",
                 t_min: float = 1e-3, T: float | None = None):
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"{self.name}: schedule must be 'linear' or 'cosine', got {schedule!r}")
        if not 0 < beta_min < beta_max:
            raise ValueError(f"{self.name}: need 0 < beta_min < beta_max")
        self.beta_min, self.beta_max, self.schedule = float(beta_min), float(beta_max), schedule
        if T is None:
            T = 1.0 if schedule == "linear" else float(self._t_of_B(beta_min + 0.5 * (beta_max - beta_min)))
        if not 0 < t_min < T or (schedule == "cosine" and T >= 1) or T > 1:
            raise ValueError(f"{self.name}: need 0 < t_min < T <= 1 (T < 1 for the cosine schedule), "
                             f"got t_min={t_min}, T={T}")
        self.t_min, self.T = float(t_min), float(T)

    def _u(self, t):
        return (_t(t) + self.DELTA) / (1 + self.DELTA) * (math.pi / 2)

    def beta(self, t):
        """β(t)."""
        if self.schedule == "linear":
            return self.beta_min + _t(t) * (self.beta_max - self.beta_min)
        return math.pi * torch.tan(self._u(t)) / (1 + self.DELTA)

    def integrated_beta(self, t):
        """B(t) = ∫₀ᵗ β(τ) dτ = −log ᾱ(t)."""
        t = _t(t)
        if self.schedule == "linear":
            return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2
        u0 = self.DELTA / (1 + self.DELTA) * (math.pi / 2)
        b = 2 * (math.log(math.cos(u0)) - torch.log(torch.cos(self._u(t))))
        return b.clamp_min(0)  # rounding: 0 at t = 0, not −1e-17

    def _t_of_B(self, b):
        """The inverse of B(t)."""
        b = _t(b)
        if self.schedule == "linear":
            a, c = 0.5 * (self.beta_max - self.beta_min), self.beta_min
            return 2 * b / (c + torch.sqrt(c * c + 4 * a * b))  # the positive root, cancellation-free
        u0 = self.DELTA / (1 + self.DELTA) * (math.pi / 2)
        u = torch.arccos(math.cos(u0) * torch.exp(-0.5 * b))
        return u * (2 * (1 + self.DELTA) / math.pi) - self.DELTA

    def alpha_bar(self, t):
        """ᾱ(t) = e^{−B(t)}."""
        return torch.exp(-self.integrated_beta(t))

    def mean_scale(self, t):
        return torch.exp(-0.5 * self.integrated_beta(t))

    def drift_coefficient(self, t):
        return -0.5 * self.beta(t)


class VP(_Beta):
    """The variance-preserving SDE (DDPM; Song et al. 2021, eq. 11):

        dx = −½β(t)·x dt + √β(t) dw,   s(t) = √ᾱ(t),   σ(t)² = 1 − ᾱ(t),
        σ̃(t) = √((1 − ᾱ)/ᾱ) = √(e^{B(t)} − 1),   prior N(0, I).

    DDPM's x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε is x_t/√ᾱ_t = x₀ + σ̃ε, the contract at σ̃.
    """

    name = "vp"

    def sigma_tilde(self, t):
        return torch.sqrt(torch.expm1(self.integrated_beta(t)))

    def t_of_sigma_tilde(self, sigma):
        return self._t_of_B(torch.log1p(_t(sigma) ** 2))

    def diffusion(self, t):
        return torch.sqrt(self.beta(t))

    def prior_std(self) -> float:
        return 1.0


class SubVP(_Beta):
    """The sub-VP SDE (Song et al. 2021, eq. 13), whose variance stays below VP's:

        dx = −½β(t)·x dt + √(β(t)(1 − e^{−2B(t)})) dw,   s(t) = e^{−B/2},   σ(t) = 1 − e^{−B(t)},
        σ̃(t) = (1 − e^{−B})·e^{B/2} = 2·sinh(B/2),   prior N(0, I).
    """

    name = "subvp"

    def sigma_tilde(self, t):
        return 2 * torch.sinh(0.5 * self.integrated_beta(t))

    def t_of_sigma_tilde(self, sigma):
        return self._t_of_B(2 * torch.asinh(0.5 * _t(sigma)))

    def diffusion(self, t):
        return torch.sqrt(self.beta(t) * -torch.expm1(-2 * self.integrated_beta(t)))

    def prior_std(self) -> float:
        return 1.0


SDES = {"ve": VE, "vp": VP, "subvp": SubVP}



def make_sde(name: str, sigma_min: float, sigma_max: float, schedule: str = "linear") -> SDE:
    """The SDE ``name`` ('ve', 'vp', 'subvp') spanning the contract's levels [σ_min, σ_max]:
    VE(σ_min, σ_max), or VP / sub-VP (β ∈ [0.1, 20], ``schedule``) restricted to
    t ∈ [t(σ_min), t(σ_max)], which must lie inside the schedule's own range."""
    if name == "ve":
        return VE(sigma_min, sigma_max)
    full = SDES[name](schedule=schedule)
    t_lo, t_hi = (float(full.t_of_sigma_tilde(float(v))) for v in (sigma_min, sigma_max))
    limit = float(full.sigma_tilde(full.T))
    if not sigma_max <= limit * (1 + 1e-6):
        raise ValueError(f"{name}: sigma_max {sigma_max:.4g} is above what the {schedule} schedule "
                         f"reaches ({limit:.4g})")
    return SDES[name](schedule=schedule, t_min=t_lo, T=min(t_hi, full.T))
