"""The CUDA path: the same numbers as on the CPU, and the closed forms, on a GPU.

Skipped where CUDA is absent (CI); run on a GPU machine with ``pytest tests/reliability/test_cuda.py``.
Networks are built on the CPU and copied, so CPU and GPU compute the same function; float32
on both (cuDNN may run the U-Net's convolutions in TF32, hence its looser tolerance).
"""
import copy
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import standard_normal_score, within_se
from test_distributed import SETTINGS, data  # noqa: F401 (data: the torchrun tests' CSV fixture)
from scorelab import ScoreModel
from scorelab import samplers as S
from scorelab.cli import main
from scorelab.estimator import load
from scorelab.nn import EnergyMLP, ScoreMLP, ScoreUNet, score_from_energy
from scorelab.objectives import (denoising_score_matching, exact_score_matching,
                                 multiscale_denoising_score_matching, sliced_score_matching)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = torch.device("cuda")


def _rel(a, b) -> float:
    return float((a.detach().cpu().double() - b.detach().double()).norm() / b.detach().double().norm())


def _pair(kind):
    """(CPU network, the same network on CUDA, its score function on each)."""
    torch.manual_seed(0)
    net = {"score": lambda: ScoreMLP(6, 32, 3, noise_conditional=True),
           "energy": lambda: EnergyMLP(6, 32, 3, noise_conditional=True),
           "unet": lambda: ScoreUNet(base_channels=16)}[kind]()
    gpu = copy.deepcopy(net).to(CUDA)
    wrap = score_from_energy if kind == "energy" else (lambda m: m)
    return net, gpu, wrap(net), wrap(gpu)


@pytest.mark.parametrize("kind", ["score", "energy", "unet"])
def test_networks_compute_the_same_score_on_cuda(kind):
    _, _, cpu, gpu = _pair(kind)
    x = torch.randn(16, 1, 8, 8) if kind == "unet" else torch.randn(64, 6)
    sigma = torch.rand(len(x)) + 0.05
    out = gpu(x.to(CUDA), sigma.to(CUDA))
    assert out.device.type == CUDA.type
    assert _rel(out, cpu(x, sigma)) < (5e-3 if kind == "unet" else 1e-5)


@pytest.mark.parametrize("kind", ["score", "energy"])
def test_hand_written_derivatives_on_cuda(kind):
    net, gnet, cpu, gpu = _pair(kind)
    x, v, sigma = torch.randn(64, 6), torch.randn(64, 6), torch.rand(64) + 0.1
    args = [t.to(CUDA) for t in (x, sigma, v)]
    if kind == "energy":
        for a, b in zip(gnet.directional_derivatives(*args, with_score=True),
                        net.directional_derivatives(x, sigma, v, with_score=True)):
            assert _rel(a, b) < 1e-4
    for a, b in zip(gpu.score_and_trace(*args[:2]), cpu.score_and_trace(x, sigma)):
        assert _rel(a, b) < 1e-4


@pytest.mark.parametrize("method", ["vmap", "loop", "forward"])
@pytest.mark.parametrize("kind", ["score", "energy"])
def test_exact_score_matching_matches_the_cpu(kind, method):
    net, gnet, cpu, gpu = _pair(kind)
    x, sigma = torch.randn(128, 6), torch.rand(128) + 0.1
    a = exact_score_matching(gpu, x.to(CUDA), method=method, sigma=sigma.to(CUDA))
    b = exact_score_matching(cpu, x, method=method, sigma=sigma)
    assert a.device.type == CUDA.type and _rel(a, b) < 1e-4
    a.backward()
    b.backward()
    for p, q in zip(gnet.parameters(), net.parameters()):
        assert (p.grad is None) == (q.grad is None)  # an energy's last bias leaves the score alone
        assert q.grad is None or _rel(p.grad, q.grad) < 1e-3


def _draws(loss, n=60):
    g = torch.Generator(device=CUDA).manual_seed(0)
    return torch.stack([loss(torch.randn(4000, 3, generator=g, device=CUDA), g) for _ in range(n)])


def test_objectives_reach_their_closed_forms_on_cuda():
    d, sig = 3, 0.5
    cases = {
        "dsm": (lambda x, g: denoising_score_matching(standard_normal_score, x, sig, generator=g),
                d / (2 * sig**2 * (1 + sig**2))),
        "multiscale": (lambda x, g: multiscale_denoising_score_matching(
            standard_normal_score, x, torch.tensor([2.0, 0.5], device=CUDA), generator=g),
            (d / (2 * (1 + torch.tensor([2.0, 0.5]) ** 2))).mean().item()),
        "sliced": (lambda x, g: sliced_score_matching(lambda y, s: -y, x, generator=g), -d / 2),
        "exact": (lambda x, g: exact_score_matching(lambda y, s: -y, x), -d / 2),
    }
    for name, (loss, expected) in cases.items():
        draws = _draws(loss)
        assert draws.device.type == CUDA.type
        ok, msg = within_se(draws.cpu(), expected)
        assert ok, f"{name}: {msg}"


