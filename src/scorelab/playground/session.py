"""The playground's state: the data, a model trained in a background thread, score fields and
sampler runs. Every number here comes from the library (``ScoreModel``, the samplers by name,
the analytic mixtures, ``mode_fractions``); the web server only validates requests and sends
these results as JSON.

Thread safety: training runs in its own thread; the learned field shown while it trains is
computed by that thread between two optimisation steps (``on_step``) at the σ the page asks
for, so no other thread touches a network whose weights are changing. Sampling and fields of a
finished model run in the request's thread under ``lock``.
"""
import math
import threading
import time

import torch

from ..distributions import GaussianMixture, get_toy
from ..estimator import ScoreModel
from ..evaluation.metrics import mode_fractions
from ..samplers.named import LANGEVIN_EPS, run_sampler
from ..training import make_config

# Half-width of the square view of each toy (all are centred at 0).
VIEWS = {"lecture": 9.0, "eight_gaussians": 3.5, "rings": 4.0, "checkerboard": 4.5,
         "two_moons": 3.0, "swiss_roll": 4.0, "curve": 3.0}
TOY_OPTIONS = {"curve": {"dim": 2}}  # the playground is 2-D: the curve is a circle of radius 2
N_DATA = 3000
MAX_POINTS = 5000  # drawn or uploaded points
MIN_POINTS = 20
EMPIRICAL_COMPONENTS = 2000  # the empirical p_σ of points without a closed form: a mixture of this many
MAX_TRAIN_SECONDS = 120.0
FIELD_REFRESH = 0.4  # seconds between learned fields computed by the training thread
MAX_FRAMES = 60
SAMPLERS = {"langevin": "plain Langevin", "annealed": "annealed Langevin", "heun": "probability-flow ODE (Heun)"}


class PlaygroundError(ValueError):
    """A request the playground refuses; its message is shown in the page."""


class _Stopped(Exception):
    """Raised inside training's ``on_step`` to end it early."""


class Job:
    """One training run: its progress, as the page polls it."""

    def __init__(self, params: dict):
        self.params, self.state, self.message = params, "training", ""
        self.step, self.history, self.model = 0, [], None
        self.stop = threading.Event()
        self.field_sigma, self.field, self.started = None, None, time.perf_counter()


def grid(half_width: float, n: int) -> torch.Tensor:
    """An n × n grid over [−h, h]², row by row from the bottom (x fastest), shape (n², 2)."""
    t = torch.linspace(-half_width, half_width, n)
    ys, xs = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def _round(x: torch.Tensor, digits: int = 4) -> list:
    return torch.round(x.double(), decimals=digits).tolist()


