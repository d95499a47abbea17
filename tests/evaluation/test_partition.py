"""log Z of energy models by a 2-D grid and by annealed importance sampling, against closed forms:
Gaussian energies (log Z = (d/2)·log 2π + ½·log det Σ) and a mixture's −log p shifted by a known
constant; NLL against the Gaussian entropy; and crippled AIS runs that the checks catch."""
import math

import pytest
import torch

from conftest import within_se
from scorelab.distributions import GaussianMixture
from scorelab.evaluation.partition import ais_log_partition, grid_log_partition, negative_log_likelihood


def gaussian(d: int, seed: int = 0):
    """A Gaussian energy ½(x−μ)ᵀΣ⁻¹(x−μ) with a rotated Σ (eigenvalues 0.3 … 3) and its exact log Z."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    cov = q @ torch.diag(torch.logspace(math.log10(0.3), math.log10(3.0), d, dtype=torch.float64)) @ q.T
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    prec = torch.linalg.inv(cov)

    def energy(x):
        z = x.double() - mu
        return (0.5 * torch.einsum("ni,ij,nj->n", z, prec, z)).to(x.dtype)

    log_z = 0.5 * d * math.log(2 * math.pi) + 0.5 * torch.logdet(cov).item()
    return energy, log_z, mu, cov


# A bimodal 2-D energy E = −log p(x) + C with p a normalised mixture: log Z = −C.
MIXTURE = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), torch.tensor([0.3, 0.7]),
                          covariances=torch.tensor([[[0.5, 0.2], [0.2, 0.4]], [[0.3, -0.1], [-0.1, 0.8]]]))
C = 1.7


def bimodal_energy(x):
    return -MIXTURE.log_prob(x) + C


def ais(energy, d, seed=0, **kw):
    kw = {"n_chains": 1024, "n_temps": 1000, **kw}
    return ais_log_partition(energy, d, generator=torch.Generator().manual_seed(seed), return_info=True, **kw)


def accepted(estimate, se, truth):
    """The acceptance check: within 3 reported standard errors and within 0.05 nats."""
    return abs(estimate - truth) <= 3 * se and abs(estimate - truth) <= 0.05


# ------------------------------------------------------------------------------ grid
def test_grid_gaussian_2d_matches_the_closed_form():
    energy, log_z, _, _ = gaussian(2)
    # The midpoint rule converges faster than any power of the cell size here (1e-8 at n = 50).
    assert abs(grid_log_partition(energy, (-10, 10, -10, 10)) - log_z) < 1e-5


def test_grid_bimodal_recovers_minus_c():
    assert abs(grid_log_partition(bimodal_energy, (-8, 8, -8, 8)) + C) < 1e-5


def test_grid_warns_when_the_box_cuts_the_mass_off():
    energy, log_z, _, _ = gaussian(2)
    with pytest.warns(RuntimeWarning, match="box"):
        cut = grid_log_partition(energy, (-1, 1, -1, 1), n=100)
    assert cut < log_z - 0.5  # the mass outside the box is missing


def test_grid_chunking_does_not_change_the_result():
    energy, _, _, _ = gaussian(2)
    whole = grid_log_partition(energy, (-10, 10, -10, 10), n=150)
    chunked = grid_log_partition(energy, (-10, 10, -10, 10), n=150, chunk_size=7 * 150 + 3)
    assert abs(whole - chunked) < 1e-9


# ------------------------------------------------------------------------------ AIS
@pytest.mark.parametrize("d", [2, 5, 10])
def test_ais_gaussian_within_its_standard_error(d):
    energy, log_z, _, _ = gaussian(d)
    estimate, info = ais(energy, d)
    assert accepted(estimate, info.log_z_se, log_z), f"{estimate:.4f} vs {log_z:.4f} (SE {info.log_z_se:.4f})"
    assert 0.5 < info.acceptance_rate < 0.7  # the step size was adapted towards 0.6
    assert info.ess > 0.5 * 1024
    assert info.nfe == 1 + (1000 - 1) * 1


def test_ais_bimodal_recovers_minus_c_and_the_mode_weights():
    estimate, info = ais(bimodal_energy, 2, n_temps=500)
    assert accepted(estimate, info.log_z_se, -C), f"{estimate:.4f} vs {-C} (SE {info.log_z_se:.4f})"
    # The weighted chains are a sample of the target: the right mode holds 0.7 of the mass.
    w = torch.softmax(info.log_weights, 0)
    right = float((w * (info.samples[:, 0] > 0).double()).sum())
    assert abs(right - 0.7) < 4 * math.sqrt(0.7 * 0.3 / info.ess), right


def test_ais_with_a_fixed_step_size():
    energy, log_z, _, _ = gaussian(5)
    estimate, info = ais(energy, 5, n_temps=500, step_size=0.2)
    assert accepted(estimate, info.log_z_se, log_z)
    assert torch.all(info.step_sizes == 0.2)


def test_ais_too_few_temperatures_is_caught():
    # Two temperatures: nearly plain importance sampling from N(0, 9 I) in 10-D.
    energy, log_z, _, _ = gaussian(10)
    _, good = ais(energy, 10)
    bad_estimate, bad = ais(energy, 10, n_temps=2)
    assert not accepted(bad_estimate, bad.log_z_se, log_z)
    assert bad.log_z_se > 10 * good.log_z_se
    assert bad.ess < 0.02 * 1024


def test_ais_base_missing_the_mass_is_visibly_wrong_and_flagged_by_the_ess():
    # A base far narrower than the target: the reported SE is optimistic, the ESS is not.
    energy, log_z, _, _ = gaussian(10)
    estimate, info = ais(energy, 10, n_temps=2, base_std=0.3)
    assert estimate < log_z - 1.0 and estimate < log_z - 3 * info.log_z_se
    assert info.ess < 0.05 * 1024


def test_ais_same_seed_same_result():
    energy, _, _, _ = gaussian(3)
    a = ais_log_partition(energy, 3, n_chains=64, n_temps=20, generator=torch.Generator().manual_seed(5))
    b = ais_log_partition(energy, 3, n_chains=64, n_temps=20, generator=torch.Generator().manual_seed(5))
    assert a == b


def test_ais_one_temperature_is_importance_sampling():
    energy, _, _, _ = gaussian(2)
    _, info = ais(energy, 2, n_chains=16, n_temps=1)
    assert info.nfe == 1 and len(info.step_sizes) == 0


def test_ais_rejects_bad_arguments():
    energy, _, _, _ = gaussian(2)
    with pytest.raises(ValueError):
        ais_log_partition(energy, 2, n_temps=0)
    with pytest.raises(ValueError):
        ais_log_partition(energy, 2, step_size=-1.0)


# ------------------------------------------------------------------------------ NLL
def test_nll_of_gaussian_samples_is_the_entropy():
    d = 5
    energy, log_z, mu, cov = gaussian(d)
    z = torch.randn(20000, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = (mu + z @ torch.linalg.cholesky(cov).T).float()
    entropy = 0.5 * d * (1 + math.log(2 * math.pi)) + 0.5 * torch.logdet(cov).item()
    nll = negative_log_likelihood(energy, x, log_z)
    ok, msg = within_se(energy(x) + log_z, entropy)
    assert ok, msg
    assert abs(nll - float((energy(x).double() + log_z).mean())) < 1e-9
