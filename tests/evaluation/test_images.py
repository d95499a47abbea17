"""The MNIST metric: a classifier trained here, cached, whose features give a Fréchet distance
that real images bring to its floor and that collapsed or noisy samples do not."""
import pytest
import torch

from scorelab.data import classifier as clf
from scorelab.data import load_data
from scorelab.evaluation.images import image_report


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Train the MNIST classifier once into a fresh cache directory."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCORELAB_CACHE", str(root))
        clf._CLASSIFIERS.pop(("mnist", 0), None)
        model = clf.mnist_classifier()
        yield root, model
    clf._CLASSIFIERS.pop(("mnist", 0), None)


def test_the_classifier_is_accurate_on_the_test_split_and_cached(cache, monkeypatch):
    root, model = cache
    test = load_data("mnist:test")
    accuracy = float((model.predict_proba(test.x).argmax(1) == test.labels).double().mean())
    assert accuracy >= 0.95
    files = list(root.glob("mnist-classifier-*.safetensors"))
    assert len(files) == 1
    # a second process (no in-memory copy) loads the same weights instead of training
    monkeypatch.setenv("SCORELAB_CACHE", str(root))
    monkeypatch.setattr(clf, "train_mnist_classifier", lambda *a, **k: pytest.fail("retrained"))
    clf._CLASSIFIERS.pop(("mnist", 0), None)
    again = clf.mnist_classifier()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_real_images_score_at_the_floor(cache):
    train = load_data("mnist:train")
    other = train.x[torch.randperm(len(train.x), generator=torch.Generator().manual_seed(7))[:1000]]
    r = image_report(other, "mnist")
    assert r["n_samples"] == r["n_floor"] == 1000 and r["n_test"] == 1000
    assert 0.75 < r["fd_ratio"] < 1.33
    assert min(r["class_fractions"]) > 0.05 and r["digits_present"] == 10
    assert abs(sum(r["class_fractions"]) - 1) < 1e-9


def test_collapsed_and_noisy_samples_score_far_above_the_floor(cache):
    train = load_data("mnist:train")
    ones = train.x[train.labels == 1][:400]
    r = image_report(ones, "mnist")
    assert r["class_fractions"][1] > 0.9 and r["fd_ratio"] > 5
    noise = torch.rand(400, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert image_report(noise, "mnist")["fd_ratio"] > r["fd_ratio"]


def test_wrong_shapes_are_refused_with_their_name(cache):
    with pytest.raises(ValueError, match="mnist images"):
        image_report(torch.rand(10, 1, 8, 8), "mnist")
    with pytest.raises(ValueError, match="data must be one of"):
        image_report(torch.rand(10, 1, 28, 28), "cifar")
