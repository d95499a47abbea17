"""The playground's server without a browser: bad requests are answered with a JSON message and
the server stays up; the true field is the library's closed form; a short training run's loss
falls; with the exact score, plain Langevin from the box keeps the starts' split while
annealed Langevin and the ODE recover the lecture mixture's 0.8 (within binomial standard
errors); the CLI binds 127.0.0.1, prints its address and fails on a bad port in one line."""
import json
import math
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import torch
from conftest import fails_in_one_line

pytest.importorskip("bottle", reason="the playground needs the playground extra (bottle)")
from scorelab.distributions import get_toy  # noqa: E402
from scorelab.playground.server import make_server_on  # noqa: E402
from scorelab.playground.session import Session, grid  # noqa: E402


@pytest.fixture(scope="module")
def served():
    session = Session()
    srv = make_server_on(0, session)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}", session
    srv.shutdown()
    srv.server_close()


def call(base, path, body=None, raw=None):
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_trained(base, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = call(base, "/api/status")[1]
        if status["state"] != "training":
            return status
        time.sleep(0.2)
    raise AssertionError("training did not finish")


@pytest.mark.parametrize("path, body, needle", [
    ("/api/data", {"points": []}, "draw at least 20 points"),
    ("/api/data", {"points": [["a", 1]] * 30}, "numbers"),
    ("/api/data", {"points": [[0.5, 0.5]] * 30}, "spread them out"),
    ("/api/data", {"points": [[50.0, 1.0 + i] for i in range(30)]}, "inside the view"),
    ("/api/data", {"toy": "nope"}, "unknown toy"),
    ("/api/data", {"points": [[0.1 * i, 0.2 * i] for i in range(30)], "half_width": "wide"}, "half_width"),
    ("/api/train", {"steps": -3}, "steps must be between 10 and 20000"),
    ("/api/train", {"steps": 1e9}, "steps must be between"),
    ("/api/train", {"steps": 10.5}, "whole number"),
    ("/api/train", {"lr": "fast"}, "lr must be a number"),
    ("/api/train", {"objective": "magic"}, "objective must be one of"),
    ("/api/train", {"objective": "cd", "model": "score"}, "needs model.model = 'energy'"),
    ("/api/sample", {"n": 0}, "n must be between"),
    ("/api/preset", {"name": "nope"}, "name must be one of"),
])
def test_bad_requests_get_a_message_and_the_server_stays_up(served, path, body, needle):
    base, _ = served
    code, answer = call(base, path, body)
    assert code == 400 and needle in answer["error"], answer
    assert call(base, "/api/options")[0] == 200


def test_a_body_that_is_not_json_and_an_internal_failure_are_answered_in_json(served, monkeypatch):
    base, session = served
    code, answer = call(base, "/api/train", raw=b"{not json")
    assert code == 400 and "not valid JSON" in answer["error"]
    monkeypatch.setattr(session, "field", lambda sigma: 1 / 0)
    code, answer = call(base, "/api/field?field_sigma=1")
    assert code == 500 and answer["error"].startswith("ZeroDivisionError")
    assert call(base, "/api/status")[0] == 200


def test_the_true_field_is_the_mixtures_closed_form(served):
    base, _ = served
    toy = get_toy("lecture")
    code, field = call(base, "/api/field?field_sigma=0.7")
    assert code == 200 and field["exact"]
    points = grid(9.0, field["n"])
    assert torch.allclose(torch.tensor(field["true"]), toy.score(points, 0.7), atol=1e-4)
    fine = grid(9.0, field["n_density"])
    assert torch.allclose(torch.tensor(field["log_density"], dtype=torch.float64),
                          toy.log_prob(fine, 0.7).double(), atol=1e-3)


def test_training_then_sampling_with_the_exact_score(served):
    base, _ = served
    assert call(base, "/api/data", {"toy": "lecture"})[0] == 200
    code, status = call(base, "/api/train", {"steps": 300, "objective": "ncsn", "field_sigma": 1.0})
    assert code == 200 and status["state"] == "training"
    status = wait_trained(base)
    assert status["state"] == "done" and status["levels"] >= 2, status
    losses = [loss for _, loss in status["losses"]]
    assert sum(losses[-5:]) / 5 < losses[0]
    code, field = call(base, "/api/field?field_sigma=1.0")
    assert len(field["learned"]) == len(field["true"]) == len(field["error_map"])

    n = 1000
    code, out = call(base, "/api/sample", {"n": n, "starts": "box", "score": "exact",
                                           "langevin_steps": 300, "steps_per_level": 100})
    assert code == 200, out
    runs = out["samplers"]
    assert runs["langevin"]["frames"][0] == runs["annealed"]["frames"][0]  # the same starts
    se = math.sqrt(0.25 / n)
    final = {name: run["fractions"][-1][0] for name, run in runs.items()}
    box_split = float((torch.tensor(runs["langevin"]["frames"][0]).sum(dim=1) > 0).double().mean())
    assert abs(final["langevin"] - box_split) < 4 * se, final  # plain Langevin keeps its starts' split
    assert abs(final["annealed"] - 0.8) < 4 * se and abs(final["heun"] - 0.8) < 4 * se, final
    assert runs["heun"]["nfe"] == 35 and runs["annealed"]["nfe"] == 100 * status["levels"] + 1


def test_training_can_be_stopped_and_a_dsm_model_has_no_ode(served):
    base, _ = served
    call(base, "/api/train", {"steps": 20000, "objective": "dsm", "sigma": 0.5})
    time.sleep(0.5)
    call(base, "/api/stop", {})
    status = wait_trained(base)
    assert status["state"] == "done" and status["step"] < 20000 and "stopped at step" in status["message"]
    code, out = call(base, "/api/sample", {"n": 50, "langevin_steps": 10, "steps_per_level": 10})
    for name in ("annealed", "heun"):
        assert code == 200 and "needs several noise levels" in out["samplers"][name]["error"]
    assert len(out["samplers"]["langevin"]["frames"]) == 11  # the start and 10 steps


def test_cli_prints_its_address_and_serves_the_page():
    proc = subprocess.Popen([sys.executable, "-m", "scorelab", "playground", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("scorelab playground: http://127.0.0.1:"), (line, proc.stderr.read())
        address = line.split()[2]
        with urllib.request.urlopen(address, timeout=30) as reply:
            page = reply.read().decode()
        assert "<canvas" in page
        for asset in ("static/app.js", "static/style.css"):
            with urllib.request.urlopen(address + asset, timeout=30) as reply:
                page += reply.read().decode()
        assert "http" not in page and "//cdn" not in page  # nothing is fetched from elsewhere
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_bad_port_ends_in_one_line(capsys):
    fails_in_one_line(capsys, ["playground", "--port", "abc"], "--port", "not a whole number")
    fails_in_one_line(capsys, ["playground", "--port", "70000"], "not between 0 and 65535")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        fails_in_one_line(capsys, ["playground", "--port", str(taken.getsockname()[1])], "cannot listen on 127.0.0.1")
