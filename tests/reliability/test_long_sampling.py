"""Long sampling interrupted: ``scorelab sample -n N`` writes its chunks into a hidden temporary
file and renames it only when every row is there, so SIGINT, SIGTERM or SIGKILL at any moment
leaves no file under the output's name. SIGINT and SIGTERM exit 130 or 143 with one line that
says how far it got and to rerun (the same seed gives the same samples) and remove the
temporary file; a SIGKILL may leave it, hidden (``.NAME.<random>.tmp``), and the rerun removes
it. The rerun's file equals an uninterrupted one, byte for byte.
"""
import os
import random
import signal
import time

import pytest

from faults import one_line, record, scorelab, tmp_files, trials, wait_for
from scorelab.cli import main

N = 100_000 if os.environ.get("SCORELAB_TRIALS") else 20_000  # the full run samples the 100,000
SAMPLE = ["-n", str(N), "--batch-size", "2000", "--sampler", "euler", "--steps", "100", "--quiet"]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


@pytest.mark.slow  # interpreter start-ups
def test_interrupted_sampling_leaves_nothing_that_looks_complete(points_csv, tiny_run, tmp_path):
    run = tiny_run(points_csv, ["--set", "model.width=8", "--set", "training.steps=5", "--quiet"])
    reference = tmp_path / "reference.npy"
    assert main(["sample", str(run), *SAMPLE, "--out", str(reference)]) == 0
    rng = random.Random(18)
    counts = {"tried": 0, **{s.name: 0 for s in SIGNALS}, "finished first": 0, "no output file": 0,
              "exit code and one line": 0, "hidden temporary left (SIGKILL)": 0, "rerun equal": 0}
    for i in range(trials(1, kinds=3)):
        sig = SIGNALS[i % 3]
        out_dir = tmp_path / f"out{i}"
        out_dir.mkdir()
        out = out_dir / "s.npy"
        proc = scorelab(["sample", run, *SAMPLE, "--out", out], tmp_path)
        wait_for(lambda: bool(tmp_files(out_dir)), proc)  # sampling has begun
        time.sleep(rng.uniform(0.0, 2.0 * N / 100_000))  # sampling takes ~3 s per 100,000
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        counts["tried"] += 1
        counts[sig.name] += 1
        if proc.returncode == 0 or out.exists():  # the signal came after the rename: complete
            counts["finished first"] += 1
        else:
            assert not out.exists()
            counts["no output file"] += 1
            if sig == signal.SIGKILL:
                assert proc.returncode == -9
                assert all(n.startswith(".s.npy.") for n in tmp_files(out_dir))
                counts["hidden temporary left (SIGKILL)"] += bool(tmp_files(out_dir))
            else:
                assert proc.returncode == 128 + sig, err
                line = one_line(err, f"scorelab: interrupted by {sig.name} after ")
                assert f"of {N} samples; nothing was written to {out}" in line and "rerun" in line, line
                counts["exit code and one line"] += 1
            assert sorted(out_dir.iterdir()) == sorted(out_dir / n for n in tmp_files(out_dir))
            assert main(["sample", str(run), *SAMPLE, "--out", str(out)]) == 0
        assert out.read_bytes() == reference.read_bytes() and not tmp_files(out_dir)
        counts["rerun equal"] += 1
    record("long sampling interrupted", **counts)
    assert counts["rerun equal"] == counts["tried"]
