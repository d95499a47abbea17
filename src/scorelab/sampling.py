"""Run a named sampler on a trained model, in normalised units (used by the estimator and CLI).

``auto`` (the CLI's default) is Heun's probability-flow ODE sampler for noise-conditional
models: with a learned score it reaches the energy-distance floor at 35 NFE where annealed
Langevin's 1700 steps accumulate the score's errors (README, "Quality").
Defaults: annealed Langevin with T = ``steps_per_level`` steps per level and ε = 0.35·σ_L²;
plain Langevin at the smallest σ with ε = 0.01 (normalised units²) for ``langevin_steps``
steps; ODE samplers on EDM's σ schedule (ρ = 7) between the training σ range.
"""
import torch

from . import samplers as S
from .training.config import SAMPLERS

ANNEALED_EPS = 0.35  # ε/σ_L²: with the exact lecture score, 17 levels x 200 steps give 0.797 (truth 0.8);
# larger ε inflates each level's variance (unadjusted Langevin) and pulls weights towards equal
LANGEVIN_EPS = 1e-2
ODE_STEPS = {"euler": 50, "heun": 18, "dpmpp-2m": 20, "pc": 100}
STEP_SIZE_SAMPLERS = ("annealed", "langevin", "mala")
BLOW_UP = 1e4  # samples this many data scales (and sigma_max) from the data have blown up
NAMES = SAMPLERS  # the names sampling.sampler accepts


def resolve(name: str, run) -> str:
    """``auto``: Heun's ODE sampler for noise-conditional models, plain Langevin otherwise;
    ``annealed`` on a model without noise levels is plain Langevin (one level, σ = 0)."""
    conditional = run.cfg.objective == "ncsn"
    if name == "auto":
        return "heun" if conditional else "langevin"
    if name == "annealed" and len(run.sigmas) == 0:
        return "langevin"
    return name


def _noise(shape, scale, g, device):
    return scale * torch.randn(shape, generator=g, device=device)


def run_sampler(name, score_fn, run, n, g, *, x_init=None, steps=None, step_size=None,
                return_info=True, **options):
    """Returns (samples, SamplerInfo) in normalised coordinates; ``FloatingPointError`` if they
    blew up (the samplers themselves refuse NaN and Inf; here: beyond ``BLOW_UP`` data scales)."""
    if name not in NAMES:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(NAMES)}")
    name = resolve(name, run)
    if step_size is not None and name not in STEP_SIZE_SAMPLERS:
        raise ValueError(f"sampler {name!r} has no step size; a step size is for "
                         f"{', '.join(STEP_SIZE_SAMPLERS)} (choose one with --sampler)")
    out = _run_sampler(name, score_fn, run, n, g, x_init=x_init, steps=steps, step_size=step_size,
                       return_info=return_info, **options)
    x = out[0] if return_info else out
    bound = BLOW_UP * max(1.0, float(run.sigmas[0]) if len(run.sigmas) else 1.0)
    reached = float(x.abs().max())
    if reached > bound:
        raise FloatingPointError(f"{name}: the samples blew up (|x| reached {reached:.3g} "
                                 "data scales): the step size is probably too large; lower step_size")
    return out


def configured_step_size(run) -> float | None:
    """The run's ``sampling.step_size`` in normalised units², or None for ``"auto"``."""
    eps = run.cfg.step_size
    return None if eps == "auto" else eps / run.normalizer.sigma_scale**2


def _run_sampler(name, score_fn, run, n, g, *, x_init=None, steps=None, step_size=None,
                 return_info=True, **options):
    step_size = step_size or configured_step_size(run)
    cfg, sigmas = run.cfg, run.sigmas.to(next(run.ema_net.parameters()).device)
    device, shape = sigmas.device, (n, *run.data["shape"])
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}")
    sigma_min = float(sigmas[-1]) if len(sigmas) else 0.0
    kw = dict(generator=g, return_info=return_info, **options)
    if name in ("langevin", "mala"):
        x = x_init if x_init is not None else 6 * torch.rand(shape, generator=g, device=device) - 3
        eps = step_size or LANGEVIN_EPS
        n_steps = steps or cfg.langevin_steps
        if name == "langevin":
            return S.langevin(score_fn, x, eps, n_steps, sigma=sigma_min, **kw)
        if cfg.model != "energy":
            raise ValueError("sampler 'mala' needs an energy model (model='energy')")
        return S.mala(lambda y, s: -run.ema_net(y, s), x, eps, n_steps, sigma=sigma_min, **kw)
    if len(sigmas) == 0 or cfg.objective == "dsm" and name != "annealed":
        raise ValueError(f"sampler {name!r} needs a noise-conditional model (objective 'ncsn'); use 'langevin'")
    x = x_init if x_init is not None else _noise(shape, float(sigmas[0]), g, device)
    if name == "annealed":
        eps = step_size or ANNEALED_EPS * sigma_min**2
        return S.annealed_langevin(score_fn, x, sigmas, eps, steps or cfg.steps_per_level, **kw)
    if name == "ode":
        return S.ode_adaptive(score_fn, x, float(sigmas[0]), sigma_min, **kw)
    n_sigmas = steps or ODE_STEPS[name]
    if name == "pc":
        return S.predictor_corrector(score_fn, x, S.geometric_sigmas(float(sigmas[0]), sigma_min, n_sigmas).to(device), **kw)
    schedule = S.karras_sigmas(n_sigmas, sigma_min, float(sigmas[0]), append_zero=True).to(device)
    fn = {"euler": S.euler, "heun": S.heun, "dpmpp-2m": S.dpmpp_2m}[name]
    return fn(score_fn, x, schedule, **kw)
