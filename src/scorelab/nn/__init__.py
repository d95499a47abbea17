"""Networks that speak the contract ``f(x, sigma)``."""
from .embedding import SigmaEmbedding
from .classifier import NoisyClassifier
from .energy import EnergyScore, score_from_energy
from .labels import NULL_LABEL, LabelEmbedding, Labelled, drop_labels, labels_like
from .mlp import EnergyMLP, ScoreMLP
from .unet import ScoreUNet

__all__ = ["ScoreMLP", "EnergyMLP", "EnergyScore", "score_from_energy", "SigmaEmbedding", "ScoreUNet",
           "NoisyClassifier", "LabelEmbedding", "Labelled", "NULL_LABEL", "drop_labels", "labels_like"]
