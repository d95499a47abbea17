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
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import as_sigma, broadcast_like, sum_except_batch, sum_parts
from .embedding import SigmaEmbedding
from .labels import LabelEmbedding, labels_like
from .taylor import silu_curved, silu_derivatives, silu_prime, silu_tangent, silu_vjp


@dataclass
class Activation:
    """What a forward pass keeps of one activation a = silu(z) for :meth:`_Trunk.input_gradient`:
    z, and where they were computed on the way, silu'(z) (``slope``) and the curvature source
    silu''(z)·z'² along a line (``bend``)."""

    z: torch.Tensor
    slope: torch.Tensor | None = None
    bend: torch.Tensor | None = None


class _Trunk(nn.Module):
    """Residual MLP trunk: h₀ = silu(z₀), hᵢ = hᵢ₋₁ + silu(zᵢ), f = W_out h + b_out, with
    zᵢ = Wᵢ hᵢ₋₁ + bᵢ (+ a projection of the noise embedding when ``cond_dim`` is set).

    Besides its value it gives, in forward mode along a line x + εv, the hidden state's Taylor
    coefficients to first (:meth:`tangent`) and second order (:meth:`second_order`), and in
    reverse mode the input gradient of a scalar output (:meth:`input_gradient`). ``cond`` is
    ``(emb, inverse)``: one embedding row per distinct σ and each sample's row, or None.
    Bias and conditioning enter the value only: tangents see the weights alone."""

    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, cond_dim: int | None):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
        self.cond = None if cond_dim is None else nn.ModuleList(
            nn.Linear(cond_dim, width) for _ in range(depth))
        self.out = nn.Linear(width, out_dim)

    def _pre(self, i: int, layer: nn.Linear, h: torch.Tensor, cond) -> torch.Tensor:
        """Layer ``i``'s pre-activation z = W h + b (+ the σ-conditioning)."""
        z = layer(h)
        return z if cond is None else z + self.cond[i](cond[0])[cond[1]]

    def hidden(self, x: torch.Tensor, cond, tape: list | None = None) -> torch.Tensor:
        """The last hidden state h; with ``tape``, each activation's z is recorded on it."""
        h = None
        for i, layer in enumerate([self.inp, *self.blocks]):
            z = self._pre(i, layer, x if h is None else h, cond)
            if tape is not None:
                tape.append(Activation(z))
            h = F.silu(z) if h is None else h + F.silu(z)
        return h

    def tangent(self, x: torch.Tensor, v: torch.Tensor, cond, tape: list | None = None):
        """``(h, h')``: the hidden state and its derivative along x + εv (forward mode, first
        order). With ``tape``, each activation's z, slope and curvature source (for the second
        directional derivative of :meth:`input_gradient`)."""
        h = h_dot = None
        for i, layer in enumerate([self.inp, *self.blocks]):
            z = self._pre(i, layer, x if h is None else h, cond)
            z_dot = F.linear(v if h is None else h_dot, layer.weight)
            if tape is None:
                a, a_dot, _ = silu_tangent(z, z_dot)
            else:
                a, a_dot, slope, bend = silu_curved(z, z_dot)
                tape.append(Activation(z, slope, bend))
            h, h_dot = (a, a_dot) if h is None else (h + a, h_dot + a_dot)
        return h, h_dot

    def second_order(self, x: torch.Tensor, v: torch.Tensor, cond):
        """``(h, h', h'')`` along the line x + εv (forward mode to second order; x'' = 0, so the
        input layer's z'' = 0 and its a'' is its curvature source alone)."""
        z = self._pre(0, self.inp, x, cond)
        h, h_dot, _, h_ddot = silu_curved(z, F.linear(v, self.inp.weight))
        for i, layer in enumerate(self.blocks, start=1):
            z = self._pre(i, layer, h, cond)
            a, a_dot, slope, bend = silu_curved(z, F.linear(h_dot, layer.weight))
            h, h_dot, h_ddot = h + a, h_dot + a_dot, h_ddot + (bend + slope * F.linear(h_ddot, layer.weight))
        return h, h_dot, h_ddot

    def output_tangent(self, h_dot: torch.Tensor) -> torch.Tensor:
        """The output's coefficient for a hidden-state coefficient (the output layer's weights only)."""
        return F.linear(h_dot, self.out.weight)

    def forward(self, x: torch.Tensor, cond=None) -> torch.Tensor:
        return self.out(self.hidden(x, cond))

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

    def input_gradient(self, tape: list) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(∇ₓf, f'')`` for a scalar output (out_dim 1), backpropagated by hand from the
        ``tape`` of a forward pass: g ← g + (g ⊙ silu'(z)) W through the residual blocks.

        f'' is the second directional derivative along the line of a :meth:`tangent` tape (None
        for a :meth:`hidden` tape): every layer but the activations is linear and x is linear in
        ε, so f'' = Σₗ ⟨∂f/∂aₗ, silu''(zₗ) zₗ'²⟩ over the activations aₗ, where ∂f/∂aₗ is the g
        of this pass (aₗ is added to the residual stream). Curvature sources summed over several
        directions give the sum of their f'': over the input basis, the Laplacian
        (:meth:`EnergyMLP.score_and_trace`)."""
        g = self.out.weight.expand(tape[0].z.shape[0], -1)
        second = None
        layers = [self.inp, *self.blocks]
        for i in range(len(tape) - 1, -1, -1):
            act = tape[i]
            if act.bend is not None:
                term = torch.linalg.vecdot(g, act.bend)
                second = term if second is None else second + term
            step = silu_vjp(g, act.z, act.slope) @ layers[i].weight
            g = g + step if i else step
        return g, second


class _ConditionalMLP(nn.Module):
    def __init__(self, dim, out_dim, width, depth, noise_conditional, sigma_data, n_classes=0):
        super().__init__()
        if dim < 1 or width < 1 or depth < 1 or n_classes < 0:
            raise ValueError("dim, width and depth must be positive (n_classes non-negative)")
        self.dim, self.width, self.depth = dim, width, depth
        self.noise_conditional, self.sigma_data, self.n_classes = noise_conditional, sigma_data, n_classes
        self.embed = SigmaEmbedding(width) if noise_conditional else None
        self.label_embed = LabelEmbedding(n_classes, width) if n_classes else None
        self.trunk = _Trunk(dim, out_dim, width, depth, width if noise_conditional or n_classes else None)

    def _prepare(self, x, sigma, v=None, y=None) -> "_Inputs":
        """The trunk's inputs for a batch: u = c_in(σ)·x flattened (and u' = c_in·v along a
        line), the conditioning, c_in and σ (None for an unconditional network, which ignores σ).

        The σ-embedding is computed once per distinct σ (a batch usually holds a few levels,
        a sampler's batch just one) and gathered per sample; a class-conditional network adds
        its label's embedding (``y``: (batch,) labels, None or −1 for none)."""
        u = x.reshape(x.shape[0], -1)
        u_dot = None if v is None else v.reshape(x.shape[0], -1)
        cond = c_in = None
        if self.noise_conditional:
            sigma = as_sigma(sigma, x)
            levels, inverse = torch.unique(sigma, return_inverse=True)
            c_in = torch.rsqrt(self.sigma_data**2 + sigma**2).unsqueeze(-1)
            u, u_dot = u * c_in, None if v is None else u_dot * c_in
            cond = (self.embed(levels), inverse)
        if self.label_embed is not None:
            cond = self._with_labels(cond, labels_like(y, x))
        return _Inputs(u, u_dot, cond, c_in, sigma if self.noise_conditional else None)

    def _with_labels(self, cond, y):
        """The conditioning rows of each distinct (σ, label) pair: σ-embedding + label embedding."""
        rows = self.label_embed(torch.arange(-1, self.n_classes, device=y.device))  # null first
        if cond is None:
            return rows, y + 1
        emb, inverse = cond
        pairs, pair_inverse = torch.unique(inverse * (self.n_classes + 1) + y + 1, return_inverse=True)
        return emb[pairs // (self.n_classes + 1)] + rows[pairs % (self.n_classes + 1)], pair_inverse


@dataclass
class _Inputs:
    u: torch.Tensor
    u_dot: torch.Tensor | None
    cond: tuple | None
    c_in: torch.Tensor | None
    sigma: torch.Tensor | None

    def scaled(self, out: torch.Tensor, shape) -> torch.Tensor:
        """A network output in the model's units: F/σ (NCSNv2's output scaling), shaped ``shape``."""
        out = out.reshape(shape)
        return out if self.sigma is None else out / broadcast_like(self.sigma, out)


class ScoreMLP(_ConditionalMLP):
    """A score network: an unconstrained vector field ``s(x, σ)`` shaped like ``x``."""

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0, n_classes: int = 0):
        super().__init__(dim, dim, width, depth, noise_conditional, sigma_data, n_classes)

    def forward(self, x: torch.Tensor, sigma=None, y=None) -> torch.Tensor:
        """s(x, σ), or s(x, σ | y) for a class-conditional network (``y``: (batch,) labels)."""
        inp = self._prepare(x, sigma, y=y)
        return inp.scaled(self.trunk(inp.u, inp.cond), x.shape)

    def jvp(self, x: torch.Tensor, sigma, v: torch.Tensor):
        """``(s(x, σ), ∇ₓs(x, σ)·v)``: the score and its Jacobian-vector product, in one
        forward pass that carries the tangent ``v`` (forward-mode differentiation)."""
        inp = self._prepare(x, sigma, v)
        h, h_dot = self.trunk.tangent(inp.u, inp.u_dot, inp.cond)
        return inp.scaled(self.trunk.out(h), x.shape), inp.scaled(self.trunk.output_tangent(h_dot), x.shape)

    def directional_derivatives(self, x: torch.Tensor, sigma, v: torch.Tensor, with_score: bool = False):
        """``(vᵀs, vᵀ∇ₓs v)`` at ``(x, σ)``, each of shape (batch,): the Taylor coefficients of
        ε ↦ vᵀs(x + εv, σ), all that plain sliced score matching needs. Cheaper than
        :meth:`jvp` when d is large: the output layer is projected on v (vᵀW_out) before it is
        applied to the tangent, so ∇ₓs·v is never formed. ``with_score=True`` appends s itself."""
        inp = self._prepare(x, sigma, v)
        h, h_dot = self.trunk.tangent(inp.u, inp.u_dot, inp.cond)
        flat = v.reshape(x.shape[0], -1)
        projected = flat @ self.trunk.out.weight            # vᵀW_out, (batch, width)
        vjv = inp.scaled(torch.linalg.vecdot(h_dot, projected), x.shape[:1])
        if not with_score:
            vs = torch.linalg.vecdot(h, projected) + flat @ self.trunk.out.bias
            return inp.scaled(vs, x.shape[:1]), vjv
        s = inp.scaled(self.trunk.out(h), x.shape)
        return sum_except_batch(v * s), vjv, s

    def score_and_trace(self, x: torch.Tensor, sigma=None, chunk: int = 4):
        """``(s(x, σ), tr ∇ₓs(x, σ))``, the trace exact (no estimator) in forward mode: the
        d basis vectors are carried through the network as tangents, ``chunk`` at a time,
        beside one ordinary forward pass (no backward pass; what exact score matching needs)."""
        inp, tape = self._prepare(x, sigma), []
        out = self.trunk.out(self.trunk.hidden(inp.u, inp.cond, tape))
        slopes = [silu_prime(act.z) for act in tape]
        weight = self.trunk.out.weight
        parts = [torch.einsum("kbw,kw->b", h_dot, weight[i0:i1])   # Σᵢ (∂F/∂uᵢ)ᵢ
                 for i0, i1, _, h_dot in self.trunk.basis_tangents(slopes, chunk)]
        trace = sum_parts(parts)
        trace = trace if inp.c_in is None else trace * inp.c_in.squeeze(-1)
        return inp.scaled(out, x.shape), inp.scaled(trace, x.shape[:1])


class EnergyMLP(_ConditionalMLP):
    """A scalar energy ``E(x, σ)`` of shape (batch,); the model density is ∝ exp(−E).

    Noise-conditional energies are scaled by 1/σ like the score network, so that
    −∇ₓE has the magnitude of a score at noise σ.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3,
                 noise_conditional: bool = False, sigma_data: float = 1.0, n_classes: int = 0):
        super().__init__(dim, 1, width, depth, noise_conditional, sigma_data, n_classes)

    def forward(self, x: torch.Tensor, sigma=None, y=None) -> torch.Tensor:
        inp = self._prepare(x, sigma, y=y)
        return inp.scaled(self.trunk(inp.u, inp.cond), x.shape[:1])

    def directional_derivatives(self, x: torch.Tensor, sigma, v: torch.Tensor, with_score: bool = False):
        """``(E, vᵀ∇ₓE, vᵀ∇ₓ²E v)`` at ``(x, σ)``, each of shape (batch,): the Taylor
        coefficients of ε ↦ E(x + εv, σ), no Hessian formed: forward mode to second order; with
        ``with_score=True``, forward mode to first order and the score −∇ₓE backpropagated from
        it, appended, with vᵀ∇ₓ²E v read off that backward pass (:meth:`_Trunk.input_gradient`)."""
        inp, out = self._prepare(x, sigma, v), self.trunk
        batch = x.shape[:1]
        if not with_score:
            h, h_dot, h_ddot = out.second_order(inp.u, inp.u_dot, inp.cond)
            return (inp.scaled(out.out(h), batch), inp.scaled(out.output_tangent(h_dot), batch),
                    inp.scaled(out.output_tangent(h_ddot), batch))
        tape = []
        h, h_dot = out.tangent(inp.u, inp.u_dot, inp.cond, tape)
        grad, second = out.input_gradient(tape)
        return (inp.scaled(out.out(h), batch), inp.scaled(out.output_tangent(h_dot), batch),
                inp.scaled(second, batch), self._negative_gradient(grad, inp, x.shape))

    def score(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """The score −∇ₓE(x, σ), backpropagated by hand. With gradients on, its graph is first
        order, so training through it (denoising score matching on an energy) costs one
        ordinary backward pass; under ``torch.no_grad`` (sampling) it uses torch's fused SiLU
        derivative and builds no graph at all."""
        inp, tape = self._prepare(x, sigma), []
        self.trunk.hidden(inp.u, inp.cond, tape)
        return self._negative_gradient(self.trunk.input_gradient(tape)[0], inp, x.shape)

    def score_and_trace(self, x: torch.Tensor, sigma=None, chunk: int = 4):
        """``(s, tr ∇ₓs)`` for the score s = −∇ₓE: the trace is minus the Laplacian, exact, with
        no Hessian and no second-order tangent. Along each input basis vector eᵢ only the
        activations are curved, so ΔE = Σₗ ⟨∂E/∂aₗ, silu''(zₗ) Σᵢ zₗ'(eᵢ)²⟩: first-order
        tangents (``chunk`` basis vectors at a time, :meth:`_Trunk.basis_tangents`) and the
        score's own backward pass (:meth:`_Trunk.input_gradient`)."""
        inp, tape = self._prepare(x, sigma), []
        self.trunk.hidden(inp.u, inp.cond, tape)
        derivatives = [silu_derivatives(act.z) for act in tape]
        squares = [0] * len(tape)
        for _, _, tangents, _ in self.trunk.basis_tangents([d1 for d1, _ in derivatives], chunk):
            squares = [acc + (t * t).sum(0) for acc, t in zip(squares, tangents)]
        tape = [Activation(act.z, d1, d2 * sq) for act, (d1, d2), sq in zip(tape, derivatives, squares)]
        grad, laplacian = self.trunk.input_gradient(tape)
        laplacian = laplacian if inp.c_in is None else laplacian * inp.c_in.squeeze(-1) ** 2
        return self._negative_gradient(grad, inp, x.shape), -inp.scaled(laplacian, x.shape[:1])

    @staticmethod
    def _negative_gradient(grad, inp: _Inputs, shape):
        """−∇ₓE from the trunk's input gradient (chain rule through c_in·x and the 1/σ scale)."""
        return -inp.scaled(grad if inp.c_in is None else grad * inp.c_in, shape)
