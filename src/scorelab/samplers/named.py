"""The samplers by name, with their defaults: what ``ScoreModel.sample`` and ``scorelab sample`` run.

Units are the model's (normalised) ones. ``sigmas`` are the model's training noise levels,
largest first: two or more for a noise-conditional model, one for single-σ DSM, none for a
noise-free model.

- ``auto``: Heun's probability-flow ODE sampler (35 NFE) for noise-conditional models, plain
  Langevin otherwise;
- ``annealed``: annealed Langevin over the training levels, T = ``steps_per_level`` steps per
  level, ε = ``ANNEALED_EPS``·σ_L² (σ_L the smallest level) unless given;
- ``langevin`` / ``mala``: at the smallest σ (0 without levels), ε = ``LANGEVIN_EPS``,
  ``langevin_steps`` steps, from uniform noise on [−3, 3]^d;
- ``euler``, ``heun``, ``dpmpp-2m``: the probability-flow ODE on EDM's σ schedule (ρ = 7)
  over the training range, ``ODE_STEPS`` steps; ``ode``: adaptive (dopri5); ``pc``:
  predictor–corrector on geometric levels;
- ``euler-maruyama``, ``sde-pc``: the reverse SDE of the model's SDE (``sde``, VE over the
  levels unless given), ``ODE_STEPS`` uniform times from T to t_min, started from its prior;
  ``ddpm``, ``ddim`` (``eta``, default 0): on σ̃ at those times, started from the prior mapped
  to the contract's coordinates (x_T/s(T)). ``x_init`` is in the contract's coordinates for all.
"""
import torch

from .inpainting import inpaint
from .langevin import annealed_langevin, langevin
from .mala import mala
from .ode import dpmpp_2m, euler, heun, ode_adaptive, predictor_corrector
from .schedules import geometric_sigmas, karras_sigmas
from .sde import ddim, ddpm, euler_maruyama, sde_predictor_corrector, sde_sigmas, sde_times

SAMPLERS = ("auto", "annealed", "langevin", "mala", "pc", "euler", "heun", "dpmpp-2m", "ode",
            "euler-maruyama", "sde-pc", "ddpm", "ddim")
ANNEALED_EPS = 0.35  # ε/σ_L²; with the exact lecture score, 17 levels × 200 steps give weight 0.797 (truth 0.8)
LANGEVIN_EPS = 1e-2
ODE_STEPS = {"euler": 50, "heun": 18, "dpmpp-2m": 20, "pc": 100, "euler-maruyama": 200, "sde-pc": 100,
             "ddpm": 100, "ddim": 35}
SDE_SAMPLERS = ("euler-maruyama", "sde-pc", "ddpm", "ddim")
STEP_SIZE_SAMPLERS = ("annealed", "langevin", "mala")
BLOW_UP = 1e4  # samples this many data scales (and σ_max) from the data have blown up
_ODE = {"euler": euler, "heun": heun, "dpmpp-2m": dpmpp_2m}


