"""Shared test set-up: one thread per test process (2 cores, 2 xdist workers) and helpers."""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def within_se(samples: torch.Tensor, expected: float, k: float = 4.0) -> tuple[bool, str]:
    """Is the mean of i.i.d. ``samples`` within ``k`` standard errors of ``expected``?"""
    samples = samples.double().flatten()
    mean = samples.mean().item()
    se = (samples.std() / len(samples) ** 0.5).item()
    return abs(mean - expected) <= k * se, f"mean {mean:.5f} vs {expected:.5f} (SE {se:.2e})"


def standard_normal_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact score of N(0, I) data under Gaussian noise of std ``sigma`` (one per sample):
    ∇log p_σ(x) = −x/(1 + σ²)."""
    from scorelab.core import broadcast_like

    return -x / (1 + broadcast_like(sigma, x) ** 2)


def run_quick_experiment(name: str, out_root, png: str) -> dict:
    """Run experiment ``name`` in quick mode (seed 0) under ``out_root``; check that it wrote a
    non-empty ``png`` and a metrics.json that matches what it returned; return the stored metrics."""
    import json

    from scorelab.experiments import run_experiment
    metrics = run_experiment(name, out_root=out_root, quick=True, seed=0)
    out = out_root / name
    assert (out / png).stat().st_size > 0
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["run"]["experiment"] == name and stored["run"]["quick"] is True
    assert set(stored) == set(metrics)
    return stored


def fails_in_one_line(capsys, argv, *needles) -> str:
    """``scorelab ARGV`` exits 2 with exactly one line on stderr, ``scorelab: error: ...`` and no
    traceback, that contains every one of ``needles``; return that line."""
    from scorelab.cli import main

    capsys.readouterr()  # only this command's output counts
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("scorelab: error:") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def assert_same_checkpoint(a, b) -> None:
    """The checkpoints of runs ``a`` and ``b`` are equal tensor for tensor (``torch.equal``),
    metadata included."""
    from scorelab.training.checkpoint import CHECKPOINT_FILE, load_tensors

    (tensors_a, meta_a), (tensors_b, meta_b) = load_tensors(a / CHECKPOINT_FILE), load_tensors(b / CHECKPOINT_FILE)
    assert tensors_a.keys() == tensors_b.keys()
    for key in tensors_a:
        assert torch.equal(tensors_a[key], tensors_b[key]), key
    assert meta_a == meta_b


@pytest.fixture(scope="session")
def points_csv(tmp_path_factory):
    """A CSV file (no header) of 200 points from N((2, -1), diag(1, 0.25)), seed 0."""
    x = np.random.default_rng(0).normal(size=(200, 2)) * [1.0, 0.5] + [2.0, -1.0]
    path = tmp_path_factory.mktemp("data") / "points.csv"
    np.savetxt(path, x, delimiter=",")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``tiny_run(csv, settings)``: the run directory of ``scorelab train csv --out RUN *settings``
    in a fresh folder (the training must succeed)."""
    from scorelab.cli import main

    def train(csv, settings):
        run = tmp_path_factory.mktemp("runs") / "run"
        assert main(["train", str(csv), "--out", str(run), *settings]) == 0
        return run
    return train
