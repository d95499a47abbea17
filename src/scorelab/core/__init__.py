"""The lowest layer: the score-function contract and the tensor, autograd and file helpers
that every other layer uses. Imports nothing from scorelab.

The contract: a score function is ``score_fn(x, sigma) -> tensor shaped like x``, with
``sigma`` of shape (batch,) (:func:`as_sigma` makes one from a float); an energy is
``energy(x, sigma) -> (batch,)`` and its score is −∇ₓE.
"""
from .autograd import hutchinson_trace, jacobian_trace
from .contract import as_sigma, broadcast_like
from .files import atomic_write
from .tensors import gaussian_like, half_mean_square, sum_except_batch, sum_parts

__all__ = ["as_sigma", "broadcast_like", "jacobian_trace", "hutchinson_trace", "atomic_write", "gaussian_like",
           "half_mean_square", "sum_except_batch", "sum_parts"]
