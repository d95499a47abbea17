"""ScoreModel: scikit-learn's conventions, data coordinates, save/load, and quality on a mixture."""
import pytest
import torch

import scorelab
from scorelab import ScoreModel
from scorelab.distributions import GaussianMixture
from scorelab.estimator import NotFittedError
from scorelab.training.config import DEFAULTS

TINY = dict(steps=40, width=16, depth=2, steps_per_level=3, eval_every=20)


def test_follows_scikit_learn_conventions():
    from sklearn.base import clone
    model = ScoreModel(steps=10, lr=1e-3)
    params = model.get_params()
    assert params == {**DEFAULTS, "steps": 10, "lr": 1e-3}
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    assert model.set_params(width=8) is model and model.width == 8
    assert not [k for k in vars(model) if k.endswith("_")]  # nothing fitted in __init__
    with pytest.raises(NotFittedError):
        model.sample(3)
    with pytest.raises(TypeError):
        ScoreModel(nope=1)


def test_fit_returns_self_and_sets_fitted_attributes():
    x = torch.randn(300, 3) * 4 + 10
    model = ScoreModel(**TINY)
    assert model.fit(x) is model
    assert model.n_features_in_ == 3 and model.data_shape_ == (3,)
    assert torch.all(model.sigmas_[1:] < model.sigmas_[:-1])  # largest first
    assert len(model.history_) == 2


def test_sigmas_and_scores_are_in_data_units():
    # Data scaled by 100: the noise levels scale with them, and so does the score (by 1/100).
    base = torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    a = ScoreModel(**TINY, seed=1).fit(base)
    b = ScoreModel(**TINY, seed=1).fit(base * 100)
    assert torch.allclose(b.sigmas_, 100 * a.sigmas_, rtol=1e-4)
    x = torch.randn(5, 2)
    assert torch.allclose(b.score_fn(100 * x, 100 * a.sigmas_[2]), a.score_fn(x, a.sigmas_[2]) / 100, rtol=1e-3, atol=1e-6)
    samples = b.sample(200, random_state=0, steps=2)
    assert samples.abs().mean() > 10  # in data coordinates, not normalised ones


def test_user_sigmas_are_data_units():
    x = torch.randn(200, 2) * 50
    model = ScoreModel(**TINY, sigma_max=200.0, sigma_min=0.5, n_levels=7).fit(x)
    assert torch.allclose(model.sigmas_[[0, -1]], torch.tensor([200.0, 0.5]), rtol=1e-4)
    assert len(model.sigmas_) == 7


def test_save_load_round_trip(tmp_path):
    model = ScoreModel(**TINY).fit(torch.randn(200, 2))
    model.save(tmp_path / "m")
    again = scorelab.load(tmp_path / "m", device=model.device_)  # CUDA and CPU round differently
    x = torch.randn(7, 2)
    assert torch.equal(model.score_fn(x), again.score_fn(x))
    assert torch.equal(model.sample(10, random_state=4), again.sample(10, random_state=4))
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("objective", ["dsm", "ssm", "ssm-vr", "esm", "cd"])
def test_every_objective_trains_and_samples(objective):
    kind = "energy" if objective == "cd" else "score"
    model = ScoreModel(**TINY, objective=objective, model=kind, cd_steps=3, cd_buffer=200).fit(torch.randn(200, 2))
    x = model.sample(20, random_state=0, sampler="langevin", steps=5)
    assert x.shape == (20, 2) and torch.isfinite(x).all()


def test_energy_model_has_energy_and_mala():
    model = ScoreModel(**TINY, model="energy").fit(torch.randn(200, 2))
    assert model.energy(torch.randn(4, 2)).shape == (4,)
    x, info = model.sample(10, random_state=0, sampler="mala", steps=5, return_info=True)
    assert x.shape == (10, 2) and torch.isfinite(x).all() and info.nfe == 5 + 1  # MALA: steps + 1
    # The rate is a fraction by construction; what can fail is the Metropolis test itself. At
    # the default step (ε = 0.01 in normalised units) MALA's rejections are O(ε^{3/2}) rare.
    assert 0.5 < info.acceptance_rate <= 1
    assert torch.equal(x, model.sample(10, random_state=0, sampler="mala", steps=5))
    with pytest.raises(ValueError, match="energy"):
        ScoreModel(**TINY).fit(torch.randn(50, 2)).energy(torch.randn(2, 2))


