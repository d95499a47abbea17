"""``ScoreModel``: a scikit-learn-style estimator over the objectives, samplers and training loop.

    >>> model = ScoreModel(steps=2000).fit(X)          # X: array, tensor, file or name
    >>> x = model.sample(1000, random_state=0)          # data coordinates
    >>> s = model.score_fn(x, sigma=model.sigmas_[-1])  # ∇ log p_σ(x), data coordinates
    >>> model.score(X_test)                             # mean log-likelihood (nats), a float

``__init__`` stores the hyper-parameters only (one keyword each, defaults from the table in
:mod:`scorelab.training.config`, which gives their meaning); ``fit`` validates them; fitted
attributes end in ``_``. ``get_params``, ``set_params`` and ``sklearn.base.clone`` work by
introspection of ``__init__``, and ``score`` is a number, so ``GridSearchCV`` and
``cross_val_score`` can choose hyper-parameters. The facade is thin: the CLI calls the same
``train``, samplers and evaluation.
"""
import inspect
import warnings
from pathlib import Path

import torch

from ..core import as_sigma
from ..data import Dataset, load_data
from ..data.labels import resolve_class, with_labels
from ..evaluation.report import log_likelihood
from ..nn import Labelled
from ..samplers.guidance import GUIDANCE_METHODS, classifier_free_guidance, classifier_guidance
from ..samplers.named import run_inpainting, run_sampler
from ..training import Run, make_config, train
from ..training.config import DEFAULTS as _D, OPTIONS
from ..training.setup import model_sde, resolve_device, score_function

