"""Traces of Jacobians by reverse mode: exactly (d vector-Jacobian products, one per input
dimension, looped or batched) or by Hutchinson's estimator (one product per probe)."""
import torch

from .tensors import sum_except_batch, sum_parts


def jacobian_trace(f: torch.Tensor, x: torch.Tensor, *, create_graph: bool = False,
                   chunk: int | None = None) -> torch.Tensor:
    """tr(∂f/∂x) per sample, shape (batch,), for ``f`` shaped like ``x`` and computed from it
    with a graph (each sample's f depending on its own x only).

    ``chunk`` None: d backward passes, one per dimension i, each the gradient of Σ_b f_b,i
    (the reference). ``chunk`` k: the d basis vectors k at a time, each batch of k
    vector-Jacobian products in one vectorised backward pass (``is_grads_batched``).
    ``create_graph`` keeps the graph of the result (to train through it). An ``f`` that does
    not depend on ``x`` has trace 0.
    """
    if not f.requires_grad:
        return x.new_zeros(x.shape[0])
    if chunk is not None:
        return _batched_trace(f, x, chunk, create_graph)
    flat = f.reshape(f.shape[0], -1)
    d = flat.shape[1]
    parts = []
    for i in range(d):
        (g,) = torch.autograd.grad(flat[:, i].sum(), x, create_graph=create_graph,
                                   retain_graph=create_graph or i < d - 1, allow_unused=True)
        if g is not None:
            parts.append(g.reshape(g.shape[0], -1)[:, i])
    return sum_parts(parts) if parts else x.new_zeros(x.shape[0])


def _batched_trace(f, x, chunk, create_graph):
    b, d = f.shape[0], f[0].numel()
    eye = torch.eye(d, dtype=f.dtype, device=f.device)
    parts = []
    for start in range(0, d, chunk):
        k = min(chunk, d - start)
        basis = eye[start:start + k].reshape(k, 1, *f.shape[1:]).expand(k, *f.shape)
        (jac,) = torch.autograd.grad(f, x, basis, create_graph=create_graph,
                                     retain_graph=create_graph or start + k < d, is_grads_batched=True)
        parts.append(torch.diagonal(jac.reshape(k, b, d)[:, :, start:start + k], dim1=0, dim2=2).sum(-1))
    return sum_parts(parts)


def hutchinson_trace(f: torch.Tensor, x: torch.Tensor, probes: torch.Tensor) -> torch.Tensor:
    """Hutchinson's estimate of tr(∂f/∂x) per sample, mean_j εⱼᵀ(∂f/∂x)εⱼ over the ``probes``
    (k, *x.shape) with E[εεᵀ] = I (Hutchinson 1989): k backward passes, no graph kept."""
    if not f.requires_grad:
        return x.new_zeros(x.shape[0])
    k = probes.shape[0]
    total = x.new_zeros(x.shape[0])
    for j in range(k):
        (g,) = torch.autograd.grad(f, x, probes[j], retain_graph=j < k - 1, allow_unused=True)
        if g is not None:
            total = total + sum_except_batch(g * probes[j])
    return total / k