def test_same_seed_same_model():
    x = torch.randn(200, 2)
    a, b = ScoreModel(**TINY, seed=3).fit(x), ScoreModel(**TINY, seed=3).fit(x)
    for p, q in zip(a.network_.parameters(), b.network_.parameters()):
        assert torch.equal(p, q)


def test_training_threads_are_restored_and_do_not_change_the_result(monkeypatch):
    real = torch.set_num_threads
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n)))
    real(3)  # not 1, so that 'auto' choosing one thread and the restore are both visible
    try:
        x = torch.randn(200, 2)
        auto = ScoreModel(**TINY, seed=1, device="cpu").fit(x)  # threads matter on the CPU only
        assert torch.get_num_threads() == 3
        two = ScoreModel(**TINY, seed=1, threads=2, device="cpu").fit(x)
        assert torch.get_num_threads() == 3
    finally:
        real(1)
    assert seen == [1, 3, 2, 3]  # 'auto': one thread for an MLP; then torch's setting again
    for p, q in zip(auto.network_.parameters(), two.network_.parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6)


def test_configured_step_size_is_used_by_sample_and_inpaint():
    # sampling.step_size (data units²) is the default ε; a step size passed to sample() wins.
    x = 3 * torch.randn(200, 2)
    a = ScoreModel(**TINY, seed=2).fit(x)
    eps = 0.1 * float(a.sigmas_[-1]) ** 2
    b = ScoreModel(**TINY, seed=2, step_size=eps).fit(x)
    explicit = a.sample(10, random_state=1, sampler="annealed", step_size=eps)
    assert torch.equal(b.sample(10, random_state=1, sampler="annealed"), explicit)
    assert not torch.equal(a.sample(10, random_state=1, sampler="annealed"), explicit)
    assert torch.equal(b.sample(10, random_state=1, sampler="langevin", steps=5),
                       a.sample(10, random_state=1, sampler="langevin", steps=5, step_size=eps))
    mask = torch.tensor([[1.0, 0.0]]).expand(4, 2)
    assert torch.equal(b.inpaint(x[:4], mask, random_state=0),
                       a.inpaint(x[:4], mask, random_state=0, step_size=eps))


@pytest.mark.slow
def test_defaults_recover_mixture_weights_and_reach_the_energy_distance_floor(tmp_path):
    """Issue 3's quality bar, through the CLI with its defaults: weights within 0.03 and the
    energy distance of 3000 samples within 3x that of two fresh data sets of that size."""
    import numpy as np

    from scorelab.cli import main
    from scorelab.evaluation.metrics import energy_distance, mode_fractions
    gm = GaussianMixture([[0.0, 0.0], [4.0, 4.0], [-4.0, 4.0]], [0.6, 0.3, 0.1], stds=[0.5, 0.7, 0.5])
    g = torch.Generator().manual_seed(0)
    np.savetxt(tmp_path / "data.csv", gm.sample(3000, g).numpy(), delimiter=",")
    assert main(["train", str(tmp_path / "data.csv"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["sample", str(tmp_path / "run"), "-n", "3000", "--out", str(tmp_path / "s.npy"), "--seed", "1"]) == 0
    samples = torch.from_numpy(np.load(tmp_path / "s.npy"))
    weights = mode_fractions(samples, gm.means)
    assert torch.allclose(weights, gm.weights.double(), atol=0.03), weights
    # The floor is the expected distance between two fresh data sets of 3000 (a noisy statistic:
    # single pairs range over 0.0008-0.003 here), so it is averaged over 5 pairs.
    floor = sum(energy_distance(gm.sample(3000, g), gm.sample(3000, g)) for _ in range(5)) / 5
    assert energy_distance(samples, gm.sample(3000, g)) < 3 * floor


def test_the_step_callback_sees_the_losses_logged_so_far():
    # The playground draws the loss curve while training from the snapshot's history_.
    seen = []
    params = {**TINY, "eval_every": 1}
    model = ScoreModel(**params).fit(torch.randn(200, 2), callback=lambda step, m: seen.append((step, len(m.history_))))
    assert seen == [(step, step - 1) for step in range(1, params["steps"] + 1)]  # called before the step's record
    assert [h["step"] for h in model.history_] == list(range(1, params["steps"] + 1))
