"""ScoreModel speaks scikit-learn: parameters by introspection, score(X) a log-likelihood that
model selection can maximise, score_samples a normalised density in data units."""
import inspect
import math

import numpy as np
import pytest
import torch

from scorelab import ScoreModel
from scorelab.estimator import NotFittedError
from scorelab.training.config import DEFAULTS

SMALL = dict(steps=300, width=32, eval_every=100, checkpoint_every=100)


def _points(n, seed=0, scale=3.0):
    return scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_init_takes_one_keyword_per_hyper_parameter_with_its_default():
    params = inspect.signature(ScoreModel.__init__).parameters
    keywords = {n: p.default for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == DEFAULTS
    assert [p.kind for n, p in params.items() if n != "self"] == [inspect.Parameter.KEYWORD_ONLY] * len(DEFAULTS)


def test_clone_copies_every_parameter_and_no_fitted_state():
    from sklearn.base import clone
    model = ScoreModel(steps=25, width=8).fit(_points(100))
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not [k for k in vars(twin) if k.endswith("_")]
    with pytest.raises(NotFittedError, match="not fitted"):
        twin.network_
    with pytest.raises(ValueError, match="unknown parameter"):
        twin.set_params(wdith=3)


def test_grid_search_picks_the_longer_training():
    from sklearn.model_selection import GridSearchCV
    x = _points(600).numpy()
    search = GridSearchCV(ScoreModel(**SMALL), {"steps": [20, 600]}, cv=2).fit(x)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert search.best_params_ == {"steps": 600} and scores[1] > scores[0] + 0.1, scores
    assert isinstance(search.score(x), float)


def test_cross_val_score_on_an_energy_model():
    from sklearn.model_selection import cross_val_score
    scores = cross_val_score(ScoreModel(model="energy", objective="dsm", **SMALL), _points(400).numpy(), cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()


def _grid_mass(model, half_width, n=80):
    """∫ exp(score_samples) over the square [−half_width, half_width]² by the midpoint rule."""
    h = 2 * half_width / n
    ticks = -half_width + h * (torch.arange(n) + 0.5)
    grid = torch.cartesian_prod(ticks, ticks)
    return float(torch.exp(model.score_samples(grid)).sum() * h * h)


@pytest.mark.parametrize("options", [dict(), dict(model="energy", objective="dsm")], ids=["ode", "energy"])
def test_score_samples_is_a_normalised_density_in_data_units(options):
    # The probability-flow ODE transports the normalised prior with any vector field, and an
    # energy is normalised by its partition function: either way exp(score_samples) integrates
    # to 1 over the plane (here a box of ±5 data standard deviations, in data units).
    model = ScoreModel(**SMALL, **options).fit(_points(500))
    assert abs(_grid_mass(model, 15.0) - 1) < 0.02


def test_log_likelihoods_change_by_the_log_jacobian_under_rescaling():
    # Data scaled by 100 in both coordinates: the same model in other units, so log p falls by
    # exactly 2·log 100 (the normalisation absorbs the scale; training sees the same numbers).
    base, probe = _points(400), _points(20, seed=1)
    a = ScoreModel(**{**SMALL, "steps": 100}).fit(base)
    b = ScoreModel(**{**SMALL, "steps": 100}).fit(100 * base)
    torch.testing.assert_close(b.score_samples(100 * probe), a.score_samples(probe) - 2 * math.log(100),
                               rtol=0, atol=1e-2)


def test_score_with_sigma_is_the_deprecated_vector_field():
    model = ScoreModel(steps=25, width=8).fit(_points(100))
    x = _points(5, seed=2)
    with pytest.warns(DeprecationWarning, match="score_fn"):
        field = model.score(x, sigma=1.0)
    assert torch.equal(field, model.score_fn(x, 1.0))
    with pytest.raises(ValueError, match="trained on"):
        model.score_samples(torch.zeros(3, 4))