class Session:
    """What one playground holds: one data set, at most one training run, its fitted model."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.lock = threading.Lock()
        self.job = None
        self.set_toy("lecture")

    # ------------------------------------------------------------------ data
    def set_toy(self, name: str) -> dict:
        if name not in VIEWS:
            raise PlaygroundError(f"unknown toy {name!r}; choose one of {', '.join(VIEWS)}")
        toy = get_toy(name, **TOY_OPTIONS.get(name, {}))
        x = toy.sample(N_DATA, generator=torch.Generator().manual_seed(self.seed))
        exact = isinstance(toy, GaussianMixture)
        return self._set_data(x, name, VIEWS[name], truth=toy if exact else None,
                              modes=toy.means if exact else None)

    def set_points(self, points, half_width) -> dict:
        """Points drawn in the page (a list of [x, y]) in the view [−h, h]²."""
        if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 for p in points):
            raise PlaygroundError("points must be a list of [x, y] pairs")
        if len(points) < MIN_POINTS:
            raise PlaygroundError(f"draw at least {MIN_POINTS} points (click and drag on the data panel); "
                                  f"got {len(points)}")
        if len(points) > MAX_POINTS:
            raise PlaygroundError(f"at most {MAX_POINTS} points, got {len(points)}")
        try:
            x = torch.tensor(points, dtype=torch.float32)
        except (TypeError, ValueError):
            raise PlaygroundError("points must be numbers") from None
        if not torch.isfinite(x).all():
            raise PlaygroundError("points must be finite numbers")
        try:
            h = float(half_width)
        except (TypeError, ValueError):
            raise PlaygroundError(f"half_width must be a number, got {half_width!r}") from None
        if not (0 < h < 1e4) or bool((x.abs() > h).any()):
            raise PlaygroundError("points must lie inside the view")
        if float(x.std(dim=0).min()) < 1e-3 * h:
            raise PlaygroundError("the points are (nearly) on one line or one spot: spread them out")
        return self._set_data(x, "drawn", h, truth=None, modes=None)

    def _set_data(self, x, name, half_width, truth, modes) -> dict:
        self.stop_training()
        with self.lock:
            self.data, self.name, self.half_width, self.modes = x, name, float(half_width), modes
            self.exact = truth is not None
            if truth is None:  # the data's own p_σ = (1/n) Σ N(x_i, σ² I): what DSM at σ is fitted to
                keep = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
                         [:EMPIRICAL_COMPONENTS]]
                truth = GaussianMixture(keep, torch.ones(len(keep)), stds=1e-4 * half_width, name="empirical")
            self.truth, self.model, self.job = truth, None, None
        return self.describe()

    def describe(self) -> dict:
        shown = self.data[:2000]
        return {"name": self.name, "half_width": self.half_width, "n": len(self.data),
                "points": _round(shown, 3), "exact": self.exact,
                "modes": None if self.modes is None else _round(self.modes, 3)}

    # ------------------------------------------------------------------ training
    def start_training(self, params: dict) -> dict:
        if self.job is not None and self.job.state == "training":
            raise PlaygroundError("a model is already training: stop it first")
        options = {"model": params["model"], "objective": params["objective"], "steps": params["steps"],
                   "lr": params["lr"], "seed": self.seed, "eval_every": max(1, params["steps"] // 100)}
        if params.get("sigma") is not None:
            options["sigma"] = params["sigma"]
        try:
            model = ScoreModel(**options)
            make_config(**model.get_params())  # the library's own checks, before the thread starts
        except ValueError as e:
            raise PlaygroundError(str(e)) from None
        job = Job(params)
        job.field_sigma = params.get("field_sigma")
        self.job, self.model = job, None
        threading.Thread(target=self._train, args=(job, model), daemon=True, name="playground-training").start()
        return self.status()

    def _train(self, job: Job, model: ScoreModel) -> None:
        last = [0.0]

        def on_step(step, snapshot):
            job.step, job.history, job.model = step, snapshot.history_, snapshot
            if job.stop.is_set():
                raise _Stopped
            if time.perf_counter() - job.started > MAX_TRAIN_SECONDS:
                job.message = f"stopped after {MAX_TRAIN_SECONDS:g} s (the playground's limit)"
                raise _Stopped
            if job.field_sigma is not None and time.perf_counter() - last[0] > FIELD_REFRESH:
                job.field = {"sigma": job.field_sigma, **self._learned(snapshot, job.field_sigma)}
                last[0] = time.perf_counter()

        try:
            job.model = model.fit(self.data, callback=on_step, progress=False)
            job.history = job.model.history_
            job.state = "done"
        except _Stopped:
            job.state = "done"
            job.message = job.message or f"stopped at step {job.step}"
        except Exception as e:  # noqa: BLE001 - shown in the page; the server stays up
            job.state, job.model = "error", None
            job.message = f"training failed: {' '.join(str(e).split()) or type(e).__name__}"
        if job.model is not None and job is self.job:
            with self.lock:
                self.model = job.model

    def stop_training(self) -> None:
        if self.job is not None:
            self.job.stop.set()

    def status(self) -> dict:
        job = self.job
        if job is None:
            return {"state": "idle"}
        out = {"state": job.state, "step": job.step, "steps": job.params["steps"], "message": job.message,
               "seconds": round(time.perf_counter() - job.started, 2),
               "losses": [[h["step"], h["loss"]] for h in job.history if math.isfinite(h["loss"])]}
        if job.model is not None and job.state == "done":
            out.update(self._model_info(job.model))
        return out

    @staticmethod
    def _model_info(model: ScoreModel) -> dict:
        sigmas = [float(s) for s in model.sigmas_]
        return {"levels": len(sigmas), "sigma_max": max(sigmas, default=None), "sigma_min": min(sigmas, default=None),
                "objective": model.run_.cfg.objective, "model": model.run_.cfg.model}

    # ------------------------------------------------------------------ fields
    def _learned(self, model: ScoreModel, sigma: float, n: int = 21) -> dict:
        with torch.no_grad():
            s = model.score_fn(grid(self.half_width, n), sigma)
        return {"n": n, "learned": _round(s, 4)}

    def field(self, sigma: float, n: int = 21) -> dict:
        """The true score of p_σ on an n × n grid (with log p_σ on a finer one) and, once a model
        exists, the learned one and its error ‖s_θ − ∇log p_σ‖."""
        points = grid(self.half_width, n)
        fine = grid(self.half_width, 2 * n)
        with self.lock:
            truth = self.truth.score(points, sigma)
            out = {"sigma": sigma, "n": n, "exact": self.exact, "true": _round(truth, 4),
                   "log_density": _round(self.truth.log_prob(fine, sigma), 3), "n_density": 2 * n}
            job = self.job
            if job is not None and job.state == "training":
                job.field_sigma = sigma  # the training thread computes it next
                if job.field is not None:
                    out.update(job.field)
                    out["sigma_learned"] = out.pop("sigma")
                    out["sigma"] = sigma
            elif self.model is not None:
                out.update(self._learned(self.model, sigma, n))
                out["sigma_learned"] = sigma
            if "learned" in out:
                err = (torch.tensor(out["learned"]) - truth).norm(dim=1)
                out["error_map"] = _round(err, 4)
        return out

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, starts: str, score: str, langevin_steps: int, steps_per_level: int) -> dict:
        """Plain Langevin, annealed Langevin and the probability-flow ODE from the same start
        points, with the learned or the exact score; each sampler's trajectory (at most
        ``MAX_FRAMES`` frames) and, for mixtures, the fraction of particles nearest each mode
        at every frame."""
        with self.lock:
            model = self.model
            if model is None:
                raise PlaygroundError("train a model first (or wait until training has finished)")
            g = torch.Generator().manual_seed(self.seed + 1)
            sigmas = model.sigmas_.double()
            # What annealed Langevin and the ODE assume: N(mean, σ_max² I). The ODE always starts
            # there (its start is part of the map it defines); "box" starts the two Langevin
            # samplers uniformly on the view instead, as the lecture starts plain Langevin.
            scale = float(sigmas[0]) if len(sigmas) else self.half_width
            noise = self.data.mean(dim=0) + scale * torch.randn(n, 2, generator=g)
            box = (2 * torch.rand(n, 2, generator=g) - 1) * self.half_width
            x0 = box if starts == "box" else noise
            if score == "exact":
                if not self.exact:
                    raise PlaygroundError("the exact score exists for the mixture toys only (lecture, eight_gaussians)")
                score_fn = self.truth.score
            else:
                score_fn = model.score_fn
            runs = {name: self._run(name, score_fn, model, sigmas, noise if name == "heun" else x0, g,
                                    langevin_steps, steps_per_level) for name in SAMPLERS}
        return {"n": n, "samplers": runs,
                "modes": None if self.modes is None else _round(self.modes, 3)}

    def _run(self, name, score_fn, model, sigmas, x0, g, langevin_steps, steps_per_level) -> dict:
        levels = len(sigmas)
        if name != "langevin" and levels < 2:  # with one σ (dsm) annealing is plain Langevin at that σ
            return {"label": SAMPLERS[name],
                    "error": f"{SAMPLERS[name]} needs several noise levels: train with objective ncsn"}
        options = {"steps": langevin_steps if name == "langevin" else steps_per_level if name == "annealed" else None}
        if name == "langevin":  # the library's default, ε = LANGEVIN_EPS in normalised units
            options["step_size"] = LANGEVIN_EPS * model.normalizer_.sigma_scale**2
        start = time.perf_counter()
        try:
            with torch.no_grad():
                x, info = run_sampler(name, score_fn, (2,), len(x0), sigmas=sigmas, generator=g, x_init=x0.clone(),
                                      trajectory=True, **options)
        except FloatingPointError as e:
            return {"label": SAMPLERS[name], "error": f"the chains blew up: {e}"}
        frames = info.trajectory
        keep = torch.linspace(0, len(frames) - 1, min(MAX_FRAMES, len(frames))).round().long()
        frames = frames[keep].float()
        out = {"label": SAMPLERS[name], "nfe": info.nfe, "seconds": round(time.perf_counter() - start, 3),
               "frames": [_round(f.clamp(-1e3, 1e3), 2) for f in frames]}
        if self.modes is not None:
            out["fractions"] = [_round(mode_fractions(f, self.modes), 4) for f in frames]
        return out
