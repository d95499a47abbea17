"""The SDE samplers against an analytic mixture: with the exact score, Euler–Maruyama on the
reverse SDE, predictor–corrector, the probability-flow ODE in t, DDPM and DDIM started from
each SDE's prior reproduce the mixture (energy distance at the two-sample floor, weights
within SE); DDIM(η = 0) is Euler in σ̃ and converges to the VP probability-flow ODE as the
steps grow; DDPM's ancestral step is DDIM(η = 1) on the same noise."""
import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.evaluation import energy_distance
from scorelab.samplers import (ddim, ddpm, euler, euler_maruyama, probability_flow, sde_predictor_corrector,
                               sde_sigmas, sde_times)
from scorelab.sde import VE, VP, SubVP

GM = GaussianMixture(torch.tensor([[-1.5, 0.0], [1.5, 0.5]]), torch.tensor([0.7, 0.3]),
                     stds=torch.tensor([0.3, 0.5]))
SDES = {"ve": VE(0.01, 30.0), "vp": VP(), "vp-cosine": VP(schedule="cosine"), "subvp": SubVP()}
N = 3000


def _prior(sde, seed=0, n=N, dtype=torch.float32):
    return sde.prior_sample((n, 2), generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _tilde(sde, x):
    """The prior's draw in the contract's coordinates, x_T/s(T), for ddpm and ddim."""
    return x / float(sde.mean_scale(sde.T))


SAMPLERS = {  # name -> run(sde, x_T, generator): data-coordinate samples
    "euler_maruyama": lambda sde, x, g: euler_maruyama(GM.score, x, sde, sde_times(sde, 400), generator=g),
    "sde_predictor_corrector": lambda sde, x, g: sde_predictor_corrector(GM.score, x, sde, sde_times(sde, 200),
                                                                         generator=g),
    "probability_flow": lambda sde, x, g: probability_flow(GM.score, x, sde, sde_times(sde, 100)),
    "ddpm": lambda sde, x, g: ddpm(GM.score, _tilde(sde, x), sde_sigmas(sde, 400), generator=g),
    "ddim": lambda sde, x, g: ddim(GM.score, _tilde(sde, x), sde_sigmas(sde, 100), eta=0.5, generator=g),
}


def _floor():
    """The energy distance of two independent exact samples of size N, averaged over 5 pairs."""
    g = torch.Generator().manual_seed(99)
    return sum(energy_distance(GM.sample(N, g), GM.sample(N, g)) for _ in range(5)) / 5


FLOOR = _floor()


# ddpm and ddim are functions of the σ̃ schedule alone: VE's and VP's suffice.
CASES = [(name, sde) for name in sorted(SAMPLERS) for sde in sorted(SDES)
         if name not in ("ddpm", "ddim") or sde in ("ve", "vp")]


@pytest.mark.parametrize("name, sde_name", CASES)
def test_from_the_prior_with_the_exact_score_the_mixture_comes_back(name, sde_name):
    sde = SDES[sde_name]
    x = SAMPLERS[name](sde, _prior(sde), torch.Generator().manual_seed(1))
    truth = GM.sample(N, torch.Generator().manual_seed(2))
    assert energy_distance(x, truth) < 3 * FLOOR, (energy_distance(x, truth), FLOOR)
    nearest = torch.cdist(x.float(), GM.means).argmin(1)  # the two modes are 10 stds apart
    ok, msg = within_se((nearest == 0).double(), float(GM.weights[0]))
    assert ok, msg


def test_ddim_without_noise_is_euler_in_sigma_tilde_and_ddpm_is_ddim_with_eta_one():
    sde = SDES["vp"]
    x = _tilde(sde, _prior(sde, n=200, dtype=torch.float64))
    sigmas = sde_sigmas(sde, 30)
    assert torch.allclose(ddim(GM.score, x, sigmas), euler(GM.score, x, sigmas), atol=1e-9)
    a = ddim(GM.score, x, sigmas, eta=1.0, generator=torch.Generator().manual_seed(3))
    b = ddpm(GM.score, x, sigmas, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-9)


def _slope(ns, errors):
    ln, le = torch.tensor(ns, dtype=torch.float64).log(), torch.tensor(errors).log()
    return (((ln - ln.mean()) * (le - le.mean())).sum() / ((ln - ln.mean()) ** 2).sum()).item()


@pytest.mark.parametrize("sde_name", ["vp", "subvp"])
def test_ddim_converges_to_the_probability_flow_ode_in_t(sde_name):
    # Two discretisations in two coordinate systems of the one ODE: DDIM (Euler in σ̃ on x̃)
    # and Heun on dx/dt = f x − ½g²∇log p_t in t. On the same x_T they agree better and
    # better as DDIM's steps grow, at first order.
    sde = SDES[sde_name]
    x_T = _prior(sde, n=64, dtype=torch.float64)
    reference = probability_flow(GM.score, x_T, sde, sde_times(sde, 2000).double())
    ns = [25, 50, 100, 200]
    errors = [(ddim(GM.score, _tilde(sde, x_T), sde_sigmas(sde, n)) - reference).square().sum(1).mean().sqrt().item()
              for n in ns]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert -1.3 < _slope(ns, errors) < -0.7, errors
    assert errors[-1] < 0.05, errors
