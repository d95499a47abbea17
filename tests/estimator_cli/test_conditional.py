"""Class-conditional models: labels from every source, the conditional score against the exact
one, sampling a class through the API and the CLI, and bad labels in one line."""
import json

import numpy as np
import pytest
import torch

from conftest import fails_in_one_line, within_se
from scorelab import ScoreModel, load
from scorelab.cli import main
from scorelab.data import DataError, load_data
from scorelab.data.labels import encode_labels, with_labels
from scorelab.distributions import GaussianMixture
from scorelab.evaluation import mode_fractions, relative_fisher_divergence

GM = GaussianMixture(torch.tensor([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]]), torch.ones(3), stds=0.5)
NAMES = np.array(["red", "green", "blue"])  # component k's name; sorted: blue, green, red
QUICK = ["--set", "training.steps=150", "--set", "model.width=32", "--quiet"]


def _mixture(n=1500, seed=0):
    return GM.sample_labelled(n, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory):
    x, k = _mixture()
    path = tmp_path_factory.mktemp("data") / "mix.csv"
    with open(path, "w") as f:
        f.write("a,colour,b\n")
        f.writelines(f"{p[0]:.5f},{NAMES[c]},{p[1]:.5f}\n" for p, c in zip(x.tolist(), k.tolist()))
    return path


@pytest.fixture(scope="module")
def conditional_model():
    x, k = _mixture(3000)
    return ScoreModel(steps=2500, seed=0, classifier_steps=600).fit(x, NAMES[k.numpy()], progress=False)


# ------------------------------------------------------------------ labels in
def test_a_table_column_by_name_or_index_becomes_the_labels_and_leaves_the_features(labelled_csv):
    by_name = with_labels(load_data(labelled_csv, label_column="colour"), True, "t")
    by_index = with_labels(load_data(labelled_csv, label_column=1), True, "t")
    assert by_name.shape == (2,) and by_name.columns == ["a", "b"] and by_name.classes == ["blue", "green", "red"]
    torch.testing.assert_close(by_name.x, by_index.x)
    assert torch.equal(by_name.labels, by_index.labels)
    _, k = _mixture()
    assert torch.equal(by_name.labels, torch.tensor([["blue", "green", "red"].index(c) for c in NAMES[k.numpy()]]))


