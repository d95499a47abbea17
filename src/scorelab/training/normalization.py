"""Data normalisation, stored with the model and undone on output.

x_n = (x − m)/c with m the per-feature mean and c either one scale for all features
(``isotropic``: c = sqrt(mean of the per-feature variances), so noise N(0, σ²I) in data units
is N(0, (σ/c)²I) after normalisation and σ keeps its meaning) or one per feature (``per-dim``).
Scores transform as s(x) = s_n(x_n)/c and energies are unchanged up to a constant.
"""
import torch


class Normalizer:
    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, mode: str):
        self.mean, self.scale, self.mode = mean, scale, mode

    @classmethod
    def fit(cls, x: torch.Tensor, mode: str = "isotropic") -> "Normalizer":
        shape = x.shape[1:]
        if mode == "none":
            return cls(torch.zeros(shape), torch.ones(()), mode)
        mean = x.mean(0)
        var = x.var(0, unbiased=False)
        if mode == "isotropic":
            scale = var.mean().sqrt().reshape(())
        else:
            scale = var.sqrt()
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return cls(mean.float(), scale.float(), mode)

    @property
    def sigma_scale(self) -> float:
        """The factor between σ in data units and σ in normalised units (σ_n = σ/c)."""
        return float(self.scale.mean()) if self.mode == "per-dim" else float(self.scale)

    def log_abs_det(self, d: int) -> float:
        """Σᵢ log cᵢ over the d coordinates (d·log c for one scale): log p(x) = log p_n(x_n) − this."""
        log_scale = torch.log(self.scale.double())
        return float(log_scale.sum() * (1 if log_scale.ndim else d))

    def to(self, device):
        return Normalizer(self.mean.to(device), self.scale.to(device), self.mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x)) / self.scale.to(x)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x) + self.mean.to(x)

    def score_to_data(self, s: torch.Tensor) -> torch.Tensor:
        return s / self.scale.to(s)

    def state(self) -> dict:
        return {"normalizer.mean": self.mean.contiguous(), "normalizer.scale": self.scale.contiguous()}

    @classmethod
    def from_state(cls, tensors: dict, mode: str) -> "Normalizer":
        return cls(tensors["normalizer.mean"], tensors["normalizer.scale"], mode)
