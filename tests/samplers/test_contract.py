"""One contract for every sampler in ``scorelab.samplers``: langevin, annealed_langevin, mala,
euler, heun, dpmpp_2m, ode_adaptive, predictor_corrector, inpaint, and the SDE view's
euler_maruyama, sde_predictor_corrector, probability_flow (on the VE SDE from σ/100 to σ),
ddpm and ddim.

Each sampler is run through the same checks: shape, dtype and device preserved (points and
image-shaped inputs, float32 and float64); the same seed gives the same samples, another seed
others (stochastic samplers only); the NFE is the one its docstring states and equals the
number of score (or log-density) calls; one trajectory frame per callback, the initial state
first and the samples last; no NaN at the edges (one step, a tiny and a huge noise level);
autograd usable by an energy model's score under ``no_grad``; a blow-up raises
``FloatingPointError``; bad arguments raise ``ValueError``.

Whether the samples are *right* (moments, mixture weights, conditionals, convergence orders)
is checked against closed forms in the oracle modules next to this one.
"""
import math
from dataclasses import dataclass
from typing import Callable

import pytest
import torch

from conftest import standard_normal_score
from scorelab.distributions import GaussianMixture
from scorelab.nn import EnergyMLP, score_from_energy
from scorelab.samplers import (annealed_langevin, ddim, ddpm, dpmpp_2m, euler, euler_maruyama, geometric_sigmas,
                               heun, inpaint, karras_sigmas, langevin, mala, ode_adaptive, predictor_corrector,
                               probability_flow, sde_predictor_corrector, sde_times)
from scorelab.sde import VE

GM = GaussianMixture(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), torch.tensor([0.5, 0.5]),
                     stds=torch.tensor([0.3, 0.3]))
STEP = 0.01  # the Langevin-type samplers' step size (annealed: at the smallest level)
SIGMA = 1.0  # the largest noise level of every schedule, unless a test says otherwise


class StandardNormal:
    """N(0, I) data of any shape, noised to σ: the score −x/(1 + σ²) and the log-density."""

    @staticmethod
    def score(x, sigma):
        return standard_normal_score(x, sigma)

    @staticmethod
    def log_prob(x, sigma):
        var = (1 + sigma**2).reshape(-1, *[1] * (x.ndim - 1))
        return (-0.5 * (x**2 / var + torch.log(2 * math.pi * var))).flatten(1).sum(1)


class Counted:
    """A target whose score and log-density calls are counted (one call = one NFE)."""

    def __init__(self, target):
        self.target, self.calls = target, 0

    def score(self, x, sigma):
        self.calls += 1
        return self.target.score(x, sigma)

    def log_prob(self, x, sigma):
        self.calls += 1
        return self.target.log_prob(x, sigma)


class EnergyTarget:
    """An energy network's score (−∇E, by autograd inside the sampler) and log-density −E."""

    def __init__(self, energy):
        self.score, self.log_prob = score_from_energy(energy), lambda x, s: -energy(x, s)


class NaNTarget:
    """A score and a log-density that are NaN everywhere."""

    @staticmethod
    def score(x, sigma):
        return torch.full_like(x, math.nan)

    @staticmethod
    def log_prob(x, sigma):
        return x.flatten(1).sum(1) * math.nan


def known_mask(x):
    """Inpainting's mask for any data shape: every other coordinate known."""
    return (torch.arange(x[0].numel()) % 2 == 0).reshape(x.shape[1:])


def _ve(sigma):
    """The VE SDE over [σ/100, σ] (its prior at t = 1 is N(0, σ²I), where the samplers start)."""
    return VE(sigma / 100, sigma)


def _sde_run(sampler):
    """``sampler(score, x, sde, ts)`` on n uniform times of the VE SDE from σ down to σ/100."""
    return lambda t, x, n, sigma, **kw: sampler(t.score, x, _ve(sigma), sde_times(_ve(sigma), n), **kw)


def _ode_schedule(n, sigma):
    """n steps from σ down to 0: EDM's schedule (σ_min = σ/100), or the single step [σ, 0]."""
    if n == 1:
        return torch.tensor([sigma, 0.0])
    return karras_sigmas(n, sigma / 100, sigma, append_zero=True)


