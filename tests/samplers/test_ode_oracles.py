"""Probability-flow ODE samplers and the predictor–corrector sampler, against an analytic mixture.

Truth: a 2-D Gaussian mixture's exact score at every σ. The samplers must reproduce its mean,
covariance and mixture weights within Monte Carlo error and converge at their documented order
to the exact ODE solution; the per-sample corrector step shows its documented bias. (The
contract every sampler follows is in test_contract.py.)
"""
import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.samplers import (dpmpp_2m, euler, geometric_sigmas, heun, karras_sigmas,
                               ode_adaptive, predictor_corrector)

GM = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.5], [0.0, 3.0]]), torch.tensor([0.5, 0.3, 0.2]),
                     stds=torch.tensor([0.4, 0.7, 1.0]))
SIGMA_MAX, SIGMA_MIN = 80.0, 0.01


def responsibilities(x):
    """r_k(x) = P(component k | x) under GM; E_p[r_k] = w_k exactly, so mean(r_k) estimates w_k."""
    comps = [GaussianMixture(GM.means[k:k + 1], [1.0], stds=GM.stds[k:k + 1]) for k in range(3)]
    log_joint = torch.stack([c.log_prob(x) for c in comps], dim=1) + GM.weights.log()
    return torch.softmax(log_joint, dim=1)


def _karras(n):
    return karras_sigmas(n, SIGMA_MIN, SIGMA_MAX, append_zero=True)


# name -> run(x, n_steps, **kw); n_steps = number of nonzero sigmas / levels.
SAMPLERS = {
    "euler": lambda x, n, **kw: euler(GM.score, x, _karras(n), **kw),
    "heun": lambda x, n, **kw: heun(GM.score, x, _karras(n), **kw),
    "dpmpp_2m": lambda x, n, **kw: dpmpp_2m(GM.score, x, _karras(n), **kw),
    "predictor_corrector": lambda x, n, **kw: predictor_corrector(
        GM.score, x, geometric_sigmas(SIGMA_MAX, SIGMA_MIN, n), **kw),
}
# Steps each sampler gets in the moment test: its discretisation bias is then well below the
# Monte Carlo error (measured against a 1e-10 dopri5 solution for the ODE samplers).
MOMENT_STEPS = {"euler": 150, "heun": 30, "dpmpp_2m": 30, "predictor_corrector": 300}


@pytest.mark.parametrize("name", [*sorted(MOMENT_STEPS), "ode_adaptive"])
def test_sampler_reproduces_mixture_mean_covariance_and_weights(name):
    n = 4000
    x0 = SIGMA_MAX * torch.randn(n, 2, generator=torch.Generator().manual_seed(10))
    g = torch.Generator().manual_seed(11)
    if name == "ode_adaptive":
        x = ode_adaptive(GM.score, x0, SIGMA_MAX, SIGMA_MIN)
    else:
        x = SAMPLERS[name](x0, MOMENT_STEPS[name], generator=g)
    # Standard errors (n = 4000): mean ~0.03, covariance entries ~0.05–0.1, weights ~0.007;
    # each check is at 4 SE. The samples are drawn from p_{σ_min}, whose covariance is
    # Cov + σ_min² I (a 1e-4 shift, far below the SE).
    mean = GM.mean()
    for i in range(2):
        ok, msg = within_se(x[:, i], mean[i].item())
        assert ok, f"{name} mean[{i}]: {msg}"
    cov = GM.covariance(SIGMA_MIN)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        ok, msg = within_se((x[:, i] - mean[i]) * (x[:, j] - mean[j]), cov[i, j].item())
        assert ok, f"{name} cov[{i},{j}]: {msg}"
    r = responsibilities(x)
    for k in range(3):
        ok, msg = within_se(r[:, k], GM.weights[k].item())
        assert ok, f"{name} weight[{k}]: {msg}"


def _log_log_slope(ns, errors):
    ln, le = torch.tensor(ns, dtype=torch.float64).log(), torch.tensor(errors).log()
    return (((ln - ln.mean()) * (le - le.mean())).sum() / ((ln - ln.mean()) ** 2).sum()).item()


def test_convergence_orders_against_a_tight_dopri5_solution():
    # Every sampler ends with the same map, D(x, σ_min) (Euler's and Heun's last step and
    # DPM-Solver++'s last output), and so does ode_adaptive: they share the exact limit.
    x0 = SIGMA_MAX * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = ode_adaptive(GM.score, x0, SIGMA_MAX, SIGMA_MIN, rtol=1e-10, atol=1e-10)
    ns = [20, 40, 80, 160]
    errors = {}
    for sampler in (euler, heun, dpmpp_2m):
        errors[sampler.__name__] = [
            (sampler(GM.score, x0, _karras(n).double()) - ref).square().sum(1).mean().sqrt().item()
            for n in ns]
    slopes = {k: _log_log_slope(ns, v) for k, v in errors.items()}
    # Measured: euler −1.03, heun −2.10, dpmpp_2m −2.09.
    assert -1.2 < slopes["euler"] < -0.85, (slopes, errors)
    assert -2.4 < slopes["heun"] < -1.8, (slopes, errors)
    assert slopes["dpmpp_2m"] < -1.7, (slopes, errors)
    assert all(d < e for d, e in zip(errors["dpmpp_2m"], errors["euler"])), errors
    # At equal NFE (Heun spends two per step) the multistep solver is the more accurate.
    assert errors["dpmpp_2m"][-1] < errors["heun"][-2], errors


def test_adaptive_solver_reports_its_nfe_and_meets_its_tolerance():
    x0 = SIGMA_MAX * torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = ode_adaptive(GM.score, x0, SIGMA_MAX, SIGMA_MIN, rtol=1e-10, atol=1e-10)
    calls = []

    def counted(x, s):
        calls.append(1)
        return GM.score(x, s)

    x, info = ode_adaptive(counted, x0, SIGMA_MAX, SIGMA_MIN, rtol=1e-5, atol=1e-5, return_info=True)
    assert info.nfe == len(calls) > 2
    assert (x - ref).abs().max() < 1e-2
    assert info.trajectory is None


def test_per_sample_corrector_steps_are_biased_in_two_dimensions():
    # The documented caveat: ε = 2(snr‖z‖/‖s‖)² per sample depends on the state, so the
    # corrector targets p·‖s‖² rather than p, and where s ≈ 0 its steps are huge; in 2-D ‖s‖
    # does not concentrate and many samples land far from every mode. Under GM a point lies
    # more than 4 standard deviations from its component's mean with probability e⁻⁸ ≈ 3e-4.
    x0 = SIGMA_MAX * torch.randn(2000, 2, generator=torch.Generator().manual_seed(4))
    sigmas = geometric_sigmas(SIGMA_MAX, SIGMA_MIN, 100)

    def far_fraction(x):
        z = torch.cdist(x, GM.means) / GM.stds
        return (z.min(dim=1).values > 4).double().mean().item()

    per_sample = predictor_corrector(GM.score, x0, sigmas, per_sample_step=True,
                                     generator=torch.Generator().manual_seed(5))
    batch = predictor_corrector(GM.score, x0, sigmas, generator=torch.Generator().manual_seed(5))
    assert far_fraction(per_sample) > 0.02
    assert far_fraction(batch) < 0.005
