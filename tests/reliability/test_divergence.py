"""Divergence is reported, never saved: NaN/Inf in training stops it with a one-line message
naming the likely cause, and the last good checkpoint keeps its bytes and still loads;
samplers that blow up raise ``FloatingPointError`` instead of writing garbage.
"""

import pytest
import torch

import scorelab
from conftest import assert_same_checkpoint, fails_in_one_line
from scorelab.cli import main
from scorelab.training import checkpoint as ckpt
from scorelab.training import loop

_REAL_STEP = loop._optimisation_step
TINY = ["--set", "training.steps=20", "--set", "training.eval_every=10", "--set", "model.width=8",
        "--set", "training.batch_size=32", "--quiet"]
EVERY_5 = [*TINY, "--set", "training.checkpoint_every=5"]


@pytest.fixture(scope="module")
def trained_run(tiny_run, points_csv):
    return tiny_run(points_csv, TINY)


@pytest.fixture(scope="module")
def uninterrupted_every_5(tiny_run, points_csv):
    """The reference for resumes: a run with a checkpoint every 5 steps that nothing interrupted."""
    return tiny_run(points_csv, EVERY_5)


@pytest.fixture
def written(monkeypatch):
    """Records the bytes of every checkpoint the loop writes (the last one is the last good one)."""
    writes = []
    real = ckpt.save_tensors

    def recording(path, tensors, metadata):
        real(path, tensors, metadata)
        writes.append((metadata["step"], path.read_bytes()))

    monkeypatch.setattr(ckpt, "save_tensors", recording)
    return writes


def _last_good_checkpoint_is_intact(run, writes, step=None):
    assert writes, "no checkpoint was written before the divergence"
    last_step, last_bytes = writes[-1]
    assert (run / ckpt.CHECKPOINT_FILE).read_bytes() == last_bytes
    if step is not None:
        assert last_step == step
    model = scorelab.load(run)  # loads: every tensor is finite (the loader checks)
    tensors, meta = ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)
    assert meta["step"] == last_step
    for key, t in tensors.items():
        assert not t.is_floating_point() or torch.isfinite(t).all(), key
    assert not list(run.glob(".*.tmp"))
    return model


# ------------------------------------------------------------------ training

def test_a_real_divergence_sigma_min_too_small(points_csv, tmp_path, capsys, written):
    """σ_min = 1e-44 (data units) is a float32 subnormal: the loss overflows within two steps."""
    run = tmp_path / "run"
    err = fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *TINY,
                                      "--set", "training.checkpoint_every=1", "--set", "noise.sigma_min=1e-44"],
                             "diverged", "training.lr", "noise.sigma_min", "checkpoint is intact")
    _last_good_checkpoint_is_intact(run, written)
    assert "step" in err


def test_a_sigma_min_that_underflows_is_refused_before_anything_is_written(points_csv, tmp_path, capsys):
    """σ_min = 1e-46 rounds to 0 in float32: the noise levels are not positive, so no checkpoint
    (which could never be loaded) may be written."""
    run = tmp_path / "run"
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *TINY, "--set", "noise.sigma_min=1e-46"],
                       "noise.sigma_min")
    assert not (run / ckpt.CHECKPOINT_FILE).exists()


def _poison_at(monkeypatch, step, poison):
    """Make the objective of optimisation step ``step`` (1-based) return ``poison(loss, state)``."""
    real = loop._optimisation_step

    def step_fn(state, objective, *rest):
        if state.step + 1 == step:
            good = objective
            objective = lambda x, g: poison(good(x, g), state)  # noqa: E731
        return real(state, objective, *rest)

    monkeypatch.setattr(loop, "_optimisation_step", step_fn)


def _nan_loss(loss, state):
    return loss * float("nan")


def _inf_loss(loss, state):
    return loss * float("inf")


def _nan_gradient(loss, state):
    """The loss stays finite, its gradient is NaN: d/dp 0·sqrt(0·Σp) = 0·∞ = NaN."""
    zero = sum(p.sum() for p in state.run.net.parameters()) * 0
    return loss + 0.0 * zero.sqrt()


@pytest.mark.parametrize("poison", [_nan_loss, _inf_loss])
def test_a_nan_loss_at_step_k_keeps_the_last_checkpoint(poison, points_csv, tmp_path, capsys, written, monkeypatch,
                                                       uninterrupted_every_5):
    run = tmp_path / "run"
    _poison_at(monkeypatch, 13, poison)
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *EVERY_5],
                       "diverged at step 13", "training.lr", "noise.sigma_min", "checkpoint is intact")
    _last_good_checkpoint_is_intact(run, written, step=10)
    # the intact checkpoint resumes to the same weights as an uninterrupted run
    monkeypatch.setattr(loop, "_optimisation_step", _REAL_STEP)
    assert main(["train", str(points_csv), "--out", str(run), "--resume", *EVERY_5]) == 0
    assert_same_checkpoint(uninterrupted_every_5, run)


@pytest.mark.parametrize("grad_clip", ["1", "0"])
@pytest.mark.parametrize("every", ["1", "5"])
def test_a_nan_gradient_never_reaches_a_checkpoint(grad_clip, every, points_csv, tmp_path, capsys, written, monkeypatch):
    """A finite loss with a NaN gradient, with and without clipping: without clipping the loop does
    not look at the gradient, so the NaN reaches the weights through Adam; the checkpoint writer
    must still refuse to replace the last good checkpoint by NaN weights."""
    run = tmp_path / "run"
    _poison_at(monkeypatch, 13, _nan_gradient)
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *TINY,
                                "--set", f"training.grad_clip={grad_clip}", "--set", f"training.checkpoint_every={every}"],
                       "training.lr")
    _last_good_checkpoint_is_intact(run, written, step=12 if every == "1" else 10)


# ------------------------------------------------------------------ sampling

@pytest.mark.parametrize("sampler", ["annealed", "langevin"])
def test_sampling_with_a_huge_step_size_fails_and_writes_nothing(sampler, trained_run, tmp_path, capsys):
    out = tmp_path / "samples.npy"
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "20", "--step-size", "1e6", "--sampler", sampler,
                                "--out", str(out)], "step size", "step_size")
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_step_size_the_default_sampler_cannot_use_is_refused(trained_run, tmp_path, capsys):
    out = tmp_path / "samples.npy"
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "20", "--step-size", "1e6", "--out", str(out)],
                       "step size")
    assert not out.exists()


def test_the_estimator_raises_floating_point_error(trained_run):
    model = scorelab.load(trained_run)
    for sampler in ("annealed", "langevin"):
        with pytest.raises(FloatingPointError, match="step"):
            model.sample(20, random_state=0, sampler=sampler, step_size=1e6)


def test_a_blow_up_that_is_still_finite_is_detected(trained_run, tmp_path, capsys):
    out = tmp_path / "samples.npy"
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "20", "--step-size", "1e6", "--sampler", "langevin",
                                "--steps", "5", "--out", str(out)], "step size")
    assert not out.exists()
