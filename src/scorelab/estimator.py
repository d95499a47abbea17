"""``ScoreModel``: a scikit-learn-style estimator over the objectives, samplers and training loop.

    >>> model = ScoreModel(steps=2000).fit(X)          # X: array, tensor, file or name
    >>> x = model.sample(1000, random_state=0)          # data coordinates
    >>> s = model.score(x, sigma=model.sigmas_[-1])     # ∇ log p_σ(x), data coordinates

Hyper-parameters are stored by ``__init__`` only (the table in :mod:`scorelab.training.config`
lists them with their defaults and meaning); ``fit`` validates them; fitted attributes end in
``_``. The facade is thin: the CLI calls the same ``train`` and the same samplers.
"""
import inspect
from pathlib import Path

import torch

from .data import Dataset, load_data
from .training import Run, make_config, train
from .training.config import DEFAULTS, OPTIONS
from .training.setup import resolve_device, score_function
from .utils import as_sigma


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (or ``scorelab.load``)."""


class ScoreModel:
    __doc__ = "A score-based (or energy-based) generative model of your data.\n\nParameters\n" + "".join(
        f"    {n} : default {o.default!r}\n        {o.help}\n" for n, o in OPTIONS.items())

    def __init__(self, **params):
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"ScoreModel: unknown parameter(s) {sorted(unknown)}")
        for name, default in DEFAULTS.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in DEFAULTS.items()])

    # ---------------------------------------------------------------- scikit-learn protocol
    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in DEFAULTS}

    def set_params(self, **params) -> "ScoreModel":
        for name, value in params.items():
            if name not in DEFAULTS:
                raise ValueError(f"ScoreModel: unknown parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != DEFAULTS[k]}
        return f"ScoreModel({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y=None, *, run_dir=None, resume=False, force=False, progress=None) -> "ScoreModel":
        """Train on ``X``: an array/tensor, a path (.npy .npz .csv .tsv, image folder) or a name
        (``toy:NAME``, ``digits``). With ``run_dir`` checkpoints go there (see ``scorelab train``)."""
        cfg = make_config(**self.get_params())
        size = None if cfg.image_size == "auto" else cfg.image_size
        data = X if isinstance(X, Dataset) else load_data(X, image_size=size, seed=cfg.seed)
        run = train(cfg, data, run_dir, resume=resume, force=force, progress=progress)
        return self._set_fitted(run)

    def _set_fitted(self, run: Run) -> "ScoreModel":
        self.run_ = run
        self.network_ = run.ema_net.eval()
        self.normalizer_ = run.normalizer
        scale = run.normalizer.sigma_scale
        self.sigmas_ = run.sigmas * scale
        self.data_shape_ = tuple(run.data["shape"])
        self.n_features_in_ = int(torch.tensor(self.data_shape_).prod())
        self.history_ = run.extra.get("history", [])
        return self

    def _check_fitted(self) -> Run:
        if not hasattr(self, "run_"):
            raise NotFittedError("this ScoreModel is not fitted yet: call fit(X) or scorelab.load(path)")
        return self.run_

    @property
    def device_(self) -> torch.device:
        return next(self._check_fitted().ema_net.parameters()).device

    # ---------------------------------------------------------------- the trained functions
    def _normalised_score(self):
        run = self._check_fitted()
        return score_function(run.ema_net, run.cfg.model)

    def _default_sigma(self) -> float:
        return float(self.sigmas_[-1]) if len(self.sigmas_) else 0.0

    def score(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """The trained score ∇ₓ log p_σ(x) in data coordinates (σ in data units; default the
        smallest training σ). Torch in, torch out, the same contract as the core."""
        run = self._check_fitted()
        x = torch.as_tensor(x, dtype=torch.float32)
        sig = as_sigma(self._default_sigma() if sigma is None else sigma, x)
        xn = run.normalizer.forward(x.to(self.device_))
        s = self._normalised_score()(xn, sig.to(xn) / run.normalizer.sigma_scale)
        return run.normalizer.score_to_data(s).to(x.device)

    def energy(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """The trained energy E(x) (batch,), up to an additive constant; energy models only."""
        run = self._check_fitted()
        if run.cfg.model != "energy":
            raise ValueError("energy() needs an energy model (model='energy')")
        x = torch.as_tensor(x, dtype=torch.float32)
        sig = as_sigma(self._default_sigma() if sigma is None else sigma, x)
        xn = run.normalizer.forward(x.to(self.device_))
        return run.ema_net(xn, sig.to(xn) / run.normalizer.sigma_scale).to(x.device)

    # ---------------------------------------------------------------- sampling
    def sample(self, n_samples: int, random_state=None, sampler: str = "annealed", *, x_init=None,
               steps=None, step_size=None, return_info=False, **options):
        """Draw ``n_samples`` in data coordinates.

        ``sampler``: ``annealed`` (annealed Langevin over ``sigmas_``), ``langevin`` (plain, at
        the smallest σ), ``mala``; ODE samplers ``euler``, ``heun``, ``dpmpp-2m``, ``ode``
        (adaptive) and ``pc`` (predictor–corrector). ``steps``: steps per level (annealed),
        Langevin steps, or ODE steps. ``step_size`` ε in data units² (annealed: at σ_L).
        ``x_init``: starting points in data coordinates (default: σ_max·z for annealed and ODE
        samplers, uniform on ±3 data scales around the mean for plain Langevin).
        """
        from .sampling import run_sampler  # local: keeps estimator import light
        run = self._check_fitted()
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        device = self.device_
        g = torch.Generator(device=device)
        g.manual_seed(int(random_state) if random_state is not None else int(torch.randint(2**62, ()).item()))
        if x_init is not None:
            x_init = run.normalizer.forward(torch.as_tensor(x_init, dtype=torch.float32).to(device))
        c2 = run.normalizer.sigma_scale ** 2
        with torch.no_grad():  # an energy model's score still differentiates inside
            x, info = run_sampler(sampler, self._normalised_score(), run, n_samples, g, x_init=x_init,
                                  steps=steps, step_size=None if step_size is None else step_size / c2,
                                  **options)
        x = run.normalizer.inverse(x).cpu()
        return (x, info) if return_info else x

    def inpaint(self, x, mask, random_state=None, *, steps=None, step_size=None) -> torch.Tensor:
        """Fill the entries of ``x`` where ``mask == 0`` consistently with those where ``mask == 1``
        (kept exactly), by NCSN's annealed-Langevin inpainting (:func:`scorelab.inpaint.inpaint`)."""
        from .inpaint import inpaint
        from .sampling import ANNEALED_EPS, configured_step_size
        run = self._check_fitted()
        if run.cfg.objective != "ncsn":
            raise ValueError("inpainting needs a noise-conditional model (objective 'ncsn')")
        x = torch.as_tensor(x, dtype=torch.float32).to(self.device_)
        mask = torch.as_tensor(mask, dtype=torch.float32).to(self.device_)
        g = torch.Generator(device=self.device_)
        g.manual_seed(int(random_state) if random_state is not None else int(torch.randint(2**62, ()).item()))
        sigmas = run.sigmas.to(self.device_)
        eps = (step_size / run.normalizer.sigma_scale**2 if step_size is not None
               else configured_step_size(run) or ANNEALED_EPS * float(sigmas[-1]) ** 2)
        with torch.no_grad():
            out = inpaint(self._normalised_score(), run.normalizer.forward(x), mask, sigmas, eps,
                          steps or run.cfg.steps_per_level, generator=g)
        return torch.where(mask.bool(), x, run.normalizer.inverse(out)).cpu()

    # ---------------------------------------------------------------- persistence
    def save(self, path, overwrite: bool = False) -> Path:
        """Write the fitted model (configuration and EMA weights) to the directory ``path``."""
        run = self._check_fitted()
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise FileExistsError(f"{path}: exists and is not empty; pass overwrite=True")
        run.save(path, metadata={"step": run.cfg.steps})
        return path


def load(path, device: str = "cpu") -> ScoreModel:
    """Load a fitted :class:`ScoreModel` from a run directory (``scorelab train`` or ``save``)
    onto ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when present)."""
    run, _, _ = Run.load(path, device=resolve_device(str(device), what="device"))
    return ScoreModel(**vars(run.cfg))._set_fitted(run)
