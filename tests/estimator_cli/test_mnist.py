"""MNIST end to end in seconds: ``scorelab train mnist`` with the image defaults (a shortened
run of a narrow network), sampled in batches and judged by ``scorelab eval``."""
import json

import numpy as np
import pytest

from scorelab import load
from scorelab.cli import main

SHORT = ["--set", "training.steps=20", "--set", "model.width=8", "--set", "training.batch_size=16",
         "--set", "training.eval_every=10", "--quiet"]


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mnist"
    assert main(["train", "mnist", "--out", str(out), *SHORT]) == 0
    return out


def test_the_image_defaults_resolve_for_mnist(mnist_run):
    model = load(mnist_run)
    assert model.data_shape_ == (1, 28, 28) and model.run_.data["n_train"] + model.run_.data["n_holdout"] == 4000
    assert model.network_.precondition == "edm"
    cfg = model.run_.cfg
    assert (cfg.steps, cfg.batch_size) == (20, 16)  # given values win over 'auto'
    x, info = model.sample(5, random_state=0, return_info=True, batch_size=2)
    assert x.shape == (5, 1, 28, 28) and np.isfinite(x.numpy()).all() and info.nfe == 35


def test_sampling_in_batches_writes_every_sample_and_reproduces(mnist_run, tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for out in (a, b):
        assert main(["sample", str(mnist_run), "-n", "6", "--out", str(out), "--steps", "3", "--quiet",
                     "--batch-size", "4"]) == 0
    x = np.load(a)
    assert x.shape == (6, 1, 28, 28) and np.isfinite(x).all()
    assert np.array_equal(x, np.load(b)) and not np.array_equal(x[:2], x[4:])


def test_eval_reports_the_frechet_distance_with_its_floor_and_n(mnist_run, capsys):
    capsys.readouterr()
    assert main(["eval", str(mnist_run), "--data", "mnist:test", "--json", "--sampler", "euler"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["fd_n_samples"] == 1000 and m["fd"] > m["fd_floor"] > 0
    assert len(m["class_fractions"]) == 10 and abs(sum(m["class_fractions"]) - 1) < 1e-9
    assert 0 < m["mean_confidence"] <= 1 and np.isfinite(m["bits_per_dim"])


def test_a_folder_of_32x32_rgb_images_trains_with_the_same_defaults(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    folder = tmp_path / "rgb"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), mode="RGB").save(folder / f"{i}.png")
    out = tmp_path / "run"
    assert main(["train", str(folder), "--out", str(out), *SHORT]) == 0
    model = load(out)
    assert model.data_shape_ == (3, 32, 32) and model.network_.precondition == "edm"
    assert model.sample(2, random_state=0, steps=2).shape == (2, 3, 32, 32)
