"""scorelab: energy-based and score-based generative models, proven against closed forms.

Layers, lowest first (nothing imports a layer above it): ``core`` (the contract
``score_fn(x, sigma)``, tensor and file helpers) → ``distributions`` (analytic truth, toy data)
→ ``nn`` (networks), ``sde`` (VE, VP, sub-VP diffusions on the contract) and ``interop``
(diffusers' networks as score functions) → ``samplers``
→ ``objectives`` (contrastive divergence draws its negatives
with Langevin) → ``evaluation`` (metrics, likelihoods, partition functions; its report also
reads ``data``) and ``data`` (loaders, the digits, their classifier) → ``training`` →
``estimator`` (``ScoreModel``) → ``cli`` / ``experiments`` / ``playground`` (the web app,
whose presets come from the experiments). Plots live in ``viz`` (matplotlib), apart from the math.

Importing scorelab changes no process-wide setting; ``ScoreModel`` and ``load`` are imported
on first use, so ``import scorelab`` alone does not load torch.
"""
from ._compat import register as _register_moved_modules
from ._version import __version__

_register_moved_modules()

__all__ = ["ScoreModel", "load", "__version__"]


def __getattr__(name):
    if name in ("ScoreModel", "load"):
        from . import estimator
        return getattr(estimator, name)
    from ._compat import moved
    return moved(name)