_UNSET = object()
MAX_GUIDANCE = 100.0  # beyond this a guided score is all guidance: refused as a likely typo


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (or ``scorelab.load``)."""


def _generator(random_state, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(random_state) if random_state is not None else int(torch.randint(2**62, ()).item()))
    return g


def _grid_writer(cfg, run_dir: Path):
    """``on_step`` for training: every ``sample_every`` steps, 64 samples of the EMA network by
    the default sampler (seed 0) as ``RUN/samples/step_NNNNNNN.png``."""
    def write(step, snapshot):
        if step % cfg.sample_every:
            return
        from ..viz import save_image_grid
        save_image_grid(run_dir / "samples" / f"step_{step:07d}.png", snapshot.sample(64, random_state=0))
    return write


class ScoreModel:
    __doc__ = ("A score-based (or energy-based) generative model of your data.\n\nParameters\n"
               + "".join(f"    {n} : default {o.default!r}\n        {o.help}\n" for n, o in OPTIONS.items())
               + "\nFitted attributes: ``network_`` (the EMA network, in normalised coordinates), "
                 "``normalizer_``, ``sigmas_`` (training noise levels, data units, largest first), "
                 "``data_shape_``, ``data_kind_`` ('points' or 'images'), ``n_features_in_``, "
                 "``preview_`` (up to 2000 training samples), ``classes_`` (class names of a "
                 "class-conditional model, else empty), ``history_`` (the logged losses), "
                 "``run_`` (all of it, as saved), ``device_``.\n")

    def __init__(self, *, model=_D["model"], arch=_D["arch"], width=_D["width"], depth=_D["depth"],
                 levels=_D["levels"], res_blocks=_D["res_blocks"], attention=_D["attention"],
                 precondition=_D["precondition"], label_dropout=_D["label_dropout"],
                 objective=_D["objective"], sigma=_D["sigma"],
                 n_projections=_D["n_projections"], sliced_method=_D["sliced_method"],
                 fd_eps=_D["fd_eps"], cd_steps=_D["cd_steps"], cd_step_size=_D["cd_step_size"],
                 cd_alpha=_D["cd_alpha"], cd_buffer=_D["cd_buffer"], cd_reinit=_D["cd_reinit"],
                 sigma_max=_D["sigma_max"], sigma_min=_D["sigma_min"], n_levels=_D["n_levels"],
                 sigma_sampling=_D["sigma_sampling"], p_mean=_D["p_mean"], p_std=_D["p_std"],
                 weighting=_D["weighting"], vp_schedule=_D["vp_schedule"], normalize=_D["normalize"],
                 steps=_D["steps"],
                 batch_size=_D["batch_size"], lr=_D["lr"], ema=_D["ema"],
                 grad_clip=_D["grad_clip"], holdout=_D["holdout"], sample_every=_D["sample_every"],
                 eval_every=_D["eval_every"], checkpoint_every=_D["checkpoint_every"],
                 micro_batches=_D["micro_batches"], threads=_D["threads"],
                 precision=_D["precision"], classifier_steps=_D["classifier_steps"],
                 seed=_D["seed"], device=_D["device"],
                 image_size=_D["image_size"], sampler=_D["sampler"],
                 steps_per_level=_D["steps_per_level"], step_size=_D["step_size"],
                 guidance=_D["guidance"], langevin_steps=_D["langevin_steps"]):
        values = locals()
        for name in self._get_param_names():
            setattr(self, name, values[name])

    # ---------------------------------------------------------------- scikit-learn protocol
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The hyper-parameters: the keyword arguments of ``__init__`` (scikit-learn's rule)."""
        return [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> "ScoreModel":
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"ScoreModel: unknown parameter {name!r}")
            setattr(self, name, value)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return "run_" in vars(self)

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags
        return Tags(estimator_type="density_estimator", target_tags=TargetTags(required=False),
                    input_tags=InputTags(allow_nan=False), non_deterministic=False, requires_fit=True)

    def __getattr__(self, name: str):
        """Fitted attributes (``name_``) that do not exist yet: the model is not fitted."""
        if name.endswith("_") and not name.startswith("__"):
            raise NotFittedError(f"this ScoreModel is not fitted yet (no {name}): call fit(X) or "
                                 "scorelab.load(path)")
        raise AttributeError(f"'ScoreModel' object has no attribute {name!r}")

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != _D[k]}
        return f"ScoreModel({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y=None, *, run_dir=None, resume=False, force=False, progress=None,
            callback=None) -> "ScoreModel":
        """Train on ``X``: an array/tensor, a path (.npy .npz .csv .tsv, image folder) or a name
        (``toy:NAME``, ``digits``, ``mnist``). With ``run_dir`` checkpoints go there (see
        ``scorelab train``). ``callback(step, model)``, if given, is called after every step with
        a fitted ScoreModel that shares the weights being trained (its EMA network samples).

        ``y`` makes the model class-conditional (s(x, σ | y), with label dropout for the
        unconditional score): one label per sample (integers or strings), ``True`` for the
        labels the data carry (digits, MNIST, a toy mixture's component, an image folder's
        sub-folders), or a column of a .csv/.tsv table (its name, or index from 0)."""
        cfg = make_config(**self.get_params())
        size = None if cfg.image_size == "auto" else cfg.image_size
        column = y if isinstance(y, (str, int)) and not isinstance(y, bool) else None
        data = X if isinstance(X, Dataset) else load_data(X, image_size=size, seed=cfg.seed, label_column=column)
        if y is not None:
            data = with_labels(data, True if column is not None else y, "labels" if column is None else str(X))
        hooks = [h for h in (_grid_writer(cfg, Path(run_dir)) if run_dir and cfg.sample_every
                             and data.kind == "images" else None, callback) if h is not None]

        snapshot = []  # made once: it holds the run's networks, which train in place

        def on_step(step, run):
            if not snapshot:
                snapshot.append(self._snapshot(run))
            for hook in hooks:
                hook(step, snapshot[0])
        run = train(cfg, data, run_dir, resume=resume, force=force, progress=progress,
                    on_step=on_step if hooks else None)
        return self._set_fitted(run)

    def _snapshot(self, run: Run) -> "ScoreModel":
        """A fitted model of ``run`` as it is now, with this model's parameters."""
        return type(self)(**self.get_params())._set_fitted(run)

    def _set_fitted(self, run: Run) -> "ScoreModel":
        self.run_ = run
        self.network_ = run.ema_net.eval()
        self.normalizer_ = run.normalizer
        self.sigmas_ = run.sigmas * run.normalizer.sigma_scale
        self.data_shape_ = tuple(run.data["shape"])
        self.data_kind_ = run.data["kind"]
        self.n_features_in_ = int(torch.tensor(self.data_shape_).prod())
        self.preview_ = run.preview
        self.classes_ = list(run.classes)
        self.history_ = run.extra.get("history", [])
        self._log_z = None
        return self

    @property
    def device_(self) -> torch.device:
        return next(self.network_.parameters()).device

    # ---------------------------------------------------------------- the trained functions
    def _inputs(self, x, sigma):
        """``(x, x_n, σ_n)``: data as float32, in normalised units on the model's device."""
        x = torch.as_tensor(x, dtype=torch.float32)
        default = float(self.sigmas_[-1]) if len(self.sigmas_) else 0.0
        sig = as_sigma(default if sigma is None else sigma, x)
        xn = self.normalizer_.forward(x.to(self.device_))
        return x, xn, sig.to(xn) / self.normalizer_.sigma_scale

    def score_fn(self, x: torch.Tensor, sigma=None, *, y=None, guidance=0.0,
                 guidance_method="free") -> torch.Tensor:
        """The trained score ∇ₓ log p_σ(x) in data coordinates, on the library's contract
        ``score_fn(x, sigma)`` (σ in data units: a number or one per sample; default the
        smallest training σ), so a fitted model can be handed to any sampler or objective.
        A class-conditional model gives ∇ₓ log p_σ(x | y) for class ``y`` (one, or one per
        row), guided as in :meth:`sample` (``guidance`` 0: the plain conditional score)."""
        x, xn, sigma_n = self._inputs(x, sigma)
        s = self._guided_score(self._labels(y, len(x)), guidance, guidance_method)(xn, sigma_n)
        return self.normalizer_.score_to_data(s).to(x.device)

    def energy(self, x: torch.Tensor, sigma=None) -> torch.Tensor:
        """The trained energy E(x) (batch,), up to an additive constant; energy models only."""
        if self.run_.cfg.model != "energy":
            raise ValueError("energy() needs an energy model (model='energy')")
        x, xn, sigma_n = self._inputs(x, sigma)
        return self.network_(xn, sigma_n).to(x.device)

    def score_samples(self, X, y=None) -> torch.Tensor:
        """Each row's log-likelihood log p(x), in nats and data units (float64, shape (n,));
        for a class-conditional model and a class ``y``, log p(x | y).

        Noise-conditional models: log p_σ of the data blurred to the smallest training σ,
        through the probability-flow ODE (exact divergence up to 16 dimensions, Hutchinson's
        unbiased estimate above: then it is an estimate, seeded by ``seed``). Energy models:
        −E(x) − log Z with log Z on a grid over the training data (2-D, exact to the grid) or by
        annealed importance sampling (other dimensions: an estimate), computed once per fit.
        See :func:`scorelab.evaluation.report.log_likelihood`.
        """
        x = self._data(X)
        log_p, info = log_likelihood(self, x, seed=self.run_.cfg.seed, log_z=self._log_z, y=y)
        if self.run_.cfg.model == "energy":
            self._log_z = info["log_z"]
        return log_p

    def score(self, X, y=None, sigma=_UNSET):
        """The mean log-likelihood of ``X`` (nats per sample, :meth:`score_samples`): a float,
        larger is better, what scikit-learn's model selection maximises.

        ``score(x, sigma)``, the vector field, is now :meth:`score_fn`; passing ``sigma`` still
        returns it, with a ``DeprecationWarning`` (removed in the next release)."""
        if sigma is not _UNSET:
            warnings.warn("ScoreModel.score(x, sigma) is deprecated: the vector field is "
                          "score_fn(x, sigma); score(X) is the mean log-likelihood",
                          DeprecationWarning, stacklevel=2)
            return self.score_fn(X, sigma)
        return float(self.score_samples(X).mean())

    def _data(self, X) -> torch.Tensor:
        """``X`` (array, tensor, Dataset or anything :func:`load_data` reads) as samples shaped
        like the training data."""
        x = X.x if isinstance(X, Dataset) else X
        x = x if isinstance(x, torch.Tensor) else load_data(x).x
        x = x.float()
        if tuple(x.shape[1:]) != self.data_shape_:
            raise ValueError(f"X: samples have shape {tuple(x.shape[1:])}, the model was trained on "
                             f"{self.data_shape_}")
        return x

    # ---------------------------------------------------------------- sampling
    def sample(self, n_samples: int, random_state=None, sampler: str | None = None, *, y=None,
               guidance=None, guidance_method="free", x_init=None, steps=None, step_size=None,
               batch_size: int | None = None, return_info=False, **options):
        """Draw ``n_samples`` in data coordinates.

        ``sampler`` (default: the ``sampler`` hyper-parameter, ``auto``: Heun's probability-flow
        ODE for noise-conditional models, plain Langevin otherwise): ``annealed`` (annealed
        Langevin over ``sigmas_``), ``langevin`` (plain, at the smallest σ), ``mala``; ODE
        samplers ``euler``, ``heun``, ``dpmpp-2m``, ``ode`` (adaptive) and ``pc``
        (predictor–corrector); see :mod:`scorelab.samplers.named`. ``steps``: steps per level
        (annealed), Langevin steps, or ODE steps. ``step_size`` ε in data units² (annealed: at
        σ_L). ``x_init``: starting points in data coordinates (default: σ_max·z for annealed and
        ODE samplers, uniform on ±3 data scales around the mean for plain Langevin).
        ``batch_size``: sample that many at a time (:meth:`iter_samples`; default all at once).

        Class-conditional models: ``y`` a class (name or index) for every sample, one per
        sample, or ``"all"``: ``n_samples`` of each class in turn (``classes_`` order); None:
        the unconditional model. ``guidance`` (default the ``guidance`` hyper-parameter):
        classifier-free weight w, s = (1 + w)·s(x, σ | y) − w·s(x, σ), with
        ``guidance_method="free"``; with ``"classifier"``, the scale γ of the trained
        classifier's gradient, s = s(x, σ) + γ·∇ₓ log p(y | x, σ) (needs ``classifier_steps``).
        See :mod:`scorelab.samplers.guidance`.
        """
        n_total = n_samples * (len(self.classes_) if isinstance(y, str) and y == "all" else 1)
        parts = list(self.iter_samples(n_samples, random_state, sampler, y=y, guidance=guidance,
                                       guidance_method=guidance_method, x_init=x_init, steps=steps,
                                       step_size=step_size, batch_size=batch_size or n_total, **options))
        x = torch.cat([p for p, _ in parts])
        return (x, parts[-1][1]) if return_info else x

    def iter_samples(self, n_samples: int, random_state=None, sampler: str | None = None, *,
                     batch_size: int = 1000, y=None, guidance=None, guidance_method="free", x_init=None,
                     steps=None, step_size=None, **options):
        """Yield ``(samples, SamplerInfo)`` for ``n_samples`` in chunks of at most ``batch_size``
        (data coordinates, on the CPU), so that memory stays bounded however many are asked for.
        One random stream runs through the chunks: the same ``random_state`` and ``batch_size``
        give the same samples. Arguments as :meth:`sample`; the NFE is per chunk."""
        for name, value in (("n_samples", n_samples), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        labels = self._labels(y, n_samples)
        n_samples = n_samples if labels is None else len(labels)
        g = _generator(random_state, self.device_)
        if x_init is not None:
            x_init = self.normalizer_.forward(torch.as_tensor(x_init, dtype=torch.float32).to(self.device_))
        cfg = self.run_.cfg  # the validated configuration (the parameters may be strings)
        energy = self.network_ if cfg.model == "energy" else None
        for start in range(0, n_samples, batch_size):
            n = min(batch_size, n_samples - start)
            chunk = None if labels is None else labels[start:start + n]
            score = self._guided_score(chunk, guidance, guidance_method)
            centre = None if chunk is None or x_init is not None else self.run_.class_means[chunk]
            with torch.no_grad():  # an energy model's score still differentiates inside
                x, info = run_sampler(sampler or cfg.sampler, score,
                                      self.data_shape_, n, sigmas=self._sigmas_n(), generator=g, energy=energy,
                                      x_init=None if x_init is None else x_init[start:start + n], steps=steps,
                                      step_size=self._step_size_n(step_size), steps_per_level=cfg.steps_per_level,
                                      langevin_steps=cfg.langevin_steps, prior_mean=centre,
                                      sde=self._sde(), **options)
            yield self.normalizer_.inverse(x).cpu(), info

    def _labels(self, y, n: int):
        """``y`` as class codes (int64, on the model's device): None stays None; ``"all"`` is
        ``n`` of every class in turn; one class is repeated ``n`` times."""
        if y is None:
            return None
        if not self.classes_:
            raise ValueError("this model was trained without labels: fit(X, y) to sample a class")
        if hasattr(y, "tolist"):  # a tensor or array: its numbers
            y = y.tolist()
        if isinstance(y, str) and y == "all":
            codes = torch.arange(len(self.classes_)).repeat_interleave(n)
        elif isinstance(y, (str, int)):
            codes = torch.full((n,), resolve_class(y, self.classes_))
        else:
            codes = torch.tensor([resolve_class(v, self.classes_) for v in list(y)], dtype=torch.long)
            if len(codes) != n:
                raise ValueError(f"y: {len(codes)} labels for {n} samples")
        return codes.to(self.device_)

    def _guided_score(self, labels, guidance, method):
        """The score function the samplers run, in normalised units: the model's own, or for a
        class-conditional model s(x, σ | y) under guidance (:mod:`scorelab.samplers.guidance`)."""
        cfg, net = self.run_.cfg, self.network_
        w = cfg.guidance if guidance is None else guidance
        if method not in GUIDANCE_METHODS:
            raise ValueError(f"guidance_method must be one of {', '.join(GUIDANCE_METHODS)}, got {method!r}")
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not 0 <= w <= MAX_GUIDANCE:
            raise ValueError(f"guidance must be a number in [0, {MAX_GUIDANCE:g}], got {w!r}")
        if not self.classes_:
            return score_function(net, cfg.model)
        if labels is None:
            return score_function(Labelled(net, None), cfg.model)

        def labelled(x, sigma, y):
            return score_function(Labelled(net, y), cfg.model)(x, sigma)
        if method == "free":
            return classifier_free_guidance(labelled, labels, float(w))
        if self.run_.classifier is None:
            raise ValueError("classifier guidance needs a classifier: train with classifier_steps > 0")
        return classifier_guidance(score_function(Labelled(net, None), cfg.model), self.run_.classifier.log_prob,
                                   labels, float(w))

    def _sde(self):
        """The model's SDE in normalised units (VE over the levels for ncsn), or None."""
        return model_sde(self.run_.cfg, self._sigmas_n()) if len(self.run_.sigmas) >= 2 else None

    def _sigmas_n(self) -> torch.Tensor:
        return self.run_.sigmas.to(self.device_)

    def _step_size_n(self, step_size):
        """ε in normalised units²: the one given (data units²), else the configured one, else None."""
        eps = self.run_.cfg.step_size if step_size is None else step_size
        return None if eps == "auto" else eps / self.normalizer_.sigma_scale**2

    def inpaint(self, x, mask, random_state=None, *, steps=None, step_size=None, y=None,
                guidance=None, guidance_method="free") -> torch.Tensor:
        """Fill the entries of ``x`` where ``mask == 0`` consistently with those where ``mask == 1``
        (kept exactly), by NCSN's annealed-Langevin inpainting (:func:`scorelab.samplers.inpaint`);
        for a class-conditional model, as class ``y`` (one, or one per row) under ``guidance``
        (as :meth:`sample`)."""
        x = torch.as_tensor(x, dtype=torch.float32).to(self.device_)
        if tuple(x.shape[1:]) != self.data_shape_:
            raise ValueError(f"x: shape {tuple(x.shape[1:])} does not match the model's {self.data_shape_}")
        mask = torch.as_tensor(mask, dtype=torch.float32).to(self.device_)
        with torch.no_grad():
            score = self._guided_score(self._labels(y, len(x)), guidance, guidance_method)
            out = run_inpainting(score, self.normalizer_.forward(x),
                                 mask, sigmas=self._sigmas_n(), generator=_generator(random_state, self.device_),
                                 steps=steps, step_size=self._step_size_n(step_size),
                                 steps_per_level=self.run_.cfg.steps_per_level)
        return torch.where(mask.bool(), x, self.normalizer_.inverse(out)).cpu()

    # ---------------------------------------------------------------- persistence
    def save(self, path, overwrite: bool = False) -> Path:
        """Write the fitted model (configuration and EMA weights) to the directory ``path``."""
        run = self.run_
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
