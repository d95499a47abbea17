"""Score matching without noise: exact (Hyvärinen 2005) and sliced (Song et al. 2019).

Both minimise the Fisher divergence ½E‖s(x) − ∇log p(x)‖² up to a constant, through
integration by parts: J(s) = E[½‖s(x)‖² + tr(∇ₓs(x))].
"""
import torch

from ..core import as_sigma, half_mean_square, jacobian_trace, sum_except_batch

_METHODS = ("vmap", "loop", "forward")
_PROJECTIONS = ("gaussian", "rademacher")
_SLICED_METHODS = ("auto", "forward", "hvp", "finite_difference")


# Vector-Jacobian products per vectorised backward pass of the exact trace: on a CPU, chunks
# keep the intermediates small (one batch of all d = 256 products pages in ~1 GB); on a GPU
# each pass is a few launch-bound kernels, so fewer and wider passes win.
TRACE_CHUNK = {"cpu": 16, "cuda": 256}


def exact_score_matching(score_fn, x: torch.Tensor, method: str = "vmap", sigma=None) -> torch.Tensor:
    """Exact score matching: mean over the batch of ½‖s(x)‖² + tr(∇ₓ s(x)).

    ``method="vmap"`` computes the Jacobian's diagonal with d vector-Jacobian products batched
    into vectorised backward passes (``is_grads_batched``, 16 products each on a CPU, 256 on
    a GPU); ``method="loop"`` is the reference with d backward passes; ``method="forward"``
    carries the d basis vectors through the network as tangents beside one forward pass, 4 at
    a time, with no backward pass at all (score functions with ``score_and_trace``: ScoreMLP,
    and the score of an EnergyMLP, whose trace is minus its Laplacian). All three are exact;
    the cost grows with d (see :func:`sliced_score_matching`). ``sigma`` (default 0) is passed
    to noise-conditional models.
    """
    if method not in _METHODS:
        raise ValueError(f"exact_score_matching: method must be one of {_METHODS}, got {method!r}")
    sig = as_sigma(0.0 if sigma is None else sigma, x)
    if method == "forward":
        if not hasattr(score_fn, "score_and_trace"):
            raise ValueError("exact_score_matching: method 'forward' needs a network with "
                             "score_and_trace (ScoreMLP, or score_from_energy(EnergyMLP)); use 'vmap'")
        s, trace = score_fn.score_and_trace(x.detach(), sig)
        return half_mean_square(s) + trace.mean()
    x = x.detach().requires_grad_(True)
    s = score_fn(x, sig)
    chunk = TRACE_CHUNK.get(s.device.type, 16) if method == "vmap" else None
    trace = jacobian_trace(s, x, create_graph=True, chunk=chunk)
    return half_mean_square(s) + trace.mean()


def has_forward_mode(score_fn) -> bool:
    """Whether ``score_fn`` differentiates itself in forward mode, with a method
    ``directional_derivatives(x, σ, v, with_score=False) -> (vᵀs, vᵀ∇ₓs v[, s])``:
    :class:`~scorelab.nn.ScoreMLP`, and ``score_from_energy`` of an :class:`~scorelab.nn.EnergyMLP`."""
    return hasattr(score_fn, "directional_derivatives")


def _sliced_terms_forward(score_fn, x, sigma, v, need_score):
    """``(s or None, vᵀs, vᵀ∇ₓ(vᵀs))`` in one forward pass carrying the tangent v."""
    vs, vjv, *s = score_fn.directional_derivatives(x, sigma, v, with_score=need_score)
    return (s[0] if need_score else None), vs, vjv


def _sliced_terms_hvp(score_fn, x, sigma, v):
    x = x.requires_grad_(True)
    s = score_fn(x, sigma)
    vs = sum_except_batch(v * s)
    (jtv,) = torch.autograd.grad(vs.sum(), x, create_graph=True)
    return s, vs, sum_except_batch(v * jtv)


