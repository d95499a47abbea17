"""Crash safety: ``python -m scorelab train`` killed with SIGKILL at random moments never leaves a
run directory that is torn, and ``--resume`` then ends with exactly the weights of a run that
was never interrupted.

The run checkpoints at every step (a tiny network, so writes are a large share of the time).
Processes are killed in three ways, by a seeded RNG: at start-up, around the step-0 checkpoint;
at a random delay after the process's first checkpoint; and mid-write, the moment a temporary
checkpoint file appears. After each kill:

* if ``checkpoint.safetensors`` exists, the directory is a run: ``scorelab.load`` works, and
  its step never goes backwards (no committed progress is lost);
* otherwise the directory is not a run yet (killed before the step-0 checkpoint was renamed
  into place): ``scorelab.load`` raises ``CheckpointError``, ``--resume`` exits 2 in one line,
  and the directory holds nothing but ``config.json`` and temporary files; ``--force`` starts it.

The next process resumes (and is killed in turn) until one finishes; its checkpoint must equal
the uninterrupted run's tensor for tensor (``torch.equal``), metadata included.
"""
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import scorelab
from scorelab.cli import main
from scorelab.training import CheckpointError
from scorelab.training import checkpoint as ckpt

N_KILLS = 20
SEED = 2024
SETTINGS = ["--set", "model.width=8", "--set", "training.steps=300", "--set", "training.batch_size=32",
            "--set", "training.checkpoint_every=1", "--set", "training.eval_every=50", "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}


def _tmp_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.glob(".*.tmp")) if run.is_dir() else []


def _inode(path: Path):
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _checkpoint(run: Path) -> tuple[dict, dict]:
    with safe_open(str(run / ckpt.CHECKPOINT_FILE), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_as(reference: Path, run: Path) -> None:
    (a, meta_a), (b, meta_b) = _checkpoint(reference), _checkpoint(run)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert meta_a == meta_b
    assert _metrics(reference) == _metrics(run)
    assert not _tmp_files(run)  # leftovers of killed writers are cleaned up by the next writes


def _wait_for(condition, proc, timeout=60.0, poll=0.0005) -> bool:
    """Poll ``condition()`` until it holds (True) or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("the training process made no progress within a minute")


def _not_a_run_yet(run: Path, csv: Path, capsys) -> None:
    with pytest.raises(CheckpointError):
        scorelab.load(run)
    if run.exists():
        assert set(os.listdir(run)) - set(_tmp_files(run)) <= {ckpt.CONFIG_FILE}, os.listdir(run)
    capsys.readouterr()
    assert main(["train", str(csv), "--out", str(run), "--resume", *SETTINGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing to resume" in err, err


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.5, (150, 2)), rng.normal(4, 0.5, (50, 2))])
    path = tmp_path_factory.mktemp("data") / "points.csv"
    np.savetxt(path, x, delimiter=",")
    return path


def test_sigkill_at_random_moments_never_tears_a_run(csv_file, tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main(["train", str(csv_file), "--out", str(reference), *SETTINGS]) == 0

    rng = random.Random(SEED)
    run, log = tmp_path / "run", []
    chains = completed = 0
    last_step = None  # None: the directory is not a run
    while True:
        if last_step is None:
            mode, chains = "start-up", chains + 1
        elif len(log) >= N_KILLS:
            break
        else:
            mode = rng.choice(["random", "random", "mid-write"])
        args = ["train", str(csv_file), "--out", str(run), *SETTINGS, "--resume" if last_step is not None else "--force"]
        before = _inode(run / ckpt.CHECKPOINT_FILE)
        proc = subprocess.Popen([sys.executable, "-m", "scorelab", *args], env=ENV, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        delay = None
        if mode == "start-up":  # around the step-0 checkpoint: the directory appears just before it
            alive = _wait_for(run.is_dir, proc)
            delay = rng.uniform(0.0, 0.08)
        else:  # after this process's first checkpoint (the rename gives the file a new inode)
            alive = _wait_for(lambda: _inode(run / ckpt.CHECKPOINT_FILE) not in (before, None), proc)
            if alive and mode == "random":
                delay = rng.uniform(0.0, 1.0)
            elif alive:
                alive = _wait_for(lambda: bool(_tmp_files(run)), proc, poll=0.0001)
        if alive and delay:
            time.sleep(delay)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            killed = True
        else:
            killed = False
            err = proc.stderr.read().decode()
            assert proc.returncode == 0, err
        leftovers = _tmp_files(run)

        if not (run / ckpt.CHECKPOINT_FILE).exists():
            assert killed
            _not_a_run_yet(run, csv_file, capsys)
            step = None
        else:
            model = scorelab.load(run)  # loads, leftover temporary files or not
            assert model.data_shape_ == (2,)
            step = json.loads(_checkpoint(run)[1]["step"])
            assert last_step is None or step >= last_step, (last_step, step)
        if killed:
            log.append({"mode": mode, "delay": delay, "step": step, "tmp_left": bool(leftovers)})
        if step == 300 and not killed:  # this chain is done: compare, and start another
            _assert_same_as(reference, run)
            completed += 1
            step = None
            for p in sorted(run.rglob("*"), reverse=True):
                p.rmdir() if p.is_dir() else p.unlink()
        last_step = step

    # the last chain: one uninterrupted --resume finishes it
    assert main(["train", str(csv_file), "--out", str(run), "--resume", *SETTINGS]) == 0
    _assert_same_as(reference, run)
    completed += 1

    summary = {"kills": len(log), "chains": chains, "completed": completed,
               "not a run yet": sum(e["step"] is None for e in log),
               "left a temporary file": sum(e["tmp_left"] for e in log),
               "by mode": {m: sum(e["mode"] == m for e in log) for m in ("start-up", "random", "mid-write")}}
    print("crash-safety summary:", json.dumps(summary), file=sys.stderr)
    assert len(log) >= N_KILLS
    assert summary["left a temporary file"] >= 1  # the mid-write kills did land mid-write
