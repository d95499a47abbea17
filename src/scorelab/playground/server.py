"""The playground's web server: Bottle routes over one :class:`~.session.Session`, on 127.0.0.1.

Every request body is JSON and every answer is JSON; a request the playground refuses (a bad
value, an empty drawing) is answered with status 400 and ``{"error": message}``, any other
failure with 500 and the same shape, and the server goes on serving. The page and its scripts
are files of this package (``static/``): nothing is fetched from anywhere else.
"""
import json
import math
import socketserver
import sys
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bottle

from ..experiments.low_density import DSM_SIGMA as LOW_DENSITY_SIGMA
from ..experiments.manifold import LR as MANIFOLD_LR
from .session import SAMPLERS, VIEWS, PlaygroundError, Session

STATIC = Path(__file__).resolve().parent / "static"
HOST = "127.0.0.1"  # never anything else: the playground runs code on request
MODELS = ("score", "energy")
OBJECTIVES = {"ncsn": "multi-scale denoising (NCSN)", "dsm": "denoising, one σ", "ssm": "sliced",
              "esm": "exact", "cd": "contrastive divergence (energy)"}
# The lecture's failure modes (docs/lecture.md, section 4), set up as the experiments set them up.
PRESETS = {
    "manifold": {
        "title": "data on a manifold",
        "toy": "curve", "model": "score", "objective": "ssm", "steps": 1500, "lr": MANIFOLD_LR,
        "starts": "box", "score": "learned",
        "text": "Points on a circle with no noise: ∇log p does not exist off it. Sliced score matching on "
                "the clean points has no floor (watch the loss keep falling) and its field pulls ever harder "
                "into the circle; plain Langevin on it overshoots or blows up. Train again with dsm or ncsn.",
    },
    "low_density": {
        "title": "low-density regions",
        "toy": "lecture", "model": "score", "objective": "dsm", "sigma": LOW_DENSITY_SIGMA, "steps": 2000, "lr": 2e-3,
        "starts": "box", "score": "learned",
        "text": "Denoising score matching at σ = 0.1 weights its errors by the data density: the learned "
                "field (left) matches the truth at the two modes and is wrong in between, where the error "
                "map (red) is bright. Chains started there follow the wrong field.",
    },
    "mixture_weights": {
        "title": "mixture weights",
        "toy": "lecture", "model": "score", "objective": "ncsn", "steps": 3000, "lr": 2e-3,
        "starts": "box", "score": "exact",
        "text": "0.8·N((5,5), I) + 0.2·N((−5,−5), I), sampled from uniform starts with the exact score: plain "
                "Langevin keeps the starts' 50/50 split, annealed Langevin and the ODE recover 0.8/0.2 "
                "(watch the fractions). Switch the score to 'learned' to see the network do the same.",
    },
}
# (name, type, minimum, maximum): the numbers a request may carry, checked here
LIMITS = {"steps": (int, 10, 20000), "lr": (float, 1e-5, 0.1), "sigma": (float, 1e-3, 100.0),
          "field_sigma": (float, 1e-3, 1000.0), "n": (int, 10, 2000), "langevin_steps": (int, 1, 5000),
          "steps_per_level": (int, 1, 1000)}


def number(body: dict, name: str, default=None):
    """``body[name]`` as the type LIMITS gives it, within its limits (``default`` when absent)."""
    kind, low, high = LIMITS[name]
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise PlaygroundError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or (kind is int and value != int(value)):
        raise PlaygroundError(f"{name} must be {'a whole number' if kind is int else 'finite'}, got {value!r}")
    if not low <= value <= high:
        raise PlaygroundError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return kind(value)


def choice(body: dict, name: str, options, default=None):
    value = body.get(name, default)
    if value not in options:
        raise PlaygroundError(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def _json_body() -> dict:
    try:
        body = json.loads(bottle.request.body.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise PlaygroundError("the request is not valid JSON") from None
    if not isinstance(body, dict):
        raise PlaygroundError("the request must be a JSON object")
    return body


def api(fn):
    """A JSON route: the function's dict as JSON; PlaygroundError → 400, anything else → 500."""
    def wrapper(*args, **kwargs):
        bottle.response.content_type = "application/json"
        bottle.response.set_header("Cache-Control", "no-store")
        try:
            return json.dumps(fn(*args, **kwargs), allow_nan=False)
        except PlaygroundError as e:
            bottle.response.status = 400
            return json.dumps({"error": str(e)})
        except Exception as e:  # noqa: BLE001 - the page shows it; the server stays up
            bottle.response.status = 500
            return json.dumps({"error": f"{type(e).__name__}: {' '.join(str(e).split())}"})
    return wrapper


def make_app(session: Session | None = None) -> bottle.Bottle:
    """The playground's WSGI application over ``session`` (a new one by default)."""
    session = session or Session()
    app = bottle.Bottle()

    @app.get("/")
    def index():
        return bottle.static_file("index.html", root=str(STATIC))

    @app.get("/static/<name>")
    def static(name):
        return bottle.static_file(name, root=str(STATIC))

    @app.get("/api/options")
    @api
    def options():
        return {"toys": list(VIEWS), "models": list(MODELS), "objectives": OBJECTIVES, "samplers": SAMPLERS,
                "presets": {k: {"title": p["title"], "text": p["text"]} for k, p in PRESETS.items()},
                "data": session.describe()}

    @app.post("/api/data")
    @api
    def data():
        body = _json_body()
        if "toy" in body:
            return session.set_toy(body["toy"])
        return session.set_points(body.get("points"), body.get("half_width", session.half_width))

    @app.post("/api/train")
    @api
    def train():
        body = _json_body()
        params = {"model": choice(body, "model", MODELS, "score"),
                  "objective": choice(body, "objective", OBJECTIVES, "ncsn"),
                  "steps": number(body, "steps", 2000), "lr": number(body, "lr", 2e-3),
                  "sigma": number(body, "sigma"), "field_sigma": number(body, "field_sigma")}
        return session.start_training(params)

    @app.post("/api/stop")
    @api
    def stop():
        session.stop_training()
        return session.status()

    @app.get("/api/status")
    @api
    def status():
        return session.status()

    @app.get("/api/field")
    @api
    def field():
        sigma = number(dict(bottle.request.query), "field_sigma", 1.0)
        return session.field(sigma)

    @app.post("/api/sample")
    @api
    def sample():
        body = _json_body()
        return session.sample(number(body, "n", 500), choice(body, "starts", ("noise", "box"), "noise"),
                              choice(body, "score", ("learned", "exact"), "learned"),
                              number(body, "langevin_steps", 1000), number(body, "steps_per_level", 100))

    @app.post("/api/preset")
    @api
    def preset():
        body = _json_body()
        chosen = PRESETS[choice(body, "name", PRESETS)]
        data = session.set_toy(chosen["toy"])
        return {"data": data, "settings": {k: v for k, v in chosen.items() if k not in ("toy", "title")}}

    return app


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request in flight does not keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the page polls several times a second
        pass


def make_server_on(port: int = 0, session: Session | None = None):
    """A threaded WSGI server of the playground on 127.0.0.1:``port`` (0: any free port), not
    yet serving; ``server.server_port`` is the port it got."""
    return make_server(HOST, port, make_app(session), server_class=_Server, handler_class=_QuietHandler)


def serve(port: int = 8000, out=sys.stdout) -> None:
    """Serve the playground until interrupted, printing its address first."""
    server = make_server_on(port)
    print(f"scorelab playground: http://{HOST}:{server.server_port}/  (Ctrl-C stops it)", file=out, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
