"""Data parallelism under torchrun: the same weights as one process, and resume across sizes."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from scorelab.cli import main

SETTINGS = ["--set", "training.steps=30", "--set", "training.micro_batches=2", "--set", "model.width=16",
            "--set", "training.batch_size=64", "--set", "training.checkpoint_every=15", "--quiet"]


def _torchrun(args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
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
