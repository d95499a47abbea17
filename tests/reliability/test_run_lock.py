"""One writer per run directory: of two ``scorelab train --resume`` started at once on the same
directory, one trains and the other refuses in one line naming the first's pid; ``--resume``
and ``--force`` on a run being trained are refused the same way; ``sample``, ``eval`` and
``plot`` read it meanwhile (the last complete checkpoint); the lock of a SIGKILLed trainer is
stale and the next ``--resume`` takes it over.
"""
import os
import random
import signal
import time

import pytest

from conftest import fails_in_one_line
from faults import inode, one_line, record, scorelab, trials, wait_for
from scorelab.cli import main
from scorelab.training import checkpoint as ckpt
from scorelab.training.lock import LOCK_FILE

LONG = ["--set", "model.width=8", "--set", "training.steps=1000000", "--set", "training.batch_size=32",
        "--set", "training.checkpoint_every=20", "--quiet"]


def _race(points_csv, run, cwd):
    """Two trainers started together on ``run``: (the one training, the refused one's stderr)."""
    procs = [scorelab(["train", points_csv, "--out", run, *LONG, "--resume"], cwd) for _ in range(2)]
    while all(p.poll() is None for p in procs):
        time.sleep(0.01)
    loser = next(p for p in procs if p.poll() is not None)
    winner = next(p for p in procs if p is not loser)
    err = loser.communicate()[1]
    assert loser.returncode == 2, err
    line = one_line(err, "scorelab: error:")
    assert f"process {winner.pid} on " in line and "training this run right now" in line, line
    return winner


@pytest.mark.slow  # interpreter start-ups
def test_one_writer_per_run_and_readers_see_the_last_checkpoint(points_csv, tmp_path, capsys):
    n, rng = trials(1), random.Random(18)
    counts = {"races": 0, "one trained, one refused naming it": 0, "reads while training": 0,
              "reads ok": 0, "second writers refused": 0, "stale locks taken over": 0}
    for i in range(n):
        run = tmp_path / f"run{i}"
        winner = _race(points_csv, run, tmp_path)
        counts["races"] += 1
        counts["one trained, one refused naming it"] += 1
        if i == n - 1:  # the last race's winner is read, contested, killed and taken over
            break
        winner.kill()
        winner.communicate()

    first = inode(run / ckpt.CHECKPOINT_FILE)
    wait_for(lambda: inode(run / ckpt.CHECKPOINT_FILE) not in (first, None), winner)
    for flag in ("--resume", "--force"):
        fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *LONG, flag],
                          f"process {winner.pid} on", "right now")
        counts["second writers refused"] += 1
    reads = [["sample", run, "-n", "64", "--out", tmp_path / "s.npy", "--force", "--quiet"],
             ["eval", run, "--data", points_csv, "--json"], ["plot", run, "--out", tmp_path / "plots"]]
    for k in range(max(3, n)):
        time.sleep(rng.uniform(0.0, 0.3))
        counts["reads while training"] += 1
        assert main([str(a) for a in reads[k % 3]]) == 0, capsys.readouterr().err
        counts["reads ok"] += 1
    assert winner.poll() is None  # it trained all along

    winner.send_signal(signal.SIGKILL)
    winner.communicate()
    assert (run / LOCK_FILE).read_text().split()[0] == str(winner.pid)  # stale: its holder is gone
    step = ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)[1]["step"]
    assert main(["train", str(points_csv), "--out", str(run), *LONG, "--set", f"training.steps={step + 3}",
                 "--resume"]) == 0
    counts["stale locks taken over"] += 1
    assert not (run / LOCK_FILE).exists()  # a trainer that ends removes its lock
    record("one writer per run", **counts)


def test_the_lock_is_released_when_training_fails(points_csv, tmp_path, capsys):
    run = tmp_path / "run"
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), "--set", "model.width=8",
                               "--set", "noise.sigma_min=1e-44", "--set", "training.steps=5"], "sigma_min")
    assert os.listdir(run) and not (run / LOCK_FILE).exists()
