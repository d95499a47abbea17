"""What is benchmarked: one builder per (objective or sampler, network family, d, implementation).

A builder returns a zero-argument callable that does the timed work once:
- objectives: one training step (zero_grad, loss, backward, Adam step);
- samplers: one sampler call (``n_particles`` chains, ``n_steps`` score evaluations).

Every implementation of a case gets its own copy of the same initial network, its own
optimiser and its own generator with the same seed, and the same data tensor, so the only
difference between them is the code that computes the loss or the chain.
"""
import copy
from dataclasses import dataclass

import torch

import handwritten as hw
import peers
from scorelab import objectives as sl
from scorelab.nn import EnergyMLP, ScoreMLP, score_from_energy
from scorelab.samplers import annealed_langevin, geometric_sigmas, langevin

IMPLS = ("scorelab", "handwritten", "torchebm")
DEVICE = torch.device("cpu")  # where networks, data and generators live (run.py --device)
FAMILIES = {"score": "score network (ScoreMLP)", "energy": "energy network (EnergyMLP, s = −∇ₓE)"}


@dataclass(frozen=True)
class Setup:
    """Problem sizes shared by every case (one instance per mode)."""

    dims: tuple = (2, 16, 64, 256)
    batch: int = 256
    width: int = 128
    depth: int = 3
    lr: float = 1e-4
    dsm_sigma: float = 0.1
    n_sigmas: int = 10           # multi-scale DSM and annealed Langevin: geometric 1 → 0.01
    cd_steps: int = 20           # CD-k Langevin steps
    cd_step_size: float = 1e-2
    cd_alpha: float = 0.1
    n_particles: int = 1024
    n_steps: int = 50            # Langevin steps; annealed: n_sigmas levels × n_steps/n_sigmas
    step_size: float = 1e-3      # Langevin ε
    annealed_step_size: float = 1e-5  # NCSN's ε: αᵢ = ε σᵢ²/σ_L², so 0.1 at σ = 1
    seed: int = 0


# name -> (label, families, implementations that have it)
OBJECTIVES = {
    "dsm": ("DSM", ("score", "energy"), IMPLS),
    "msdsm": ("multi-scale DSM", ("score", "energy"), IMPLS[:2]),
    "ssm": ("sliced SM", ("score", "energy"), IMPLS),
    "ssm_vr": ("sliced SM-VR", ("score", "energy"), IMPLS[:2]),
    "ssm_fd": ("sliced SM (finite differences)", ("score", "energy"), IMPLS[:2]),
    "exact_vmap": ("exact SM (vmap)", ("score", "energy"), IMPLS),
    "exact_loop": ("exact SM (loop)", ("score", "energy"), IMPLS[:2]),
    "cd": ("contrastive divergence", ("energy",), IMPLS),
}

SAMPLERS = {
    "langevin": ("Langevin", ("score", "energy"), IMPLS),
    "annealed": ("annealed Langevin", ("score", "energy"), IMPLS),
}


def network(family: str, d: int, setup: Setup, noise_conditional: bool = False):
    """The case's network, initialised from ``setup.seed`` (identical for every implementation)."""
    torch.manual_seed(setup.seed)
    cls = ScoreMLP if family == "score" else EnergyMLP
    return cls(d, width=setup.width, depth=setup.depth, noise_conditional=noise_conditional).to(DEVICE)


def data(d: int, n: int, setup: Setup) -> torch.Tensor:
    """Drawn on the CPU (the same numbers on every device), then moved to ``DEVICE``."""
    return torch.randn(n, d, generator=torch.Generator().manual_seed(setup.seed + 1)).to(DEVICE)


def sigmas(setup: Setup) -> torch.Tensor:
    return geometric_sigmas(1.0, 0.01, setup.n_sigmas).to(DEVICE)


def generator(seed: int) -> torch.Generator:
    return torch.Generator(device=DEVICE).manual_seed(seed)


def _train_step(net, loss_fn, lr):
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
    return step


