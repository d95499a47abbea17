"""Data parallelism under torchrun: the same weights as one process, resume across sizes, and
a rank killed mid-run."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from faults import ENV, inode, record, tmp_files, trials, wait_for
from scorelab.cli import main
from scorelab.training import checkpoint as ckpt

SETTINGS = ["--set", "training.steps=30", "--set", "training.micro_batches=2", "--set", "model.width=16",
            "--set", "training.batch_size=64", "--set", "training.checkpoint_every=15", "--quiet"]


def _torchrun(args, env_extra=None):
    env = {**ENV, **(env_extra or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "scorelab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "d.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(400, 2)) * [1, 3], delimiter=",")
    return path


def _weights(run):
    return {k: v for k, v in load_file(run / "checkpoint.safetensors").items() if k.startswith(("model.", "ema."))}


def test_two_processes_match_one_process(data, tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert main(["train", str(data), "--out", str(single), *SETTINGS]) == 0
    out = _torchrun(["train", str(data), "--out", str(multi), *SETTINGS])
    assert out.returncode == 0, out.stderr[-2000:]
    a, b = _weights(single), _weights(multi)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key
    # Only rank 0 wrote: one line per evaluation, not two.
    assert len((multi / "metrics.jsonl").read_text().splitlines()) == len((single / "metrics.jsonl").read_text().splitlines())


def test_resume_with_another_number_of_processes(data, tmp_path, monkeypatch):
    from scorelab.training import loop
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["train", str(data), "--out", str(full), *SETTINGS]) == 0
    real = loop._optimisation_step

    def crash(state, *args):
        if state.step == 20:
            raise KeyboardInterrupt
        return real(state, *args)

    monkeypatch.setattr(loop, "_optimisation_step", crash)
    assert main(["train", str(data), "--out", str(cut), *SETTINGS]) == 130
    out = _torchrun(["train", str(data), "--out", str(cut), "--resume", *SETTINGS])
    assert out.returncode == 0, out.stderr[-2000:]
    a, b = _weights(full), _weights(cut)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key


KILL_SETTINGS = ["--set", "training.steps=400", "--set", "training.micro_batches=2", "--set", "model.width=16",
                 "--set", "training.batch_size=64", "--set", "training.checkpoint_every=10", "--quiet"]
SURVIVORS_GONE_WITHIN = 60.0  # seconds from the kill to torchrun's exit (its monitor stops the rest)


def _workers(agent_pid: int) -> dict:
    """{rank: pid} of the processes that torchrun ``agent_pid`` started."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == agent_pid:
                env = dict(v.split("=", 1) for v in open(f"/proc/{entry}/environ").read().split("\0") if "=" in v)
                found[int(env["RANK"])] = int(entry)
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # one torchrun start-up per trial
def test_a_killed_rank_leaves_a_run_that_resumes(data, tmp_path):
    """SIGKILL one rank of two at a random moment: torchrun ends the other within a bounded time,
    the last checkpoint loads, and resuming (1 process, or 2 in every other trial of the full
    run) ends with the weights of an uninterrupted single-process run (to float summation order)."""
    reference = tmp_path / "reference"
    assert main(["train", str(data), "--out", str(reference), *KILL_SETTINGS]) == 0
    rng = random.Random(18)
    counts = {"tried": 0, "rank 0 killed": 0, "rank 1 killed": 0, "finished first": 0,
              "survivors gone in time": 0, "max seconds to exit": 0.0,
              "rank 0 killed mid-write (hidden temporary left)": 0, "resumed with 1": 0,
              "resumed with 2": 0, "equal weights": 0}
    for i in range(trials(1)):
        run = tmp_path / f"run{i}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "scorelab", "train", str(data), "--out", str(run), *KILL_SETTINGS]
        proc = subprocess.Popen(cmd, env={**ENV, "SCORELAB_DIST_TIMEOUT": "30"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        wait_for((run / ckpt.CHECKPOINT_FILE).exists, proc)
        first = inode(run / ckpt.CHECKPOINT_FILE)
        wait_for(lambda: inode(run / ckpt.CHECKPOINT_FILE) != first, proc)  # step 10 is saved
        time.sleep(rng.uniform(0.0, 1.0))
        workers, rank = _workers(proc.pid), rng.randrange(2)
        counts["tried"] += 1
        if len(workers) == 2 and proc.poll() is None:
            os.kill(workers[rank], signal.SIGKILL)
            counts[f"rank {rank} killed"] += 1
        t0 = time.monotonic()
        proc.communicate(timeout=300)
        waited = time.monotonic() - t0
        if proc.returncode == 0:
            counts["finished first"] += 1
        else:
            assert waited < SURVIVORS_GONE_WITHIN and not any(map(_alive, workers.values())), waited
            counts["survivors gone in time"] += 1
            counts["max seconds to exit"] = round(max(counts["max seconds to exit"], waited), 1)
        assert ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)[1]["step"] >= 10
        counts["rank 0 killed mid-write (hidden temporary left)"] += bool(tmp_files(run))
        resume = ["train", str(data), "--out", str(run), *KILL_SETTINGS, "--resume"]
        if i % 2:
            out = _torchrun(resume)
            assert out.returncode == 0, out.stderr[-2000:]
            counts["resumed with 2"] += 1
        else:
            assert main(resume) == 0
            counts["resumed with 1"] += 1
        a, b = _weights(reference), _weights(run)
        assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a) and not tmp_files(run)
        counts["equal weights"] += 1
    record("a torchrun rank killed", **counts)