@dataclass(frozen=True)
class Spec:
    """How the contract runs a sampler: ``run(target, x, n, sigma, **kw)`` takes n steps (or
    steps per level, or levels) with σ the largest noise level; ``nfe(n)`` and ``callbacks(n)``
    are what its docstring states (``nfe`` None: reported by the solver, so only counted)."""

    run: Callable
    nfe: Callable | None
    callbacks: Callable
    stochastic: bool
    starts_at_sigma: bool  # x_init ~ N(0, σ²I) (the ODE and predictor-corrector samplers)
    batch_independent: bool = False  # a sample's fate does not depend on its batch-mates


SAMPLERS = {
    # NFE = n_steps; one callback per step.
    "langevin": Spec(lambda t, x, n, sigma, **kw: langevin(t.score, x, STEP, n, sigma=sigma, **kw),
                     nfe=lambda n: n, callbacks=lambda n: n, stochastic=True, starts_at_sigma=False),
    # Two levels [σ, σ/10], n steps each: NFE = len(sigmas)·steps_per_level + 1 (the denoising step).
    "annealed_langevin": Spec(lambda t, x, n, sigma, **kw: annealed_langevin(
        t.score, x, [sigma, sigma / 10], STEP, n, **kw),
        nfe=lambda n: 2 * n + 1, callbacks=lambda n: 2 * n + 1, stochastic=True, starts_at_sigma=False),
    # NFE = n_steps + 1 (the log-density and its gradient at the start, then one per proposal).
    "mala": Spec(lambda t, x, n, sigma, **kw: mala(t.log_prob, x, STEP, n, sigma=sigma, **kw),
                 nfe=lambda n: n + 1, callbacks=lambda n: n, stochastic=True, starts_at_sigma=False),
    # NFE = len(sigmas) − 1, one per step.
    "euler": Spec(lambda t, x, n, sigma, **kw: euler(t.score, x, _ode_schedule(n, sigma), **kw),
                  nfe=lambda n: n, callbacks=lambda n: n, stochastic=False, starts_at_sigma=True,
                  batch_independent=True),
    # NFE = 2n − 1: two per step, one for the last (Euler) step to σ = 0.
    "heun": Spec(lambda t, x, n, sigma, **kw: heun(t.score, x, _ode_schedule(n, sigma), **kw),
                 nfe=lambda n: 2 * n - 1, callbacks=lambda n: n, stochastic=False, starts_at_sigma=True,
                 batch_independent=True),
    # NFE = len(sigmas) − 1, one per step.
    "dpmpp_2m": Spec(lambda t, x, n, sigma, **kw: dpmpp_2m(t.score, x, _ode_schedule(n, sigma), **kw),
                     nfe=lambda n: n, callbacks=lambda n: n, stochastic=False, starts_at_sigma=True,
                     batch_independent=True),
    # NFE = the drift evaluations odeint made + 1 (its n is the solver's); two callbacks:
    # x(σ_min) and the denoised samples. One step size per batch: batch-independent only
    # within the tolerance (checked with a looser atol).
    "ode_adaptive": Spec(lambda t, x, n, sigma, **kw: ode_adaptive(t.score, x, sigma, sigma / 100, **kw),
                         nfe=None, callbacks=lambda n: 2, stochastic=False, starts_at_sigma=True,
                         batch_independent=True),
    # n geometric levels from σ to σ/100: NFE = len(sigmas)·(n_corrector + 1), one callback per level.
    "predictor_corrector": Spec(lambda t, x, n, sigma, **kw: predictor_corrector(
        t.score, x, geometric_sigmas(sigma, sigma / 100, n), **kw),
        nfe=lambda n: 2 * n, callbacks=lambda n: n, stochastic=True, starts_at_sigma=True),
    # n times: NFE = len(ts), one per Euler–Maruyama step and one for the final denoiser.
    "euler_maruyama": Spec(_sde_run(euler_maruyama), nfe=lambda n: n, callbacks=lambda n: n, stochastic=True,
                           starts_at_sigma=True),
    # n times: NFE = len(ts)·(n_corrector + 1), one callback per time.
    "sde_predictor_corrector": Spec(_sde_run(sde_predictor_corrector), nfe=lambda n: 2 * n,
                                    callbacks=lambda n: n, stochastic=True, starts_at_sigma=True),
    # n times: NFE = 2·(len(ts) − 1) + 1, Heun's two per step and the final denoiser.
    "probability_flow": Spec(_sde_run(probability_flow), nfe=lambda n: 2 * n - 1, callbacks=lambda n: n,
                             stochastic=False, starts_at_sigma=True, batch_independent=True),
    # NFE = len(sigmas) − 1, one per step (η = 0.5: stochastic).
    "ddim": Spec(lambda t, x, n, sigma, **kw: ddim(t.score, x, _ode_schedule(n, sigma), eta=0.5, **kw),
                 nfe=lambda n: n, callbacks=lambda n: n, stochastic=True, starts_at_sigma=True),
    "ddpm": Spec(lambda t, x, n, sigma, **kw: ddpm(t.score, x, _ode_schedule(n, sigma), **kw),
                 nfe=lambda n: n, callbacks=lambda n: n, stochastic=True, starts_at_sigma=True),
    # Two levels [σ, σ/10], n steps each: NFE = len(sigmas)·steps_per_level + 1 (the denoising step).
    "inpaint": Spec(lambda t, x, n, sigma, **kw: inpaint(
        t.score, x, known_mask(x), [sigma, sigma / 10], STEP, n, **kw),
        nfe=lambda n: 2 * n + 1, callbacks=lambda n: 2 * n + 1, stochastic=True, starts_at_sigma=False),
}
NAMES = sorted(SAMPLERS)


