"""Adapters from other libraries' models to the contract ``score_fn(x, sigma)``.

- ``diffusers.py``: a diffusers noise-prediction network (``UNet2DModel`` and the like) with
  its scheduler's ᾱ table, as a score function on σ̃ = √((1 − ᾱ)/ᾱ) (diffusers is optional and
  imported by nothing here: the adapter only calls the network and reads the table).
"""
from .diffusers import DiffusersScore, diffusers_sigmas

__all__ = ["DiffusersScore", "diffusers_sigmas"]
