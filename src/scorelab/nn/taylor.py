r"""SiLU's derivatives, for differentiating the MLPs by hand with plain tensor operations.

Sliced score matching needs :math:`v^\top \nabla_x (v^\top s)` and an energy's denoising loss
needs :math:`\nabla_x E` inside a graph that is differentiated again. Autograd gets both by
differentiating its own backward pass (a second-order graph). Written
out as plain operations, they are first-order graphs that one ordinary backward pass handles:

- forward mode (Taylor coefficients along a line ``x + εv``): a layer ``a = silu(z)`` maps
  ``(z, z', z'')`` to ``(silu(z), silu'(z) z', silu'(z) z'' + silu''(z) z'^2)``
  (:func:`silu_curved` gives all but the ``silu'(z) z''`` term);
- reverse mode (the input gradient): ``∂a/∂z = silu'(z)``; where no graph is needed (sampling,
  under ``torch.no_grad``) torch's fused ``silu_backward`` kernel computes g ⊙ silu'(z) in one go;
- both at once: along a line, only the activations are curved, so a scalar network's second
  directional derivative is Σ ⟨∂f/∂a, silu''(z) z'²⟩ over its activations, with ∂f/∂a from the
  reverse pass and z' from a first-order tangent (the order-2 term above with z'' = 0).

With :math:`\varsigma = \mathrm{sigmoid}(z)`:
:math:`\mathrm{silu}'(z) = \varsigma\,(1 + z(1 - \varsigma)) = a + \varsigma(1 - a)` with
:math:`a = \mathrm{silu}(z) = z\varsigma`, and
:math:`\mathrm{silu}''(z) = \varsigma(1 - \varsigma)\,(2 + z(1 - 2\varsigma)) = \varsigma(1 - \varsigma)(2 + z - 2a)`.
"""
import torch
import torch.nn.functional as F


def _slope(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """silu'(z) = ς + a − aς, from ς = sigmoid(z) and a = silu(z), in three operations between
    tensors (``1 − ς`` would wrap the 1 in a tensor first, and ``addcmul``'s backward pass
    costs more operations than the plain products: every pass through a score's graph pays)."""
    return s + a - a * s


def _curvature(s: torch.Tensor, a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """silu''(z) = ς(1 − ς)(2 + z − 2a), from ς = sigmoid(z) and a = silu(z)."""
    return (s - s * s) * (torch.sub(z, a, alpha=2) + 2)


def silu_prime(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return _slope(s, z * s)


def silu_derivatives(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(silu'(z), silu''(z))``."""
    s = torch.sigmoid(z)
    a = F.silu(z)
    return _slope(s, a), _curvature(s, a, z)


def silu_vjp(g: torch.Tensor, z: torch.Tensor, slope: torch.Tensor | None = None) -> torch.Tensor:
    """g ⊙ silu'(z); ``slope`` is silu'(z) where it is known already. Differentiable while
    gradients are on; otherwise torch's fused kernel (which autograd cannot differentiate)."""
    if slope is not None:
        return g * slope
    if torch.is_grad_enabled():
        return g * silu_prime(z)
    return torch.ops.aten.silu_backward(g, z)


def _first_order(z, z_dot):
    s = torch.sigmoid(z)
    a = F.silu(z)   # fused, and its backward is one fused kernel too
    slope = _slope(s, a)
    return s, a, slope, slope * z_dot


def silu_tangent(z: torch.Tensor, z_dot: torch.Tensor):
    """First order along a line: ``(a, a', slope)``, a = silu(z), a' = silu'(z)·z', slope = silu'(z)."""
    _, a, slope, a_dot = _first_order(z, z_dot)
    return a, a_dot, slope


def silu_curved(z: torch.Tensor, z_dot: torch.Tensor):
    """``(a, a', slope, bend)``: :func:`silu_tangent` and bend = silu''(z)·z'², the second-order
    coefficient of a along the line where z'' = 0 (a layer's curvature source; add
    slope·z'' where z'' is not zero)."""
    s, a, slope, a_dot = _first_order(z, z_dot)
    return a, a_dot, slope, _curvature(s, a, z) * z_dot * z_dot
