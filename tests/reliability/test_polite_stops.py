"""Polite stops: SIGINT (Ctrl-C) or SIGTERM during training checkpoints the current step, exits
130 or 143 with one line saying how to continue, and ``--resume`` then ends with exactly the
weights of a run that was never interrupted (``torch.equal``, metadata included). A second
signal during that checkpoint's write waits for it.

In process, ``ScoreModel.fit`` signals itself from its per-step callback (at a step that is not a
regular checkpoint) and from inside a checkpoint write. In subprocesses, ``scorelab train`` gets
SIGINT or SIGTERM at a random moment after its first checkpoint, in half the trials followed by
a second signal the moment a checkpoint's temporary file appears (mid-write).
"""
import os
import random
import signal
import time

import pytest

from conftest import assert_same_checkpoint
from faults import one_line, record, scorelab, stopped_step, tmp_files, trials, wait_for
from scorelab import ScoreModel
from scorelab.cli import main
from scorelab.core import files
from scorelab.core.signals import Interrupted
from scorelab.training import checkpoint as ckpt

PARAMS = dict(width=8, steps=60, batch_size=32, checkpoint_every=25, eval_every=20)
STEPS = 300
SETTINGS = ["--set", "model.width=8", "--set", f"training.steps={STEPS}", "--set", "training.batch_size=32",
            "--set", "training.checkpoint_every=7", "--set", "training.eval_every=50", "--quiet"]


def _step(run) -> int:
    return ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)[1]["step"]


@pytest.fixture(scope="module")
def fit_reference(points_csv, tmp_path_factory):
    run = tmp_path_factory.mktemp("stops") / "reference"
    ScoreModel(**PARAMS).fit(points_csv, run_dir=run, progress=False)
    return run


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_fit_checkpoints_the_step_it_was_stopped_at(sig, points_csv, tmp_path, fit_reference):
    def stop_at_37(step, model):
        if step == 37:
            os.kill(os.getpid(), sig)

    run = tmp_path / "run"
    with pytest.raises(Interrupted) as stop:
        ScoreModel(**PARAMS).fit(points_csv, run_dir=run, progress=False, callback=stop_at_37)
    assert stop.value.exit_code == 128 + sig and stop.value.resumable
    assert "at step 37 of 60" in str(stop.value) and _step(run) == 37 and not tmp_files(run)
    ScoreModel(**PARAMS).fit(points_csv, run_dir=run, resume=True, progress=False)
    assert_same_checkpoint(fit_reference, run)


def test_a_second_signal_during_the_save_waits_for_it(points_csv, tmp_path, fit_reference, monkeypatch):
    """SIGTERM at step 37, then SIGINT in the middle of step 37's checkpoint write (half its
    bytes in the temporary file): the write completes, and the first signal names the stop."""
    real = files.atomic_write
    fired = []

    def interrupted_write(path, write):
        def half_then_signal(tmp):
            write(tmp)
            if fired == ["term"] and path.name == ckpt.CHECKPOINT_FILE:
                os.truncate(tmp, os.path.getsize(tmp) // 2)
                fired.append("int")
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the handler runs here; unprotected, it would abort the write
                write(tmp)
        return real(path, half_then_signal)

    def stop_at_37(step, model):
        if step == 37:
            fired.append("term")
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(files, "atomic_write", interrupted_write)
    run = tmp_path / "run"
    with pytest.raises(Interrupted) as stop:
        ScoreModel(**PARAMS).fit(points_csv, run_dir=run, progress=False, callback=stop_at_37)
    assert fired == ["term", "int"] and stop.value.exit_code == 143
    assert _step(run) == 37 and not tmp_files(run)
    monkeypatch.undo()
    ScoreModel(**PARAMS).fit(points_csv, run_dir=run, resume=True, progress=False)
    assert_same_checkpoint(fit_reference, run)


def test_a_second_signal_during_a_step_stops_at_once_from_the_last_checkpoint(points_csv, tmp_path,
                                                                              fit_reference):
    def two_signals(step, model):
        if step == 30:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "run"
    with pytest.raises(Interrupted) as stop:
        ScoreModel(**PARAMS).fit(points_csv, run_dir=run, progress=False, callback=two_signals)
    assert stop.value.exit_code == 130 and "second SIGINT" in str(stop.value)
    assert _step(run) == 25 and not tmp_files(run)
    ScoreModel(**PARAMS).fit(points_csv, run_dir=run, resume=True, progress=False)
    assert_same_checkpoint(fit_reference, run)


@pytest.mark.slow  # a few interpreter start-ups
def test_signals_at_random_moments(points_csv, tmp_path):
    n = trials(1, kinds=2)  # SIGINT and SIGTERM in turn
    reference = tmp_path / "reference"
    assert main(["train", str(points_csv), "--out", str(reference), *SETTINGS]) == 0
    rng = random.Random(18)
    counts = {"tried": 0, "SIGINT": 0, "SIGTERM": 0, "second signal mid-write": 0, "finished first": 0,
              "exit code and one line": 0, "resumed to equal weights": 0}
    for i in range(n):
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        run = tmp_path / f"run{i}"
        proc = scorelab(["train", points_csv, "--out", run, *SETTINGS], tmp_path)
        wait_for((run / ckpt.CHECKPOINT_FILE).exists, proc)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(sig)
        if i % 4 >= 2 and wait_for(lambda: bool(tmp_files(run)), proc, poll=0.0001):
            proc.send_signal(rng.choice([signal.SIGINT, signal.SIGTERM]))
            counts["second signal mid-write"] += 1
        _, err = proc.communicate(timeout=120)
        counts["tried"] += 1
        counts[signal.Signals(sig).name] += 1
        if proc.returncode == 0:  # the signal came after the last step
            counts["finished first"] += 1
            assert _step(run) == STEPS
        else:
            assert proc.returncode == 128 + sig, err
            line = one_line(err, f"scorelab: stopped by {signal.Signals(sig).name} at step")
            assert line.endswith("--resume)") and f"--out {run}" in line, line
            assert _step(run) == stopped_step(line) and not tmp_files(run)
            counts["exit code and one line"] += 1
        assert main(["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"]) == 0
        assert_same_checkpoint(reference, run)
        counts["resumed to equal weights"] += 1
    record("polite stops (train)", **counts)
    assert counts["resumed to equal weights"] == counts["tried"]
