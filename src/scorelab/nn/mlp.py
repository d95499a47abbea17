"""Multi-layer perceptrons for vectors: a score network (any vector field) and an energy network.

Both follow the contract ``f(x, sigma)`` with ``sigma`` of shape (batch,). A noise-conditional
network sees ``sigma`` through :class:`SigmaEmbedding` and preconditions its input and output:

    s(x, σ) = F(c_in(σ)·x, emb(σ)) / σ,      c_in(σ) = 1/sqrt(σ_data² + σ²)

(the 1/σ output scaling is NCSNv2's; the input scaling keeps the network's inputs at unit
variance for every σ, as in EDM). A network that is not noise-conditional ignores ``sigma``.

Both also differentiate themselves with plain operations (see :mod:`scorelab.nn.taylor`):
:meth:`ScoreMLP.jvp`, :meth:`ScoreMLP.directional_derivatives` and
:meth:`EnergyMLP.directional_derivatives` in forward mode, :meth:`EnergyMLP.score` in reverse
mode (and both at once for ``EnergyMLP.directional_derivatives(..., with_score=True)``);
``score_and_trace`` gives s and tr ∇ₓs exactly, with the input basis as tangents. The
objectives use them where a network has them, which saves autograd's second-order graphs
(sliced score matching; an energy's score in training; exact score matching, opt-in).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..core import as_sigma, broadcast_like, sum_except_batch, sum_parts
from .embedding import SigmaEmbedding
from .taylor import silu_derivatives, silu_prime, silu_taylor, silu_vjp


class _Trunk(nn.Module):
    """Residual MLP trunk; when ``cond_dim`` is set, each block adds a projection of the embedding."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, cond_dim: int | None):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.cond = None if cond_dim is None else nn.ModuleList(
            nn.Linear(cond_dim, width) for _ in range(depth))
        self.out = nn.Linear(width, out_dim)

    def _pre(self, i: int, layer: nn.Linear, h: list, emb, inverse) -> list:
        """Layer ``i``'s pre-activation coefficients: bias and σ-conditioning enter the value
        only; a coefficient given as None is zero, and stays None (no product is computed)."""
        z = layer(h[0])
        if emb is not None:
            z = z + self.cond[i](emb)[inverse]
        return [z] + [None if t is None else F.linear(t, layer.weight) for t in h[1:]]

    def taylor(self, x: list, emb: torch.Tensor | None, inverse: torch.Tensor | None = None,
               keep: list | None = None, project: torch.Tensor | None = None,
               whole_value: bool = False) -> list:
        """Forward mode: input coefficients ``[x, x', x'']`` (any prefix; None for zero) of a
        line ε ↦ x(ε) to the output's. ``keep``, if given, receives every layer's
        ``(z, silu'(z) or None, q or None)`` for :meth:`input_gradient` (nothing is kept
        otherwise, which lets the allocator reuse the memory); at first order, q = silu''(z) z'²
        is the layer's curvature source. With ``project`` (batch, out_dim), the coefficients of
        pᵀf instead, each (batch,): the output layer is projected on p first (pᵀW), so f itself
        is never formed; with ``whole_value`` too, f itself comes first and only its
        derivatives are projected.

        ``emb`` holds one row per distinct σ; ``inverse`` maps each sample to its row."""
        def act(z):
            sources = keep is not None and len(z) == 2
            h, slope = silu_taylor(z + [None] if sources else z)
            if keep is not None:
                keep.append((z[0], slope, h.pop() if sources else None))
            return h
        h = act(self._pre(0, self.inp, x, emb, inverse))
        for i, layer in enumerate(self.blocks, start=1):
            h = [a + b for a, b in zip(h, act(self._pre(i, layer, h, emb, inverse)))]
        if project is None:
            return [self.out(h[0])] + [F.linear(t, self.out.weight) for t in h[1:]]
        u = project @ self.out.weight
        value = self.out(h[0]) if whole_value else torch.linalg.vecdot(h[0], u) + project @ self.out.bias
        return [value] + [torch.linalg.vecdot(t, u) for t in h[1:]]

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None, inverse: torch.Tensor | None = None) -> torch.Tensor:
        return self.taylor([x], emb, inverse)[0]

    def basis_tangents(self, slopes: list, chunk: int):
        """Forward mode along every input basis vector eᵢ, ``chunk`` of them at a time, from the
        layers' slopes silu'(z): yields ``(i0, i1, [z' of each layer], h')`` for i in [i0, i1),
        each z' and h' of shape (k, batch, width). The input layer's z' is the column W[:, i],
        the same for every sample (shape (k, 1, width)); bias and σ-conditioning do not move."""
        d = self.inp.weight.shape[1]
        for i0 in range(0, d, chunk):
            i1 = min(d, i0 + chunk)
            z_dot = self.inp.weight[:, i0:i1].T.unsqueeze(1)
            tangents, h_dot = [z_dot], slopes[0] * z_dot
            for layer, slope in zip(self.blocks, slopes[1:]):
                z_dot = F.linear(h_dot, layer.weight)
                tangents.append(z_dot)
                h_dot = h_dot + slope * z_dot
            yield i0, i1, tangents, h_dot

    def input_gradient(self, kept: list) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(∇ₓf, f'' or None)`` for a scalar output (out_dim 1), backpropagated by hand from
        what :meth:`taylor` kept: g ← g + (g ⊙ silu'(z)) W through the residual blocks.

        Kept at first order along x + εv, the curvature sources give the second directional
        derivative on the way: every layer but the activations is linear and x is linear in ε,
        so f'' = Σₗ ⟨∂f/∂aₗ, silu''(zₗ) zₗ'²⟩ over the activations aₗ, where ∂f/∂aₗ is the g
        of this pass. It replaces a second-order tangent (a third pass through every layer).
        Sources summed over several directions give the sum of their f'': over the input
        basis, the Laplacian (:meth:`EnergyMLP.score_and_trace`)."""
        g = self.out.weight.expand(kept[0][0].shape[0], -1)
        second = None
        for i in range(len(kept) - 1, -1, -1):       # kept[0]: the input layer; kept[i]: block i − 1
            z, slope, q = kept[i]
            if q is not None:   # ∂f/∂aᵢ is g itself: aᵢ is added to the residual stream
                term = torch.linalg.vecdot(g, q)
                second = term if second is None else second + term
            weight = self.blocks[i - 1].weight if i else self.inp.weight
            step = silu_vjp(g, z, slope) @ weight
            g = g + step if i else step
        return g, second


class _ConditionalMLP(nn.Module):
    def __init__(self, dim, out_dim, width, depth, noise_conditional, sigma_data):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1:
            raise ValueError("dim, width and depth must be positive")
        self.dim, self.width, self.depth = dim, width, depth
        self.noise_conditional, self.sigma_data = noise_conditional, sigma_data
        self.embed = SigmaEmbedding(width) if noise_conditional else None
        self.trunk = _Trunk(dim, out_dim, width, depth, width if noise_conditional else None)

    def _condition(self, x, sigma):
        """``(c_in, emb, inverse, σ)`` for a batch; all None for an unconditional network.

        The σ-embedding is computed once per distinct σ (a batch usually holds a few levels,
        a sampler's batch just one) and gathered, which halves the cost of a sampling step."""
        if not self.noise_conditional:
            return None, None, None, None
        sigma = as_sigma(sigma, x)
        levels, inverse = torch.unique(sigma, return_inverse=True)
        c_in = torch.rsqrt(self.sigma_data**2 + sigma**2).unsqueeze(-1)
        return c_in, self.embed(levels), inverse, sigma

    @staticmethod
    def _line(x, c_in, v=None, order=0) -> list:
        """The trunk's input coefficients along x + εv: ``[c_in·x, c_in·v, 0][:order + 1]``."""
        line = [x.reshape(x.shape[0], -1)] + ([v.reshape(x.shape[0], -1)] if order >= 1 else [])
        line = line if c_in is None else [t * c_in for t in line]
        return line + [None] * (order == 2)

    def _taylor(self, x, sigma, v=None, order=0, keep=None, project=None, whole_value=False):
        """``([F, ∂ᵥF, ∂ᵥ²F][:order + 1], c_in, σ)`` along the line x + εv (c_in and σ are None
        for an unconditional network); the rest goes to :meth:`_Trunk.taylor`."""
        c_in, emb, inverse, sigma = self._condition(x, sigma)
        line = self._line(x, c_in, v, order)
        return self.trunk.taylor(line, emb, inverse, keep, project, whole_value), c_in, sigma


def _scaled(out: torch.Tensor, sigma, shape) -> torch.Tensor:
    out = out.reshape(shape)
    return out if sigma is None else out / broadcast_like(sigma, out)


class ScoreMLP(_ConditionalMLP):
    """A score network: an unconstrained vector field ``s(x, σ)`` shaped like ``x``."""

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0):
        super().__init__(dim, dim, width, depth, noise_conditional, sigma_data)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        (out,), _, sigma = self._taylor(x, sigma)
        return _scaled(out, sigma, x.shape)

    def jvp(self, x: torch.Tensor, sigma, v: torch.Tensor):
        """``(s(x, σ), ∇ₓs(x, σ)·v)``: the score and its Jacobian-vector product, in one
        forward pass that carries the tangent ``v`` (forward-mode differentiation)."""
        coeffs, _, sigma = self._taylor(x, sigma, v, order=1)
        return tuple(_scaled(c, sigma, x.shape) for c in coeffs)

    def directional_derivatives(self, x: torch.Tensor, sigma, v: torch.Tensor, with_score: bool = False):
        """``(vᵀs, vᵀ∇ₓs v)`` at ``(x, σ)``, each of shape (batch,): the Taylor coefficients of
        ε ↦ vᵀs(x + εv, σ), all that plain sliced score matching needs. Cheaper than
        :meth:`jvp` when d is large: the output layer is projected on v before it is applied to
        the tangent. ``with_score=True`` appends s itself (the value is then formed whole)."""
        flat = v.reshape(x.shape[0], -1)
        (value, vjv), _, sigma = self._taylor(x, sigma, v, order=1, project=flat, whole_value=with_score)
        if not with_score:
            return _scaled(value, sigma, x.shape[:1]), _scaled(vjv, sigma, x.shape[:1])
        s = _scaled(value, sigma, x.shape)
        return sum_except_batch(v * s), _scaled(vjv, sigma, x.shape[:1]), s

    def score_and_trace(self, x: torch.Tensor, sigma=None, chunk: int = 4):
        """``(s(x, σ), tr ∇ₓs(x, σ))``, the trace exact (no estimator) in forward mode: the
        d basis vectors are carried through the network as tangents, ``chunk`` at a time,
        beside one ordinary forward pass (no backward pass; what exact score matching needs)."""
        kept = []
        (out,), c_in, sigma = self._taylor(x, sigma, keep=kept)
        slopes = [silu_prime(z) for z, _, _ in kept]
        weight = self.trunk.out.weight
        parts = [torch.einsum("kbw,kw->b", h_dot, weight[i0:i1])   # Σᵢ (∂F/∂uᵢ)ᵢ
                 for i0, i1, _, h_dot in self.trunk.basis_tangents(slopes, chunk)]
        trace = sum_parts(parts)
        trace = trace if c_in is None else trace * c_in.squeeze(-1)
        return _scaled(out, sigma, x.shape), _scaled(trace, sigma, x.shape[:1])


class EnergyMLP(_ConditionalMLP):
    """A scalar energy ``E(x, σ)`` of shape (batch,); the model density is ∝ exp(−E).

    Noise-conditional energies are scaled by 1/σ like the score network, so that
    −∇ₓE has the magnitude of a score at noise σ.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0):
        super().__init__(dim, 1, width, depth, noise_conditional, sigma_data)

    def forward(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        (out,), _, sigma = self._taylor(x, sigma)
        return _scaled(out, sigma, x.shape[:1])

    def directional_derivatives(self, x: torch.Tensor, sigma, v: torch.Tensor, with_score: bool = False):
        """``(E, vᵀ∇ₓE, vᵀ∇ₓ²E v)`` at ``(x, σ)``, each of shape (batch,): the Taylor
        coefficients of ε ↦ E(x + εv, σ), no Hessian formed: forward mode to second order; with
        ``with_score=True``, forward mode to first order and the score −∇ₓE backpropagated from
        it, appended, with vᵀ∇ₓ²E v read off that backward pass (:meth:`_Trunk.input_gradient`)."""
        if not with_score:
            coeffs, _, sigma = self._taylor(x, sigma, v, order=2)
            return tuple(_scaled(c, sigma, x.shape[:1]) for c in coeffs)
        kept = []   # first order, and vᵀ∇²E v from the backward pass (Trunk.input_gradient)
        coeffs, c_in, sigma = self._taylor(x, sigma, v, order=1, keep=kept)
        grad, second = self.trunk.input_gradient(kept)
        return (*(_scaled(c, sigma, x.shape[:1]) for c in coeffs + [second]),
                self._negative_gradient(grad, c_in, sigma, x.shape))

    def score(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """The score −∇ₓE(x, σ), backpropagated by hand. With gradients on, its graph is first
        order, so training through it (denoising score matching on an energy) costs one
        ordinary backward pass; under ``torch.no_grad`` (sampling) it uses torch's fused SiLU
        derivative and builds no graph at all (~0.85x of ``torch.autograd.grad``)."""
        kept = []
        _, c_in, sigma = self._taylor(x, sigma, keep=kept)
        return self._negative_gradient(self.trunk.input_gradient(kept)[0], c_in, sigma, x.shape)

    def score_and_trace(self, x: torch.Tensor, sigma=None, chunk: int = 4):
        """``(s, tr ∇ₓs)`` for the score s = −∇ₓE: the trace is minus the Laplacian, exact, with
        no Hessian and no second-order tangent. Along each input basis vector eᵢ only the
        activations are curved, so ΔE = Σₗ ⟨∂E/∂aₗ, silu''(zₗ) Σᵢ zₗ'(eᵢ)²⟩: first-order
        tangents (``chunk`` basis vectors at a time, :meth:`_Trunk.basis_tangents`) and the
        score's own backward pass (:meth:`_Trunk.input_gradient`)."""
        kept = []
        _, c_in, sigma = self._taylor(x, sigma, keep=kept)
        derivatives = [silu_derivatives(z) for z, _, _ in kept]
        squares = [0] * len(kept)
        for _, _, tangents, _ in self.trunk.basis_tangents([d1 for d1, _ in derivatives], chunk):
            squares = [acc + (t * t).sum(0) for acc, t in zip(squares, tangents)]
        kept = [(z, d1, d2 * sq) for (z, _, _), (d1, d2), sq in zip(kept, derivatives, squares)]
        grad, laplacian = self.trunk.input_gradient(kept)
        laplacian = laplacian if c_in is None else laplacian * c_in.squeeze(-1) ** 2
        return self._negative_gradient(grad, c_in, sigma, x.shape), -_scaled(laplacian, sigma, x.shape[:1])

    @staticmethod
    def _negative_gradient(grad, c_in, sigma, shape):
        """−∇ₓE from the trunk's input gradient (chain rule through c_in·x and the 1/σ scale)."""
        return -_scaled(grad if c_in is None else grad * c_in, sigma, shape)
