"""Crash safety: ``python -m scorelab train`` killed with SIGKILL at random moments never leaves a
run directory that is torn, and ``--resume`` then ends with exactly the weights of a run that
was never interrupted.

The run checkpoints at every step (a tiny network, so writes are a large share of the time).
Processes are killed in four ways, with delays drawn from a seeded RNG: at start-up, after the
run directory appears (the step-0 checkpoint is then still seconds away: ``torch.optim`` imports
``torch._dynamo``); around the step-0 checkpoint, just after ``config.json`` appears; at a random
delay after the process's first checkpoint; and mid-write, the moment a temporary file appears.
After each kill:

* if ``checkpoint.safetensors`` exists, the directory is a run: ``scorelab.load`` works, and
  its step never goes backwards (no committed progress is lost);
* otherwise the directory is not a run yet (killed before the step-0 checkpoint was renamed
  into place): ``scorelab.load`` raises ``CheckpointError``, and the directory holds nothing but
  ``config.json``, the stale lock and temporary files.

Every process is started with ``--resume``, as a requeued cluster job is: on a directory with no
checkpoint yet (or none at all) it starts from step 0 and says so in one line. The next process
resumes (and is killed in turn) until one finishes; its checkpoint must equal
the uninterrupted run's tensor for tensor (``torch.equal``), metadata included. The kills are
spread over a few such chains, each begun in a fresh directory and finished by one last
``--resume``.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import scorelab
from conftest import assert_same_checkpoint, fails_in_one_line
from faults import ENV, record, inode as _inode, tmp_files as _tmp_files, wait_for as _wait_for
from scorelab.cli import main
from scorelab.training import CheckpointError
from scorelab.training import checkpoint as ckpt
from scorelab.training.lock import LOCK_FILE

N_KILLS = int(os.environ.get("SCORELAB_CRASH_KILLS", 20))
N_CHAINS = max(3, N_KILLS // 7)  # each starts in a fresh directory with a kill around its step-0 checkpoint
SEED = 2024
STEPS = 300
MODES = ("start-up", "step-0", "random", "mid-write")
SETTINGS = ["--set", "model.width=8", "--set", f"training.steps={STEPS}", "--set", "training.batch_size=32",
            "--set", "training.checkpoint_every=1", "--set", "training.eval_every=50", "--quiet"]
def _metrics(run: Path) -> list[dict]:
    """The deterministic part of metrics.jsonl ("loss" is a running mean since the last record,
    or since the resume, and "seconds" a wall time)."""
    return [{k: v for k, v in json.loads(line).items() if k in ("step", "lr", "heldout")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_same_as(reference: Path, run: Path) -> None:
    assert_same_checkpoint(reference, run)
    assert _metrics(reference) == _metrics(run)
    assert not _tmp_files(run)  # leftovers of killed writers are cleaned up by the next writes


def _not_a_run_yet(run: Path) -> None:
    with pytest.raises(CheckpointError):
        scorelab.load(run)
    if run.exists():
        assert set(os.listdir(run)) - set(_tmp_files(run)) <= {ckpt.CONFIG_FILE, LOCK_FILE}, os.listdir(run)


@pytest.mark.slow  # ~70 s of CPU: 20+ interpreter start-ups
def test_sigkill_at_random_moments_never_tears_a_run(points_csv, tmp_path, capsys):
    t0 = time.monotonic()
    reference = tmp_path / "reference"
    assert main(["train", str(points_csv), "--out", str(reference), *SETTINGS]) == 0

    rng = random.Random(SEED)
    run, log = tmp_path / "run", []
    chains = completed = 0
    last_step = None  # None: the directory is not a run

    def end_chain(finish: bool) -> None:
        """End the chain in ``run``: unless its last process ran to the end, one uninterrupted
        process (in this one, to save a start-up) finishes it; it must equal the reference."""
        nonlocal completed, last_step
        if finish:
            assert main(["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"]) == 0
        _assert_same_as(reference, run)
        completed += 1
        shutil.rmtree(run)
        last_step = None

    while len(log) < N_KILLS:
        if len(log) >= N_KILLS * chains // N_CHAINS and run.exists():  # time for a new chain
            end_chain(finish=True)
        if not run.exists():
            chains += 1
            mode = "step-0" if chains % 2 else "start-up"
        else:
            mode = rng.choice(["random", "random", "mid-write"])
        args = ["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"]
        before = _inode(run / ckpt.CHECKPOINT_FILE)
        proc = subprocess.Popen([sys.executable, "-m", "scorelab", *args], env=ENV, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        delay = None
        if mode == "start-up":  # the directory exists, the step-0 checkpoint is seconds away
            alive = _wait_for(run.is_dir, proc)
            delay = rng.uniform(0.0, 1.0)
        elif mode == "step-0":  # config.json is written just before the step-0 checkpoint
            alive = _wait_for((run / ckpt.CONFIG_FILE).exists, proc)
            delay = rng.uniform(0.0, 0.03)
        else:  # after this process's first checkpoint (the rename gives the file a new inode)
            alive = _wait_for(lambda: _inode(run / ckpt.CHECKPOINT_FILE) not in (before, None), proc)
            if alive and mode == "random":
                delay = rng.uniform(0.0, 1.0)
            elif alive:
                alive = _wait_for(lambda: bool(_tmp_files(run)), proc, poll=0.0002)
        if alive and delay:
            time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.kill()
        _, err = proc.communicate()
        assert killed or proc.returncode == 0, err.decode()
        assert killed or (last_step is None) == (b"starting from step 0" in err), err.decode()
        leftovers = _tmp_files(run)

        if not (run / ckpt.CHECKPOINT_FILE).exists():
            assert killed
            _not_a_run_yet(run)
            step = None
        else:
            model = scorelab.load(run)  # loads, leftover temporary files or not
            assert model.data_shape_ == (2,)
            step = ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)[1]["step"]
            assert last_step is None or step >= last_step, (last_step, step)
        last_step = step
        if killed:
            log.append({"mode": mode, "delay": delay, "step": step, "tmp_left": bool(leftovers)})
        else:  # the process exited 0: it ran to the end, so this chain is done; start another
            assert step == STEPS, step
            end_chain(finish=False)

    end_chain(finish=True)

    summary = {"kills": len(log), "chains": chains, "completed": completed,
               "not a run yet": sum(e["step"] is None for e in log),
               "left a temporary file": sum(e["tmp_left"] for e in log),
               "by mode": {m: sum(e["mode"] == m for e in log) for m in MODES}}
    print("crash-safety summary:", json.dumps(summary), f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
    record("SIGKILL during train, every start --resume", kills=summary["kills"], **summary["by mode"],
           **{"started from step 0 by --resume": chains + summary["not a run yet"],
              "chains resumed to equal weights": f"{completed} of {chains}"})
    assert all(summary["by mode"].values()), summary  # every way of killing did kill at least once
    assert summary["left a temporary file"] >= 1  # the mid-write kills did land mid-write


def test_atomic_writes_make_ordinary_files_and_clear_killed_writers_leftovers(tmp_path):
    stale = [tmp_path / f".{ckpt.CHECKPOINT_FILE}.dead.tmp", tmp_path / f".{ckpt.CONFIG_FILE}.dead.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_text("not ours")
    ckpt.save_tensors(tmp_path / ckpt.CHECKPOINT_FILE, {"x": torch.ones(3)}, {"format": ckpt.FORMAT})
    assert not stale[0].exists() and stale[1].exists()  # each write clears its own file's leftovers
    ckpt.write_json(tmp_path / ckpt.CONFIG_FILE, {"format": ckpt.FORMAT})
    assert not stale[1].exists() and unrelated.exists()
    umask = os.umask(0o022)
    os.umask(umask)
    for name in (ckpt.CHECKPOINT_FILE, ckpt.CONFIG_FILE):  # not mkstemp's private 0600
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert ckpt.load_tensors(tmp_path / ckpt.CHECKPOINT_FILE)[1] == {"format": ckpt.FORMAT}


SHORT = ["--set", "model.width=8", "--set", "training.steps=20", "--set", "training.batch_size=32", "--quiet"]


def test_resume_without_a_checkpoint_starts_from_step_0(points_csv, tmp_path, capsys, tiny_run):
    """A requeued job passes --resume on its first start too: with no run directory, or one that
    a process killed before its first checkpoint left, it starts from step 0 and says so."""
    reference = tiny_run(points_csv, SHORT)
    missing, killed_early = tmp_path / "jobs" / "missing", tmp_path / "killed-early"
    killed_early.mkdir()
    (killed_early / ckpt.CONFIG_FILE).write_text((reference / ckpt.CONFIG_FILE).read_text())
    (killed_early / f".{ckpt.CHECKPOINT_FILE}.dead.tmp").write_bytes(b"half")
    (killed_early / LOCK_FILE).write_text("999999 gone-host\n")  # a lock its dead writer left
    for run in (missing, killed_early):
        capsys.readouterr()
        assert main(["train", str(points_csv), "--out", str(run), *SHORT, "--resume"]) == 0
        err = capsys.readouterr().err.strip()
        assert err == f"scorelab: {run}: no checkpoint to resume from yet; starting from step 0", err
        _assert_same_as(reference, run)
        assert sorted(os.listdir(run)) == sorted(os.listdir(reference))  # the stale lock is gone too


def test_resume_still_refuses_other_files_data_or_configuration(points_csv, tmp_path, capsys, tiny_run):
    reference = tiny_run(points_csv, SHORT)
    before = (reference / ckpt.CHECKPOINT_FILE).read_bytes()
    fewer = tmp_path / "fewer.csv"
    fewer.write_text("".join(points_csv.read_text().splitlines(keepends=True)[:150]))
    fails_in_one_line(capsys, ["train", str(fewer), "--out", str(reference), *SHORT, "--resume"], "data differ")
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(reference), *SHORT, "--set", "model.width=16",
                               "--resume"], "model.width=8, not 16")
    assert (reference / ckpt.CHECKPOINT_FILE).read_bytes() == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(mine), *SHORT, "--resume"], "notes.txt")
    assert os.listdir(mine) == ["notes.txt"]