SAMPLERS = {  # each on the device of its x and generator
    "langevin": lambda x, g: S.langevin(lambda y, s: -y, x, 0.05, 400, generator=g),
    "mala": lambda x, g: S.mala(lambda y, s: -0.5 * (y * y).sum(1), x, 0.1, 300, generator=g),
    "annealed": lambda x, g: S.annealed_langevin(standard_normal_score, x, S.geometric_sigmas(3.0, 0.05, 8).to(x.device),
                                                 1e-3, 100, generator=g),
    "heun": lambda x, g: S.heun(standard_normal_score, x,
                                S.karras_sigmas(30, 0.002, 3.0, append_zero=True).to(x.device), generator=g),
    "pc": lambda x, g: S.predictor_corrector(standard_normal_score, x, S.geometric_sigmas(3.0, 0.01, 100).to(x.device),
                                             generator=g),
    "ode": lambda x, g: S.ode_adaptive(standard_normal_score, x, 3.0, 0.002, rtol=1e-4, atol=1e-4, generator=g),
}
# E[x²] of the samples where the discretisation is solved exactly: plain Langevin on N(0, I)
# is the AR(1) chain x ← (1 − ε/2)x + √ε·z, stationary variance 1/(1 − ε/4) (400 steps from
# variance 10 leave e^{−20} of the start); MALA is exact. The others carry a discretisation
# bias of their own (up to ~0.04 here), the same on any device.
STATIONARY_SECOND_MOMENT = {"langevin": 1 / (1 - 0.05 / 4), "mala": 1.0}


def _second_moments(name, device):
    """x² of every coordinate of 20000 2-D samples drawn on ``device`` from N(0, (1 + 3²) I),
    i.e. N(0, I) data at σ = 3 (independent coordinates: 40000 i.i.d. values)."""
    g = torch.Generator(device=device).manual_seed(1)
    x0 = torch.randn(20000, 2, generator=g, device=device) * 10**0.5
    x = SAMPLERS[name](x0, g)
    assert x.device.type == torch.device(device).type and torch.isfinite(x).all()
    return x.double().square().flatten().cpu()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_samplers_draw_the_standard_normal_on_cuda(name):
    on_gpu, on_cpu = _second_moments(name, CUDA), _second_moments(name, "cpu")
    # The GPU draws what the CPU draws (other random numbers, the same distribution): the two
    # means of x² agree within 4 standard errors of their difference (SE ≈ 0.01) ...
    diff, se = (on_gpu.mean() - on_cpu.mean()).item(), math.hypot(*(v.std().item() / len(v) ** 0.5 for v in (on_gpu, on_cpu)))
    assert abs(diff) < 4 * se, f"{name}: E[x²] {on_gpu.mean():.4f} on CUDA vs {on_cpu.mean():.4f} on the CPU (SE {se:.4f})"
    # ... and, where the sampler's stationary law is known, it is the closed form.
    if name in STATIONARY_SECOND_MOMENT:
        ok, msg = within_se(on_gpu, STATIONARY_SECOND_MOMENT[name])
        assert ok, f"{name}: {msg}"


def test_score_model_trains_on_cuda_and_samples_anywhere(tmp_path):
    x = torch.randn(2000, 2) * torch.tensor([1.0, 3.0])
    model = ScoreModel(steps=300, width=32, eval_every=150, checkpoint_every=300, device="auto").fit(x)
    assert model.device_.type == CUDA.type
    a = model.sample(500, random_state=0, steps=20)
    assert a.device.type == "cpu" and torch.isfinite(a).all()
    model.save(tmp_path / "m")
    cpu_model = load(tmp_path / "m", device="cpu")
    b = cpu_model.sample(500, random_state=0, steps=20)
    assert torch.isfinite(b).all()
    xs = torch.randn(32, 2)
    assert _rel(model.score_fn(xs), cpu_model.score_fn(xs)) < 1e-4


def test_cli_auto_device_and_nccl_torchrun(data, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(["train", str(data), "--out", str(single), *SETTINGS]) == 0
    assert json.loads((single / "config.json").read_text())  # written
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                          "-m", "scorelab", "train", str(data), "--out", str(ddp), "--set", "training.device=cuda",
                          *SETTINGS], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    from safetensors.torch import load_file
    a, b = (load_file(r / "checkpoint.safetensors") for r in (single, ddp))
    for key in a:
        if key.startswith(("model.", "ema.")):
            assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key
    assert main(["sample", str(single), "-n", "50", "--out", str(tmp_path / "s.npy"), "--steps", "3"]) == 0
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()


@pytest.mark.parametrize("d", [2, 3])
def test_energy_nll_on_cuda_matches_the_cpu(d, tmp_path):
    # 2-D: log Z on a grid; otherwise annealed importance sampling (its own random stream per
    # device, so only the grid is compared closely).
    from scorelab.evaluation import energy_nll
    x = torch.randn(500, d)
    model = ScoreModel(model="energy", objective="dsm", steps=100, width=16, eval_every=100,
                       checkpoint_every=100, device="auto").fit(x)
    model.save(tmp_path / "m")
    on_gpu, on_cpu = energy_nll(model, x[:200]), energy_nll(load(tmp_path / "m", device="cpu"), x[:200])
    assert model.device_.type == CUDA.type and on_gpu["log_z_method"] == on_cpu["log_z_method"]
    assert abs(on_gpu["nll"] - on_cpu["nll"]) < (1e-3 if d == 2 else 0.2)


def test_an_experiment_runs_with_its_model_on_cuda(tmp_path):
    from scorelab.experiments import run_experiment
    metrics = run_experiment("dsm-sigma", out_root=tmp_path, quick=True, seed=0)
    assert metrics and (tmp_path / "dsm-sigma" / "metrics.json").exists()
