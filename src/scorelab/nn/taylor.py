r"""SiLU's derivatives, for differentiating the MLPs by hand with plain tensor operations.

Sliced score matching needs :math:`v^\top \nabla_x (v^\top s)` and an energy's denoising loss
needs :math:`\nabla_x E` inside a graph that is differentiated again. Autograd gets both by
differentiating its own backward pass (a second-order graph, ~2.5x a denoising step). Written
out as plain operations, they are first-order graphs that one ordinary backward pass handles:

- forward mode (Taylor coefficients along a line ``x + εv``): a layer ``a = silu(z)`` maps
  ``(z, z', z'')`` to ``(silu(z), silu'(z) z', silu'(z) z'' + silu''(z) z'^2)``;
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
    """silu'(z) = ς + a − aς, from ς = sigmoid(z) and a = silu(z), in three plain operations
    between tensors: ``1 − ς`` would wrap the 1 in a tensor and copy it (rsub: 4 more operations
    per layer, a sliced SM step 1-5% slower), and ``addcmul``'s backward pass takes 11 more
    (the ``value`` scalar's products and copies), which every pass through a score's graph
    pays (exact SM's loop: d)."""
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


def silu_taylor(z: list) -> tuple[list, torch.Tensor | None]:
    """Taylor coefficients of silu along a line: ``[z, z', z'']`` (any prefix; z'' may be None
    for zero) -> the same for silu(z), and silu'(z) where it was computed on the way (order
    >= 1; else None). Written in few passes over memory: they cost as much as the products."""
    if len(z) == 1:
        return [F.silu(z[0])], None
    s = torch.sigmoid(z[0])
    a = F.silu(z[0])   # fused, and its backward is one fused kernel too
    d1 = _slope(s, a)
    out = [a, d1 * z[1]]
    if len(z) == 3:
        curve = _curvature(s, a, z[0]) * z[1] * z[1]
        out.append(curve if z[2] is None else curve + d1 * z[2])
    return out, d1