def objective_loss(name, family, impl, net, x, setup):
    """A zero-argument loss closure computing objective ``name`` with implementation ``impl``."""
    g = generator(setup.seed + 2)
    sig, sigs = setup.dsm_sigma, sigmas(setup)
    if name == "cd":
        k, eps, alpha = setup.cd_steps, setup.cd_step_size, setup.cd_alpha
        if impl == "scorelab":
            return lambda: sl.contrastive_divergence(net, x, n_steps=k, step_size=eps, alpha=alpha,
                                                     generator=g)
        if impl == "handwritten":
            return lambda: hw.contrastive_divergence(net, x, k, eps, alpha, g)
        loss = peers.cd_loss(peers.energy_model(net), k, eps, alpha)
        return lambda: loss(x, generator=g)[0]
    if impl == "torchebm":
        model = peers.energy_model(net)
        if name == "dsm":
            loss = peers.dsm_loss(model, sig)
            return lambda: loss(x, generator=g)
        if name == "ssm":
            loss = peers.sliced_loss(model)
            return lambda: loss(x, generator=g)
        loss = peers.exact_loss(model)
        return lambda: loss(x)
    if impl == "scorelab":
        score = net if family == "score" else score_from_energy(net)
        return {
            "dsm": lambda: sl.denoising_score_matching(score, x, sig, generator=g),
            "msdsm": lambda: sl.multiscale_denoising_score_matching(score, x, sigs, generator=g),
            "ssm": lambda: sl.sliced_score_matching(score, x, generator=g),
            "ssm_vr": lambda: sl.sliced_score_matching(score, x, variance_reduction=True, generator=g),
            "ssm_fd": lambda: sl.sliced_score_matching(score, x, generator=g, method="finite_difference"),
            "exact_vmap": lambda: sl.exact_score_matching(score, x, method="vmap"),
            "exact_loop": lambda: sl.exact_score_matching(score, x, method="loop"),
        }[name]
    score = net if family == "score" else hw.score_of_energy(net, create_graph=True)
    return {
        "dsm": lambda: hw.dsm(score, x, sig, g),
        "msdsm": lambda: hw.multiscale_dsm(score, x, sigs, g),
        "ssm": lambda: hw.sliced(score, x, g),
        "ssm_vr": lambda: hw.sliced(score, x, g, variance_reduction=True),
        "ssm_fd": lambda: hw.sliced_fd(score, x, g),
        "exact_vmap": lambda: hw.exact_batched(score, x),
        "exact_loop": lambda: hw.exact_loop(score, x),
    }[name]


def objective_step(name, family, d, impl, setup, net=None, x=None):
    """One training step of objective ``name`` (a fresh copy of ``net`` and a fresh Adam)."""
    net = copy.deepcopy(net if net is not None else network(family, d, setup))
    x = x if x is not None else data(d, setup.batch, setup)
    return _train_step(net, objective_loss(name, family, impl, net, x, setup), setup.lr)


def sampler_run(name, family, d, impl, setup, net=None, x=None):
    """One sampler call: ``n_particles`` chains for ``n_steps`` score evaluations (+1 for
    annealed Langevin's denoising step). Score networks run under ``torch.no_grad``; energy
    networks take their gradient inside (autograd is switched on where needed)."""
    annealed = name == "annealed"
    net = copy.deepcopy(net if net is not None else network(family, d, setup, noise_conditional=annealed))
    x = x if x is not None else data(d, setup.n_particles, setup)
    g = generator(setup.seed + 3)
    eps, n = setup.step_size, setup.n_steps
    sigs = sigmas(setup)
    per_level = max(1, n // len(sigs))
    eps_ann = setup.annealed_step_size
    if impl == "torchebm":
        model = peers.energy_model(net) if family == "energy" else peers.score_model(net)
        if annealed:
            run = peers.AnnealedLangevin(model, sigs, eps_ann, per_level)
            fn = lambda: run(x, g)
        else:
            sampler = peers.langevin_sampler(model, eps)
            fn = lambda: peers.langevin(sampler, x, n, None, g)
    elif impl == "scorelab":
        score = net if family == "score" else score_from_energy(net)
        if annealed:
            fn = lambda: annealed_langevin(score, x, sigs, eps_ann, per_level, generator=g)
        else:
            fn = lambda: langevin(score, x, eps, n, generator=g)
    else:
        score = net if family == "score" else hw.score_of_energy(net, create_graph=False)
        if annealed:
            sig_list = sigs.tolist()
            fn = lambda: hw.annealed_langevin(score, x, sig_list, eps_ann, per_level, g)
        else:
            fn = lambda: hw.langevin(score, x, eps, n, 0.0, g)
    return no_grad(fn)


def no_grad(fn):
    """``fn`` as a zero-argument call that runs under ``torch.no_grad`` (its result dropped)."""
    def call():
        with torch.no_grad():
            fn()
    return call


def sampler_nfe(name, setup):
    """Score evaluations per sampler call (the throughput counts particles × these)."""
    if name == "annealed":
        return setup.n_sigmas * max(1, setup.n_steps // setup.n_sigmas) + 1
    return setup.n_steps
