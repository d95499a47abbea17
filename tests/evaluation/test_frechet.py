"""Fréchet distance against closed forms; the digit classifier and report on real digits."""
import pytest
import torch
from scipy import linalg

from scorelab.data import digits_split
from scorelab.data.classifier import DigitClassifier, digit_classifier, train_digit_classifier
from scorelab.evaluation import digit_report, frechet_distance


def samples_with_moments(mean, cov, n, seed):
    """n points whose sample mean and unbiased sample covariance are exactly ``mean``, ``cov``."""
    mean, cov = torch.as_tensor(mean).double(), torch.as_tensor(cov).double()
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # now cov(z) = I exactly
    return mean + z @ torch.linalg.cholesky(cov).T


def random_spd(d, seed):
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_matches_the_closed_form_for_commuting_covariances():
    # Diagonal covariances: FD = ‖μa − μb‖² + Σ (√a_j − √b_j)².
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]).double(), torch.tensor([1.0, 1.0, 0.5]).double()
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    a = samples_with_moments(mu_a, torch.diag(var_a), 500, seed=0)
    b = samples_with_moments(mu_b, torch.diag(var_b), 300, seed=1)
    expected = (mu_a - mu_b).square().sum() + (var_a.sqrt() - var_b.sqrt()).square().sum()
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_for_general_covariances():
    d = 6
    mu_a, mu_b = torch.zeros(d).double(), torch.linspace(-1, 1, d).double()
    cov_a, cov_b = random_spd(d, 2), random_spd(d, 3)
    a = samples_with_moments(mu_a, cov_a, 400, seed=4)
    b = samples_with_moments(mu_b, cov_b, 400, seed=5)
    cross = linalg.sqrtm((cov_a @ cov_b).numpy()).real.trace()
    expected = (mu_a - mu_b).square().sum().item() + (cov_a.trace() + cov_b.trace()).item() - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-8)  # symmetric


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = samples_with_moments(torch.zeros(8), random_spd(8, 6), 100, seed=7)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, a + 1.0) == pytest.approx(8.0, rel=1e-9)  # a pure shift


def test_frechet_distance_rejects_mismatched_features():
    with pytest.raises(ValueError, match="features"):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(10, 3))


@pytest.fixture(scope="module")
def split():
    return digits_split()


def test_classifier_is_accurate_on_held_out_digits(split):
    _, test = split
    model = digit_classifier(0)
    assert isinstance(model, DigitClassifier)
    proba = model.predict_proba(test.x)
    assert proba.shape == (len(test), 10)
    assert torch.allclose(proba.sum(1), torch.ones(len(test)), atol=1e-5)
    accuracy = (proba.argmax(1) == test.labels).double().mean().item()
    assert accuracy >= 0.95, accuracy
    assert model.features(test.x).shape == (len(test), 64)
    assert digit_classifier(0) is model  # cached per process


def test_classifier_training_is_deterministic(split):
    train, test = split
    a = train_digit_classifier(train, seed=3, steps=20)
    b = train_digit_classifier(train, seed=3, steps=20)
    assert torch.equal(a.features(test.x), b.features(test.x))


def test_real_digits_are_much_closer_to_the_test_split_than_noise(split):
    train, test = split
    model = digit_classifier(0)
    test_feats = model.features(test.x)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    subset = train.x[perm[: len(test)]]
    noise = torch.rand(len(test), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    fd_real = frechet_distance(model.features(subset), test_feats)
    fd_noise = frechet_distance(model.features(noise), test_feats)
    assert 0 < fd_real < fd_noise / 20, (fd_real, fd_noise)


def test_digit_report_on_the_test_split_itself(split):
    _, test = split
    report = digit_report(test.x)
    assert set(report) == {"fd", "fd_floor", "fd_ratio", "label_histogram", "class_fractions",
                           "digits_present", "mean_confidence", "test_mean_confidence", "n_samples",
                           "n_floor", "n_test", "clipped_fraction"}
    for key in ("fd", "fd_floor", "fd_ratio", "mean_confidence", "test_mean_confidence",
                "clipped_fraction"):
        assert isinstance(report[key], float), key
    assert report["n_samples"] == report["n_test"] == len(test) and report["clipped_fraction"] == 0.0
    # the floor: as many real training digits as there are samples
    assert report["n_floor"] == len(test) and report["fd_ratio"] == report["fd"] / report["fd_floor"]
    assert report["label_histogram"] == torch.bincount(
        digit_classifier(0).predict_proba(test.x).argmax(1), minlength=10).tolist()
    assert sum(report["label_histogram"]) == len(test)
    assert report["class_fractions"] == pytest.approx([h / len(test) for h in report["label_histogram"]])
    assert report["digits_present"] == 10
    assert report["fd"] < 1e-6 * report["fd_floor"]  # the test split against itself
    assert report["mean_confidence"] == report["test_mean_confidence"] > 0.9
    noise = digit_report(torch.rand(len(test), 1, 8, 8, generator=torch.Generator().manual_seed(1)))
    assert noise["fd_ratio"] > 20
    assert noise["mean_confidence"] < report["mean_confidence"]


def test_digit_report_clips_samples_to_the_unit_interval_and_says_so(split):
    _, test = split
    x = test.x.clone()
    x[:, :, 0, 0] = 2.0  # one pixel of 64 out of range in every image
    report = digit_report(x)
    assert report["clipped_fraction"] == pytest.approx(1 / 64)
    assert report["fd"] == pytest.approx(digit_report(x.clamp(0, 1))["fd"])
    with pytest.raises(ValueError, match="NaN"):
        digit_report(torch.full((4, 1, 8, 8), float("nan")))