def initial(name, shape=(32, 2), dtype=torch.float32, sigma=SIGMA, seed=0):
    """The starting points: N(0, σ²I) for samplers that start at σ_max, N(0, I) otherwise."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return sigma * x if SAMPLERS[name].starts_at_sigma else x


def run(name, x, n=3, *, target=GM, sigma=SIGMA, seed=0, **kw):
    return SAMPLERS[name].run(target, x, n, sigma, generator=torch.Generator().manual_seed(seed), **kw)


# ---------------------------------------------------------------- shapes, dtypes, seeds
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape, target", [((32, 2), GM), ((4, 1, 3, 3), StandardNormal)],
                         ids=["points", "images"])
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_device_are_preserved(name, shape, target, dtype):
    x0 = initial(name, shape, dtype)
    x = run(name, x0, target=target)
    assert x.shape == x0.shape and x.dtype == dtype and x.device == x0.device
    assert not x.requires_grad and torch.isfinite(x).all()
    assert not torch.equal(x, x0)  # it moved
    y, info = run(name, x0, target=target, return_info=True)
    assert torch.equal(x, y)  # asking for the info changes nothing
    assert isinstance(info.nfe, int) and info.trajectory is None


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_samples(name):
    x0 = initial(name)
    a, b, c = run(name, x0, seed=0), run(name, x0, seed=0), run(name, x0, seed=1)
    assert torch.equal(a, b)
    # Stochastic samplers draw their noise from the generator; the deterministic ones accept
    # it for the common signature and do not use it.
    if SAMPLERS[name].stochastic:
        assert not torch.equal(a, c)
    else:
        assert torch.equal(a, c) and torch.equal(a, SAMPLERS[name].run(GM, x0, 3, SIGMA))  # no generator
    # Recording the trajectory and calling back do not touch the random stream.
    seen = []
    d, _ = run(name, x0, seed=0, return_info=True, trajectory=True, callback=seen.append)
    assert torch.equal(a, d) and seen


@pytest.mark.parametrize("name", NAMES)
def test_nfe_is_as_documented_and_counts_every_call(name):
    spec = SAMPLERS[name]
    for n in (1, 3):
        target = Counted(GM)
        _, info = run(name, initial(name), n, target=target, return_info=True)
        assert info.nfe == target.calls, (n, info.nfe, target.calls)
        if spec.nfe is not None:
            assert info.nfe == spec.nfe(n), (n, info.nfe)
        else:  # the adaptive solver: at least one step of dopri5 (6 stages) and the denoiser
            assert info.nfe > 6


@pytest.mark.parametrize("name", ["annealed_langevin", "inpaint"])
def test_without_the_denoising_step_one_evaluation_less(name):
    target = Counted(GM)
    seen = []
    _, info = run(name, initial(name), 3, target=target, denoise=False, return_info=True, callback=seen.append)
    assert info.nfe == target.calls == 2 * 3  # len(sigmas)·steps_per_level
    assert len(seen) == 2 * 3


@pytest.mark.parametrize("name", NAMES)
def test_one_trajectory_frame_per_callback(name):
    spec, n = SAMPLERS[name], 3
    x0 = initial(name)
    seen = []
    x, info = run(name, x0, n, return_info=True, trajectory=True, callback=seen.append)
    assert len(seen) == spec.callbacks(n)
    assert info.trajectory.shape == (len(seen) + 1, *x0.shape) and info.trajectory.dtype == x0.dtype
    if name == "inpaint":  # the initial state: the known part, the rest drawn at the largest level
        known = known_mask(x0).expand_as(x0)
        assert torch.equal(info.trajectory[0][known], x0[known])
    else:
        assert torch.equal(info.trajectory[0], x0)
    assert torch.equal(info.trajectory[-1], x)
    # Each callback sees step i, the state the trajectory records, the level reached (never
    # increasing) and the NFE so far (never decreasing, the total at the end).
    assert [c["i"] for c in seen] == list(range(len(seen)))
    for c, frame in zip(seen, info.trajectory[1:]):
        assert torch.equal(c["x"], frame)
    sigmas, nfes = [float(c["sigma"]) for c in seen], [c["nfe"] for c in seen]
    assert all(a >= b for a, b in zip(sigmas, sigmas[1:])), sigmas
    assert all(a <= b for a, b in zip(nfes, nfes[1:])) and nfes[-1] == info.nfe, nfes


# ---------------------------------------------------------------- edges
@pytest.mark.parametrize("sigma", [1e-6, 1e4])
@pytest.mark.parametrize("name", NAMES)
def test_no_nan_with_one_step_and_extreme_sigma(name, sigma):
    for dtype in (torch.float32, torch.float64):
        x = run(name, initial(name, (16, 2), dtype, sigma=sigma), 1, sigma=sigma)
        assert torch.isfinite(x).all() and x.dtype == dtype


@pytest.mark.parametrize("sigma", [1e-6, 1.0, 1e4])
@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m"])
def test_one_ode_step_to_zero_is_tweedies_denoiser(name, sigma):
    # From σ to 0 in one step all three return D(x, σ) = x + σ²·s(x, σ) (in float64: at
    # σ = 1e4, x ≈ 1e4 cancels down to D ≈ 1 and float32 keeps only ~1e-3 of it).
    x = initial(name, (16, 2), torch.float64, sigma=sigma)
    y, info = run(name, x, 1, sigma=sigma, return_info=True)
    assert info.nfe == 1
    assert torch.allclose(y, x + sigma**2 * GM.score(x, sigma), atol=1e-8)


@pytest.mark.parametrize("name", [name for name in NAMES if SAMPLERS[name].batch_independent])
def test_batch_composition_invariance(name):
    # A sample's fate does not depend on its batch-mates (the adaptive solver shares one step
    # size per batch, so there only within its tolerance).
    x0 = initial(name, (16, 2), sigma=10.0, seed=3)
    full, part = run(name, x0, 10, sigma=10.0), run(name, x0[:5], 10, sigma=10.0)
    assert torch.allclose(full[:5], part, atol=1e-2 if name == "ode_adaptive" else 1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_autograd_stays_usable_for_energy_models(name):
    # An energy model's score (−∇E by autograd) is computed inside the sampler: it must work
    # when the caller is under no_grad, and leave no graph on the samples.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        target = EnergyTarget(EnergyMLP(2, 8, 2, noise_conditional=True))
    with torch.no_grad():
        x = run(name, initial(name, (8, 2)), 2, target=target)
    assert torch.isfinite(x).all() and not x.requires_grad


# ---------------------------------------------------------------- failures

@pytest.mark.parametrize("name", NAMES)
def test_a_nan_score_raises_floating_point_error(name):
    with pytest.raises(FloatingPointError):
        run(name, initial(name, (4, 2)), 2, target=NaNTarget)


def test_langevin_blow_ups_name_the_step_size_and_the_level():
    class Exploding:
        @staticmethod
        def score(x, s):
            return x * 1e3

    with pytest.raises(FloatingPointError, match="step size"):
        langevin(Exploding.score, torch.ones(4, 2), 10.0, 200)
    with pytest.raises(FloatingPointError, match=r"blew up at sigma=1\)"):
        annealed_langevin(Exploding.score, torch.ones(4, 2), [1.0, 0.5], 10.0, 200)
    with pytest.raises(FloatingPointError, match=r"inpaint: .*blew up at sigma=1\)"):
        inpaint(Exploding.score, torch.ones(4, 2), torch.tensor([1, 0]), [1.0, 0.5], 10.0, 200)


X = torch.zeros(2, 2)
BAD_ARGUMENTS = {
    "langevin negative step": (lambda: langevin(GM.score, X, -1.0, 3), "step_size"),
    "langevin negative steps": (lambda: langevin(GM.score, X, 0.1, -1), "n_steps"),
    "annealed increasing sigmas": (lambda: annealed_langevin(GM.score, X, [0.1, 1.0], 0.1, 3), "largest to smallest"),
    "annealed zero sigma": (lambda: annealed_langevin(GM.score, X, [1.0, 0.0], 0.1, 3), "positive"),
    "annealed no sigmas": (lambda: annealed_langevin(GM.score, X, [], 0.1, 3), "positive"),
    "mala negative step": (lambda: mala(GM.log_prob, X, -1.0, 3), "step_size"),
    "inpaint increasing sigmas": (lambda: inpaint(GM.score, X, torch.tensor([1, 0]), [0.1, 1.0], 0.1, 2),
                                  "largest to smallest"),
    "inpaint zero sigma": (lambda: inpaint(GM.score, X, torch.tensor([1, 0]), [1.0, 0.0], 0.1, 2), "positive"),
    "predictor_corrector zero sigma": (lambda: predictor_corrector(GM.score, X, [2.0, 1.0, 0.0]), "positive"),
    "predictor_corrector negative snr": (lambda: predictor_corrector(GM.score, X, [2.0, 1.0], snr=-1), "snr"),
    "ode_adaptive sigma_max below sigma_min": (lambda: ode_adaptive(GM.score, X, 0.1, 1.0), "sigma_max > sigma_min"),
    **{f"{s.__name__} not ending in 0": (lambda s=s: s(GM.score, X, torch.tensor([2.0, 1.0])), "ending in 0")
       for s in (euler, heun, dpmpp_2m, ddim, ddpm)},
    **{f"{s.__name__} increasing": (lambda s=s: s(GM.score, X, torch.tensor([1.0, 2.0, 0.0])), "decrease")
       for s in (euler, heun, dpmpp_2m, ddim, ddpm)},
    "ddim eta above one": (lambda: ddim(GM.score, X, torch.tensor([1.0, 0.0]), eta=1.5), "eta"),
    **{f"{s.__name__} increasing times": (lambda s=s: s(GM.score, X, _ve(1.0), [0.5, 1.0]), "decreasing")
       for s in (euler_maruyama, sde_predictor_corrector, probability_flow)},
    "sde_predictor_corrector negative snr": (lambda: sde_predictor_corrector(GM.score, X, _ve(1.0), [1.0, 0.5], snr=-1),
                                             "snr"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_are_rejected(case):
    call, match = BAD_ARGUMENTS[case]
    with pytest.raises(ValueError, match=match):
        call()
