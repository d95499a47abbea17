"""scorelab.core: the σ contract, the Jacobian traces against closed forms, atomic writes."""
import os

import pytest
import torch

from conftest import within_se
from scorelab.core import (as_sigma, atomic_write, broadcast_like, gaussian_like, hutchinson_trace,
                           jacobian_trace, sum_except_batch)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_as_sigma_gives_one_value_per_sample_in_the_data_dtype(dtype):
    x = torch.zeros(4, 1, 2, 2, dtype=dtype)
    assert torch.equal(as_sigma(2, x), torch.full((4,), 2.0, dtype=dtype))  # an int too
    for sigma in (0.5, torch.tensor(0.5), torch.tensor([0.5]), torch.full((4,), 0.5, dtype=torch.float64)):
        s = as_sigma(sigma, x)
        assert s.shape == (4,) and s.dtype == dtype and torch.all(s == 0.5), sigma
    per_sample = torch.arange(4.0).reshape(4, 1)
    assert torch.equal(as_sigma(per_sample, x), torch.arange(4.0, dtype=dtype))
    with pytest.raises(ValueError, match="one value per sample"):
        as_sigma(torch.ones(3), x)
    assert broadcast_like(torch.arange(4.0), x).shape == (4, 1, 1, 1)
    assert torch.equal((broadcast_like(torch.arange(4.0), x) + x)[:, 0, 1, 1], torch.arange(4.0, dtype=dtype))


def _linear_field(d=5, seed=0):
    """f(x) = x Aᵀ per sample (tr ∂f/∂x = tr A) from a fixed random A, float64."""
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = torch.randn(8, d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return a, x.requires_grad_(True)


@pytest.mark.parametrize("chunk", [None, 1, 2, 16])
def test_jacobian_trace_is_exact_for_a_linear_field(chunk):
    a, x = _linear_field()
    f = torch.tanh(x) @ a.T  # ∂f/∂x = A·diag(1 − tanh²): trace Σᵢ Aᵢᵢ(1 − tanh²(xᵢ))
    expected = ((1 - torch.tanh(x) ** 2) * a.diagonal()).sum(1)
    assert torch.allclose(jacobian_trace(f, x, chunk=chunk), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(jacobian_trace(torch.ones(8, 5), x), torch.zeros(8, dtype=torch.float64))


def test_hutchinson_trace_is_unbiased():
    a, x = _linear_field()
    g = torch.Generator().manual_seed(2)
    # Rademacher probes: E[εᵀAε] = tr A, one independent estimate per probe and sample.
    probes = torch.randint(0, 2, (400, *x.shape), generator=g, dtype=torch.float64) * 2 - 1
    estimates = torch.stack([hutchinson_trace(x @ a.T, x, probes[j:j + 1]) for j in range(400)])
    assert estimates.std() > 0
    ok, msg = within_se(estimates, a.trace().item())
    assert ok, msg
    # k probes at once: the mean of the k one-probe estimates
    assert torch.allclose(hutchinson_trace(x @ a.T, x, probes), estimates.mean(0), rtol=1e-12)


def test_gaussian_like_follows_the_generator_dtype_and_scale():
    x = torch.zeros(3, 2, dtype=torch.float64)
    a = gaussian_like(x, torch.Generator().manual_seed(0), scale=2.0)
    b = gaussian_like(x, torch.Generator().manual_seed(0))
    assert a.dtype == torch.float64 and a.shape == x.shape and torch.equal(a, 2 * b)
    assert torch.equal(sum_except_batch(torch.ones(3, 2, 4)), torch.full((3,), 8.0))


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "sub" / "file.bin"
    atomic_write(path, lambda tmp: open(tmp, "wb").write(b"first"))
    assert path.read_bytes() == b"first"
    stale = path.parent / f".{path.name}.dead.tmp"  # left by a writer that was killed
    stale.write_bytes(b"half")

    def failing(tmp):
        open(tmp, "wb").write(b"half of the second")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, failing)
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in path.parent.iterdir()) == [stale.name, path.name]  # its own temp is gone
    atomic_write(path, lambda tmp: open(tmp, "wb").write(b"second"))
    assert path.read_bytes() == b"second" and os.listdir(path.parent) == [path.name]  # the stale one too