def test_a_headerless_table_with_text_labels_by_index(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("".join(f"{i}.5,{i % 3}.0,{'ab'[i % 2]}\n" for i in range(20)))
    data = with_labels(load_data(path, label_column=-1), True, "t")
    assert len(data) == 20 and data.classes == ["a", "b"] and data.shape == (2,)


def test_sources_that_carry_labels(tmp_path):
    toy = with_labels(load_data("toy:eight_gaussians", n_toy=400), True, "toy")
    assert toy.classes == [str(k) for k in range(8)]
    digits = with_labels(load_data("digits"), True, "digits")
    assert digits.classes == [str(k) for k in range(10)] and torch.bincount(digits.labels).min() > 150
    from PIL import Image
    for cls, value in (("cats", 40), ("dogs", 200)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), value + i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    folder = with_labels(load_data(tmp_path), True, "folder")
    assert folder.classes == ["cats", "dogs"] and folder.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert folder.x[3:].min() > folder.x[:3].max()


def test_integer_labels_sort_numerically():
    codes, classes = encode_labels([10, 2, 2, 10, 9, 9], "y", 6)
    assert classes == ["2", "9", "10"] and codes.tolist() == [2, 0, 0, 2, 1, 1]


@pytest.mark.parametrize("labels, needle", [
    ([0, 1, None, 1], "label of row 2"), ([0, 1, float("nan"), 1], "label of row 2"),
    ([0, 0, 1, 1, 2], "class '2' has a single sample"), ([5, 5, 5, 5], "only one class"),
    ([0, 1, 1], "3 labels for 4 samples")])
def test_bad_labels_are_one_line_errors(labels, needle):
    with pytest.raises(DataError, match=needle):
        encode_labels(labels, "y", 4 if len(labels) != 5 else 5)


def test_cli_label_errors_are_one_line(capsys, labelled_csv, tmp_path):
    fails_in_one_line(capsys, ["train", str(labelled_csv), "--labels", "shade", "--out", str(tmp_path / "r")],
                      "no label column 'shade'", "a, colour, b")
    fails_in_one_line(capsys, ["train", "toy:rings", "--labels", "--out", str(tmp_path / "r2")], "carries no labels")
    fails_in_one_line(capsys, ["train", "digits", "--labels", "3", "--out", str(tmp_path / "r3")],
                      ".csv/.tsv tables only")
    fails_in_one_line(capsys, ["train", str(labelled_csv), "--labels", "colour", "--set", "objective.objective=ssm",
                               "--out", str(tmp_path / "r4")], "needs objective ncsn or dsm")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ the conditional score
def test_the_conditional_model_approaches_the_exact_conditional_score(conditional_model):
    model = conditional_model
    assert model.classes_ == ["blue", "green", "red"]
    for sigma in (0.3, 1.0, 3.0):
        for k, name in enumerate(NAMES):
            comp = GM.component(k)
            x = comp.sample(2000, generator=torch.Generator().manual_seed(k)) + sigma * torch.randn(2000, 2)
            sig = torch.full((2000,), sigma)
            cond = relative_fisher_divergence(lambda z, s: model.score_fn(z, s, y=name), comp.score, x, sig)
            uncond = relative_fisher_divergence(lambda z, s: model.score_fn(z, s), comp.score, x, sig)
            assert cond < 0.05, (sigma, name, cond)
            if sigma == 3.0:  # where the noisy classes overlap, the label is what makes it conditional
                assert uncond > 5 * cond, (sigma, name, cond, uncond)


@pytest.mark.parametrize("method, w", [("free", 0.0), ("free", 2.0), ("classifier", 1.0)])
def test_sampling_a_class_lands_on_its_component(conditional_model, method, w):
    x = conditional_model.sample(300, random_state=0, y="all", guidance=w, guidance_method=method)
    assert x.shape == (900, 2)
    for k, name in enumerate(["blue", "green", "red"]):
        comp = int(np.flatnonzero(NAMES == name)[0])
        assert mode_fractions(x[300 * k:300 * (k + 1)], GM.means)[comp] >= 0.98, (method, w, name)


def test_class_samples_have_their_components_mean(conditional_model):
    """The samplers start a class at its mean + σ_max z: from 0 they would keep ~σ_d/σ_max of the
    component's offset from the data's mean (here 0.2, over 5 standard errors)."""
    for k, name in enumerate(NAMES):
        x = conditional_model.sample(1000, random_state=k, y=name)
        for i in range(2):
            ok, msg = within_se(x[:, i], float(GM.means[k, i]), k=5)
            assert ok, f"{name}[{i}]: {msg}"


def test_unconditional_sampling_of_a_conditional_model_keeps_the_mixture_weights(conditional_model):
    x = conditional_model.sample(3000, random_state=1)
    frac = mode_fractions(x, GM.means)
    assert (frac - 1 / 3).abs().max() < 0.05, frac


def test_conditional_likelihood_prefers_the_right_class(conditional_model):
    x = GM.component(0).sample(20, generator=torch.Generator().manual_seed(3))  # component 0: red
    own, other = conditional_model.score_samples(x, y="red"), conditional_model.score_samples(x, y="blue")
    exact = GM.component(0).log_prob(x).double()
    assert (own - exact).abs().mean() < 0.3 and (own > other + 10).all()


def test_save_load_keeps_classes_and_classifier(conditional_model, tmp_path):
    conditional_model.save(tmp_path / "m")
    twin = load(tmp_path / "m")
    assert twin.classes_ == conditional_model.classes_ and twin.run_.classifier is not None
    a = twin.sample(50, random_state=2, y="green", guidance=1.0, guidance_method="classifier")
    b = conditional_model.sample(50, random_state=2, y="green", guidance=1.0, guidance_method="classifier")
    torch.testing.assert_close(a, b)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["data"]["classes"] = ["blue", "blue", "red"]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(Exception, match="classes"):
        load(tmp_path / "m")


def test_api_refusals(conditional_model):
    with pytest.raises(ValueError, match="not one of the model's classes"):
        conditional_model.sample(5, y="purple")
    with pytest.raises(ValueError, match=r"guidance must be a number in \[0"):
        conditional_model.sample(5, y=0, guidance=-1)
    with pytest.raises(ValueError, match="guidance_method"):
        conditional_model.sample(5, y=0, guidance_method="magic")
    plain = ScoreModel(steps=5).fit(_mixture(100)[0], progress=False)
    with pytest.raises(ValueError, match="trained without labels"):
        plain.sample(5, y=0)


# ------------------------------------------------------------------ the command line
def test_cli_trains_on_a_label_column_and_samples_classes(capsys, labelled_csv, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(labelled_csv), "--labels", "colour", "--out", str(run), *QUICK]) == 0
    assert "3 classes" in capsys.readouterr().out
    out = tmp_path / "s.npy"
    assert main(["sample", str(run), "-n", "20", "--class", "red,blue", "--guidance", "1", "--out", str(out),
                 "--steps", "4", "--quiet"]) == 0
    assert np.load(out).shape == (40, 2) and "wrote 40 samples" in capsys.readouterr().out
    assert main(["sample", str(run), "-n", "10", "--class", "all", "--out", str(tmp_path / "all.npy"),
                 "--steps", "4", "--quiet"]) == 0
    assert np.load(tmp_path / "all.npy").shape == (30, 2)
    fails_in_one_line(capsys, ["sample", str(run), "-n", "5", "--class", "purple", "--out", str(tmp_path / "p.npy")],
                      "'purple' is not one of the model's classes (blue, green, red)")
    fails_in_one_line(capsys, ["sample", str(run), "-n", "5", "--class", "7", "--out", str(tmp_path / "p.npy")],
                      "index 0..2")
    fails_in_one_line(capsys, ["sample", str(run), "-n", "5", "--class", "0", "--guidance", "-2",
                               "--out", str(tmp_path / "p.npy")], "non-negative number")
    fails_in_one_line(capsys, ["sample", str(run), "-n", "5", "--class", "0", "--guidance-method", "classifier",
                               "--guidance", "1", "--out", str(tmp_path / "p.npy")], "needs a classifier")
    assert not (tmp_path / "p.npy").exists()
    x = np.array([[0.0, 0.0]] * 6, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", np.array([[1.0, 0.0]] * 6, dtype=np.float32))
    assert main(["inpaint", str(run), "--input", str(tmp_path / "x.npy"), "--mask", str(tmp_path / "m.npy"),
                 "--class", "red", "--out", str(tmp_path / "f.npy")]) == 0
    filled = np.load(tmp_path / "f.npy")
    assert (filled[:, 0] == 0).all() and (filled[:, 1] > 2).all()  # x = 0 of class red (0, 4): y near 4