def resolve(name: str, n_levels: int) -> str:
    """``auto``: ``heun`` for a noise-conditional model (two or more levels), ``langevin``
    otherwise; ``annealed`` without levels is plain Langevin (one level, σ = 0)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    if name == "auto":
        return "heun" if n_levels >= 2 else "langevin"
    if name == "annealed" and n_levels == 0:
        return "langevin"
    return name


def check_options(name: str, steps=None, step_size=None) -> None:
    """Refuse what ``name`` cannot take: a step size for a sampler without one, steps that
    are not a positive integer, a step size that is not positive."""
    if step_size is not None and name not in STEP_SIZE_SAMPLERS:
        raise ValueError(f"sampler {name!r} has no step size; a step size is for "
                         f"{', '.join(STEP_SIZE_SAMPLERS)} (choose one with --sampler)")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be positive, got {step_size!r}")


def run_sampler(name, score_fn, shape, n, *, sigmas, generator, energy=None, x_init=None,
                steps=None, step_size=None, steps_per_level=200, langevin_steps=1000,
                return_info=True, prior_mean=None, sde=None, **options):
    """Draw ``n`` samples of ``shape`` with the sampler ``name`` (see the module's list).

    ``energy`` (an energy model's E(x, σ)) is what ``mala`` needs. ``prior_mean`` (broadcast to
    the samples) centres the annealed and ODE samplers' start m + σ_max·z: a class's mean m_y for
    a conditional model, whose p_σmax(x | y) ≈ N(m_y, σ_max² I) is not centred at the data's
    mean (from 0 the samples would keep a fraction of order σ_data/σ_max of the offset). ``steps``: steps per level
    (annealed), Langevin steps, or ODE steps; ``step_size``: ε (annealed: at σ_L); ``sde``: the
    model's :class:`~scorelab.sde.SDE`, for the SDE samplers (others ignore it). Returns the
    samples (and a :class:`SamplerInfo`); ``FloatingPointError`` if they blew up (the samplers
    refuse NaN and Inf themselves; here also beyond ``BLOW_UP`` data scales).
    """
    resolved = resolve(name, len(sigmas))
    check_options(resolved, steps, step_size)
    if x_init is None and prior_mean is not None and resolved not in ("langevin", "mala") and len(sigmas) >= 2:
        noise = torch.randn((n, *shape), generator=generator, device=sigmas.device)
        x_init = prior_mean + float(sigmas[0]) * noise
    if resolved in SDE_SAMPLERS:
        options["sde"] = sde
    out = _dispatch(resolved, score_fn, tuple(shape), n, sigmas, generator, energy, x_init, steps,
                    step_size, steps_per_level, langevin_steps, return_info=return_info, **options)
    x = out[0] if return_info else out
    bound = BLOW_UP * max(1.0, float(sigmas[0]) if len(sigmas) else 1.0)
    reached = float(x.abs().max())
    if reached > bound:
        raise FloatingPointError(f"{resolved}: the samples blew up (|x| reached {reached:.3g} "
                                 "data scales): the step size is probably too large; lower step_size")
    return out


def _dispatch(name, score_fn, shape, n, sigmas, g, energy, x_init, steps, step_size,
              steps_per_level, langevin_steps, **kw):
    device = sigmas.device
    sigma_min = float(sigmas[-1]) if len(sigmas) else 0.0
    kw["generator"] = g
    if name in ("langevin", "mala"):
        x = x_init if x_init is not None else 6 * torch.rand((n, *shape), generator=g, device=device) - 3
        eps, n_steps = step_size or LANGEVIN_EPS, steps or langevin_steps
        if name == "langevin":
            return langevin(score_fn, x, eps, n_steps, sigma=sigma_min, **kw)
        if energy is None:
            raise ValueError("sampler 'mala' needs an energy model (model='energy')")
        return mala(lambda y, s: -energy(y, s), x, eps, n_steps, sigma=sigma_min, **kw)
    if len(sigmas) == 0 or (len(sigmas) == 1 and name != "annealed"):
        raise ValueError(f"sampler {name!r} needs a noise-conditional model (objective 'ncsn'); use 'langevin'")
    if name in SDE_SAMPLERS:
        return _sde_dispatch(name, score_fn, shape, n, sigmas, x_init, steps or ODE_STEPS[name], **kw)
    sigma_max = float(sigmas[0])
    x = x_init if x_init is not None else sigma_max * torch.randn((n, *shape), generator=g, device=device)
    if name == "annealed":
        eps = step_size or ANNEALED_EPS * sigma_min**2
        return annealed_langevin(score_fn, x, sigmas, eps, steps or steps_per_level, **kw)
    if name == "ode":
        return ode_adaptive(score_fn, x, sigma_max, sigma_min, **kw)
    n_sigmas = steps or ODE_STEPS[name]
    if name == "pc":
        return predictor_corrector(score_fn, x, geometric_sigmas(sigma_max, sigma_min, n_sigmas).to(device), **kw)
    schedule = karras_sigmas(n_sigmas, sigma_min, sigma_max, append_zero=True).to(device)
    return _ODE[name](score_fn, x, schedule, **kw)


def _sde_dispatch(name, score_fn, shape, n, sigmas, x_init, n_steps, *, generator, sde=None, eta=0.0, **kw):
    """The SDE samplers: from the prior of ``sde`` (VE over ``sigmas`` by default)."""
    from ..sde import VE

    sde = sde or VE(float(sigmas[-1]), float(sigmas[0]))
    s_T = float(sde.mean_scale(sde.T))
    if x_init is None:
        x_init = sde.prior_sample((n, *shape), generator=generator, device=sigmas.device) / s_T
    if name in ("ddpm", "ddim"):
        schedule = sde_sigmas(sde, n_steps).to(sigmas.device)
        extra = {"eta": eta} if name == "ddim" else {}
        return (ddim if name == "ddim" else ddpm)(score_fn, x_init, schedule, generator=generator, **extra, **kw)
    sampler = euler_maruyama if name == "euler-maruyama" else sde_predictor_corrector
    return sampler(score_fn, x_init * s_T, sde, sde_times(sde, n_steps), generator=generator, **kw)


def run_inpainting(score_fn, x_known, mask, *, sigmas, generator, steps=None, step_size=None,
                   steps_per_level=200, **options):
    """:func:`inpaint` with the defaults of ``annealed``: T = ``steps or steps_per_level``,
    ε = ``step_size`` or ``ANNEALED_EPS``·σ_L²; a noise-conditional model only."""
    if len(sigmas) < 2:
        raise ValueError("inpainting needs a noise-conditional model (objective 'ncsn')")
    check_options("annealed", steps, step_size)
    eps = step_size or ANNEALED_EPS * float(sigmas[-1]) ** 2
    return inpaint(score_fn, x_known, mask, sigmas, eps, steps or steps_per_level,
                   generator=generator, **options)
