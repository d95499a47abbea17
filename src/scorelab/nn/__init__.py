"""Networks that speak the contract ``f(x, sigma)``."""
from .embedding import SigmaEmbedding
from .energy import EnergyScore, score_from_energy
from .mlp import EnergyMLP, ScoreMLP
from .unet import ScoreUNet

__all__ = ["ScoreMLP", "EnergyMLP", "EnergyScore", "score_from_energy", "SigmaEmbedding", "ScoreUNet"]
