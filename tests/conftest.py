"""Shared test set-up: one thread per test process (2 cores, 2 xdist workers) and helpers."""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

torch.set_num_threads(1)


def within_se(samples: torch.Tensor, expected: float, k: float = 4.0) -> tuple[bool, str]:
    """Is the mean of i.i.d. ``samples`` within ``k`` standard errors of ``expected``?"""
    samples = samples.double().flatten()
    mean = samples.mean().item()
    se = (samples.std() / len(samples) ** 0.5).item()
    return abs(mean - expected) <= k * se, f"mean {mean:.5f} vs {expected:.5f} (SE {se:.2e})"