def _sliced_terms_fd(score_fn, x, sigma, v, eps, need_score):
    step = eps * v
    s_plus, s_minus = score_fn(torch.cat([x + step, x - step]), torch.cat([sigma, sigma])).chunk(2)
    both = s_plus + s_minus                                   # 2 s(x) + O(ε²)
    vjv = sum_except_batch(v * (s_plus - s_minus)) / (2 * eps)
    return (both / 2 if need_score else None), sum_except_batch(v * both) / 2, vjv


def _projections(shape, projection, generator, like):
    v = torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    return v if projection == "gaussian" else torch.sign(v)


def sliced_score_matching(score_fn, x: torch.Tensor, n_projections: int = 1,
                          projection: str = "gaussian", variance_reduction: bool = False,
                          sigma=None, generator=None, method: str = "auto",
                          fd_eps: float = 1e-2) -> torch.Tensor:
    """Sliced score matching (Song, Garg, Shi & Ermon 2019).

    For random directions v with E[vvᵀ] = I (``"gaussian"``: N(0, I); ``"rademacher"``: ±1):
        ½(vᵀs(x))² + vᵀ∇ₓ(vᵀs(x))          (plain)
        ½‖s(x)‖²  + vᵀ∇ₓ(vᵀs(x))          (``variance_reduction``, SSM-VR)
    averaged over the batch and ``n_projections`` directions per sample: an unbiased estimate
    of :func:`exact_score_matching` at the cost of one Jacobian-vector product per projection.

    ``method`` says how vᵀ∇ₓ(vᵀs) is computed; the first two are exact and agree to rounding:
    - ``"forward"``: forward mode, one pass that carries the tangent v through the network
      (:func:`has_forward_mode`: ScoreMLP, or the score of an EnergyMLP, where it is the
      second directional derivative −∂ᵥ²E, read off the score's backward pass for SSM-VR): a
      first-order graph whose matrix products are those of a denoising step twice over (value
      and tangent; a ScoreMLP applies its output layer to the tangent already projected on v);
    - ``"hvp"``: reverse over reverse, a backward pass with ``create_graph`` (any network),
      whose result is differentiated again (a second-order graph);
    - ``"auto"`` (default): ``"forward"`` where the network has it, else ``"hvp"``;
    - ``"finite_difference"`` (FD-SSM, Pang et al. 2020): central differences with
      s± = s(x ± εv), ε = ``fd_eps`` (in the units of x):
        vᵀ∇ₓ(vᵀs) ≈ vᵀ(s₊ − s₋)/(2ε),      s(x) ≈ (s₊ + s₋)/2,
      one forward and one backward pass on a doubled batch, with an O(ε²) bias: ε must be
      small against the length scale over which s varies (for a noise-conditional score, σ).
    """
    if projection not in _PROJECTIONS:
        raise ValueError(f"sliced_score_matching: projection must be one of {_PROJECTIONS}, got {projection!r}")
    if method not in _SLICED_METHODS:
        raise ValueError(f"sliced_score_matching: method must be one of {_SLICED_METHODS}, got {method!r}")
    if n_projections < 1:
        raise ValueError("sliced_score_matching: n_projections must be >= 1")
    if not fd_eps > 0:
        raise ValueError("sliced_score_matching: fd_eps must be > 0")
    forward = has_forward_mode(score_fn)
    if method == "forward" and not forward:
        raise ValueError("sliced_score_matching: method 'forward' needs a network with forward-mode "
                         "derivatives (ScoreMLP, or score_from_energy(EnergyMLP)); use 'hvp'")
    xr = x.detach().repeat((n_projections,) + (1,) * (x.ndim - 1)) if n_projections > 1 else x.detach()
    sig = as_sigma(0.0 if sigma is None else sigma, x)
    sig = sig.repeat(n_projections) if n_projections > 1 else sig
    v = _projections(xr.shape, projection, generator, xr)
    if method == "finite_difference":
        s, vs, vjv = _sliced_terms_fd(score_fn, xr, sig, v, fd_eps, need_score=variance_reduction)
    elif method == "hvp" or not forward:
        s, vs, vjv = _sliced_terms_hvp(score_fn, xr, sig, v)
    else:
        s, vs, vjv = _sliced_terms_forward(score_fn, xr, sig, v, need_score=variance_reduction)
    return half_mean_square(s if variance_reduction else vs) + vjv.mean()
